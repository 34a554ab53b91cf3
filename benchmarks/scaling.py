"""How a training step grows with batch size, sequence length and the number of DDG heads.

Base: the ``osan bench --quick`` preset of msa (the suite's setting), synthetic batches with the
msa feature dims (768 / 35 / 74) and lengths uniform in [L/4, L]. Axes (one varies, the rest
at the base B = 64, L = 50, H = 32 with 8 heads per step):

- ``batch``: B = 16, 32, 64, 128 — OSAN and DANN steps;
- ``seq``: L = 25, 50, 100, 200 — OSAN and DANN steps;
- ``heads``: H = 16 ... 256 — the OSAN step with every head sent to the discriminator each step
  (``ddg.heads_per_step=0``, the worst case), with the default 8 heads per step, and without
  DDG (``ddg.enabled=false``); plus the DDG module alone (forward + backward, all H heads,
  B = 64, D = 873), whose time must grow linearly in H: the time per head (largest / smallest
  = ``per_head_spread``, 1 for exactly linear; for the all-heads step, the time above the step
  without DDG per head) and a least-squares line are reported.

Time: in this process, warm-up steps, then the configurations of an axis interleaved for
``--repeats`` rounds; medians of the process's CPU time per step (``time.process_time``, one
torch thread by default: not inflated by other jobs holding the core). Memory: for each
configuration a fresh subprocess runs two warm-up steps, resets the peak RSS (VmHWM) and
reports its growth over the RSS before the third step (glibc told to return freed blocks,
MALLOC_MMAP_THRESHOLD_=65536, so RSS is live memory): the step's working memory (activations,
gradients, temporaries).

    python benchmarks/scaling.py                       # all axes
    python benchmarks/scaling.py --axes heads --json out.json
    python benchmarks/scaling.py --no-memory           # time only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

DIMS = {"text": 768, "vision": 35, "audio": 74}
BASE = {"batch": 64, "seq": 50, "heads": 32}
AXES = {
    "batch": [16, 32, 64, 128],
    "seq": [25, 50, 100, 200],
    "heads": [16, 32, 64, 128, 256],
}


# --------------------------------------------------------------------------------------------
# one configuration: a method on synthetic batches
# --------------------------------------------------------------------------------------------
def synthetic_batches(batch: int, seq: int, seed: int = 0):
    """A labelled source batch and an unlabelled target batch with msa dims.

    Shape: features[m] (B, L, I_m); lengths[m] (B,) uniform in [ceil(L/4), L]
    """
    from osan.types import Batch

    g = torch.Generator().manual_seed(seed)

    def one(labelled: bool) -> Batch:
        feats = {m: torch.randn(batch, seq, d, generator=g) for m, d in DIMS.items()}
        low = -(-seq // 4)
        lengths = {m: torch.randint(low, seq + 1, (batch,), generator=g) for m in DIMS}
        label = (torch.rand(batch, generator=g) * 6 - 3) if labelled else None
        return Batch(feats, lengths, label, torch.arange(batch))

    return one(True), one(False)


def build_step(spec: dict):
    """The method of ``spec`` (method, batch, seq, overrides) and a function running one step
    as the trainer does (forward, backward, clipping, AdamW + schedule, on_step_end)."""
    from osan.bench.suites import QUICK_OVERRIDES
    from osan.config import load_config
    from osan.methods import build_method
    from osan.train.optim import make_optimizer

    cfg = load_config(
        "configs/msa.yaml",
        overrides=[
            *QUICK_OVERRIDES["msa"],
            *spec["overrides"],
            f"optim.batch_size={spec['batch']}",
        ],
        method=spec["method"],
        seed=0,
    )
    dims = {"source": dict(DIMS), "target": dict(DIMS)}
    torch.manual_seed(0)
    method = build_method(cfg, dims, 1)
    method.train()
    opt, sched = make_optimizer(method, cfg, 1000)
    src, tgt = synthetic_batches(spec["batch"], spec["seq"])
    params = method.trainable_parameters()

    def step() -> None:
        out = method.training_step(src, tgt, 0.5)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        opt.step()
        sched.step()
        method.on_step_end(out)

    return step


def ddg_step(heads: int, dim: int = 873, batch: int = 64):
    """Forward + backward of the DDG module alone, all heads (B, H, D outputs)."""
    from osan.mixing.ddg import DynamicDomainGenerator

    torch.manual_seed(0)
    ddg = DynamicDomainGenerator(dim, heads=heads, lam=0.85, key_dim=8)
    g = torch.Generator().manual_seed(1)
    s = torch.randn(batch, dim, generator=g, requires_grad=True)
    t = torch.randn(batch, dim, generator=g, requires_grad=True)
    w = torch.randn(batch, heads, dim, generator=g)

    def step() -> None:
        gen = ddg(s, t)
        torch.autograd.backward([gen.source, gen.target], [w, w])

    return step


# --------------------------------------------------------------------------------------------
# memory: a fresh subprocess per configuration
# --------------------------------------------------------------------------------------------
def _proc_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(field)


def _memory_worker(spec: dict, threads: int) -> dict:
    torch.set_num_threads(threads)
    step = ddg_step(spec["heads"]) if spec["method"] == "ddg-module" else build_step(spec)
    step()
    step()
    base = _proc_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to VmRSS
    step()
    return {"peak_mb": max(_proc_mb("VmHWM") - base, 0.0)}


def measure_memory(spec: dict, threads: int) -> float:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec), str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mb"]


# --------------------------------------------------------------------------------------------
# axes
# --------------------------------------------------------------------------------------------
def specs_of(axis: str, value: int) -> dict[str, dict]:
    """The configurations measured at one point of an axis, by label."""
    b = value if axis == "batch" else BASE["batch"]
    seq = value if axis == "seq" else BASE["seq"]
    if axis != "heads":
        return {
            m: {"method": m, "batch": b, "seq": seq, "overrides": [], "heads": BASE["heads"]}
            for m in ("osan", "dann")
        }
    over = [f"ddg.heads={value}"]
    return {
        "osan all heads": {
            "method": "osan",
            "batch": b,
            "seq": seq,
            "heads": value,
            "overrides": [*over, "ddg.heads_per_step=0"],
        },
        "osan 8 heads/step": {
            "method": "osan",
            "batch": b,
            "seq": seq,
            "heads": value,
            "overrides": over,
        },
        "osan no DDG": {
            "method": "osan",
            "batch": b,
            "seq": seq,
            "heads": value,
            "overrides": ["ddg.enabled=false"],
        },
        "ddg module": {"method": "ddg-module", "batch": b, "seq": seq, "heads": value},
    }


def run_axis(axis: str, repeats: int, warmup: int, threads: int, memory: bool) -> list[dict]:
    points = AXES[axis]
    steps = {}
    for v in points:
        for label, spec in specs_of(axis, v).items():
            if axis == "heads" and label == "osan no DDG" and v != points[0]:
                continue  # independent of H: measured once
            fn = ddg_step(v) if spec["method"] == "ddg-module" else build_step(spec)
            for _ in range(warmup):
                fn()
            steps[(v, label)] = (spec, fn)
    samples: dict[tuple, list[float]] = {k: [] for k in steps}
    keys = list(steps)
    for i in range(repeats):
        k = i % len(keys)
        for key in keys[k:] + keys[:k]:
            t0 = time.process_time()  # CPU time: robust to other jobs on a shared machine
            steps[key][1]()
            samples[key].append(time.process_time() - t0)
    rows = []
    for (v, label), (spec, _) in steps.items():
        row = {
            "axis": axis,
            "value": v,
            "config": label,
            "ms": 1e3 * statistics.median(samples[(v, label)]),
        }
        if memory:
            row["peak_mb"] = measure_memory(spec, threads)
        rows.append(row)
        print(
            f"{axis:>6} {v:>5} {label:<18} {row['ms']:9.1f} ms"
            + (f" {row['peak_mb']:9.1f} MB" if memory else ""),
            flush=True,
        )
    return rows


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    """Least-squares y = a + b·x and the largest |residual| / y."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    a = my - b * mx
    worst = max(abs(y - (a + b * x)) / y for x, y in zip(xs, ys, strict=True))
    return {"intercept": a, "slope": b, "max_rel_residual": worst}


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    by = {(r["axis"], r["value"], r["config"]): r for r in rows}
    for axis in ("batch", "seq"):
        ratios = {
            v: by[(axis, v, "osan")]["ms"] / by[(axis, v, "dann")]["ms"]
            for v in AXES[axis]
            if (axis, v, "osan") in by and (axis, v, "dann") in by
        }
        if ratios:
            out[f"osan_over_dann_by_{axis}"] = ratios
    heads = [v for v in AXES["heads"] if ("heads", v, "ddg module") in by]
    if heads:
        no_ddg = by.get(("heads", AXES["heads"][0], "osan no DDG"))
        base = {"ddg module": 0.0, "osan all heads": no_ddg["ms"] if no_ddg else None}
        for label in ("ddg module", "osan all heads"):
            ys = [by[("heads", v, label)]["ms"] for v in heads]
            key = label.replace(" ", "_")
            out[f"linear_fit_{key}"] = linear_fit(heads, ys)
            if base[label] is None:
                continue
            # linear in H <=> constant time per head (the step's: above the step without DDG)
            per_head = {v: (y - base[label]) / v for v, y in zip(heads, ys, strict=True)}
            out[f"ms_per_head_{key}"] = per_head
            out[f"per_head_spread_{key}"] = max(per_head.values()) / min(per_head.values())
        if no_ddg:
            out["ddg_share_of_osan_step"] = {
                label: {
                    v: 1 - no_ddg["ms"] / by[("heads", v, label)]["ms"]
                    for v in heads
                    if ("heads", v, label) in by
                }
                for label in ("osan 8 heads/step", "osan all heads")
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--axes", nargs="+", default=list(AXES), choices=list(AXES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_memory_worker(json.loads(args.worker[0]), int(args.worker[1]))))
        return
    torch.set_num_threads(args.threads)
    info = {
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "loadavg_start": os.getloadavg(),
    }
    print(
        f"step scaling, msa --quick preset, {args.threads} thread(s), {info['cpu_count']} cores, "
        f"load average {info['loadavg_start']}; medians of {args.repeats} interleaved rounds"
    )
    rows = []
    for axis in args.axes:
        rows += run_axis(axis, args.repeats, args.warmup, args.threads, not args.no_memory)
    summary = summarise(rows)
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    **summary,
                    "machine": info,
                    "loadavg_end": os.getloadavg(),
                    "command": " ".join(sys.argv),
                    "rows": rows,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
