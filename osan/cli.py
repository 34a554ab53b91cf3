"""Command line: ``osan data | train | eval | predict | bench | select | report``.

Every bad input, bad run folder or misuse exits with code 2 and ONE line on stderr (naming the
file, split and field for data), never a traceback, and leaves the user's files as they were:
see ``docs/errors.md``. A diverged run exits 1; an interrupted one 130; an unexpected failure
exits 1 with one line (``OSAN_TRACEBACK=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

from osan.atomic import atomic_write_bytes
from osan.config import ConfigError, load_config


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (argparse prints the usage block too)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


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
    gen = dsub.add_parser("generate", help="write a built-in benchmark (source.pkl, target.pkl)")
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

    from osan.bench.cli import add_bench_parser
    from osan.bench.select import add_select_parser

    add_bench_parser(sub)
    add_select_parser(sub)

    ev = sub.add_parser("eval", help="metrics of a trained run on a data file")
    ev.add_argument("--run", required=True, type=Path)
    ev.add_argument("--data", required=True, type=Path)
    ev.add_argument("--split", default="test")
    ev.add_argument("--domain", choices=["source", "target"], default="target")
    ev.add_argument("--device", default="cpu")
    _add_data_opts(ev)

    pr = sub.add_parser("predict", help="one prediction per sample id (labels not needed)")
    pr.add_argument("--run", required=True, type=Path)
    pr.add_argument("--data", required=True, type=Path)
    pr.add_argument("--out", required=True, type=Path)
    pr.add_argument("--split", default="test")
    pr.add_argument("--domain", choices=["source", "target"], default="target")
    pr.add_argument("--device", default="cpu")
    _add_data_opts(pr)

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


def _load(path: Path, args: argparse.Namespace, task: str | None = None, **kw):
    from osan.data.io import load_domain

    return load_domain(path, task=task, nan_policy=args.nan_policy, **kw)


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "generate":
        from osan.data.generators import generate
        from osan.data.mmsa import save_mmsa

        if args.dims is not None and args.name != "msa":
            raise UsageError(f"--dims applies to msa only, not {args.name}")
        kw = {} if args.dims is None else {"dims": args.dims}
        size = _generate_size(args.size)
        if not 0 <= args.seed < 2**63:
            raise UsageError(f"--seed must lie in [0, 2^63), got {args.seed}")
        _check_out_folder(args.out)
        source, target = generate(args.name, seed=args.seed, size=size, **kw)
        args.out.mkdir(parents=True, exist_ok=True)
        save_mmsa(source, args.out / "source.pkl")
        save_mmsa(target, args.out / "target.pkl")
        meta = {
            "benchmark": args.name,
            "seed": args.seed,
            "size": args.size,
            "task": source.task,
            "classes": source.classes,
            "source": {
                "name": source.name,
                "dims": source.dims(),
                "n": {s: len(sp) for s, sp in source.splits.items()},
            },
            "target": {
                "name": target.name,
                "dims": target.dims(),
                "n": {s: len(sp) for s, sp in target.splits.items()},
            },
            **{k: v for k, v in source.meta.items() if _jsonable(v)},
        }
        _write_text(args.out / "meta.json", json.dumps(meta, indent=2) + "\n")
        print(f"wrote {args.out}/source.pkl, {args.out}/target.pkl, {args.out}/meta.json")
        return 0
    if args.data_command == "inspect":
        from osan.data.io import describe

        print(describe(_load(args.file, args, task=args.task)))
        return 0
    if args.data_command == "encode-text":
        from osan.data.label_csv import encode_label_csv
        from osan.data.mmsa import save_mmsa

        if args.out.is_dir():
            raise UsageError(f"--out {args.out}: is a folder; give a file name (e.g. mosi.pkl)")

        domain = encode_label_csv(args.label_csv, cache_dir=args.cache_dir)
        save_mmsa(domain, args.out)
        print(f"wrote {args.out} ({sum(len(s) for s in domain.splits.values())} samples)")
        return 0
    if args.data_command == "convert":
        from osan.data.convert import convert

        domain = convert(
            args.input, args.out, format=args.format, task=args.task,
            nan_policy=args.nan_policy, compress=args.compress, split=args.split,
        )  # fmt: skip
        n = sum(len(s) for s in domain.splits.values())
        print(f"wrote {args.out} ({domain.task}, {n} samples, splits {', '.join(domain.splits)})")
        return 0
    raise AssertionError(args.data_command)


SIZE_NAMES = ("tiny", "small", "large")
#: Largest ``--size`` multiplier (large is 5; 100 is ~150k source samples).
SIZE_MAX = 100.0


class UsageError(ValueError):
    """A command-line value that parses but cannot be used (one line, exit 2)."""


def _generate_size(value: str) -> str | float:
    if value in SIZE_NAMES:
        return value
    try:
        x = float(value)
    except ValueError:
        raise UsageError(
            f"--size must be one of {', '.join(SIZE_NAMES)} or a multiplier, got {value!r}"
        ) from None
    if not (math.isfinite(x) and 0 < x <= SIZE_MAX):
        raise UsageError(f"--size multiplier must lie in (0, {SIZE_MAX:g}], got {value}")
    return x


def _check_out_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (the old file or the new one, never a torn one)."""
    data = text.encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True


