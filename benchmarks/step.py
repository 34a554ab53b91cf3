"""One training step of every method on the same encoders and batch, side by side.

A step is what ``osan.train.trainer.fit`` does per batch: ``training_step`` (forward),
``zero_grad`` + ``backward`` + gradient clipping, the optimiser and LR-scheduler steps
(``osan.train.optim.make_optimizer``), and ``on_step_end`` (OSAN's closed-form TAL update).
Every method is built from the same config (same encoders, batch and data); two-stage methods (ADDA,
MM-SADA, MDMN) are timed in their final "adapt" phase. After ``--warmup`` steps each, the
methods run interleaved for ``--repeats`` rounds (the order rotates every round) and each phase
of each step is timed in CPU time of the process (``time.process_time``; with one thread it is
the step's compute, and it does not count the time other jobs of a shared machine hold the
core; the wall time is kept too). The tables show medians, and ``osan_over_dann`` is the median
over rounds of the per-round ratio (robust to the load drifting between rounds).

Variants, ``METHOD:VARIANT``, run in the same process and rounds:
- ``loop-adamw``: ``optim.fused=false`` (AdamW's for-loop implementation, the default until
  session 3);
- ``closed-form``: ``tal.solver=closed_form`` (Eq. (2)'s closed-form TAL update every step).
The variants of retired options (``all``: ``ddg.assign=all``; ``session2``, ``before``;
``shared-target`` / ``two-forward``: ``loss.target_dropout``) are in commit 00e8d38, with the
options they time (docs/method.md, "Retired options").
The conv encoder's contiguous GELU (session 3) cannot be switched off; ``--components`` times
the encoder both ways.

    python benchmarks/step.py                        # configs/msa.yaml (paper dims), B = 64
    python benchmarks/step.py --quick                # the `osan bench --quick` preset of msa
    python benchmarks/step.py --json out.json        # {"osan_over_dann": ..., "rows": [...]}
    python benchmarks/step.py --methods dann osan osan:loop-adamw ddg.heads_per_step=16
    python benchmarks/step.py --methods dann osan --components     # + OSAN's parts alone
    python benchmarks/step.py --methods osan --components --compile-ddg
    python benchmarks/step.py --quick --methods dann osan --thread-counts 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from osan.bench.suites import MAIN_METHODS, applies

# every method that runs on the (regression) msa batches, in the paper's row order
METHODS = tuple(m for m in MAIN_METHODS if applies(m, "regression"))
VARIANT_OVERRIDES: dict[str, tuple[str, ...]] = {
    "loop-adamw": ("optim.fused=false",),
    "closed-form": ("tal.solver=closed_form",),
}
VARIANTS = tuple(VARIANT_OVERRIDES)
DEFAULT_RUNS = (
    *METHODS,
    "osan:loop-adamw",
    "osan:closed-form",
)
PHASES = ("forward", "backward", "optimizer", "on_step_end")


@dataclass
class Runner:
    """One method with its optimiser and the batches it trains on."""

    name: str
    method: torch.nn.Module
    step: Callable[[], dict[str, float]]
    phase: str
    params: int
    samples: dict[str, list[float]] = field(default_factory=dict)


def load_batches(size: float, batch: int, seed: int = 0):
    """A source batch (labelled), a target batch without labels and one with (oracle only)."""
    from osan.data.domain import SplitLoader
    from osan.data.generators import generate
    from osan.train.trainer import describe_dims

    source, target = generate("msa", seed=seed, size=size)
    src = next(iter(SplitLoader(source.split("train"), batch, shuffle=True, seed=seed)))
    tgt_split = target.split("train")
    tgt = next(iter(SplitLoader(tgt_split.without_labels(), batch, shuffle=True, seed=seed + 1)))
    tgt_labelled = next(iter(SplitLoader(tgt_split, batch, shuffle=True, seed=seed + 1)))
    return describe_dims(source, target), src, tgt, tgt_labelled


def build_runner(run_name: str, cfg, dims, src, tgt, tgt_labelled, steps: int = 1000) -> Runner:
    """The method of ``cfg`` in its last phase, with the trainer's optimiser, and its step;
    ``run_name`` is ``METHOD`` or ``METHOD:VARIANT`` (module doc)."""
    from osan.methods import build_method
    from osan.train.optim import make_optimizer

    torch.manual_seed(cfg.seed)
    method = build_method(cfg, dims, 1)
    method.train()
    last = method.phases[-1].name
    if method.phase != last:
        method.set_phase(last)
    opt, sched = make_optimizer(method, cfg, steps)
    target = tgt_labelled if method.uses_target_labels else tgt
    params = method.trainable_parameters()
    clip = cfg.optim.grad_clip

    def step() -> dict[str, float]:
        clock = time.process_time  # CPU time of this process: robust to other jobs' load
        wall0 = time.perf_counter()
        t0 = clock()
        out = method.training_step(src, target, 0.5)
        t1 = clock()
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        t2 = clock()
        opt.step()
        sched.step()
        t3 = clock()
        method.on_step_end(out)
        t4 = clock()
        return {
            "forward": t1 - t0,
            "backward": t2 - t1,
            "optimizer": t3 - t2,
            "on_step_end": t4 - t3,
            "step": t4 - t0,
            "wall": time.perf_counter() - wall0,
        }

    n_params = sum(p.numel() for p in method.parameters())
    return Runner(run_name, method, step, last, n_params)


def machine(threads: int) -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "loadavg": os.getloadavg(),
    }


def run(
    methods: list[str],
    overrides: list[str],
    *,
    quick: bool,
    batch: int,
    warmup: int,
    repeats: int,
    threads: int,
    size: float = 0.2,
    with_components: bool = False,
    compile_ddg: bool = False,
    thread_counts: list[int] | None = None,
) -> dict:
    from osan.config import load_config

    torch.set_num_threads(threads)
    preset: list[str] = []
    if quick:
        from osan.bench.suites import QUICK_OVERRIDES

        preset = list(QUICK_OVERRIDES["msa"])
    dims, src, tgt, tgt_labelled = load_batches(size, batch)
    runners = []
    for name in methods:
        method_name, _, variant = name.partition(":")
        if variant and variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r} of {name!r}; choose from {VARIANTS}")
        extra = list(VARIANT_OVERRIDES.get(variant, ()))
        cfg = load_config(
            "configs/msa.yaml",
            overrides=[*preset, *overrides, *extra, f"optim.batch_size={batch}"],
            method=method_name,
            seed=0,
        )
        runners.append(build_runner(name, cfg, dims, src, tgt, tgt_labelled))
    extras: dict = {}
    if with_components:
        osan_cfg = load_config(
            "configs/msa.yaml",
            overrides=[*preset, *overrides, f"optim.batch_size={batch}"],
            method="osan",
            seed=0,
        )
        extras["components"] = components(osan_cfg, dims, batch, repeats, compile_ddg)
    if thread_counts:
        extras["threads_compare"] = thread_compare(runners, thread_counts, repeats)
        return {"summary": {}, "rows": [], **extras}
    for r in runners:
        for _ in range(warmup):
            r.step()
    for i in range(repeats):
        k = i % len(runners)
        for r in runners[k:] + runners[:k]:  # rotate the order every round
            for key, value in r.step().items():
                r.samples.setdefault(key, []).append(value)
    rows = []
    for r in runners:
        rows.append(
            {
                "method": r.name,
                "phase": r.phase,
                "params": r.params,
                **{f"{k}_ms": 1e3 * statistics.median(v) for k, v in r.samples.items()},
                "step_samples_ms": [1e3 * s for s in r.samples["step"]],
            }
        )
    by_name = {r.name: r for r in runners}

    def ratio(num: str, den: str) -> float:
        """Median over rounds of step(num) / step(den) (same round, same load)."""
        pairs = zip(by_name[num].samples["step"], by_name[den].samples["step"], strict=True)
        return statistics.median(a / b for a, b in pairs)

    summary: dict[str, float] = {}
    pairs = {
        "osan_over_dann": ("osan", "dann"),
        "osan_mixup_over_dann": ("osan-mixup", "dann"),
        "source_only_over_dann": ("source-only", "dann"),
        "osan_loop_adamw_over_fused": ("osan:loop-adamw", "osan"),
        "osan_closed_form_over_gradient": ("osan:closed-form", "osan"),
    }
    for key, (num, den) in pairs.items():
        if num in by_name and den in by_name:
            summary[key] = ratio(num, den)
    return {"summary": summary, "rows": rows, **extras}


def print_table(result: dict, title: str) -> None:
    print(title)
    if "threads_compare" in result:
        print(f"{'method':<20} {'threads':>7} {'wall ms':>9} {'cpu ms':>9}")
        for row in sorted(result["threads_compare"], key=lambda r: (r["method"], r["threads"])):
            print(
                f"{row['method']:<20} {row['threads']:>7} {row['wall_ms']:>9.1f} "
                f"{row['cpu_ms']:>9.1f}"
            )
        return
    head = f"{'method':<20} {'phase':<7} {'params':>9} {'wall ms':>8} {'cpu ms':>8}"
    head += "".join(f" {p + ' ms':>15}" for p in PHASES)
    print(head)
    for row in result["rows"]:
        line = f"{row['method']:<20} {row['phase']:<7} {row['params']:>9} {row['wall_ms']:>8.1f}"
        line += f" {row['step_ms']:>8.1f}"
        line += "".join(f" {row[p + '_ms']:>15.1f}" for p in PHASES)
        print(line)
    for key, value in result["summary"].items():
        print(f"{key}: {value:.2f}")
    if "components" in result:
        print("OSAN's parts alone (CPU ms, medians):")
        for key, value in result["components"].items():
            print(f"  {key:<32} {value:10.1f}")


def _median_ms(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Interleaved CPU-time medians (ms) of argument-less functions, after one warm-up call."""
    for f in fns.values():
        f()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for i in range(repeats):
        k = i % len(keys)
        for key in keys[k:] + keys[:k]:
            t0 = time.process_time()
            fns[key]()
            samples[key].append(time.process_time() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in samples.items()}


