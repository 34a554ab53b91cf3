"""Tensor-based alignment (TAL): paper §3.1, Eq. (1)-(3), computed without the full tensor.

Setting. Per sample b and modality n (in the order of ``out_dims``) the source encoders give
h_b^(n) ∈ R^{I_n} and the target encoders g_b^(n) ∈ R^{J_n}. The multimodal tensors are the outer
products of the *mode-centred* embeddings

    X_b = x_b^(1) ∘ x_b^(2) ∘ ... ∘ x_b^(N),   x_b^(n) = h_b^(n) − μ_s^(n)        (I_1 × ... × I_N)
    Y_b = y_b^(1) ∘ ... ∘ y_b^(N),             y_b^(n) = g_b^(n) − μ_t^(n)        (J_1 × ... × J_N)

with μ the running mean of that domain and modality. TAL looks for per-mode projections U^(n)
(I_n × D_n) and V^(n) (J_n × D_n) maximising the correlation of the projected tensors
X ×_1 U^(1)ᵀ ... ×_N U^(N)ᵀ and Y ×_1 V^(1)ᵀ ... ×_N V^(N)ᵀ (Eq. (1)), by alternating projection
(Eq. (2)): fix every mode but n, solve a regularised CCA for mode n, sweep the modes.

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

Initialisation. The first ``update`` starts from a per-mode CCA of (x^(n), y^(n)) (Eq. (2) with
the other modes ignored, z_b ≡ w_b ≡ 1) before its sweeps. Alternating projection from an
arbitrary start can settle where one mode has canonical pairs of both signs of per-mode
correlation, so the products over modes cancel in half of the output dims; the per-mode start
makes every per-mode correlation positive, and in our tests the sweeps keep it so.

Running statistics. The running means μ and (with ``momentum``) the covariances of Eq. (3) follow

    stat ← m_t · stat + (1 − m_t) · batch_stat,    m_t = min(momentum, t / (t + 1)),

t = the number of earlier updates: a plain average over the first 1/(1 − momentum) batches, then
an EMA (the first update takes the batch values). The ramp matters because early statistics are
formed with poorly fitted projections of the other modes; with a fixed 0.9 from the start they
linger for ~20 updates. With ``momentum=None`` every update uses the batch alone. Per-batch
covariances have rank ≤ B, so they determine at most B of the D_n directions of a mode: use the
running covariances when D_n ≥ B (e.g. text 384 with B = 64). A completed (undetermined)
direction has norm ~ρ^{-1/2}, so it amplifies whatever the batch did not span. Within one
``update`` every sweep mixes the *same* batch into the statistics of the previous update (no
compounding).

The output (``project``) is the flattened projected tensor [U^(1)ᵀx^(1); 1] ∘ ... ∘ [U^(N)ᵀx^(N); 1]
(TFN-style ones keep the unimodal and bimodal terms; ``append_one=False`` gives exactly the
paper's Π D_n projected tensor). U and V are fitted on the tensor without the ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["TensorAlignment", "outer_flatten", "DOMAINS", "SOLVERS"]

DOMAINS: tuple[str, ...] = ("source", "target")
SOLVERS: tuple[str, ...] = ("closed_form", "gradient")
_CORR_TOL = 1e-6  # canonical correlations at or below count as zero (degenerate directions)
_SIGN_TOL = 1e-12  # below this the warm-start sign test falls back to the largest entry
_RIDGE_FLOOR = 1e-12  # absolute floor of the ridge
_DEGENERATE = 1e-20  # mean variance tr(C)/I at or below: the side is constant, U/V kept
_GRAM_MIN = 256  # T with both sides at least this large: eigh of the smaller Gram, not an SVD
_POLAR_GRAM_MIN = 64  # completions of at least this many columns: polar factor by eigh
_NORM_EPS = 1e-8  # denominators of the correlation loss


def outer_flatten(factors: list[Tensor], batch: int | None = None) -> Tensor:
    """Flattened per-sample outer product ``f_1 ∘ f_2 ∘ ...``, first factor slowest (C order).

    An empty list gives the scalar 1 per sample (needs ``batch``).

    Shape:
        factors[k]: (B, d_k)
        output: (B, Π_k d_k)
    """
    if not factors:
        if batch is None:
            raise ValueError("outer_flatten of no factors needs the batch size")
        return torch.ones(batch, 1, dtype=torch.float64)  # (B, 1)
    out = factors[0]
    for f in factors[1:]:
        out = torch.einsum("bp,bq->bpq", out, f).reshape(out.shape[0], -1)  # (B, P·d_k)
    return out


# --------------------------------------------------------------------------------------------
# Factored statistics and the regularised CCA (float64)
# --------------------------------------------------------------------------------------------
def _coords(x: Tensor, thin: bool) -> tuple[Tensor | None, Tensor]:
    """Basis and coordinates of the rows of x: x = a Qᵀ (Q = None: the standard basis).

    Shape:
        x: (B, I)  ->  Q: (I, B) or None,  a: (B, B) or (B, I)
    """
    if not thin:
        return None, x
    q, r = torch.linalg.qr(x.T, mode="reduced")  # q: (I, B), r: (B, B); xᵀ = q r
    return q, r.T  # a = x q = rᵀ: (B, B)


def _mode_stats(a: Tensor, c: Tensor, z: Tensor, w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
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


def _expand(basis_x: Tensor | None, cov: Tensor, basis_y: Tensor | None) -> Tensor:
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
class _Side:
    """One domain's statistics of mode n: C = Q C̃ Qᵀ (basis None: the full space)."""

    basis: Tensor | None  # (I, r)
    cov: Tensor  # (r, r)
    dim: int  # I


