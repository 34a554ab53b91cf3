"""Naive full-tensor TAL (paper §3.1, Eq. (1)-(3)): a reference for tests and benchmarks only.

Everything is plain tensor algebra on the materialised (B, I_1, ..., I_N) tensors, in float64:
mode-n products, mode-n unfoldings, the contractions of Eq. (3), and the regularised CCA of
Eq. (2) by symmetric inverse square roots (eigh) and a full SVD. Memory and time grow with
Π_n I_n, so it is never used for training; ``osan.alignment.tal`` is the structured version and
must agree with this one. The conventions (centring, ridge ρ = eps·tr(C)/I + 1e-12, sign and
completion rules, EMA, tie) are those documented in ``osan.alignment.tal``; it implements the
options ``REFERENCE_OPTIONS`` of ``TensorAlignment`` (the paper's closed form, canonical
directions, no output normalisation; V tied to U only for the modes passed as ``tied``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = [
    "reference_tensor",
    "mode_product",
    "unfold",
    "reference_project",
    "reference_covariances",
    "reference_cca",
    "reference_update",
    "REFERENCE_OPTIONS",
]

#: ``TensorAlignment`` options under which it must agree with this reference.
REFERENCE_OPTIONS = {"solver": "closed_form", "orient": "sign", "tie": False, "normalize": "none"}

_CORR_TOL = 1e-6
_SIGN_TOL = 1e-12
_RIDGE_FLOOR = 1e-12
_DEGENERATE = 1e-20


def reference_tensor(x: Mapping[str, Tensor], modes: list[str]) -> Tensor:
    """Per-sample outer product x^(1) ∘ ... ∘ x^(N), materialised.

    Shape:
        x[m]: (B, I_m)  ->  (B, I_1, ..., I_N)
    """
    t = x[modes[0]].double()  # (B, I_1)
    for m in modes[1:]:
        v = x[m].double()  # (B, I_m)
        t = t.unsqueeze(-1) * v.reshape(v.shape[0], *([1] * (t.dim() - 1)), v.shape[1])
        # (B, I_1, ..., I_m)
    return t


def mode_product(t: Tensor, mat: Tensor, n: int) -> Tensor:
    """Mode-n product t ×_n matᵀ on a sample-first tensor (mode n is axis n + 1).

    Shape:
        t: (B, ..., I_n, ...), mat: (I_n, D)  ->  (B, ..., D, ...)
    """
    out = torch.tensordot(t, mat, dims=([n + 1], [0]))  # (B, ..., ..., D): D moved last
    return torch.movedim(out, -1, n + 1)  # (B, ..., D, ...)


def unfold(t: Tensor, n: int) -> Tensor:
    """Mode-n unfolding with the sample index among the columns (b slowest, then the other
    modes in order).

    Shape:
        t: (B, K_1, ..., K_N)  ->  (K_n, B · Π_{k≠n} K_k)
    """
    moved = torch.movedim(t, n + 1, 0)  # (K_n, B, K_1, ..., K_N without K_n)
    return moved.reshape(moved.shape[0], -1)  # (K_n, B·P_n)


def reference_project(
    h: Mapping[str, Tensor],
    mats: Mapping[str, Tensor],
    means: Mapping[str, Tensor],
    modes: list[str],
    *,
    append_one: bool = True,
) -> Tensor:
    """Projected tensor X ×_1 W_1ᵀ ... ×_N W_Nᵀ of the centred (and, with ``append_one``,
    one-extended) embeddings, flattened; W_n = blockdiag(U_n, 1) with ``append_one``.

    Shape:
        h[m]: (B, I_m), mats[m]: (I_m, D_m), means[m]: (I_m,)
        output: (B, Π D_m) or (B, Π (D_m + 1))
    """
    x, w = {}, {}
    for m in modes:
        xm = h[m].double() - means[m].double()  # (B, I)
        wm = mats[m].double()  # (I, D)
        if append_one:
            xm = torch.cat([xm, xm.new_ones(xm.shape[0], 1)], 1)  # (B, I + 1)
            wm = torch.block_diag(wm, wm.new_ones(1, 1))  # (I + 1, D + 1)
        x[m], w[m] = xm, wm
    t = reference_tensor(x, modes)  # (B, I_1(+1), ..., I_N(+1))
    for n, m in enumerate(modes):
        t = mode_product(t, w[m], n)  # mode n: I_n(+1) -> D_n(+1)
    return t.reshape(t.shape[0], -1)  # (B, out_dim)


def reference_covariances(
    h_s: Mapping[str, Tensor],
    h_t: Mapping[str, Tensor],
    u: Mapping[str, Tensor],
    v: Mapping[str, Tensor],
    mean_s: Mapping[str, Tensor],
    mean_t: Mapping[str, Tensor],
    modes: list[str],
    n: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. (3) for mode n on the materialised tensors: centre the tensor samples, project
    every mode k ≠ n, unfold along n and contract all other indices (samples included), / B.

    Shape:
        output: C_xx (I_n, I_n), C_yy (J_n, J_n), C_xy (I_n, J_n)
    """
    xs = reference_tensor({m: h_s[m].double() - mean_s[m] for m in modes}, modes)  # (B, I...)
    ys = reference_tensor({m: h_t[m].double() - mean_t[m] for m in modes}, modes)  # (B, J...)
    return _covariances_of_tensors(xs, ys, u, v, modes, n)


