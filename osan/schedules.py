"""Schedules: pure functions of training progress.

``p`` is the fraction of training done, in [0, 1] (``step / total_steps``). Nothing here keeps
state: the loop evaluates ``linear_warmup_cosine`` for the optimiser, and passes ``p`` to
``training_step``, where a method evaluates ``grl_coeff`` and hands the value to the GRL.
It sits at the bottom of the package (it imports nothing from osan) so that the methods
(``grl_coeff``) and the loop (``linear_warmup_cosine``) both use it from below.
"""

from __future__ import annotations

import math

__all__ = ["dann_lr_factor", "grl_coeff", "linear_warmup_cosine"]


def _check_progress(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"progress must be in [0, 1], got {p}")
    return p


def grl_coeff(p: float, *, gamma: float = 10.0, max_coeff: float = 1.0) -> float:
    """DANN warm-up of the gradient-reversal coefficient (Ganin et al., JMLR 2016, §5.2.2):

        coeff(p) = max_coeff · (2 / (1 + exp(−γ·p)) − 1)

    0 at p = 0, rising monotonically to max_coeff·(2/(1+e^−γ) − 1) ≈ max_coeff at p = 1; it
    suppresses the noisy discriminator gradient early in training.
    """
    p = _check_progress(p)
    return max_coeff * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def dann_lr_factor(p: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN learning-rate annealing factor (Ganin et al., JMLR 2016): lr(p) = lr₀ · (1 + α·p)^(−β).

    1 at p = 0, decreasing monotonically to (1 + α)^(−β) at p = 1.
    """
    p = _check_progress(p)
    return (1.0 + alpha * p) ** (-beta)


def linear_warmup_cosine(step: int, total: int, warmup: int, min_factor: float = 0.0) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to ``min_factor``.

        step < warmup:           (step + 1) / (warmup + 1)      (never 0, reaches 1 at warmup)
        warmup <= step < total:  min + (1 − min) · ½ (1 + cos(π · (step − warmup)/(total − warmup)))
        step >= total:           min_factor

    Usable as ``torch.optim.lr_scheduler.LambdaLR(opt, lambda s: linear_warmup_cosine(s, T, W))``.
    """
    if total <= 0 or warmup < 0 or warmup > total:
        raise ValueError(f"need 0 <= warmup <= total and total > 0, got {warmup=}, {total=}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if not 0.0 <= min_factor <= 1.0:
        raise ValueError(f"min_factor must be in [0, 1], got {min_factor}")
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if step >= total:
        return min_factor
    frac = (step - warmup) / (total - warmup)
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * frac))
