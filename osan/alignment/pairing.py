"""Source–target pairing for TAL's cross-covariance C_xy (paper §3.1, Eq. (3)).

Eq. (3) contracts a source tensor with a target tensor sample by sample, so it needs pairs
(x_b, y_b); in unsupervised domain adaptation the two domains are unpaired, and random pairs give a
cross-covariance near zero. ``pair_indices`` picks, for every target row, the index of a source
partner. It never sees target labels (there is no argument for them):

- ``"pseudo_label"``: by the target's current *prediction*.
  Regression: the source sample whose label is nearest to the prediction.
  Classification: a uniformly random source sample of the predicted class; if that class is not
  in the source batch, the nearest source sample by cosine similarity of the embeddings.
- ``"nearest"``: the nearest source sample by cosine similarity of the given embeddings.
- ``"random"``: a uniformly random source sample (ablation).

Ties are broken uniformly at random with ``generator``; the result is deterministic given it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from osan.types import Task

__all__ = ["PAIRING_STRATEGIES", "PairingStrategy", "pair_indices"]

PairingStrategy = Literal["pseudo_label", "nearest", "random"]
PAIRING_STRATEGIES: tuple[str, ...] = ("pseudo_label", "nearest", "random")
_TIE_RTOL = 1e-6  # scores within this (relative) of the best count as ties


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device) -> Tensor:
    dev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=dev).to(device)


def _argmax_random_ties(score: Tensor, generator: torch.Generator | None) -> Tensor:
    """Per row, a uniformly random index among the maxima (−inf entries are never chosen
    unless the whole row is −inf).

    Shape:
        score: (Bt, Bs)  ->  (Bt,) int64
    """
    best = score.max(dim=1, keepdim=True).values  # (Bt, 1)
    tol = _TIE_RTOL * (1.0 + best.abs())
    tie = (score >= best - tol) & torch.isfinite(score)  # (Bt, Bs)
    tie = tie | ~tie.any(dim=1, keepdim=True)  # a row of −inf: all tie
    noise = _uniform(tuple(score.shape), generator, score.device)  # (Bt, Bs)
    return torch.where(tie, noise, torch.full_like(noise, -1.0)).argmax(dim=1)


def _cosine(source_emb: Tensor, target_emb: Tensor) -> Tensor:
    """Cosine similarities. Shape: (Bs, E), (Bt, E) -> (Bt, Bs)"""
    if source_emb.shape[1:] != target_emb.shape[1:]:
        raise ValueError(
            f"embeddings differ in size: source {tuple(source_emb.shape)}, "
            f"target {tuple(target_emb.shape)}"
        )
    s = F.normalize(source_emb.double(), dim=1)  # (Bs, E)
    t = F.normalize(target_emb.double(), dim=1)  # (Bt, E)
    return t @ s.T  # (Bt, Bs)


@torch.no_grad()
def pair_indices(
    strategy: PairingStrategy | str,
    *,
    source_emb: Tensor,
    target_emb: Tensor,
    source_labels: Tensor | None = None,
    target_pred: Tensor | None = None,
    task: Task = "regression",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Index of the source partner of every target row (module docstring for the strategies).

    Args:
        strategy: ``"pseudo_label"``, ``"nearest"`` or ``"random"``.
        source_emb, target_emb: embeddings in a shared space (cosine similarity is used).
        source_labels: source labels; required by ``"pseudo_label"``.
        target_pred: the model's current target predictions (never target labels); required by
            ``"pseudo_label"``. Regression: values (Bt,) or (Bt, 1); classification: class ids
            (Bt,) or scores (Bt, C), reduced by argmax.
        task: ``"regression"`` or ``"classification"``.
        generator: source of randomness (ties, random partners).

    Shape:
        source_emb: (Bs, E), target_emb: (Bt, E), source_labels: (Bs,), target_pred: (Bt,)
        output: (Bt,) int64 in [0, Bs)
    """
    bs, bt = int(source_emb.shape[0]), int(target_emb.shape[0])
    device = target_emb.device
    if bs < 1:
        raise ValueError("pairing needs at least one source sample")
    if strategy == "random":
        dev = generator.device if generator is not None else device
        return torch.randint(0, bs, (bt,), generator=generator, device=dev).to(device)
    if strategy == "nearest":
        return _argmax_random_ties(_cosine(source_emb, target_emb), generator)
    if strategy != "pseudo_label":
        raise ValueError(f"unknown pairing strategy {strategy!r}; expected {PAIRING_STRATEGIES}")
    if source_labels is None or target_pred is None:
        raise ValueError("pseudo_label pairing needs source_labels and target_pred")
    if source_labels.shape[0] != bs or target_pred.shape[0] != bt:
        raise ValueError(
            f"source_labels {tuple(source_labels.shape)} / target_pred "
            f"{tuple(target_pred.shape)} do not match the embeddings ({bs}, {bt})"
        )
    if task == "regression":
        y_s = source_labels.reshape(bs).double()  # (Bs,)
        p_t = target_pred.reshape(bt).double().to(y_s.device)  # (Bt,)
        score = -(p_t[:, None] - y_s[None, :]).abs()  # (Bt, Bs)
        return _argmax_random_ties(score, generator).to(device)
    if task == "classification":
        pred = target_pred.argmax(dim=1) if target_pred.dim() == 2 else target_pred  # (Bt,)
        pred = pred.long().reshape(bt).to(source_labels.device)
        same = pred[:, None] == source_labels.long()[None, :]  # (Bt, Bs)
        in_class = _argmax_random_ties(
            torch.where(same, 0.0, float("-inf")).double(), generator
        )  # (Bt,)
        nearest = _argmax_random_ties(_cosine(source_emb, target_emb), generator)  # (Bt,)
        return torch.where(same.any(dim=1).to(device), in_class.to(device), nearest)
    raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
