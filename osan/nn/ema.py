"""An exponential moving average of a module's parameters (the mean teacher).

Mean teacher (Tarvainen & Valpola, NeurIPS 2017): a teacher whose weights are the running
average of the student's, θ'_t = d_t · θ'_{t−1} + (1 − d_t) · θ_t with d_t = min(d, 1 − 1/(t+1))
(the paper's ramp: the average of all steps so far until that is older than the decay allows),
gives targets that change more slowly than the student's own clean predictions. OSAN+ uses it
with ``loss.st_teacher=ema``. The averages are buffers of this module, so they follow the
model across devices and live in its checkpoint; the averaged parameters are named, not held,
so nothing is registered twice. Buffers of the model (TAL's projections, running statistics)
are not averaged: the teacher uses the model's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["ParameterEMA"]


def _key(name: str) -> str:
    return name.replace(".", "__")


class ParameterEMA(nn.Module):
    """Running averages of the parameters ``names`` of one model.

    ``update(model)`` after each optimiser step; ``swapped(model)`` runs a block with the
    averages in place of the parameters and puts the parameters back exactly afterwards.
    """

    def __init__(self, model: nn.Module, names: list[str], decay: float) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.names = list(names)
        self.decay = float(decay)
        params = dict(model.named_parameters())
        for n in self.names:
            self.register_buffer(_key(n), params[n].detach().clone())
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def average(self, name: str) -> Tensor:
        """The running average of parameter ``name`` (same shape as the parameter)."""
        return getattr(self, _key(name))

    def current_decay(self) -> float:
        """d_t = min(d, 1 − 1/(t + 1)): the plain mean of the first 1/(1 − d) steps' weights,
        then the exponential average (update t = 0 copies the weights)."""
        t = int(self.updates)
        return min(self.decay, 1.0 - 1.0 / (t + 1))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """θ' ← d_t · θ' + (1 − d_t) · θ for every averaged parameter."""
        d = self.current_decay()
        params = dict(model.named_parameters())
        for n in self.names:
            self.average(n).lerp_(params[n].detach(), 1.0 - d)
        self.updates += 1

    @contextmanager
    def swapped(self, model: nn.Module) -> Iterator[None]:
        """The averages in place of ``model``'s parameters for the block (use it before any
        forward whose graph is kept: the parameters are written in place), then the
        parameters restored bit for bit."""
        params = dict(model.named_parameters())
        saved = {}
        with torch.no_grad():
            for n in self.names:
                saved[n] = params[n].detach().clone()
                params[n].copy_(self.average(n))
        try:
            yield
        finally:
            with torch.no_grad():
                for n in self.names:
                    params[n].copy_(saved[n])
