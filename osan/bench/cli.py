"""``osan bench``: the paper's tables on our data, one command per suite.

    osan bench --suite main --data configs/benchmarks/cmu-mmsa.yaml --out results/cmu --quick
    osan bench --suite main --source MOSEI.pkl --target MOSI.pkl --both-directions --out r/cmu
    osan bench --suite ablation-ddg --data my-spec.yaml --out results/ddg
    osan bench --suite msa-main --out results/msa --quick          # = --suite main --data msa
    osan bench --suite ablation-ddg --out results/ddg --seeds 1 2 3 --benchmarks msa
    osan bench --suite real-text --out results/cmu --mosi PATH/mosi_label.csv --mosei PATH/...
    osan bench --suite msa-main --out results/msa --methods source-only osan optim.lr=5e-4
    osan bench --suite msa-main --out results/msa --executor ray --cpus-per-run 2

Exit codes: 0 all runs finished, 1 some runs failed (listed; re-running retries them),
2 a bad command (missing files, conflicting results), 130 interrupted (re-run to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from osan.bench import suites as S
from osan.bench.executors import EXECUTORS, Executor, ExecutorError, make_executor
from osan.bench.runner import BenchError, BenchOptions, run_suite
from osan.lock import FolderLocked


def add_bench_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-command to ``subparsers`` (``osan.cli`` dispatches to
    :func:`cmd_bench`)."""
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark suite (the paper's tables on our data)",
        description="Run every pending run of a suite (resumable) and write DIR/results.jsonl, "
        "DIR/table.md and DIR/table.csv in the paper's layout.",
    )
    p.add_argument("--suite", required=True, choices=list(S.SUITES))
    p.add_argument("--out", required=True, type=Path, help="results folder DIR")
    p.add_argument(
        "--data",
        nargs="+",
        default=None,
        metavar="SPEC",
        help="benchmark spec(s): a YAML file (configs/benchmarks/cmu-mmsa.yaml) or a built-in "
        "(msa, vtc, cmu-text); required by --suite main, replaces the benchmarks of the "
        "ablation and selection suites",
    )
    p.add_argument("--source", type=Path, default=None, help="shortcut spec: the source file")
    p.add_argument("--target", type=Path, default=None, help="shortcut spec: the target file")
    p.add_argument(
        "--both-directions", action="store_true", help="--source/--target: also target→source"
    )
    p.add_argument(
        "--task",
        choices=["regression", "classification"],
        default=None,
        help="--source/--target: the task (default regression)",
    )
    p.add_argument(
        "--nan-policy",
        choices=["error", "zero"],
        default="error",
        help="NaN/Inf in spec data files: stop (default) or replace by 0 (a domain's "
        "nan_policy in the spec wins)",
    )
    p.add_argument(
        "--seeds", nargs="+", default=None, help="training seeds (default 1 2 3; --quick: 1)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="6 epochs, half-size generated data (files are used whole), a narrower model, "
        "1 seed (msa-main < 15 min on 2 cores)",
    )
    p.add_argument(
        "--methods", nargs="+", default=None, help=f"main suites: a subset of {S.MAIN_METHODS}"
    )
    p.add_argument(
        "--benchmarks",
        nargs="+",
        default=None,
        choices=list(S.BENCHMARKS),
        help="ablations: run on msa (Tables 2-5) and/or vtc (Tables 7-10), default both; "
        "selection: any of msa, vtc, cmu (real text), default all three",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps ...")
    p.add_argument(
        "--size",
        default=None,
        help="generated data: tiny | small | large | a float multiplier; data files of a spec: "
        "a fraction in (0, 1] of every split (drawn by --data-seed)",
    )
    p.add_argument("--epochs", type=int, default=None, help="override optim.epochs of every run")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated data")
    p.add_argument("--mosi", type=Path, default=None, help="real-text: CMU-MOSI label.csv")
    p.add_argument("--mosei", type=Path, default=None, help="real-text: CMU-MOSEI label.csv")
    p.add_argument("--text-cache-dir", type=Path, default=None, help="real-text: embedding cache")
    p.add_argument("--dry-run", action="store_true", help="list the runs (done / pending) only")
    p.add_argument("--verbose", action="store_true", help="per-run training progress bars")
    p.add_argument(
        "--executor",
        choices=list(EXECUTORS),
        default="local",
        help="local: one run after another (default); ray: one Ray task per run "
        "(pip install 'osan[ray]')",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="join this Ray cluster (default: $RAY_ADDRESS, else start a local one)",
    )
    p.add_argument(
        "--cpus-per-run", type=float, default=1.0, help="ray: CPUs (torch threads) per run"
    )
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="ray: GPUs per run")
    p.add_argument(
        "overrides", nargs="*", help="key=value config overrides for every run (optim.lr=5e-4)"
    )
    p.set_defaults(func=cmd_bench)
    return p


