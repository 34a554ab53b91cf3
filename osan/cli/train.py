"""``osan train``: one process, or data-parallel under ``--ddp`` / torchrun."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from osan.cli.common import check_out_folder, load_data
from osan.config import Config, ConfigError, load_config


def train_config(
    out: Path,
    *,
    method: str | None,
    config: str | Path | None,
    overrides: list[str] | dict[str, Any],
    resume: bool,
    **top: Any,
) -> Config:
    """The config ``osan train`` (and ``osan.train``) runs, checked before any data is read:
    defaults, the task preset, the YAML file ``config``, then ``overrides`` (``key=value``
    strings or a nested dict) and ``top`` (``task``, ``seed``, ``device``; ``None``: not
    given). ``resume``: the run's own config in ``out``, changed only by what is given."""
    check_out_folder(out)
    cfg = None
    if resume:  # the run's own config, changed only by what this command says
        from osan.train.preflight import resume_config

        cfg = resume_config(out, config_file=config, overrides=overrides, method=method, **top)
    if cfg is None:
        cfg = load_config(config, overrides, method=_or(method, "osan"), **top)
    from osan.methods import REGISTRY

    if cfg.method not in REGISTRY:  # before reading data or creating anything
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {sorted(REGISTRY)}")
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from osan.train.trainer import fit

    over = list(args.overrides)
    if args.no_tal:
        over.append("tal.enabled=false")
    if args.no_ddg:
        over.append("ddg.enabled=false")
    if args.epochs is not None:
        over.append(f"optim.epochs={args.epochs}")
    cfg = train_config(
        args.out, method=args.method, config=args.config, overrides=over, resume=args.resume,
        task=args.task, seed=args.seed, device=args.device,
    )  # fmt: skip
    source = load_data(args.source, args, task=cfg.task)
    target = load_data(args.target, args, task=cfg.task)
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
