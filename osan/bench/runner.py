"""Execute a suite's pending runs: resumable, with a progress bar, one results line per run.

Layout of ``DIR`` (``--out``)::

    DIR/results.jsonl        one JSON line per finished run (appended, flushed and fsync-ed)
    DIR/runs/<run id>/       what ``fit`` writes (config.yaml, checkpoint.pt, log.jsonl, ...)
    DIR/failed.jsonl         runs that raised (re-running the suite retries them)
    DIR/table.md, table.csv, summary.json   the paper-layout tables (rewritten after every run)

Runs execute one after another in this process, or as Ray tasks (``--executor ray``, see
``osan.bench.executors``); either way this process alone writes ``results.jsonl``.

A run is finished when its run id is in ``results.jsonl``; re-running the suite skips it. A run
that was interrupted (its folder holds a checkpoint of the same config) continues with
``fit(..., resume=True)``. A finished run whose recorded config hash or data differ from the
current command's is a conflict: the suite stops before training anything (use a new ``--out``).

The options and file names live in ``options.py``, ``results.jsonl`` in ``results.py``, the
suite's data in ``suite_data.py``; this module runs the suite.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from osan import lock
from osan.bench import suites as S
from osan.bench.executors import Executor, LocalExecutor, RunOutcome, RunTask, execute_run
from osan.bench.options import FAILED, RESULTS, RUNS, BenchError, BenchOptions, DataFn, SuiteResult
from osan.bench.results import append_result, load_results
from osan.bench.suite_data import (
    MISSING_LABELS_HELP,
    check_label_files,
    default_data_fn,
    default_label_csv,
    rebuild_data,
    resolve_specs,
    same_data,
)
from osan.bench.tables import write_tables
from osan.config import Config, ConfigError, load_config
from osan.config_base import RETIRED_OPTIONS

#: Importable from here as before the split into options / results / suite_data.
__all__ = [
    "FAILED",
    "MISSING_LABELS_HELP",
    "RESULTS",
    "RUNS",
    "BenchError",
    "BenchOptions",
    "DataFn",
    "SuiteResult",
    "append_result",
    "build_config",
    "check_label_files",
    "default_data_fn",
    "default_label_csv",
    "load_results",
    "rebuild_data",
    "resolve_specs",
    "run_suite",
    "same_data",
    "settings_hash",
]


# --------------------------------------------------------------------------- the runner


def build_config(run: S.RunSpec, opts: BenchOptions) -> Config:
    over = S.run_overrides(run, opts.user_overrides(), quick=opts.quick)
    try:
        return load_config(
            None,
            over,
            task=run.data.task,
            method=run.method,
            seed=run.seed,
            device=opts.device,
        )
    except ConfigError as e:
        raise BenchError(f"{run.run_id}: {e}") from None


#: Config keys that change where a run executes, not its result.
_PLACEMENT_KEYS = ("device", "num_threads")


def settings_hash(cfg: Config, *, with_retired: bool = False) -> str:
    """Like :meth:`Config.hash` but blind to the device, so a suite started on one machine may
    be continued on another. ``with_retired``: the hash the same settings had before the
    retired options went (``RETIRED_OPTIONS`` at the values whose behaviour was kept), so a
    results file written then still counts as the same settings."""
    d = {k: v for k, v in cfg.to_dict().items() if k not in _PLACEMENT_KEYS}
    if with_retired:
        for key, kept in RETIRED_OPTIONS.items():
            section, name = key.split(".")
            d[section] = {**d[section], name: kept}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _can_resume(run_dir: Path, cfg: Config) -> bool:
    if not (run_dir / "checkpoint.pt").exists() or not (run_dir / "config.yaml").exists():
        return False
    try:
        return settings_hash(load_config(run_dir / "config.yaml", saved=True)) == settings_hash(cfg)
    except (ConfigError, OSError, ValueError):
        return False


def _check_methods(runs: list[S.RunSpec]) -> None:
    from osan.methods import REGISTRY

    missing = sorted({r.method for r in runs} - set(REGISTRY))
    if missing:
        have = [m for m in S.MAIN_METHODS if m in REGISTRY]
        raise BenchError(
            f"method(s) {missing} are not available in this version of osan; "
            f"run a subset with --methods {' '.join(have)}"
        )


def run_suite(
    opts: BenchOptions,
    *,
    data_fn: DataFn | None = None,
    data_spec: Callable[[str], dict[str, Any]] | None = None,
    fit_fn: Callable[..., dict[str, Any]] | None = None,
    dry_run: bool = False,
    executor: Executor | None = None,
) -> SuiteResult:
    """Run every pending run of ``opts.suite`` and (re)write the tables.

    ``data_fn``/``data_spec`` replace the built-in benchmarks (tests use toy domains);
    ``fit_fn`` replaces :func:`osan.train.trainer.fit`; ``executor`` runs the pending runs
    (default: :class:`~osan.bench.executors.LocalExecutor`, one after another in this process;
    ``RayExecutor``: Ray tasks). Whatever the executor, only this process writes the results.
    """
    t_start = time.perf_counter()
    chosen = resolve_specs(opts)
    try:
        runs = S.plan(
            opts.suite,
            opts.resolved_seeds(),
            methods=opts.methods,
            benchmarks=opts.benchmarks,
            quick=opts.quick,
            data=chosen,
        )
    except ValueError as e:
        raise BenchError(str(e)) from None
    benches = {r.benchmark: r.data for r in runs}
    eager = data_fn is None
    if data_fn is None:
        default_fn, default_spec = default_data_fn(opts, benches)
        data_fn = default_fn
        data_spec = data_spec or default_spec
    if data_spec is None:

        def data_spec(benchmark: str) -> dict[str, Any]:
            return {"benchmark": benchmark, "custom": True}

    if fit_fn is None:  # fit, or (test-time suite) fit Direct Transfer then adapt its run
        from osan.bench.test_time import fit_or_adapt as fit_fn

    out = Path(opts.out)
    results_path = out / RESULTS
    done = {r["run_id"]: r for r in load_results(results_path, quiet=True)}  # read only
    configs = {r.run_id: build_config(r, opts) for r in runs}  # bad overrides fail up front
    specs = {b: data_spec(b) for b in {r.benchmark for r in runs}}
    _check_conflicts(runs, configs, specs, done, results_path)
    pending = [r for r in runs if r.run_id not in done]
    if dry_run:
        for r in runs:
            state = "done" if r.run_id in done else "pending"
            over = S.run_overrides(r, opts.user_overrides(), quick=opts.quick)
            print(f"{state:8s} {r.run_id}  {' '.join(over)}")
        return SuiteResult(len(runs), len(runs) - len(pending), [], [], 0.0, [])
    if pending:
        _check_methods(pending)
        if eager:  # load and pair-check every domain before anything trains
            for bench in dict.fromkeys(r.benchmark for r in pending):
                data_fn(bench)
    lock.acquire(out, "osan bench")  # mkdir; one suite process per folder, a second stops here
    # the owner, under its lock, cuts a torn last line off (read-only commands only skip it)
    done = {r["run_id"]: r for r in load_results(results_path, repair=True)}

    ran: list[str] = []
    failed: list[tuple[str, str]] = []
    bar = tqdm(
        total=len(runs),
        initial=len(runs) - len(pending),
        desc=opts.suite,
        unit="run",
        dynamic_ncols=True,
        file=sys.stderr,
    )
    by_id = {r.run_id: r for r in pending}
    tasks = [
        RunTask(r.run_id, r.benchmark, r.direction, configs[r.run_id], out / RUNS / r.run_id)
        for r in pending
    ]

    def on_done(outcome: RunOutcome) -> None:  # in this process only: the one writer
        run = by_id[outcome.run_id]
        if outcome.error is not None:  # one failed run must not end a long suite
            failed.append((run.run_id, outcome.error))
            tqdm.write(f"FAILED {run.run_id}: {outcome.error}", file=sys.stderr)
            append_result(
                out / FAILED,
                {"run_id": run.run_id, "error": outcome.error, "at": _now()},
            )
            bar.update(1)
            return
        cfg, wall = configs[run.run_id], outcome.wall_time_s
        assert outcome.metrics is not None
        record = _record(
            run, cfg, outcome.metrics, wall, outcome.resumed, specs[run.benchmark], opts
        )
        append_result(results_path, record)
        done[run.run_id] = record
        ran.append(run.run_id)
        bar.update(1)
        tqdm.write(f"{run.run_id}: {_short(record)} ({wall:.0f} s)", file=sys.stderr)
        write_tables(out, opts.suite, list(done.values()))

    work = functools.partial(
        execute_run, fit_fn=fit_fn, can_resume=_can_resume, progress=opts.verbose
    )
    try:
        (executor or LocalExecutor()).run(
            tasks,
            data_fn,
            work,
            on_done,
            on_start=lambda task: bar.set_postfix_str(task.run_id, refresh=True),
        )
    finally:
        bar.close()
    tables = write_tables(out, opts.suite, list(done.values()))
    lock.release(out)
    return SuiteResult(
        len(runs), len(runs) - len(pending), ran, failed, time.perf_counter() - t_start, tables
    )


def _check_conflicts(
    runs: list[S.RunSpec],
    configs: dict[str, Config],
    specs: dict[str, dict[str, Any]],
    done: dict[str, dict[str, Any]],
    path: Path,
) -> None:
    for r in runs:
        rec = done.get(r.run_id)
        if rec is None:
            continue
        cfg = configs[r.run_id]
        if "settings_hash" in rec:
            got_hash, want_hash = rec["settings_hash"], settings_hash(cfg)
            if got_hash == settings_hash(cfg, with_retired=True):
                got_hash = want_hash  # written before the retirement: the same behaviour
        else:
            got_hash, want_hash = rec.get("config_hash"), cfg.hash()
        want_data = specs[r.benchmark]
        got_data = rec.get("data", want_data)
        if got_hash != want_hash or not same_data(got_data, want_data):
            what = (
                f"config hash {got_hash} -> {want_hash}"
                if got_hash != want_hash
                else f"data {got_data} -> {want_data}"
            )
            raise BenchError(
                f"{path} already holds {r.run_id} from different settings ({what}): "
                "changed --quick/--size/--epochs/overrides, or a new osan version with other "
                "config defaults. Use a new --out folder (or delete that file to start over)."
            )


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def _record(
    run: S.RunSpec,
    cfg: Config,
    metrics: dict[str, Any],
    wall: float,
    resumed: bool,
    data: dict[str, Any],
    opts: BenchOptions,
) -> dict[str, Any]:
    meta = metrics.get("meta", {})
    target = metrics.get("target", metrics)
    return {
        "run_id": run.run_id,
        "suite": run.suite,
        "benchmark": run.benchmark,
        "task": cfg.task,
        "method": run.method,
        "variant": run.variant.name,
        "label": run.variant.label,
        "reference": run.variant.reference,
        "group": S.TEST_TIME if cfg.adapt.method != "none" else S.method_group(run.method),
        "direction": run.direction,
        "direction_label": run.data.directions.get(run.direction, run.direction),
        "direction_short": run.data.short(run.direction),
        "benchmark_title": run.data.title,
        "seed": run.seed,
        "metrics": _flat(target),
        "source_metrics": _flat(metrics.get("source", {})),
        "wall_time_s": round(wall, 3),
        "resumed": resumed,
        "config_hash": cfg.hash(),
        "settings_hash": settings_hash(cfg),
        "uses_target_labels": bool(meta.get("uses_target_labels", run.method == S.ORACLE)),
        "best_epoch": meta.get("best_epoch"),
        "selection": cfg.selection,  # the checkpoint-selection validator (oracle: target labels)
        "quick": opts.quick,
        "overrides": S.run_overrides(run, opts.user_overrides(), quick=opts.quick),
        "data": data,
        "finished_at": _now(),
    }


def _short(record: dict[str, Any]) -> str:
    m = record["metrics"]
    keys = ("mae", "corr", "acc2_non0") if record.get("task") == "regression" else ("f1",)
    return ", ".join(f"{k}={m[k]:.3f}" for k in keys if k in m)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
