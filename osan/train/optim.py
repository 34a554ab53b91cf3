"""The optimiser of every method and phase: AdamW, linear warm-up then cosine decay."""

from __future__ import annotations

import torch

from osan.config import Config
from osan.methods import Method
from osan.schedules import linear_warmup_cosine


def make_optimizer(method: Method, cfg: Config, steps: int):
    """AdamW with linear warm-up then cosine decay over ``steps``.

    ``optim.fused`` (default) uses AdamW's fused kernel: the same update as the for-loop
    implementation up to float rounding (tests/train/test_optimizer.py), in one pass over the
    parameters instead of about ten (4x faster on OSAN's 7.5 M parameters on CPU). Devices
    without a fused kernel fall back to the for-loop implementation.
    """
    params = list(method.trainable_parameters())
    opt = _adamw(params, cfg)
    warm = int(cfg.optim.warmup * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: linear_warmup_cosine(s, max(steps, 1), warm)
    )
    return opt, sched


def _adamw(params: list[torch.nn.Parameter], cfg: Config) -> torch.optim.AdamW:
    kw = {"lr": cfg.optim.lr, "weight_decay": cfg.optim.weight_decay}
    if cfg.optim.fused and params:
        try:
            return torch.optim.AdamW(params, fused=True, **kw)
        except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
            pass
    return torch.optim.AdamW(params, **kw)
