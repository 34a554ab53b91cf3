"""Run a trained method over a split: predictions, features and metrics.

This is the only place in the package that reads TARGET labels, and only for valid/test
evaluation: training and model selection never call it on target data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from osan.data.domain import Split, SplitLoader
from osan.eval.metrics import classification_metrics, regression_metrics
from osan.methods.base import Method


@dataclass
class Predictions:
    """Shape: pred (N,) regression values or (N, K) class logits; features (N, D)."""

    ids: list[str]
    pred: np.ndarray
    features: np.ndarray | None
    labels: np.ndarray | None


@torch.no_grad()
def predict_split(
    method: Method,
    split: Split,
    domain: str,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    with_features: bool = False,
    labelled: bool = True,
) -> Predictions:
    was_training = method.training
    method.eval()
    loader = SplitLoader(split, batch_size, labelled=labelled, device=device)
    preds, feats = [], []
    for batch in loader:
        f = method.features(batch, domain)
        preds.append(method.head(f).float().cpu())
        if with_features:
            feats.append(f.float().cpu())
    method.train(was_training)
    labels = None if (split.labels is None or not labelled) else np.asarray(split.labels)
    return Predictions(
        ids=list(split.ids),
        pred=torch.cat(preds).numpy(),
        features=torch.cat(feats).numpy() if with_features else None,
        labels=labels,
    )


def score(pred: np.ndarray, labels: np.ndarray, task: str, classes: list[str] | None) -> dict:
    """Metrics of ``osan.eval.metrics`` for the task."""
    if task == "classification":
        k = pred.shape[1] if pred.ndim == 2 else (len(classes) if classes else int(pred.max()) + 1)
        return classification_metrics(pred, labels, classes if classes else k)
    return regression_metrics(pred, labels)
