"""Wall time of ``osan bench --suite msa-main --quick`` and where it goes.

Two runs of the same command, each in a fresh subprocess and a fresh results folder:
1. plain: the wall time a user sees (the target: <= 15 min on 2 cores) and the CPU time of the
   process (user + system, all threads; on a machine shared with other jobs the wall time
   also holds the time they took the cores: compare CPU / wall with the core count);
2. profiled (``python -m cProfile``): the time split into data generation, batch loading,
   forward, backward, optimiser, TAL update, evaluation, checkpoints and other I/O, model
   building and start-up. Categories are the cumulative times of the functions listed in
   ``CATEGORIES``, taken only from the caller named there so that nothing is counted twice;
   what ``fit`` spends elsewhere is "other (in fit)", what the suite driver spends outside
   ``fit``, data generation and tables is "other (suite driver)". cProfile adds a cost per
   Python call (compare the two wall times); the split is reported as shares.

The step time is data loading + forward + backward + optimiser + TAL update; the data-loading
target is <= 10% of it.

    python benchmarks/suite.py                          # 1 seed, both runs
    python benchmarks/suite.py --json out.json          # also write the numbers
    python benchmarks/suite.py --skip-plain             # the profile only
    python benchmarks/suite.py --seeds 1 2 3 --suite msa-main
    python benchmarks/suite.py --before                 # + the suite on the pre-optimisation paths
    python benchmarks/suite.py --loader                 # evaluation batches: views vs copies
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The functions of the training loop: ``fit`` and the phases it calls (osan/train/trainer.py).
FIT = ("fit", "build", "restore", "train_epoch", "end_epoch", "checkpoint", "finish")
#: (category, file suffix, function name, caller: "fit" for any of FIT, another function name,
#: or None for any caller)
CATEGORIES: tuple[tuple[str, str, str, str | None], ...] = (
    ("data generation", "osan/data/generators/__init__.py", "generate", None),
    ("data -> tensors (loader setup)", "osan/data/domain.py", "__init__", "fit"),
    ("data loading (train batches)", "osan/data/domain.py", "__iter__", "cycle"),
    ("model building", "osan/methods/__init__.py", "build_method", "fit"),
    ("forward (training_step)", "", "training_step", "fit"),
    ("backward", "torch/_tensor.py", "backward", "fit"),
    ("optimiser", "torch/optim/optimizer.py", "wrapper", "fit"),
    ("optimiser", "torch/optim/optimizer.py", "zero_grad", "fit"),
    ("optimiser", "torch/optim/lr_scheduler.py", "step", "fit"),
    ("optimiser", "torch/optim/lr_scheduler.py", "wrapper", "fit"),
    ("optimiser", "torch/nn/utils/clip_grad.py", "_no_grad_wrapper", "fit"),
    ("optimiser", "torch/nn/utils/clip_grad.py", "clip_grad_norm_", "fit"),
    ("optimiser", "", "make_optimizer", "fit"),
    ("TAL update (on_step_end)", "", "on_step_end", "fit"),
    ("evaluation", "osan/train/epoch_selection.py", "validation_loss", "fit"),
    ("evaluation", "osan/train/epoch_selection.py", "selection_key", "fit"),
    ("evaluation", "osan/train/run_folder.py", "evaluate_run", "fit"),
    ("evaluation", "", "target_curve_point", "fit"),
    ("evaluation", "", "collect_run_artifacts", "fit"),
    ("checkpoints and I/O", "osan/train/checkpoint.py", "save_checkpoint", "fit"),
    ("checkpoints and I/O", "osan/train/checkpoint.py", "atomic_write_json", "fit"),
    ("checkpoints and I/O", "", "save_run_artifacts", "fit"),
    ("checkpoints and I/O", "osan/config.py", "save_config", "fit"),
    ("checkpoints and I/O", "copy.py", "deepcopy", "fit"),
    ("checkpoints and I/O", "osan/train/runlog.py", "write", "fit"),
    ("checkpoints and I/O", "osan/train/runlog.py", "offset", "fit"),
    ("checkpoints and I/O", "osan/train/runlog.py", "__init__", "fit"),
    ("checkpoints and I/O", "osan/train/runlog.py", "close", "fit"),
    ("checkpoints and I/O", "tqdm/std.py", "update", "fit"),
    ("checkpoints and I/O", "tqdm/std.py", "set_postfix", "fit"),
    ("tables and results", "osan/bench/tables.py", "write_tables", None),
    ("tables and results", "osan/bench/results.py", "append_result", None),
)
STEP_PARTS = (
    "data loading (train batches)",
    "forward (training_step)",
    "backward",
    "optimiser",
    "TAL update (on_step_end)",
)


def _suite_cmd(args: argparse.Namespace, out: Path) -> list[str]:
    cmd = ["bench", "--suite", args.suite, "--out", str(out), "--seeds", *map(str, args.seeds)]
    return cmd + (["--quick"] if not args.full else []) + list(args.extra)


def _run(cmd: list[str], threads: int | None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, all threads) of a subprocess."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def apply_before() -> None:
    """Restore the code paths this benchmark's optimisations replaced (for ``--before``): the
    DDG's autograd composition and gathered (copied) evaluation batches."""
    import torch

    from osan.data.domain import SplitLoader
    from osan.mixing.ddg import DynamicDomainGenerator

    DynamicDomainGenerator.forward = DynamicDomainGenerator.forward_reference
    SplitLoader.rows = lambda self, start, stop: self.batch(torch.arange(start, stop))


