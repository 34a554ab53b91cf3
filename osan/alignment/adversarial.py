"""Domain-adversarial loss L_adv of Eq. (5) with soft domain labels (paper §3.2–3.3).

The discriminator outputs a logit z per sample, the log-odds of "target domain". Real samples have
hard labels (source 0, target 1); samples of a generated domain have a soft label y ∈ [0, 1]
(for DDG, s' is (1 − λ)-target and t' is λ-target). The loss is the binary cross-entropy

    ℓ(z, y) = −[y · log σ(z) + (1 − y) · log(1 − σ(z))],    ∂ℓ/∂z = σ(z) − y,

minimised over z at z = σ⁻¹(y): a soft label asks the discriminator for a calibrated probability,
not for a decision. Used behind a gradient-reversal layer, minimising it trains D and (through
the reversed gradient) makes the features domain-confusing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["domain_accuracy", "domain_adversarial_loss"]


def domain_adversarial_loss(
    logits: Tensor, target: Tensor | float, weight: Tensor | None = None
) -> Tensor:
    """Binary cross-entropy with logits and soft domain targets (1 = target, 0 = source).

        L = mean_i ℓ(z_i, y_i)              (no weight)
        L = Σ_i w_i ℓ(z_i, y_i) / Σ_i w_i   (weighted mean)

    Args:
        logits: discriminator logits z.
        target: probability of "target domain" per sample, in [0, 1]; anything broadcastable to
            ``logits`` (e.g. a float, or per-head labels (H,) against logits (B, H)).
        weight: optional non-negative weights broadcastable to ``logits``.

    Shape:
        logits: (N,) or any shape (e.g. (B, H)); target, weight: broadcastable to it
        output: () scalar
    """
    target = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
    target = torch.broadcast_to(target, logits.shape)
    if logits.numel() == 0:
        raise ValueError("empty logits")
    if not torch.all((target >= 0) & (target <= 1)):  # also rejects NaN
        raise ValueError("domain targets must lie in [0, 1]")
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weight is None:
        return loss.mean()
    weight = torch.broadcast_to(weight.to(loss.dtype), loss.shape)
    if torch.any(weight < 0):
        raise ValueError("weights must be non-negative")
    total = weight.sum()
    if total <= 0:
        raise ValueError("weights sum to 0")
    return (weight * loss).sum() / total


@torch.no_grad()
def domain_accuracy(logits: Tensor, target: Tensor | float) -> float:
    """Fraction of samples whose predicted domain (z > 0 ⇒ target) equals the hard target (0/1);
    for logs only.

    Shape:
        logits: any shape; target: broadcastable to it, values in {0, 1}
    """
    target = torch.broadcast_to(torch.as_tensor(target, device=logits.device), logits.shape)
    if not torch.all((target == 0) | (target == 1)):
        raise ValueError("domain_accuracy needs hard targets (0 or 1)")
    if logits.numel() == 0:
        raise ValueError("empty logits")
    return float(((logits > 0) == (target == 1)).float().mean())
