"""OSAN's L_dis dispatch (``loss.dis_kind``): each kind is its loss, the default is MK-MMD."""

import typing

import pytest
import torch

from osan.alignment.coral import coral
from osan.alignment.dare_gram import dare_gram
from osan.alignment.discrepancy import DIS_KINDS, discrepancy
from osan.alignment.mmd import mk_mmd
from osan.alignment.rsd import rsd
from osan.config import LossConfig, load_config


def test_the_kinds_are_the_configs_choices_and_mk_mmd_is_the_default():
    assert DIS_KINDS == typing.get_args(typing.get_type_hints(LossConfig)["dis_kind"])
    assert LossConfig().dis_kind == "mk-mmd"


def test_each_kind_is_its_loss_with_the_configured_knobs():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g) + 0.5
    cfg = load_config(
        overrides=["loss.mmd_kernels=3", "baselines.rsd_beta=0.5", "baselines.dare_gamma=0.01"]
    )
    assert discrepancy("mk-mmd", x, y, cfg).item() == mk_mmd(x, y, num_kernels=3).item()
    assert discrepancy("coral", x, y, cfg).item() == coral(x, y).item()
    assert discrepancy("rsd", x, y, cfg).item() == rsd(x, y, beta=0.5).item()
    angle, scale = dare_gram(x, y, threshold=0.9)
    want = angle + (0.01 / 0.05) * scale  # γ/α keeps DARE-GRAM's ratio
    assert discrepancy("dare-gram", x, y, cfg).item() == pytest.approx(want.item(), rel=1e-6)
    with pytest.raises(ValueError, match="unknown discrepancy"):
        discrepancy("wasserstein", x, y, cfg)
