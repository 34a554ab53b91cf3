"""TAL's float64 solver: the factored statistics of Eq. (3) and the regularised CCA of Eq. (2).

Pure functions of tensors (no module state); ``osan.alignment.tal.statistics`` calls them.

Factored mode-n statistics (Eq. (3)). X_b is rank one, so projecting every mode k ≠ n and
unfolding along mode n gives the I_n × P_n matrix (P_n = Π_{k≠n} D_k)

    X_b ×_{k≠n} U^(k)ᵀ  unfolded along n  =  x_b z_bᵀ,    z_b = ⊗_{k≠n} U^(k)ᵀ x_b^(k)  ∈ R^{P_n}

(Kronecker product in mode order, which is the C-order flattening of the remaining modes). The
paper makes the tensor samples zero mean; centring the projected unfolding subtracts
M_x = (1/B) Σ_b x_b z_bᵀ (I_n × P_n), and contracting every index but n (samples included) gives

    C_xx^(n) = (1/B) Σ_b (x_b z_bᵀ − M_x)(x_b z_bᵀ − M_x)ᵀ = (1/B) Σ_b ‖z_b‖² x_b x_bᵀ − M_x M_xᵀ
    C_yy^(n) = (1/B) Σ_b ‖w_b‖² y_b y_bᵀ − M_y M_yᵀ                  (w_b: z_b of the target side)
    C_xy^(n) = (1/B) Σ_b ⟨z_b, w_b⟩ x_b y_bᵀ − M_x M_yᵀ

Rows b of the source and target batches are pairs (see ``osan.alignment.pairing``). The cost is
O(B·Σ_n I_n·D_n) for the projections and O(B·I_n·(I_n + P_n)) for the statistics: it never grows
with Π_n I_n, and no I_1 × ... × I_N array is ever formed.

Thin space. Every column of x_b z_bᵀ − M_x lies in span{x_1, ..., x_B}, so rank C_xx^(n) ≤ B
(not B·P_n). With per-batch statistics and B < I_n, write x_b = Q a_b with Q (I_n × r, r ≤ B)
from a QR of the centred batch; then C_xx = Q C̃_xx Qᵀ, C_xy = Q_x C̃_xy Q_yᵀ, and the regularised
CCA below reduces exactly to r × r matrices (the ridge acts as ρ·I on the complement of Q).
Running (EMA) statistics are full rank after about I_n / B updates, so they are solved in the full
I_n-space; the path is chosen per side and mode: thin when the statistics are per-batch and
B < I_n (J_n for the target side), full otherwise. Both paths give the same U, V.

Regularised CCA of Eq. (2), in float64. With C_r = C + ρ·I and the ridge relative to the scale,

    ρ_x = eps · tr(C_xx) / I_n + 1e-12,    ρ_y = eps · tr(C_yy) / J_n + 1e-12,

take any whitening W_x with W_xᵀ C_r,xx W_x = I (Cholesky here; the result does not depend on
the choice), T = W_xᵀ C_xy W_y = P S Qᵀ (SVD; for large T, eigh of the smaller of T Tᵀ, TᵀT), and
U = W_x P[:, :D_n], V = W_y Q[:, :D_n]; then Uᵀ C_r,xx U = I, Vᵀ C_r,yy V = I and the canonical
correlations S lie in [0, 1).

Determinism and warm start.
- Sign: direction i is flipped (u_i and v_i together) so that u_iᵀ C_r,xx u_i^old + v_iᵀ C_r,yy
  v_i^old ≥ 0, i.e. it agrees with the previous step's direction in the whitened metric; if that
  is zero, the entry of u_i with largest magnitude is made positive.
- Constant data: if tr(C_xx)/I_n or tr(C_yy)/J_n ≤ 1e-20 (e.g. one modality all zeros, which
  zeroes the whole tensor) the mode keeps its U^(n), V^(n) for this step.
- Degenerate directions: correlations ≤ 1e-6 count as zero. When only k < D_n are non-zero (e.g.
  per-batch statistics with B ≤ D_n) the remaining D_n − k whitened directions are the orthonormal
  set, orthogonal to the k found ones, closest (orthogonal Procrustes) to the previous step's
  columns k..D_n−1; they keep the constraint of Eq. (2) and add nothing to its objective.
- Orientation (``orient``). ``"sign"`` keeps the canonical directions, sorted by correlation and
  sign-matched as above (the reference implementation's convention). ``"rotate"``: Eq. (2)'s
  objective tr(Uᵀ C_xy V) and its constraints are invariant under one orthogonal R applied to
  both U and V; R is the orthogonal Procrustes rotation that keeps (U R, V R) closest to the
  previous step's (U, V) in the whitened metric, so the coordinates the heads read move smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_CORR_TOL = 1e-6  # canonical correlations at or below count as zero (degenerate directions)
_SIGN_TOL = 1e-12  # below this the warm-start sign test falls back to the largest entry
_RIDGE_FLOOR = 1e-12  # absolute floor of the ridge
_DEGENERATE = 1e-20  # mean variance tr(C)/I at or below: the side is constant, U/V kept
_GRAM_MIN = 256  # T with both sides at least this large: eigh of the smaller Gram, not an SVD
_POLAR_GRAM_MIN = 64  # completions of at least this many columns: polar factor by eigh
ORIENTS: tuple[str, ...] = ("sign", "rotate")


def thin_coords(x: Tensor, thin: bool) -> tuple[Tensor | None, Tensor]:
    """Basis and coordinates of the rows of x: x = a Qᵀ (Q = None: the standard basis).

    Shape:
        x: (B, I)  ->  Q: (I, B) or None,  a: (B, B) or (B, I)
    """
    if not thin:
        return None, x
    q, r = torch.linalg.qr(x.T, mode="reduced")  # q: (I, B), r: (B, B); xᵀ = q r
    return q, r.T  # a = x q = rᵀ: (B, B)


def mode_stats(a: Tensor, c: Tensor, z: Tensor, w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. (3) for one mode from the factored unfolding (see the module docstring).

    Shape:
        a: (B, r_x) coordinates of the source x_b; c: (B, r_y) of the target y_b
        z: (B, P) source ⊗_{k≠n} U^(k)ᵀ x^(k); w: (B, P) target ⊗_{k≠n} V^(k)ᵀ y^(k)
        output: C_xx (r_x, r_x), C_yy (r_y, r_y), C_xy (r_x, r_y)
    """
    b = a.shape[0]
    m_x = a.T @ z / b  # (r_x, P): mean of the unfolded projected source tensor
    m_y = c.T @ w / b  # (r_y, P)
    zz = (z * z).sum(1)  # (B,) ‖z_b‖²
    ww = (w * w).sum(1)  # (B,)
    zw = (z * w).sum(1)  # (B,) ⟨z_b, w_b⟩
    cxx = (a * zz[:, None]).T @ a / b - m_x @ m_x.T  # (r_x, r_x)
    cyy = (c * ww[:, None]).T @ c / b - m_y @ m_y.T  # (r_y, r_y)
    cxy = (a * zw[:, None]).T @ c / b - m_x @ m_y.T  # (r_x, r_y)
    return 0.5 * (cxx + cxx.T), 0.5 * (cyy + cyy.T), cxy


