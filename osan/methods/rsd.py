"""RSD: Representation Subspace Distance (Chen et al., ICML 2021) in osan's harness.

The Direct-Transfer model with the subspace distance between the fused source and target
features (what the head reads) added:

    L = L_task(h(f_s), y_s) + λ · (Σ_i sin θ_i + β · ‖|P_s| − |P_t|‖_F)

Knobs: ``baselines.rsd_tradeoff`` (λ, published 0.001), ``baselines.rsd_beta`` (β, 0.1).
"""

from __future__ import annotations

from osan.alignment.rsd import rsd
from osan.config import Config
from osan.methods.base import Method, combine
from osan.types import Batch, StepOutput


class RSD(Method):
    """Direct Transfer + λ·(RSD + β·BMP) on the fused features (one stage)."""

    name = "rsd"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        base = self.cfg.baselines
        terms = {
            "task": self.task_loss(self.head(f_s), src.label),
            "dis": rsd(f_s, f_t, beta=base.rsd_beta),
        }
        return combine(terms, {"dis": base.rsd_tradeoff})
