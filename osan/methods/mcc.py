"""MCC: Minimum Class Confusion (Jin et al., ECCV 2020) in osan's harness.

The Direct-Transfer model with the class confusion of its target predictions added:

    L = L_task(h(f_s), y_s) + μ · L_MCC(h(f_t) / T)

Classification only (``osan.config.METHOD_TASKS``: a regression config is refused when it is
loaded). Knobs: ``baselines.mcc_temperature`` (T, published 2.5), ``baselines.mcc_weight``
(μ, 1).
"""

from __future__ import annotations

from torch import Tensor

from osan.alignment.mcc import mcc
from osan.methods.base import FeatureAligner


class MCC(FeatureAligner):
    """Direct Transfer + μ·MCC on the target logits (one stage)."""

    name = "mcc"

    def alignment_terms(
        self, f_s: Tensor, f_t: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        base = self.cfg.baselines
        logits = self.head(f_t)  # (B, C)
        return {"mcc": mcc(logits, temperature=base.mcc_temperature)}, {"mcc": base.mcc_weight}