def components(cfg, dims, batch: int, repeats: int, compile_ddg: bool = False) -> dict[str, float]:
    """OSAN's own parts at this config's shapes, alone (CPU ms): the DDG (fused and reference
    with ``assign=all``, and ``forward_split``; forward + backward), the discriminator on the
    generated rows of either assignment and on the hard rows (forward + backward), one AdamW
    step over OSAN's parameters (for-loop and fused), and the conv encoder's GELU both ways."""
    from osan.methods import build_method

    torch.manual_seed(0)
    osan = build_method(cfg, dims, 1)
    osan.train()
    d = osan.adv_dim  # what the discriminator and DDG see
    g = torch.Generator().manual_seed(0)
    s = torch.randn(batch, d, generator=g, requires_grad=True)  # (B, D)
    t = torch.randn(batch, d, generator=g, requires_grad=True)  # (B, D)
    k = cfg.ddg.heads_per_step if 0 < cfg.ddg.heads_per_step < cfg.ddg.heads else cfg.ddg.heads
    heads = torch.randperm(cfg.ddg.heads, generator=g)[:k]  # (H',)
    w = torch.randn(batch, k, d, generator=g)  # (B, H', D)
    gen, disc = osan.generator, osan.discriminator
    g_s = torch.randn(batch, k, d, generator=g, requires_grad=True)  # (B, H', D)
    g_t = torch.randn(batch, k, d, generator=g, requires_grad=True)
    hard = torch.randn(2 * batch, d, generator=g, requires_grad=True)  # (2B, D)

    def ddg(fn) -> Callable[[], None]:
        def f() -> None:
            out = fn(s, t, heads=heads)
            torch.autograd.backward([out.source, out.target], [w, w])

        return f

    def adamw(fused: bool) -> Callable[[], None]:
        params = [torch.nn.Parameter(p.detach().clone()) for p in osan.trainable_parameters()]
        for p in params:
            p.grad = torch.randn_like(p)
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4, fused=fused)
        return opt.step

    g_split = torch.randn(batch, 1, d, generator=g, requires_grad=True)  # (B, 1, D)
    w_split = torch.randn(batch, 1, d, generator=g)

    def ddg_split() -> None:
        out = gen.forward_split(s, t, heads)
        torch.autograd.backward([out.source, out.target], [w_split, w_split])

    enc = _encoder_gelu(cfg, batch, g)
    if not hasattr(gen, "forward_reference"):
        raise SystemExit("--components needs OSAN with the DDG (ddg.kind=ddg, ddg.enabled=true)")
    fns = {
        "ddg fused (every row, every head)": ddg(gen.forward),
        "ddg reference (every row, every head)": ddg(gen.forward_reference),
        "ddg split (row i, head i mod H')": ddg_split,
        "discriminator, generated rows (all)": lambda: (
            disc(g_s).sum() + disc(g_t).sum()
        ).backward(),
        "discriminator, generated rows (split)": lambda: disc(g_split).sum().backward(),
        "discriminator, 2B hard rows": lambda: disc(hard).sum().backward(),
        "adamw for-loop": adamw(False),
        "adamw fused": adamw(True),
        **enc,
    }
    compile_s = None
    if compile_ddg:  # torch.compile of the reference composition: compile time, then speed
        compiled = torch.compile(gen.forward_reference)
        wall0 = time.perf_counter()
        ddg(compiled)()
        compile_s = time.perf_counter() - wall0
        fns["ddg reference, torch.compile"] = ddg(compiled)
    out = _median_ms(fns, repeats)
    if compile_s is not None:
        out["torch.compile first call, wall s"] = compile_s
    out["feature_dim"] = d
    out["heads_per_step"] = k
    out["params"] = sum(p.numel() for p in osan.trainable_parameters())
    return out


