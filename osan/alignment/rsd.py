"""Representation Subspace Distance (Chen, Liu, Wang, Long, "Representation Subspace Distance
for Domain Adaptation Regression", ICML 2021, https://proceedings.mlr.press/v139/chen21u.html).

Let U_s, U_t be orthonormal bases of the spans of the source and target feature rows
(left singular vectors of f_sᵀ and f_tᵀ). The SVD U_sᵀ U_t = P_s diag(cos θ) P_tᵀ gives the
principal angles θ_i between the two subspaces and their principal bases P_s, P_t:

    RSD = Σ_i sin θ_i,                   BMP = ‖ |P_s| − |P_t| ‖_F   (base mismatch penalty)
    L   = RSD + β · BMP                   (published β = 0.1; the method adds λ·L, λ = 0.001)

Numerics (the reference code is NaN-prone on degenerate batches): the SVDs run in float64 with
autocast off through :func:`osan.alignment.safe_svd.safe_svd` (finite gradients where singular
values repeat: B < d, coinciding rows, identical subspaces). The sines are not taken as
√(1 − cos²θ), whose slope is infinite at θ = 0, but as the singular values of the part of one
basis outside the other subspace, sin θ = σ((I − U_s U_sᵀ) U_t) (the smaller basis projected;
as ``scipy.linalg.subspace_angles``, and accurate for small angles): the gradient of a sum of
singular values, U Vᵀ, is finite even where they vanish or repeat.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osan.alignment.safe_svd import safe_svd

__all__ = ["principal_cosines", "rsd"]


def _basis(f: Tensor) -> Tensor:
    """Orthonormal basis of the span of the rows of ``f``: (B, d) -> (d, min(B, d))."""
    u, _, _ = safe_svd(f.T)
    return u


def _sines(u_s: Tensor, u_t: Tensor) -> Tensor:
    """sin θ_i as the singular values of the smaller basis's part outside the other span.

    Shape:
        u_s: (d, k_s), u_t: (d, k_t) -> (min(k_s, k_t),)
    """
    small, large = (u_t, u_s) if u_t.shape[1] <= u_s.shape[1] else (u_s, u_t)
    outside = small - large @ (large.T @ small)  # (d, k_small): (I − U Uᵀ) U_small
    return torch.linalg.svdvals(outside)


def principal_cosines(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(P_s, cos θ, P_t) of U_sᵀ U_t = P_s diag(cos θ) P_tᵀ, in float64.

    Shape:
        f_s: (B_s, d), f_t: (B_t, d) -> P_s: (k_s, r), cos: (r,), P_t: (k_t, r)
    """
    return _principal(f_s, f_t)[:3]


def _principal(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(P_s, cos θ, P_t, sin θ), in float64."""
    with torch.autocast(f_s.device.type, enabled=False):
        u_s = _basis(f_s.double())  # (d, k_s)
        u_t = _basis(f_t.double())  # (d, k_t)
        p_s, cos, p_t_h = safe_svd(u_s.T @ u_t)  # (k_s, r), (r,), (r, k_t)
        sine = _sines(u_s, u_t)  # (r,), in the order of descending sin θ
    return p_s, cos, p_t_h.T, sine


def rsd(f_s: Tensor, f_t: Tensor, *, beta: float = 0.1) -> Tensor:
    """RSD + β·BMP between a source and a target batch of features.

    Shape:
        f_s: (B, d), f_t: (B, d) -> scalar (float64 maths, returned in ``f_s.dtype``)
    """
    p_s, _, p_t, sine = _principal(f_s, f_t)
    bmp = torch.linalg.norm(p_s.abs() - p_t.abs())  # Frobenius over the flattened bases
    return (sine.sum() + beta * bmp).to(f_s.dtype)