def loader_bench(repeats: int = 15) -> dict[str, float]:
    """CPU ms of one in-order pass over the msa source test split (size 0.5, batch 256, as
    evaluation reads it): views of consecutive rows (``SplitLoader.rows``) vs gathered copies
    (``SplitLoader.batch``, the path before)."""
    import statistics

    import torch

    from osan.data.domain import SplitLoader
    from osan.data.generators import generate

    torch.set_num_threads(1)
    loader = SplitLoader(generate("msa", seed=0, size=0.5)[0].split("test"), 256)
    starts = range(0, loader.n, 256)
    fns = {
        "views": lambda: [loader.rows(a, min(a + 256, loader.n)) for a in starts],
        "gathered": lambda: [loader.batch(torch.arange(a, min(a + 256, loader.n))) for a in starts],
    }
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.process_time()
            f()
            samples[k].append(time.process_time() - t0)
    out = {f"{k}_ms": 1e3 * statistics.median(v) for k, v in samples.items()}
    out["rows"] = loader.n
    return out


def split_profile(path: Path) -> dict:
    """Seconds per category (see CATEGORIES) from a cProfile dump."""
    stats = pstats.Stats(str(path)).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = max(ct for (_, _, _, ct, _) in stats.values())  # the outermost frame
    fit_ct = suite_ct = 0.0
    seconds: dict[str, float] = {}
    in_fit = 0.0  # seconds of the categories measured inside fit (callers fit and cycle)
    for (file, _, func), (_, _, _, ct, callers) in stats.items():
        file = file.replace("\\", "/")
        if file.endswith("osan/train/trainer.py") and func == "fit":
            fit_ct += ct
        if file.endswith("osan/bench/runner.py") and func == "run_suite":
            suite_ct += ct
        for name, suffix, fname, caller in CATEGORIES:
            if func != fname or not file.endswith(suffix):
                continue
            if caller is None:
                value = ct
            else:
                wanted = FIT if caller == "fit" else (caller,)
                value = sum(c[3] for (_, _, c_func), c in callers.items() if c_func in wanted)
                in_fit += value
            seconds[name] = seconds.get(name, 0.0) + value
            break
    seconds["other (in fit)"] = max(fit_ct - in_fit, 0.0)
    driver = seconds.get("data generation", 0.0) + seconds.get("tables and results", 0.0)
    seconds["other (suite driver)"] = max(suite_ct - fit_ct - driver, 0.0)
    seconds["start-up (imports, CLI)"] = max(total - suite_ct, 0.0)
    return {"total": total, "fit": fit_ct, "run_suite": suite_ct, "seconds": seconds}


