"""Gradient reversal layer (Ganin & Lempitsky, "Unsupervised Domain Adaptation by
Backpropagation", ICML 2015): the feature extractor is trained *against* the domain discriminator
of L_adv in Eq. (5).

    forward:  R(x) = x
    backward: ∂L/∂x = −coeff · ∂L/∂R(x)

The coefficient is an input, not state: the warm-up schedule lives in
:func:`osan.schedules.grl_coeff` and the caller passes its value each step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GradientReversal", "grad_reverse"]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coeff: float) -> Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return grad_output * -ctx.coeff, None  # one pass; (−g)·c == g·(−c) exactly


def grad_reverse(x: Tensor, coeff: float = 1.0) -> Tensor:
    """Identity in the forward pass; multiplies the gradient by ``−coeff`` in the backward pass.

    Shape:
        x: any shape -> same shape
    """
    coeff = float(coeff)
    if coeff < 0:
        raise ValueError(f"coeff must be >= 0 (the sign is already reversed), got {coeff}")
    return _GradReverse.apply(x, coeff)


class GradientReversal(nn.Module):
    """Stateless module form of :func:`grad_reverse`; ``forward(x, coeff)``.

    Shape:
        x: any shape -> same shape
    """

    def forward(self, x: Tensor, coeff: float = 1.0) -> Tensor:
        return grad_reverse(x, coeff)
