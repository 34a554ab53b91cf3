"""MCC against a direct NumPy computation of Eq. 1–7, and its behaviour."""

import numpy as np
import pytest
import torch

from osan.alignment.mcc import mcc


def numpy_mcc(logits: np.ndarray, t: float) -> float:
    b, c = logits.shape
    z = logits / t
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    h = -(p * np.log(p + 1e-5)).sum(1)
    w = 1 + np.exp(-h)
    w = b * w / w.sum()
    conf = p.T @ np.diag(w) @ p
    conf = conf / conf.sum(0, keepdims=True)  # Eq. 6: C_jj' / Σ_j'' C_j''j'
    return float((conf.sum() - np.trace(conf)) / c)


@pytest.mark.parametrize("t", [1.0, 2.5])
def test_mcc_equals_numpy(t):
    logits = torch.randn(24, 5, generator=torch.Generator().manual_seed(0)) * 3
    assert mcc(logits, temperature=t).item() == pytest.approx(
        numpy_mcc(logits.numpy(), t), rel=1e-5
    )


def test_mcc_is_small_for_confident_distinct_classes_and_large_for_confused_ones():
    sure = torch.eye(4).repeat(5, 1) * 50  # every row one class, all classes used
    assert mcc(sure).item() < 1e-6
    confused = torch.zeros(20, 4)  # uniform predictions: all mass off the diagonal
    assert mcc(confused).item() == pytest.approx(3 / 4, rel=1e-6)


def test_mcc_gradient_is_finite_with_coinciding_rows():
    logits = torch.randn(4, 3).repeat(3, 1).requires_grad_()
    mcc(logits).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
