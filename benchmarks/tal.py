"""TAL speed and memory: factored fast path vs the naive full-tensor reference.

Shapes of the sentiment setting (paper Table 5): text 768 / vision 35 / audio 74 -> 384·2·2.
One *step* is what training does per batch: project the source and the target batch, then one
``update`` (one alternating-projection sweep), in steady state: with momentum the module is first
warmed up on ceil(768 / B) + 2 batches so that its running covariances are full rank. Each
measurement runs in a fresh subprocess (glibc told to return freed memory); the peak memory is
the growth of the peak RSS (VmHWM, reset after setup) over the RSS after setup, first step.

    python benchmarks/tal.py                      # B = 16, 32, 64, both momentum settings
    python benchmarks/tal.py --json out.json      # also write {"speedup", "memory_ratio", ...}

``speedup`` and ``memory_ratio`` in the JSON are naive/fast at B = 64 with the default
momentum (0.9). The naive full tensor at B = 64 is 64·768·35·74 float64 ≈ 1 GB (per domain).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

DIMS = {"text": 768, "vision": 35, "audio": 74}
OUT = {"text": 384, "vision": 2, "audio": 2}


def _rss_mb(field: str) -> float:
    """VmRSS (current) or VmHWM (peak since the last reset) of this process, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset VmHWM to VmRSS (Linux >= 4.0)
        f.write("5")


def _worker(impl: str, batch: int, momentum: float | None, repeats: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)

    from osan.alignment.tal import TensorAlignment
    from osan.alignment.tal_reference import reference_project, reference_update

    gen = torch.Generator().manual_seed(0)
    modes = list(OUT)

    def pairs() -> tuple[dict, dict]:
        h_s = {m: torch.randn(batch, d, generator=gen) for m, d in DIMS.items()}  # (B, I_m)
        h_t = {m: torch.randn(batch, d, generator=gen) + 0.5 * h_s[m] for m, d in DIMS.items()}
        return h_s, h_t

    tal = TensorAlignment(DIMS, DIMS, OUT, momentum=momentum)
    # Warm-up as in training: with momentum, until the running covariances are full rank.
    warmup = 2 if momentum is None else -(-max(DIMS.values()) // batch) + 2
    for _ in range(warmup):
        tal.update(*pairs())
    h_s, h_t = pairs()

    if impl == "fast":

        def step() -> None:
            tal.project(h_s, "source")
            tal.project(h_t, "target")
            tal.update(h_s, h_t)

    else:
        state = {
            "U": {m: tal.projection(m, "source").clone() for m in modes},
            "V": {m: tal.projection(m, "target").clone() for m in modes},
            "mean_s": {m: tal.running_mean(m, "source").clone() for m in modes},
            "mean_t": {m: tal.running_mean(m, "target").clone() for m in modes},
        }
        if momentum is not None:
            for key in ("xx", "yy", "xy"):
                state[f"c{key}"] = {m: getattr(tal, f"cov_{key}_{m}").clone() for m in modes}
        del tal

        def step() -> None:
            reference_project(h_s, state["U"], state["mean_s"], modes)
            reference_project(h_t, state["V"], state["mean_t"], modes)
            reference_update(h_s, h_t, state, modes, momentum=momentum, num_updates=warmup)

    base = _rss_mb("VmRSS")
    _reset_peak()
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if i == 0:
            peak = _rss_mb("VmHWM") - base
    return {"seconds": min(times), "peak_mb": max(peak, 0.0)}


def _run(impl: str, batch: int, momentum: float | None, repeats: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, str(batch), str(momentum), str(repeats)]
    cmd += [str(threads)]
    # Freed blocks go back to the OS, so RSS after setup is live memory, not a cached heap.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument(
        "--momenta", nargs="+", default=["0.9", "None"], help="TAL momentum settings to run"
    )
    parser.add_argument("--repeats", type=int, default=3, help="fast-path repeats (min time)")
    parser.add_argument("--json", type=str, default=None, help="write the B=64 ratios here")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per run (1: LAPACK with 2 threads on a shared 2-core box is erratic)",
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, batch, momentum, repeats, threads = args.worker
        mom = None if momentum == "None" else float(momentum)
        print(json.dumps(_worker(impl, int(batch), mom, int(repeats), int(threads))))
        return

    print(
        f"TAL step (project source + target, one update sweep), {DIMS} -> {OUT}, "
        f"{args.threads} thread(s)"
    )
    print(
        f"{'momentum':>8} {'B':>4} {'fast ms':>9} {'naive ms':>10} {'speedup':>8} "
        f"{'fast MB':>8} {'naive MB':>9} {'mem ratio':>9}"
    )
    results = []
    for momentum in [None if m == "None" else float(m) for m in args.momenta]:
        for b in args.batches:
            fast = _run("fast", b, momentum, args.repeats, args.threads)
            naive = _run("naive", b, momentum, 1, args.threads)
            speed = naive["seconds"] / fast["seconds"]
            mem = naive["peak_mb"] / max(fast["peak_mb"], 1.0)  # RSS growth under 1 MB: noise
            row = {
                "momentum": momentum,
                "batch": b,
                "fast": fast,
                "naive": naive,
                "speedup": speed,
                "memory_ratio": mem,
            }
            results.append(row)
            print(
                f"{momentum!s:>8} {b:>4} {fast['seconds'] * 1e3:9.1f} "
                f"{naive['seconds'] * 1e3:10.1f} {speed:8.1f} {fast['peak_mb']:8.1f} "
                f"{naive['peak_mb']:9.1f} {mem:9.1f}",
                flush=True,
            )
    if args.json:
        main_row = next(
            (r for r in results if r["momentum"] == 0.9 and r["batch"] == 64), results[-1]
        )
        with open(args.json, "w") as f:
            json.dump(
                {
                    "speedup": main_row["speedup"],
                    "memory_ratio": main_row["memory_ratio"],
                    "batch": main_row["batch"],
                    "rows": results,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