def expand(basis_x: Tensor | None, cov: Tensor, basis_y: Tensor | None) -> Tensor:
    """Q_x C̃ Q_yᵀ (identity where a basis is None). Shape: (I, J)."""
    if basis_x is not None:
        cov = basis_x @ cov  # (I, r_y)
    if basis_y is not None:
        cov = cov @ basis_y.T  # (I, J)
    return cov


class _Whitener:
    """W with Wᵀ (C + ρI) W = I for C = Q C̃ Qᵀ, in I-space:

        W = Q L̃^{-T} Qᵀ + ρ^{-1/2} (I − Q Qᵀ),   W^{-1} = Q L̃ᵀ Qᵀ + ρ^{1/2} (I − Q Qᵀ),

    with L̃ L̃ᵀ = C̃ + ρ I (Cholesky); Q = None is the full space (W = L^{-T})."""

    def __init__(self, cov: Tensor, basis: Tensor | None, dim: int, eps: float) -> None:
        self.basis = basis
        self.rho = eps * float(torch.diagonal(cov).sum()) / dim + _RIDGE_FLOOR
        eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
        self.chol = torch.linalg.cholesky(cov + self.rho * eye)  # (r, r) lower

    def left(self, m: Tensor) -> Tensor:
        """L̃^{-1} m in coordinates. Shape: (r, k) -> (r, k)"""
        return torch.linalg.solve_triangular(self.chol, m, upper=False)

    def lift(self, p: Tensor) -> Tensor:
        """Whitened coordinates (r, k) -> whitened I-space (I, k)."""
        return p if self.basis is None else self.basis @ p

    def _split(self, m: Tensor) -> tuple[Tensor, Tensor]:
        """I-space (I, k) -> (Qᵀ m (r, k), (I − QQᵀ) m (I, k))."""
        if self.basis is None:
            return m, torch.zeros((), dtype=m.dtype, device=m.device)
        qm = self.basis.T @ m  # (r, k)
        return qm, m - self.basis @ qm

    def to_whitened(self, u: Tensor) -> Tensor:
        """W^{-1} u. Shape: (I, k) -> (I, k)"""
        qu, rest = self._split(u)
        return self.lift(self.chol.T @ qu) + self.rho**0.5 * rest

    def from_whitened(self, p: Tensor) -> Tensor:
        """W p. Shape: (I, k) -> (I, k)"""
        qp, rest = self._split(p)
        inner = torch.linalg.solve_triangular(self.chol.T, qp, upper=True)  # (r, k)
        return self.lift(inner) + self.rho**-0.5 * rest