def cmd_train(args: argparse.Namespace) -> int:
    from osan.train.trainer import fit

    over = list(args.overrides)
    if args.no_tal:
        over.append("tal.enabled=false")
    if args.no_ddg:
        over.append("ddg.enabled=false")
    if args.epochs is not None:
        over.append(f"optim.epochs={args.epochs}")
    _check_out_folder(args.out)
    top = {"task": args.task, "seed": args.seed, "device": args.device}
    cfg = None
    if args.resume:  # the run's own config, changed only by what this command says
        from osan.train.preflight import resume_config

        cfg = resume_config(
            args.out, config_file=args.config, overrides=over, method=args.method, **top
        )
    if cfg is None:
        cfg = load_config(args.config, over, method=_or(args.method, "osan"), **top)
    from osan.methods import REGISTRY

    if cfg.method not in REGISTRY:  # before reading data or creating anything
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {sorted(REGISTRY)}")
    source = _load(args.source, args, task=cfg.task)
    target = _load(args.target, args, task=cfg.task)
    from osan.train.preflight import check_inputs

    check_inputs(cfg, source, target)  # here too: under --ddp, fit runs in other processes
    from osan.train.launch import launched_by_torchrun

    if args.ddp or args.nproc is not None or launched_by_torchrun():
        from osan.train.distributed import DistributedError
        from osan.train.launch import RankFailed, fit_distributed, resolve_nproc

        try:
            nproc = resolve_nproc(args.ddp, args.nproc, cfg)
            metrics = fit_distributed(
                cfg, source, target, args.out, nproc=nproc, resume=args.resume,
                progress=not args.quiet,
            )  # fmt: skip
        except DistributedError as e:
            print(f"osan: error: {e}", file=sys.stderr)
            return 2
        except RankFailed as e:
            print(f"osan: error: {e}", file=sys.stderr)
            return 1
        if metrics is None:  # a torchrun rank other than 0: rank 0 reports
            return 0
    else:
        metrics = fit(cfg, source, target, args.out, resume=args.resume, progress=not args.quiet)
    from osan.bench.spec import write_run_data

    write_run_data(args.out, source=args.source, target=args.target)  # for `osan report --runs`
    print(_format_metrics(metrics))
    print(f"run written to {args.out}")
    return 0


def _or(value, default):
    return default if value is None else value


def _format_metrics(m: dict) -> str:
    def row(name: str, d: dict) -> str:
        if d.get("labelled") is False:
            return f"{name}: no labels, nothing to score (predictions: RUN/predictions.csv)"
        vals = ", ".join(f"{k}={v:.4f}" for k, v in d.items() if isinstance(v, float))
        return f"{name}: {vals}"

    return "\n".join([row("target test", m["target"]), row("source test", m["source"])])


def _open_run(args: argparse.Namespace):
    """The run, and the data checked against it, before any model call."""
    from osan.train.checkpoint import load_checkpoint
    from osan.train.preflight import check_data_against_run, check_device
    from osan.train.trainer import load_run

    check_device(args.device)
    if not (args.run / "config.yaml").is_file():
        raise UsageError(f"--run {args.run}: not a run folder (no config.yaml)")
    dims = load_checkpoint(args.run / "checkpoint.pt")["dims"]
    cfg = load_config(args.run / "config.yaml")
    domain = _load(args.data, args, task=cfg.task)
    split = domain.split(args.split)
    check_data_against_run(dims, domain, args.domain, args.run, str(args.data))
    cfg, method, classes = load_run(args.run, args.device)
    return cfg, method, classes, domain, split


