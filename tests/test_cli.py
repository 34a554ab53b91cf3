import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from osan.cli import main
from osan.data.mmsa import save_mmsa
from osan.train.trainer import load_run
from tests.helpers import TINY, toy_domains


@pytest.fixture()
def toy_files(tmp_path):
    src, tgt = toy_domains()
    save_mmsa(src, tmp_path / "s.pkl")
    save_mmsa(tgt, tmp_path / "t.pkl")
    return tmp_path / "s.pkl", tmp_path / "t.pkl"


def test_train_eval_predict(tmp_path, toy_files, capsys):
    s, t = toy_files
    run = tmp_path / "run"
    rc = main(
        [
            "train",
            "--source",
            str(s),
            "--target",
            str(t),
            "--out",
            str(run),
            "--quiet",
            "--epochs",
            "2",
            *TINY,
        ]
    )
    assert rc == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert "mae" in metrics and "source" in metrics
    before_eval = sorted(p.name for p in run.iterdir())
    assert (
        main(["eval", "--run", str(run), "--data", str(t), "--out", str(tmp_path / "e.json")]) == 0
    )
    assert sorted(p.name for p in run.iterdir()) == before_eval  # eval writes nothing into RUN
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["mae"] == pytest.approx(metrics["mae"], abs=1e-6)
    # predict works on a file whose split carries no labels
    _, tgt = toy_domains()
    for sp in tgt.splits.values():
        sp.labels = None
    save_mmsa(tgt, tmp_path / "unlabelled.pkl")
    out = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "unlabelled.pkl"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(tgt.splits["test"]) and rows[0]["id"] == tgt.splits["test"].ids[0]
    assert all(np.isfinite(float(r["prediction"])) for r in rows)


@pytest.mark.parametrize(
    "flags, tal, ddg",
    [
        (["--no-tal"], False, True),
        (["--no-ddg"], True, False),
        (["--no-tal", "--no-ddg"], False, False),
    ],
)
def test_ablation_flags_reach_the_config_and_the_model(tmp_path, toy_files, flags, tal, ddg):
    """Each flag switches off its own module, and only that one."""
    s, t = toy_files
    run = tmp_path / "run"
    args = ["train", "--source", str(s), "--target", str(t), "--out", str(run), "--quiet"]
    assert main([*args, *flags, "--epochs", "1", *TINY]) == 0
    cfg, model, _ = load_run(run)
    assert (cfg.tal.enabled, cfg.ddg.enabled) == (tal, ddg)
    assert (model.tal is not None, model.generator is not None) == (tal, ddg)


