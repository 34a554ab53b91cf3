"""The Python API (``osan/api.py``): it trains, loads, predicts and evaluates exactly as the
commands do, and refuses bad input with the commands' one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import osan
from osan.cli import main
from osan.cli.common import UsageError
from osan.config import ConfigError
from osan.data.domain import DataError
from osan.data.mmsa import save_mmsa
from osan.train import trainer as trainer_module  # `import osan.train.trainer as` cannot work
from osan.train.preflight import RunError
from tests.helpers import TINY, toy_domains

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Toy regression and classification files, and the regression target without labels."""
    root = tmp_path_factory.mktemp("data")
    files = {}
    for task in ("regression", "classification"):
        src, tgt = toy_domains(task)
        files[f"{task}/source"], files[f"{task}/target"] = (
            root / f"s_{task}.pkl",
            root / f"t_{task}.pkl",
        )
        save_mmsa(src, files[f"{task}/source"])
        save_mmsa(tgt, files[f"{task}/target"])
    _, tgt = toy_domains()
    for split in tgt.splits.values():
        split.labels = None
    files["unlabelled"] = root / "t_unlabelled.pkl"
    save_mmsa(tgt, files["unlabelled"])
    return files


def _train(data, task: str, out: Path) -> osan.Run:
    return osan.train(
        "source-only", data[f"{task}/source"], data[f"{task}/target"], out,
        task=task, epochs=1, overrides=TINY, progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, osan.Run]:
    root = tmp_path_factory.mktemp("runs")
    return {task: _train(data, task, root / task) for task in ("regression", "classification")}


def _cli_json(capsys, argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out[: out.rindex("}") + 1])


# --------------------------------------------------------------------------- train


def test_train_gives_the_run_that_osan_train_writes(data, tmp_path, capsys):
    """Same arguments, same config file and the same metrics, to the last digit."""
    s, t = data["regression/source"], data["regression/target"]
    cli = tmp_path / "cli"
    args = ["--source", str(s), "--target", str(t), "--out", str(cli), "--quiet"]
    flags = ["--method", "source-only", "--epochs", "1", "--seed", "3"]
    assert main(["train", *args, *flags, *TINY, "optim.lr=5e-4"]) == 0
    run = osan.train(
        "source-only", s, t, tmp_path / "api", epochs=1, seed=3, overrides=TINY, optim__lr=5e-4,
        progress=False,
    )  # fmt: skip
    assert run.config.optim.lr == 5e-4 and run.config.seed == 3 and run.config.optim.epochs == 1
    assert (run.path / "config.yaml").read_text() == (cli / "config.yaml").read_text()
    assert run.metrics == json.loads((cli / "metrics.json").read_text())
    assert json.loads((run.path / "data.json").read_text()) == json.loads(
        (cli / "data.json").read_text()
    )


def _resolved(monkeypatch, data, tmp_path, **kw):
    """The config ``osan.train`` would train with (``fit`` replaced: nothing trains)."""

    class Resolved(Exception):
        pass

    def fake_fit(cfg, *args, **kwargs):
        raise Resolved(cfg)

    monkeypatch.setattr(trainer_module, "fit", fake_fit)
    s, t = data["regression/source"], data["regression/target"]
    with pytest.raises(Resolved) as caught:
        osan.train("dann", s, t, tmp_path / "r", **kw)
    return caught.value.args[0]


def test_the_three_override_forms_resolve_alike(monkeypatch, data, tmp_path):
    forms = [
        {"overrides": {"optim.lr": 5e-4, "encoder.out_dims": {"text": 8}, "num_threads": 1}},
        {"optim__lr": 5e-4, "encoder__out_dims": {"text": 8}, "num_threads": 1},
        {"overrides": ["optim.lr=5e-4", "encoder.out_dims={text: 8}", "num_threads=1"]},
    ]
    configs = [_resolved(monkeypatch, data, tmp_path, **f) for f in forms]
    assert configs[0].optim.lr == 5e-4 and configs[0].encoder.out_dims == {"text": 8}
    assert configs[0].num_threads == 1 and configs[0].method == "dann"
    assert configs[1] == configs[0] and configs[2] == configs[0]


