"""Model selection without target labels: validators that score a trained model.

In unsupervised domain adaptation the target labels are unknown, so neither checkpoints nor
hyper-parameters may be chosen with them. A *validator* scores a trained model from what a UDA
user has, and nothing else: the SOURCE validation split with its labels, the TARGET TRAIN split
without labels, and the model. :class:`SelectionInputs` holds exactly that (it has no field a
target label could travel in), and :func:`collect_inputs` builds it from
``Split.without_labels()``.

| name           | score                                                | better | tasks          |
|----------------|------------------------------------------------------|--------|----------------|
| ``source_val`` | mean source validation task loss (the default)       | lower  | all            |
| ``iwv``        | importance-weighted source validation loss           | lower  | all            |
| ``dev``        | deep embedded validation: IWV with a control variate | lower  | all            |
| ``snd``        | soft neighbourhood density of target predictions     | higher | classification |
| ``entropy``    | mean entropy of target predictions                   | lower  | classification |
| ``im``         | information maximisation, H(mean p) − mean H(p)      | higher | classification |

The scores themselves (IWV, DEV, SND, entropy, IM), with their references and the choices the
papers leave open, are pure functions in :mod:`osan.eval.label_free`; this module turns them
into validators and runs a model to get their inputs. Features are ``method.features`` (the
representation the task head reads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from osan.config import VALIDATOR_TASKS, ConfigError
from osan.data.domain import Domain
from osan.eval.evaluate import predict_split
from osan.eval.label_free import (
    dev_risk,
    entropy_score,
    im_score,
    importance_weights,
    iwv_risk,
    per_sample_loss,
    snd_score,
    softmax,
)
from osan.methods.base import Method

__all__ = [
    "DEFAULT_VALIDATOR",
    "VALIDATORS",
    "SelectionInputs",
    "Validator",
    "collect_inputs",
    "describe_selection",
    "get_validator",
    "score_model",
    "validators_for",
]

DEFAULT_VALIDATOR = "source_val"


@dataclass(frozen=True)
class SelectionInputs:
    """Everything a validator may read. There is no target label in here, by construction.

    Shape:
        source_pred: (N_s,) regression values or (N_s, K) logits, SOURCE VALID split
        source_labels: (N_s,) float (regression) or int (classification)
        source_features: (N_s, D)
        target_pred: (N_t,) or (N_t, K), TARGET TRAIN split (unlabelled)
        target_features: (N_t, D)
    """

    task: str  # "regression" | "classification"
    task_loss: str  # "l1" | "mse" | "ce"
    source_pred: np.ndarray
    source_labels: np.ndarray
    source_features: np.ndarray
    target_pred: np.ndarray
    target_features: np.ndarray


# --------------------------------------------------------------------------- validators


# Each helper memoises into ``cache`` (one dict per scored model), so IWV and DEV share one
# domain classifier and the target softmax is computed once.
Cache = dict[str, np.ndarray]


def _source_losses(x: SelectionInputs, cache: Cache) -> np.ndarray:
    if "losses" not in cache:
        cache["losses"] = per_sample_loss(x.source_pred, x.source_labels, x.task_loss)
    return cache["losses"]


def _weights(x: SelectionInputs, cache: Cache) -> np.ndarray:
    if "weights" not in cache:
        cache["weights"] = importance_weights(x.source_features, x.target_features)
    return cache["weights"]


def _target_prob(x: SelectionInputs, cache: Cache) -> np.ndarray:
    if x.target_pred.ndim != 2:
        raise ValueError("this validator needs class logits (classification)")
    if "prob" not in cache:
        cache["prob"] = softmax(x.target_pred)
    return cache["prob"]


@dataclass(frozen=True)
class Validator:
    """A model-selection score computed from :class:`SelectionInputs` alone."""

    name: str
    description: str
    higher_is_better: bool
    fn: Callable[[SelectionInputs, Cache], float]

    @property
    def tasks(self) -> tuple[str, ...]:
        return VALIDATOR_TASKS[self.name]

    def __call__(self, inputs: SelectionInputs, cache: Cache | None = None) -> float:
        """The raw score (see ``higher_is_better``); ``cache`` shares work between validators
        scoring the same ``inputs``."""
        if inputs.task not in self.tasks:
            raise ConfigError(f"validator {self.name!r} applies to {list(self.tasks)} only")
        return float(self.fn(inputs, {} if cache is None else cache))

    def key(self, score: float) -> float:
        """The score turned into "lower is better" (what checkpoint selection minimises)."""
        return -score if self.higher_is_better else score


VALIDATORS: dict[str, Validator] = {
    v.name: v
    for v in (
        Validator(
            "source_val",
            "source validation loss",
            False,
            lambda x, c: float(_source_losses(x, c).mean()),
        ),
        Validator(
            "iwv",
            "importance-weighted source validation loss (Sugiyama et al. 2007)",
            False,
            lambda x, c: iwv_risk(_source_losses(x, c), _weights(x, c)),
        ),
        Validator(
            "dev",
            "deep embedded validation (You et al. 2019)",
            False,
            lambda x, c: dev_risk(_source_losses(x, c), _weights(x, c)),
        ),
        Validator(
            "snd",
            "soft neighbourhood density of target predictions (Saito et al. 2021)",
            True,
            lambda x, c: snd_score(_target_prob(x, c)),
        ),
        Validator(
            "entropy",
            "mean entropy of target predictions",
            False,
            lambda x, c: entropy_score(_target_prob(x, c)),
        ),
        Validator(
            "im",
            "information maximisation of target predictions",
            True,
            lambda x, c: im_score(_target_prob(x, c)),
        ),
    )
}


def get_validator(name: str, task: str | None = None) -> Validator:
    """The validator called ``name``; a :class:`ConfigError` lists the valid ones (for ``task``)."""
    if name not in VALIDATORS:
        raise ConfigError(f"unknown validator {name!r}; choose from {list(VALIDATORS)}")
    v = VALIDATORS[name]
    if task is not None and task not in v.tasks:
        raise ConfigError(
            f"validator {name!r} applies to {list(v.tasks)} only, not {task}; "
            f"for {task} choose from {validators_for(task)}"
        )
    return v


def validators_for(task: str) -> list[str]:
    """Names of the validators that apply to ``task``, in table order."""
    return [n for n, v in VALIDATORS.items() if task in v.tasks]


def describe_selection(name: str) -> str:
    """One line for ``metrics.json``: what chose the checkpoint."""
    if name == DEFAULT_VALIDATOR:
        return "source validation loss (no target labels)"
    v = get_validator(name)
    better = "higher" if v.higher_is_better else "lower"
    return (
        f"{name}: {v.description}, {better} is better (reads source valid labels and "
        "unlabelled target train only; no target labels)"
    )


# --------------------------------------------------------------------------- from a model


def collect_inputs(
    method: Method,
    source: Domain,
    target: Domain,
    *,
    task: str,
    task_loss: str,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> SelectionInputs:
    """Run ``method`` over the source VALID split and the target TRAIN split without labels.

    The target split goes through ``Split.without_labels()`` and an unlabelled loader, so no
    target label can reach a validator whatever ``target`` holds.
    """
    src = predict_split(
        method,
        source.split("valid"),
        "source",
        batch_size=batch_size,
        device=device,
        with_features=True,
    )
    if src.labels is None:
        raise ValueError(f"{source.name}: the source valid split has no labels")
    tgt = predict_split(
        method,
        target.split("train").without_labels(),
        "target",
        batch_size=batch_size,
        device=device,
        with_features=True,
        labelled=False,
    )
    return SelectionInputs(
        task=task,
        task_loss=task_loss,
        source_pred=src.pred,
        source_labels=src.labels,
        source_features=src.features,
        target_pred=tgt.pred,
        target_features=tgt.features,
    )


def score_model(
    method: Method,
    source: Domain,
    target: Domain,
    names: list[str],
    *,
    task: str,
    task_loss: str,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    cache: Cache | None = None,
) -> dict[str, float]:
    """The raw score of every validator in ``names`` (one pass over the data for all).

    ``cache`` (a dict) receives the intermediate arrays (``losses``, ``weights``, ``prob``) for
    diagnostics such as :func:`effective_sample_size`.
    """
    validators = [get_validator(n, task) for n in names]
    inputs = collect_inputs(
        method,
        source,
        target,
        task=task,
        task_loss=task_loss,
        device=device,
        batch_size=batch_size,
    )
    cache = {} if cache is None else cache
    return {v.name: v(inputs, cache) for v in validators}
