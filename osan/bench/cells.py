"""The table cells of a bench suite: one :class:`Cell` per (benchmark, direction, variant) with
the mean and sample std over seeds of each metric, the paper's columns per task, and the
orderings the tables share (directions, methods, benchmarks). Pure computation: no formatting,
no files (``table_format.py``, ``table_md.py``, ``tables.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from osan.bench import suites as S
from osan.bench.spec import provenance
from osan.eval.metrics import METRIC_DIRECTIONS


@dataclass(frozen=True)
class Column:
    """A table column: one metric, or a has-0 / non-0 pair shown as ``a / b``."""

    title: str
    keys: tuple[str, ...]
    percent: bool  # fractions shown x100 with 2 decimals; else 3 decimals


COLUMNS: dict[str, tuple[Column, ...]] = {
    "regression": (
        Column("MAE ↓", ("mae",), False),
        Column("Corr", ("corr",), False),
        Column("Acc-7", ("acc7",), True),
        Column("Acc-2", ("acc2_has0", "acc2_non0"), True),
        Column("F1", ("f1_has0", "f1_non0"), True),
    ),
    "classification": (
        Column("Precision", ("precision",), True),
        Column("Recall", ("recall",), True),
        Column("F1", ("f1",), True),
    ),
}


@dataclass
class Cell:
    """Aggregate over seeds of one (benchmark, direction, variant)."""

    benchmark: str
    direction: str
    variant: str
    method: str
    label: str
    group: str
    reference: bool
    task: str
    uses_target_labels: bool
    direction_label: str = ""  # "CMU-MOSEI → CMU-MOSI" (recorded by the runner)
    direction_short: str = ""  # "mosei→mosi"
    seeds: list[int] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def uda(self) -> bool:
        return self.group == "uda" and not self.uses_target_labels


def aggregate(records: list[dict[str, Any]]) -> list[Cell]:
    """Mean and sample std (ddof=1; 0 for one seed) over seeds; NaN values are left out."""
    by_id: dict[str, dict[str, Any]] = {}
    for r in records:
        by_id[r["run_id"]] = r  # the last record of a run id wins
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in by_id.values():
        key = (r.get("benchmark", ""), r["direction"], r["variant"])
        groups.setdefault(key, []).append(r)
    cells = []
    for (bench, direction, variant), rs in groups.items():
        first = rs[0]
        method = first["method"]
        cell = Cell(
            benchmark=bench,
            direction=direction,
            variant=variant,
            method=method,
            label=first.get("label") or S.METHOD_LABELS.get(method, variant),
            group=first.get("group") or S.method_group(method),
            reference=bool(first.get("reference", False)),
            task=first.get("task") or _task_of(first["metrics"]),
            uses_target_labels=any(r.get("uses_target_labels", False) for r in rs),
            direction_label=first.get("direction_label", ""),
            direction_short=first.get("direction_short", ""),
            seeds=sorted(r["seed"] for r in rs),
        )
        keys = {k for r in rs for k in r["metrics"]}
        for k in keys:
            vals = np.array([r["metrics"].get(k, math.nan) for r in rs], dtype=float)
            vals = vals[np.isfinite(vals)]
            if vals.size == 0:
                continue
            cell.mean[k] = float(vals.mean())
            cell.std[k] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        cells.append(cell)
    return cells


def _task_of(metrics: dict[str, Any]) -> str:
    return "regression" if "mae" in metrics else "classification"


def in_order(cells: list[Cell], order: list[str]) -> list[Cell]:
    rank = {v: i for i, v in enumerate(order)}
    return sorted(cells, key=lambda c: (rank.get(c.variant, len(rank)), c.variant))


def directions_of(cells: list[Cell], bench: str) -> list[str]:
    known = list(S.BENCHMARKS[bench].directions) if bench in S.BENCHMARKS else []
    present = {c.direction for c in cells}
    return [d for d in known if d in present] + sorted(present - set(known))


def direction_names(cells: list[Cell], bench: str) -> dict[str, str]:
    """Direction id -> heading: the runner's records first, else the built-in benchmark's."""
    names = dict(S.BENCHMARKS[bench].directions) if bench in S.BENCHMARKS else {}
    names.update({c.direction: c.direction_label for c in cells if c.direction_label})
    return names


def reference_of(cells: list[Cell]) -> Cell | None:
    refs = [c for c in cells if c.reference]
    return refs[0] if refs else None


def suite_variants(suite: str, bench: str, task: str) -> list[S.Variant]:
    """The suite's variants in table order (a spec's benchmark: by its task)."""
    b: str | S.Benchmark = bench
    if bench not in S.BENCHMARKS:
        b = S.Benchmark(name=bench, task=task, title="", domains=(), pairs=())
    try:
        return S.variants(suite, b) + S.variants(suite, b, quick=True)
    except (KeyError, ValueError):
        return []


def delta_of(c: Cell, ref: Cell | None, key: str) -> float | None:
    if ref is None or key not in c.mean or key not in ref.mean:
        return None
    return c.mean[key] - ref.mean[key]


def by_benchmark(cells: list[Cell]) -> list[tuple[str, list[Cell]]]:
    """(benchmark, its cells) in table order."""
    benches = [b for b in S.BENCHMARKS if any(c.benchmark == b for c in cells)]
    benches += sorted({c.benchmark for c in cells} - set(benches))
    return [(b, [c for c in cells if c.benchmark == b]) for b in benches]


def data_lines(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per benchmark, the distinct ``Data:`` lines of its records (one unless a folder mixes
    data, which resuming refuses; records written before the specs may differ)."""
    out: dict[str, list[str]] = {}
    for r in records:
        data = r.get("data")
        if not isinstance(data, dict) or data.get("custom"):
            continue
        line = provenance(data)
        lines = out.setdefault(r.get("benchmark", data.get("benchmark", "")), [])
        if line not in lines:
            lines.append(line)
    return out


def bench_titles(records: list[dict[str, Any]]) -> dict[str, str]:
    """Benchmark -> title: the runner's records (spec titles), else the built-in's."""
    out = {b: spec.title for b, spec in S.BENCHMARKS.items()}
    out.update({r["benchmark"]: r["benchmark_title"] for r in records if r.get("benchmark_title")})
    return out


def has_regression(cells: list[Cell]) -> bool:
    return any(c.task == "regression" for c in cells)


def metric_keys(cells: list[Cell]) -> list[str]:
    present = {k for c in cells for k in c.mean}
    return [k for k in METRIC_DIRECTIONS if k in present] + sorted(present - set(METRIC_DIRECTIONS))
