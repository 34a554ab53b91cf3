"""MDMN (Zhou et al., "MDMN: Multi-task and domain adaptation based multi-modal network for
early rumor detection", Expert Systems with Applications 195, 2022), in osan's harness.

MDMN fuses modality-specific feature extractors and then makes the fused feature
domain-invariant with a domain discriminator behind gradient reversal. The OSAN paper (§2,
§4.1.1) uses it as the two-stage multimodal baseline: multimodal fusion first, domain
adaptation second. Our reading:

- representation: modality-specific extractors (``self.encoder``, one per modality) →
  concatenation → an MLP fusion layer, f = GELU(W·[h_1; …; h_M] + b) of width
  ``baselines.mdmn_fusion_dim`` → task head h;
- ``"pretrain"``: the fusion is learned on the source task alone, L = L_task(h(f_s), y_s);
- ``"adapt"``: at the phase start the target input projections get the source ones' weights
  where the dims agree (the pre-training never trained them), then DANN on the fused feature,

      L = L_task(h(f_s), y_s) + α · BCE(D(R_λ(f)), d),   d = 0 source, 1 target,

  with λ = ``grl_coeff`` of the progress within the phase (the warm-up restarts).

Left out: MDMN's "multi-task" part (auxiliary objectives specific to rumour detection), which has
no counterpart in sentiment regression or video text classification.
"""

from __future__ import annotations

from torch import Tensor, nn

from osan.config import Config
from osan.methods.adda import ADAPT, PRETRAIN, init_target_projection, two_stage_phases
from osan.methods.base import Phase, combine, concat_fusion
from osan.methods.dann import DANN, phase_progress
from osan.schedules import grl_coeff
from osan.types import Batch, StepOutput


class MDMN(DANN):
    """Concat + MLP fusion trained on the source task, then domain-adversarial on it."""

    name = "mdmn"
    phases = (Phase(PRETRAIN, 0.5), Phase(ADAPT, 0.5))

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)  # head and D over feature_dim (the fusion's)
        self.phases = two_stage_phases(cfg)
        self.fusion = nn.Sequential(
            nn.Linear(sum(self.embed_dims.values()), self.feature_dim),
            nn.GELU(),
            nn.Dropout(cfg.encoder.dropout),
        )

    @property
    def feature_dim(self) -> int:
        return self.cfg.baselines.mdmn_fusion_dim

    def fuse(self, h: dict[str, Tensor], domain: str) -> Tensor:
        return self.fusion(concat_fusion(h))  # (B, Σ E_m) -> (B, D_f)

    def set_phase(self, name: str) -> None:
        if self.phase == PRETRAIN and name == ADAPT:  # not on resume inside "adapt"
            init_target_projection(self.encoder)
        super().set_phase(name)

    def reversal_coeff(self, progress: float) -> float:
        loss = self.cfg.loss
        p = phase_progress(progress, self.phases, ADAPT)
        return grl_coeff(p, gamma=loss.grl_gamma, max_coeff=loss.grl_max)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        if self.phase == PRETRAIN:
            pred = self.head(self.features(src, "source"))
            return combine({"task": self.task_loss(pred, src.label)}, {})
        return super().training_step(src, tgt, progress)
