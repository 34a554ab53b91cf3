"""Every registered method in the one harness, and the behaviour specific to each baseline."""

import json
import math

import numpy as np
import pytest
import torch

from osan.config import METHOD_TASKS, ConfigError, load_config
from osan.data.domain import SplitLoader
from osan.methods import REGISTRY, build_method
from osan.methods.dann import phase_progress
from osan.train.optim import make_optimizer
from osan.train.run_folder import load_run
from osan.train.trainer import describe_dims, fit
from tests.helpers import TINY, toy_domains

# Every method registered by osan itself (tests register throw-away names of their own).
METHODS = sorted(n for n, f in REGISTRY.items() if not f.__module__.startswith("tests"))
UDA = [n for n in METHODS if not getattr(REGISTRY[n], "uses_target_labels", False)]
#: Methods that run on a regression task (MCC is classification only).
REGRESSION = [n for n in METHODS if "regression" in METHOD_TASKS.get(n, ("regression",))]


def cfg_for(method, *extra, seed=0):
    return load_config(overrides=[*TINY, *extra], method=method, seed=seed)


def epoch_records(run_dir):
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r["event"] == "epoch"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One 4-epoch run per method, shared by the tests that read it."""
    runs = {}

    def run(method):
        if method not in runs:
            out = tmp_path_factory.mktemp(method)
            # a method that does not apply to regression runs on the classification toy
            task = "regression" if method in REGRESSION else "classification"
            cfg = load_config(
                overrides=[*TINY, "optim.epochs=4", "optim.lr=3e-3"], method=method, task=task
            )
            src, tgt = toy_domains(task=task)
            runs[method] = (fit(cfg, src, tgt, out, progress=False), out)
        return runs[method]

    return run


def batches(n=96):
    """Full-split source (labelled) and target (unlabelled) training batches."""
    src, tgt = toy_domains(n=n)
    s = SplitLoader(src.split("train"), n).batch(torch.arange(n))
    t = SplitLoader(tgt.split("train").without_labels(), n).batch(torch.arange(n))
    return src, tgt, s, t


def train_steps(method, cfg, s, t, n):
    """``n`` steps exactly as the loop takes them (same optimiser over the same parameters)."""
    opt, sched = make_optimizer(method, cfg, n)
    for _ in range(n):
        out = method.training_step(s, t, 0.5)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        sched.step()
        method.on_step_end(out)
    return out


def test_the_baselines_are_registered():
    assert {"dan", "dann", "adda", "mm-sada", "mdmn", "source-only", "oracle"} <= set(METHODS)
    assert UDA == [n for n in METHODS if n != "oracle"]


@pytest.mark.parametrize("method", METHODS)
def test_short_run_finite_falling_source_loss_and_phases(short_run, method):
    metrics, out = short_run(method)
    score = metrics["mae"] if method in REGRESSION else metrics["f1"]
    assert (out / "metrics.json").exists() and math.isfinite(score)
    epochs = epoch_records(out)
    for r in epochs:
        assert all(math.isfinite(v) for k, v in r.items() if k.startswith("train_")), r
    assert epochs[-1]["train_task"] < epochs[0]["train_task"]
    # Two-stage methods go through their phases in order, each for at least one epoch.
    names = [p.name for p in REGISTRY[method].phases]
    seen = [r["phase"] for r in epochs]
    assert sorted(set(seen), key=seen.index) == names
    assert seen == sorted(seen, key=names.index)


def test_target_labels_cannot_change_any_uda_method(tmp_path):
    """Corrupting the target TRAIN labels leaves every UDA method's metrics identical; the
    oracle, which trains on them, shows that the corruption matters."""
    extra = ("optim.epochs=2",)
    for method in REGRESSION:
        clean_src, clean_tgt = toy_domains(n=48)
        clean = fit(
            cfg_for(method, *extra),
            clean_src,
            clean_tgt,
            tmp_path / method / "clean",
            progress=False,
        )
        src, tgt = toy_domains(n=48)
        sp = tgt.splits["train"]
        sp.labels = np.random.default_rng(5).uniform(-3, 3, sp.labels.shape).astype(np.float32)
        noisy = fit(cfg_for(method, *extra), src, tgt, tmp_path / method / "noisy", progress=False)
        same = clean["target"] == noisy["target"] and clean["source"] == noisy["source"]
        assert same == (method in UDA), method


def test_a_classification_only_method_refuses_a_regression_config():
    assert set(REGRESSION) == set(METHODS) - {"mcc"}
    with pytest.raises(ConfigError, match="mcc applies to classification only"):
        cfg_for("mcc")


def _macro_f1(pred: np.ndarray, true: np.ndarray) -> float:
    """Macro F1 over the classes in ``true`` or ``pred``, an undefined ratio counting 0."""
    scores = []
    for k in sorted(set(true.tolist()) | set(pred.tolist())):
        tp = float(((pred == k) & (true == k)).sum())
        p, r = tp / max(int((pred == k).sum()), 1), tp / max(int((true == k).sum()), 1)
        scores.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return sum(scores) / len(scores)


def test_classification_runs_for_every_method_and_reports_its_own_predictions_macro_f1(tmp_path):
    """Every method trains a K-way head on a classification task, and the F1 its run reports is
    the macro F1 of the saved checkpoint's argmax predictions on the target test split."""
    for method in METHODS:
        src, tgt = toy_domains(task="classification", n=48)
        cfg = load_config(overrides=TINY, method=method, task="classification")
        m = fit(cfg, src, tgt, tmp_path / method, progress=False)
        _, model, classes = load_run(tmp_path / method)
        assert classes == ["a", "b", "c"], method
        split = tgt.splits["test"]
        model.eval()
        with torch.no_grad():
            loader = SplitLoader(split, 256, labelled=False)
            logits = torch.cat([model.predict(b, "target") for b in loader])  # (N, K)
        assert logits.shape == (len(split.ids), 3), method
        want = _macro_f1(logits.argmax(-1).numpy(), np.asarray(split.labels))
        assert m["f1"] == pytest.approx(want, abs=1e-9), method


