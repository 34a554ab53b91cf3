"""Command line: ``osan data | train | eval | predict | bench | select | report``.

Bad input data exits with code 2 and a one-line message naming the file, split and field.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from osan.config import ConfigError, load_config


def _add_data_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nan-policy",
        choices=["error", "zero"],
        default="error",
        help="NaN/Inf in features: stop with an error (default) or replace them by 0",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    tr.add_argument("--method", default="osan")
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

        kw = {} if args.dims is None else {"dims": args.dims}
        size = args.size
        try:
            size = float(size)
        except ValueError:
            pass
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
        (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"wrote {args.out}/source.pkl, {args.out}/target.pkl, {args.out}/meta.json")
        return 0
    if args.data_command == "inspect":
        from osan.data.io import describe

        print(describe(_load(args.file, args, task=args.task)))
        return 0
    if args.data_command == "encode-text":
        from osan.data.label_csv import encode_label_csv
        from osan.data.mmsa import save_mmsa

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
    if args.resume and args.config is None and (args.out / "config.yaml").exists():
        cfg = load_config(args.out / "config.yaml")
    else:
        cfg = load_config(
            args.config,
            over,
            task=args.task,
            method=args.method,
            seed=args.seed,
            device=args.device,
        )
    source = _load(args.source, args, task=cfg.task)
    target = _load(args.target, args, task=cfg.task)
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


def _format_metrics(m: dict) -> str:
    def row(name: str, d: dict) -> str:
        vals = ", ".join(f"{k}={v:.4f}" for k, v in d.items() if isinstance(v, float))
        return f"{name}: {vals}"

    return "\n".join([row("target test", m["target"]), row("source test", m["source"])])


def cmd_eval(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split, score
    from osan.train.trainer import load_run

    cfg, method, classes = load_run(args.run, args.device)
    domain = _load(args.data, args, task=cfg.task)
    split = domain.split(args.split)
    if split.labels is None:
        print(f"{args.data}: split '{args.split}' has no labels to evaluate", file=sys.stderr)
        return 2
    preds = predict_split(method, split, args.domain, device=args.device)
    metrics = score(preds.pred, preds.labels, cfg.task, classes or domain.classes)
    out = args.run / f"eval_{args.data.stem}_{args.split}.json"
    out.write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    print(f"written to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split
    from osan.train.trainer import load_run

    cfg, method, classes = load_run(args.run, args.device)
    domain = _load(args.data, args, task=cfg.task)
    split = domain.split(args.split)
    preds = predict_split(method, split, args.domain, device=args.device, labelled=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
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


def main(argv: list[str] | None = None) -> int:
    from osan.data.domain import DataError
    from osan.train.checkpoint import CheckpointError
    from osan.train.trainer import TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
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

            return cmd_select(args)
        if args.command == "predict":
            return cmd_predict(args)
        if args.command == "report":
            return cmd_report(args, argv)
    except (DataError, ConfigError) as e:
        print(f"osan: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"osan: error: {e}", file=sys.stderr)
        return 2
    except (TrainingDiverged, CheckpointError) as e:
        print(f"osan: error: {e}", file=sys.stderr)
        return 1
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
