"""The one-pass GRL backward (g · (−coeff)) is bitwise the former (−g) · coeff."""

import torch

from osan.nn.grl import grad_reverse


def test_backward_bitwise_equals_negate_then_scale():
    g = torch.randn(4097, generator=torch.Generator().manual_seed(0))
    for coeff in (0.0, 0.3, 1.0, 7.5):
        x = torch.randn(4097, requires_grad=True)
        grad_reverse(x, coeff).backward(g)
        expected = g.neg() * coeff
        assert torch.equal(x.grad, expected)
        assert torch.equal(torch.signbit(x.grad), torch.signbit(expected))
