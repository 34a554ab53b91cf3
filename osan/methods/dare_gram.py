"""DARE-GRAM (Nejjar et al., CVPR 2023) in osan's harness.

The Direct-Transfer model with the inverse-Gram alignment of the fused source and target
features (what the head reads, with a column of ones: Z = [1 | f]) added:

    L = L_task(h(f_s), y_s) + α · L_angle + γ · L_scale

Knobs: ``baselines.dare_alpha`` (α, published 0.05), ``baselines.dare_gamma`` (γ, 0.001),
``baselines.dare_threshold`` (T, 0.9).
"""

from __future__ import annotations

from torch import Tensor

from osan.alignment.dare_gram import dare_gram
from osan.methods.base import FeatureAligner


class DAREGRAM(FeatureAligner):
    """Direct Transfer + α·angle + γ·scale of the inverse Gram matrices (one stage)."""

    name = "dare-gram"

    def alignment_terms(
        self, f_s: Tensor, f_t: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        base = self.cfg.baselines
        angle, scale = dare_gram(f_s, f_t, threshold=base.dare_threshold)
        return {"angle": angle, "scale": scale}, {
            "angle": base.dare_alpha,
            "scale": base.dare_gamma,
        }