def _top_singular(t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Singular triplets of t, descending; left/right vectors are zero where s ≤ tolerance.

    Large T (both sides ≥ _GRAM_MIN) use eigh of the smaller Gram matrix, ~3x faster than an SVD
    on CPU; its accuracy is ~1e-8 in s, well inside the 1e-6 tolerance for zero.

    Shape:
        t: (r_x, r_y)  ->  p: (r_x, m), s: (m,), q: (r_y, m), m = min(r_x, r_y)
    """
    if min(t.shape) < _GRAM_MIN:
        p, s, qh = torch.linalg.svd(t, full_matrices=False)  # (r_x, m), (m,), (m, r_y)
        return p, s, qh.T
    flip = t.shape[0] > t.shape[1]
    g = t.T if flip else t  # (m, r), m ≤ r
    lam, e = torch.linalg.eigh(g @ g.T)  # (m,), (m, m) ascending
    lam, e = lam.flip(0), e.flip(1)
    s = lam.clamp_min(0).sqrt()  # (m,)
    keep = s > _CORR_TOL
    other = (g.T @ e) / torch.where(keep, s, torch.ones_like(s))  # (r, m)
    other = other * keep
    return (other, s, e) if flip else (e, s, other)


def _procrustes_complement(found: Tensor, old: Tensor) -> Tensor:
    """Orthonormal columns orthogonal to ``found`` and closest to ``old`` (polar factor).

    Shape:
        found: (I, k) orthonormal; old: (I, c)  ->  (I, c)
    """
    a = old - found @ (found.T @ old)  # (I, c)
    if a.shape[1] >= _POLAR_GRAM_MIN:  # polar factor a (aᵀa)^{-1/2}: ~2x cheaper than an SVD
        lam, e = torch.linalg.eigh(a.T @ a)  # (c,), (c, c) ascending
        if lam[0] > 1e-8 * lam[-1]:  # well conditioned: the Gram route keeps ~1e-8 accuracy
            return a @ ((e * lam.rsqrt()) @ e.T)  # (I, c)
    left, _, right = torch.linalg.svd(a, full_matrices=False)  # (I, c), (c,), (c, c)
    return left @ right


def _sign_fallback(u: Tensor) -> Tensor:
    """+1/−1 per column making the largest-magnitude entry positive. Shape: (I, k) -> (k,)"""
    idx = u.abs().argmax(0)  # (k,)
    s = torch.sign(u.gather(0, idx[None]).squeeze(0))  # (k,)
    return torch.where(s == 0, torch.ones_like(s), s)


@dataclass
class Side:
    """One domain's statistics of mode n: C = Q C̃ Qᵀ (basis None: the full space)."""

    basis: Tensor | None  # (I, r)
    cov: Tensor  # (r, r)
    dim: int  # I


def cca_solve(
    sx: Side,
    sy: Side,
    cxy: Tensor,
    u_old: Tensor,
    v_old: Tensor,
    eps: float,
    orient: str = "sign",
) -> tuple[Tensor, Tensor, Tensor]:
    """Regularised CCA of Eq. (2) with the sign and completion rules of the module docstring.

    Shape:
        cxy: (r_x, r_y) cross-covariance in the two bases; u_old: (I, D); v_old: (J, D)
        output: U (I, D), V (J, D), canonical correlations (D,) (zeros for completed directions)
    """
    d = u_old.shape[1]
    if any(float(torch.diagonal(side.cov).sum()) / side.dim <= _DEGENERATE for side in (sx, sy)):
        # A constant side (e.g. one modality all zeros makes the whole tensor zero): nothing to
        # fit, keep the previous projections.
        return u_old.clone(), v_old.clone(), u_old.new_zeros(d)
    wx = _Whitener(sx.cov, sx.basis, sx.dim, eps)
    wy = _Whitener(sy.cov, sy.basis, sy.dim, eps)
    t = wx.left(wy.left(cxy.T).T)  # (r_x, r_y) = L̃_x^{-1} C̃_xy L̃_y^{-T}
    p, s, q = _top_singular(t)  # (r_x, m), (m,), (r_y, m)
    k = min(d, int((s > _CORR_TOL).sum()))
    p_k = wx.lift(p[:, :k])  # (I, k) whitened source directions
    q_k = wy.lift(q[:, :k])  # (J, k)
    u_w_old = wx.to_whitened(u_old)  # (I, D)
    v_w_old = wy.to_whitened(v_old)  # (J, D)
    u_k = wx.from_whitened(p_k)  # (I, k)
    v_k = wy.from_whitened(q_k)  # (J, k)
    if orient == "rotate":
        # Eq. (2)'s objective and constraints are invariant under one orthogonal R applied to
        # both U and V; choose the R that keeps the directions closest to the previous step's
        # (orthogonal Procrustes in the whitened metric), so the coordinates the heads read
        # move smoothly instead of being re-sorted by canonical correlation every step.
        cross = p_k.T @ u_w_old[:, :k] + q_k.T @ v_w_old[:, :k]  # (k, k)
        left, _, right = torch.linalg.svd(cross)  # (k, k), (k,), (k, k)
        rot = left @ right  # (k, k) orthogonal
        u, v = [u_k @ rot], [v_k @ rot]
        p_k, q_k = p_k @ rot, q_k @ rot
    else:
        agree = (p_k * u_w_old[:, :k]).sum(0) + (q_k * v_w_old[:, :k]).sum(0)  # (k,)
        sign = torch.where(agree.abs() > _SIGN_TOL, torch.sign(agree), _sign_fallback(u_k))
        u, v = [u_k * sign], [v_k * sign]
    if k < d:
        u.append(wx.from_whitened(_procrustes_complement(p_k, u_w_old[:, k:])))  # (I, D − k)
        v.append(wy.from_whitened(_procrustes_complement(q_k, v_w_old[:, k:])))  # (J, D − k)
    corr = torch.zeros(d, dtype=s.dtype, device=s.device)
    corr[:k] = s[:k].clamp(0.0, 1.0)
    return torch.cat(u, 1), torch.cat(v, 1), corr
