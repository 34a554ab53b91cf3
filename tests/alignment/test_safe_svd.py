"""The broadened SVD gradient equals PyTorch's exact one where that exists, and is finite
where PyTorch's is not."""

import pytest
import torch

from osan.alignment.safe_svd import safe_svd


def loss(svd, a, w):
    u, s, vh = svd(a)
    # depends on U, S and V, and is blind to the singular vectors' signs
    return (u * u * w[0]).sum() + (s * w[1]).sum() + (vh * vh * w[2]).sum()


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5)])
def test_gradient_equals_torch_where_singular_values_are_distinct(shape):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    k = min(shape)
    w = (
        torch.randn(shape[0], k, generator=g, dtype=torch.float64),
        torch.randn(k, generator=g, dtype=torch.float64),
        torch.randn(k, shape[1], generator=g, dtype=torch.float64),
    )
    mine = torch.autograd.grad(loss(safe_svd, a, w), a)[0]
    exact = torch.autograd.grad(loss(lambda x: torch.linalg.svd(x, full_matrices=False), a, w), a)[
        0
    ]
    assert torch.allclose(mine, exact, atol=1e-9)


def test_gradient_is_finite_where_singular_values_repeat():
    a = torch.eye(4, dtype=torch.float64).repeat(1, 2).requires_grad_()  # σ = √2 four times
    w = (torch.ones(4, 4), torch.ones(4), torch.arange(32.0).reshape(4, 8).double())
    exact = torch.autograd.grad(loss(lambda x: torch.linalg.svd(x, full_matrices=False), a, w), a)[
        0
    ]
    assert not torch.isfinite(exact).all()  # what the guard is for
    mine = torch.autograd.grad(loss(safe_svd, a, w), a)[0]
    assert torch.isfinite(mine).all()
