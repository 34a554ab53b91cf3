"""SHOT-IM (Liang et al., "Do We Really Need to Access the Source Data? Source Hypothesis
Transfer for Unsupervised Domain Adaptation", ICML 2020): information maximisation with the
head (the source hypothesis) frozen and the encoders updated. Classification only.

    L_IM = 1/B Σ_b H(p_b) − H(p̄),   p̄ = 1/B Σ_b p_b,   H(p) = − Σ_k p_k log p_k

(confident per row, diverse over the batch). SHOT's self-supervised pseudo-labels are optional
(``adapt.shot_beta`` > 0 adds β · CE(f(x), ŷ)): once per epoch, class centroids of the
L2-normalised features [f, 1] weighted by the predictions, c_k = Σ_i p_ik f̂_i / Σ_i p_ik, each
row labelled by its nearest centroid (cosine), then the centroids recomputed from those hard
labels and the rows labelled again (SHOT's one refinement round).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from osan.testtime.tent import entropy

#: Inside the logarithm of H(p̄) (SHOT's epsilon).
EPS = 1e-5


def im_loss(logits: Tensor) -> Tensor:
    """L_IM = mean entropy − entropy of the mean prediction. Shape: (B, K) -> ()"""
    p = F.softmax(logits, dim=-1)  # (B, K)
    p_mean = p.mean(0)  # (K,)
    diversity = -(p_mean * torch.log(p_mean + EPS)).sum()
    return entropy(logits).mean() - diversity


@torch.no_grad()
def cluster_pseudo_labels(features: Tensor, probs: Tensor) -> Tensor:
    """SHOT's clustering pseudo-labels (see the module docstring).

    Shape: features (N, D), probs (N, K) -> labels (N,)
    """
    ones = torch.ones(features.shape[0], 1, dtype=features.dtype, device=features.device)
    f = F.normalize(torch.cat([features, ones], dim=1), dim=1)  # (N, D + 1)
    weights = probs  # (N, K): soft assignment first
    labels = probs.argmax(1)
    for _ in range(2):
        centroids = weights.T @ f / (weights.sum(0)[:, None] + 1e-8)  # (K, D + 1)
        sim = f @ F.normalize(centroids, dim=1).T  # (N, K) cosine similarity
        labels = sim.argmax(1)
        weights = F.one_hot(labels, probs.shape[1]).to(f.dtype)  # refine with hard labels
    return labels
