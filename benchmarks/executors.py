"""Wall time of one suite with ``--executor local`` vs ``--executor ray`` (2 workers), and where
Ray's overhead goes. Every repeat uses fresh output folders (nothing is skipped).

    .venv/bin/python benchmarks/executors.py                       # tiny suite, 2 repeats
    .venv/bin/python benchmarks/executors.py --local-threads 1      # local on one thread
    .venv/bin/python benchmarks/executors.py --size 0.5 --epochs 6 --repeats 1

Prints, per repeat: local wall; ray.init; the ray suite's wall; the sum of the runs' own ``fit``
times under each executor (from results.jsonl's ``wall_time_s``); the speed-up
local / (ray.init + ray suite) and the ray overhead  suite wall - sum(fit) / workers.
Needs Ray (``pip install 'osan[ray]'``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from osan.bench.executors import LocalExecutor, RayExecutor
from osan.bench.runner import RESULTS, BenchOptions, load_results, run_suite


def options(args: argparse.Namespace, out: Path) -> BenchOptions:
    return BenchOptions(
        suite="msa-main",
        out=out,
        seeds=args.seeds,
        quick=True,
        methods=args.methods,
        epochs=args.epochs,
        size=float(args.size) if args.size.replace(".", "", 1).isdigit() else args.size,
    )


def fit_seconds(out: Path) -> list[float]:
    """Each run's own ``fit`` time, in completion order."""
    return [r["wall_time_s"] for r in load_results(out / RESULTS)]


def cold_start(workers: int) -> float:
    """Seconds for ``workers`` fresh Ray workers to start and import torch + osan's trainer."""
    import ray

    @ray.remote(num_cpus=1)
    def imports() -> None:
        import osan.bench.executors  # noqa: F401
        import osan.train.trainer  # noqa: F401

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        t0 = time.perf_counter()
        ray.get([imports.remote() for _ in range(workers)])
        return time.perf_counter() - t0
    finally:
        ray.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="tiny", help="generated data size (tiny: 64 per split)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=["source-only", "dann", "osan"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1])
    p.add_argument("--workers", type=int, default=2, help="Ray CPUs = concurrent runs")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--local-threads",
        type=int,
        default=0,
        help="torch threads of the local executor (0: torch's default, one per core)",
    )
    args = p.parse_args()
    if args.local_threads:
        torch.set_num_threads(args.local_threads)
    import ray

    n_runs = len(args.methods) * 2 * len(args.seeds)
    print(
        f"msa-main --quick --size {args.size} --epochs {args.epochs} "
        f"--methods {' '.join(args.methods)} --seeds {' '.join(map(str, args.seeds))}: "
        f"{n_runs} runs; local uses {torch.get_num_threads()} torch threads, "
        f"ray {args.workers} workers x 1 thread"
    )
    for rep in range(1, args.repeats + 1):
        with tempfile.TemporaryDirectory(prefix="osan-exec-") as tmp:
            local_out, ray_out = Path(tmp) / "local", Path(tmp) / "ray"
            t0 = time.perf_counter()
            run_suite(options(args, local_out), executor=LocalExecutor())
            local_wall = time.perf_counter() - t0

            t0 = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            init_s = time.perf_counter() - t0
            try:
                t0 = time.perf_counter()
                run_suite(options(args, ray_out), executor=RayExecutor(cpus_per_run=1))
                ray_wall = time.perf_counter() - t0
            finally:
                t0 = time.perf_counter()
                ray.shutdown()
                shutdown_s = time.perf_counter() - t0
            runs_local, runs_ray = fit_seconds(local_out), fit_seconds(ray_out)
            fit_local, fit_ray = sum(runs_local), sum(runs_ray)
            total_ray = init_s + ray_wall
            overhead = ray_wall - fit_ray / args.workers
            print(
                f"repeat {rep}: local {local_wall:.1f} s (fit {fit_local:.1f} s) | "
                f"ray init {init_s:.1f} s + suite {ray_wall:.1f} s = {total_ray:.1f} s "
                f"(fit {fit_ray:.1f} s in workers, overhead {overhead:.1f} s; "
                f"shutdown {shutdown_s:.1f} s) | speed-up local/ray {local_wall / total_ray:.2f}x "
                f"(suite only {local_wall / ray_wall:.2f}x)"
            )
            print(f"  fit per run, local: {' '.join(f'{x:.1f}' for x in runs_local)}")
            print(f"  fit per run, ray:   {' '.join(f'{x:.1f}' for x in runs_ray)}")
    print(f"cold start of {args.workers} Ray workers (import torch + osan): "
          f"{cold_start(args.workers):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
