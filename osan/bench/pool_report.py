"""``osan pool``: pool bench folders over data draws and ask whether a method beats the others.

    osan pool --bench results/msa-d12 results/msa-d13 results/vtc-d12 --method osan --out r/pool
    osan pool --bench results/*-d1[2-5] --method osan vtc=osan-plus --baseline source-only --out r/p

Writes ``OUT/pool.md`` (per data draw: the tasks the method wins against the baseline, against
every other UDA method, and where its source fit is at least the baseline's; per task: wins,
mean paired differences and sign tests against each other method, on target and on source
test; where the oracle ran, the share of the baseline → oracle gap every method closes),
``OUT/pool.csv`` (one row per task, domain, other method and metric), ``OUT/pool.json`` and
``OUT/pool.png`` (per-draw paired differences against the baseline, one panel per task and
metric). Nothing is retrained; only the folders' ``results.jsonl`` are read.
:mod:`osan.bench.pool` computes; this module formats and is the command.

Exit codes: 0 done, 2 a bad command (a folder that is not a bench folder, a method or baseline
with no finished run); nothing is written then.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from osan.atomic import atomic_write_bytes
from osan.bench.options import BenchError
from osan.bench.pool import (
    ORACLE,
    Comparison,
    DataCell,
    DataSummary,
    GapShare,
    MethodChoice,
    compare,
    gap_closed,
    main_metrics,
    parse_tags,
    per_data,
    pool_cells,
    tasks_of,
)
from osan.bench.pool_figure import write_pool_figure
from osan.bench.pool_labels import PERCENT, TITLES, variant_label

POOL_MD, POOL_CSV, POOL_JSON, POOL_PNG = "pool.md", "pool.csv", "pool.json", "pool.png"


@dataclass(frozen=True)
class PoolResult:
    """Everything one ``osan pool`` report shows."""

    folders: list[Path]
    choice: MethodChoice
    baseline: str
    cells: list[DataCell]
    rows: list[DataSummary]
    comps: list[Comparison]
    notes: list[str]
    tags: dict[str, str]  # bench folder -> tag NAME
    gaps: list[GapShare]


_label = variant_label


def _num(metric: str, x: float) -> str:
    if math.isnan(x):
        return "–"
    return f"{100 * x:+.2f}" if metric in PERCENT else f"{x:+.3f}"


def _std(metric: str, x: float) -> str:
    return f"{100 * x:.2f}" if metric in PERCENT else f"{x:.3f}"


def _count(names: list[str], total: int) -> str:
    return f"{len(names)} of {total}" + (f" ({', '.join(names)})" if names else "")


def per_data_lines(rows: list[DataSummary], baseline: str) -> list[str]:
    base = _label(baseline)
    out = [
        f"| data | tasks | beats {base} | beats every other UDA method [how many ran per task; "
        "a task where none ran is not counted] | "
        f"source fit ≥ {base} |",
        "|---|---:|---|---|---|",
    ]
    for r in rows:
        n = len(r.tasks)
        ran = sorted(set(r.others.values()))
        ran_txt = f"{ran[0]}–{ran[-1]}" if len(ran) > 1 else str(ran[0] if ran else 0)
        out.append(
            f"| {r.label} | {n} | {_count(r.vs_baseline, n)} | {_count(r.vs_all, n)} "
            f"[{ran_txt}] | {_count(r.source_ok, n)} |"
        )
    return out


def comparison_lines(comps: list[Comparison]) -> list[str]:
    keys = main_metrics(comps[0].task)
    head = " | ".join(f"{TITLES.get(k, k)}: mean ± std (wins–losses, sign p)" for k in keys)
    out = [f"| vs | data draws | beats on all | {head} |", "|---|---:|---:|" + "---|" * len(keys)]
    for c in comps:
        parts = [
            f"{_num(k, c.diff[k])} ± {_std(k, c.diff_std[k])} "
            f"({c.metric_wins[k]}–{c.metric_losses[k]}, {c.sign_p(k):.2g})"
            for k in keys
        ]
        out.append(f"| {_label(c.other)} | {c.n} | {c.wins} | " + " | ".join(parts) + " |")
    return out


def _share(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:+.0f}%"


def gap_lines(gaps: list[GapShare], lead: str) -> list[str]:
    """The gap-share table of one task (``lead``, the method under test, first)."""
    if not gaps:
        return []
    base = _label(gaps[0].baseline)
    if not gaps[0].oracle_ran:
        return [f"No oracle ran on this task: no share of the {base} → oracle gap."]
    keys = list(gaps[0].share)
    head = " | ".join(f"{TITLES.get(k, k)}: share (mean; {base}, oracle)" for k in keys)
    out = [
        f"Share of the {base} → oracle gap closed (target test; pooled means over the draws "
        f"where the method, {base} and the oracle ran; 100% = the oracle, 0% = {base}, "
        f"< 0 = further from the oracle; – where the oracle is not above {base}):",
        "",
        f"| method | draws | {head} |",
        "|---|---:|" + "---|" * len(keys),
    ]
    for g in sorted(gaps, key=lambda g: g.variant != lead):
        parts = [
            f"{_share(g.share[k])} ({_mean(k, g.mean[k])}; {_mean(k, g.baseline_mean[k])}, "
            f"{_mean(k, g.oracle_mean[k])})"
            for k in keys
        ]
        out.append(f"| {_label(g.variant)} | {g.n} | " + " | ".join(parts) + " |")
    return out


def _mean(metric: str, x: float) -> str:
    if math.isnan(x):
        return "–"
    return f"{100 * x:.2f}" if metric in PERCENT else f"{x:.3f}"


def render_markdown(result: PoolResult) -> str:
    """``pool.md``."""
    out = [
        f"# Pooled over data draws: {result.choice.label()} against every other method",
        "",
        "Folders: " + ", ".join(f"`{f}`" for f in result.folders) + ".",
        "",
    ]
    if result.tags:
        out += [
            "Tagged folders (their variants are named VARIANT@NAME): "
            + ", ".join(f"`{f}` → @{n}" for f, n in result.tags.items())
            + ".",
            "",
        ]
    out += [
        "Each cell of a bench folder (benchmark, direction, data, method) is the mean over its "
        "training seeds. **Beats** = better on every main metric, strictly (MAE and Corr for "
        "regression, macro-F1 for classification). Differences are paired by data draw, "
        "+ = the method better (MAE: lower), accuracies and F1 in points; the sign test is "
        "exact and two-sided over the data draws, ties left out.",
        "",
        "## Per data draw",
        "",
        *per_data_lines(result.rows, result.baseline),
    ]
    for bench, direction in tasks_of(result.cells):
        for domain in ("target", "source"):
            sub = [c for c in result.comps if (c.benchmark, c.direction, c.domain) ==
                   (bench, direction, domain)]  # fmt: skip
            if not sub:
                continue
            out += ["", f"## {bench} {direction}: {sub[0].method}, {domain} test", ""]
            out += comparison_lines(sub)
            gaps = [g for g in result.gaps if (g.benchmark, g.direction) == (bench, direction)]
            if domain == "target" and gaps:
                out += ["", *gap_lines(gaps, sub[0].method)]
    if result.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(out) + "\n"


def render_csv(comps: list[Comparison], gaps: list[GapShare] | None = None) -> str:
    """``pool.csv``. On target rows, ``gap_closed_method`` / ``gap_closed_other``: the share
    of the baseline → oracle gap the method / the other closes (empty without an oracle; the
    baseline's own share is 0, the oracle's 1)."""
    gaps = gaps or []
    share = {(g.benchmark, g.direction, g.variant): g for g in gaps}
    oracle_tasks = {(g.benchmark, g.direction) for g in gaps if g.oracle_ran}
    baseline = gaps[0].baseline if gaps else None

    def gap(c: Comparison, variant: str, k: str) -> str:
        if c.domain != "target" or (c.benchmark, c.direction) not in oracle_tasks:
            return ""
        g = share.get((c.benchmark, c.direction, variant))
        if g is not None:
            return "" if math.isnan(g.share[k]) else f"{g.share[k]:.6g}"
        return "0" if variant == baseline else "1" if variant == ORACLE else ""

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["benchmark", "direction", "domain", "method", "other", "draws", "beats_on_all",
         "metric", "wins", "losses", "mean_diff", "std_diff", "sign_p", "gap_closed_method",
         "gap_closed_other"]
    )  # fmt: skip
    for c in comps:
        for k in main_metrics(c.task):
            w.writerow(
                [c.benchmark, c.direction, c.domain, c.method, c.other, c.n, c.wins, k,
                 c.metric_wins[k], c.metric_losses[k], f"{c.diff[k]:.6g}",
                 f"{c.diff_std[k]:.6g}", f"{c.sign_p(k):.6g}", gap(c, c.method, k),
                 gap(c, c.other, k)]
            )  # fmt: skip
    return buf.getvalue()


def render_json(result: PoolResult) -> str:
    """``pool.json`` (strict: NaN becomes null)."""
    choice = result.choice
    doc = {
        "folders": [str(f) for f in result.folders],
        "tags": dict(result.tags),
        "method": {"default": choice.default, "per_benchmark": choice.per_benchmark},
        "baseline": result.baseline,
        "per_data": [asdict(r) for r in result.rows],
        "comparisons": [
            asdict(c) | {"sign_p": {k: c.sign_p(k) for k in c.diff}} for c in result.comps
        ],
        "gap_closed": [
            {
                "benchmark": g.benchmark,
                "direction": g.direction,
                "variant": g.variant,
                "baseline": g.baseline,
                "oracle_ran": g.oracle_ran,
                "draws": g.n,
                "gap_closed": g.share,
                "mean": g.mean,
                "baseline_mean": g.baseline_mean,
                "oracle_mean": g.oracle_mean,
            }
            for g in result.gaps
        ],
        "cells": [asdict(c) for c in result.cells],
        "notes": result.notes,
    }
    return json.dumps(_finite(doc), indent=1, allow_nan=False) + "\n"


def _finite(x: object) -> object:
    """``x`` with every NaN / infinity replaced by None (strict JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def add_pool_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``pool`` sub-command (``osan.cli`` dispatches to :func:`cmd_pool`)."""
    p = subparsers.add_parser(
        "pool",
        help="pool bench folders over data draws: does a method beat the others?",
        description="Read several `osan bench` folders (e.g. one per data seed) and write "
        "OUT/pool.md, OUT/pool.csv, OUT/pool.json and OUT/pool.png: per data draw, the tasks a "
        "method wins against a baseline and against every other UDA method, and where its "
        "source fit is at least the baseline's; per task, paired differences and sign tests "
        "over the draws, and where the oracle ran, the share of the baseline → oracle gap each "
        "method closes; the figure plots every method's per-draw difference to the baseline.",
    )
    p.add_argument("--bench", nargs="+", required=True, type=Path, help="bench folders DIR")
    p.add_argument(
        "--method",
        nargs="+",
        default=["osan"],
        help="the method under test: METHOD, and/or BENCHMARK=METHOD per benchmark "
        "(osan vtc=osan-plus); default osan",
    )
    p.add_argument("--baseline", default="source-only", help="default source-only")
    p.add_argument(
        "--tag",
        nargs="+",
        default=[],
        metavar="DIR=NAME",
        help="name every variant of the bench folder DIR VARIANT@NAME (e.g. osan@gate0 for "
        "a run of osan with other overrides), so it pools beside the untagged one",
    )
    p.add_argument("--out", required=True, type=Path, help="report folder OUT")
    return p


def run_pool(args: argparse.Namespace) -> tuple[str, list[DataSummary]]:
    """Compute and write the report; returns (markdown, per-data rows). Raises BenchError."""
    choice = MethodChoice.parse(list(args.method))
    if args.out.exists() and not args.out.is_dir():
        raise BenchError(f"--out {args.out}: exists and is not a folder")
    tags = parse_tags(list(args.tag), list(args.bench))
    cells, notes = pool_cells(list(args.bench), tags)
    variants = {c.variant for c in cells}
    wanted = {m for m in [choice.default, *choice.per_benchmark.values()] if m is not None}
    missing = sorted(wanted - variants)
    if missing:
        raise BenchError(f"--method: no finished run of {', '.join(missing)} in the folders")
    if args.baseline not in variants:
        raise BenchError(f"--baseline: no finished run of {args.baseline} in the folders")
    unknown = sorted(set(choice.per_benchmark) - {c.benchmark for c in cells})
    if unknown:
        raise BenchError(f"--method: no benchmark {', '.join(unknown)} in the folders")
    comps = compare(cells, choice, "target") + compare(cells, choice, "source")
    order = {t: i for i, t in enumerate(tasks_of(cells))}
    comps.sort(key=lambda c: (order[(c.benchmark, c.direction)], c.domain != "target"))
    rows = per_data(cells, choice, args.baseline)
    named = {str(args.bench[i]): name for i, name in tags.items()}
    gaps = gap_closed(cells, args.baseline)
    result = PoolResult(
        list(args.bench), choice, args.baseline, cells, rows, comps, notes, named, gaps
    )
    md = render_markdown(result)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        (POOL_MD, md),
        (POOL_CSV, render_csv(comps, gaps)),
        (POOL_JSON, render_json(result)),
    ):
        atomic_write_bytes(args.out / name, lambda f, t=text: f.write(t.encode()))
    write_pool_figure(cells, args.baseline, args.out / POOL_PNG)
    return md, rows


def cmd_pool(args: argparse.Namespace) -> int:
    """Run ``osan pool``: exit 0, or 2 with one line on stderr."""
    try:
        _, rows = run_pool(args)
    except BenchError as e:
        print(f"osan pool: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(per_data_lines(rows, args.baseline)))
    print(
        f"wrote {args.out / POOL_MD}, {args.out / POOL_CSV}, {args.out / POOL_JSON} and "
        f"{args.out / POOL_PNG}"
    )
    return 0
