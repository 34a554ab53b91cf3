"""TAL speed, memory and operation counts: structured path vs the naive full-tensor reference.

Shapes of the sentiment setting (MMSA release, paper Table 5): text 768 / vision 35 / audio 74
-> 384·2·2. One *step* is what training does per batch: forward (``project`` of a source and a
target batch), backward (of a fixed random linear function of both projected tensors, w.r.t.
the embeddings) and one ``update`` (the alternating-projection sweep of Eq. (2) with its CCA
solves), in steady state: with momentum the module is first warmed up on ceil(768 / B) + 2
batches so that its running covariances are full rank. The naive path is
``osan.alignment.tal_reference`` (materialised (B, I_1, I_2, I_3) tensors) started from the same
state; both use ``orient="sign"`` (the reference's rule).

Method:
- time: each measurement runs in a fresh subprocess; per batch size the structured path runs in
  two subprocesses (before and after the naive one) and the median over all its repeats is
  taken; the naive path runs ``--naive-repeats`` times (one by default: ~1 min at B = 64). The
  times and ratios are the process's CPU time (``time.process_time``, one torch thread): the
  naive step lasts minutes, and on a machine shared with other jobs the wall time of the two
  paths, measured minutes apart, can see very different loads (wall times are in the JSON).
- memory: the growth of the peak RSS (VmHWM, reset after setup) over the RSS after setup, during
  the first step; glibc is told to return freed blocks (MALLOC_MMAP_THRESHOLD_=65536) so RSS is
  live memory. torch's CPU allocations are invisible to tracemalloc, hence RSS. Growth under
  1 MB counts as 1 MB in the ratio (noise floor).
- operation counts: ``torch.utils.flop_counter`` (matmul-like ops, 2 flops per multiply-add)
  with nominal LAPACK counts registered for the factorisations (Golub & Van Loan): Cholesky
  n³/3, symmetric eigendecomposition with vectors 9n³, SVD of m×n (m ≥ n) 4m²n + 8mn² + 9n³
  (full U) or 14mn² + 8n³ (thin), Householder QR with Q 4mn² − 4n³/3, triangular solve n²k.
  Elementwise work is not counted. The naive count is linear in B (every tensor op scales with
  B, the solves do not), so it is counted at B = 2, 3 and extrapolated (checked at B = 4).
  ``flop_bound`` = naive flops / structured flops: the speedup if both ran at the same rate.

    python benchmarks/tal.py                          # B = 16, 32, 64, 128
    python benchmarks/tal.py --json out.json          # also write the JSON (keys below)
    python benchmarks/tal.py --batches 16 --naive-repeats 1

JSON: ``speedup`` and ``memory_ratio`` (naive / structured at B = 64, momentum 0.9),
``flop_bound`` at B = 64, and every row. The naive run at B = 128 needs ~2x the memory of
B = 64 (measured: see docs/performance.md); it is skipped, with a note, when the predicted
peak exceeds 60% of MemAvailable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

DIMS = {"text": 768, "vision": 35, "audio": 74}
OUT = {"text": 384, "vision": 2, "audio": 2}
MAIN_BATCH = 64
MAIN_MOMENTUM = 0.9


# --------------------------------------------------------------------------------------------
# Worker side (fresh subprocess per measurement)
# --------------------------------------------------------------------------------------------
def _proc_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS: current, VmHWM: peak since the last reset), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset VmHWM to VmRSS (Linux >= 4.0)
        f.write("5")


def _flop_formulas() -> dict:
    """Nominal LAPACK flop counts for the factorisations torch's counter does not know."""
    import torch

    aten = torch.ops.aten

    def batch(shape) -> int:
        return math.prod(shape[:-2])  # 1 for a matrix

    def cholesky(a_shape, *args, **kwargs) -> int:
        return batch(a_shape) * a_shape[-1] ** 3 // 3

    def eigh(a_shape, *args, **kwargs) -> int:
        return batch(a_shape) * 9 * a_shape[-1] ** 3

    def svd(a_shape, full_matrices=True, *args, **kwargs) -> int:
        m, n = max(a_shape[-2:]), min(a_shape[-2:])
        full = 4 * m * m * n + 8 * m * n * n + 9 * n**3
        return batch(a_shape) * (full if full_matrices else 14 * m * n * n + 8 * n**3)

    def qr(a_shape, *args, **kwargs) -> int:
        m, n = max(a_shape[-2:]), min(a_shape[-2:])
        return batch(a_shape) * (4 * m * n * n - 4 * n**3 // 3)

    def solve_triangular(a_shape, b_shape, *args, **kwargs) -> int:
        return a_shape[-1] * math.prod(b_shape)  # n² per right-hand side of length n

    return {
        aten.linalg_cholesky_ex: cholesky,
        aten._linalg_eigh: eigh,
        aten._linalg_svd: svd,
        aten.linalg_qr: qr,
        aten.linalg_solve_triangular: solve_triangular,
    }


def _count_flops(fn) -> tuple[int, list[str]]:
    """Flops of ``fn()`` and the linalg ops seen that have no formula (then undercounted)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    formulas = _flop_formulas()
    seen: set[str] = set()

    class _Names(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    counter = FlopCounterMode(display=False, custom_mapping=formulas)
    with counter, _Names():
        fn()
    known = {str(k) for k in formulas} | {str(k) for k in counter.flop_registry}
    missing = sorted(n for n in seen if "linalg" in n and n not in known and "check" not in n)
    return int(counter.get_total_flops()), missing


def _setup(impl: str, batch: int, momentum: float | None, threads: int):
    """A steady-state TAL, one paired batch, and the step function of ``impl``."""
    import torch

    torch.set_num_threads(threads)

    from osan.alignment.tal import TensorAlignment
    from osan.alignment.tal_reference import (
        REFERENCE_OPTIONS,
        reference_project,
        reference_update,
    )

    gen = torch.Generator().manual_seed(0)
    modes = list(OUT)

    def pairs(b: int) -> tuple[dict, dict]:
        h_s = {m: torch.randn(b, d, generator=gen) for m, d in DIMS.items()}  # (B, I_m)
        h_t = {m: torch.randn(b, d, generator=gen) + 0.5 * h_s[m] for m, d in DIMS.items()}
        return h_s, h_t

    tal = TensorAlignment(DIMS, DIMS, OUT, momentum=momentum, **REFERENCE_OPTIONS)
    # Warm-up as in training: with momentum, until the running covariances are full rank.
    warmup = 2 if momentum is None else -(-max(DIMS.values()) // batch) + 2
    for _ in range(warmup):
        tal.update(*pairs(batch))
    out_dim = tal.out_dim
    weights = torch.randn(2, batch, out_dim, generator=gen, dtype=torch.float64)  # (2, B, P)

    state = {
        "U": {m: tal.projection(m, "source").clone() for m in modes},
        "V": {m: tal.projection(m, "target").clone() for m in modes},
        "mean_s": {m: tal.running_mean(m, "source").clone() for m in modes},
        "mean_t": {m: tal.running_mean(m, "target").clone() for m in modes},
    }
    if momentum is not None:
        for key in ("xx", "yy", "xy"):
            state[f"c{key}"] = {m: getattr(tal, f"cov_{key}_{m}").clone() for m in modes}

    def fast_step(h_s: dict, h_t: dict) -> None:
        h_s = {m: x.clone().requires_grad_(True) for m, x in h_s.items()}
        h_t = {m: x.clone().requires_grad_(True) for m, x in h_t.items()}
        b = next(iter(h_s.values())).shape[0]
        o_s = tal.project(h_s, "source")  # (B, P)
        o_t = tal.project(h_t, "target")  # (B, P)
        loss = (o_s.double() * weights[0, :b]).sum() + (o_t.double() * weights[1, :b]).sum()
        loss.backward()
        tal.update({m: x.detach() for m, x in h_s.items()}, {m: x.detach() for m, x in h_t.items()})

    def naive_step(h_s: dict, h_t: dict) -> None:
        h_s = {m: x.clone().requires_grad_(True) for m, x in h_s.items()}
        h_t = {m: x.clone().requires_grad_(True) for m, x in h_t.items()}
        b = next(iter(h_s.values())).shape[0]
        o_s = reference_project(h_s, state["U"], state["mean_s"], modes)  # (B, P)
        o_t = reference_project(h_t, state["V"], state["mean_t"], modes)  # (B, P)
        loss = (o_s * weights[0, :b]).sum() + (o_t * weights[1, :b]).sum()
        loss.backward()
        del o_s, o_t, loss
        h_s = {m: x.detach() for m, x in h_s.items()}
        h_t = {m: x.detach() for m, x in h_t.items()}
        reference_update(h_s, h_t, state, modes, momentum=momentum, num_updates=warmup)

    if impl == "naive":
        del tal
    return (fast_step if impl == "fast" else naive_step), pairs


def _worker(
    impl: str, batch: int, momentum: float | None, repeats: int, threads: int, flops: bool
) -> dict:
    step, pairs = _setup(impl, batch, momentum, threads)
    h_s, h_t = pairs(batch)
    base = _proc_mb("VmRSS")
    _reset_peak()
    times, cpu, peak = [], [], 0.0
    for i in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step(h_s, h_t)
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - t0)
        if i == 0:
            peak = _proc_mb("VmHWM") - base
    out = {"seconds": times, "cpu_seconds": cpu, "peak_mb": max(peak, 0.0)}
    if flops:
        if impl == "fast":
            out["flops"], out["uncounted"] = _count_flops(lambda: step(h_s, h_t))
        else:  # linear in B: count at B = 2, 3, check at 4, extrapolate
            counts = {}
            for b in (2, 3, 4):
                small = pairs(b)
                counts[b], out["uncounted"] = _count_flops(lambda s=small: step(*s))
            slope = counts[3] - counts[2]
            predicted_4 = counts[2] + 2 * slope
            out["linear_check"] = abs(predicted_4 - counts[4]) / counts[4]
            out["flops"] = counts[2] + (batch - 2) * slope
    return out


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
def _run(impl: str, batch: int, momentum: float | None, repeats: int, threads: int, flops: bool):
    cmd = [sys.executable, __file__, "--worker", impl, str(batch), str(momentum), str(repeats)]
    cmd += [str(threads), str(int(flops))]
    # Freed blocks go back to the OS, so RSS after setup is live memory, not a cached heap.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _mem_available_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return float("inf")


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument(
        "--momenta", nargs="+", default=[str(MAIN_MOMENTUM)], help="TAL momenta ('None' too)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="structured-path repeats per run")
    parser.add_argument("--naive-repeats", type=int, default=1, help="naive-path repeats")
    parser.add_argument("--json", type=str, default=None, help="write the results here")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per run (1: LAPACK with 2 threads on a shared 2-core box is erratic)",
    )
    parser.add_argument("--no-flops", action="store_true", help="skip the operation counts")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, batch, momentum, repeats, threads, flops = args.worker
        mom = None if momentum == "None" else float(momentum)
        res = _worker(impl, int(batch), mom, int(repeats), int(threads), bool(int(flops)))
        print(json.dumps(res))
        return

    info = machine()
    print(
        f"TAL step (forward + backward of source and target, one update sweep), {DIMS} -> "
        f"{OUT}, {args.threads} thread(s), {info['cpu_count']} cores, "
        f"load average {info['loadavg_at_start']}"
    )
    header = (
        f"{'momentum':>8} {'B':>4} {'fast cpu ms':>11} {'naive cpu ms':>12} {'speedup':>8} "
        f"{'fast MB':>8} {'naive MB':>9} {'mem ratio':>9} {'fast GF':>8} {'naive GF':>9} "
        f"{'bound':>7} {'of bound':>8}"
    )
    print(header)
    flops = not args.no_flops
    results = []
    for momentum in [None if m == "None" else float(m) for m in args.momenta]:
        naive_peaks: dict[int, float] = {}
        for b in args.batches:
            fast_a = _run("fast", b, momentum, args.repeats, args.threads, flops)
            naive = None
            note = ""
            if len(naive_peaks) >= 2:  # predict the naive peak (linear in B) before running
                (b1, p1), (b2, p2) = sorted(naive_peaks.items())[-2:]
                predicted = p2 + (p2 - p1) / (b2 - b1) * (b - b2)
                if predicted > 0.6 * _mem_available_mb():
                    note = f"naive skipped: predicted peak {predicted:.0f} MB > 60% MemAvailable"
            if not note:
                naive = _run("naive", b, momentum, args.naive_repeats, args.threads, flops)
                naive_peaks[b] = naive["peak_mb"]
            fast_b = _run("fast", b, momentum, args.repeats, args.threads, False)
            fast_s = statistics.median(fast_a["cpu_seconds"] + fast_b["cpu_seconds"])
            fast_wall = statistics.median(fast_a["seconds"] + fast_b["seconds"])
            fast_mb = statistics.median([fast_a["peak_mb"], fast_b["peak_mb"]])
            row = {
                "momentum": momentum,
                "batch": b,
                "fast_seconds": fast_s,
                "fast_wall_seconds": fast_wall,
                "fast_samples": fast_a["cpu_seconds"] + fast_b["cpu_seconds"],
                "fast_wall_samples": fast_a["seconds"] + fast_b["seconds"],
                "fast_peak_mb": fast_mb,
                "fast_flops": fast_a.get("flops"),
                "uncounted_ops": fast_a.get("uncounted", []),
                "note": note,
            }
            if naive is not None:
                naive_s = statistics.median(naive["cpu_seconds"])
                row.update(
                    naive_seconds=naive_s,
                    naive_wall_seconds=statistics.median(naive["seconds"]),
                    naive_samples=naive["cpu_seconds"],
                    naive_wall_samples=naive["seconds"],
                    wall_speedup=statistics.median(naive["seconds"]) / fast_wall,
                    naive_peak_mb=naive["peak_mb"],
                    naive_flops=naive.get("flops"),
                    naive_linear_check=naive.get("linear_check"),
                    naive_tensor_mb=2 * b * math.prod(DIMS.values()) * 8 / 2**20,
                    speedup=naive_s / fast_s,
                    memory_ratio=naive["peak_mb"] / max(fast_mb, 1.0),
                )
                row["uncounted_ops"] = sorted(set(row["uncounted_ops"]) | set(naive["uncounted"]))
                if flops:
                    row["flop_bound"] = naive["flops"] / fast_a["flops"]
                    row["of_bound"] = row["speedup"] / row["flop_bound"]
            results.append(row)

            def fmt(key: str, scale: float = 1.0, spec: str = ".1f", r=row) -> str:
                v = r.get(key)
                return "-" if v is None else format(v * scale, spec)

            print(
                f"{momentum!s:>8} {b:>4} {fmt('fast_seconds', 1e3):>11} "
                f"{fmt('naive_seconds', 1e3):>12} {fmt('speedup'):>8} {fmt('fast_peak_mb'):>8} "
                f"{fmt('naive_peak_mb'):>9} {fmt('memory_ratio'):>9} "
                f"{fmt('fast_flops', 1e-9):>8} {fmt('naive_flops', 1e-9):>9} "
                f"{fmt('flop_bound'):>7} {fmt('of_bound', 100, '.0f') + '%':>8} {note}",
                flush=True,
            )
    missing = sorted({op for r in results for op in r["uncounted_ops"]})
    if missing:
        print(f"warning: linalg ops without a flop formula (undercounted): {missing}")
    if args.json:
        main_row = next(
            (r for r in results if r["momentum"] == MAIN_MOMENTUM and r["batch"] == MAIN_BATCH),
            None,
        )
        summary = {k: (main_row or {}).get(k) for k in ("speedup", "memory_ratio", "flop_bound")}
        with open(args.json, "w") as f:
            json.dump(
                {
                    **summary,
                    "batch": MAIN_BATCH,
                    "momentum": MAIN_MOMENTUM,
                    "threads": args.threads,
                    "machine": info,
                    "command": " ".join(sys.argv),
                    "rows": results,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
