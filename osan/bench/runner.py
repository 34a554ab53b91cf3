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
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from osan import lock
from osan.bench import spec as B
from osan.bench import suites as S
from osan.bench.executors import Executor, LocalExecutor, RunOutcome, RunTask, execute_run
from osan.bench.tables import write_tables
from osan.config import Config, ConfigError, load_config
from osan.data.domain import Domain

RESULTS = "results.jsonl"
FAILED = "failed.jsonl"
RUNS = "runs"

#: ``data_fn(benchmark) -> {direction: (source, target)}``.
DataFn = Callable[[str], dict[str, tuple[Domain, Domain]]]


class BenchError(RuntimeError):
    """A problem with the command (missing files, conflicting results): exit code 2."""


@dataclass
class BenchOptions:
    suite: str
    out: Path
    seeds: list[int] | None = None  # None: [1] with --quick, else [1, 2, 3]
    quick: bool = False
    methods: list[str] | None = None
    benchmarks: list[str] | None = None  # ablations: msa and/or vtc
    overrides: list[str] = field(default_factory=list)
    device: str | None = None
    epochs: int | None = None
    size: str | float | None = None  # generated data size; None: 0.5 with --quick, else small
    data_seed: int = 0
    mosi: Path | None = None  # real-text: MMSA label.csv files
    mosei: Path | None = None
    text_cache_dir: Path | None = None
    verbose: bool = False
    data: list[str] | None = None  # --data: built-in names or spec files
    source: Path | None = None  # --source/--target: a spec of two files
    target: Path | None = None
    both_directions: bool = False
    task: str | None = None  # --task of --source/--target (default regression)
    nan_policy: str = "error"  # for spec domains that do not set their own

    def resolved_seeds(self) -> list[int]:
        if self.seeds:
            return list(self.seeds)
        return [1] if self.quick else [1, 2, 3]

    def resolved_size(self) -> str | float:
        if self.size is not None:
            return self.size
        return S.QUICK_SIZE if self.quick else "small"

    def user_overrides(self) -> list[str]:
        over = list(self.overrides)
        if self.epochs is not None:
            over.append(f"optim.epochs={self.epochs}")
        return over


@dataclass
class SuiteResult:
    total: int
    skipped: int
    ran: list[str]
    failed: list[tuple[str, str]]
    wall_time_s: float
    tables: list[Path]


# --------------------------------------------------------------------------- results.jsonl


