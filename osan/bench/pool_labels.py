"""How ``osan pool``'s files name methods and metrics, and which metrics are in points."""

from __future__ import annotations

from osan.bench import suites as S
from osan.bench.cells import COLUMNS
from osan.bench.pool import TAG_SEP

#: Metrics stored as fractions and shown in points (accuracies, F1).
PERCENT = {k for cols in COLUMNS.values() for c in cols if c.percent for k in c.keys}
TITLES = {"mae": "MAE", "corr": "Corr", "f1": "macro-F1"}


def variant_label(variant: str) -> str:
    """``osan`` → ``OSAN (TAL + DDG)``; a tagged ``osan@gate0`` → ``OSAN (TAL + DDG) [gate0]``."""
    base, sep, tag = variant.partition(TAG_SEP)
    return S.METHOD_LABELS.get(base, base) + (f" [{tag}]" if sep else "")


def short_label(variant: str) -> str:
    """The label without its explanation in brackets (``OSAN+``, ``Direct Transfer``), for
    figures; OSAN's two variants keep theirs (``OSAN (TAL + Mixup)``)."""
    base, sep, tag = variant.partition(TAG_SEP)
    label = S.METHOD_LABELS.get(base, base)
    if not label.startswith("OSAN ("):
        label = label.split(" (")[0]
    return label + (f" [{tag}]" if sep else "")


def scale(metric: str) -> float:
    """100 for a metric shown in points, else 1."""
    return 100.0 if metric in PERCENT else 1.0


def metric_title(metric: str) -> str:
    """``MAE``, ``Corr``, ``macro-F1 (points)``."""
    title = TITLES.get(metric, metric)
    return f"{title} (points)" if metric in PERCENT else title
