"""Case studies (paper §5.3, Fig. 6): for chosen target test samples, the nearest source sample
by cosine similarity in each method's feature space, with raw text, true labels and each
method's prediction.

Samples are drawn at random with a fixed seed (or named by id), NOT picked for where a method
looks good. The true labels shown are target test labels: evaluation only.
"""

from __future__ import annotations

import numpy as np


def cosine_nearest(target: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of the most cosine-similar source sample for every target row, and the similarity.

    Shape: target (M, D), source (N, D) -> index (M,) int64, similarity (M,) in [-1, 1]
    """
    t = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)  # (M, D)
    s = source / np.maximum(np.linalg.norm(source, axis=1, keepdims=True), 1e-12)  # (N, D)
    sim = t @ s.T  # (M, N)
    idx = sim.argmax(1)
    return idx.astype(np.int64), sim[np.arange(len(t)), idx]


def choose_cases(ids: list[str], k: int, seed: int, chosen: list[str] | None = None) -> list[int]:
    """Rows of the case samples: the ids in ``chosen`` (errors name a missing one), else ``k``
    rows drawn at random with ``seed``, in row order."""
    if chosen:
        where = {sid: i for i, sid in enumerate(ids)}
        missing = [c for c in chosen if c not in where]
        if missing:
            raise KeyError(f"case id(s) {missing} are not target test ids")
        return [where[c] for c in chosen]
    k = min(k, len(ids))
    return sorted(np.random.default_rng(seed).choice(len(ids), size=k, replace=False).tolist())


def shorten(text: str | None, limit: int = 110) -> str:
    if text is None:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_label(value: float | int | None, task: str, classes: list[str] | None) -> str:
    """A label or a point prediction as shown in the case table."""
    if value is None:
        return "—"
    if task == "classification":
        k = int(value)
        return classes[k] if classes and k < len(classes) else str(k)
    return f"{float(value):+.2f}"