def _cca_solve(
    sx: _Side,
    sy: _Side,
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


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------
class TensorAlignment(nn.Module):
    """Tensor-based alignment layer, Eq. (1)-(3) of the paper (§3.1); maths in the module doc.

    ``update`` runs the closed-form alternating-projection step of Eq. (2) on paired batches
    (no gradient); ``project`` maps a domain's embeddings through its current U (source) or V
    (target) to the flattened projected tensor; ``correlation_loss`` is the differentiable
    correlation objective that trains the encoders (U, V held constant).

    Args:
        source_dims: I_n per modality, e.g. ``{"text": 512, "vision": 32, "audio": 32}``.
        target_dims: J_n per modality (same names; dims may differ from the source's).
        out_dims: D_n per modality; its key order is the mode order of the tensor.
        eps: ridge, relative: ρ = eps·tr(C)/I_n (+1e-12).
        sweeps: alternating-projection sweeps over all modes per ``update``.
        momentum: EMA weight of the old running statistics (ramped in, see the module doc);
            ``None``: per-batch statistics.
        append_one: append a constant 1 to each projected mode vector (TFN) in ``project``.
        standardize: standardise each projected coordinate per domain in ``project`` (batch
            statistics in training, running ones in eval), enforcing Eq. (1)'s unit variance.
        orthonormal_output: project with an orthonormal basis of each U/V's span (an ablation).
        orient: ``"sign"`` keeps canonical directions (sorted by correlation, sign-matched to
            the previous step); ``"rotate"`` applies the orthogonal R (same for U and V, which
            leaves Eq. (2) unchanged) that keeps them closest to the previous step's.

    Shape:
        h[m]: (B, I_m) source or (B, J_m) target embeddings
        project(h, domain): (B, out_dim), out_dim = Π D_n, or Π (D_n + 1) with ``append_one``
    """

    def __init__(
        self,
        source_dims: Mapping[str, int],
        target_dims: Mapping[str, int],
        out_dims: Mapping[str, int],
        *,
        eps: float = 1e-3,
        sweeps: int = 1,
        momentum: float | None = 0.9,
        append_one: bool = True,
        orient: str = "sign",
        standardize: bool = False,
        orthonormal_output: bool = False,
        solver: str = "closed_form",
        tie: bool = False,
        output_norm: bool = False,
    ) -> None:
        super().__init__()
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.solver = solver
        self.tie = bool(tie)
        self.output_norm = bool(output_norm)
        self.standardize = bool(standardize)
        # Project with an orthonormal basis of each U/V's span instead of the whitened U/V
        # (no amplification of low-variance directions); an ablation, off by default.
        self.orthonormal_output = bool(orthonormal_output)
        if orient not in ("sign", "rotate"):
            raise ValueError(f"orient must be 'sign' or 'rotate', got {orient!r}")
        self.orient = orient
        self.modalities: tuple[str, ...] = tuple(out_dims)
        if not self.modalities:
            raise ValueError("TensorAlignment needs at least one modality in out_dims")
        if set(source_dims) != set(self.modalities) or set(target_dims) != set(self.modalities):
            raise ValueError(
                f"modalities differ: source {sorted(source_dims)}, target {sorted(target_dims)}, "
                f"out {sorted(out_dims)}"
            )
        for m in self.modalities:
            if not m.isidentifier():
                raise ValueError(f"modality name {m!r} must be a Python identifier")
            d, i, j = int(out_dims[m]), int(source_dims[m]), int(target_dims[m])
            if d < 1 or d > i or d > j:
                raise ValueError(
                    f"TAL out dim of {m!r} must satisfy 1 <= D <= I and D <= J; "
                    f"got D={d}, source I={i}, target J={j}"
                )
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        if sweeps < 1:
            raise ValueError(f"sweeps must be >= 1, got {sweeps}")
        if momentum is not None and not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1) or None, got {momentum}")
        self.source_dims = {m: int(source_dims[m]) for m in self.modalities}
        self.target_dims = {m: int(target_dims[m]) for m in self.modalities}
        self.out_dims = {m: int(out_dims[m]) for m in self.modalities}
        self.eps = float(eps)
        self.sweeps = int(sweeps)
        self.momentum = momentum
        self.append_one = bool(append_one)

        f64 = torch.float64
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        for m in self.modalities:
            i, j, d = self.source_dims[m], self.target_dims[m], self.out_dims[m]
            # Untrained TAL: the first D_n coordinates (identity columns), a fixed projection.
            if solver == "closed_form":
                self.register_buffer(f"U_{m}", torch.eye(i, d, dtype=f64))  # (I, D)
                self.register_buffer(f"V_{m}", torch.eye(j, d, dtype=f64))  # (J, D)
            else:  # learned by back-propagation; `update` (closed form) may still set them
                self.register_parameter(f"U_{m}", nn.Parameter(torch.eye(i, d)))  # (I, D)
                self.register_parameter(f"V_{m}", nn.Parameter(torch.eye(j, d)))  # (J, D)
            self.register_buffer(f"mean_source_{m}", torch.zeros(i, dtype=f64))  # (I,)
            self.register_buffer(f"mean_target_{m}", torch.zeros(j, dtype=f64))  # (J,)
            if standardize:
                for dom in DOMAINS:
                    self.register_buffer(f"out_mean_{dom}_{m}", torch.zeros(d))  # (D,)
                    self.register_buffer(f"out_var_{dom}_{m}", torch.ones(d))  # (D,)
            if momentum is not None:
                self.register_buffer(f"cov_xx_{m}", torch.zeros(i, i, dtype=f64))  # (I, I)
                self.register_buffer(f"cov_yy_{m}", torch.zeros(j, j, dtype=f64))  # (J, J)
                self.register_buffer(f"cov_xy_{m}", torch.zeros(i, j, dtype=f64))  # (I, J)

    # -- accessors ---------------------------------------------------------------------------
    @property
    def out_dim(self) -> int:
        extra = 1 if self.append_one else 0
        size = 1
        for d in self.out_dims.values():
            size *= d + extra
        return size

    def projection(self, modality: str, domain: str) -> Tensor:
        """U^(n) (source) or V^(n) (target); with ``tie`` the target uses U^(n) when I_n = J_n.

        float64 buffers for the closed-form solver, float32 parameters for ``"gradient"``.
        Shape: (I_n, D_n) or (J_n, D_n)"""
        side = "U" if _check_domain(domain) == "source" else "V"
        if side == "V" and self.tie and self.source_dims[modality] == self.target_dims[modality]:
            side = "U"
        return getattr(self, f"{side}_{modality}")

    def running_mean(self, modality: str, domain: str) -> Tensor:
        """μ of that domain and modality, float64. Shape: (I_n,) or (J_n,)"""
        return getattr(self, f"mean_{_check_domain(domain)}_{modality}")

    def extra_repr(self) -> str:
        dims = ", ".join(
            f"{m}: {self.source_dims[m]}/{self.target_dims[m]}->{self.out_dims[m]}"
            for m in self.modalities
        )
        return (
            f"{dims}, eps={self.eps}, sweeps={self.sweeps}, momentum={self.momentum}, "
            f"append_one={self.append_one}"
        )

    # -- forward -----------------------------------------------------------------------------
    def project_modes(self, h: Mapping[str, Tensor], domain: str) -> dict[str, Tensor]:
        """Per-mode projections U^(n)ᵀ(h^(n) − μ^(n)), differentiable w.r.t. h (U, μ constant).

        Shape:
            h[m]: (B, I_m)  ->  {m: (B, D_m)}, in h's dtype
        """
        dims = self.source_dims if _check_domain(domain) == "source" else self.target_dims
        out = {}
        for m in self.modalities:
            x = h[m]
            if x.dim() != 2 or x.shape[1] != dims[m]:
                raise ValueError(f"{domain} {m!r}: expected (B, {dims[m]}), got {tuple(x.shape)}")
            mu = self.running_mean(m, domain).to(x.dtype)  # (I,)
            proj = self.projection(m, domain)
            if self.orthonormal_output:
                q, r = torch.linalg.qr(proj)  # (I, D), (D, D)
                proj = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, 1.0)
            out[m] = (x - mu) @ proj.to(x.dtype)  # (B, D_m)
        return out

    def project(self, h: Mapping[str, Tensor], domain: str) -> Tensor:
        """The projected tensor of Eq. (1), flattened: [U^(1)ᵀx^(1); 1] ∘ ... ∘ [U^(N)ᵀx^(N); 1].

        x^(n) = h^(n) − μ^(n) with that domain's running mean; source through U, target through
        V; the ones only with ``append_one``. Differentiable w.r.t. h.

        Shape:
            h[m]: (B, I_m) (source) or (B, J_m) (target)
            output: (B, out_dim), modes in ``out_dims`` order, first mode slowest
        """
        p = self.project_modes(h, domain)  # {m: (B, D_m)}
        factors = []
        for m in self.modalities:
            f = p[m]
            if self.standardize:
                f = self._standardize(f, m, domain)  # (B, D_m)
            if self.append_one:
                f = torch.cat([f, f.new_ones(f.shape[0], 1)], dim=1)  # (B, D_m + 1)
            factors.append(f)
        out = outer_flatten(factors)  # (B, out_dim)
        if self.output_norm:  # per-sample: zero mean, unit variance over the out_dim entries
            out = nn.functional.layer_norm(out, out.shape[1:])
        return out

    def _standardize(self, f: Tensor, m: str, domain: str) -> Tensor:
        """Eq. (1)'s constraint (unit-variance projected coordinates) on the current batch.

        In training each projected coordinate is standardised with the batch's own mean and
        standard deviation (and running estimates are updated); in eval, with the running
        estimates. The closed-form U/V are fitted on lagging running covariances while the
        encoders move, so without this the projected coordinates drift far from unit variance.

        Shape: f (B, D_m) -> (B, D_m)
        """
        mean_buf = getattr(self, f"out_mean_{domain}_{m}")  # (D_m,)
        var_buf = getattr(self, f"out_var_{domain}_{m}")  # (D_m,)
        if self.training and f.shape[0] > 1:
            mean = f.mean(0)  # (D_m,)
            var = f.var(0, unbiased=False)  # (D_m,)
            with torch.no_grad():
                mean_buf.lerp_(mean.detach().to(mean_buf.dtype), 0.1)
                var_buf.lerp_(var.detach().to(var_buf.dtype), 0.1)
        else:
            mean, var = mean_buf.to(f.dtype), var_buf.to(f.dtype)
        return (f - mean) / torch.sqrt(var + 1e-5)

    def correlation_loss(self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor]) -> Tensor:
        """Minus the mean correlation of paired projected outputs: the objective of Eq. (1)
        as a loss for the encoders (U, V, μ held constant).

        With o_s = X_b ×_n U^(n)ᵀ and o_t = Y_b ×_n V^(n)ᵀ flattened (Π D_n dims, no ones: the
        constant terms have no variance), each output dim d is centred over the batch and

            loss = −(1/Π D_n) Σ_d ⟨ō_s[:, d], ō_t[:, d]⟩ / (‖ō_s[:, d]‖ ‖ō_t[:, d]‖ + 1e-8)

        Shape:
            h_s[m]: (B, I_m), h_t[m]: (B, J_m), rows paired
            output: () scalar in [−1, 1]
        """
        ps = self.project_modes(h_s, "source")  # {m: (B, D_m)}
        pt = self.project_modes(h_t, "target")  # {m: (B, D_m)}
        if next(iter(ps.values())).shape[0] != next(iter(pt.values())).shape[0]:
            raise ValueError("correlation_loss needs paired rows (same batch size)")
        o_s = outer_flatten([ps[m] for m in self.modalities])  # (B, Π D)
        o_t = outer_flatten([pt[m] for m in self.modalities])  # (B, Π D)
        o_s = o_s - o_s.mean(0)  # (B, Π D)
        o_t = o_t - o_t.mean(0)  # (B, Π D)
        corr = (o_s * o_t).sum(0) / (o_s.norm(dim=0) * o_t.norm(dim=0) + _NORM_EPS)  # (Π D,)
        return -corr.mean()

    # -- Eq. (2): alternating projection --------------------------------------------------------
    def step_momentum(self) -> float:
        """m_t = min(momentum, t / (t + 1)) for the next update (0: per-batch statistics)."""
        if self.momentum is None:
            return 0.0
        t = int(self.num_updates)
        return min(float(self.momentum), t / (t + 1))

    def _centred(self, h: Mapping[str, Tensor], domain: str, mom: float) -> tuple:
        """New running means and the centred float64 embeddings {m: (B, I_m)}."""
        dims = self.source_dims if domain == "source" else self.target_dims
        means, xs = {}, {}
        for m in self.modalities:
            x = h[m].detach().to(torch.float64)
            if x.dim() != 2 or x.shape[1] != dims[m]:
                raise ValueError(f"{domain} {m!r}: expected (B, {dims[m]}), got {tuple(x.shape)}")
            mu = x.mean(0)  # (I,)
            if mom > 0:
                mu = mom * self.running_mean(m, domain) + (1 - mom) * mu
            means[m] = mu
            xs[m] = x - mu  # (B, I)
        return means, xs

    def _batch_size(self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor]) -> int:
        sizes = {int(x.shape[0]) for x in list(h_s.values()) + list(h_t.values())}
        if len(sizes) != 1:
            raise ValueError(f"TAL needs paired rows: batch sizes {sorted(sizes)}")
        (b,) = sizes
        if b < 2:
            raise ValueError("TAL statistics need a batch of at least 2 pairs")
        return b

    def _stats(
        self,
        n: str,
        xs: dict[str, Tensor],
        ys: dict[str, Tensor],
        ps: dict[str, Tensor],
        pt: dict[str, Tensor],
        thin: bool,
        coupled: bool = True,
    ) -> tuple[_Side, _Side, Tensor]:
        """Batch statistics of Eq. (3) for mode n, in a thin basis where cheaper; with
        ``coupled=False`` the other modes are ignored (z ≡ w ≡ 1: plain CCA statistics)."""
        b = xs[n].shape[0]
        others = [k for k in self.modalities if k != n] if coupled else []
        z = outer_flatten([ps[k] for k in others], b)  # (B, P_n), or (B, 1) of ones
        w = outer_flatten([pt[k] for k in others], b)  # (B, P_n), or (B, 1) of ones
        qx, a = _coords(xs[n], thin and b < self.source_dims[n])  # (I, r_x)?, (B, r_x)
        qy, c = _coords(ys[n], thin and b < self.target_dims[n])  # (J, r_y)?, (B, r_y)
        cxx, cyy, cxy = _mode_stats(a, c, z.to(a), w.to(c))
        return (
            _Side(qx, cxx, self.source_dims[n]),
            _Side(qy, cyy, self.target_dims[n]),
            cxy,
        )

    def mode_covariances(
        self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor], *, thin: bool = False
    ) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        """Batch C_xx^(n), C_yy^(n), C_xy^(n) of Eq. (3) with the current U, V and running
        means (nothing is updated); for inspection and tests. ``thin`` computes them in the thin
        basis where B < I_n and expands them.

        Shape:
            output[n]: (I_n, I_n), (J_n, J_n), (I_n, J_n), float64
        """
        with torch.no_grad():
            self._batch_size(h_s, h_t)
            xs = {
                m: h_s[m].detach().double() - self.running_mean(m, "source")
                for m in self.modalities
            }
            ys = {
                m: h_t[m].detach().double() - self.running_mean(m, "target")
                for m in self.modalities
            }
            ps = {m: xs[m] @ self.projection(m, "source") for m in self.modalities}  # (B, D_m)
            pt = {m: ys[m] @ self.projection(m, "target") for m in self.modalities}  # (B, D_m)
            out = {}
            for n in self.modalities:
                sx, sy, cxy = self._stats(n, xs, ys, ps, pt, thin)
                out[n] = (
                    _expand(sx.basis, sx.cov, sx.basis),
                    _expand(sy.basis, sy.cov, sy.basis),
                    _expand(sx.basis, cxy, sy.basis),
                )
            return out

    @torch.no_grad()
    def tie_target_to_source(self) -> list[str]:
        """Set V^(n) := U^(n) for every mode whose source and target dims agree (one shared
        projection, each domain still centred with its own running mean). Returns the modes."""
        tied = []
        for m in self.modalities:
            if self.source_dims[m] == self.target_dims[m]:
                self.projection(m, "target").copy_(self.projection(m, "source"))
                tied.append(m)
        return tied

    @torch.no_grad()
    def update(self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor]) -> dict[str, float]:
        """One closed-form TAL step, Eq. (2)-(3): ``sweeps`` alternating-projection sweeps.

        The first update starts from a per-mode CCA (module doc). Then, for each mode n in turn:
        project the other modes with the current U/V (already updated
        ones included), form the factored statistics of Eq. (3), mix them into the running
        statistics, solve the regularised CCA for the top D_n directions (float64), warm-started
        from the previous U^(n), V^(n). Rows of h_s and h_t are pairs.

        Shape:
            h_s[m]: (B, I_m), h_t[m]: (B, J_m), B ≥ 2
        Returns:
            logs: ``tal/corr_<m>`` mean and ``tal/corr1_<m>`` top canonical correlation of mode m
        """
        self._batch_size(h_s, h_t)
        mom = self.step_momentum()
        per_batch = mom == 0.0
        mean_s, xs = self._centred(h_s, "source", mom)
        mean_t, ys = self._centred(h_t, "target", mom)
        f64 = torch.float64
        u = {m: self.projection(m, "source").detach().to(f64).clone() for m in self.modalities}
        v = {m: self.projection(m, "target").detach().to(f64).clone() for m in self.modalities}
        ps = {m: xs[m] @ u[m] for m in self.modalities}  # (B, D_m)
        pt = {m: ys[m] @ v[m] for m in self.modalities}  # (B, D_m)
        # Tied modes (one projection for both domains) keep V^(n) = U^(n) through the sweeps,
        # so every other mode's statistics see the projection the model actually applies.
        tied = {
            m
            for m in self.modalities
            if self.projection(m, "target") is self.projection(m, "source")
        }

        def tie_mode(n: str) -> None:
            if n in tied:
                v[n] = u[n]
                pt[n] = ys[n] @ v[n]  # (B, D_n)

        new_cov: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        corrs: dict[str, Tensor] = {}
        if int(self.num_updates) == 0:  # initialisation: per-mode CCA, see the module doc
            for n in self.modalities:
                sx, sy, cxy = self._stats(n, xs, ys, ps, pt, thin=True, coupled=False)
                u[n], v[n], _ = _cca_solve(sx, sy, cxy, u[n], v[n], self.eps)
                ps[n] = xs[n] @ u[n]  # (B, D_n)
                pt[n] = ys[n] @ v[n]  # (B, D_n)
                tie_mode(n)
        for _ in range(self.sweeps):
            for n in self.modalities:
                sx, sy, cxy = self._stats(n, xs, ys, ps, pt, thin=per_batch)
                if not per_batch:  # full space: blend with the previous update's statistics
                    sx.cov = mom * getattr(self, f"cov_xx_{n}") + (1 - mom) * sx.cov
                    sy.cov = mom * getattr(self, f"cov_yy_{n}") + (1 - mom) * sy.cov
                    cxy = mom * getattr(self, f"cov_xy_{n}") + (1 - mom) * cxy
                u[n], v[n], corrs[n] = _cca_solve(sx, sy, cxy, u[n], v[n], self.eps, self.orient)
                ps[n] = xs[n] @ u[n]  # (B, D_n)
                pt[n] = ys[n] @ v[n]  # (B, D_n)
                tie_mode(n)
                if self.momentum is not None:
                    new_cov[n] = (sx.basis, sx.cov, sy.basis, sy.cov, cxy)
        for m in self.modalities:
            # A tied mode's one projection holds the source-side solution U^(n).
            self.projection(m, "source").copy_(u[m])
            if m not in tied:
                self.projection(m, "target").copy_(v[m])
            self.running_mean(m, "source").copy_(mean_s[m])
            self.running_mean(m, "target").copy_(mean_t[m])
            if m in new_cov:
                qx, cxx, qy, cyy, cxy = new_cov[m]
                getattr(self, f"cov_xx_{m}").copy_(_expand(qx, cxx, qx))
                getattr(self, f"cov_yy_{m}").copy_(_expand(qy, cyy, qy))
                getattr(self, f"cov_xy_{m}").copy_(_expand(qx, cxy, qy))
        self.num_updates += 1
        logs = {}
        for m in self.modalities:
            logs[f"tal/corr_{m}"] = float(corrs[m].mean())
            logs[f"tal/corr1_{m}"] = float(corrs[m][0])
        return logs


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    return domain
