"""Deep CORAL (Sun & Saenko, ECCV-W 2016) in osan's harness.

The Direct-Transfer model (per-modality encoders → concatenation → task head) with the CORAL
distance between the fused source and target features (what the head reads) added:

    L = L_task(h(f_s), y_s) + w · ‖C_s − C_t‖²_F / 4d²,    f = concat_m E_m(x_m)

Knob: ``baselines.coral_weight`` (w, default 1).
"""

from __future__ import annotations

from torch import Tensor

from osan.alignment.coral import coral
from osan.methods.base import FeatureAligner


class CORAL(FeatureAligner):
    """Direct Transfer + w·CORAL on the fused features (one stage)."""

    name = "coral"

    def alignment_terms(
        self, f_s: Tensor, f_t: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        return {"dis": coral(f_s, f_t)}, {"dis": self.cfg.baselines.coral_weight}
