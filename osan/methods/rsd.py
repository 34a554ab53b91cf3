"""RSD: Representation Subspace Distance (Chen et al., ICML 2021) in osan's harness.

The Direct-Transfer model with the subspace distance between the fused source and target
features (what the head reads) added:

    L = L_task(h(f_s), y_s) + λ · (Σ_i sin θ_i + β · ‖|P_s| − |P_t|‖_F)

Knobs: ``baselines.rsd_tradeoff`` (λ, published 0.001), ``baselines.rsd_beta`` (β, 0.1).
"""

from __future__ import annotations

from torch import Tensor

from osan.alignment.rsd import rsd
from osan.methods.base import FeatureAligner


class RSD(FeatureAligner):
    """Direct Transfer + λ·(RSD + β·BMP) on the fused features (one stage)."""

    name = "rsd"

    def alignment_terms(
        self, f_s: Tensor, f_t: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        base = self.cfg.baselines
        return {"dis": rsd(f_s, f_t, beta=base.rsd_beta)}, {"dis": base.rsd_tradeoff}
