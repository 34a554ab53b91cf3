"""Deep CORAL against NumPy's covariance, its invariances and its gradient."""

import numpy as np
import pytest
import torch

from osan.alignment.coral import coral


def batches(b=32, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g)
    y = torch.randn(b + 8, d, generator=g) @ torch.randn(d, d, generator=g) + 1.0
    return x, y


def test_coral_equals_numpy_covariance_distance():
    x, y = batches()
    c_s, c_t = np.cov(x.numpy().astype(np.float64).T), np.cov(y.numpy().astype(np.float64).T)
    d = x.shape[1]
    expected = ((c_s - c_t) ** 2).sum() / (4 * d * d)
    assert coral(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_coral_is_zero_for_identical_batches_and_blind_to_a_mean_shift():
    x, y = batches()
    assert coral(x, x).item() == 0.0
    assert coral(x, x + 3.0).item() == pytest.approx(0.0, abs=1e-10)
    assert coral(x, 2 * x).item() > 0.0


def test_coral_gradient_is_finite_at_rank_deficient_and_coinciding_batches():
    x, _ = batches(b=4, d=16)  # B < d
    x = torch.cat([x, x[:2]]).requires_grad_()  # two coinciding rows
    y = torch.randn(5, 16).requires_grad_()
    coral(x, y).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    assert x.grad.abs().sum() > 0
