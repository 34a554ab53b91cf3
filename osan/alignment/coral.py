"""Deep CORAL: second-order statistics alignment (Sun & Saenko, "Deep CORAL: Correlation
Alignment for Deep Domain Adaptation", ECCV-W 2016, https://arxiv.org/abs/1607.01719).

    L_CORAL = ‖C_s − C_t‖²_F / (4 d²),
    C = (Xᵀ X − (1ᵀ X)ᵀ (1ᵀ X) / B) / (B − 1)        (Eq. 1–2: the unbiased covariance)

Computed in float32 with autocast off (the covariance of half-precision features loses the
small entries that dominate the Frobenius norm).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["coral"]


def coral(x: Tensor, y: Tensor) -> Tensor:
    """CORAL distance between a source and a target batch of features.

    Shape:
        x: (B_s, d), y: (B_t, d) -> scalar
    """
    d = x.shape[-1]
    with torch.autocast(x.device.type, enabled=False):
        c_s = torch.cov(x.float().T)  # (d, d)
        c_t = torch.cov(y.float().T)  # (d, d)
        return (c_s - c_t).pow(2).sum() / (4 * d * d)
