"""Self-training on the unlabelled target: a perturbed view learns the clean view's prediction.

The target's own structure as a training signal, used by OSAN+ (``osan-plus``), an extension
of the paper: features that co-occur in the target with the ones the source taught (e.g. words
only the target domain uses, next to words both use) get learned from the model's confident
predictions on the clean input (self-ensembling, French et al. ICLR 2018; FixMatch, Sohn et
al. NeurIPS 2020, for the confidence threshold):

    regression:      L_st = mean_j (f(drop(x_j)) − sg[f_eval(x_j)])²
    classification:  L_st = mean_j 1[max_k p_jk ≥ τ] · CE(f(drop(x_j)), argmax_k p_jk),
                     p_j = softmax(sg[f_eval(x_j)])

``sg`` stops the gradient; ``f_eval`` is the model without dropout; ``drop`` removes a random
fraction of each sequence's time steps (feature dropout where a modality has one step). No
target label is read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from osan.types import Batch

__all__ = ["drop_time_steps", "self_training_loss"]


def drop_time_steps(batch: Batch, rate: float, generator: torch.Generator | None) -> Batch:
    """A view of ``batch`` with a fraction ``rate`` of time steps zeroed (per sample and
    modality); a modality with one time step gets element-wise dropout instead.

    Shape: features[m] (B, L_m, I_m) -> same
    """
    if rate <= 0:
        return batch
    feats = {}
    for m, x in batch.features.items():
        b, steps, dim = x.shape
        shape = (b, steps, 1) if steps > 1 else (b, 1, dim)
        keep = torch.rand(shape, generator=generator) >= rate  # drawn on the CPU generator
        feats[m] = x * keep.to(device=x.device, dtype=x.dtype)  # (B, L_m, I_m)
    return Batch(features=feats, lengths=batch.lengths, label=None, index=batch.index)


def self_training_loss(
    student: Tensor,
    teacher: Tensor,
    task: str,
    threshold: float,
    center: bool = False,
) -> Tensor:
    """L_st of the module doc. ``center`` (regression): compare the two views with their batch
    means removed, so that the term cannot move the target's prediction mean (measured: without
    it, OSAN+'s target predictions drift on msa).

    Shape: student, teacher: (B,) regression values or (B, K) logits -> () scalar
    """
    teacher = teacher.detach()
    if center and task != "classification":
        student, teacher = student - student.mean(), teacher - teacher.mean()
    if task == "classification":
        conf, cls = F.softmax(teacher, dim=-1).max(dim=-1)  # (B,), (B,)
        mask = (conf >= threshold).to(student.dtype)  # (B,)
        ce = F.cross_entropy(student, cls, reduction="none")  # (B,)
        return (mask * ce).mean()
    # Squared error, not L1: its gradient vanishes as the views agree. L1's constant-size pull
    # towards agreement competed with the task loss and flattened the predictions (measured).
    return F.mse_loss(student, teacher)
