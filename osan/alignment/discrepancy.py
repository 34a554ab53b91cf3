"""OSAN's L_dis as a choice (``loss.dis_kind``): one distance between source and target features.

    "mk-mmd"     MK-MMD² (the paper's)            osan.alignment.mmd.mk_mmd
    "coral"      ‖C_s − C_t‖²_F / 4d²              osan.alignment.coral.coral
    "rsd"        Σ sin θ_i + β·‖|P_s| − |P_t|‖_F     osan.alignment.rsd.rsd
    "dare-gram"  L_angle + (γ/α)·L_scale            osan.alignment.dare_gram.dare_gram

The caller weighs the distance (OSAN: ``loss.beta``). Each secondary term keeps its published
ratio to the primary one (RSD's β; DARE-GRAM's γ/α), from the baselines' knobs.
"""

from __future__ import annotations

from torch import Tensor

from osan.alignment.coral import coral
from osan.alignment.dare_gram import dare_gram
from osan.alignment.mmd import mk_mmd
from osan.alignment.rsd import rsd
from osan.config import Config

__all__ = ["DIS_KINDS", "discrepancy"]

#: The choices of ``loss.dis_kind`` (a test keeps them equal to the config's Literal).
DIS_KINDS: tuple[str, ...] = ("mk-mmd", "coral", "rsd", "dare-gram")


def discrepancy(kind: str, x: Tensor, y: Tensor, cfg: Config) -> Tensor:
    """The ``kind`` distance between a source and a target batch.

    Shape:
        x: (B_s, D), y: (B_t, D) -> scalar
    """
    base = cfg.baselines
    if kind == "mk-mmd":
        return mk_mmd(x, y, num_kernels=cfg.loss.mmd_kernels, kernel_mul=cfg.loss.mmd_kernel_mul)
    if kind == "coral":
        return coral(x, y)
    if kind == "rsd":
        return rsd(x, y, beta=base.rsd_beta)
    if kind == "dare-gram":
        angle, scale = dare_gram(x, y, threshold=base.dare_threshold)
        ratio = base.dare_gamma / base.dare_alpha if base.dare_alpha > 0 else 0.0
        return angle + ratio * scale
    raise ValueError(f"unknown discrepancy {kind!r}; choose from {DIS_KINDS}")
