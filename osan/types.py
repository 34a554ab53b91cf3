"""Core value types shared by every layer: modality names, batches, step outputs.

Modalities are always referred to by name (``"text"``, ``"vision"``, ``"audio"`` or any other
string), never by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

Task = Literal["regression", "classification"]
SPLITS: tuple[str, ...] = ("train", "valid", "test")
DEFAULT_MODALITIES: tuple[str, ...] = ("text", "vision", "audio")
SENTIMENT_RANGE: tuple[float, float] = (-3.0, 3.0)


@dataclass
class Batch:
    """A mini-batch of one domain.

    Shape:
        features[m]: (B, L_m, I_m) padded feature sequences of modality ``m``
        lengths[m]: (B,) true lengths (int64), 1 <= lengths <= L_m
        label: (B,) float for regression, int64 for classification; ``None`` for unlabelled
            streams (the target training stream is always unlabelled)
        index: (B,) row indices into the split the batch was drawn from
    """

    features: dict[str, Tensor]
    lengths: dict[str, Tensor]
    label: Tensor | None
    index: Tensor

    @property
    def size(self) -> int:
        return int(self.index.shape[0])

    @property
    def modalities(self) -> list[str]:
        return list(self.features)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            features={m: x.to(device, non_blocking=True) for m, x in self.features.items()},
            lengths={m: n.to(device, non_blocking=True) for m, n in self.lengths.items()},
            label=None if self.label is None else self.label.to(device, non_blocking=True),
            index=self.index.to(device, non_blocking=True),
        )


@dataclass
class StepOutput:
    """What a method's ``training_step`` returns: the total loss to back-propagate, named
    scalar terms for the log (already detached floats), and what the method's end-of-step update
    reads (the loop hands the whole output to ``on_step_end``).

    Shape:
        tal_rows: ({m: (B, I_m)} source rows, {m: (B, J_m)} their paired target rows), detached,
            for TAL's closed-form update; ``None`` for methods without one
    """

    loss: Tensor
    logs: dict[str, float] = field(default_factory=dict)
    tal_rows: tuple[dict[str, Tensor], dict[str, Tensor]] | None = None
