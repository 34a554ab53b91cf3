"""DARE-GRAM: inverse-Gram alignment for domain adaptation regression (Nejjar, Wang, Fink,
"DARE-GRAM: Unsupervised Domain Adaptation Regression by Aligning Inverse Gram Matrices",
CVPR 2023, https://arxiv.org/abs/2303.13325; authors' code ``ismailnejjar/DARE-GRAM``).

With Z = [1 | H] (a column of ones before the features the regressor reads) and the Gram
matrix G = ZᵀZ = V diag(λ) Vᵀ (eigenvalues λ_1 ≥ λ_2 ≥ ...), the number of principal
components k is the largest index whose cumulative explained variance Σ_{i≤k} λ_i / Σ λ stays
within the threshold T, taken over both domains (k = max(k_s, k_t), at least 1: where the
first two components already exceed T, the authors' code raises T to their share). G⁺ keeps
the k + 1 components λ_0..λ_k (``pinv`` with ``rtol = λ_k / λ_0`` in the authors' code).
The column cosines are computed from G⁺'s factors, never forming the (p+1)² matrices.

    L_angle = (1 / (p+1)) · ‖1 − cos(G_s⁺, G_t⁺)‖₁     (cosine of each column pair; Eq. 8)
    L_scale = ‖λ_s[:k] − λ_t[:k]‖₂ / k                 (Eq. 9; the top-k eigenvalues)
    L       = α · L_angle + γ · L_scale                 (published α = 0.05, γ = 0.001, T = 0.9)

Numerics: the eigen-decomposition is the SVD of Z (G's eigenvalues are Z's squared singular
values, without squaring the condition number), in float64 with autocast off, through
:func:`osan.alignment.safe_svd.safe_svd` (finite gradients where eigenvalues repeat, which
they do whenever B < p + 1). The cosine guards zero columns only (eps 1e-30 on the norms in
float64): G⁺'s columns are ~1/λ small, where the reference code's eps = 1e-6 would bias it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osan.alignment.safe_svd import safe_svd

__all__ = ["dare_gram", "explained_variance_k"]

_NORM_EPS = 1e-30
_RANK_TOL = 1e-12


def explained_variance_k(lam: Tensor, threshold: float) -> int:
    """The authors' k: last index i with cumulative share ≤ T (T raised to the share of the
    first two components where that already exceeds it).

    Shape:
        lam: (n,) eigenvalues, descending -> int in [1, n − 1]
    """
    share = torch.cumsum(lam.detach(), 0) / lam.detach().sum().clamp_min(1e-300)  # (n,)
    t = max(threshold, float(share[1])) if len(share) > 1 else threshold
    below = torch.nonzero(share <= t).flatten()
    k = int(below[-1]) if len(below) else 1
    return max(1, min(k, len(lam) - 1))


def _gram_spectrum(h: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (all p + 1, zero-padded) and eigenvectors of G = ZᵀZ, Z = [1 | H].

    Shape:
        h: (B, p) -> λ: (p+1,), Vh: (r, p+1), r = min(B, p+1)
    """
    z = torch.cat([torch.ones_like(h[:, :1]), h], dim=1)  # (B, p+1)
    _, s, vh = safe_svd(z)  # (r,), (r, p+1)
    lam = torch.cat([s * s, s.new_zeros(z.shape[1] - len(s))])  # (p+1,)
    return lam, vh


def _pinv_factor(lam: Tensor, vh: Tensor, keep: int) -> tuple[Tensor, Tensor]:
    """G⁺ over the top ``keep`` components (those with λ > 0 only), as factors: G⁺ = Vᵀ A with
    A = diag(1/λ) V, so that column j of G⁺ is Vᵀ A[:, j] (V has orthonormal rows).

    Shape:
        lam: (p+1,), vh: (r, p+1) -> V: (keep, p+1), A: (keep, p+1)
    """
    rank = int((lam[: len(vh)].detach() > _RANK_TOL * lam[0].detach()).sum().clamp_min(1))
    keep = min(keep, rank)
    v = vh[:keep]  # (keep, p+1)
    return v, v / lam[:keep, None]


def dare_gram(h_s: Tensor, h_t: Tensor, *, threshold: float = 0.9) -> tuple[Tensor, Tensor]:
    """(L_angle, L_scale) between a source and a target batch of features.

    Shape:
        h_s: (B_s, p), h_t: (B_t, p) -> two scalars (float64 maths, returned in ``h_s.dtype``)
    """
    with torch.autocast(h_s.device.type, enabled=False):
        lam_s, vh_s = _gram_spectrum(h_s.double())
        lam_t, vh_t = _gram_spectrum(h_t.double())
        k = max(explained_variance_k(lam_s, threshold), explained_variance_k(lam_t, threshold))
        v_s, a_s = _pinv_factor(lam_s, vh_s, k + 1)  # G_s⁺ = v_sᵀ a_s: (k_s, p+1) each
        v_t, a_t = _pinv_factor(lam_t, vh_t, k + 1)  # (k_t, p+1) each
        # column j: ⟨G_s⁺[:, j], G_t⁺[:, j]⟩ = a_s[:, j]ᵀ (v_s v_tᵀ) a_t[:, j], and
        # ‖G⁺[:, j]‖ = ‖a[:, j]‖ (orthonormal rows of v): O(k·p), never the (p+1)² matrices
        dot = (a_s * ((v_s @ v_t.T) @ a_t)).sum(0)  # (p+1,)
        norms = (a_s.norm(dim=0) * a_t.norm(dim=0)).clamp_min(_NORM_EPS)  # (p+1,)
        angle = (1 - dot / norms).abs().mean()
        scale = torch.linalg.norm(lam_s[:k] - lam_t[:k]) / k
    return angle.to(h_s.dtype), scale.to(h_s.dtype)
