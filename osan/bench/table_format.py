"""How a table shows a number: ``mean ± std``, signed deltas, percent vs 3 decimals, the bold
best UDA method (compared as displayed) and the short direction headings."""

from __future__ import annotations

import math

from osan.bench.cells import Cell, Column
from osan.eval.metrics import METRIC_DIRECTIONS

DIRECTION_SHORT = {
    "A2B": "A→B",
    "B2A": "B→A",
    "news2show": "news→show",
    "MOSEI2MOSI": "MOSEI→MOSI",
    "MOSI2MOSEI": "MOSI→MOSEI",
}

MISSING = "–"
ORACLE_MARK = "†"


def scale_of(col: Column) -> tuple[float, int]:
    return (100.0, 2) if col.percent else (1.0, 3)


def fmt_value(value: float | None, col: Column) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    scale, dec = scale_of(col)
    return f"{value * scale:.{dec}f}"


def fmt_mean_std(cell: Cell, key: str, col: Column) -> str:
    """``0.713 ± 0.012`` (the std only with two or more seeds)."""
    if key not in cell.mean:
        return MISSING
    text = fmt_value(cell.mean[key], col)
    if cell.n > 1:
        text += f" ± {fmt_value(cell.std[key], col)}"
    return text


def fmt_delta(delta: float | None, col: Column) -> str:
    """Signed difference like the paper: ``+0.039``, ``-3.55``; a rounded zero is ``0.000``."""
    if delta is None or not math.isfinite(delta):
        return MISSING
    scale, dec = scale_of(col)
    value = round(delta * scale, dec)
    if value == 0:
        return f"{0:.{dec}f}"
    return f"{value:+.{dec}f}"


def _rounded(cell: Cell, key: str, col: Column) -> float | None:
    if key not in cell.mean or not math.isfinite(cell.mean[key]):
        return None
    scale, dec = scale_of(col)
    return round(cell.mean[key] * scale, dec)


def best_uda(cells: list[Cell], key: str, col: Column) -> set[str]:
    """Variants holding the best displayed mean of ``key`` among UDA methods (ties: all)."""
    vals = {c.variant: _rounded(c, key, col) for c in cells if c.uda}
    vals = {v: x for v, x in vals.items() if x is not None}
    if not vals:
        return set()
    pick = min if METRIC_DIRECTIONS.get(key, "max") == "min" else max
    best = pick(vals.values())
    return {v for v, x in vals.items() if x == best}


def short_direction(direction: str, cells: list[Cell] | None = None) -> str:
    """``A→B`` / ``mosei→mosi``: the compact heading of a direction (built-in, else as the
    runner recorded it)."""
    if direction in DIRECTION_SHORT:
        return DIRECTION_SHORT[direction]
    recorded = next((c.direction_short for c in cells or [] if c.direction == direction), "")
    return recorded or direction
