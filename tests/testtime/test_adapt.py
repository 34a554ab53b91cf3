"""``osan adapt`` end to end through the CLI without the source files, the Python entry point,
resumption, what each method may change, and the bad inputs (exit 2, one line)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from osan.cli import main
from osan.data.mmsa import save_mmsa
from osan.testtime.adapt import adapt
from osan.testtime.stats import SOURCE_STATS, load_source_stats
from osan.train.checkpoint import load_checkpoint
from tests.helpers import TINY, toy_domains


def _train(folder: Path, task: str) -> tuple[Path, Path, Path]:
    src, tgt = toy_domains(task)
    s, t = folder / "s.pkl", folder / "t.pkl"
    save_mmsa(src, s)
    save_mmsa(tgt, t)
    run = folder / "run"
    argv = ["train", "--method", "source-only", "--source", str(s), "--target", str(t)]
    argv += ["--out", str(run), "--quiet", "--task", task, *TINY]
    assert main(argv) == 0
    return s, t, run


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("reg"), "regression")


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("cls"), "classification")


def _copy(run_files, tmp_path) -> tuple[Path, Path, Path]:
    """A private copy of a trained run and its data (tests delete the source)."""
    s, t, run = run_files
    for p in (s, t):
        shutil.copy(p, tmp_path / p.name)
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / s.name, tmp_path / t.name, tmp_path / "run"


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("osan: error:"), err
    return err[0]


def test_training_writes_source_statistics_of_the_head_features(regression_run):
    _, _, run = regression_run
    stats = load_source_stats(run)
    assert stats is not None and stats["feature"] == "head.hidden"
    hidden = load_checkpoint(run / "checkpoint.pt")["best_model"]["head.net.4.weight"].shape[1]
    assert stats["mean"].shape == (hidden,) and stats["basis"].shape == (hidden, hidden)
    assert torch.all(stats["var"][:-1] >= stats["var"][1:])  # descending


@pytest.mark.parametrize(
    ("task", "method"),
    [("regression", "ssa"), ("regression", "adabn"), ("classification", "tent"),
     ("classification", "shot-im")],
)  # fmt: skip
def test_adapt_end_to_end_without_the_source_files(request, tmp_path, capsys, task, method):
    fixture = "regression_run" if task == "regression" else "classification_run"
    s, t, run = _copy(request.getfixturevalue(fixture), tmp_path)
    s.unlink()  # the source is gone: adaptation must not need it
    before = _digest(run)
    out = tmp_path / "adapted"
    argv = ["adapt", "--run", str(run), "--target", str(t), "--out", str(out)]
    assert main([*argv, "--method", method, "--epochs", "2", "--quiet"]) == 0
    assert _digest(run) == before  # RUN is never modified
    for name in ("config.yaml", "checkpoint.pt", "metrics.json", "log.jsonl"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["meta"]["adapt"] == method and metrics["meta"]["source_free"]
    key = "mae" if task == "regression" else "f1"
    capsys.readouterr()
    # osan eval / predict read the adapted folder like any run folder
    assert (
        main(["eval", "--run", str(out), "--data", str(t), "--out", str(tmp_path / "e.json")]) == 0
    )
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated[key] == pytest.approx(metrics[key], abs=1e-6)
    assert (
        main(["predict", "--run", str(out), "--data", str(t), "--out", str(tmp_path / "p.csv")])
        == 0
    )
    assert main(["report", "--runs", str(run), str(out), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "Test-time (source-free)" in report


def _changed(run: Path, out: Path) -> set[str]:
    a = load_checkpoint(run / "checkpoint.pt")["best_model"]
    b = load_checkpoint(out / "checkpoint.pt")["best_model"]
    return {
        k
        for k in a
        if isinstance(a[k], torch.Tensor)
        and a[k].is_floating_point()
        and not torch.equal(a[k], b[k])
    }


def _norm_keys(run: Path) -> set[str]:
    """The LayerNorm parameter names of the run's model (weights of 1-D shape, by module)."""
    from osan.train.run_folder import load_run

    _, method, _ = load_run(run)
    names = set()
    for mod_name, mod in method.named_modules(remove_duplicate=False):
        if isinstance(mod, torch.nn.LayerNorm):
            names |= {f"{mod_name}.weight", f"{mod_name}.bias"}
    return names


@pytest.mark.parametrize(("task", "method"), [("regression", "ssa"), ("classification", "tent")])
def test_ssa_and_tent_change_normalisation_affines_only(request, tmp_path, task, method):
    fixture = "regression_run" if task == "regression" else "classification_run"
    _, t, run = request.getfixturevalue(fixture)
    out = tmp_path / "a"
    adapt(run, t, out, method=method, epochs=2)
    changed = _changed(run, out)
    assert changed and changed <= _norm_keys(run)


