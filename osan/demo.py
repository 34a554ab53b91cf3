"""``make demo``: the main job on the built-in ``msa`` benchmark.

Generates the benchmark, trains OSAN and Direct Transfer (source only) with the same encoders
and budget, and prints their target-test metrics side by side. Target labels are read only by
the final evaluation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from osan.config import load_config
from osan.data.generators import generate
from osan.data.mmsa import save_mmsa
from osan.train.trainer import fit

COLUMNS = ["mae", "corr", "acc7", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m osan.demo")
    p.add_argument("--out", type=Path, default=Path("demo_out"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--methods", nargs="+", default=["source-only", "osan"])
    args = p.parse_args(argv)

    print("== osan demo: built-in 'msa' benchmark (MOSEI-like source -> MOSI-like target)")
    source, target = generate("msa", seed=args.seed)
    data_dir = args.out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    save_mmsa(source, data_dir / "source.pkl")
    save_mmsa(target, data_dir / "target.pkl")
    print(f"data: {data_dir}/source.pkl ({source.dims()}), {data_dir}/target.pkl ({target.dims()})")
    rows = {}
    for method in args.methods:
        over = [] if args.epochs is None else [f"optim.epochs={args.epochs}"]
        cfg = load_config(overrides=over, method=method, seed=args.seed, task="regression")
        t0 = time.perf_counter()
        metrics = fit(cfg, source, target, args.out / method)
        rows[method] = (metrics["target"], time.perf_counter() - t0)
    print()
    print("Target test metrics (checkpoint chosen by source validation loss):")
    header = f"| {'method':<12} | " + " | ".join(f"{c:>9}" for c in COLUMNS) + " | time (s) |"
    print(header)
    print("|" + "---|" * (len(COLUMNS) + 2))
    for method, (m, secs) in rows.items():
        vals = " | ".join(f"{m[c]:>9.4f}" for c in COLUMNS)
        print(f"| {method:<12} | {vals} | {secs:8.1f} |")
    print(f"\nruns written under {args.out}/ (config.yaml, checkpoint.pt, log.jsonl, metrics.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
