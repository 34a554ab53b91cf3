"""A thin SVD whose gradient stays finite where singular values repeat or vanish.

The textbook SVD gradient (Townsend 2016; PyTorch's ``svd_backward``) divides by
E_jk = σ_k² − σ_j² and by σ_j: a batch of B < d features, or one with coinciding rows, has
repeated zero singular values, and identical subspaces give repeated cosines, so the exact
gradient is 0/0 = NaN. Here both divisions are broadened (Lorentzian broadening, as in
differentiable eigensolvers):

    1/E  →  E / (E² + δ²),     1/σ  →  σ / (σ² + δ),     δ = tol · σ_max²,

which equals the exact gradient wherever the gaps are well above δ and is finite (zero at
exact ties) everywhere else. The forward pass is ``torch.linalg.svd`` unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["safe_svd"]


class _SafeSVD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor, tol: float) -> tuple[Tensor, Tensor, Tensor]:
        u, s, vh = torch.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, s, vh)
        ctx.tol = tol
        return u, s, vh

    @staticmethod
    def backward(ctx, gu: Tensor | None, gs: Tensor | None, gvh: Tensor | None):
        u, s, vh = ctx.saved_tensors
        v = vh.mT
        m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
        delta = ctx.tol * float(s.max()) ** 2 if k else 0.0
        s2 = s * s
        e = s2.unsqueeze(-2) - s2.unsqueeze(-1)  # (k, k): E_jk = σ_k² − σ_j²
        f = e / (e * e + delta * delta)  # ≈ 1/E, 0 on the diagonal and at ties
        s_inv = s / (s2 + delta)  # ≈ 1/σ, 0 at σ = 0
        inner = torch.diag_embed(gs) if gs is not None else torch.zeros_like(e)
        uhgu = vhgv = None
        if gu is not None:
            uhgu = u.mT @ gu  # (k, k)
            inner = inner + (uhgu - uhgu.mT) * f * s.unsqueeze(-2)
        if gvh is not None:
            vhgv = v.mT @ gvh.mT  # (k, k)
            inner = inner + s.unsqueeze(-1) * ((vhgv - vhgv.mT) * f)
        ga = u @ inner @ vh  # (m, n)
        if gu is not None and m > k:
            ga = ga + ((gu - u @ uhgu) * s_inv.unsqueeze(-2)) @ vh
        if gvh is not None and n > k:
            ga = ga + u @ ((gvh.mT - v @ vhgv) * s_inv.unsqueeze(-2)).mT
        return ga, None


def safe_svd(a: Tensor, tol: float = 1e-12) -> tuple[Tensor, Tensor, Tensor]:
    """Reduced SVD ``a = U diag(S) Vh`` with a broadened, always finite gradient.

    Shape:
        a: (m, n) -> U: (m, k), S: (k,), Vh: (k, n), k = min(m, n)
    """
    return _SafeSVD.apply(a, tol)
