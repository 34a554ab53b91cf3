import json
import math

import numpy as np
import pytest
import torch

from osan.config import load_config
from osan.methods import REGISTRY, register
from osan.methods.source_only import SourceOnly
from osan.train.checkpoint import load_checkpoint
from osan.train.trainer import TrainingDiverged, fit, load_run
from tests.helpers import TINY, toy_domains

REG_KEYS = {"mae", "corr", "acc7", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0"}


def cfg_for(method="osan", task="regression", extra=(), seed=0):
    over = list(TINY) + list(extra)
    if task == "classification":
        over += [
            "encoder.out_dims={text: 8, vision: 4, audio: 4}",
            "tal.out_dims={text: 4, vision: 2, audio: 2}",
        ]
    return load_config(overrides=over, method=method, task=task, seed=seed)


def test_run_writes_its_files_and_metrics_contract(tmp_path):
    src, tgt = toy_domains()
    metrics = fit(cfg_for(), src, tgt, tmp_path, progress=False)
    for name in ("config.yaml", "checkpoint.pt", "log.jsonl", "metrics.json"):
        assert (tmp_path / name).exists(), name
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert REG_KEYS <= set(on_disk) and REG_KEYS <= set(on_disk["source"])
    assert on_disk["target"] == {k: on_disk[k] for k in on_disk["target"]}
    assert on_disk["meta"]["uses_target_labels"] is False
    assert metrics["mae"] == pytest.approx(on_disk["mae"])
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [0, 1]


def test_losses_are_finite_and_source_loss_falls(tmp_path):
    src, tgt = toy_domains(n=128)
    cfg = cfg_for(extra=["optim.epochs=6", "optim.lr=3e-3"])
    fit(cfg, src, tgt, tmp_path, progress=False)
    epochs = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r["event"] == "epoch"]
    for r in epochs:
        assert all(math.isfinite(v) for k, v in r.items() if k.startswith("train_"))
    assert epochs[-1]["train_task"] < epochs[0]["train_task"]


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    src, tgt = toy_domains()
    a = fit(cfg_for(), src, tgt, tmp_path / "a", progress=False)
    b = fit(cfg_for(), src, tgt, tmp_path / "b", progress=False)
    c = fit(cfg_for(seed=1), src, tgt, tmp_path / "c", progress=False)
    assert a["target"] == b["target"]
    assert a["target"] != c["target"]


def test_target_train_and_valid_labels_cannot_change_the_result(tmp_path):
    src, tgt = toy_domains()
    clean = fit(cfg_for(), src, tgt, tmp_path / "clean", progress=False)
    rng = np.random.default_rng(123)
    for split in ("train", "valid"):
        sp = tgt.splits[split]
        sp.labels = rng.uniform(-3, 3, size=sp.labels.shape).astype(np.float32)
    noisy = fit(cfg_for(), src, tgt, tmp_path / "noisy", progress=False)
    assert clean["target"] == noisy["target"]
    assert clean["source"] == noisy["source"]


def test_uda_methods_receive_unlabelled_target_batches(tmp_path):
    seen = []

    class Spy(SourceOnly):
        def training_step(self, src, tgt, progress):
            seen.append((src.label is not None, tgt.label is None))
            return super().training_step(src, tgt, progress)

    register("spy", Spy)
    try:
        src, tgt = toy_domains()
        fit(cfg_for(method="spy"), src, tgt, tmp_path, progress=False)
    finally:
        REGISTRY.pop("spy")
    assert seen and all(a and b for a, b in seen)


def test_oracle_alone_sees_target_labels(tmp_path):
    src, tgt = toy_domains()
    m = fit(cfg_for(method="oracle"), src, tgt, tmp_path, progress=False)
    assert m["meta"]["uses_target_labels"] is True


def test_interrupted_run_resumes_to_identical_metrics(tmp_path):
    src, tgt = toy_domains()
    cfg = cfg_for(extra=["optim.epochs=3"])
    straight = fit(cfg, src, tgt, tmp_path / "straight", progress=False)
    fit(cfg, src, tgt, tmp_path / "resumed", progress=False, stop_after_epochs=1)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["epoch"] == 1
    resumed = fit(cfg, src, tgt, tmp_path / "resumed", progress=False, resume=True)
    assert resumed["target"] == straight["target"]
    a = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
    b = (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in a]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in b]


def test_nan_loss_stops_with_the_term_and_step_and_keeps_last_checkpoint(tmp_path):
    calls = {"n": 0}

    class Exploding(SourceOnly):
        def training_step(self, src, tgt, progress):
            out = super().training_step(src, tgt, progress)
            calls["n"] += 1
            if calls["n"] > 8:  # after the first epoch (6 steps) was checkpointed
                out.logs["task"] = float("nan")
            return out

    register("exploding", Exploding)
    try:
        src, tgt = toy_domains()
        with pytest.raises(TrainingDiverged, match=r"'task' is nan at step 8"):
            fit(cfg_for(method="exploding"), src, tgt, tmp_path, progress=False)
    finally:
        REGISTRY.pop("exploding")
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