def top_functions(path: Path, n: int = 15) -> list[tuple[str, float]]:
    """The n functions with the largest own time (for the record)."""
    stats = pstats.Stats(str(path)).stats
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:n]
    return [(f"{Path(f).name}:{line}:{func}", tt) for (f, line, func), (_, _, tt, _, _) in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="msa-main")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--full", action="store_true", help="without --quick")
    parser.add_argument("--skip-plain", action="store_true", help="profiled run only")
    parser.add_argument("--skip-profile", action="store_true", help="plain run only")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the runs")
    parser.add_argument("--keep", type=Path, default=None, help="keep results/profile here")
    parser.add_argument("--json", default=None, help="write the numbers here")
    parser.add_argument(
        "--before", action="store_true", help="also time the suite with apply_before()"
    )
    parser.add_argument(
        "--loader", action="store_true", help="only the in-order loader micro-benchmark"
    )
    parser.add_argument("--shim", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help="more `osan bench` arguments / overrides")
    args = parser.parse_args()
    if args.shim is not None:  # `osan ARGS` with the pre-optimisation code paths
        from osan.cli import main as osan_main

        apply_before()
        sys.exit(osan_main(args.shim))
    if args.loader:
        res = loader_bench()
        print(
            f"in-order pass over {res['rows']} test rows, batch 256 (CPU ms): views "
            f"{res['views_ms']:.2f}, gathered copies {res['gathered_ms']:.2f}"
        )
        return

    work = args.keep or Path(tempfile.mkdtemp(prefix="osan-suite-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    osan = [sys.executable, "-m", "osan"]
    info = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }
    result: dict = {"machine": info, "command": " ".join(sys.argv)}
    label = f"osan bench --suite {args.suite} {'--quick ' if not args.full else ''}" + (
        f"--seeds {' '.join(map(str, args.seeds))}"
    )
    print(f"{label}  ({info['cpu_count']} cores, load average {info['loadavg_start']})")
    if not args.skip_plain:
        wall, cpu = _run(osan + _suite_cmd(args, work / "plain"), args.threads)
        result.update(wall_s=wall, cpu_s=cpu)
        print(
            f"plain: wall time {wall:.1f} s ({wall / 60:.1f} min), CPU time {cpu:.1f} s "
            f"(CPU / wall = {cpu / wall:.2f} of {info['cpu_count']} cores)",
            flush=True,
        )
    if args.before:
        before = [sys.executable, __file__, "--shim"]
        wall_b, cpu_b = _run(before + _suite_cmd(args, work / "before"), args.threads)
        result.update(before_wall_s=wall_b, before_cpu_s=cpu_b)
        print(f"before: wall time {wall_b:.1f} s, CPU time {cpu_b:.1f} s", flush=True)
        if "cpu_s" in result:
            result["speedup_cpu"] = cpu_b / result["cpu_s"]
            print(f"before / after CPU time: {result['speedup_cpu']:.2f}")
    if not args.skip_profile:
        prof = work / "suite.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "osan"]
        wall_p, cpu_p = _run(cmd + _suite_cmd(args, work / "profiled"), args.threads)
        result["profiled_cpu_s"] = cpu_p
        split = split_profile(prof)
        result.update(profiled_wall_s=wall_p, profile=split, top_self=top_functions(prof))
        secs = split["seconds"]
        step = sum(secs.get(k, 0.0) for k in STEP_PARTS)
        result["step_s"] = step
        result["data_loading_share_of_step"] = secs.get(STEP_PARTS[0], 0.0) / max(step, 1e-9)
        print(
            f"profiled: wall time {wall_p:.1f} s, CPU time {cpu_p:.1f} s "
            f"(profile total {split['total']:.1f} s, wall clock)"
        )
        print(f"{'category':<34} {'seconds':>9} {'share':>7}")
        for name, value in sorted(secs.items(), key=lambda kv: -kv[1]):
            print(f"{name:<34} {value:9.1f} {value / split['total']:7.1%}")
        print(
            f"step time (data loading + forward + backward + optimiser + TAL update): {step:.1f} s"
            f"; data loading {result['data_loading_share_of_step']:.1%} of it"
        )
        print("largest own times:")
        for name, tt in result["top_self"]:
            print(f"  {tt:8.1f} s  {name}")
    result["loadavg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"results and profile in {work}")


if __name__ == "__main__":
    main()
