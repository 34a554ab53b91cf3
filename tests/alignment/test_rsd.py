"""RSD against SciPy's principal angles and a NumPy base mismatch; its invariances; finite
gradients where the reference computation has none."""

import numpy as np
import pytest
import scipy.linalg
import torch

from osan.alignment.rsd import principal_cosines, rsd


def batches(b=8, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    y = x + 0.7 * torch.randn(b, d, generator=g, dtype=torch.float64)
    return x, y


def numpy_rsd(x: np.ndarray, y: np.ndarray, beta: float) -> float:
    """Σ sin θ from scipy.linalg.subspace_angles; BMP from NumPy's SVDs."""
    angles = scipy.linalg.subspace_angles(x.T, y.T)
    u_s = np.linalg.svd(x.T, full_matrices=False)[0]
    u_t = np.linalg.svd(y.T, full_matrices=False)[0]
    p_s, _, p_t_h = np.linalg.svd(u_s.T @ u_t)
    bmp = np.linalg.norm(np.abs(p_s) - np.abs(p_t_h.T))
    return float(np.sin(angles).sum() + beta * bmp)


@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_rsd_equals_scipy_principal_angles_and_numpy_base_mismatch(beta):
    x, y = batches()
    assert rsd(x, y, beta=beta).item() == pytest.approx(numpy_rsd(x.numpy(), y.numpy(), beta))


def test_principal_cosines_are_scipys():
    x, y = batches(b=6, d=12, seed=3)
    _, cos, _ = principal_cosines(x, y)
    angles = np.sort(scipy.linalg.subspace_angles(x.numpy().T, y.numpy().T))
    assert cos.numpy() == pytest.approx(np.cos(angles), abs=1e-10)


def test_rsd_is_zero_for_identical_batches_and_for_batches_spanning_one_subspace():
    x, _ = batches()
    assert rsd(x, x).item() == pytest.approx(0.0, abs=1e-5)
    mix = torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    # another basis of the same span: no angle (BMP still sees the rotated bases)
    assert rsd(x, mix @ x, beta=0.0).item() == pytest.approx(0.0, abs=1e-5)
    assert rsd(x, batches(seed=2)[0], beta=0.0).item() > 1.0


def test_rsd_is_unchanged_by_an_orthogonal_change_of_feature_basis():
    x, y = batches()
    g = torch.Generator().manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    assert rsd(x @ q, y @ q).item() == pytest.approx(rsd(x, y).item(), rel=1e-9)


def test_rsd_float32_input_gives_a_float32_loss():
    x, y = batches()
    out = rsd(x.float(), y.float())
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(rsd(x, y).item(), rel=1e-4)


@pytest.mark.parametrize("case", ["rank_deficient", "coinciding_rows", "identical", "exact_ties"])
def test_rsd_gradient_is_finite_on_degenerate_batches(case):
    x, y = batches(b=8, d=20)  # B < d: the bases are rank deficient in R^d
    if case == "coinciding_rows":
        x = torch.cat([x[:4], x[:4]])
        y = torch.cat([y[:3], y[:3], y[:2]])
    if case == "identical":
        y = x.clone()
    if case == "exact_ties":  # every singular value and every cosine exactly 1
        x = torch.eye(4, 20, dtype=torch.float64)
        y = x.clone()
    x, y = x.float().requires_grad_(), y.float().requires_grad_()
    rsd(x, y).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    if case in ("rank_deficient", "coinciding_rows"):
        assert x.grad.abs().sum() > 0