def test_bad_input_exits_2_with_one_line(tmp_path, toy_files, capsys):
    s, _ = toy_files
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(s.read_bytes()[:200])
    rc = main(["data", "inspect", str(broken)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and str(broken) in err and len(err.splitlines()) == 1
    rc = main(
        [
            "train",
            "--source",
            str(s),
            "--target",
            str(broken),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 2


def test_unknown_override_exits_2(tmp_path, toy_files, capsys):
    s, t = toy_files
    rc = main(
        [
            "train",
            "--source",
            str(s),
            "--target",
            str(t),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "tal.nope=3",
        ]
    )
    assert rc == 2 and "tal.nope" in capsys.readouterr().err


def test_generate_and_inspect(tmp_path, capsys):
    out = tmp_path / "msa"
    assert main(["data", "generate", "msa", "--out", str(out), "--size", "tiny"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["benchmark"] == "msa" and (out / "source.pkl").exists()
    capsys.readouterr()
    assert main(["data", "inspect", str(out / "target.pkl")]) == 0
    text = capsys.readouterr().out
    for word in ("train", "valid", "test", "text", "vision", "audio"):
        assert word in text


def _train_cmd(s, t, run, epochs):
    return [
        sys.executable,
        "-m",
        "osan",
        "train",
        "--source",
        str(s),
        "--target",
        str(t),
        "--out",
        str(run),
        "--quiet",
        "--epochs",
        str(epochs),
        *TINY,
        "optim.batch_size=8",
        "num_threads=1",
    ]


@pytest.mark.slow
def test_kill_minus_9_then_resume_matches_uninterrupted(tmp_path, toy_files):
    s, t = toy_files
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    straight = tmp_path / "straight"
    subprocess.run(_train_cmd(s, t, straight, 6), check=True, env=env, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_cmd(s, t, run, 6), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ckpt = run / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "metrics.json").exists(), "the run finished before it could be killed"
    subprocess.run(
        _train_cmd(s, t, run, 6) + ["--resume"], check=True, env=env, capture_output=True
    )
    a = json.loads((straight / "metrics.json").read_text())
    b = json.loads((run / "metrics.json").read_text())
    assert a["target"] == b["target"] and a["source"] == b["source"]


@pytest.mark.parametrize(
    ("bench", "method", "first_metric"), [("vtc", "osan-plus", "f1"), ("msa", "osan", "corr")]
)
def test_demo_answers_what_this_run_measured_what_the_pooled_evidence_says_and_what_to_run(
    tmp_path, capsys, bench, method, first_metric
):
    import shlex

    from osan.cli.parser import build_parser
    from osan.demo import RECOMMENDED, TASKS
    from osan.demo import main as demo_main

    assert RECOMMENDED[TASKS[bench]] == method  # OSAN+ for classes, OSAN for regression
    rc = demo_main(
        ["--out", str(tmp_path), "--benchmarks", bench, "--epochs", "1",
         "--methods", "source-only", method]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "| source-only" in out and f"| {method} " in out
    measured, evidence, own = out.split("== What this means")[1].strip().split("\n\n")
    # 1. this run: the recommended method against Direct Transfer, in a plain word
    saved = json.loads((tmp_path / bench / method / "metrics.json").read_text())["target"]
    direct = json.loads((tmp_path / bench / "source-only" / "metrics.json").read_text())["target"]
    better = [
        (saved[k] < direct[k]) if k == "mae" else (saved[k] > direct[k])
        for k in (["f1"] if bench == "vtc" else ["corr", "mae"])
    ]
    word = "better" if all(better) else "worse" if not any(better) else "mixed"
    line = next(x for x in measured.splitlines() if "; recommended for this task type)" in x)
    assert f" is {word} than Direct Transfer on this draw ({first_metric} " in line
    assert measured.startswith("What this run measured (data seed 0, one training seed")
    # 2. the pooled evidence, with where to read it
    assert "docs/results.md" in evidence and "20 fresh data seeds" in evidence
    assert "classification: use OSAN+ (--method osan-plus)" in evidence
    assert "regression: use OSAN (--method osan)" in evidence
    # 3. what to run on one's own data: commands the osan CLI accepts, with the recommendation
    commands = [x.strip() for x in own.splitlines() if x.strip().startswith(".venv/bin/osan ")]
    assert len(commands) == 6  # three per task type
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command, comments=True)[1:]
        parser.parse_args(argv)  # exits 2 on a command the CLI does not know
    trains = [parser.parse_args(shlex.split(c, comments=True)[1:]) for c in commands
              if " train " in c]  # fmt: skip
    assert [(a.method, a.task) for a in trains] == [("osan", None), ("osan-plus", "classification")]


def test_the_demo_calls_a_method_better_worse_or_mixed_against_direct_transfer():
    from osan.demo import verdict

    direct = {"corr": 0.4, "mae": 1.0}
    assert verdict({"corr": 0.5, "mae": 0.9}, direct, "regression") == "better"
    assert verdict({"corr": 0.3, "mae": 1.1}, direct, "regression") == "worse"
    assert verdict({"corr": 0.5, "mae": 1.1}, direct, "regression") == "mixed"
    assert verdict({"corr": 0.4, "mae": 0.9}, direct, "regression") == "mixed"  # a tie: not better
    assert verdict({"f1": 0.7}, {"f1": 0.8}, "classification") == "worse"


def test_gain_line_calls_a_lower_mae_better():
    from osan.demo import gain_line

    line = gain_line("osan", {"corr": 0.5, "mae": 0.9}, {"corr": 0.4, "mae": 1.0}, "regression")
    assert line == "osan vs Direct Transfer: corr +0.100 (better), mae -0.100 (better)"


def test_demo_runs_are_bit_reproducible(tmp_path, capsys):
    """Two demo runs of OSAN give the same target metrics to the last bit: the demo trains on one
    thread by default (``--threads 1``; with more, CPU reductions in OSAN's alignment losses
    change order between runs)."""
    import torch

    from osan.demo import main as demo_main

    metrics = []
    try:
        for run in ("a", "b"):
            torch.set_num_threads(2)  # as a fresh process on a 2-core machine starts
            out = tmp_path / run
            args = ["--out", str(out), "--benchmarks", "msa", "--epochs", "2", "--methods", "osan"]
            assert demo_main(args) == 0
            saved = json.loads((out / "msa" / "osan" / "metrics.json").read_text())
            metrics.append(saved["target"])
    finally:
        torch.set_num_threads(1)  # the suite's setting (conftest)
    capsys.readouterr()
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize("flag", ["--threads", "--epochs"])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_demo_rejects_a_count_below_one_with_exit_2(tmp_path, capsys, flag, value):
    from osan.demo import main as demo_main

    with pytest.raises(SystemExit) as stop:
        demo_main(["--out", str(tmp_path / "d"), flag, value])
    assert stop.value.code == 2
    assert f"{flag}: expected an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
