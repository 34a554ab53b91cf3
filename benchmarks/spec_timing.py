"""Time per run of ``osan bench --suite main --data SPEC`` on CMU-MOSEI / CMU-MOSI-sized data.

Writes two MMSA ``unaligned_50.pkl``-like files with the real release's dims and split sizes
times ``--fraction`` (CMU-MOSEI 16326 / 1871 / 4659 rows, text 768 / audio 74 / vision 35;
CMU-MOSI 1284 / 229 / 686 rows, 768 / 5 / 20; 50 steps, true lengths uniform in [10, 50];
random features: the time of a step does not depend on the values), a spec over them, runs
the suite (every method, both directions, one seed) and prints each run's wall time and its
extrapolation to the full size, ``wall / fraction``. Every part of a run (training steps per
epoch, validation every epoch, the final evaluation and saved features) grows linearly with
the number of rows at a fixed batch size, so the extrapolation is linear; it is an
extrapolation, not a measurement of the full size.

    python benchmarks/spec_timing.py --fraction 0.0625 --out /tmp/spec_timing
    python benchmarks/spec_timing.py --fraction 0.0625 --out /tmp/spec_timing_q --quick
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import time
from pathlib import Path

import numpy as np

SIZES = {
    "mosei": (
        {"train": 16326, "valid": 1871, "test": 4659},
        {"text": 768, "audio": 74, "vision": 35},
    ),
    "mosi": ({"train": 1284, "valid": 229, "test": 686}, {"text": 768, "audio": 5, "vision": 20}),
}
SEQ = 50


def write_mmsa(path: Path, rows: dict[str, int], dims: dict[str, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    obj = {}
    for split, n in rows.items():
        d: dict = {}
        for m, dim in dims.items():
            lens = rng.integers(10, SEQ + 1, size=n)
            x = rng.standard_normal((n, SEQ, dim), dtype=np.float32)
            x[np.arange(SEQ)[None, :] >= lens[:, None]] = 0.0
            d[m] = x
            d[f"{m}_lengths"] = lens.astype(np.int64)
        d["regression_labels"] = np.clip(rng.normal(0.1, 1.3, n), -3, 3).astype(np.float32)
        d["raw_text"] = np.array([f"utterance {i}" for i in range(n)], dtype=object)
        d["id"] = np.array([f"{path.stem}_{split}_{i}" for i in range(n)], dtype=object)
        obj[split] = d
    path.write_bytes(pickle.dumps(obj, protocol=4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=1 / 16)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()

    from osan.cli import main as osan

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, (name, (rows, dims)) in enumerate(SIZES.items()):
        scaled = {s: max(8, round(n * args.fraction)) for s, n in rows.items()}
        write_mmsa(args.out / f"{name}.pkl", scaled, dims, seed=i)
    spec = args.out / "spec.yaml"
    spec.write_text(
        "name: cmu-sized\ntask: regression\ndomains:\n"
        "  mosei: {path: mosei.pkl, label: CMU-MOSEI-sized}\n"
        "  mosi: {path: mosi.pkl, label: CMU-MOSI-sized}\n"
        "pairs: [[mosei, mosi], [mosi, mosei]]\n"
    )
    print(f"data written in {time.perf_counter() - t0:.1f} s")
    argv = ["bench", "--suite", "main", "--data", str(spec), "--out", str(args.out / "bench"),
            "--seeds", "1", "num_threads=1", *args.overrides]  # fmt: skip
    if args.quick:
        argv.append("--quick")
    if args.methods:
        argv += ["--methods", *args.methods]
    t0 = time.perf_counter()
    rc = osan(argv)
    total = time.perf_counter() - t0
    records = [json.loads(x) for x in (args.out / "bench/results.jsonl").read_text().splitlines()]
    print(f"\nosan bench rc={rc}: {len(records)} runs in {total:.0f} s, fraction {args.fraction:g}")
    print(f"{'run':44s} {'wall s':>8s} {'full size (extrapolated) min':>30s}")
    walls = []
    for r in records:
        walls.append(r["wall_time_s"])
        full = r["wall_time_s"] / args.fraction / 60
        print(f"{r['run_id']:44s} {r['wall_time_s']:8.1f} {full:30.1f}")
    full_total = sum(walls) / args.fraction / 3600
    print(
        f"median run {statistics.median(walls):.1f} s -> full size "
        f"{statistics.median(walls) / args.fraction / 60:.1f} min; all {len(walls)} runs "
        f"{sum(walls):.0f} s -> full size {full_total:.1f} h per seed"
    )


if __name__ == "__main__":
    main()
