"""Which epoch a run keeps: every epoch gets a selection key (lower is better) and the best
epoch of the final phase is the checkpoint's ``best_model``.

UDA methods are scored on the SOURCE validation split, by its task loss (``selection =
source_val``, the default) or by another label-free validator of :mod:`osan.eval.selection`;
only the supervised oracle is scored on target validation labels.
"""

from __future__ import annotations

import torch

from osan.config import Config
from osan.data.domain import Domain, SplitLoader
from osan.eval.selection import DEFAULT_VALIDATOR, get_validator, score_model
from osan.methods import Method


@torch.no_grad()
def validation_loss(method: Method, domain: Domain, name: str, device: str, batch: int) -> float:
    """Model selection score: mean task loss on ``domain``'s validation split.

    UDA methods are always scored on the SOURCE domain; only the supervised oracle
    (``selection_domain = "target"``) is scored on target validation labels.
    """
    was = method.training
    method.eval()
    loader = SplitLoader(domain.split("valid"), batch, device=device)
    total, n = 0.0, 0
    for b in loader:
        pred = method.predict(b, name)
        total += float(method.task_loss(pred, b.label)) * b.size
        n += b.size
    method.train(was)
    return total / max(n, 1)


def selection_key(
    method: Method,
    cfg: Config,
    source: Domain,
    target: Domain,
    valid_loss: float,
    device: torch.device | str,
    batch: int,
) -> tuple[float, dict[str, float]]:
    """The epoch's checkpoint-selection key (lower is better) and what to log about it.

    ``cfg.selection = "source_val"`` (the default) and the oracle: the validation loss itself.
    Any other validator scores the model from the source VALID labels and the target TRAIN
    split without labels (``osan.eval.selection.collect_inputs`` strips them), so the choice
    cannot depend on a target label.
    """
    if method.uses_target_labels or cfg.selection == DEFAULT_VALIDATOR:
        return valid_loss, {}
    validator = get_validator(cfg.selection, cfg.task)
    raw = score_model(
        method,
        source,
        target,
        [validator.name],
        task=cfg.task,
        task_loss=cfg.loss.task_loss,
        device=device,
        batch_size=batch,
    )[validator.name]
    return validator.key(raw), {f"select_{validator.name}": raw}


def selectable(method: Method, phase: str) -> bool:
    """Checkpoints are selected only in the final phase (earlier phases are pre-training)."""
    return phase == method.phases[-1].name
