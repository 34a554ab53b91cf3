"""Switching dropout off for one forward pass while the rest of a module stays in training mode.

OSAN computes its target pseudo-labels from a dropout-free forward. ``module.eval()`` would also
switch layers whose training mode means something else (TAL's per-batch standardisation uses the
batch's own statistics in training and updates running estimates); this switches dropout only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["no_dropout"]

_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@contextmanager
def no_dropout(*modules: nn.Module) -> Iterator[None]:
    """Every dropout layer inside ``modules`` in eval mode for the ``with`` block, then each
    back in the mode it had. Gradients still flow; nothing else changes mode."""
    layers = [m for mod in modules for m in mod.modules() if isinstance(m, _DROPOUT)]
    modes = [m.training for m in layers]
    try:
        for m in layers:
            m.train(False)
        yield
    finally:
        for m, mode in zip(layers, modes, strict=True):
            m.train(mode)
