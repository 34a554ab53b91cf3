"""The source feature statistics a test-time method needs, written by every ``osan train``.

The features are those the head's last linear layer reads (the regressor of SSA):
``z = head.hidden(features(x))``, computed on the SOURCE TRAIN split with the selected weights,
in eval mode. Stored: their mean μ_s, the top-k eigenvectors V of their covariance and the
eigenvalues σ²_s (the variance of the source features along each direction):

    Σ_s = 1/N Σ_i (z_i − μ_s)(z_i − μ_s)ᵀ = V Λ Vᵀ,   V = top-k columns, σ²_s = top-k of diag Λ

``RUN/source_stats.pt`` holds tensors only (loaded with ``weights_only=True``); a run trained
before this file existed has none, and only the methods that need it (SSA) refuse it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from osan.atomic import atomic_write_bytes
from osan.data.domain import Split, SplitLoader
from osan.methods import Method
from osan.types import Batch

SOURCE_STATS = "source_stats.pt"
#: Principal directions stored (at most the feature width).
TOP_K = 64
#: What the statistics describe (a check against a file from another layout).
FEATURE = "head.hidden"


class SourceStatsError(ValueError):
    """``source_stats.pt`` is missing, unreadable or of another layout (one line)."""


def head_features(method: Method, batch: Batch, domain: str) -> Tensor:
    """The features the head's last linear layer reads. Shape: batch -> (B, H)"""
    return method.head.hidden(method.features(batch, domain))


@torch.no_grad()
def feature_matrix(
    method: Method, split: Split, domain: str, device: torch.device | str, batch_size: int = 256
) -> Tensor:
    """:func:`head_features` of every row of ``split``, eval mode, no labels read.

    Shape: -> (N, H) float64 on the CPU
    """
    was_training = method.training
    method.eval()
    loader = SplitLoader(split, batch_size, labelled=False, device=device)
    rows = [head_features(method, b, domain).double().cpu() for b in loader]
    method.train(was_training)
    return torch.cat(rows)


def principal_stats(z: Tensor, k: int = TOP_K) -> dict[str, Tensor]:
    """Mean, top-k principal directions and their variances (population covariance).

    Shape: z (N, H) -> mean (H,), basis (H, k'), var (k',) with k' = min(k, H), var descending
    """
    mean = z.mean(0)  # (H,)
    centred = z - mean  # (N, H)
    cov = centred.T @ centred / z.shape[0]  # (H, H)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(eigvals, descending=True)[: min(k, z.shape[1])]
    return {
        "mean": mean.float(),
        "basis": eigvecs[:, order].float(),  # (H, k')
        "var": eigvals[order].clamp_min(0.0).float(),  # (k',)
    }


def compute_source_stats(
    method: Method, split: Split, device: torch.device | str, k: int = TOP_K
) -> dict[str, Any]:
    """:func:`principal_stats` of the source train split's head features."""
    z = feature_matrix(method, split, "source", device)
    return {"feature": FEATURE, "n": int(z.shape[0]), **principal_stats(z, k)}


def save_source_stats(stats: dict[str, Any], run_dir: str | Path) -> None:
    atomic_write_bytes(Path(run_dir) / SOURCE_STATS, lambda f: torch.save(stats, f))


def load_source_stats(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's statistics, or ``None`` for a run trained before they were written."""
    path = Path(run_dir) / SOURCE_STATS
    if not path.is_file():
        return None
    try:
        stats = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt or foreign file: one line
        raise SourceStatsError(f"{path}: cannot load ({type(e).__name__})") from None
    ok = isinstance(stats, dict) and stats.get("feature") == FEATURE
    if not ok or not all(isinstance(stats.get(k), Tensor) for k in ("mean", "basis", "var")):
        raise SourceStatsError(f"{path}: not osan source statistics (feature {FEATURE})")
    return stats
