"""``osan select``: which setting would each validator pick, and where does it land on target?

    osan bench --suite selection --out results/sel --quick --benchmarks vtc
    osan select --bench results/sel                      # every validator that applies
    osan select --bench results/sel --validator dev snd

For every method of a bench folder (per benchmark, direction and seed) the candidates are its
finished runs: the hyper-parameter settings of the ``selection`` suite, or of any suite. Each
run is reloaded from ``DIR/runs/<run id>`` and its data rebuilt from the ``data`` spec of its
``results.jsonl`` line (as ``osan bench`` built it); each validator of
:mod:`osan.eval.selection` scores it from the SOURCE valid labels and the TARGET TRAIN split
without labels. The report (``DIR/selection.md``, ``DIR/selection.json``) gives per method
the setting each validator picks, its target test metric and regret, the oracle † diagnostic,
the mean over settings and Spearman ρ (:mod:`osan.bench.select_picks` computes them,
:mod:`osan.bench.select_report` writes them; this module scores the runs and is the command).

Target test metrics are read only from ``results.jsonl`` (the runs' ``metrics.json``), for those
columns. The supervised ``oracle`` method's runs are left out (they select on target labels).

Exit codes: 0 done, 2 a bad command (unknown validator or metric, missing runs, data that cannot
be rebuilt).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from osan.bench.runner import (
    RESULTS,
    RUNS,
    BenchError,
    BenchOptions,
    DataFn,
    load_results,
    rebuild_data,
)
from osan.bench.select_picks import Pool, evaluate_pool, make_pools
from osan.bench.select_report import (
    REPORT_JSON,
    REPORT_MD,
    render_markdown,
    report_json,
    summary_table,
)
from osan.config import ConfigError
from osan.data.domain import DataError, Domain
from osan.eval.label_free import effective_sample_size
from osan.eval.metrics import METRIC_DIRECTIONS
from osan.eval.selection import VALIDATORS, get_validator, score_model, validators_for


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
                bopts = BenchOptions(
                    suite=rec.get("suite", ""),
                    out=opts.bench,
                    mosi=opts.mosi,
                    mosei=opts.mosei,
                    text_cache_dir=opts.text_cache_dir,
                )
                try:
                    cache[key] = rebuild_data(rec, bopts)
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