def test_a_config_file_is_read_and_epochs_wins_over_it(monkeypatch, data, tmp_path):
    """As ``osan train --config F --epochs N``: the file over the defaults, ``epochs`` last."""
    f = tmp_path / "c.yaml"
    f.write_text("optim:\n  epochs: 7\n  lr: 0.002\nseed: 5\n")
    cfg = _resolved(monkeypatch, data, tmp_path, config=f)
    assert (cfg.optim.epochs, cfg.optim.lr, cfg.seed) == (7, 0.002, 5)
    cfg = _resolved(monkeypatch, data, tmp_path, config=f, epochs=2, optim__epochs=9)
    assert (cfg.optim.epochs, cfg.optim.lr, cfg.seed) == (2, 0.002, 5)


def test_loaded_domains_train_as_their_files_do(data, runs, tmp_path):
    src, tgt = toy_domains("classification")
    run = osan.train(
        "source-only", src, tgt, tmp_path / "r", epochs=1, overrides=TINY, progress=False
    )
    assert run.config.task == "classification"  # from the domains: no task= needed
    assert run.metrics["target"] == runs["classification"].metrics["target"]


# --------------------------------------------------------------------------- a finished run


def test_load_run_gives_back_the_trained_run(data, runs):
    for task, run in runs.items():
        loaded = osan.load_run(run.path)
        assert loaded.path == run.path and loaded.config == run.config
        assert loaded.metrics == json.loads((run.path / "metrics.json").read_text())
        assert isinstance(loaded.model, torch.nn.Module) and not loaded.model.training
        assert loaded.predict(data[f"{task}/target"]) == run.predict(data[f"{task}/target"])


