"""OSAN+'s moment anchor (``loss.st_anchor``): once self-training starts, the target
predictions' batch mean and spread stay where plain OSAN had them, on a case built to tempt the
self-training term into widening them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from osan.alignment.self_training import moment_anchor
from osan.config import ConfigError, load_config
from osan.methods import build_method
from osan.nn.modes import no_dropout
from osan.train.optim import make_optimizer
from osan.train.trainer import describe_dims
from tests.helpers import TINY
from tests.methods.test_baselines import batches


def test_moment_anchor_is_the_squared_moment_gaps_of_a_direct_computation():
    pred = torch.tensor([0.3, -1.2, 2.0, 0.7, 0.1], dtype=torch.float64, requires_grad=True)
    got = moment_anchor(pred, torch.tensor(0.2), torch.tensor(0.5))
    x = pred.detach().numpy()
    assert float(got.detach()) == pytest.approx(
        (x.mean() - 0.2) ** 2 + (x.std() - 0.5) ** 2, rel=1e-6
    )
    # zero at the reference, finite slope at constant predictions
    same = torch.tensor([1.0, 3.0])
    assert float(moment_anchor(same, same.mean(), same.std(unbiased=False))) == pytest.approx(0.0)
    flat = torch.ones(4, requires_grad=True)
    moment_anchor(flat, torch.tensor(1.0), torch.tensor(0.5)).backward()
    assert torch.isfinite(flat.grad).all()


def test_the_anchor_needs_regression_and_a_phase_before_self_training():
    with pytest.raises(ConfigError, match="st_anchor"):
        load_config(overrides=["loss.st_anchor=1"], method="osan-plus")  # st_start = 0
    with pytest.raises(ConfigError, match="st_anchor"):
        load_config(
            overrides=["loss.st_anchor=1", "loss.st_start=0.5"],
            method="osan-plus",
            task="classification",
        )


def _tempted_run(anchor: float, steps: int = 60) -> tuple[np.ndarray, object]:
    """OSAN+ on toy data, tempted to widen its target predictions: a heavy self-training term
    whose student sees 70% of the time steps dropped (a shrunk view learning the full one),
    starting half-way. Returns the clean target predictions after training and the model."""
    torch.manual_seed(0)
    src, tgt, s, t = batches(n=96)
    over = [*TINY, "loss.self_train=5", "loss.st_mask=0.7", "loss.st_start=0.5"]
    over += ["loss.st_warmup=0", f"loss.st_anchor={anchor}"] if anchor else ["loss.st_warmup=0"]
    cfg = load_config(overrides=over, method="osan-plus", seed=0)
    method = build_method(cfg, describe_dims(src, tgt), 1).train()
    opt, sched = make_optimizer(method, cfg, steps)
    for step in range(steps):
        out = method.training_step(s, t, step / steps)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        sched.step()
        method.on_step_end(out)
    with torch.no_grad(), no_dropout(method):
        pred = method.head(method.features(t, "target")).numpy()
    return pred, method


def test_the_anchor_holds_the_target_mean_and_spread_that_self_training_would_move():
    free, _ = _tempted_run(0.0)
    held, model = _tempted_run(100.0)
    ref_mean, ref_std = (float(v) for v in model.st_ref)
    assert bool(model.st_ref_set)
    # the same first half (the reference phase consumes no random numbers), then:
    drift_free = abs(free.std() - ref_std) + abs(free.mean() - ref_mean)
    drift_held = abs(held.std() - ref_std) + abs(held.mean() - ref_mean)
    assert drift_free > 0.5 * ref_std  # the tempting case does move the unanchored moments
    assert abs(held.std() - ref_std) < 0.1 * ref_std
    assert abs(held.mean() - ref_mean) < 0.1 * ref_std
    assert drift_held < 0.2 * drift_free
