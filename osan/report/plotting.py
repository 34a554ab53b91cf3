"""Figures without pyplot: a bare :class:`matplotlib.figure.Figure` rendered by the Agg canvas,
so reports are written headless (no display, no global backend state)."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from osan.atomic import atomic_write_bytes

#: Colours of methods and classes (matplotlib's tab10), in a fixed order.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

#: The note every figure that reads target labels carries.
TARGET_LABEL_NOTE = (
    "reads target test labels (evaluation only; never used in training or selection)"
)


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def publish(path: str | Path, data: bytes | None = None, fig: Figure | None = None) -> Path:
    """Write ``data`` (or ``fig`` as a PNG) to ``path`` atomically with mode 0644 (a report is
    meant to be read, not left with a temp file's 0600); returns the path."""
    path = Path(path)
    if fig is not None:
        atomic_write_bytes(path, lambda f: fig.savefig(f, format="png"))
    else:
        assert data is not None
        atomic_write_bytes(path, lambda f: f.write(data))
    os.chmod(path, 0o644)
    return path


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically; returns the path."""
    return publish(path, fig=fig)


def colour_of(key: str, keys: list[str]) -> str:
    """A method's colour: fixed by its place in ``keys`` (all methods of the report), so a
    method has the same colour in every figure."""
    return PALETTE[keys.index(key) % len(PALETTE)] if key in keys else "#333333"
