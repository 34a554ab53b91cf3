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

1. Query of head h from s (one ``Linear`` D → H·r produces all heads at once):
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
M^h = (t ⊙ (E_K^h q^h) + B_K^h q^h) / √r, so the cost is O(B·H·D·r), linear in H, with no Python
loop over heads. ``heads`` selects a subset of heads per step (bounding the discriminator's cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["DynamicDomainGenerator", "Generated"]


@dataclass
class Generated:
    """Samples of H' generated domains and their soft domain labels (probability of "target").

    Shape:
        source: (B, H', D) generated from the source samples (s' per head)
        target: (B, H', D) generated from the target samples (t' per head)
        source_domain_label: (H',) label of every ``source[:, h]``
        target_domain_label: (H',) label of every ``target[:, h]``
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
        self.query = nn.Linear(dim, heads * key_dim)  # W_Q, b_Q of all heads
        self.key_embed = nn.Parameter(torch.randn(heads, dim, key_dim))  # E_K: (H, D, r)
        self.key_bias = nn.Parameter(torch.randn(heads, dim, key_dim))  # B_K: (H, D, r)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.num_heads}, lam={self.lam}, key_dim={self.key_dim}"

    def _check_heads(self, heads: Tensor | None) -> Tensor | None:
        if heads is None:
            return None
        if heads.dim() != 1 or heads.numel() == 0 or heads.dtype not in (torch.int64, torch.int32):
            raise ValueError("heads must be a non-empty 1-D integer tensor of head indices")
        if int(heads.min()) < 0 or int(heads.max()) >= self.num_heads:
            raise ValueError(f"head indices must lie in [0, {self.num_heads})")
        return heads.to(device=self.key_embed.device, dtype=torch.int64)

    def relevance(self, query_src: Tensor, key_src: Tensor, heads: Tensor | None = None) -> Tensor:
        """The gate Norm(p^h) = D · softmax_j(⟨q^h, K^h[j]⟩ / √r) over the elements of
        ``key_src``, with queries from ``query_src``: how relevant each element of ``key_src`` is
        to ``query_src`` under each head. Averages 1 over the last axis.

        Shape:
            query_src, key_src: (B, D); heads: (H',) or None
            output: (B, H', D)
        """
        if query_src.dim() != 2 or query_src.shape != key_src.shape:
            raise ValueError(
                f"s and t must both be (B, {self.dim}), got {tuple(query_src.shape)} "
                f"and {tuple(key_src.shape)}"
            )
        if query_src.shape[1] != self.dim:
            raise ValueError(f"expected feature dim {self.dim}, got {query_src.shape[1]}")
        heads = self._check_heads(heads)
        r = self.key_dim
        if heads is None:
            q = self.query(query_src).view(query_src.shape[0], self.num_heads, r)  # (B, H, r)
            e_k, b_k = self.key_embed, self.key_bias  # (H, D, r)
        else:
            w = self.query.weight.view(self.num_heads, r, self.dim)[heads]  # (H', r, D)
            b = self.query.bias.view(self.num_heads, r)[heads]  # (H', r)
            q = torch.einsum("bd,hrd->bhr", query_src, w) + b  # (B, H', r)
            e_k, b_k = self.key_embed[heads], self.key_bias[heads]  # (H', D, r)
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
        and ignored (DDG is deterministic), so that DDG and ``MixupGenerator`` are called alike."""
        del generator
        lam = self.lam
        gate_s = self.relevance(s, t, heads)  # relevance of t's elements to s: (B, H', D)
        gate_t = self.relevance(t, s, heads)  # relevance of s's elements to t: (B, H', D)
        s_gen = lam * s.unsqueeze(1) + (1.0 - lam) * (t.unsqueeze(1) * gate_s)  # Eq. (4)
        t_gen = lam * t.unsqueeze(1) + (1.0 - lam) * (s.unsqueeze(1) * gate_t)
        n = s_gen.shape[1]
        return Generated(
            source=s_gen,
            target=t_gen,
            source_domain_label=torch.full((n,), 1.0 - lam, device=s.device, dtype=s.dtype),
            target_domain_label=torch.full((n,), lam, device=s.device, dtype=s.dtype),
        )