# -- ADDA ---------------------------------------------------------------------------------
def test_adda_freezes_the_source_path_and_trains_a_target_encoder():
    cfg = cfg_for("adda")
    src, tgt, s, t = batches(32)
    m = build_method(cfg, describe_dims(src, tgt), 1)
    m.set_phase("pretrain")
    train_steps(m, cfg, s, t, 3)
    m.set_phase("adapt")
    # M_t starts as a copy of M_s (sequence encoders and, dims being equal, input projections).
    for a, b in zip(m.target_encoders.parameters(), m.encoder.encoders.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(
        m.encoder.input_proj["target"].parameters(),
        m.encoder.input_proj["source"].parameters(),
        strict=True,
    ):
        assert torch.equal(a, b)
    groups = m.parameter_groups()
    before = {k: [p.detach().clone() for p in v] for k, v in groups.items()}
    train_steps(m, cfg, s, t, 3)

    def changed(k):
        return any(not torch.equal(a, b) for a, b in zip(before[k], groups[k], strict=True))

    assert not changed("source") and changed("target") and changed("discriminator")
    with torch.no_grad():
        m.eval()  # target prediction goes through M_t, which now differs from M_s
        via_source = m.fuse(m.encoder(t, "target"), "target")
        assert not torch.allclose(m.features(t, "target"), via_source)
    # One backward, two players: L_M reaches only M_t, L_D only D.
    m.train()
    m.zero_grad(set_to_none=True)
    m.generator_loss(m.features(t, "target")).backward()
    assert all(p.grad is None for p in groups["discriminator"] + groups["source"])
    assert all(p.grad is not None for p in groups["target"])
    m.zero_grad(set_to_none=True)
    with torch.no_grad():
        f_s = m.features(s, "source")
    m.discriminator_loss(f_s, m.features(t, "target"))[0].backward()
    assert all(p.grad is None for p in groups["target"] + groups["source"])
    assert all(p.grad is not None for p in groups["discriminator"])


def test_adda_resumed_inside_adapt_keeps_its_target_encoder(tmp_path, short_run):
    straight, _ = short_run("adda")
    cfg = cfg_for("adda", "optim.epochs=4", "optim.lr=3e-3")
    src, tgt = toy_domains()
    fit(cfg, src, tgt, tmp_path, progress=False, stop_after_epochs=3)  # 2 pretrain + 1 adapt
    resumed = fit(cfg, src, tgt, tmp_path, progress=False, resume=True)
    assert resumed["target"] == straight["target"]


# -- MM-SADA ------------------------------------------------------------------------------
def test_mm_sada_self_supervision_learns_correspondence_on_both_domains():
    """On the toy all modalities carry the same latent, so matched and rolled modality sets
    are separable; held-out accuracy rises above chance on source AND target."""
    torch.manual_seed(0)
    cfg = cfg_for("mm-sada", "optim.lr=1e-2")
    src, tgt, s, t = batches(96)
    m = build_method(cfg, describe_dims(src, tgt), 1)
    held = {
        "source": SplitLoader(src.split("test"), 48).batch(torch.arange(48)),
        "target": SplitLoader(tgt.split("test").without_labels(), 48).batch(torch.arange(48)),
    }

    def accuracy(domain):
        m.eval()
        with torch.no_grad():
            h = m.encoder(held[domain], domain)
            acc = np.mean([m.correspondence_loss(h)[1] for _ in range(10)])
        m.train()
        return acc

    m.set_phase("pretrain")
    # Only L_s reaches the target input projections in "pretrain" (no adversary yet).
    m.training_step(s, t, 0.0).loss.backward()
    assert all(p.grad.abs().sum() > 0 for p in m.encoder.input_proj["target"].parameters())
    m.zero_grad(set_to_none=True)
    assert max(accuracy("source"), accuracy("target")) < 0.6
    out = train_steps(m, cfg, s, t, 60)
    assert "adv" not in out.logs
    assert accuracy("source") > 0.6 and accuracy("target") > 0.6
    m.set_phase("adapt")
    out = m.training_step(s, t, 0.75)
    assert {"adv", "disc_acc_text", "disc_acc_vision", "disc_acc_audio"} <= set(out.logs)


def test_mm_sada_negatives_roll_exactly_one_modality():
    cfg = cfg_for("mm-sada")
    src, tgt, s, _ = batches(16)
    m = build_method(cfg, describe_dims(src, tgt), 1)
    h = {k: torch.randn(16, 3) for k in ("text", "vision", "audio")}
    for _ in range(5):
        neg = m.mismatch(h)
        moved = [k for k in h if not torch.equal(neg[k], h[k])]
        assert len(moved) == 1
        assert (neg[moved[0]] != h[moved[0]]).any(dim=1).all()  # every row lost its partner


# -- two-stage helpers ----------------------------------------------------------------------
def test_two_stage_methods_need_an_adapt_epoch():
    for method in ("adda", "mm-sada", "mdmn"):
        cfg = cfg_for(method, "optim.epochs=1")
        src, tgt = toy_domains(n=16)
        with pytest.raises(ConfigError, match="adapt"):
            build_method(cfg, describe_dims(src, tgt), 1)


def test_grl_warm_up_restarts_with_the_adapt_phase():
    phases = REGISTRY["mdmn"].phases
    assert phase_progress(0.25, phases, "adapt") == 0.0
    assert phase_progress(0.75, phases, "adapt") == pytest.approx(0.5)
    assert phase_progress(1.0, phases, "adapt") == 1.0
