"""Deep CORAL (Sun & Saenko, ECCV-W 2016) in osan's harness.

The Direct-Transfer model (per-modality encoders → concatenation → task head) with the CORAL
distance between the fused source and target features (what the head reads) added:

    L = L_task(h(f_s), y_s) + w · ‖C_s − C_t‖²_F / 4d²,    f = concat_m E_m(x_m)

Knob: ``baselines.coral_weight`` (w, default 1).
"""

from __future__ import annotations

from osan.alignment.coral import coral
from osan.config import Config
from osan.methods.base import Method, combine
from osan.types import Batch, StepOutput


class CORAL(Method):
    """Direct Transfer + w·CORAL on the fused features (one stage)."""

    name = "coral"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        terms = {"task": self.task_loss(self.head(f_s), src.label), "dis": coral(f_s, f_t)}
        return combine(terms, {"dis": self.cfg.baselines.coral_weight})
