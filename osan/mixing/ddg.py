"""Dynamic Domain Generator (DDG), paper §3.2, Eq. (4).

DDG turns a paired source/target sample (s, t) — TAL outputs — into H "generated domains": for
each head h a variant s'^h of s that keeps s and mixes in the part of t that is relevant to s (the
commonality), and symmetrically a variant t'^h of t. Generated samples go to the domain
discriminator with soft domain labels.

Our reading of §3.2 (the paper leaves the details open)
---------------------------------------------------------
The paper stacks s and t into a length-2 sequence and takes queries/keys from each; a 2×2
attention matrix cannot, however, give a "feature-relevant distribution p" over the *elements* of
t, which is what ``c = t ⊙ Norm(p)`` needs. We therefore give every element j of t its own key.
With s, t ∈ R^D, H heads and key dimension r:

1. Query of head h from s (W_Q^h, b_Q^h: one parameter per head, see ``head_params``):
       q^h = W_Q^h s + b_Q^h ∈ R^r
2. Key of element j of t under head h: a learned per-element embedding scaled by the element's
   value, plus a learned per-element bias (E_K, B_K ∈ R^{H×D×r}):
       K^h[j] = t_j · E_K^h[j] + B_K^h[j] ∈ R^r
3. Source-target relation: R^h[j, k] = q^h_k · K^h[j, k]. Summing it "along the dimension of the
   query" (k = 1..r; with one query vector per head, the query dimension is its r components)
   gives the scaled dot-product score
       M^h[j] = Σ_k R^h[j, k] / √r = ⟨q^h, K^h[j]⟩ / √r
4. Relevance distribution over the D elements of t and its normalised form (the gate):
       p^h = softmax_j(M^h),   Norm(p^h) = D · p^h
   so the gate is positive and averages exactly 1 over the elements: it re-weights t, highlighting
   elements relevant to s and damping the others, without changing its overall scale.
5. Commonality and the generated source sample, Eq. (4):
       c^h = t ⊙ Norm(p^h),    s'^h = λ · s + (1 − λ) · c^h
6. Symmetrically, t'^h = λ · t + (1 − λ) · (s ⊙ Norm(p'^h)) with queries from t and keys from s.
   The two directions share W_Q, E_K, B_K, as a transformer's self-attention over the stacked
   sequence (s, t) shares its projections across positions; head h then defines one relation
   applied both ways.

Each head h is one generated domain: a sample of it is (s'^h, label 1 − λ) or (t'^h, label λ),
where the label is the probability of "target domain" (source = 0, target = 1). For λ = 1, DDG is
the identity. The scores are computed without materialising the keys:
M^h = (t ⊙ (E_K^h q^h) + B_K^h q^h) / √r, so the cost is O(B·H·D·r), linear in H. ``heads``
selects a subset of heads per step (bounding the discriminator's cost).

Speed. ``forward`` runs both directions as one batch through ``_GatedMix``, a hand-written
forward/backward of Eq. (4) that touches each (B, H', D) tensor as few times as the algebra
allows (on CPU the step is memory-bound), heads batched in cache-sized chunks (one ``bmm`` per
chunk); ``forward_reference`` is the plain autograd composition it must equal (tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["DynamicDomainGenerator", "Generated", "deal_rows"]


@dataclass
class Generated:
    """Samples of H' generated domains and their soft domain labels (probability of "target").

    Shape:
        source: (B, H', D) generated from the source samples (s' per head)
        target: (B, H', D) generated from the target samples (t' per head)
        source_domain_label: (H',) label of every ``source[:, h]``, or (B, H') one per sample
        target_domain_label: (H',) label of every ``target[:, h]``, or (B, H') one per sample
    """

    source: Tensor
    target: Tensor
    source_domain_label: Tensor
    target_domain_label: Tensor

    @property
    def num_domains(self) -> int:
        return int(self.source.shape[1])


class DynamicDomainGenerator(nn.Module):
    """Dynamic Domain Generator, Eq. (4): s'^h = λ·s + (1 − λ)·(t ⊙ Norm(p^h)) per head h,
    and symmetrically t'^h (see the module docstring for the full definition).

    Args:
        dim: feature dimension D of s and t.
        heads: number of heads H = generated domains (paper: 64 sentiment, 128 video text).
        lam: λ of Eq. (4) (paper: 0.85 sentiment, 0.9 video text).
        key_dim: r, the query/key dimension per head.

    Shape:
        s, t: (B, D) paired source and target features
        heads: optional (H',) int64 head indices; None = all H
        output: :class:`Generated` with source/target (B, H', D) and labels (H',)
    """

    def __init__(self, dim: int, heads: int = 64, lam: float = 0.85, key_dim: int = 8) -> None:
        super().__init__()
        if dim < 1 or heads < 1 or key_dim < 1:
            raise ValueError(f"invalid sizes: {dim=}, {heads=}, {key_dim=}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {lam}")
        self.dim, self.num_heads, self.key_dim, self.lam = dim, heads, key_dim, float(lam)
        # One parameter per head and kind, so that a step that uses H' heads leaves the other
        # heads without a gradient: the optimiser skips them (no momentum or weight-decay
        # drift for a head that was not used), and autograd never materialises an (H, D, r)
        # zero gradient for a gather of H' heads. Initialised as one Linear(D, H·r) and two
        # N(0, 1) tensors (H, D, r) cut into heads.
        lin = nn.Linear(dim, heads * key_dim)
        w = lin.weight.detach().view(heads, key_dim, dim)
        b = lin.bias.detach().view(heads, key_dim)
        e_k, b_k = torch.randn(heads, dim, key_dim), torch.randn(heads, dim, key_dim)
        self.query_weight = nn.ParameterList([nn.Parameter(w[h].clone()) for h in range(heads)])
        self.query_bias = nn.ParameterList([nn.Parameter(b[h].clone()) for h in range(heads)])
        self.key_embed = nn.ParameterList([nn.Parameter(e_k[h].clone()) for h in range(heads)])
        self.key_bias = nn.ParameterList([nn.Parameter(b_k[h].clone()) for h in range(heads)])

    def head_params(self, heads: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """W_Q, b_Q, E_K, B_K of the heads ``heads`` (all when None), stacked.

        Shape: (H', r, D), (H', r), (H', D, r), (H', D, r)
        """
        idx = range(self.num_heads) if heads is None else heads.tolist()
        return tuple(  # type: ignore[return-value]
            torch.stack([p[h] for h in idx])
            for p in (self.query_weight, self.query_bias, self.key_embed, self.key_bias)
        )

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.num_heads}, lam={self.lam}, key_dim={self.key_dim}"

    def _check_heads(self, heads: Tensor | None) -> Tensor | None:
        if heads is None:
            return None
        if heads.dim() != 1 or heads.numel() == 0 or heads.dtype not in (torch.int64, torch.int32):
            raise ValueError("heads must be a non-empty 1-D integer tensor of head indices")
        if int(heads.min()) < 0 or int(heads.max()) >= self.num_heads:
            raise ValueError(f"head indices must lie in [0, {self.num_heads})")
        return heads.to(dtype=torch.int64)

    def relevance(self, query_src: Tensor, key_src: Tensor, heads: Tensor | None = None) -> Tensor:
        """The gate Norm(p^h) = D · softmax_j(⟨q^h, K^h[j]⟩ / √r) over the elements of
        ``key_src``, with queries from ``query_src``: how relevant each element of ``key_src`` is
        to ``query_src`` under each head. Averages 1 over the last axis.

        Shape:
            query_src, key_src: (B, D); heads: (H',) or None
            output: (B, H', D)
        """
        self._check_pair(query_src, key_src)
        heads = self._check_heads(heads)
        r = self.key_dim
        w, b, e_k, b_k = self.head_params(heads)  # (H', r, D), (H', r), (H', D, r) x 2
        q = torch.einsum("bd,hrd->bhr", query_src, w) + b  # q^h = W_Q^h s + b_Q^h, (B, H', r)
        # M^h[j] = (y_j ⟨q^h, E_K^h[j]⟩ + ⟨q^h, B_K^h[j]⟩) / √r, keys never materialised
        qe = torch.einsum("bhr,hdr->bhd", q, e_k)  # (B, H', D)
        qb = torch.einsum("bhr,hdr->bhd", q, b_k)  # (B, H', D)
        scores = (key_src.unsqueeze(1) * qe + qb) / math.sqrt(r)  # (B, H', D)
        return self.dim * torch.softmax(scores, dim=-1)  # Norm(p) = D·p, (B, H', D)

    def forward(
        self,
        s: Tensor,
        t: Tensor,
        heads: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Generated:
        """Generated domains of the heads ``heads`` (all when None). ``generator`` is accepted
        and ignored (DDG is deterministic), so that DDG and ``MixupGenerator`` are called alike.

        Both directions (queries from s with keys on t, and the reverse) run as one batch of 2B
        rows through :class:`_GatedMix`, which computes Eq. (4) with a hand-written backward
        (about a third of the full-size (B, H', D) memory passes of the autograd composition,
        :meth:`forward_reference`; equal up to float rounding, see tests/mixing/test_ddg_fast.py).
        """
        del generator
        self._check_pair(s, t)
        heads = self._check_heads(heads)
        b = s.shape[0]
        x = torch.cat([s, t])  # (2B, D): the kept sample of each direction
        y = torch.cat([t, s])  # (2B, D): the gated (and key) sample of each direction
        w_q, b_q, e_k, b_k = self.head_params(heads)  # (H', r, D), (H', r), (H', D, r) x 2
        q = torch.einsum("bd,hrd->bhr", x, w_q) + b_q  # q^h = W_Q^h x + b_Q^h, (2B, H', r)
        s_gen, t_gen = _GatedMix.apply(x, y, q, e_k, b_k, self.lam, b)  # (B, H', D) each
        return self._generated(s_gen, t_gen)

    def forward_split(
        self, s: Tensor, t: Tensor, heads: Tensor, *, generator: torch.Generator | None = None
    ) -> Generated:
        """Eq. (4) with the batch dealt out over ``heads``: row i goes through head
        ``heads[i mod H']`` only, so each step covers H' generated domains with one generated
        sample per row and direction (what OSAN uses; :meth:`forward` sends every row through
        every head). Uses the first n·H' rows, n = B // H' (H' is cut to B when B < H').

        Shape:
            s, t: (B, D); heads: (H',)
            output: :class:`Generated` with source/target (n·H', 1, D) in row order, labels (1,)

        ``generator`` is accepted and ignored, as in :meth:`forward`.
        """
        del generator
        self._check_pair(s, t)
        heads = self._check_heads(heads)
        if heads is None:
            raise ValueError("forward_split needs the step's heads")
        heads, n = deal_rows(s.shape[0], heads)
        k, r, dim = len(heads), self.key_dim, self.dim
        # row i = a·k + j -> head j: (n·k, D) -> (k, n, D), one group of rows per head
        s_h = s[: n * k].view(n, k, dim).transpose(0, 1)
        t_h = t[: n * k].view(n, k, dim).transpose(0, 1)
        x = torch.cat([s_h, t_h], dim=1)  # (k, 2n, D): kept samples, both directions
        y = torch.cat([t_h, s_h], dim=1)  # (k, 2n, D): gated (and key) samples
        w, b, e_k, b_k = self.head_params(heads)  # (k, r, D), (k, r), (k, D, r) x 2
        a = (torch.bmm(x, w.transpose(1, 2)) + b.unsqueeze(1)) / math.sqrt(r)  # (k, 2n, r)
        scores = y * torch.bmm(a, e_k.transpose(1, 2)) + torch.bmm(a, b_k.transpose(1, 2))
        gate = dim * torch.softmax(scores, dim=-1)  # Norm(p), (k, 2n, D)
        out = self.lam * x + (1.0 - self.lam) * (y * gate)  # Eq. (4), (k, 2n, D)
        s_gen = out[:, :n].transpose(0, 1).reshape(n * k, 1, dim)  # back to row order
        t_gen = out[:, n:].transpose(0, 1).reshape(n * k, 1, dim)
        return self._generated(s_gen, t_gen)

    def forward_reference(
        self,
        s: Tensor,
        t: Tensor,
        heads: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Generated:
        """Eq. (4) as a plain autograd composition of :meth:`relevance` (the implementation
        before the fused path); the reference that :meth:`forward` must equal (tests,
        ``benchmarks/step.py``)."""
        del generator
        lam = self.lam
        gate_s = self.relevance(s, t, heads)  # relevance of t's elements to s: (B, H', D)
        gate_t = self.relevance(t, s, heads)  # relevance of s's elements to t: (B, H', D)
        s_gen = lam * s.unsqueeze(1) + (1.0 - lam) * (t.unsqueeze(1) * gate_s)  # Eq. (4)
        t_gen = lam * t.unsqueeze(1) + (1.0 - lam) * (s.unsqueeze(1) * gate_t)
        return self._generated(s_gen, t_gen)

    def _check_pair(self, s: Tensor, t: Tensor) -> None:
        if s.dim() != 2 or s.shape != t.shape:
            raise ValueError(
                f"s and t must both be (B, {self.dim}), got {tuple(s.shape)} and {tuple(t.shape)}"
            )
        if s.shape[1] != self.dim:
            raise ValueError(f"expected feature dim {self.dim}, got {s.shape[1]}")

    def _generated(self, s_gen: Tensor, t_gen: Tensor) -> Generated:
        n, lam = s_gen.shape[1], self.lam
        return Generated(
            source=s_gen,
            target=t_gen,
            source_domain_label=torch.full((n,), 1.0 - lam, device=s_gen.device, dtype=s_gen.dtype),
            target_domain_label=torch.full((n,), lam, device=s_gen.device, dtype=s_gen.dtype),
        )


def deal_rows(rows: int, heads: Tensor) -> tuple[Tensor, int]:
    """How ``forward_split`` deals ``rows`` samples out over ``heads``: row i goes to head
    i mod H'. Returns the heads used (cut to ``rows`` when there are fewer rows than heads)
    and n, the rows per head; the first n·H' rows are used, the remainder is dropped.

    Shape: heads (H',) -> (min(H', rows) or 1,), n
    """
    heads = heads[: max(1, min(len(heads), rows))]
    return heads, rows // len(heads)


class _GatedMix(torch.autograd.Function):
    """Eq. (4) for a batch of (kept x, gated y) rows and H' heads, forward and backward fused.

    With a^h = q^h / √r (the scale folded into the small query), per row and head

        M^h   = y ⊙ (E_K^h a^h) + B_K^h a^h                  (scores, = ⟨q^h, K^h[j]⟩ / √r)
        p^h   = softmax_j(M^h)                               (Norm(p^h) = D·p^h is the gate)
        out^h = λ · x + c · y ⊙ p^h,    c = (1 − λ)·D

    Rows [0, split) are returned as the first output, the rest as the second (DDG stacks the
    s→t and t→s directions). Backward, with G^h = ∂L/∂out^h, w^h = G^h ⊙ y and
    d^h = p^h ⊙ (w^h − ⟨p^h, w^h⟩) (softmax backward; ∂L/∂M^h = c·d^h):

        ∂L/∂x     = λ Σ_h G^h
        ∂L/∂y     = c Σ_h (G^h ⊙ p^h + d^h ⊙ E_K^h a^h)
        ∂L/∂q^h   = c/√r · (E_K^hᵀ (d^h ⊙ y) + B_K^hᵀ d^h)
        ∂L/∂E_K^h = c · (d^h ⊙ y)ᵀ a^h,    ∂L/∂B_K^h = c · (d^h)ᵀ a^h

    The constants c, 1/√r are applied to the small tensors, so each full-size (H', N, D)
    tensor is touched as few times as the algebra allows (the step is memory-bound on CPU).
    Internally the heads lead, (H', N, D), so every per-head product is one ``bmm``; the heads
    go in chunks of about ``CHUNK_ELEMENTS`` elements (sums over heads accumulate per chunk).

    Shape:
        x, y: (N, D); q: (N, H', r); e_k, b_k: (H', D, r)
        output: (split, H', D) and (N − split, H', D)
    """

    @staticmethod
    def forward(ctx, x, y, q, e_k, b_k, lam, split):  # type: ignore[override]
        n, dim = x.shape
        heads, r = q.shape[1], q.shape[2]
        a_h = (q / math.sqrt(r)).transpose(0, 1)  # (H', N, r)
        kept = lam * x  # (N, D)
        coeff = (1.0 - lam) * dim
        out_s = x.new_empty(split, heads, dim)  # (B, H', D)
        out_t = x.new_empty(n - split, heads, dim)  # (N − B, H', D)
        saved = []
        for c in _head_chunks(heads, n * dim):
            qe = torch.bmm(a_h[c], e_k[c].transpose(1, 2))  # (h, N, D): E_K^h a^h per row
            scores = torch.bmm(a_h[c], b_k[c].transpose(1, 2))  # (h, N, D): B_K^h a^h
            scores.addcmul_(qe, y)  # M^h = y ⊙ E a + B a
            p = torch.softmax(scores, dim=-1)  # (h, N, D)
            del scores
            for out, rows in ((out_s, slice(0, split)), (out_t, slice(split, n))):
                # λ·x + c·y ⊙ p, written in the (n, H', D) layout the discriminator reads
                view = out.transpose(0, 1)[c]  # (h, n, D)
                torch.addcmul(kept[rows], p[:, rows], y[rows], value=coeff, out=view)
            saved += [qe, p]
        ctx.save_for_backward(y, a_h, e_k, b_k, *saved)
        ctx.lam, ctx.split = lam, split
        return out_s, out_t

    @staticmethod
    def backward(ctx, grad_s, grad_t):  # type: ignore[override]
        y, a_h, e_k, b_k, *saved = ctx.saved_tensors
        lam, split = ctx.lam, ctx.split
        heads, n, r = a_h.shape
        dim = y.shape[1]
        coeff = (1.0 - lam) * dim
        if grad_s is None:
            grad_s = y.new_zeros(split, heads, dim)
        if grad_t is None:
            grad_t = y.new_zeros(n - split, heads, dim)
        need_x, need_y, need_q, need_e, need_b = ctx.needs_input_grad[:5]
        grad_x = y.new_zeros(n, dim) if need_x else None
        grad_y = y.new_zeros(n, dim) if need_y else None
        grad_a = y.new_empty(heads, n, r) if need_q else None
        grad_e = torch.empty_like(e_k) if need_e else None
        grad_b = torch.empty_like(b_k) if need_b else None
        for k, c in enumerate(_head_chunks(heads, n * dim)):
            qe, p = saved[2 * k], saved[2 * k + 1]  # (h, N, D)
            # (h, N, D) contiguous: elementwise ops with a transposed operand are ~2x slower
            grad = torch.cat([grad_s.transpose(0, 1)[c], grad_t.transpose(0, 1)[c]], dim=1)
            if need_x:
                grad_x += grad.sum(0)  # (N, D)
            g_p = grad * p  # (h, N, D) G ⊙ p
            del grad
            d = g_p * y  # (h, N, D) w ⊙ p
            d.addcmul_(p, d.sum(-1, keepdim=True), value=-1.0)  # p ⊙ (w − ⟨p, w⟩): ∂L/∂M = c·d
            if need_y:
                grad_y += g_p.addcmul_(d, qe).sum(0)  # Σ_h G ⊙ p + d ⊙ E a
            del g_p
            if need_q or need_e:
                d_y = d * y  # (h, N, D): ∂L/∂(E a) / c
            if need_q:
                torch.baddbmm(torch.bmm(d, b_k[c]), d_y, e_k[c], out=grad_a[c])  # (h, N, r)
            if need_e:
                torch.bmm(d_y.transpose(1, 2), a_h[c], out=grad_e[c])  # (h, D, r)
            if need_b:
                torch.bmm(d.transpose(1, 2), a_h[c], out=grad_b[c])  # (h, D, r)
        grad_q = None
        if need_x:
            grad_x.mul_(lam)
        if need_y:
            grad_y.mul_(coeff)
        if need_q:
            grad_q = grad_a.transpose(0, 1).mul(coeff / math.sqrt(r))  # (N, H', r)
        if need_e:
            grad_e.mul_(coeff)
        if need_b:
            grad_b.mul_(coeff)
        return grad_x, grad_y, grad_q, grad_e, grad_b, None, None


#: Heads are processed in chunks of about this many (H', N, D) elements (4 MB in float32), so
#: that the memory-bound elementwise work stays in cache and its time per head does not grow
#: with H (benchmarks/scaling.py measures it); each chunk is one batched computation.
CHUNK_ELEMENTS = 1 << 20


def _head_chunks(heads: int, per_head: int) -> list[slice]:
    """Consecutive head ranges of about ``CHUNK_ELEMENTS`` elements each (at least one head)."""
    size = max(1, CHUNK_ELEMENTS // max(per_head, 1))
    return [slice(h, min(h + size, heads)) for h in range(0, heads, size)]
