"""Evaluation metrics: MOSI/MOSEI sentiment regression (paper §4.1.1) and K-way classification
(paper §4.2.1).

The regression metrics follow the definitions of MMSA (``MetricsTop`` for MOSI/MOSEI), which the
paper's Table 1 reports as MAE, Corr, Acc-7, Acc-2 and F1 ("has-0 / non-0"):

- ``mae``: mean |pred − true| on the raw (unclipped) values.
- ``corr``: Pearson correlation of pred and true.
- ``acc7``: both sides clipped to [-3, 3], rounded with ``np.round`` (round half to even:
  0.5 → 0, 1.5 → 2, -2.5 → -2), fraction of equal classes.
- ``acc5``: the same with clipping to [-2, 2].
- ``acc2_has0`` / ``f1_has0``: binary "non-negative vs negative": ``true >= 0`` vs ``pred >= 0``
  over all samples.
- ``acc2_non0`` / ``f1_non0``: binary "positive vs negative": samples whose TRUE label is exactly 0
  are dropped, then ``true > 0`` vs ``pred > 0``.
- F1 is sklearn's weighted F1 with sklearn's argument order, ``f1_score(true, pred,
  average="weighted")`` (weights = support in ``true``; swapping the arguments changes the value).

Edge cases (our choices; MMSA would return NaN or raise):

- ``corr`` is 0.0 when either side is constant (e.g. a collapsed predictor); a constant
  prediction carries no linear information, and a NaN would poison model selection and averages.
- ``acc2_non0`` / ``f1_non0`` are NaN when every true label is 0: the metric is undefined there.
- Values are plain Python floats, not rounded (MMSA rounds to 4 decimals; reports round).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from osan.types import Task

__all__ = [
    "METRIC_DIRECTIONS",
    "classification_metrics",
    "primary_metric",
    "regression_metrics",
]

#: Whether each metric is better when smaller ("min") or larger ("max").
METRIC_DIRECTIONS: dict[str, str] = {
    # regression (MOSI / MOSEI)
    "mae": "min",
    "corr": "max",
    "acc7": "max",
    "acc5": "max",
    "acc2_has0": "max",
    "acc2_non0": "max",
    "f1_has0": "max",
    "f1_non0": "max",
    # classification
    "accuracy": "max",
    "precision": "max",
    "recall": "max",
    "f1": "max",
    "precision_weighted": "max",
    "recall_weighted": "max",
    "f1_weighted": "max",
}

_PRIMARY: dict[str, str] = {"regression": "mae", "classification": "f1"}


def primary_metric(task: Task) -> str:
    """The metric used to compare runs of a task: ``"mae"`` (min) for regression, macro ``"f1"``
    (max) for classification. Its direction is ``METRIC_DIRECTIONS[primary_metric(task)]``."""
    try:
        return _PRIMARY[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(_PRIMARY)}") from None


def _to_numpy(x: np.ndarray | torch.Tensor | Sequence[float]) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16 or x.dtype == torch.float16:
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def _validate_1d(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # MMSA flattens with .view(-1); we accept (N,) and (N, 1) but nothing else.
    arrays = []
    for name, a in (("pred", pred), ("true", true)):
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D (N,) or (N, 1), got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"{name} is empty")
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ValueError(f"{name} must be real-valued, got dtype {a.dtype}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
        arrays.append(a)
    pred, true = arrays
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in length: {pred.shape[0]} vs {true.shape[0]}")
    return pred, true


def _pearson(pred: np.ndarray, true: np.ndarray) -> float:
    pc = pred - pred.mean()
    tc = true - true.mean()
    denom = math.sqrt(float(pc @ pc) * float(tc @ tc))
    if denom == 0.0:  # a constant side: no linear information (documented choice)
        return 0.0
    return float(np.clip((pc @ tc) / denom, -1.0, 1.0))


def _multiclass_acc(pred: np.ndarray, true: np.ndarray, bound: float) -> float:
    p = np.round(np.clip(pred, -bound, bound))
    t = np.round(np.clip(true, -bound, bound))
    return float(np.mean(p == t))


def regression_metrics(
    pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """MOSI/MOSEI sentiment metrics as defined by MMSA (see the module docstring).

    Shape:
        pred: (N,) or (N, 1) predicted sentiment (numpy array or tensor, any float dtype)
        true: (N,) or (N, 1) true sentiment in [-3, 3]

    Returns:
        ``{"mae", "corr", "acc7", "acc5", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0"}``,
        accuracies and F1 as fractions in [0, 1].

    Raises:
        ValueError: different lengths, empty, not 1-D, or a non-finite value.
    """
    pred, true = _validate_1d(_to_numpy(pred), _to_numpy(true))

    has0_true = true >= 0  # non-negative vs negative, all samples
    has0_pred = pred >= 0
    nonzero = true != 0  # positive vs negative, true zeros dropped
    if nonzero.any():
        non0_true = true[nonzero] > 0
        non0_pred = pred[nonzero] > 0
        acc2_non0 = float(accuracy_score(non0_true, non0_pred))
        f1_non0 = float(f1_score(non0_true, non0_pred, average="weighted", zero_division=0))
    else:  # every true label is 0: undefined (documented choice)
        acc2_non0 = f1_non0 = float("nan")

    return {
        "mae": float(np.mean(np.abs(pred - true))),
        "corr": _pearson(pred, true),
        "acc7": _multiclass_acc(pred, true, 3.0),
        "acc5": _multiclass_acc(pred, true, 2.0),
        "acc2_has0": float(accuracy_score(has0_true, has0_pred)),
        "acc2_non0": acc2_non0,
        "f1_has0": float(f1_score(has0_true, has0_pred, average="weighted", zero_division=0)),
        "f1_non0": f1_non0,
    }


def classification_metrics(
    pred: np.ndarray | torch.Tensor,
    true: np.ndarray | torch.Tensor,
    labels: Sequence[str] | int,
) -> dict:
    """K-way classification metrics (paper §4.2.1: precision, recall, F1).

    ``labels`` is the list of class names (class id k is ``labels[k]``) or the number of classes K
    (names are then ``"0" … "K-1"``). ``pred`` holds class ids (N,), or scores (N, K) (logits or
    probabilities), which are reduced by argmax.

    Returns:
        ``accuracy``; ``precision, recall, f1`` (macro); ``precision_weighted, recall_weighted,
        f1_weighted`` (weighted by true support); ``per_class: {name: {precision, recall, f1,
        support}}`` for every one of the K classes. An undefined ratio (no predictions or no true
        samples of a class) counts as 0 (``zero_division=0``). The macro and weighted averages run
        over the classes that occur in ``true`` or ``pred`` (sklearn's default), so a class absent
        from both does not drag the macro average down with a 0; ``per_class`` still lists it.

    Shape:
        pred: (N,) int class ids, or (N, K) scores
        true: (N,) int class ids in [0, K)
    """
    if isinstance(labels, int):
        if labels < 2:
            raise ValueError(f"need at least 2 classes, got {labels}")
        names = [str(k) for k in range(labels)]
    else:
        names = [str(n) for n in labels]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"labels must be >= 2 distinct names, got {names}")
    k = len(names)

    p = _to_numpy(pred)
    y = _to_numpy(true)
    if p.ndim == 2:
        if p.shape[1] != k:
            raise ValueError(f"pred scores have {p.shape[1]} columns for {k} classes")
        if not np.all(np.isfinite(p)):
            raise ValueError("pred contains NaN or inf")
        p = p.argmax(axis=1)
    for name, a in (("pred", p), ("true", y)):
        if a.ndim != 1:
            raise ValueError(f"{name} must be (N,) class ids (or (N, K) scores for pred)")
        if a.size == 0:
            raise ValueError(f"{name} is empty")
        if not np.issubdtype(a.dtype, np.integer):
            if not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
                raise ValueError(f"{name} must hold integer class ids")
        if a.min() < 0 or a.max() >= k:
            raise ValueError(f"{name} has class ids outside [0, {k})")
    if p.shape != y.shape:
        raise ValueError(f"pred and true differ in length: {p.shape[0]} vs {y.shape[0]}")
    p = p.astype(np.int64)
    y = y.astype(np.int64)

    out: dict = {"accuracy": float(accuracy_score(y, p))}
    for avg in ("macro", "weighted"):
        prec, rec, f1, _ = precision_recall_fscore_support(y, p, average=avg, zero_division=0)
        suffix = "" if avg == "macro" else "_weighted"
        out[f"precision{suffix}"] = float(prec)
        out[f"recall{suffix}"] = float(rec)
        out[f"f1{suffix}"] = float(f1)
    prec, rec, f1, sup = precision_recall_fscore_support(
        y, p, labels=list(range(k)), average=None, zero_division=0
    )
    out["per_class"] = {
        name: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(sup[i]),
        }
        for i, name in enumerate(names)
    }
    return out