@pytest.mark.parametrize("method", ["osan", "osan-mixup", "source-only"])
def test_classification_runs_end_to_end(tmp_path, method):
    src, tgt = toy_domains(task="classification")
    m = fit(cfg_for(method=method, task="classification"), src, tgt, tmp_path, progress=False)
    assert {"precision", "recall", "f1"} <= set(m)
    cfg, model, classes = load_run(tmp_path)
    assert classes == ["a", "b", "c"] and cfg.task == "classification"


#: Each ablation switch -> the OSAN parts it removes: (submodule attribute, its log terms).
PARTS = {"tal": ("tal", {"corr"}), "ddg": ("generator", set()), "disc": ("discriminator", {"adv"})}
ABLATIONS = {
    "tal.enabled=false": {"tal"},
    "ddg.enabled=false": {"ddg"},
    "tal.enabled=false ddg.enabled=false": {"tal", "ddg"},
    # no adversarial loss: no discriminator, and DDG (which feeds it) goes with it; no MK-MMD
    "loss.adv=false loss.dis=false": {"disc", "ddg"},
}


def _trained(tmp_path, extra):
    src, tgt = toy_domains()
    metrics = fit(cfg_for(extra=extra), src, tgt, tmp_path, progress=False)
    _, model, _ = load_run(tmp_path)
    steps = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    terms = {k for r in steps if r["event"] == "step" for k in r} - {"event", "step", "epoch"}
    return metrics, model, terms


@pytest.fixture(scope="module")
def full_osan(tmp_path_factory):
    """The full model (every part present) that each ablation is compared with."""
    return _trained(tmp_path_factory.mktemp("full"), [])


@pytest.mark.parametrize("extra", list(ABLATIONS))
def test_ablations_remove_their_module_and_change_the_result(tmp_path, full_osan, extra):
    full_metrics, full_model, full_terms = full_osan
    metrics, model, terms = _trained(tmp_path, extra.split())
    removed = ABLATIONS[extra]
    full_keys, keys = set(full_model.state_dict()), set(model.state_dict())
    for part, (attr, part_terms) in PARTS.items():
        assert getattr(full_model, attr) is not None and part_terms <= full_terms, part
        owned = {k for k in full_keys if k.startswith(f"{attr}.")}
        assert owned, part  # the full model holds weights or buffers of every part
        if part in removed:
            assert getattr(model, attr) is None, part
            assert not any(k.startswith(f"{attr}.") for k in keys), part
            assert not part_terms & terms, part
        else:
            assert getattr(model, attr) is not None and owned <= keys, part
            assert part_terms <= terms, part
    assert ("dis" in terms) == ("loss.dis=false" not in extra)
    assert math.isfinite(metrics["mae"]) and metrics["target"] != full_metrics["target"]


def test_domains_with_different_dims(tmp_path):
    src, tgt = toy_domains(target_dims={"text": 10, "vision": 3, "audio": 7})
    m = fit(cfg_for(), src, tgt, tmp_path, progress=False)
    assert math.isfinite(m["mae"])
    _, model, _ = load_run(tmp_path)
    assert isinstance(model, torch.nn.Module)


@pytest.mark.parametrize(
    "epoch, method, steps",
    [
        ("longer", "source-only", 8),  # the larger split: 128 source rows / 16
        ("source", "source-only", 8),
        ("longer", "oracle", 8),
        ("labelled", "oracle", 4),  # the oracle learns from the 64 target rows
        ("source", "oracle", 4),  # "source" is an alias of "labelled"
    ],
)
def test_an_epoch_is_one_pass_over_the_chosen_split(tmp_path, epoch, method, steps):
    source, _ = toy_domains(n=128, seed=0)
    _, target = toy_domains(n=64, seed=1)
    cfg = load_config(
        overrides=[*TINY, "optim.batch_size=16", "optim.epochs=1", f"optim.epoch={epoch}"],
        method=method,
        seed=0,
    )
    fit(cfg, source, target, tmp_path, progress=False)
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "epoch"] == [steps]


def test_a_uda_epoch_can_follow_the_smaller_labelled_source(tmp_path):
    source, _ = toy_domains(n=64, seed=0)
    _, target = toy_domains(n=128, seed=1)
    steps = {}
    for epoch in ("longer", "source"):
        cfg = load_config(
            overrides=[*TINY, "optim.batch_size=16", "optim.epochs=1", f"optim.epoch={epoch}"],
            method="dann",
            seed=0,
        )
        fit(cfg, source, target, tmp_path / epoch, progress=False)
        log = (tmp_path / epoch / "log.jsonl").read_text().splitlines()
        steps[epoch] = [json.loads(x)["step"] for x in log if json.loads(x)["event"] == "epoch"]
    assert steps == {"longer": [8], "source": [4]}