def _split_overrides(values: list[str] | None, overrides: list[str]) -> list[str] | None:
    """``--seeds 1 2 optim.lr=1e-3``: argparse gives the override to --seeds; take it back."""
    if values is None:
        return None
    kept = []
    for v in values:
        (overrides if "=" in v else kept).append(v)
    return kept or None


def _size(value: str | None) -> str | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    overrides = list(args.overrides or [])
    seeds_raw = _split_overrides(args.seeds, overrides)
    methods = _split_overrides(args.methods, overrides)
    data = _split_overrides(getattr(args, "data", None), overrides)
    seeds = None
    if seeds_raw is not None:
        try:
            seeds = [int(s) for s in seeds_raw]
        except ValueError:
            raise BenchError(f"--seeds takes integers, got {seeds_raw}") from None
    return BenchOptions(
        suite=args.suite,
        out=args.out,
        seeds=seeds,
        quick=args.quick,
        methods=methods,
        benchmarks=args.benchmarks,
        overrides=overrides,
        device=args.device,
        epochs=args.epochs,
        size=_size(args.size),
        data_seed=args.data_seed,
        mosi=args.mosi,
        mosei=args.mosei,
        text_cache_dir=args.text_cache_dir,
        verbose=args.verbose,
        data=data,
        source=getattr(args, "source", None),
        target=getattr(args, "target", None),
        both_directions=getattr(args, "both_directions", False),
        task=getattr(args, "task", None),
        nan_policy=getattr(args, "nan_policy", "error"),
    )


def executor_from_args(args: argparse.Namespace) -> Executor:
    gpus = getattr(args, "gpus_per_run", 0.0)
    if gpus > 0 and not str(args.device or "cpu").startswith("cuda"):
        raise ExecutorError(
            f"--gpus-per-run {gpus:g} reserves GPUs for runs on cpu: add --device cuda"
        )
    return make_executor(
        getattr(args, "executor", "local"),
        ray_address=getattr(args, "ray_address", None),
        cpus_per_run=getattr(args, "cpus_per_run", 1.0),
        gpus_per_run=gpus,
    )


def cmd_bench(args: argparse.Namespace, **run_kw) -> int:
    """Run ``osan bench``; ``run_kw`` goes to :func:`~osan.bench.runner.run_suite` (tests)."""
    try:
        opts = options_from_args(args)
        run_kw.setdefault("executor", executor_from_args(args))
        result = run_suite(opts, dry_run=args.dry_run, **run_kw)
    except (BenchError, ExecutorError, FolderLocked) as e:
        print(f"osan bench: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nosan bench: interrupted; run the same command again to resume "
            "(finished runs are kept, the interrupted one continues from its checkpoint)",
            file=sys.stderr,
        )
        return 130
    if args.dry_run:
        print(
            f"{result.total} runs: {result.skipped} done, {result.total - result.skipped} pending"
        )
        return 0
    print(
        f"{args.suite}: {result.total} runs, {result.skipped} already done, "
        f"{len(result.ran)} ran, {len(result.failed)} failed in {result.wall_time_s:.0f} s"
    )
    for path in result.tables:
        print(f"wrote {path}")
    if result.failed:
        print("failed runs (see DIR/failed.jsonl; re-running retries them):", file=sys.stderr)
        for run_id, msg in result.failed:
            print(f"  {run_id}: {msg}", file=sys.stderr)
        return 1
    return 0
