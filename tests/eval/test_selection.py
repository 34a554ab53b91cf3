"""Model selection without target labels: each validator on a toy shift with a known answer,
the trainer's checkpoint selection by validator, and ``osan select`` over a bench folder."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch

from osan.bench import suites as S
from osan.bench.cli import add_bench_parser, cmd_bench
from osan.bench.runner import RESULTS, load_results
from osan.bench.select import add_select_parser, cmd_select
from osan.bench.select_picks import spearman
from osan.config import VALIDATOR_TASKS, ConfigError, load_config
from osan.eval.label_free import (
    dev_risk,
    effective_sample_size,
    entropy_score,
    im_score,
    importance_weights,
    iwv_risk,
    per_sample_loss,
    snd_score,
    softmax,
)
from osan.eval.selection import (
    VALIDATORS,
    SelectionInputs,
    collect_inputs,
    get_validator,
    score_model,
    validators_for,
)
from osan.train.checkpoint import load_checkpoint
from osan.train.trainer import fit, load_run
from tests.helpers import TINY, toy_domains

# --------------------------------------------------------------------------- importance weights


def test_importance_weights_match_the_analytic_ratio_of_two_gaussians():
    """Source N(0, I), target N(μ, I): log w(x) = μ·x − |μ|²/2 exactly."""
    rng = np.random.default_rng(0)
    mu = np.array([1.0, 0.0])
    xs = rng.normal(size=(3000, 2))
    xt = rng.normal(size=(3000, 2)) + mu
    w = importance_weights(xs, xt)
    err = np.log(w) - (xs @ mu - mu @ mu / 2)
    bulk = np.abs(xs @ mu) < 2  # 95 % of the source mass
    assert np.abs(err[bulk]).mean() < 0.06
    assert np.abs(err[bulk]).max() < 0.3
    assert w.mean() == pytest.approx(1.0, abs=0.05)  # E_s[w] = 1


def test_importance_weights_are_one_without_shift():
    rng = np.random.default_rng(1)
    w = importance_weights(rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3)))
    assert np.abs(np.log(w)).mean() < 0.08  # estimation noise only (a shift of 1 spans ±2)
    assert np.abs(np.log(w)).max() < 0.35


def test_importance_weights_are_deterministic_and_reject_bad_shapes():
    rng = np.random.default_rng(2)
    xs, xt = rng.normal(size=(200, 40)), rng.normal(size=(150, 40)) + 0.3
    np.testing.assert_array_equal(importance_weights(xs, xt), importance_weights(xs, xt))
    with pytest.raises(ValueError, match="equal D"):
        importance_weights(xs, xt[:, :3])


def test_effective_sample_size_counts_how_many_rows_carry_the_weight():
    assert effective_sample_size(np.full(50, 3.0)) == pytest.approx(50)
    assert effective_sample_size(np.r_[1e6, np.full(49, 1e-3)]) == pytest.approx(1.0, abs=1e-3)
    assert effective_sample_size(np.r_[np.ones(10), np.zeros(40)]) == pytest.approx(10)


# --------------------------------------------------------------------------- IWV and DEV


def test_iwv_and_dev_estimate_the_target_risk_under_covariate_shift():
    """ℓ(x) = x²: source N(0, 1) has risk 1, target N(1, 1) has risk 2."""
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(3000, 1))
    w = importance_weights(xs, rng.normal(size=(3000, 1)) + 1.0)
    losses = xs[:, 0] ** 2
    assert losses.mean() == pytest.approx(1.0, abs=0.1)
    assert iwv_risk(losses, w) == pytest.approx(2.0, abs=0.2)
    assert dev_risk(losses, w) == pytest.approx(2.0, abs=0.2)


def test_dev_is_the_control_variate_formula_and_cuts_the_variance_of_iwv():
    losses = np.array([1.0, 2.0, 0.5, 4.0])
    w = np.array([0.5, 1.5, 1.0, 2.0])
    wl = w * losses
    eta = -np.cov(wl, w, ddof=1)[0, 1] / np.var(w, ddof=1)
    assert dev_risk(losses, w) == pytest.approx(wl.mean() + eta * w.mean() - eta)
    # weights of mean exactly 1: the control variate adds nothing
    w1 = w / w.mean()
    assert dev_risk(losses, w1) == pytest.approx(iwv_risk(losses, w1))
    # constant weights: no control variate at all
    assert dev_risk(losses, np.full(4, 2.0)) == pytest.approx(2.0 * losses.mean())
    # exact weights of N(1, 1) vs N(0, 1), 100 source samples per draw, target risk 2
    rng = np.random.default_rng(4)
    iwv, dev = [], []
    for _ in range(300):
        x = rng.normal(size=100)
        iwv.append(iwv_risk(x**2, np.exp(x - 0.5)))
        dev.append(dev_risk(x**2, np.exp(x - 0.5)))
    assert np.var(dev) < 0.5 * np.var(iwv)
    assert np.mean(iwv) == pytest.approx(2.0, abs=0.25)
    assert np.mean(dev) == pytest.approx(2.0, abs=0.25)


def _shift_candidates():
    """y = x², source x ~ N(0, 1), target x ~ N(1.5, 0.6²); candidates f_c(x) = c·x.

    On the source the flattest line (c = 0, 1) is best, on the target c = 2.
    """
    rng = np.random.default_rng(5)
    xs, xt = rng.normal(0, 1, 2000), rng.normal(1.5, 0.6, 2000)
    xtest = rng.normal(1.5, 0.6, 20000)

    def feats(x):
        return np.stack([x, x**2], 1)  # the log density ratio is quadratic in x

    out = {}
    for c in (0.0, 1.0, 2.0, 3.0, 4.0):
        inputs = SelectionInputs("regression", "l1", c * xs, xs**2, feats(xs), c * xt, feats(xt))
        out[c] = (inputs, float(np.abs(c * xtest - xtest**2).mean()))  # true target risk
    return out


def test_iwv_and_dev_pick_the_target_best_candidate_where_source_loss_does_not():
    cands = _shift_candidates()
    truth = min(cands, key=lambda c: cands[c][1])
    assert truth == 2.0

    def pick(name):
        v = get_validator(name)
        return min(cands, key=lambda c: v.key(v(cands[c][0])))

    assert pick("source_val") != truth
    assert pick("iwv") == truth
    assert pick("dev") == truth
    ranks = {n: [get_validator(n)(cands[c][0]) for c in cands] for n in ("iwv", "source_val")}
    true_risk = [cands[c][1] for c in cands]
    assert spearman(-np.array(ranks["iwv"]), -np.array(true_risk)) == pytest.approx(1.0)
    assert spearman(-np.array(ranks["source_val"]), -np.array(true_risk)) < 0.5


# --------------------------------------------------------------------------- classification scores


def _two_cluster_predictions(boundary: float) -> np.ndarray:
    """Target: two clusters at ±2; a 2-class classifier with its boundary at ``boundary``."""
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(-2, 0.5, 300), rng.normal(2, 0.5, 300)])
    logits = np.stack([-(x - boundary), x - boundary], 1) * 1.5
    return softmax(logits)


def test_scores_prefer_the_boundary_in_the_low_density_gap():
    """The cluster assumption: a boundary between the target clusters (0) beats one through a
    cluster (1 or 2) on every target-only score, each in its own direction."""
    good, worse, bad = (_two_cluster_predictions(b) for b in (0.0, 1.0, 2.0))
    assert entropy_score(good) < entropy_score(worse) < entropy_score(bad)
    assert im_score(good) > im_score(worse) > im_score(bad)
    assert snd_score(good) > snd_score(worse)
    assert snd_score(good) > snd_score(bad)


def test_snd_known_values_and_chunking():
    # identical predictions: every neighbour equally close -> log(N - 1)
    assert snd_score(np.full((10, 3), 1 / 3)) == pytest.approx(math.log(9))
    # K one-hot clusters of n rows: each row's neighbourhood is its cluster -> log(n - 1)
    onehot = np.repeat(np.eye(3), 5, axis=0)
    assert snd_score(onehot) == pytest.approx(math.log(4), abs=1e-6)
    p = softmax(np.random.default_rng(7).normal(size=(50, 4)))
    assert snd_score(p, chunk=7) == pytest.approx(snd_score(p))
    # a lower temperature sharpens the neighbourhood: lower entropy
    assert snd_score(p, temperature=0.01) < snd_score(p, temperature=0.05)


def test_entropy_and_im_known_values():
    k = 4
    uniform = np.full((8, k), 1 / k)
    onehot = np.tile(np.eye(k), (2, 1))  # confident and balanced
    collapsed = np.tile(np.eye(k)[:1], (8, 1))  # confident, one class
    assert entropy_score(uniform) == pytest.approx(math.log(k))
    assert entropy_score(onehot) == pytest.approx(0.0)
    assert entropy_score(collapsed) == pytest.approx(0.0)  # entropy cannot see a collapse ...
    assert im_score(onehot) == pytest.approx(math.log(k))
    assert im_score(collapsed) == pytest.approx(0.0)  # ... IM can
    assert im_score(uniform) == pytest.approx(0.0)


def test_per_sample_losses_average_to_the_method_task_loss():
    g = torch.Generator().manual_seed(0)
    pred, y = torch.randn(20, generator=g), torch.randn(20, generator=g)
    logits, cls = torch.randn(20, 3, generator=g), torch.randint(0, 3, (20,), generator=g)
    F = torch.nn.functional
    assert per_sample_loss(pred.numpy(), y.numpy(), "l1").mean() == pytest.approx(
        float(F.l1_loss(pred, y))
    )
    assert per_sample_loss(pred.numpy(), y.numpy(), "mse").mean() == pytest.approx(
        float(F.mse_loss(pred, y))
    )
    assert per_sample_loss(logits.numpy(), cls.numpy(), "ce").mean() == pytest.approx(
        float(F.cross_entropy(logits, cls))
    )


# --------------------------------------------------------------------------- registry and config


def test_registry_matches_the_config_schema_and_directions_are_declared():
    assert list(VALIDATORS) == list(VALIDATOR_TASKS)
    assert validators_for("regression") == ["source_val", "iwv", "dev"]
    assert validators_for("classification") == list(VALIDATORS)
    assert {n for n, v in VALIDATORS.items() if v.higher_is_better} == {"snd", "im"}
    assert get_validator("snd").key(2.0) == -2.0 and get_validator("dev").key(2.0) == 2.0


def test_unknown_or_inapplicable_validators_are_clear_errors():
    with pytest.raises(ConfigError, match=r"unknown validator 'nope'.*source_val.*im"):
        get_validator("nope")
    with pytest.raises(ConfigError, match=r"for regression choose from \['source_val'"):
        get_validator("snd", "regression")
    with pytest.raises(ConfigError, match=r"selection must be one of \['source_val'"):
        load_config(overrides=["selection=nope"])
    with pytest.raises(ConfigError, match="applies to"):
        load_config(overrides=["selection=entropy"], task="regression")
    assert load_config(overrides=["selection=snd"], task="classification").selection == "snd"


# --------------------------------------------------------------------------- in training


def tiny_cfg(method="dann", task="regression", extra=(), seed=0):
    return load_config(overrides=[*TINY, *extra], method=method, task=task, seed=seed)


def _epochs(run):
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "epoch"]


def _last_arg(values, best):
    """Index of the last best value (the loop keeps a later checkpoint on a tie)."""
    target = best(values)
    return max(i for i, v in enumerate(values) if v == target)


def test_default_selection_is_the_source_validation_loss(tmp_path):
    src, tgt = toy_domains()
    m = fit(tiny_cfg(extra=["optim.epochs=3"]), src, tgt, tmp_path, progress=False)
    epochs = _epochs(tmp_path)
    losses = [r["source_valid_loss"] for r in epochs]
    assert m["meta"]["best_epoch"] == _last_arg(losses, min)
    assert m["meta"]["valid_loss"] == min(losses)
    assert m["meta"]["selection"] == "source validation loss (no target labels)"
    assert m["meta"]["validator"] == "source_val"
    assert not any(k.startswith("select_") for r in epochs for k in r)


@pytest.mark.parametrize(("name", "best"), [("im", max), ("entropy", min)])
def test_a_validator_chooses_the_checkpoint_in_its_own_direction(tmp_path, name, best):
    src, tgt = toy_domains(task="classification")
    cfg = tiny_cfg(task="classification", extra=["optim.epochs=3", f"selection={name}"])
    m = fit(cfg, src, tgt, tmp_path, progress=False)
    scores = [r[f"select_{name}"] for r in _epochs(tmp_path)]
    assert m["meta"]["best_epoch"] == _last_arg(scores, best)
    assert m["meta"]["validator"] == name and name in m["meta"]["selection"]
    # the reloaded run is the chosen checkpoint: its score is the logged one
    _, method, _ = load_run(tmp_path)
    again = score_model(
        method, src, tgt, [name], task="classification", task_loss="ce", device="cpu"
    )
    assert again[name] == pytest.approx(best(scores), rel=1e-5)


@pytest.mark.parametrize(("task", "name"), [("regression", "dev"), ("classification", "snd")])
def test_validators_never_read_target_labels(tmp_path, task, name):
    """Noise for every target train/valid label: the run (checkpoint choice included) is the
    same, bit for bit."""
    cfg = tiny_cfg(task=task, extra=["optim.epochs=3", f"selection={name}"])
    src, tgt = toy_domains(task=task)
    clean = fit(cfg, src, tgt, tmp_path / "clean", progress=False)
    rng = np.random.default_rng(123)
    for split in ("train", "valid"):
        sp = tgt.splits[split]
        if task == "regression":
            sp.labels = rng.uniform(-3, 3, size=sp.labels.shape).astype(np.float32)
        else:
            sp.labels = rng.integers(0, 3, size=sp.labels.shape).astype(np.int64)
    noisy = fit(cfg, src, tgt, tmp_path / "noisy", progress=False)
    assert clean == noisy
    scores = [[r[f"select_{name}"] for r in _epochs(tmp_path / d)] for d in ("clean", "noisy")]
    assert scores[0] == scores[1]


def test_collect_inputs_serves_target_train_without_labels(monkeypatch):
    import osan.eval.selection as sel

    seen = []
    real = sel.predict_split

    def spy(method, split, domain, **kw):
        seen.append((domain, split.labels is None, kw.get("labelled", True)))
        return real(method, split, domain, **kw)

    monkeypatch.setattr(sel, "predict_split", spy)
    src, tgt = toy_domains()
    cfg = tiny_cfg(method="source-only")
    from osan.methods import build_method

    method = build_method(cfg, {"source": src.dims(), "target": tgt.dims()}, 1).eval()
    x = collect_inputs(method, src, tgt, task="regression", task_loss="l1")
    assert seen == [("source", False, True), ("target", True, False)]
    assert x.source_labels.shape == (len(src.split("valid")),)
    assert x.target_pred.shape == (len(tgt.split("train")),)
    assert x.target_features.shape[1] == x.source_features.shape[1] == method.feature_dim


def test_resume_with_a_validator_ends_with_identical_metrics(tmp_path):
    src, tgt = toy_domains()
    cfg = tiny_cfg(extra=["optim.epochs=3", "selection=iwv"])
    straight = fit(cfg, src, tgt, tmp_path / "straight", progress=False)
    fit(cfg, src, tgt, tmp_path / "resumed", progress=False, stop_after_epochs=1)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["epoch"] == 1
    resumed = fit(cfg, src, tgt, tmp_path / "resumed", progress=False, resume=True)
    assert resumed == straight


# --------------------------------------------------------------------------- suite and osan select


def test_selection_suite_is_a_grid_per_method_without_the_oracle():
    runs = S.plan("selection", [1], benchmarks=["msa"])
    ids = [r.run_id for r in runs]
    assert len(ids) == len(set(ids))
    assert "selection/A2B/dann-a0.1-lr0.001/seed1" in ids
    # every method but the oracle, and but MCC (classification only) on sentiment regression
    assert {r.method for r in runs} == set(S.MAIN_METHODS) - {"oracle", "mcc"}
    vtc = {r.method for r in S.plan("selection", [1], benchmarks=["vtc"])}
    assert vtc == set(S.MAIN_METHODS) - {"oracle"}
    dann = [r for r in runs if r.method == "dann" and r.direction == "A2B"]
    assert len(dann) == 9 and {r.variant.overrides for r in dann} == {
        (f"loss.alpha={a:g}", f"optim.lr={lr:g}") for a in (0.1, 0.3, 1.0) for lr in S._LRS
    }
    quick = S.plan("selection", [1], benchmarks=["vtc"], quick=True)
    per_method = {m: sum(r.method == m for r in quick) for m in S.QUICK_SELECTION_GRID}
    assert all(3 <= n <= 6 for n in per_method.values()), per_method
    osan = [r.variant for r in quick if r.method == "osan"]
    assert osan[0].overrides == (
        "loss.alpha=0.1",
        "loss.beta=0.1",
        "ddg.heads=128",
        "ddg.lam=0.9",
    )  # the classification preset's (H, λ) first, from Table 9's grid
    assert S.plan("selection", [1], benchmarks=["cmu"])[0].direction == "MOSEI2MOSI"


def test_input_norm_suite_is_two_settings_per_method_without_the_oracle():
    runs = S.plan("input-norm", [1], benchmarks=["vtc"])
    assert {r.method for r in runs} == set(S.MAIN_METHODS) - {"oracle"}
    msa = {r.method for r in S.plan("input-norm", [1], benchmarks=["msa"])}
    assert msa == set(S.MAIN_METHODS) - {"oracle", "mcc"}
    for method in {r.method for r in runs}:
        mine = [r.variant for r in runs if r.method == method]
        assert [v.overrides for v in mine] == [
            ("encoder.input_norm=none",),
            ("encoder.input_norm=domain",),
        ]
    assert "input-norm/news2show/osan-plus-norm-domain/seed1" in {r.run_id for r in runs}


def _bench_args(*argv):
    parser = argparse.ArgumentParser(prog="osan")
    sub = parser.add_subparsers(dest="command")
    add_bench_parser(sub)
    add_select_parser(sub)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def toy_bench(tmp_path_factory):
    """A selection suite of source-only (3 learning rates x 2 directions) on toy domains."""
    out = tmp_path_factory.mktemp("sel")
    src, tgt = toy_domains(seed=0, n=64)
    data = {"A2B": (src, tgt), "B2A": (tgt, src)}
    args = _bench_args(
        "bench", "--suite", "selection", "--quick", "--benchmarks", "msa",
        "--methods", "source-only", "--out", str(out), "--seeds", "1", *TINY, "optim.epochs=2",
    )  # fmt: skip
    assert cmd_bench(args, data_fn=lambda b: data) == 0
    return out, data


def _with_noisy_target_labels():
    """The toy bench's data again, with noise for every label of each direction's target."""
    rng = np.random.default_rng(9)
    a_src, a_tgt = toy_domains(seed=0, n=64)
    b_tgt, b_src = toy_domains(seed=0, n=64)  # B2A: from the toy target to the toy source
    for domain in (a_tgt, b_tgt):
        for sp in domain.splits.values():
            sp.labels = rng.uniform(-3, 3, size=sp.labels.shape).astype(np.float32)
    return {"A2B": (a_src, a_tgt), "B2A": (b_src, b_tgt)}


def test_osan_select_picks_by_each_validator_and_reports_oracle_and_mean(toy_bench, capsys):
    out, data = toy_bench
    rc = cmd_select(_bench_args("select", "--bench", str(out)), data_fn=lambda b: data)
    assert rc == 0
    assert "| msa | mae ↓ | dev |" in capsys.readouterr().out
    report = json.loads((out / "selection.json").read_text())
    records = {r["run_id"]: r for r in load_results(out / RESULTS)}
    assert len(report["pools"]) == 2  # A2B, B2A x source-only x seed 1
    for pool in report["pools"]:
        settings = pool["settings"]
        assert len(settings) == 3
        maes = [s["target_metric"] for s in settings]
        assert maes == [records[s["run_id"]]["metrics"]["mae"] for s in settings]
        assert pool["oracle"]["value"] == min(maes)
        assert pool["mean_over_settings"] == pytest.approx(np.mean(maes))
        assert set(pool["picks"]) == {"source_val", "iwv", "dev"}
        assert all(0 < s["diagnostics"]["weights_ess"] <= 32 for s in settings)  # 32 valid rows
        for name, pick in pool["picks"].items():
            scores = [s["scores"][name] for s in settings]
            i = int(np.argmin(scores))  # all three: lower is better
            assert pick["run_id"] == settings[i]["run_id"]
            assert pick["value"] == maes[i]
            assert pick["regret"] == pytest.approx(maes[i] - min(maes))
        # the reloaded model is the trained checkpoint: the trainer's own source valid loss
        for s in settings:
            best = json.loads((out / "runs" / s["run_id"] / "metrics.json").read_text())
            assert s["scores"]["source_val"] == pytest.approx(best["meta"]["valid_loss"], rel=1e-5)
    md = (out / "selection.md").read_text()
    assert "oracle †" in md and "mean over settings" in md and "Spearman" in md
    # the picked runs' table: per direction, the picked run's metrics (one seed: no ±)
    for pool in report["pools"]:
        pick = pool["picks"]["iwv"]
        rec = records[pick["run_id"]]
        row = next(
            line
            for line in md[md.index(f"#### msa {pool['direction']}") :].splitlines()
            if line.startswith("| source-only | iwv |")
        )
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "1"  # n seeds
        assert (
            cells[3] == f"{rec['metrics']['mae']:.3f}"
            and cells[4] == f"{rec['metrics']['corr']:.3f}"
        )
        assert cells[-1] == f"{pick['variant'].removeprefix('source-only-')} ×1"


def test_osan_select_reads_no_target_label(toy_bench):
    """Target labels replaced by noise in every split: the same scores and picks."""
    out, data = toy_bench
    assert cmd_select(_bench_args("select", "--bench", str(out)), data_fn=lambda b: data) == 0
    clean = (out / "selection.json").read_text()
    noisy = _with_noisy_target_labels()
    assert cmd_select(_bench_args("select", "--bench", str(out)), data_fn=lambda b: noisy) == 0
    assert (out / "selection.json").read_text() == clean


def test_osan_select_bad_commands_exit_2(toy_bench, tmp_path, capsys):
    out, data = toy_bench

    def run(*argv):
        return cmd_select(_bench_args("select", *argv), data_fn=lambda b: data)

    assert run("--bench", str(out), "--validator", "nope") == 2
    assert "choose from ['source_val', 'iwv', 'dev', 'snd', 'entropy', 'im']" in (
        capsys.readouterr().err
    )
    assert run("--bench", str(out), "--validator", "snd") == 2  # classification only
    assert "apply to none" in capsys.readouterr().err
    assert run("--bench", str(out), "--metric", "nope") == 2
    assert run("--bench", str(tmp_path / "empty")) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_osan_select_rebuilds_builtin_data_from_the_results_line(tmp_path, capsys):
    """Without a data function, the runs' data come back from their results line's spec."""
    out = tmp_path / "vtc"
    args = _bench_args(
        "bench", "--suite", "selection", "--quick", "--benchmarks", "vtc", "--size", "tiny",
        "--methods", "source-only", "--out", str(out), "--seeds", "1",
        *TINY, "optim.epochs=1",
    )  # fmt: skip
    assert cmd_bench(args) == 0
    assert cmd_select(_bench_args("select", "--bench", str(out), "--validator", "snd", "im")) == 0
    report = json.loads((out / "selection.json").read_text())
    (pool,) = report["pools"]
    assert pool["benchmark"] == "vtc" and pool["metric"] == "f1"
    assert set(pool["picks"]) == {"snd", "im"}
    # data that cannot be rebuilt: a clear error
    lines = (out / RESULTS).read_text().splitlines()
    rec = json.loads(lines[0])
    rec["data"]["size"] = "nope"
    (out / RESULTS).write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    assert cmd_select(_bench_args("select", "--bench", str(out))) == 2
    assert "cannot rebuild its data" in capsys.readouterr().err


def test_bench_applies_the_validator_key_to_every_method(tmp_path, toy_bench):
    """``osan bench ... selection=dev``: every UDA/Direct Transfer run selects by DEV; the oracle
    keeps its (marked) target-validation selection."""
    _, data = toy_bench
    out = tmp_path / "bench"
    args = _bench_args(
        "bench", "--suite", "msa-main", "--out", str(out), "--seeds", "1",
        "--methods", "source-only", "dann", "oracle", *TINY, "optim.epochs=1", "selection=dev",
    )  # fmt: skip
    assert cmd_bench(args, data_fn=lambda b: data) == 0
    records = load_results(out / RESULTS)
    assert len(records) == 6 and all(r["selection"] == "dev" for r in records)
    for r in records:
        meta = json.loads((out / "runs" / r["run_id"] / "metrics.json").read_text())["meta"]
        if r["method"] == "oracle":
            assert meta["validator"] is None and "oracle" in meta["selection"]
        else:
            assert meta["validator"] == "dev" and meta["selection"].startswith("dev:")
