"""Result tables in the paper's layout, from the records of ``results.jsonl``.

- Main suites (Tables 1 / 6): one row per method — *Direct Transfer*, the UDA methods, then the
  oracle as a marked upper bound — and per direction the columns MAE ↓, Corr, Acc-7, Acc-2 and F1
  (has-0 / non-0) for sentiment, Precision / Recall / F1 (macro) for classification. Cells are
  ``mean ± std`` over seeds (sample std; a single seed shows the mean only); accuracies and F1 in
  %. **Bold**: the best UDA method per column (compared as displayed); Direct Transfer and the
  oracle are references, never bold.
- Ablations (Tables 2-5 / 7-10): metrics as rows, variants as columns; the full model's column
  holds absolute ``mean ± std`` and every other column the difference of means against it
  (``+0.039``; for MAE ↓ a plus is worse, as in the paper).

``table.csv`` holds one row per (direction, method or variant) with ``<metric>_mean`` and
``<metric>_std`` (and ``<metric>_delta`` for ablations) in raw units (fractions, not %).

Every table says which data it ran on: a ``Data:`` line per benchmark with the spec's name and
the short SHA-256 of each data file (generated data: size and data seed), from the results'
``data`` records (:func:`osan.bench.spec.provenance`); ``table.csv`` has it in a ``data``
column.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from osan.atomic import atomic_write_bytes
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

#: First header cell of each ablation table, as in the paper.
ABLATION_CORNER = {
    "ablation-modules": "Module",
    "ablation-losses": "Loss",
    "ablation-ddg": "DDG",
    "ablation-tal": "TAL",
    "ablation-pairing": "Pairing",
    "ablation-design": "Design",
}

DIRECTION_SHORT = {
    "A2B": "A→B",
    "B2A": "B→A",
    "news2show": "news→show",
    "MOSEI2MOSI": "MOSEI→MOSI",
    "MOSI2MOSEI": "MOSI→MOSEI",
}

MISSING = "–"
ORACLE_MARK = "†"


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


# --------------------------------------------------------------------------- number formats


def _scale(col: Column) -> tuple[float, int]:
    return (100.0, 2) if col.percent else (1.0, 3)


def fmt_value(value: float | None, col: Column) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    scale, dec = _scale(col)
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
    scale, dec = _scale(col)
    value = round(delta * scale, dec)
    if value == 0:
        return f"{0:.{dec}f}"
    return f"{value:+.{dec}f}"


def _rounded(cell: Cell, key: str, col: Column) -> float | None:
    if key not in cell.mean or not math.isfinite(cell.mean[key]):
        return None
    scale, dec = _scale(col)
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


# --------------------------------------------------------------------------- main tables


def _ordered(cells: list[Cell], order: list[str]) -> list[Cell]:
    rank = {v: i for i, v in enumerate(order)}
    return sorted(cells, key=lambda c: (rank.get(c.variant, len(rank)), c.variant))


def _directions(cells: list[Cell], bench: str) -> list[str]:
    known = list(S.BENCHMARKS[bench].directions) if bench in S.BENCHMARKS else []
    present = {c.direction for c in cells}
    return [d for d in known if d in present] + sorted(present - set(known))


def _direction_names(cells: list[Cell], bench: str) -> dict[str, str]:
    """Direction id -> heading: the runner's records first, else the built-in benchmark's."""
    names = dict(S.BENCHMARKS[bench].directions) if bench in S.BENCHMARKS else {}
    names.update({c.direction: c.direction_label for c in cells if c.direction_label})
    return names


def short_direction(direction: str, cells: list[Cell] | None = None) -> str:
    """``A→B`` / ``mosei→mosi``: the compact heading of a direction (built-in, else as the
    runner recorded it)."""
    if direction in DIRECTION_SHORT:
        return DIRECTION_SHORT[direction]
    recorded = next((c.direction_short for c in cells or [] if c.direction == direction), "")
    return recorded or direction


def main_table_md(cells: list[Cell], bench: str) -> list[str]:
    """One Markdown table (Table 1 / Table 6 layout) for the cells of one benchmark."""
    task = cells[0].task
    cols = COLUMNS[task]
    dirs = _directions(cells, bench)
    names = _direction_names(cells, bench)
    by = {(c.direction, c.variant): c for c in cells}
    variants = [c.variant for c in _ordered(cells, list(S.MAIN_METHODS))]
    variants = list(dict.fromkeys(variants))
    proto = {c.variant: c for c in cells}

    def head(d: str, col: Column) -> str:
        return col.title if len(dirs) == 1 else f"{col.title} ({short_direction(d, cells)})"

    header = ["Methods"] + [head(d, col) for d in dirs for col in cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    bold = {
        (d, k): best_uda([c for c in cells if c.direction == d], k, col)
        for d in dirs
        for col in cols
        for k in col.keys
    }
    blank = [""] * (len(header) - 1)
    groups = [
        ("direct", None),
        ("uda", "*UDA*"),
        ("oracle", f"*Upper bound ({ORACLE_MARK}: uses target labels; not UDA, never ranked)*"),
    ]
    for group, title in groups:
        members = [v for v in variants if proto[v].group == group]
        if not members:
            continue
        if title:
            lines.append("| " + " | ".join([title, *blank]) + " |")
        for v in members:
            p = proto[v]
            label = p.label + (f" {ORACLE_MARK}" if p.uses_target_labels else "")
            if group == "direct":
                label = f"*{label}*"
            row = [label]
            for d in dirs:
                c = by.get((d, v))
                for col in cols:
                    parts = []
                    for k in col.keys:
                        text = MISSING if c is None else fmt_mean_std(c, k, col)
                        if c is not None and v in bold[(d, k)]:
                            text = f"**{text}**"
                        parts.append(text)
                    row.append(" / ".join(parts))
            lines.append("| " + " | ".join(row) + " |")
    legend = [f"{short_direction(d, cells)}: {names.get(d, d)}" for d in dirs if len(dirs) > 1]
    notes = _seed_note(cells)
    return lines + ([""] + ["; ".join(legend)] if legend else []) + notes


def _seed_note(cells: list[Cell]) -> list[str]:
    counts = {c.n for c in cells}
    if not cells:
        return []
    full = max(counts)
    seeds = sorted({s for c in cells for s in c.seeds})
    note = f"Seeds: {', '.join(map(str, seeds))} (n = {full} per cell"
    short = [
        f"{c.label} {short_direction(c.direction, cells)}: n = {c.n}" for c in cells if c.n < full
    ]
    note += "; fewer: " + ", ".join(short) + ")" if short else ")"
    return ["", note]


# --------------------------------------------------------------------------- ablation tables


def reference_of(cells: list[Cell]) -> Cell | None:
    refs = [c for c in cells if c.reference]
    return refs[0] if refs else None


def ablation_table_md(cells: list[Cell], suite: str) -> list[str]:
    """Tables 2-5 / 7-10 layout: metrics as rows, variants as columns, deltas vs the full model."""
    task = cells[0].task
    cols = COLUMNS[task]
    bench = cells[0].benchmark
    order = [v.name for v in _suite_variants(suite, bench, task)]
    cells = _ordered(cells, order)
    ref = reference_of(cells)
    if ref is not None:  # the full model first
        cells = [ref] + [c for c in cells if c is not ref]
    corner = ABLATION_CORNER.get(suite, "Variant")
    header = [corner] + [c.label + (" (full)" if c is ref else "") for c in cells]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for col in cols:
        row = [col.title]
        for c in cells:
            if c is ref:
                row.append(" / ".join(fmt_mean_std(c, k, col) for k in col.keys))
            else:
                row.append("/".join(fmt_delta(_delta(c, ref, k), col) for k in col.keys))
        lines.append("| " + " | ".join(row) + " |")
    if ref is None:
        lines += ["", "(the full model has no finished run yet: no deltas)"]
    return lines + _seed_note(cells)


def _suite_variants(suite: str, bench: str, task: str) -> list[S.Variant]:
    """The suite's variants in table order (a spec's benchmark: by its task)."""
    b: str | S.Benchmark = bench
    if bench not in S.BENCHMARKS:
        b = S.Benchmark(name=bench, task=task, title="", domains=(), pairs=())
    try:
        return S.variants(suite, b) + S.variants(suite, b, quick=True)
    except (KeyError, ValueError):
        return []


def _delta(c: Cell, ref: Cell | None, key: str) -> float | None:
    if ref is None or key not in c.mean or key not in ref.mean:
        return None
    return c.mean[key] - ref.mean[key]


# --------------------------------------------------------------------------- files


def _sections(cells: list[Cell]) -> list[tuple[str, list[Cell]]]:
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


def render_markdown(
    suite: str,
    cells: list[Cell],
    data: dict[str, list[str]] | None = None,
    titles: dict[str, str] | None = None,
) -> str:
    """``table.md``; ``data`` (from :func:`data_lines`) adds each benchmark's ``Data:`` line,
    ``titles`` (from :func:`bench_titles`) names each benchmark."""
    data = data or {}
    titles = titles if titles is not None else bench_titles([])
    spec = S.SUITES.get(suite)
    title = f"# {suite}" + (f": {spec.title} ({spec.paper} layout)" if spec else "")
    out = [title, ""]
    out.append(
        "Target test metrics, mean ± std over seeds"
        + (" (accuracies and F1 in %; Acc-2 / F1: has-0 / non-0)." if _has_reg(cells) else ".")
    )
    kind = spec.kind if spec else ("ablation" if any(c.reference for c in cells) else "main")
    if kind == "main":
        out.append(
            "**Bold**: best UDA method per column. Direct Transfer and the oracle "
            f"({ORACLE_MARK}, supervised on target labels: an upper bound) are references, "
            "excluded from the ranking."
        )
    else:
        out.append(
            "The full model's column is absolute; the other columns are differences of the "
            "mean against it (for MAE ↓ a plus is worse)."
        )
    if not cells:
        out += ["", "(no finished runs yet)"]
    for bench, group in _sections(cells):
        title = titles.get(bench, "")
        out += ["", f"## {bench}" + (f": {title}" if title else ""), ""]
        out += [f"{line}  " for line in data.get(bench, [])] + ([""] if bench in data else [])
        names = _direction_names(group, bench)
        if kind == "main":
            out += main_table_md(group, bench)
        else:
            for d in _directions(group, bench):
                sub = [c for c in group if c.direction == d]
                out += [f"{names.get(d, d)} ({short_direction(d, group)}):", ""]
                out += ablation_table_md(sub, suite) + [""]
    return "\n".join(out).rstrip() + "\n"


def bench_titles(records: list[dict[str, Any]]) -> dict[str, str]:
    """Benchmark -> title: the runner's records (spec titles), else the built-in's."""
    out = {b: spec.title for b, spec in S.BENCHMARKS.items()}
    out.update({r["benchmark"]: r["benchmark_title"] for r in records if r.get("benchmark_title")})
    return out


def _has_reg(cells: list[Cell]) -> bool:
    return any(c.task == "regression" for c in cells)


def _metric_keys(cells: list[Cell]) -> list[str]:
    present = {k for c in cells for k in c.mean}
    return [k for k in METRIC_DIRECTIONS if k in present] + sorted(present - set(METRIC_DIRECTIONS))


def csv_rows(
    suite: str, cells: list[Cell], data: dict[str, list[str]] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """``table.csv``'s columns and rows; the last column, ``data``, is the benchmark's
    ``Data:`` line (empty for records that carry none)."""
    data = data or {}
    keys = _metric_keys(cells)
    ablation = any(c.reference for c in cells) or (
        suite in S.SUITES and S.SUITES[suite].kind == "ablation"
    )
    fields = [
        "suite",
        "benchmark",
        "direction",
        "method",
        "variant",
        "label",
        "group",
        "reference",
        "uses_target_labels",
        "n",
        "seeds",
    ]
    for k in keys:
        fields += [f"{k}_mean", f"{k}_std"] + ([f"{k}_delta"] if ablation else [])
    rows = []
    for bench, group in _sections(cells):
        order = (
            list(S.MAIN_METHODS)
            if not ablation
            else [v.name for v in _suite_variants(suite, bench, group[0].task)]
        )
        for d in _directions(group, bench):
            sub = _ordered([c for c in group if c.direction == d], order)
            ref = reference_of(sub)
            for c in sub:
                row: dict[str, Any] = {
                    "suite": suite,
                    "benchmark": c.benchmark,
                    "direction": c.direction,
                    "method": c.method,
                    "variant": c.variant,
                    "label": c.label,
                    "group": c.group,
                    "reference": c.reference,
                    "uses_target_labels": c.uses_target_labels,
                    "n": c.n,
                    "seeds": " ".join(map(str, c.seeds)),
                }
                for k in keys:
                    row[f"{k}_mean"] = _num(c.mean.get(k))
                    row[f"{k}_std"] = _num(c.std.get(k))
                    if ablation:
                        row[f"{k}_delta"] = _num(_delta(c, ref, k))
                row["data"] = " | ".join(data.get(c.benchmark, []))
                rows.append(row)
    return fields + ["data"], rows


def _num(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.12g}"


#: The method a main suite's versus table compares with every other method.
VERSUS_METHOD = "osan"
#: The versus files of a main suite: OSAN (the paper's method) and OSAN+ (our extension).
VERSUS_FILES: dict[str, str] = {"versus.md": VERSUS_METHOD, "versus-osan-plus.md": "osan-plus"}


def versus_md(
    suite: str,
    cells: list[Cell],
    method: str = VERSUS_METHOD,
    data: dict[str, list[str]] | None = None,
) -> str | None:
    """Does ``method`` beat each other method, on each metric, and by how much?

    One table per benchmark and direction: a row per other method, a column per metric, the
    cell the difference of the means oriented so that **+ means ``method`` is better** (for MAE,
    lower is better, so + is a lower MAE), in the metric's table units. ``*`` marks a
    difference larger than √(s₁² + s₂²), the seed-to-seed std of a difference of two single
    runs (with 3 seeds a rough guide, not a test). The last column counts the metrics
    ``method`` wins. None when ``method`` has no finished run.
    """
    if not any(c.method == method for c in cells):
        return None
    out = [
        f"# {suite}: {S.METHOD_LABELS.get(method, method)} against every other method",
        "",
        "Difference of target-test means, **+ = "
        f"{S.METHOD_LABELS.get(method, method)} better** (MAE: lower), accuracies and F1 in "
        "points; `*`: |difference| > √(s₁² + s₂²) of the two rows' seed stds.",
    ]
    for bench, group in _sections(cells):
        for d in _directions(group, bench):
            sub = _ordered([c for c in group if c.direction == d], list(S.MAIN_METHODS))
            ref = next((c for c in sub if c.method == method), None)
            if ref is None:
                continue
            keys = [k for col in COLUMNS[ref.task] for k in col.keys if k in ref.mean]
            cols = {k: col for col in COLUMNS[ref.task] for k in col.keys}
            out += ["", f"## {bench} {short_direction(d, group)} (n = {ref.n} seeds)", ""]
            out += [f"{line}  " for line in (data or {}).get(bench, [])]
            out += [""] if (data or {}).get(bench) else []
            out.append("| vs | " + " | ".join(keys) + " | wins |")
            out.append("|---|" + "---:|" * len(keys) + "---:|")
            for c in sub:
                if c is ref:
                    continue
                cells_txt, wins = [], 0
                for k in keys:
                    if k not in c.mean:
                        cells_txt.append(MISSING)
                        continue
                    sign = -1.0 if METRIC_DIRECTIONS.get(k) == "min" else 1.0
                    diff = sign * (ref.mean[k] - c.mean[k])
                    scale, digits = _scale(cols[k])
                    noise = math.hypot(ref.std.get(k, 0.0), c.std.get(k, 0.0))
                    mark = "*" if ref.n > 1 and c.n > 1 and abs(diff) > noise else ""
                    cells_txt.append(f"{diff * scale:+.{digits}f}{mark}")
                    wins += diff > 0
                name = c.label + (f" {ORACLE_MARK}" if c.uses_target_labels else "")
                out.append(f"| {name} | " + " | ".join(cells_txt) + f" | {wins}/{len(keys)} |")
    return "\n".join(out) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def write_tables(out: str | Path, suite: str, records: list[dict[str, Any]]) -> list[Path]:
    """Write ``table.md``, ``table.csv`` and ``summary.json`` for ``suite``'s records (and
    ``versus.md`` for a main suite), each atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mine = [r for r in records if r.get("suite", suite) == suite]
    cells = aggregate(mine)
    data = data_lines(mine)
    md = out / "table.md"
    _atomic_write(md, render_markdown(suite, cells, data, bench_titles(mine)))

    fields, rows = csv_rows(suite, cells, data)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    _atomic_write(out / "table.csv", buf.getvalue())

    summary = {
        "suite": suite,
        "data": data,
        "cells": [
            {
                "benchmark": c.benchmark,
                "direction": c.direction,
                "variant": c.variant,
                "method": c.method,
                "label": c.label,
                "group": c.group,
                "reference": c.reference,
                "uses_target_labels": c.uses_target_labels,
                "seeds": c.seeds,
                "mean": c.mean,
                "std": c.std,
            }
            for c in cells
        ],
    }
    _atomic_write(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    written = [md, out / "table.csv", out / "summary.json"]
    spec = S.SUITES.get(suite)
    is_main = spec is not None and spec.kind == "main" and suite != S.SELECTION
    for name, method in VERSUS_FILES.items():
        versus = versus_md(suite, cells, method, data=data) if is_main else None
        if versus is not None:
            _atomic_write(out / name, versus)
            written.append(out / name)
    return written
