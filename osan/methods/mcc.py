"""MCC: Minimum Class Confusion (Jin et al., ECCV 2020) in osan's harness.

The Direct-Transfer model with the class confusion of its target predictions added:

    L = L_task(h(f_s), y_s) + μ · L_MCC(h(f_t) / T)

Classification only (``osan.config.METHOD_TASKS``: a regression config is refused when it is
loaded). Knobs: ``baselines.mcc_temperature`` (T, published 2.5), ``baselines.mcc_weight``
(μ, 1).
"""

from __future__ import annotations

from osan.alignment.mcc import mcc
from osan.config import Config
from osan.methods.base import Method, combine
from osan.types import Batch, StepOutput


class MCC(Method):
    """Direct Transfer + μ·MCC on the target logits (one stage)."""

    name = "mcc"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        base = self.cfg.baselines
        terms = {
            "task": self.task_loss(self.head(f_s), src.label),
            "mcc": mcc(self.head(f_t), temperature=base.mcc_temperature),  # (B, C) logits
        }
        return combine(terms, {"mcc": base.mcc_weight})