def test_shot_im_keeps_the_head_frozen_and_adapts_the_encoder(classification_run, tmp_path):
    _, t, run = classification_run
    out = tmp_path / "a"
    adapt(run, t, out, method="shot-im", epochs=2, overrides=["adapt.shot_beta=0.3"])
    changed = _changed(run, out)
    assert not {k for k in changed if k.startswith("head.")}
    assert {k for k in changed if k.startswith("encoder.")}


def test_adabn_refits_the_target_input_statistics_on_the_new_target(tmp_path):
    from osan.nn.standardize import channel_moments

    src, tgt = toy_domains()
    s, t = tmp_path / "s.pkl", tmp_path / "t.pkl"
    save_mmsa(src, s)
    save_mmsa(tgt, t)
    run = tmp_path / "run"
    argv = ["train", "--method", "source-only", "--source", str(s), "--target", str(s)]
    assert main([*argv, "--out", str(run), "--quiet", *TINY, "encoder.input_norm=domain"]) == 0
    out = tmp_path / "a"
    adapt(run, tgt, out, method="adabn")
    after = load_checkpoint(out / "checkpoint.pt")["best_model"]
    for m in ("text", "audio"):
        split = tgt.split("train")
        mean, std = channel_moments(split.features[m], split.lengths[m])
        np.testing.assert_allclose(after[f"encoder.input_norm.target.{m}.mean"], mean, rtol=1e-5)
        np.testing.assert_allclose(after[f"encoder.input_norm.target.{m}.std"], std, rtol=1e-5)
    # no gradient step: the target's input statistics (buffers) are all that moved
    assert _changed(run, out) == {
        f"encoder.input_norm.target.{m}.{k}" for m in src.dims() for k in ("mean", "std")
    }


def test_resume_after_an_interruption_ends_with_the_same_weights(regression_run, tmp_path):
    _, t, run = regression_run
    full, cut = tmp_path / "full", tmp_path / "cut"
    m_full = adapt(run, t, full, method="ssa", epochs=3)
    assert adapt(run, t, cut, method="ssa", epochs=3, stop_after_epochs=1) == {}
    m_cut = adapt(run, t, cut, method="ssa", epochs=3, resume=True)
    a = load_checkpoint(full / "checkpoint.pt")["best_model"]
    b = load_checkpoint(cut / "checkpoint.pt")["best_model"]
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
    assert m_cut["mae"] == m_full["mae"]


def test_bad_inputs_exit_2_with_one_line(regression_run, tmp_path, capsys):
    s, t, run = _copy(regression_run, tmp_path)
    base = ["adapt", "--target", str(t), "--quiet"]
    # a missing run
    assert main([*base, "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "o1")]) == 2
    assert "not a run folder" in _one_error_line(capsys)
    # TENT on a regression run
    assert main([*base, "--run", str(run), "--out", str(tmp_path / "o2"), "--method", "tent"]) == 2
    assert "classification" in _one_error_line(capsys)
    # an override of the run's own settings
    argv = [*base, "--run", str(run), "--out", str(tmp_path / "o3"), "optim.lr=1"]
    assert main(argv) == 2
    assert "adapt.<key>" in _one_error_line(capsys)
    # OUT exists and is not empty: refused, left as it was
    out = tmp_path / "o4"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main([*base, "--run", str(run), "--out", str(out)]) == 2
    assert "not empty" in _one_error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # OUT is the run itself
    assert main([*base, "--run", str(run), "--out", str(run)]) == 2
    assert "never modified" in _one_error_line(capsys)
    # a run trained before source statistics existed: SSA names the retrain, AdaBN still works
    (run / SOURCE_STATS).unlink()
    assert main([*base, "--run", str(run), "--out", str(tmp_path / "o5"), "--method", "ssa"]) == 2
    line = _one_error_line(capsys)
    assert "ssa need(s) a retrain" in line and "adabn" in line
    assert not (tmp_path / "o5").exists()
    assert main([*base, "--run", str(run), "--out", str(tmp_path / "o6")]) == 0


def test_a_target_with_other_classes_is_refused_before_anything_is_written(
    classification_run, tmp_path
):
    from osan.data.domain import Domain
    from osan.testtime.adapt import AdaptError

    _, tgt = toy_domains("classification")
    other = Domain(tgt.name, tgt.splits, task="classification", classes=["x", "y", "z"])
    out = tmp_path / "a"
    with pytest.raises(AdaptError, match="classes"):
        adapt(classification_run[2], other, out, method="tent")
    assert not out.exists()
