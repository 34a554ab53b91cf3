"""The ``osan`` argument parser: every command, its flags and their help (one place, so
``osan --help`` and the docs read from the same source)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (argparse prints the usage block too)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _add_run_data_opts(p: argparse.ArgumentParser, out: bool = False) -> None:
    """A trained run applied to a data file (``osan eval``, ``osan predict``)."""
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path)
    if out:
        p.add_argument("--out", required=True, type=Path)
    p.add_argument("--split", default="test")
    p.add_argument("--domain", choices=["source", "target"], default="target")
    p.add_argument("--device", default="cpu")
    _add_data_opts(p)


def _add_data_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nan-policy",
        choices=["error", "zero"],
        default="error",
        help="NaN/Inf in features: stop with an error (default) or replace them by 0",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="osan", description="Multimodal unsupervised domain adaptation (OSAN + baselines)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate, inspect and convert datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    from osan.data.generators.msa_zoo import BUILTIN, KINDS, SHIFT_KINDS

    kinds = "\n".join(f"  {k:12s} {v.description}" for k, v in SHIFT_KINDS.items())
    gen = dsub.add_parser(
        "generate",
        help="write a built-in benchmark (source.pkl, target.pkl)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"msa --shift kinds (each isolates one cause of shift; docs/data.md 'Shift zoo'):\n"
        f"  {BUILTIN:12s} the built-in shift (default; MSAShift's knobs, --dims)\n{kinds}",
    )
    gen.add_argument("name", choices=["msa", "vtc"])
    gen.add_argument("--out", required=True, type=Path)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--size", default="small", help="tiny | small | large | a float multiplier")
    gen.add_argument(
        "--dims",
        default=None,
        choices=["same", "mmsa"],
        help="msa only: 'same' (default) or 'mmsa' (target audio/vision 5/20)",
    )
    gen.add_argument(
        "--shift",
        default=BUILTIN,
        choices=KINDS,
        metavar="KIND",
        help=f"msa only: the kind of shift between source and target, one of {', '.join(KINDS)} "
        "(listed below)",
    )
    ins = dsub.add_parser("inspect", help="print splits, modalities, dims, lengths and labels")
    ins.add_argument("file", type=Path)
    ins.add_argument("--task", choices=["regression", "classification"], default=None)
    _add_data_opts(ins)
    enc = dsub.add_parser("encode-text", help="MMSA label.csv -> text-only domain (MMSA layout)")
    enc.add_argument("label_csv", type=Path)
    enc.add_argument("--out", required=True, type=Path)
    enc.add_argument("--cache-dir", type=Path, default=None)
    conv = dsub.add_parser(
        "convert",
        help="any supported input -> .h5 / .npz (pickle-free, for sharing) or .pkl (MMSA)",
        description="Write IN (any format osan reads) as HDF5 or NPZ: features, lengths, "
        "labels, ids, raw text and meta, loaded back without pickle; or as an MMSA .pkl.",
    )
    conv.add_argument("input", type=Path)
    conv.add_argument("--out", required=True, type=Path, help="OUT.h5, OUT.npz or OUT.pkl")
    conv.add_argument("--format", default="auto", help="input format if the suffix is unclear")
    conv.add_argument("--task", choices=["regression", "classification"], default=None)
    conv.add_argument("--split", default=None, help="word-aligned pickles: the file's split")
    conv.add_argument("--compress", action="store_true", help="gzip (h5) / savez_compressed")
    _add_data_opts(conv)

    tr = sub.add_parser("train", help="train a method on labelled source + unlabelled target")
    tr.add_argument("--method", default=None, help="default osan (--resume: the run's own)")
    tr.add_argument("--source", required=True, type=Path)
    tr.add_argument("--target", required=True, type=Path)
    tr.add_argument("--out", required=True, type=Path)
    tr.add_argument("--task", choices=["regression", "classification"], default=None)
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps ...")
    tr.add_argument("--config", type=Path, default=None, help="YAML config file")
    tr.add_argument("--no-tal", action="store_true", help="ablation: OSAN without TAL")
    tr.add_argument("--no-ddg", action="store_true", help="ablation: OSAN without DDG")
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument(
        "--ddp",
        action="store_true",
        help="data-parallel training (torch DDP; gloo on cpu, nccl on cuda): --nproc processes, "
        "or one rank of a torchrun launch; optim.batch_size is the global batch",
    )
    tr.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="--ddp without torchrun: processes to start (default: the visible GPUs on cuda)",
    )
    _add_data_opts(tr)
    tr.add_argument("overrides", nargs="*", help="key=value config overrides (tal.eps=1e-4)")

    ad = sub.add_parser(
        "adapt",
        help="test-time adaptation: a finished run adapted to an unlabelled target, no source",
        description="Adapt the finished run RUN (its config and checkpoint only; the source data "
        "is never read) to the unlabelled train split of TARGET, and write the run folder OUT "
        "(osan eval, predict and report --runs read it). Methods: adabn (both tasks), ssa "
        "(regression), tent and shot-im (classification); docs/method.md 'Test-time adaptation'.",
    )
    ad.add_argument("--run", required=True, type=Path, help="a finished `osan train` folder")
    ad.add_argument("--target", required=True, type=Path, help="the new target's data file")
    ad.add_argument("--out", required=True, type=Path, help="the adapted run folder OUT")
    ad.add_argument(
        "--method",
        choices=["adabn", "ssa", "tent", "shot-im"],
        default="adabn",
        help="default adabn",
    )
    ad.add_argument("--epochs", type=int, default=None, help="passes over the target train split")
    ad.add_argument("--resume", action="store_true", help="continue an interrupted adaptation")
    ad.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_opts(ad)
    ad.add_argument("overrides", nargs="*", help="adapt.key=value (adapt.lr=3e-4), device=...")

    from osan.bench.cli import add_bench_parser
    from osan.bench.pool_report import add_pool_parser
    from osan.bench.select import add_select_parser

    add_bench_parser(sub)
    add_select_parser(sub)
    add_pool_parser(sub)

    ev = sub.add_parser("eval", help="metrics of a trained run on a data file")
    _add_run_data_opts(ev)
    ev.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the metrics as JSON to FILE (never inside RUN: eval only reads it)",
    )

    pr = sub.add_parser("predict", help="one prediction per sample id (labels not needed)")
    _add_run_data_opts(pr, out=True)

    rep = sub.add_parser(
        "report",
        help="figures and tables of finished bench runs (paper §5) as report.md / report.html",
        description="Turn finished `osan bench` runs into OUT/report.md, a self-contained "
        "OUT/report.html and PNG figures: suite tables, training time, t-SNE of target features, "
        "source-target JSD, learning curves (runs trained with curve_every=N) and case studies. "
        "Nothing is retrained.",
    )
    rep.add_argument(
        "--bench",
        nargs="+",
        type=Path,
        default=None,
        help="bench folder(s) DIR; without it, --runs takes `osan train` folders",
    )
    rep.add_argument("--out", required=True, type=Path, help="report folder OUT")
    rep.add_argument(
        "--runs",
        nargs="+",
        default=None,
        help="with --bench: run ids or patterns (msa/A2B/*/seed1); without: `osan train` "
        "folders RUN [RUN ...], grouped by method",
    )
    rep.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="method keys to show (source-only osan mdmn; ablation variants as osan:wo-both)",
    )
    rep.add_argument("--cases", type=int, default=4, help="case-study samples per task")
    rep.add_argument("--case-ids", nargs="+", default=None, help="target test ids for cases")
    rep.add_argument("--seed", type=int, default=0, help="seed of t-SNE and the case draw")
    return parser
