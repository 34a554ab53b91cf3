"""Class-conditional domain alignment, CDAN-style (Long et al., "Conditional Adversarial Domain
Adaptation", NeurIPS 2018): the discriminator sees the features together with the model's own
prediction, so that it aligns the joint of features and predicted classes instead of the
marginal of the features (which label shift breaks).

    T(f, g) = (R_f f) ⊙ (R_g g) / √d        (CDAN's randomised multilinear map)

``R_f`` (D × d) and ``R_g`` (K × d) are fixed Gaussian matrices, ``g`` the prediction as a
distribution over K outcomes: the softmax of the logits for classes; for regression, a soft
assignment of the predicted score to K bins over the label range (Gaussian kernels at the bin
centres, width one bin). Predictions are detached: the condition is not trained through ``T``.
No target label is read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from osan.types import SENTIMENT_RANGE

__all__ = ["RandomizedMultilinear", "prediction_condition"]


def prediction_condition(pred: Tensor, task: str, bins: int) -> Tensor:
    """The prediction as a distribution over outcomes, detached.

    Shape: (B, K) logits (classification) or (B,) scores (regression) -> (B, K) or (B, bins)
    """
    pred = pred.detach()
    if task == "classification":
        return F.softmax(pred, dim=-1)
    lo, hi = SENTIMENT_RANGE
    centres = torch.linspace(lo, hi, bins, device=pred.device, dtype=pred.dtype)  # (bins,)
    width = (hi - lo) / max(bins - 1, 1)
    logits = -0.5 * ((pred.reshape(-1, 1) - centres) / width) ** 2  # (B, bins)
    return F.softmax(logits, dim=-1)


class RandomizedMultilinear(nn.Module):
    """CDAN's randomised multilinear map of features and a condition.

    Shape: f (B, D), g (B, K) -> (B, d)
    """

    def __init__(self, feat_dim: int, cond_dim: int, out_dim: int = 1024, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.out_dim = out_dim
        self.register_buffer("r_f", torch.randn(feat_dim, out_dim, generator=gen))
        self.register_buffer("r_g", torch.randn(cond_dim, out_dim, generator=gen))

    def forward(self, f: Tensor, g: Tensor) -> Tensor:
        return (f @ self.r_f) * (g @ self.r_g) / math.sqrt(self.out_dim)
