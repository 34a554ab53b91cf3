"""Representation Subspace Distance (Chen, Liu, Wang, Long, "Representation Subspace Distance
for Domain Adaptation Regression", ICML 2021, https://proceedings.mlr.press/v139/chen21u.html).

Let U_s, U_t be orthonormal bases of the spans of the source and target feature rows
(left singular vectors of f_sᵀ and f_tᵀ). The SVD U_sᵀ U_t = P_s diag(cos θ) P_tᵀ gives the
principal angles θ_i between the two subspaces and their principal bases P_s, P_t:

    RSD = Σ_i sin θ_i,                   BMP = ‖ |P_s| − |P_t| ‖_F   (base mismatch penalty)
    L   = RSD + β · BMP                   (published β = 0.1; the method adds λ·L, λ = 0.001)

Numerics (the reference code is NaN-prone on degenerate batches): the SVDs run in float64 with
autocast off through :func:`osan.alignment.safe_svd.safe_svd` (finite gradients where singular
values repeat: B < d, coinciding rows, identical subspaces), and sin θ = √(1 − cos²θ) is taken
as √(x + ε) − √ε with x clamped at 0, which is exactly 0 at θ = 0 and has a finite slope there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osan.alignment.safe_svd import safe_svd

__all__ = ["principal_cosines", "rsd"]

_EPS = 1e-12


def _basis(f: Tensor) -> Tensor:
    """Orthonormal basis of the span of the rows of ``f``: (B, d) -> (d, min(B, d))."""
    u, _, _ = safe_svd(f.T)
    return u


def principal_cosines(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(P_s, cos θ, P_t) of U_sᵀ U_t = P_s diag(cos θ) P_tᵀ, in float64.

    Shape:
        f_s: (B_s, d), f_t: (B_t, d) -> P_s: (k_s, r), cos: (r,), P_t: (k_t, r)
    """
    with torch.autocast(f_s.device.type, enabled=False):
        u_s = _basis(f_s.double())  # (d, k_s)
        u_t = _basis(f_t.double())  # (d, k_t)
        p_s, cos, p_t_h = safe_svd(u_s.T @ u_t)  # (k_s, r), (r,), (r, k_t)
    return p_s, cos, p_t_h.T


def rsd(f_s: Tensor, f_t: Tensor, *, beta: float = 0.1) -> Tensor:
    """RSD + β·BMP between a source and a target batch of features.

    Shape:
        f_s: (B, d), f_t: (B, d) -> scalar (float64 maths, returned in ``f_s.dtype``)
    """
    p_s, cos, p_t = principal_cosines(f_s, f_t)
    sin2 = (1 - cos * cos).clamp_min(0)  # (r,)
    sine = torch.sqrt(sin2 + _EPS) - _EPS**0.5  # (r,): sin θ, 0 at θ = 0 with a finite slope
    bmp = torch.linalg.norm(p_s.abs() - p_t.abs())  # Frobenius over the flattened bases
    return (sine.sum() + beta * bmp).to(f_s.dtype)
