"""DARE-GRAM (Nejjar et al., CVPR 2023) in osan's harness.

The Direct-Transfer model with the inverse-Gram alignment of the fused source and target
features (what the head reads, with a column of ones: Z = [1 | f]) added:

    L = L_task(h(f_s), y_s) + α · L_angle + γ · L_scale

Knobs: ``baselines.dare_alpha`` (α, published 0.05), ``baselines.dare_gamma`` (γ, 0.001),
``baselines.dare_threshold`` (T, 0.9).
"""

from __future__ import annotations

from osan.alignment.dare_gram import dare_gram
from osan.config import Config
from osan.methods.base import Method, combine
from osan.types import Batch, StepOutput


class DAREGRAM(Method):
    """Direct Transfer + α·angle + γ·scale of the inverse Gram matrices (one stage)."""

    name = "dare-gram"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        base = self.cfg.baselines
        angle, scale = dare_gram(f_s, f_t, threshold=base.dare_threshold)
        terms = {"task": self.task_loss(self.head(f_s), src.label), "angle": angle, "scale": scale}
        return combine(terms, {"angle": base.dare_alpha, "scale": base.dare_gamma})
