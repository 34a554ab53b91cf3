"""Command line: ``osan data | train | adapt | eval | predict | bench | select | pool | report``.

Every bad input, bad run folder or misuse exits with code 2 and ONE line on stderr (naming the
file, split and field for data), never a traceback, and leaves the user's files as they were:
see ``docs/errors.md``. A diverged run exits 1; an interrupted one 130; an unexpected failure
exits 1 with one line (``OSAN_TRACEBACK=1`` shows the traceback).

This package holds :func:`main` and the dispatch; ``parser.py`` the flags of every command,
``data.py``, ``train.py``, ``adapt.py``, ``runs.py`` (eval, predict) and ``report.py`` the
commands, and ``common.py`` what they share. ``osan bench``, ``osan select`` and ``osan pool``
live in ``osan/bench/``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from osan.cli.adapt import cmd_adapt
from osan.cli.common import UsageError
from osan.cli.data import cmd_data
from osan.cli.parser import build_parser
from osan.cli.report import check_bench_records, cmd_report
from osan.cli.runs import cmd_eval, cmd_predict
from osan.cli.train import cmd_train
from osan.config import ConfigError


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
    from osan.testtime.adapt import AdaptError
    from osan.testtime.stats import SourceStatsError
    from osan.train.checkpoint import CheckpointError
    from osan.train.preflight import RunError
    from osan.train.trainer import TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return _run_command(args, argv)
    except (
        DataError,
        ConfigError,
        RunError,
        CheckpointError,
        UsageError,
        FolderLocked,
        AdaptError,
        SourceStatsError,
    ) as e:
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
    if args.command == "adapt":
        return cmd_adapt(args)
    if args.command == "bench":
        from osan.bench.cli import cmd_bench

        return cmd_bench(args)
    if args.command == "select":
        from osan.bench.select import cmd_select

        check_bench_records(args.bench)
        return cmd_select(args)
    if args.command == "pool":
        from osan.bench.pool_report import cmd_pool

        for folder in args.bench:
            check_bench_records(folder)
        return cmd_pool(args)
    if args.command == "predict":
        return cmd_predict(args)
    if args.command == "report":
        return cmd_report(args, argv)
    raise AssertionError(args.command)
