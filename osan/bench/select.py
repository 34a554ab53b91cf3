"""``osan select``: which setting would each validator pick, and where does it land on target?

    osan bench --suite selection --out results/sel --quick --benchmarks vtc
    osan select --bench results/sel                      # every validator that applies
    osan select --bench results/sel --validator dev snd

For every method of a bench folder (per benchmark, direction and seed) the candidates are its
finished runs: the hyper-parameter settings of the ``selection`` suite, or of any suite. Each
run is reloaded from ``DIR/runs/<run id>`` and its data rebuilt from the ``data`` spec of its
``results.jsonl`` line (as ``osan bench`` built it); each validator of
:mod:`osan.eval.selection` scores it from the SOURCE valid labels and the TARGET TRAIN split
without labels. The report (``DIR/selection.md``, ``DIR/selection.json``) gives per method:

- the setting each validator picks and the target test metric it lands on;
- the oracle choice (†, the best setting on target TEST): a DIAGNOSTIC that needs target labels,
  the bound no honest selection can beat, never a selection method;
- the mean over settings (what a uniformly random pick gets on average);
- regret = oracle − pick, in the metric's better direction (>= 0; 0: the best setting found);
- Spearman ρ between the validator's ranking of the settings and the target metric's
  (1: perfect ranking; undefined for fewer than 3 settings).

Target test metrics are read only from ``results.jsonl`` (the runs' ``metrics.json``), for those
columns. The supervised ``oracle`` method's runs are left out (they select on target labels).

Exit codes: 0 done, 2 a bad command (unknown validator or metric, missing runs, data that cannot
be rebuilt).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from osan.bench import suites as S
from osan.bench.runner import (
    RESULTS,
    RUNS,
    BenchError,
    BenchOptions,
    DataFn,
    default_data_fn,
    load_results,
)
from osan.config import ConfigError
from osan.data.domain import DataError, Domain
from osan.eval.metrics import METRIC_DIRECTIONS, primary_metric
from osan.eval.selection import (
    VALIDATORS,
    effective_sample_size,
    get_validator,
    score_model,
    validators_for,
)

REPORT_MD = "selection.md"
REPORT_JSON = "selection.json"
ORACLE_MARK = "†"

#: Metrics shown as a fraction (3 decimals); every other one in % (2 decimals).
_RAW_METRICS = ("mae", "corr")


@dataclass
class SelectOptions:
    bench: Path
    validators: list[str] | None = None  # None: every validator that applies to each task
    metric: str | None = None  # None: the task's primary metric (MAE ↓, macro-F1)
    methods: list[str] | None = None
    device: str = "cpu"
    mosi: Path | None = None  # real-text: MMSA label.csv files (as for osan bench)
    mosei: Path | None = None
    text_cache_dir: Path | None = None


@dataclass
class Pick:
    """One validator's choice among the settings of one pool."""

    validator: str
    run_id: str
    variant: str
    score: float
    value: float  # the target test metric of the pick
    regret: float
    spearman: float  # NaN where undefined


@dataclass
class Pool:
    """The candidate runs of one (benchmark, direction, method, seed)."""

    benchmark: str
    direction: str
    method: str
    seed: int
    task: str
    metric: str
    records: list[dict[str, Any]]
    oracle_run_id: str = ""
    oracle_variant: str = ""
    oracle_value: float = math.nan
    mean_value: float = math.nan
    picks: dict[str, Pick] = field(default_factory=dict)


# --------------------------------------------------------------------------- scoring


