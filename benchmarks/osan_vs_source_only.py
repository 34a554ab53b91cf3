"""OSAN vs Direct Transfer (and the oracle upper bound) on both built-in benchmarks.

Default configs, seeds 1 2 3, data seed 0, `size=small`; one thread per run. Appends one JSON
line per run to OUT/results.jsonl (resumable: finished runs are skipped) and prints a Markdown
table of target-test metrics, mean ± std over seeds.

    .venv/bin/python benchmarks/osan_vs_source_only.py --out results/closing
"""

from __future__ import annotations

import argparse
import json
import statistics as st
import time
from pathlib import Path

import torch

from osan.config import load_config
from osan.data.generators import generate
from osan.train.trainer import fit

BENCHES = {
    "msa": ("regression", ["mae", "corr", "acc7", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0"]),
    "vtc": ("classification", ["precision", "recall", "f1", "accuracy"]),
}
METHODS = ("source-only", "osan", "oracle")


def run_all(out: Path, seeds: list[int]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.jsonl"
    done = set()
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done.add((r["bench"], r["method"], r["seed"]))
    for bench, (task, _) in BENCHES.items():
        source, target = generate(bench, seed=0)
        for seed in seeds:
            for method in METHODS:
                if (bench, method, seed) in done:
                    continue
                cfg = load_config(method=method, seed=seed, task=task)
                t0 = time.perf_counter()
                m = fit(cfg, source, target, out / bench / method / f"seed{seed}", resume=True)
                rec = {
                    "bench": bench,
                    "method": method,
                    "seed": seed,
                    "wall_s": time.perf_counter() - t0,
                    "target": m["target"],
                    "source": m["source"],
                    "best_epoch": m["meta"]["best_epoch"],
                }
                with path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")


def table(path: Path) -> str:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    lines = []
    for bench, (task, keys) in BENCHES.items():
        pct = task == "classification" or None
        src_key = "corr" if task == "regression" else "f1"
        lines += [
            f"\n#### {bench}\n",
            "| method | " + " | ".join(keys) + f" | source test {src_key} | seeds |",
        ]
        lines.append("|---" * (len(keys) + 3) + "|")
        for method in METHODS:
            rs = [r for r in rows if r["bench"] == bench and r["method"] == method]
            if not rs:
                continue

            def cell(vals: list[float], percent: bool) -> str:
                mean = st.mean(vals)
                sd = st.stdev(vals) if len(vals) > 1 else 0.0
                return f"{100 * mean:.1f} ± {100 * sd:.1f}" if percent else f"{mean:.3f} ± {sd:.3f}"

            cells = [
                cell([r["target"][k] for r in rs], bool(pct) or k.startswith(("acc", "f1")))
                for k in keys
            ]
            src = cell([r["source"][src_key] for r in rs], bool(pct))
            name = method + (
                " † (upper bound: trained on target labels)" if method == "oracle" else ""
            )
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {src} | {len(rs)} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results/closing"))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    if not args.table_only:
        run_all(args.out, args.seeds)
    print(table(args.out / "results.jsonl"))


if __name__ == "__main__":
    main()
