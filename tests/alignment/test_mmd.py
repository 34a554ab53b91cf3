import math

import pytest
import torch

from osan.alignment.mmd import MultiKernelMMD, mk_mmd


@pytest.fixture
def xy():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 16, generator=g), torch.randn(64, 16, generator=g)


@pytest.mark.parametrize("linear", [False, True])
def test_mmd_of_a_sample_with_itself_is_zero(xy, linear):
    x, _ = xy
    assert mk_mmd(x, x, linear=linear).abs().item() < 1e-6


def test_mmd_grows_with_mean_shift(xy):
    x, y = xy
    values = [mk_mmd(x, y + shift).item() for shift in (0.0, 0.5, 2.0)]
    assert 0.0 <= values[0] < values[1] < values[2] <= 2.0
    lin = [mk_mmd(x, y + shift, linear=True).item() for shift in (0.0, 2.0)]
    assert lin[0] < 0.05 < 0.3 < lin[1]


def test_mmd_symmetric_and_scale_invariant(xy):
    x, y = xy
    y = y + 0.5
    v = mk_mmd(x, y)
    assert mk_mmd(y, x).item() == pytest.approx(v.item(), rel=1e-4)
    # relative bandwidth: rescaling both samples leaves the value unchanged
    assert mk_mmd(10 * x, 10 * y).item() == pytest.approx(v.item(), rel=1e-4)
    assert mk_mmd(10 * x, 10 * y, linear=True).item() == pytest.approx(
        mk_mmd(x, y, linear=True).item(), rel=1e-4
    )
    # a fixed bandwidth is not scale invariant
    assert mk_mmd(10 * x, 10 * y, bandwidth=32.0).item() != pytest.approx(
        mk_mmd(x, y, bandwidth=32.0).item(), rel=1e-2
    )


def _direct_mk_mmd(x, y, num_kernels=5, kernel_mul=2.0):
    """The module doc's formula, pair by pair in float64: the mean of the K Gaussian kernels
    with σ_k² = σ₀²·mul^(k − ⌊K/2⌋), σ₀² the mean squared distance over the pooled sample's
    off-diagonal pairs; MMD² = mean k(x, x') + mean k(y, y') − 2 mean k(x, y)."""
    x, y = x.double(), y.double()
    z = torch.cat([x, y])
    n = len(z)
    d2 = [[float(((z[i] - z[j]) ** 2).sum()) for j in range(n)] for i in range(n)]
    base = sum(d2[i][j] for i in range(n) for j in range(n) if i != j) / (n * n - n)
    sigmas = [base * kernel_mul ** (k - num_kernels // 2) for k in range(num_kernels)]

    def k(i, j):
        return sum(math.exp(-d2[i][j] / s) for s in sigmas) / num_kernels

    bs, bt = len(x), len(y)
    xs, ys = range(bs), range(bs, bs + bt)
    k_xx = sum(k(i, j) for i in xs for j in xs) / bs**2
    k_yy = sum(k(i, j) for i in ys for j in ys) / bt**2
    k_xy = sum(k(i, j) for i in xs for j in ys) / (bs * bt)
    return k_xx + k_yy - 2 * k_xy


def test_unequal_batches_quadratic_only(xy):
    x, y = xy
    x, y = x[:10, :6], y[:7, :6] + 1.0  # unequal batches: 10 source rows, 7 target rows
    want = _direct_mk_mmd(x, y)
    assert want > 0.05
    assert mk_mmd(x, y).item() == pytest.approx(want, rel=1e-5)
    assert mk_mmd(x, y, num_kernels=3, kernel_mul=3.0).item() == pytest.approx(
        _direct_mk_mmd(x, y, 3, 3.0), rel=1e-5
    )
    x, y = xy
    with pytest.raises(ValueError, match="equal batch sizes"):
        mk_mmd(x[:40], y, linear=True)
    with pytest.raises(ValueError, match="feature dims"):
        mk_mmd(x, y[:, :8])


@pytest.mark.parametrize("linear", [False, True])
def test_gradient_flows_and_descent_reduces_mmd(xy, linear):
    x, y = xy
    y = (y + 1.0).requires_grad_(True)
    loss = mk_mmd(x, y, linear=linear)
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with torch.no_grad():
        y2 = y - 20.0 * y.grad
    assert mk_mmd(x, y2, linear=linear) < loss


def test_module_matches_function(xy):
    x, y = xy
    m = MultiKernelMMD(num_kernels=3, kernel_mul=3.0)
    assert torch.equal(m(x, y), mk_mmd(x, y, num_kernels=3, kernel_mul=3.0))
    assert list(m.parameters()) == [] and list(m.buffers()) == []
