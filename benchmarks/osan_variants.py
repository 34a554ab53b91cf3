"""Investigate OSAN variants on a built-in benchmark (one seed, small budget).

Each positional argument is one run: ``;``-separated config overrides, optionally with
``method=NAME``. Prints per-epoch source training loss, the selected epoch and target/source test
metrics. Used for the investigation in docs/results.md, e.g.:

    .venv/bin/python benchmarks/osan_variants.py --size 0.5 --epochs 6 \
        "method=source-only" "tal.enabled=false" "" "tal.update_every=0"
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from osan.config import load_config
from osan.data.generators import generate
from osan.train.trainer import fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", help="';'-separated overrides per run ('' = defaults)")
    p.add_argument("--bench", default="msa", choices=["msa", "vtc"])
    p.add_argument("--size", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--dims", default="same", choices=["same", "mmsa"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    task = "regression" if args.bench == "msa" else "classification"
    kw = {"dims": args.dims} if args.bench == "msa" else {}
    source, target = generate(args.bench, seed=0, size=args.size, **kw)
    key = "corr" if task == "regression" else "f1"
    records = []
    for spec in args.runs:
        items = [x for x in spec.split(";") if x]
        method = next((x.split("=", 1)[1] for x in items if x.startswith("method=")), "osan")
        over = [x for x in items if not x.startswith("method=")]
        cfg = load_config(
            overrides=[f"optim.epochs={args.epochs}", *over],
            method=method,
            seed=args.seed,
            task=task,
        )
        with tempfile.TemporaryDirectory() as run:
            t0 = time.perf_counter()
            m = fit(cfg, source, target, run, progress=False)
            secs = time.perf_counter() - t0
            log = [json.loads(x) for x in (Path(run) / "log.jsonl").read_text().splitlines()]
        epochs = [r for r in log if r["event"] == "epoch"]
        rec = {
            "method": method,
            "overrides": over,
            "train_task": [round(r["train_task"], 3) for r in epochs],
            "best_epoch": m["meta"]["best_epoch"],
            "target": {k: v for k, v in m["target"].items() if isinstance(v, float)},
            "source": {k: v for k, v in m["source"].items() if isinstance(v, float)},
            "seconds": secs,
        }
        records.append(rec)
        print(
            f"{method} {over} {secs:.0f}s train_task={rec['train_task']} best={rec['best_epoch']}"
            f" | target {key} {m[key]:.3f} | source {key} {m['source'][key]:.3f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
