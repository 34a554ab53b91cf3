"""Per-modality sequence encoders with per-domain input projections.

Domains may differ in each modality's feature dim (MMSA: MOSEI audio/vision 74/35, MOSI 5/20),
so every modality has one input projection per domain into a shared width, followed by a
sequence layer and pooling shared by both domains.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from osan.data.domain import Split
from osan.nn.standardize import InputStandardizer
from osan.types import Batch


def length_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Shape: lengths (B,) -> mask (B, L) with True on valid steps."""
    steps = torch.arange(max_len, device=lengths.device)  # (L,)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)


def masked_mean_max(x: Tensor, mask: Tensor) -> Tensor:
    """Mean and max over valid steps, concatenated.

    Shape: x (B, L, C), mask (B, L) -> (B, 2C)
    """
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, L, 1)
    mean = (x * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, C)
    neg = torch.finfo(x.dtype).min
    mx = x.masked_fill(~mask.unsqueeze(-1), neg).amax(1)  # (B, C)
    return torch.cat([mean, mx], dim=-1)  # (B, 2C)


class SequenceEncoder(nn.Module):
    """Encodes one modality's padded sequence into a vector.

    ``kind``: ``"conv"`` (temporal convolution, kernel 3, then masked mean+max pooling;
    sees local order such as negation), ``"gru"`` (a GRU read to each sample's true length)
    or ``"mean"`` (masked mean+max pooling of the projected features).

    Shape: x (B, L, C) with lengths (B,) -> (B, out_dim)
    """

    def __init__(self, hidden: int, out_dim: int, kind: str = "conv", dropout: float = 0.1):
        super().__init__()
        self.kind = kind
        if kind == "conv":
            self.seq = nn.Conv1d(hidden, hidden, kernel_size=3, padding=1)
        elif kind == "gru":
            self.seq = nn.GRU(hidden, hidden, batch_first=True)
        elif kind != "mean":
            raise ValueError(f"unknown encoder kind {kind!r}")
        pooled = hidden if kind == "gru" else 2 * hidden
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(pooled, out_dim), nn.GELU())

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        mask = length_mask(lengths, x.shape[1])  # (B, L)
        x = x * mask.unsqueeze(-1).to(x.dtype)  # padding never leaks into valid steps
        if self.kind == "conv":
            # contiguous: GELU's backward on a transposed view is ~12x slower on CPU
            y = self.seq(x.transpose(1, 2)).transpose(1, 2).contiguous()  # (B, L, C)
            pooled = masked_mean_max(torch.nn.functional.gelu(y) + x, mask)  # (B, 2C)
        elif self.kind == "gru":
            y, _ = self.seq(x)  # (B, L, C)
            last = (lengths - 1).clamp_min(0)  # (B,)
            pooled = y[torch.arange(y.shape[0], device=y.device), last]  # (B, C)
        else:
            pooled = masked_mean_max(x, mask)  # (B, 2C)
        return self.out(pooled)


