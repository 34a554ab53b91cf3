"""Importance weights for domain alignment under label shift (IWDAN-style, without labels).

Aligning the marginal feature distributions of two domains whose class priors differ pulls
the classes onto each other (Zhao et al., ICML 2019). IWDAN (Tachet des Combes et al., NeurIPS
2020) re-weights the source rows of the domain loss by w_k = p_t(y = k) / p_s(y = k), so that
the *re-weighted* source marginal is the one the target would have with the source's
class-conditionals. Here the target class frequencies are estimated from the model's own
target predictions (no target label is read), with running means over steps:

    p_s(k) ← m·p_s(k) + (1 − m)·mean_i 1[bin(y_i^s) = k]
    q_t(k) ← m·q_t(k) + (1 − m)·mean_j 1[bin(ŷ_j^t) = k]
    w_k    = clip(q_t(k) / p_s(k), w_min, w_max),   row weight of source row i: w_{bin(y_i^s)}

Classification: bin = class id. Regression (sentiment in [-3, 3]): three bins, negative
(y < −``neutral``), neutral, positive (y > ``neutral``).

Shape:
    update(y_s (B_s,), pred_t (B_t,) or (B_t, K))
    weights(y_s (B_s,)) -> (B_s,), mean 1 over the rows
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LabelShiftWeights"]


class LabelShiftWeights(nn.Module):
    """Running class-ratio estimate w = q_t / p_s and per-row source weights."""

    def __init__(
        self,
        task: str,
        num_classes: int,
        *,
        momentum: float = 0.98,
        neutral: float = 0.5,
        clip: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        super().__init__()
        self.task = task
        self.bins = num_classes if task == "classification" else 3
        self.momentum = float(momentum)
        self.neutral = float(neutral)
        self.clip = clip
        uniform = torch.full((self.bins,), 1.0 / self.bins)
        self.register_buffer("source_freq", uniform.clone())  # (K,)
        self.register_buffer("target_freq", uniform.clone())  # (K,)

    def bin_of(self, y: Tensor) -> Tensor:
        """Bin ids of labels or predictions. Shape: (B,) or (B, K) logits -> (B,) int64"""
        if self.task == "classification":
            return (y.argmax(-1) if y.dim() == 2 else y).long()
        y = y.reshape(-1)
        return (y >= -self.neutral).long() + (y > self.neutral).long()  # 0 neg, 1 neu, 2 pos

    def _freq(self, bins: Tensor) -> Tensor:
        counts = torch.bincount(bins, minlength=self.bins).to(self.source_freq)
        return counts / counts.sum().clamp_min(1)  # (K,)

    @torch.no_grad()
    def update(self, y_s: Tensor, pred_t: Tensor) -> None:
        m = self.momentum
        self.source_freq.mul_(m).add_((1 - m) * self._freq(self.bin_of(y_s)))
        self.target_freq.mul_(m).add_((1 - m) * self._freq(self.bin_of(pred_t)))

    def ratio(self) -> Tensor:
        """w_k = q_t(k) / p_s(k), clipped. Shape: (K,)"""
        w = self.target_freq / self.source_freq.clamp_min(1e-6)
        return w.clamp(*self.clip)

    @torch.no_grad()
    def weights(self, y_s: Tensor) -> Tensor:
        """Per-row weights of source rows, normalised to mean 1. Shape: (B_s,)"""
        w = self.ratio()[self.bin_of(y_s)]  # (B_s,)
        return w / w.mean().clamp_min(1e-12)
