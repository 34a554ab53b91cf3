"""TENT (Wang et al., "Tent: Fully Test-time Adaptation by Entropy Minimization", ICLR 2021):
minimise the entropy of the target predictions, updating only the normalisation affines
(:func:`osan.testtime.norms.norm_affines`). Classification only.

    L_TENT = 1/B Σ_b H(p_b),   H(p) = − Σ_k p_k log p_k,   p_b = softmax(f(x_b))
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def entropy(logits: Tensor) -> Tensor:
    """H(softmax(logits)) per row. Shape: (B, K) -> (B,)"""
    logp = F.log_softmax(logits, dim=-1)  # (B, K)
    return -(logp.exp() * logp).sum(-1)


def tent_loss(logits: Tensor) -> Tensor:
    """Mean prediction entropy. Shape: (B, K) -> ()"""
    return entropy(logits).mean()
