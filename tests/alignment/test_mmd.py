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


def test_unequal_batches_quadratic_only(xy):
    x, y = xy
    assert torch.isfinite(mk_mmd(x[:40], y + 1.0))
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
