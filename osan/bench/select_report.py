"""The report of ``osan select``: ``DIR/selection.md`` and ``DIR/selection.json`` from the
evaluated pools of :mod:`osan.bench.select_picks` (rendering only; nothing is computed here
but the summary it prints)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from osan.bench import suites as S
from osan.bench.cells import COLUMNS, aggregate
from osan.bench.select_picks import Pool, summarize
from osan.bench.table_format import fmt_mean_std
from osan.bench.tables import data_lines
from osan.eval.metrics import METRIC_DIRECTIONS

REPORT_MD = "selection.md"
REPORT_JSON = "selection.json"
ORACLE_MARK = "†"

#: Metrics shown as a fraction (3 decimals); every other one in % (2 decimals).
_RAW_METRICS = ("mae", "corr")


def _fmt(metric: str, value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if metric in _RAW_METRICS:
        return f"{value:.3f}"
    return f"{100 * value:.2f}"


def _metric_title(metric: str) -> str:
    arrow = " ↓" if METRIC_DIRECTIONS.get(metric) == "min" else ""
    unit = "" if metric in _RAW_METRICS else ", %"
    return f"{metric}{arrow}{unit}"


def _rho(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:+.2f}"


def _short_variant(pool: Pool, variant: str) -> str:
    prefix = pool.method + "-"
    return variant[len(prefix) :] if variant.startswith(prefix) else variant


def summary_table(
    pools: list[Pool], diagnostics: dict[str, dict[str, float]] | None = None
) -> list[str]:
    """The summary as Markdown lines: one row per (benchmark, metric, validator)."""
    out = [
        "| benchmark | metric | validator | pools | Spearman ρ | regret | target @ pick "
        f"| oracle {ORACLE_MARK} | mean over settings | weights ESS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summarize(pools, diagnostics):
        ess = "" if not math.isfinite(row.ess) else f"{row.ess:.1f} / {row.n_valid:.0f}"
        out.append(
            f"| {row.benchmark} | {_metric_title(row.metric)} | {row.validator} | {row.pools} "
            f"| {_rho(row.spearman)} | {_fmt(row.metric, row.regret)} "
            f"| {_fmt(row.metric, row.value)} | {_fmt(row.metric, row.oracle)} "
            f"| {_fmt(row.metric, row.mean_settings)} | {ess} |"
        )
    return out


def render_markdown(
    pools: list[Pool], bench_dir: Path, diagnostics: dict[str, dict[str, float]] | None = None
) -> str:
    n_runs = sum(len(p.records) for p in pools)
    out = [
        "# Model selection without target labels",
        "",
        f"Bench folder `{bench_dir}`: {n_runs} runs in {len(pools)} pools (one pool per "
        "benchmark, direction, method and seed; its candidates are the method's settings). "
        "Validators read the source valid labels and the unlabelled target train split; the "
        "target TEST metric is read from results.jsonl for the columns only.",
        "",
        f"- **oracle {ORACLE_MARK}**: the best setting on target test. A diagnostic that needs "
        "target labels (the bound of any selection), not a selection method.",
        "- **regret**: oracle − pick in the metric's better direction (0: the best setting).",
        "- **ρ**: Spearman correlation of the validator's ranking of the settings with the "
        "target metric's (1: perfect; – below 3 settings or for a constant score).",
        "- **mean over settings**: the expected metric of a uniformly random pick.",
        "- **weights ESS** (IWV, DEV): median effective sample size (Σw)²/Σw² of the importance "
        "weights / source valid rows; near 1, a single sample decides the estimate.",
        "",
        "## Summary (means over pools)",
        "",
        *summary_table(pools, diagnostics),
        "",
        "## The picked runs per method (the table a validator's choice gives)",
        "",
        "Target test metrics of the run each validator picks in each pool, mean ± std over "
        "seeds; `picked` counts the settings chosen.",
        "",
        *picked_tables(pools),
        "## Per method",
        "",
    ]
    sections = list(dict.fromkeys((p.benchmark, p.direction) for p in pools))
    for bench, direction in sections:
        group = [p for p in pools if p.benchmark == bench and p.direction == direction]
        b = S.BENCHMARKS.get(bench)
        name = b.directions.get(direction, direction) if b else direction
        data = data_lines([r for p in group for r in p.records]).get(bench, [])
        out += [
            f"### {bench} {direction} ({name}), {_metric_title(group[0].metric)}",
            "",
            *[f"{line}  " for line in data],
            *([""] if data else []),
            f"| method | seed | settings | validator | pick | target @ pick | regret | ρ "
            f"| oracle {ORACLE_MARK} (its setting) | mean over settings |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in group:
            for pick in p.picks.values():
                out.append(
                    f"| {p.method} | {p.seed} | {len(p.records)} | {pick.validator} "
                    f"| {_short_variant(p, pick.variant)} | {_fmt(p.metric, pick.value)} "
                    f"| {_fmt(p.metric, pick.regret)} | {_rho(pick.spearman)} "
                    f"| {_fmt(p.metric, p.oracle_value)} "
                    f"({_short_variant(p, p.oracle_variant)}) "
                    f"| {_fmt(p.metric, p.mean_value)} |"
                )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def picked_tables(pools: list[Pool]) -> list[str]:
    """Per (benchmark, direction): one row per (method, validator) with the mean ± std over
    seeds of the picked runs' target test metrics, in the bench tables' columns and format
    (:func:`osan.bench.cells.aggregate`, :func:`osan.bench.table_format.fmt_mean_std`)."""
    out: list[str] = []
    sections = list(dict.fromkeys((p.benchmark, p.direction) for p in pools))
    for bench, direction in sections:
        group = [p for p in pools if p.benchmark == bench and p.direction == direction]
        cols = COLUMNS[group[0].task]
        out += [
            f"#### {bench} {direction}",
            "",
            "| method | validator | n | " + " | ".join(c.title for c in cols) + " | picked |",
            "|---|---|---|" + "---|" * len(cols) + "---|",
        ]
        for method in dict.fromkeys(p.method for p in group):
            mine = [p for p in group if p.method == method]
            for name in mine[0].picks:
                picks = [p.picks[name] for p in mine]
                recs = [
                    next(r for r in p.records if r["run_id"] == pick.run_id)
                    for p, pick in zip(mine, picks, strict=True)
                ]
                # one cell over the seeds, whichever setting each seed's pick has
                (cell,) = aggregate([{**r, "variant": method} for r in recs])
                cells = [" / ".join(fmt_mean_std(cell, k, col) for k in col.keys) for col in cols]
                counts = Counter(
                    _short_variant(p, pick.variant) for p, pick in zip(mine, picks, strict=True)
                )
                picked = ", ".join(f"{v} ×{c}" for v, c in counts.items())
                out.append(
                    f"| {method} | {name} | {cell.n} | " + " | ".join(cells) + f" | {picked} |"
                )
        out.append("")
    return out


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def report_json(
    pools: list[Pool],
    scores: dict[str, dict[str, float]],
    diagnostics: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    diagnostics = diagnostics or {}
    return _clean(
        {
            "oracle_note": "oracle = best on target TEST: a diagnostic, not a selection method",
            "summary": [vars(r) for r in summarize(pools, diagnostics)],
            "pools": [
                {
                    "benchmark": p.benchmark,
                    "direction": p.direction,
                    "method": p.method,
                    "seed": p.seed,
                    "metric": p.metric,
                    "settings": [
                        {
                            "run_id": r["run_id"],
                            "variant": r["variant"],
                            "target_metric": r["metrics"][p.metric],
                            "scores": scores.get(r["run_id"], {}),
                            "diagnostics": diagnostics.get(r["run_id"], {}),
                        }
                        for r in p.records
                    ],
                    "oracle": {
                        "run_id": p.oracle_run_id,
                        "variant": p.oracle_variant,
                        "value": p.oracle_value,
                    },
                    "mean_over_settings": p.mean_value,
                    "picks": {n: vars(pick) for n, pick in p.picks.items()},
                }
                for p in pools
            ],
        }
    )
