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

from torch import Tensor

from osan.alignment.mmd import mk_mmd
from osan.methods.base import FeatureAligner


class DAN(FeatureAligner):
    """Direct Transfer + β·MK-MMD on the fused features (one stage)."""

    name = "dan"

    def alignment_terms(
        self, f_s: Tensor, f_t: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        loss = self.cfg.loss
        mmd = mk_mmd(f_s, f_t, num_kernels=loss.mmd_kernels, kernel_mul=loss.mmd_kernel_mul)
        return {"dis": mmd}, {"dis": loss.beta}