def _covariances_of_tensors(
    xs: Tensor, ys: Tensor, u: Mapping[str, Tensor], v: Mapping[str, Tensor], modes, n: int
) -> tuple[Tensor, Tensor, Tensor]:
    b = xs.shape[0]
    xs = xs - xs.mean(0, keepdim=True)  # zero-mean tensor samples (paper §3.1)
    ys = ys - ys.mean(0, keepdim=True)
    for k, m in enumerate(modes):
        if k != n:
            xs = mode_product(xs, u[m].double(), k)  # mode k: I_k -> D_k
            ys = mode_product(ys, v[m].double(), k)  # mode k: J_k -> D_k
    xn = unfold(xs, n)  # (I_n, B·P_n)
    yn = unfold(ys, n)  # (J_n, B·P_n)
    return xn @ xn.T / b, yn @ yn.T / b, xn @ yn.T / b


def _sym_power(c: Tensor, power: float) -> Tensor:
    w, e = torch.linalg.eigh(c)  # (I,), (I, I)
    return (e * w.clamp_min(0) ** power) @ e.T  # (I, I)


def reference_cca(
    cxx: Tensor, cyy: Tensor, cxy: Tensor, u_old: Tensor, v_old: Tensor, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Regularised CCA of Eq. (2) in the full space with symmetric whitening C_r^{-1/2}.

    Shape:
        cxx: (I, I), cyy: (J, J), cxy: (I, J), u_old: (I, D), v_old: (J, D)
        output: U (I, D), V (J, D), correlations (D,)
    """
    i, j, d = cxx.shape[0], cyy.shape[0], u_old.shape[1]
    if float(torch.trace(cxx)) / i <= _DEGENERATE or float(torch.trace(cyy)) / j <= _DEGENERATE:
        return u_old.clone(), v_old.clone(), torch.zeros(d, dtype=torch.float64)
    rho_x = eps * float(torch.trace(cxx)) / i + _RIDGE_FLOOR
    rho_y = eps * float(torch.trace(cyy)) / j + _RIDGE_FLOOR
    cx = 0.5 * (cxx + cxx.T) + rho_x * torch.eye(i, dtype=cxx.dtype)  # (I, I)
    cy = 0.5 * (cyy + cyy.T) + rho_y * torch.eye(j, dtype=cyy.dtype)  # (J, J)
    wx, wy = _sym_power(cx, -0.5), _sym_power(cy, -0.5)
    t = wx @ cxy @ wy  # (I, J)
    p, s, qh = torch.linalg.svd(t)  # (I, I), (min,), (J, J)
    k = min(d, int((s > _CORR_TOL).sum()))
    p_k, q_k = p[:, :k], qh[:k].T  # (I, k), (J, k)
    u_w_old = _sym_power(cx, 0.5) @ u_old  # (I, D)
    v_w_old = _sym_power(cy, 0.5) @ v_old  # (J, D)
    u_k, v_k = wx @ p_k, wy @ q_k
    for c in range(k):
        agree = float(p_k[:, c] @ u_w_old[:, c] + q_k[:, c] @ v_w_old[:, c])
        if abs(agree) > _SIGN_TOL:
            sign = 1.0 if agree > 0 else -1.0
        else:
            sign = 1.0 if float(u_k[int(u_k[:, c].abs().argmax()), c]) >= 0 else -1.0
        u_k[:, c] *= sign
        v_k[:, c] *= sign
    u_out, v_out = [u_k], [v_k]
    if k < d:
        for found, old, w, out in ((p_k, u_w_old, wx, u_out), (q_k, v_w_old, wy, v_out)):
            a = old[:, k:] - found @ (found.T @ old[:, k:])  # (I, D − k)
            left, _, right = torch.linalg.svd(a, full_matrices=False)
            out.append(w @ (left @ right))
    corr = torch.zeros(d, dtype=torch.float64)
    corr[:k] = s[:k].clamp(0, 1)
    return torch.cat(u_out, 1), torch.cat(v_out, 1), corr


def reference_update(
    h_s: Mapping[str, Tensor],
    h_t: Mapping[str, Tensor],
    state: Mapping[str, Mapping[str, Tensor]],
    modes: list[str],
    *,
    eps: float = 1e-3,
    sweeps: int = 1,
    momentum: float | None = 0.9,
    num_updates: int = 0,
    tied: frozenset[str] = frozenset(),
) -> tuple[dict[str, dict[str, Tensor]], dict[str, Tensor]]:
    """One TAL update (Eq. (2)) by the naive route, same semantics as ``TensorAlignment.update``.

    ``state`` has dicts ``U``, ``V``, ``mean_s``, ``mean_t`` and, with momentum, ``cxx``,
    ``cyy``, ``cxy`` (full-space running statistics); ``num_updates`` is how many updates came
    before (momentum ramp m_t = min(momentum, t / (t + 1)); the first takes the batch statistics).
    ``tied`` modes have one projection: V^(n) := U^(n) after each of their solves.

    Returns:
        the new state (same keys) and the canonical correlations {m: (D_m,)} of the last sweep
    """
    mom = 0.0 if momentum is None else min(float(momentum), num_updates / (num_updates + 1))
    per_batch = mom == 0.0
    new = {key: dict(val) for key, val in state.items()}
    for m in modes:
        for key, h in (("mean_s", h_s), ("mean_t", h_t)):
            mu = h[m].double().mean(0)
            new[key][m] = mu if per_batch else mom * state[key][m] + (1 - mom) * mu
    xs = reference_tensor({m: h_s[m].double() - new["mean_s"][m] for m in modes}, modes)
    ys = reference_tensor({m: h_t[m].double() - new["mean_t"][m] for m in modes}, modes)
    # xs: (B, I_1, ..., I_N), ys: (B, J_1, ..., J_N)
    if num_updates == 0:  # initialisation: plain per-mode CCA of the centred embeddings
        b = xs.shape[0]
        for m in modes:
            x = h_s[m].double() - new["mean_s"][m]
            y = h_t[m].double() - new["mean_t"][m]
            x, y = x - x.mean(0), y - y.mean(0)  # (B, I), (B, J)
            new["U"][m], new["V"][m], _ = reference_cca(
                x.T @ x / b, y.T @ y / b, x.T @ y / b, new["U"][m], new["V"][m], eps
            )
            if m in tied:
                new["V"][m] = new["U"][m]
    corrs = {}
    for _ in range(sweeps):
        for n, m in enumerate(modes):
            cxx, cyy, cxy = _covariances_of_tensors(xs, ys, new["U"], new["V"], modes, n)
            if not per_batch:
                cxx = mom * state["cxx"][m] + (1 - mom) * cxx
                cyy = mom * state["cyy"][m] + (1 - mom) * cyy
                cxy = mom * state["cxy"][m] + (1 - mom) * cxy
            new["U"][m], new["V"][m], corrs[m] = reference_cca(
                cxx, cyy, cxy, new["U"][m], new["V"][m], eps
            )
            if m in tied:
                new["V"][m] = new["U"][m]
            if momentum is not None:
                new.setdefault("cxx", {})[m] = cxx
                new.setdefault("cyy", {})[m] = cyy
                new.setdefault("cxy", {})[m] = cxy
    return new, corrs
