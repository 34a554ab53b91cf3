import pytest
import torch

from osan.nn.grl import GradientReversal, grad_reverse


@pytest.mark.parametrize("coeff", [0.0, 0.3, 1.0, 2.5])
def test_forward_identity_and_reversed_scaled_gradient(coeff):
    x = torch.randn(4, 5, requires_grad=True)
    w = torch.randn(4, 5)
    y = grad_reverse(x, coeff)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -coeff * w)


def test_module_is_stateless_and_takes_coeff():
    grl = GradientReversal()
    assert list(grl.parameters()) == [] and list(grl.buffers()) == []
    x = torch.randn(3, requires_grad=True)
    grl(x, 0.5).sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), -0.5))


def test_negative_coeff_rejected():
    with pytest.raises(ValueError):
        grad_reverse(torch.zeros(1), -1.0)