class MultimodalEncoder(nn.Module):
    """Named-modality encoder for two domains.

    Args:
        dims: ``{"source": {"text": 768, "audio": 74, ...}, "target": {...}}`` input dims per
            domain and modality (both domains must have the same modality names).
        out_dims: embedding size per modality, ``{"text": 512, "vision": 32, "audio": 32}``.

        share_input_proj: modalities with equal dims in both domains use one input projection.

    Shape: batch.features[m] (B, L_m, I_m^domain) -> {m: (B, out_dims[m])}
    """

    def __init__(
        self,
        dims: dict[str, dict[str, int]],
        out_dims: dict[str, int],
        *,
        hidden: int = 128,
        kind: str = "conv",
        dropout: float = 0.1,
        share_input_proj: bool = True,
        input_norm: str = "none",
    ) -> None:
        super().__init__()
        domains = list(dims)
        modalities = list(dims[domains[0]])
        for d in domains[1:]:
            if set(dims[d]) != set(modalities):
                raise ValueError(
                    f"domains disagree on modalities: {domains[0]} has {sorted(modalities)}, "
                    f"{d} has {sorted(dims[d])}"
                )
        self.modalities = modalities
        self.out_dims = {m: int(out_dims[m]) for m in modalities}
        # One projection per (domain, modality); a modality whose dims agree across domains
        # shares one projection when ``share_input_proj`` (then source training reaches the
        # target path, as Direct Transfer assumes).
        shared: dict[str, nn.Module] = {}
        per_domain: dict[str, dict[str, nn.Module]] = {d: {} for d in domains}
        for m in modalities:
            same = len({dims[d][m] for d in domains}) == 1
            for d in domains:
                if share_input_proj and same:
                    if m not in shared:
                        shared[m] = nn.Sequential(
                            nn.Linear(dims[d][m], hidden), nn.LayerNorm(hidden)
                        )
                    per_domain[d][m] = shared[m]
                else:
                    per_domain[d][m] = nn.Sequential(
                        nn.Linear(dims[d][m], hidden), nn.LayerNorm(hidden)
                    )
        self.shared_modalities = sorted(shared)
        self.input_proj = nn.ModuleDict({d: nn.ModuleDict(per_domain[d]) for d in domains})
        self.encoders = nn.ModuleDict(
            {m: SequenceEncoder(hidden, self.out_dims[m], kind, dropout) for m in modalities}
        )
        if input_norm not in ("none", "center", "domain"):
            raise ValueError(f"input_norm must be 'none', 'center' or 'domain', got {input_norm!r}")
        self.input_norm = None
        if input_norm != "none":  # per (domain, modality) statistics: fit_input_norm
            scale = input_norm == "domain"
            self.input_norm = nn.ModuleDict(
                {
                    d: nn.ModuleDict(
                        {m: InputStandardizer(dims[d][m], scale=scale) for m in modalities}
                    )
                    for d in domains
                }
            )

    def fit_input_norm(self, domain: str, split: Split) -> None:
        """Set ``domain``'s per-channel input statistics from ``split`` (its training split;
        features only). A no-op without ``input_norm="domain"``."""
        if self.input_norm is None:
            return
        for m in self.modalities:
            self.input_norm[domain][m].fit(split.features[m], split.lengths[m])

    def forward(self, batch: Batch, domain: str) -> dict[str, Tensor]:
        proj = self.input_proj[domain]
        out = {}
        norm = None if self.input_norm is None else self.input_norm[domain]
        for m in self.modalities:
            x = batch.features[m]  # (B, L_m, I_m)
            if norm is not None:
                x = norm[m](x)  # this domain's per-channel z-scores
            x = proj[m](x)  # (B, L_m, hidden)
            out[m] = self.encoders[m](x, batch.lengths[m])  # (B, out_dims[m])
        return out


class MLPHead(nn.Module):
    """Task head: (B, D) -> (B,) for regression (``out=1``) or (B, K) logits.

    ``norm``: a LayerNorm over the whole input first (off where the representation already
    normalises each of its blocks, e.g. OSAN's residual fusion)."""

    def __init__(self, in_dim: int, hidden: int, out: int, dropout: float = 0.1, norm: bool = True):
        super().__init__()
        self.out = out
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim) if norm else nn.Identity(),  # off: the input is normalised
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, out),
        )

    def hidden(self, x: Tensor) -> Tensor:
        """The hidden layer's activations (after the GELU). Shape: (B, D) -> (B, hidden)"""
        return self.net[:-1](x)

    def output(self, z: Tensor) -> Tensor:
        """The last layer on :meth:`hidden`'s activations. Shape: (B, hidden) -> (B,) or (B, K)"""
        y = self.net[-1](z)  # (B, out)
        return y.squeeze(-1) if self.out == 1 else y

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.hidden(x))
