"""Per-domain input standardisation: each feature channel of each modality z-scored with the
statistics of its own domain's training features.

Features of two domains often differ by a per-channel scale and offset (another face tracker,
another microphone, another feature extractor's version); a shared input projection then sees
the target on another scale than the one it learned. Standardising each domain with its own
mean and standard deviation, computed over the valid (unpadded) time steps of the training
split, removes that part of the shift before any layer sees it. It reads features only, never a
label, so the target's unlabelled training split may be used (as AdaBN does with BatchNorm's
statistics). The statistics are buffers: checkpoints keep them, and evaluation and prediction
use the training statistics of the domain named.

    x'_{b,l,c} = (x_{b,l,c} − μ_c) / σ_c,   μ, σ over {(b, l): l < length_b} of the train split
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["InputStandardizer", "channel_moments"]


def channel_moments(
    features: np.ndarray, lengths: np.ndarray, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over the valid time steps, in float64 chunks
    (no copy of the whole array).

    Shape: features (N, L, I), lengths (N,) -> mean (I,), std (I,)
    """
    n, steps, dim = features.shape
    total = np.zeros(dim)
    square = np.zeros(dim)
    count = 0
    for lo in range(0, n, chunk):
        x = np.asarray(features[lo : lo + chunk], dtype=np.float64)  # (n', L, I)
        valid = np.arange(steps)[None, :] < np.asarray(lengths[lo : lo + chunk])[:, None]
        rows = x[valid]  # (M, I)
        total += rows.sum(axis=0)
        square += np.square(rows).sum(axis=0)
        count += rows.shape[0]
    if count == 0:
        return np.zeros(dim), np.ones(dim)
    mean = total / count
    var = np.maximum(square / count - np.square(mean), 0.0)
    return mean, np.sqrt(var)


class InputStandardizer(nn.Module):
    """x ↦ (x − μ) / σ per channel; identity until :meth:`fit` is called.

    Channels with σ below ``eps`` (constant in training) are only centred; ``scale=False``
    centres every channel (x ↦ x − μ).

    Shape: (B, L, I) -> (B, L, I)
    """

    def __init__(self, dim: int, eps: float = 1e-6, scale: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.scale = scale  # False: centre only (σ stays 1)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, features: np.ndarray, lengths: np.ndarray) -> None:
        """Set μ, σ from one split's features (N, L, I) and true lengths (N,)."""
        mean, std = channel_moments(features, lengths)
        std = np.where((std < self.eps) | (not self.scale), 1.0, std)
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std