def _goodness(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    return values if higher_is_better else -values


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ of two score vectors; NaN for fewer than 3 values or a constant one."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def evaluate_pool(pool: Pool, scores: dict[str, dict[str, float]], names: list[str]) -> None:
    """Fill ``pool``'s oracle † diagnostic, mean over settings and each validator's pick.

    ``scores[run_id][validator]`` are raw validator scores; target metrics come from the
    records (``results.jsonl``).
    """
    recs = pool.records
    metric_up = METRIC_DIRECTIONS.get(pool.metric, "max") == "max"
    values = np.array([r["metrics"][pool.metric] for r in recs], dtype=float)  # (n,)
    good = _goodness(values, metric_up)
    best = int(np.argmax(good))
    pool.oracle_run_id, pool.oracle_variant = recs[best]["run_id"], recs[best]["variant"]
    pool.oracle_value = float(values[best])
    pool.mean_value = float(values.mean())
    for name in names:
        v = VALIDATORS[name]
        raw = np.array([scores[r["run_id"]][name] for r in recs], dtype=float)  # (n,)
        vgood = _goodness(raw, v.higher_is_better)
        finite = np.isfinite(vgood)
        # a non-finite score (a diverged density ratio, say) ranks last
        floor = vgood[finite].min() - 1.0 if finite.any() else 0.0
        vgood = np.where(finite, vgood, floor)
        i = int(np.argmax(vgood))  # ties: the first setting in results order
        pool.picks[name] = Pick(
            validator=name,
            run_id=recs[i]["run_id"],
            variant=recs[i]["variant"],
            score=float(raw[i]),
            value=float(values[i]),
            regret=float(good[best] - good[i]),
            spearman=spearman(vgood, good),
        )


def make_pools(
    records: list[dict[str, Any]], metric: str | None, methods: list[str] | None
) -> list[Pool]:
    """Group the UDA and Direct Transfer runs by (benchmark, direction, method, seed)."""
    by_id: dict[str, dict[str, Any]] = {}
    for r in records:
        by_id[r["run_id"]] = r  # the last record of a run id wins
    pools: dict[tuple[str, str, str, int], Pool] = {}
    for r in by_id.values():
        if r.get("uses_target_labels") or r["method"] == S.ORACLE:
            continue
        if methods is not None and r["method"] not in methods:
            continue
        task = r.get("task") or ("regression" if "mae" in r["metrics"] else "classification")
        key = (r.get("benchmark", ""), r["direction"], r["method"], int(r["seed"]))
        if key not in pools:
            m = metric or primary_metric(task)
            pools[key] = Pool(*key, task=task, metric=m, records=[])
        pool = pools[key]
        if pool.metric not in r["metrics"]:
            raise BenchError(
                f"{r['run_id']}: no target metric {pool.metric!r} in results.jsonl "
                f"(have {sorted(r['metrics'])})"
            )
        pool.records.append(r)
    bench_order = {b: i for i, b in enumerate(S.BENCHMARKS)}
    method_order = {m: i for i, m in enumerate(S.MAIN_METHODS)}
    return sorted(
        pools.values(),
        key=lambda p: (
            bench_order.get(p.benchmark, len(bench_order)),
            p.benchmark,
            p.direction,
            method_order.get(p.method, len(method_order)),
            p.method,
            p.seed,
        ),
    )


def _data_getter(
    opts: SelectOptions, data_fn: DataFn | None
) -> Callable[[dict[str, Any]], tuple[Domain, Domain]]:
    """``(source, target)`` of a results line, rebuilt once per data spec by the bench runner's
    own data functions (``data_fn`` replaces them, as in ``run_suite``)."""
    cache: dict[str, dict[str, tuple[Domain, Domain]]] = {}

    def get(rec: dict[str, Any]) -> tuple[Domain, Domain]:
        spec = rec.get("data") or {}
        bench = rec.get("benchmark", spec.get("benchmark", ""))
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            if data_fn is not None:
                cache[key] = data_fn(bench)
            else:
                if spec.get("custom") or bench not in S.BENCHMARKS:
                    raise BenchError(
                        f"{rec['run_id']}: trained on data osan cannot rebuild ({spec}); "
                        "osan select rebuilds the built-in and real-text benchmarks only"
                    )
                bopts = BenchOptions(
                    suite=rec.get("suite", ""),
                    out=opts.bench,
                    size=spec.get("size"),
                    data_seed=int(spec.get("seed", 0)),
                    mosi=opts.mosi,
                    mosei=opts.mosei,
                    text_cache_dir=opts.text_cache_dir,
                )
                load, spec_fn = default_data_fn(bopts)
                here = spec_fn(bench)
                if here != spec:
                    raise BenchError(
                        f"{rec['run_id']}: was trained on {spec}, but this command would "
                        f"rebuild {here} (point --mosi/--mosei at the same files)"
                    )
                try:
                    cache[key] = load(bench)
                except ValueError as e:  # DataError included
                    raise BenchError(
                        f"{rec['run_id']}: cannot rebuild its data {spec}: {e}"
                    ) from None
        directions = cache[key]
        if rec["direction"] not in directions:
            raise BenchError(f"{rec['run_id']}: no direction {rec['direction']!r} in its data")
        return directions[rec["direction"]]

    return get


def score_runs(
    pools: list[Pool],
    opts: SelectOptions,
    names_of: Callable[[Pool], list[str]],
    *,
    data_fn: DataFn | None = None,
    diagnostics: dict[str, dict[str, float]] | None = None,
) -> dict[str, dict[str, float]]:
    """``{run_id: {validator: raw score}}`` for every run of ``pools`` (one pass per run).

    ``diagnostics[run_id]`` receives the importance weights' effective sample size and the
    number of source valid rows where IWV / DEV were computed.
    """
    from osan.train.trainer import load_run

    get_data = _data_getter(opts, data_fn)
    runs = [(p, r) for p in pools for r in p.records]
    missing = [r["run_id"] for _, r in runs if not (opts.bench / RUNS / r["run_id"]).is_dir()]
    if missing:
        raise BenchError(
            f"{len(missing)} run folder(s) missing under {opts.bench / RUNS}, e.g. {missing[0]}"
        )
    scores: dict[str, dict[str, float]] = {}
    bar = tqdm(runs, desc="osan select", unit="run", dynamic_ncols=True, file=sys.stderr)
    for pool, rec in bar:
        bar.set_postfix_str(rec["run_id"], refresh=False)
        cfg, method, _ = load_run(opts.bench / RUNS / rec["run_id"], opts.device)
        source, target = get_data(rec)
        cache: dict[str, np.ndarray] = {}
        scores[rec["run_id"]] = score_model(
            method,
            source,
            target,
            names_of(pool),
            task=cfg.task,
            task_loss=cfg.loss.task_loss,
            device=opts.device,
            cache=cache,
        )
        if diagnostics is not None and "weights" in cache:
            diagnostics[rec["run_id"]] = {
                "weights_ess": effective_sample_size(cache["weights"]),
                "n_source_valid": float(len(cache["weights"])),
            }
    return scores


# --------------------------------------------------------------------------- report


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


@dataclass
class SummaryRow:
    benchmark: str
    metric: str
    validator: str
    pools: int
    spearman: float  # mean over pools where defined
    spearman_pools: int
    regret: float
    value: float  # mean target metric at the pick
    oracle: float
    mean_settings: float
    ess: float = math.nan  # IWV / DEV: median effective sample size of the weights
    n_valid: float = math.nan  # ... out of this many source valid rows (median)


def summarize(
    pools: list[Pool], diagnostics: dict[str, dict[str, float]] | None = None
) -> list[SummaryRow]:
    """Means over pools, per (benchmark, metric, validator)."""
    diagnostics = diagnostics or {}
    rows: list[SummaryRow] = []
    keys = list(dict.fromkeys((p.benchmark, p.metric) for p in pools))
    for bench, metric in keys:
        group = [p for p in pools if p.benchmark == bench and p.metric == metric]
        names = [n for n in VALIDATORS if any(n in p.picks for p in group)]
        for name in names:
            ps = [p for p in group if name in p.picks]
            rhos = [p.picks[name].spearman for p in ps]
            rhos = [x for x in rhos if math.isfinite(x)]
            diag = [diagnostics.get(r["run_id"]) for p in ps for r in p.records]
            diag = [d for d in diag if d] if name in ("iwv", "dev") else []
            rows.append(
                SummaryRow(
                    benchmark=bench,
                    metric=metric,
                    validator=name,
                    pools=len(ps),
                    spearman=float(np.mean(rhos)) if rhos else math.nan,
                    spearman_pools=len(rhos),
                    regret=float(np.mean([p.picks[name].regret for p in ps])),
                    value=float(np.mean([p.picks[name].value for p in ps])),
                    oracle=float(np.mean([p.oracle_value for p in ps])),
                    mean_settings=float(np.mean([p.mean_value for p in ps])),
                    ess=float(np.median([d["weights_ess"] for d in diag])) if diag else math.nan,
                    n_valid=(
                        float(np.median([d["n_source_valid"] for d in diag])) if diag else math.nan
                    ),
                )
            )
    return rows


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
        "## Per method",
        "",
    ]
    sections = list(dict.fromkeys((p.benchmark, p.direction) for p in pools))
    for bench, direction in sections:
        group = [p for p in pools if p.benchmark == bench and p.direction == direction]
        b = S.BENCHMARKS.get(bench)
        name = b.directions.get(direction, direction) if b else direction
        out += [
            f"### {bench} {direction} ({name}), {_metric_title(group[0].metric)}",
            "",
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


# --------------------------------------------------------------------------- command


def check_validators(names: list[str] | None) -> list[str] | None:
    """Unknown names raise :class:`ConfigError` listing the valid ones; ``all`` is every one."""
    if names is None or names == ["all"]:
        return None
    for n in names:
        get_validator(n)
    return list(dict.fromkeys(names))


def run_select(
    opts: SelectOptions, *, data_fn: DataFn | None = None
) -> tuple[list[Pool], dict[str, dict[str, float]]]:
    """Score, pick and write ``DIR/selection.md`` and ``DIR/selection.json``; returns the pools
    and the per-run diagnostics."""
    wanted = check_validators(opts.validators)
    if opts.metric is not None and opts.metric not in METRIC_DIRECTIONS:
        raise BenchError(f"unknown metric {opts.metric!r}; choose from {list(METRIC_DIRECTIONS)}")
    path = Path(opts.bench) / RESULTS
    if not path.exists():
        raise BenchError(f"{path}: not found (run osan bench --out {opts.bench} first)")
    pools = make_pools(load_results(path), opts.metric, opts.methods)
    if not pools:
        raise BenchError(f"{path}: no finished runs to select from (the oracle's are left out)")

    def names_of(pool: Pool) -> list[str]:
        applicable = validators_for(pool.task)
        return applicable if wanted is None else [n for n in wanted if n in applicable]

    pools = [p for p in pools if names_of(p)]
    if not pools:
        raise BenchError(
            f"validator(s) {wanted} apply to none of the runs' tasks; "
            f"regression: {validators_for('regression')}, "
            f"classification: {validators_for('classification')}"
        )
    diagnostics: dict[str, dict[str, float]] = {}
    scores = score_runs(pools, opts, names_of, data_fn=data_fn, diagnostics=diagnostics)
    for p in pools:
        evaluate_pool(p, scores, names_of(p))
    bench = Path(opts.bench)
    (bench / REPORT_MD).write_text(render_markdown(pools, bench, diagnostics), encoding="utf-8")
    (bench / REPORT_JSON).write_text(
        json.dumps(report_json(pools, scores, diagnostics), indent=2) + "\n", encoding="utf-8"
    )
    return pools, diagnostics


def add_select_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``select`` sub-command (``osan.cli`` dispatches to :func:`cmd_select`)."""
    p = subparsers.add_parser(
        "select",
        help="model selection without target labels over a bench folder's runs",
        description="For each method of a bench folder, the setting each validator picks "
        "(from source valid labels + unlabelled target train), its target test metric, the "
        "oracle choice (best on target test: a diagnostic) and the mean over settings.",
    )
    p.add_argument("--bench", required=True, type=Path, help="an osan bench --out folder")
    p.add_argument(
        "--validator",
        nargs="+",
        default=None,
        help=f"one or more of {list(VALIDATORS)}, or all (default: every one that applies)",
    )
    p.add_argument("--metric", default=None, help="target metric to select for (default: mae / f1)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods")
    p.add_argument("--device", default="cpu")
    p.add_argument("--mosi", type=Path, default=None, help="real-text: CMU-MOSI label.csv")
    p.add_argument("--mosei", type=Path, default=None, help="real-text: CMU-MOSEI label.csv")
    p.add_argument("--text-cache-dir", type=Path, default=None, help="real-text: embedding cache")
    p.set_defaults(func=cmd_select)
    return p


def cmd_select(args: argparse.Namespace, *, data_fn: DataFn | None = None) -> int:
    """Run ``osan select``; ``data_fn`` replaces the benchmark data (tests)."""
    opts = SelectOptions(
        bench=args.bench,
        validators=args.validator,
        metric=args.metric,
        methods=args.methods,
        device=args.device,
        mosi=args.mosi,
        mosei=args.mosei,
        text_cache_dir=args.text_cache_dir,
    )
    try:
        pools, diagnostics = run_select(opts, data_fn=data_fn)
    except (BenchError, ConfigError, DataError, FileNotFoundError) as e:
        print(f"osan select: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(summary_table(pools, diagnostics)))
    print(f"wrote {Path(args.bench) / REPORT_MD} and {Path(args.bench) / REPORT_JSON}")
    return 0
