"""Direct Transfer (source only) and the supervised target oracle."""

from __future__ import annotations

from osan.methods.base import Method, combine
from osan.types import Batch, StepOutput


class SourceOnly(Method):
    """Direct Transfer: the same encoders and head trained on source labels only."""

    name = "source-only"

    def __init__(self, cfg, dims, num_outputs):
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        pred = self.head(self.features(src, "source"))
        return combine({"task": self.task_loss(pred, src.label)}, {})


class Oracle(Method):
    """Upper bound, NOT a UDA method: supervised on TARGET training labels.

    The only method with ``uses_target_labels = True``; excluded from every UDA ranking.
    """

    name = "oracle"
    uses_target_labels = True
    selection_domain = "target"  # supervised upper bound: selects on target validation labels

    def __init__(self, cfg, dims, num_outputs):
        super().__init__(cfg, dims, num_outputs)
        self.head = self.make_head(self.feature_dim)

    def training_step(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        if tgt.label is None:
            raise RuntimeError("the oracle needs a labelled target stream")
        pred = self.head(self.features(tgt, "target"))
        return combine({"task": self.task_loss(pred, tgt.label)}, {})
