"""Minimum Class Confusion (Jin, Wang, Long, Wang, "Minimum Class Confusion for Versatile
Domain Adaptation", ECCV 2020, https://arxiv.org/abs/1912.03699).

On the target logits g (B, C), with temperature T (published 2.5):

    Ŷ   = softmax(g / T)                                          (Eq. 1)
    W   = B · (1 + exp(−H(Ŷ_i))) / Σ_j (1 + exp(−H(Ŷ_j)))         (Eq. 3: entropy weights,
                                                                    no gradient)
    C   = Ŷᵀ diag(W) Ŷ                                             (Eq. 4)
    C̃_jj' = C_jj' / Σ_j'' C_j''j'                                  (Eq. 6: category normalisation)
    L   = (Σ_jj' C̃_jj' − Σ_j C̃_jj) / C                            (Eq. 7: the off-diagonal mass)

Classification only: a regression output has no class probabilities.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mcc"]

_ENTROPY_EPS = 1e-5  # as the reference code's entropy: −Σ p log(p + 1e-5)


def mcc(logits: Tensor, *, temperature: float = 2.5) -> Tensor:
    """Class-confusion loss on a batch of target logits.

    Shape:
        logits: (B, C) -> scalar
    """
    b, c = logits.shape
    with torch.autocast(logits.device.type, enabled=False):
        p = torch.softmax(logits.float() / temperature, dim=1)  # (B, C)
        entropy = -(p * torch.log(p + _ENTROPY_EPS)).sum(1).detach()  # (B,)
        w = 1 + torch.exp(-entropy)  # (B,)
        w = (b * w / w.sum()).unsqueeze(1)  # (B, 1)
        conf = (p * w).T @ p  # (C, C)
        conf = conf / conf.sum(0, keepdim=True)  # column j' divided by its sum
        return (conf.sum() - conf.trace()) / c