def load_results(path: Path) -> list[dict[str, Any]]:
    """The records of ``results.jsonl``. A torn last line (a crash mid-write) is dropped and cut
    off the file, so the next append starts on a clean line; a bad line elsewhere is an error."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    records: list[dict[str, Any]] = []
    pos = 0
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        end = pos + len(line) + 1
        if line.strip():
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or not isinstance(rec.get("run_id"), str):
                    raise ValueError("not a run record")
            except ValueError as e:
                is_last = all(not rest.strip() for rest in lines[i + 1 :])
                if not is_last:
                    raise BenchError(f"{path}: line {i + 1} is not a run record ({e})") from None
                print(
                    f"osan bench: dropping a torn last line of {path} (an interrupted write)",
                    file=sys.stderr,
                )
                with open(path, "r+b") as f:
                    f.truncate(pos)
                break
            records.append(rec)
        pos = end
    return records


def append_result(path: Path, record: dict[str, Any]) -> None:
    with open(path, "ab") as f:
        f.write((json.dumps(record, sort_keys=False) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


# --------------------------------------------------------------------------- data


def default_label_csv(name: str) -> Path:
    """``<repo>/../shared/data/cmu/<name>`` (the repository's sibling data folder)."""
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "cmu" / name


MISSING_LABELS_HELP = """\
real-text needs the CMU-MOSI and CMU-MOSEI transcript files in MMSA's label.csv layout
  (CMU-MOSI: id,text,label,mode   CMU-MOSEI: video_id,clip_id,text,label,mode).
Not found: {missing}
Point to your copies with  --mosi PATH/TO/MOSI/label.csv --mosei PATH/TO/MOSEI/label.csv
(MMSA's dataset release ships them as MOSI/label.csv and MOSEI/label.csv; the defaults are
../shared/data/cmu/mosi_label.csv and mosei_label.csv next to the repository).
Encoding the transcripts needs the text extra:  pip install 'osan[text]'"""


def check_label_files(opts: BenchOptions) -> tuple[Path, Path]:
    """The MOSI and MOSEI label files of ``real-text``, or :class:`BenchError` saying what to do."""
    spec = _with_label_paths(S.BENCHMARKS["cmu"], opts)
    mosi, mosei = spec.domain("MOSI").path, spec.domain("MOSEI").path
    assert mosi is not None and mosei is not None
    missing = [str(p) for p in (mosi, mosei) if not Path(p).is_file()]
    if missing:
        raise BenchError(MISSING_LABELS_HELP.format(missing=", ".join(missing)))
    return Path(mosi), Path(mosei)


def _with_label_paths(spec: B.BenchmarkSpec, opts: BenchOptions) -> B.BenchmarkSpec:
    """The cmu-text spec with ``--mosi``/``--mosei`` in place of its files."""
    if spec.name == "cmu" and spec.origin == "cmu-text":
        if opts.mosi is not None:
            spec = spec.with_path("MOSI", opts.mosi)
        if opts.mosei is not None:
            spec = spec.with_path("MOSEI", opts.mosei)
    return spec


def resolve_specs(opts: BenchOptions) -> list[B.BenchmarkSpec] | None:
    """The benchmark specs of ``--data`` or ``--source/--target``; ``None``: the suite's own.

    Raises :class:`BenchError` (one line) for a bad spec.
    """
    if (opts.source is None) != (opts.target is None):
        raise BenchError("--source and --target go together")
    if opts.source is not None:
        if opts.data:
            raise BenchError("give either --data or --source/--target")
        return [
            B.from_files(
                opts.source,
                opts.target,  # type: ignore[arg-type]
                both_directions=opts.both_directions,
                task=opts.task or "regression",
            )
        ]
    if opts.both_directions or opts.task is not None:
        raise BenchError("--both-directions and --task go with --source/--target")
    if not opts.data:
        return None
    try:
        return [B.load_spec(d) for d in opts.data]
    except B.SpecError as e:
        raise BenchError(str(e)) from None


def default_data_fn(
    opts: BenchOptions, specs: dict[str, B.BenchmarkSpec] | None = None
) -> tuple[DataFn, Callable[[str], dict[str, Any]]]:
    """The data of each benchmark (loaded once, kept in memory) and its description for the
    results lines (the spec, each file's name and short SHA-256; generated data by size and
    seed). ``specs`` maps benchmark names to their specs (default: the built-in ones)."""
    size = opts.resolved_size()
    cache: dict[str, dict[str, tuple[Domain, Domain]]] = {}

    def spec_of(benchmark: str) -> B.BenchmarkSpec:
        spec = (specs or {}).get(benchmark) or S.BENCHMARKS.get(benchmark)
        if spec is None:
            raise BenchError(f"no benchmark spec named {benchmark!r}")
        spec = _with_label_paths(spec, opts)
        if spec.name == "cmu" and spec.origin == "cmu-text":
            check_label_files(opts)
        return spec

    def describe(benchmark: str) -> dict[str, Any]:
        try:
            spec = spec_of(benchmark)
            frac = B.file_fraction(spec, opts.size)
            return B.describe_data(
                spec, size=size, seed=opts.data_seed, fraction=frac, nan_policy=opts.nan_policy
            )
        except B.SpecError as e:
            raise BenchError(str(e)) from None

    def load(benchmark: str) -> dict[str, tuple[Domain, Domain]]:
        if benchmark not in cache:
            spec = spec_of(benchmark)
            for d in spec.domains:
                if d.path is not None and d.path.suffix.lower() == ".csv":
                    print(f"osan bench: encoding {d.path} (cached after the first time)",
                          file=sys.stderr)  # fmt: skip
            try:
                cache[benchmark] = B.load_domains(
                    spec,
                    size=size,
                    seed=opts.data_seed,
                    fraction=B.file_fraction(spec, opts.size),
                    nan_policy=opts.nan_policy,
                    text_cache_dir=opts.text_cache_dir,
                )
            except B.SpecError as e:
                raise BenchError(str(e)) from None
        return cache[benchmark]

    return load, describe


def rebuild_data(record: dict[str, Any], opts: BenchOptions) -> dict[str, tuple[Domain, Domain]]:
    """The domains a results line was trained on, rebuilt from its ``data`` (``osan select``):
    the same spec, and files with the same hashes, or :class:`BenchError`."""
    data = record.get("data") or {}
    bench = record.get("benchmark", data.get("benchmark", ""))
    ref = data.get("spec")
    if data.get("custom") or (ref is None and bench not in S.BENCHMARKS):
        raise BenchError(
            f"{record['run_id']}: trained on data osan cannot rebuild ({data}); "
            "osan select rebuilds data from benchmark specs"
        )
    if ref == "--source/--target":
        raise BenchError(
            f"{record['run_id']}: trained with --source/--target; write a spec for those files "
            "to select over its runs"
        )
    try:
        spec = B.load_spec(ref) if ref is not None else S.BENCHMARKS[bench]
    except B.SpecError as e:
        raise BenchError(f"{record['run_id']}: {e}") from None
    zero = any(d.get("nan_policy") == "zero" for d in (data.get("domains") or {}).values())
    bopts = replace(
        opts,
        size=data.get("size", data.get("fraction")),
        data_seed=int(data.get("seed") or 0),
        nan_policy="zero" if zero else opts.nan_policy,  # as the bench's --nan-policy was
    )
    load, describe = default_data_fn(bopts, {spec.name: spec})
    here = describe(spec.name)
    if not same_data(data, here):
        raise BenchError(
            f"{record['run_id']}: was trained on {data}, but this command would rebuild "
            f"{here} (point --mosi/--mosei at the same files, or restore the spec's files)"
        )
    return load(spec.name)


def same_data(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a results line's data matches the current command's: equal on the keys both
    hold (results written before the specs hold fewer)."""
    return all(current[k] == v for k, v in recorded.items() if k in current)


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


def settings_hash(cfg: Config) -> str:
    """Like :meth:`Config.hash` but blind to the device, so a suite started on one machine may
    be continued on another."""
    d = {k: v for k, v in cfg.to_dict().items() if k not in _PLACEMENT_KEYS}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _can_resume(run_dir: Path, cfg: Config) -> bool:
    if not (run_dir / "checkpoint.pt").exists() or not (run_dir / "config.yaml").exists():
        return False
    try:
        return settings_hash(load_config(run_dir / "config.yaml")) == settings_hash(cfg)
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

    if fit_fn is None:
        from osan.train.trainer import fit as fit_fn

    out = Path(opts.out)
    results_path = out / RESULTS
    done = {r["run_id"]: r for r in load_results(results_path)}
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
        "group": S.method_group(run.method),
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