def test_predict_needs_no_labels_and_answers_every_sample_id(data, runs):
    run = runs["regression"]
    _, tgt = toy_domains()
    for split in ("test", "valid"):
        unlabelled = run.predict(data["unlabelled"], split=split)
        assert list(unlabelled) == tgt.splits[split].ids
        assert unlabelled == run.predict(data["regression/target"], split=split)
        assert all(isinstance(v, float) for v in unlabelled.values())


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_predict_equals_osan_predict(data, runs, task, tmp_path, capsys):
    run, t = runs[task], data[f"{task}/target"]
    out = tmp_path / "p.csv"
    assert main(["predict", "--run", str(run.path), "--data", str(t), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    preds = run.predict(t)
    assert list(preds) == [r["id"] for r in rows]
    if task == "regression":
        assert list(preds.values()) == pytest.approx(
            [float(r["prediction"]) for r in rows], abs=1e-6
        )
    else:
        assert list(preds.values()) == [r["prediction"] for r in rows]
        assert set(preds.values()) <= set(run.classes)


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("split, side", [("test", "target"), ("valid", "source")])
def test_evaluate_equals_what_osan_eval_prints(data, runs, task, split, side, capsys):
    run = runs[task]
    f = data[f"{task}/{side}"]
    argv = ["eval", "--run", str(run.path), "--data", str(f), "--split", split, "--domain", side]
    printed = _cli_json(capsys, argv)
    assert run.evaluate(f, split=split, domain=side) == printed
    assert set(printed) >= (
        {"mae", "corr"} if task == "regression" else {"accuracy", "f1_weighted"}
    )


def test_evaluate_on_the_test_split_repeats_the_metrics_of_training(data, runs):
    for task, run in runs.items():
        assert run.evaluate(data[f"{task}/target"]) == {
            k: v for k, v in run.metrics["target"].items() if not isinstance(v, dict)
        }


# --------------------------------------------------------------------------- bad input


def _other_dims():
    _, tgt = toy_domains(target_dims={"text": 10, "vision": 7, "audio": 4})
    return tgt


def _files(d):
    return d["regression/source"], d["regression/target"]


BAD = {
    "source-missing": (
        lambda d, r, o: osan.train("source-only", o.parent / "none.pkl", d["regression/target"], o),
        DataError, ["none.pkl", "not found"],
    ),
    "target-a-folder": (
        lambda d, r, o: osan.train("source-only", d["regression/source"], o.parent, o),
        DataError, ["{tmp}:", "is a directory"],
    ),
    "method-unknown": (
        lambda d, r, o: osan.train("magic", *_files(d), o),
        ConfigError, ["'magic'", "source-only"],
    ),
    "override-unknown-key": (
        lambda d, r, o: osan.train("osan", *_files(d), o, optim__lrr=1),
        ConfigError, ["optim.lrr"],
    ),
    "override-bad-value": (
        lambda d, r, o: osan.train("osan", *_files(d), o, overrides={"optim.lr": -1}),
        ConfigError, ["optim.lr", "-1"],
    ),
    "override-not-key-value": (
        lambda d, r, o: osan.train("osan", *_files(d), o, overrides=["optim.lr"]),
        ConfigError, ["'optim.lr'", "key=value"],
    ),
    "override-empty-part": (
        lambda d, r, o: osan.train("osan", *_files(d), o, overrides={"optim..lr": 1}),
        ConfigError, ["'optim..lr'"],
    ),
    "domain-task-differs": (
        lambda d, r, o: osan.train("osan", *toy_domains(), o, task="classification"),
        DataError, ["src", "regression", "classification"],
    ),
    "run-missing": (
        lambda d, r, o: osan.load_run(o), UsageError, ["{tmp}/out", "not a run folder"],
    ),
    "predict-data-missing": (
        lambda d, r, o: r.predict(o.parent / "none.pkl"), DataError, ["none.pkl", "not found"],
    ),
    "predict-split-missing": (
        lambda d, r, o: r.predict(d["regression/target"], split="holdout"), DataError, ["holdout"],
    ),
    "predict-other-dims": (lambda d, r, o: r.predict(_other_dims()), RunError, ["vision 7"]),
    "evaluate-unlabelled": (
        lambda d, r, o: r.evaluate(d["unlabelled"]), UsageError,
        ["t_unlabelled.pkl", "'test' has no labels", "Run.predict"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_raises_one_line_naming_it_and_writes_nothing(case, data, runs, tmp_path):
    call, error, words = BAD[case]
    out = tmp_path / "out"
    with pytest.raises(error) as caught:
        call(data, runs["regression"], out)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    for word in words:
        assert word.format(tmp=tmp_path) in message
    assert not out.exists()


# --------------------------------------------------------------------------- the package


def test_import_osan_loads_no_torch_and_osan_train_stays_the_function():
    """``import osan`` is cheap for the command line, and importing the training loop's
    modules (before or after) never rebinds ``osan.train`` to the subpackage."""
    light = "import sys, osan\nassert 'torch' not in sys.modules, sorted(sys.modules)\n"
    loop = (
        "import osan.train.trainer, osan.train.launch\n"
        "from osan.train.preflight import check_inputs\n"
        "import importlib; importlib.import_module('osan.train.runlog')\n"
    )
    check = "import osan, osan.api\nassert osan.train is osan.api.train, osan.train\n"
    proc = subprocess.run(
        [sys.executable, "-c", light + loop + check], capture_output=True, text=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_generate_writes_what_osan_data_generate_writes(tmp_path, capsys):
    argv = ["data", "generate", "vtc", "--size", "tiny", "--seed", "2"]
    assert main([*argv, "--out", str(tmp_path / "cli")]) == 0
    paths = osan.generate("vtc", tmp_path / "api", size="tiny", seed=2)
    assert paths == (tmp_path / "api" / "source.pkl", tmp_path / "api" / "target.pkl")
    for name in ("source.pkl", "target.pkl", "meta.json"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    domain = osan.load_domain(paths[1])
    assert domain.task == "classification" and set(domain.splits) == {"train", "valid", "test"}


def test_run_adapt_adapts_without_the_source_and_returns_the_adapted_run(data, tmp_path):
    """``Run.adapt`` is ``osan adapt``: it reads only the run (its source file is deleted
    first), writes a run folder whose saved target-test metrics are what the returned run
    evaluates to, and its keyword overrides reach the adaptation's config."""
    source = tmp_path / "source.pkl"
    source.write_bytes(Path(data["regression/source"]).read_bytes())
    run = osan.train(
        "source-only", source, data["regression/target"], tmp_path / "run",
        epochs=1, overrides=TINY, progress=False,
    )  # fmt: skip
    source.unlink()
    adapted = run.adapt(
        data["regression/target"], tmp_path / "ssa", method="ssa", epochs=1, adapt__lr=3e-4
    )
    assert isinstance(adapted, osan.Run)
    assert adapted.config.adapt.method == "ssa" and adapted.config.adapt.lr == 3e-4
    saved = json.loads((tmp_path / "ssa" / "metrics.json").read_text())
    again = adapted.evaluate(data["regression/target"])
    assert (again["mae"], again["corr"]) == pytest.approx((saved["mae"], saved["corr"]))
    assert set(adapted.predict(data["unlabelled"])) == set(run.predict(data["unlabelled"]))
    # the module-level function takes a run folder's path as well as a Run
    other = osan.adapt(run.path, data["regression/target"], tmp_path / "bn", method="adabn")
    assert other.config.adapt.method == "adabn"
