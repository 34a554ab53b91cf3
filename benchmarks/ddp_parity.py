"""How far is 2-process DDP training from one process, for a fixed seed? (CPU, gloo.)

    .venv/bin/python benchmarks/ddp_parity.py                    # seeds 1 2 3, msa tiny
    .venv/bin/python benchmarks/ddp_parity.py --seeds 1 --methods source-only

For each method and seed: target-test MAE / Corr of (a) one process with the global batch,
(b) 2 gloo ranks with half the batch each (TAL's update on the all-gathered rows, the default),
(c) the same with TAL's update per rank (rank 0's half batch, broadcast as DDP buffers).
Dropout is switched off everywhere (heads and discriminators included), so that (a)-(c) draw no
random masks and every difference comes from the statistics computed per rank: MK-MMD, pairing,
DDG, TAL's correlation loss and standardisation batch statistics, and in (c) TAL's closed-form
update. The TAL settings in effect are printed (they are the config defaults); the seed-to-seed
spread of (a) is printed for scale.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from osan.bench import suites as S
from osan.config import load_config
from osan.data.generators import generate
from osan.methods import REGISTRY, register
from osan.train import distributed as D
from osan.train.launch import launch
from osan.train.trainer import fit

KEYS = ("mae", "corr")


def _nodrop(name: str):
    def build(cfg, dims, num_outputs):
        method = REGISTRY[name](cfg, dims, num_outputs)
        for module in method.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return method

    return build


def _setup(methods: list[str]) -> None:
    for m in methods:
        if f"{m}-nodrop" not in REGISTRY:
            register(f"{m}-nodrop", _nodrop(m))


def _cfg(method: str, seed: int, args: argparse.Namespace):
    over = [*S.QUICK_OVERRIDES["msa"], f"optim.epochs={args.epochs}", "encoder.dropout=0"]
    over.append(f"optim.batch_size={args.batch}")
    return load_config(overrides=over, method=f"{method}-nodrop", seed=seed)


def _data(args: argparse.Namespace):
    size = float(args.size) if args.size.replace(".", "", 1).isdigit() else args.size
    return generate("msa", seed=0, size=size)


def _ranks(out: str, args: argparse.Namespace, gather: bool) -> None:
    import torch.distributed as dist

    _setup(args.methods)
    if not gather:  # TAL's update per rank: rank 0's statistics reach every rank as buffers
        D.DistContext.gather_rows = lambda self, x: x  # what fit passes to on_step_end
    source, target = _data(args)
    res = {
        f"{m}/{s}": fit(_cfg(m, s, args), source, target, Path(out) / f"{m}-{s}", progress=False)[
            "target"
        ]
        for m in args.methods
        for s in args.seeds
    }
    if dist.get_rank() == 0:
        (Path(out) / "metrics.json").write_text(json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["source-only", "osan"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--size", default="tiny")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=16, help="global batch (2 ranks: half each)")
    args = p.parse_args()
    torch.set_num_threads(1)
    _setup(args.methods)
    source, target = _data(args)
    with tempfile.TemporaryDirectory(prefix="osan-ddp-parity-") as tmp:
        single = {
            f"{m}/{s}": fit(
                _cfg(m, s, args), source, target, Path(tmp) / f"1-{m}-{s}", progress=False
            )["target"]  # fmt: skip
            for m in args.methods
            for s in args.seeds
        }
        runs = {}
        for name, gather in (("ddp", True), ("ddp-tal-per-rank", False)):
            out = Path(tmp) / name
            launch(_ranks, (str(out), args, gather), nproc=2, device="cpu")
            runs[name] = json.loads((out / "metrics.json").read_text())
    tal = _cfg("osan", 1, args).tal
    print(
        f"msa --size {args.size}, quick model, {args.epochs} epochs, global batch {args.batch}, "
        f"no dropout; target test. TAL: solver={tal.solver}, normalize={tal.normalize}, "
        f"cca_init_steps={tal.cca_init_steps}"
    )
    for m in args.methods:
        print(f"\n{m}: seed | one process MAE / Corr | DDP 2 ranks | DDP, TAL per rank")
        deltas: dict[str, dict[str, list[float]]] = {n: {k: [] for k in KEYS} for n in runs}
        for s in args.seeds:
            key = f"{m}/{s}"
            row = [f"{single[key][k]:.4f}" for k in KEYS]
            cells = [" / ".join(row)]
            for n in runs:
                cells.append(" / ".join(f"{runs[n][key][k]:.4f}" for k in KEYS))
                for k in KEYS:
                    deltas[n][k].append(abs(runs[n][key][k] - single[key][k]))
            print(f"  {s} | " + " | ".join(cells))
        for n in runs:
            mean = ", ".join(f"{k} {statistics.mean(deltas[n][k]):.4f}" for k in KEYS)
            print(f"  mean |{n} - one process|: {mean}")
        if len(args.seeds) > 1:
            spread = ", ".join(
                f"{k} {statistics.stdev(single[f'{m}/{s}'][k] for s in args.seeds):.4f}"
                for k in KEYS
            )
            print(f"  seed-to-seed std of one process: {spread}")


if __name__ == "__main__":
    main()
