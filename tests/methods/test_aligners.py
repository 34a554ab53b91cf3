"""Deep CORAL, RSD, DARE-GRAM and MCC through the CLI, and OSAN with each L_dis."""

import json
import math

import pytest

from osan.cli import main
from osan.config import load_config
from osan.data.mmsa import save_mmsa
from osan.train.trainer import fit
from tests.helpers import TINY, toy_domains


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("aligners")
    out = {}
    for task in ("regression", "classification"):
        src, tgt = toy_domains(task=task)
        save_mmsa(src, root / f"{task}-s.pkl")
        save_mmsa(tgt, root / f"{task}-t.pkl")
        out[task] = (root / f"{task}-s.pkl", root / f"{task}-t.pkl")
    return out


def train(files, tmp_path, method, task):
    s, t = files[task]
    run = tmp_path / f"{method}-{task}"
    argv = ["train", "--method", method, "--task", task, "--source", str(s), "--target", str(t),
            "--out", str(run), "--quiet", "--epochs", "2", *TINY]  # fmt: skip
    return main(argv), run


@pytest.mark.parametrize(
    "method, task",
    [
        ("coral", "regression"),
        ("rsd", "regression"),
        ("dare-gram", "regression"),
        ("coral", "classification"),
        ("mcc", "classification"),
    ],
)
def test_each_aligner_trains_through_the_cli(files, tmp_path, method, task):
    rc, run = train(files, tmp_path, method, task)
    assert rc == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["mae" if task == "regression" else "f1"])
    epochs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r["event"] == "epoch"]
    terms = {"mcc": ["train_mcc"], "dare-gram": ["train_angle", "train_scale"]}
    for key in terms.get(method, ["train_dis"]):
        assert all(math.isfinite(r[key]) for r in epochs), key


def test_mcc_refuses_a_regression_task_with_one_line_and_writes_nothing(files, tmp_path, capsys):
    rc, run = train(files, tmp_path, "mcc", "regression")
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "mcc applies to classification only" in err and "Traceback" not in err
    assert not run.exists()


@pytest.mark.parametrize("kind", ["coral", "rsd", "dare-gram"])
def test_osan_trains_with_each_discrepancy(tmp_path, kind):
    src, tgt = toy_domains(n=48)
    cfg = load_config(overrides=[*TINY, f"loss.dis_kind={kind}"], method="osan")
    metrics = fit(cfg, src, tgt, tmp_path / kind, progress=False)
    assert math.isfinite(metrics["mae"])
    log = (tmp_path / kind / "log.jsonl").read_text().splitlines()
    dis = [json.loads(x)["train_dis"] for x in log if json.loads(x)["event"] == "epoch"]
    assert dis and all(math.isfinite(v) and v > 0 for v in dis)
