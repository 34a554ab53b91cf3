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

The computation lives in ``cells.py`` (aggregation over seeds, columns, orderings), the number
formats in ``table_format.py``, the Markdown layouts in ``table_md.py`` and ``versus.md`` in
``versus.py``; this module writes the files (``table.csv``, ``summary.json``) and keeps the
names of all of them importable from here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from osan.atomic import atomic_write_bytes
from osan.bench import suites as S
from osan.bench.cells import (
    COLUMNS,
    Cell,
    Column,
    aggregate,
    bench_titles,
    by_benchmark,
    data_lines,
    delta_of,
    directions_of,
    in_order,
    metric_keys,
    reference_of,
    suite_variants,
)
from osan.bench.table_format import (
    DIRECTION_SHORT,
    MISSING,
    ORACLE_MARK,
    best_uda,
    fmt_delta,
    fmt_mean_std,
    fmt_value,
    short_direction,
)
from osan.bench.table_md import ABLATION_CORNER, ablation_table_md, main_table_md, render_markdown
from osan.bench.versus import VERSUS_FILES, VERSUS_METHOD, versus_md

#: Importable from here as before the split into cells / table_format / table_md / versus.
__all__ = [
    "ABLATION_CORNER",
    "COLUMNS",
    "DIRECTION_SHORT",
    "MISSING",
    "ORACLE_MARK",
    "VERSUS_FILES",
    "VERSUS_METHOD",
    "Cell",
    "Column",
    "ablation_table_md",
    "aggregate",
    "bench_titles",
    "best_uda",
    "csv_rows",
    "data_lines",
    "fmt_delta",
    "fmt_mean_std",
    "fmt_value",
    "main_table_md",
    "reference_of",
    "render_markdown",
    "short_direction",
    "versus_md",
    "write_tables",
]


def csv_rows(
    suite: str, cells: list[Cell], data: dict[str, list[str]] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """``table.csv``'s columns and rows; the last column, ``data``, is the benchmark's
    ``Data:`` line (empty for records that carry none)."""
    data = data or {}
    keys = metric_keys(cells)
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
    for bench, group in by_benchmark(cells):
        order = (
            list(S.MAIN_METHODS)
            if not ablation
            else [v.name for v in suite_variants(suite, bench, group[0].task)]
        )
        for d in directions_of(group, bench):
            sub = in_order([c for c in group if c.direction == d], order)
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
                        row[f"{k}_delta"] = _num(delta_of(c, ref, k))
                row["data"] = " | ".join(data.get(c.benchmark, []))
                rows.append(row)
    return fields + ["data"], rows


def _num(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.12g}"


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
