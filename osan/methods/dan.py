"""DAN: Deep Adaptation Network (Long et al., "Learning Transferable Features with Deep
Adaptation Networks", ICML 2015), in osan's harness.

The Direct-Transfer model (per-modality encoders → concatenation → task head) with the
multi-kernel MMD between the fused source and target features added to the loss:

    L = L_task(h(f_s), y_s) + β · MK-MMD²(f_s, f_t),    f = concat_m E_m(x_m)

Differences from the original, kept so that every baseline shares one representation:
- the MMD is taken on the fused features only (DAN sums it over the last layers fc6–fc8);
- the kernel mixture has equal, fixed weights with bandwidths relative to the pooled mean
  squared distance (:func:`osan.alignment.mmd.mk_mmd`), where DAN learns the kernel weights by
  a max-step on the test power.
The knobs are OSAN's: ``loss.beta``, ``loss.mmd_kernels``, ``loss.mmd_kernel_mul``.
"""

from __future__ import annotations

from osan.alignment.mmd import mk_mmd
from osan.config import Config
from osan.methods.base import Method, combine
from osan.types import Batch, StepOutput


class DAN(Method):
    """Direct Transfer + β·MK-MMD on the fused features (one stage)."""

    name = "dan"

    def __init__(self, cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> None:
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        f_s = self.features(src, "source")  # (B, D)
        f_t = self.features(tgt, "target")  # (B, D)
        loss = self.cfg.loss
        terms = {
            "task": self.task_loss(self.head(f_s), src.label),
            "dis": mk_mmd(f_s, f_t, num_kernels=loss.mmd_kernels, kernel_mul=loss.mmd_kernel_mul),
        }
        return combine(terms, {"dis": loss.beta})