def _encoder_gelu(cfg, batch: int, g: torch.Generator) -> dict[str, Callable[[], None]]:
    """The conv text encoder's core, forward + backward, with GELU on the transposed view of
    the convolution's output (before session 3) and on a contiguous copy (now)."""
    from osan.nn.encoders import masked_mean_max

    hidden, length = cfg.encoder.hidden, 50
    conv = torch.nn.Conv1d(hidden, hidden, kernel_size=3, padding=1)
    x = torch.randn(batch, length, hidden, generator=g, requires_grad=True)  # (B, L, C)
    mask = torch.ones(batch, length, dtype=torch.bool)

    def core(contiguous: bool) -> Callable[[], None]:
        def f() -> None:
            y = conv(x.transpose(1, 2)).transpose(1, 2)  # (B, L, C)
            if contiguous:
                y = y.contiguous()
            masked_mean_max(torch.nn.functional.gelu(y) + x, mask).sum().backward()

        return f

    return {
        "conv encoder, GELU on transposed view": core(False),
        "conv encoder, GELU contiguous": core(True),
    }


def thread_compare(runners: list[Runner], counts: list[int], repeats: int) -> list[dict]:
    """Wall and CPU time per step of each runner under each torch thread count, alternating
    the count every round (``torch.set_num_threads`` between steps)."""
    for n in counts:
        torch.set_num_threads(n)
        for r in runners:
            r.step()
    samples: dict[tuple[str, int], list[dict]] = {}
    for i in range(repeats):
        k = i % len(counts)
        for n in counts[k:] + counts[:k]:
            torch.set_num_threads(n)
            for r in runners:
                samples.setdefault((r.name, n), []).append(r.step())
    return [
        {
            "method": name,
            "threads": n,
            "wall_ms": 1e3 * statistics.median(x["wall"] for x in v),
            "cpu_ms": 1e3 * statistics.median(x["step"] for x in v),
        }
        for (name, n), v in samples.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_RUNS),
        help=f"METHOD or METHOD:VARIANT, variants {VARIANTS}; default {list(DEFAULT_RUNS)}",
    )
    parser.add_argument("--quick", action="store_true", help="the --quick preset of msa")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--components", action="store_true", help="also time OSAN's parts alone")
    parser.add_argument(
        "--compile-ddg",
        action="store_true",
        help="with --components: also time torch.compile of the reference DDG",
    )
    parser.add_argument(
        "--thread-counts",
        type=int,
        nargs="+",
        default=None,
        help="instead of the table: wall and CPU time per step under these thread counts",
    )
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args()
    methods, overrides = [], list(args.overrides)
    for m in args.methods:  # argparse gives trailing overrides to --methods
        (overrides if "=" in m else methods).append(m)
    info = machine(args.threads)
    result = run(
        methods,
        overrides,
        quick=args.quick,
        batch=args.batch,
        warmup=args.warmup,
        repeats=args.repeats,
        threads=args.threads,
        with_components=args.components,
        compile_ddg=args.compile_ddg,
        thread_counts=args.thread_counts,
    )
    config = "msa --quick preset" if args.quick else "configs/msa.yaml"
    print_table(
        result,
        f"one training step, {config} {overrides or ''}, B = {args.batch}, "
        f"{args.threads} thread(s), {info['cpu_count']} cores, load average {info['loadavg']}; "
        f"medians of {args.repeats} interleaved rounds",
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    **result["summary"],
                    "config": config,
                    "overrides": overrides,
                    "batch": args.batch,
                    "machine": info,
                    "loadavg_end": os.getloadavg(),
                    "command": " ".join(sys.argv),
                    "rows": result["rows"],
                    **{k: result[k] for k in ("components", "threads_compare") if k in result},
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
