"""Which setting would each validator pick, and where does it land on target: pure arithmetic
over ``results.jsonl`` records and raw validator scores (no model, no file, no rendering).

For every (benchmark, direction, method, seed) a :class:`Pool` holds the candidate runs (the
method's settings). :func:`evaluate_pool` fills in, from the raw scores:

- the setting each validator picks and the target test metric it lands on;
- the oracle choice (†, the best setting on target TEST): a DIAGNOSTIC that needs target labels,
  the bound no honest selection can beat, never a selection method;
- the mean over settings (what a uniformly random pick gets on average);
- regret = oracle − pick, in the metric's better direction (>= 0; 0: the best setting found);
- Spearman ρ between the validator's ranking of the settings and the target metric's
  (1: perfect ranking; undefined for fewer than 3 settings).

:func:`summarize` averages them over pools. ``osan select`` (:mod:`osan.bench.select`) scores the
runs and :mod:`osan.bench.select_report` renders the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from osan.bench import suites as S
from osan.bench.runner import BenchError
from osan.eval.metrics import METRIC_DIRECTIONS, primary_metric
from osan.eval.selection import VALIDATORS


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