def cmd_eval(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split, score

    cfg, method, classes, domain, split = _open_run(args)
    if split.labels is None:
        print(
            f"osan: error: {args.data}: split '{args.split}' has no labels: nothing to score "
            f"(osan predict --run {args.run} --data {args.data} --out FILE.csv predicts it)",
            file=sys.stderr,
        )
        return 2
    if cfg.task == "classification" and classes and domain.classes:
        if list(classes) != list(domain.classes):
            raise UsageError(
                f"{args.data}: classes {domain.classes} differ from the run's {classes}"
            )
    preds = predict_split(method, split, args.domain, device=args.device)
    metrics = score(preds.pred, preds.labels, cfg.task, classes or domain.classes)
    out = args.run / f"eval_{args.data.stem}_{args.split}.json"
    _write_text(out, json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    print(f"written to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split

    if args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a folder; give a file name (e.g. preds.csv)")
    cfg, method, classes, domain, split = _open_run(args)
    preds = predict_split(method, split, args.domain, device=args.device, labelled=False)
    f = io.StringIO(newline="")  # the CSV is built in memory, then written atomically
    w = csv.writer(f)
    if cfg.task == "regression":
        w.writerow(["id", "prediction"])
        for i, p in zip(preds.ids, preds.pred.tolist(), strict=True):
            w.writerow([i, f"{p:.6f}"])
    else:
        import torch

        names = classes or [str(k) for k in range(preds.pred.shape[1])]
        prob = torch.softmax(torch.from_numpy(preds.pred), -1).numpy()
        w.writerow(["id", "prediction", *[f"p_{n}" for n in names]])
        for i, row in zip(preds.ids, prob, strict=True):
            w.writerow([i, names[int(row.argmax())], *[f"{x:.6f}" for x in row]])
    _write_text(args.out, f.getvalue())
    print(f"wrote {len(preds.ids)} predictions to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from osan.report.build import ReportOptions, build_report, command_line
    from osan.report.runs import ReportError

    if args.cases < 0:
        print("osan report: error: --cases must be >= 0", file=sys.stderr)
        return 2
    if not args.bench and not args.runs:
        print("osan report: error: give --bench DIR [DIR ...] or --runs RUN [RUN ...]",
              file=sys.stderr)  # fmt: skip
        return 2
    for bench in args.bench or []:
        _check_bench_records(bench)
    opts = ReportOptions(
        benches=list(args.bench or []),
        out=args.out,
        runs=args.runs,
        methods=args.methods,
        cases=args.cases,
        case_ids=args.case_ids,
        seed=args.seed,
        command=command_line(sys.argv[1:] if argv is None else argv),
    )
    try:
        result = build_report(opts)
    except ReportError as e:
        print(f"osan report: error: {e}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"osan report: note: {note}", file=sys.stderr)
    print(f"wrote {result.markdown}, {result.html} and {len(result.figures)} figure(s)")
    return 0


#: What every record ``osan bench`` writes holds (``osan.bench.runner._record``), and what
#: ``osan report`` / ``osan select`` read without looking.
RECORD_KEYS: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "suite": str,
    "benchmark": str,
    "method": str,
    "direction": str,
    "seed": int,
    "metrics": dict,
}


def _check_bench_records(bench: Path) -> None:
    """Every complete line of ``BENCH/results.jsonl`` is a run record as ``osan bench``
    writes it (a torn last line is left to the readers, which skip it)."""
    path = bench / "results.jsonl"
    if not path.is_file():
        return
    for i, line in enumerate(path.read_bytes().splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            raise UsageError(f"{path}: line {i + 1} is not a run record")
        bad = [k for k, tp in RECORD_KEYS.items() if not isinstance(rec.get(k), tp)]
        if bad:
            raise UsageError(
                f"{path}: line {i + 1} is not a run record of osan bench "
                f"(missing or wrong: {', '.join(bad)})"
            )


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    try:
        code = _dispatch(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `osan data inspect F | head -1`: the reader has gone, stop quietly
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout is not a real file
        pass


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _dispatch(argv: list[str] | None) -> int:
    from osan.data.domain import DataError
    from osan.lock import FolderLocked
    from osan.train.checkpoint import CheckpointError
    from osan.train.preflight import RunError
    from osan.train.trainer import TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return _run_command(args, argv)
    except (DataError, ConfigError, RunError, CheckpointError, UsageError, FolderLocked) as e:
        print(f"osan: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"osan: error: {where}{e.strerror or _one_line(e)}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"osan: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("osan: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("osan: error: out of memory", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a bug: still one line, the traceback on request
        if os.environ.get("OSAN_TRACEBACK"):
            raise
        print(
            f"osan: internal error: {type(e).__name__}: {_one_line(e)[:300]} "
            "(please report it; OSAN_TRACEBACK=1 shows where)",
            file=sys.stderr,
        )
        return 1


def _run_command(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.command == "data":
        return cmd_data(args)
    if args.command == "train":
        return cmd_train(args)
    if args.command == "eval":
        return cmd_eval(args)
    if args.command == "bench":
        from osan.bench.cli import cmd_bench

        return cmd_bench(args)
    if args.command == "select":
        from osan.bench.select import cmd_select

        _check_bench_records(args.bench)
        return cmd_select(args)
    if args.command == "predict":
        return cmd_predict(args)
    if args.command == "report":
        return cmd_report(args, argv)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
