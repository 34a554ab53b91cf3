"""What the commands share: the one-line usage error, data loading with ``--nan-policy``, and the
atomic text write of a command's outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from osan.atomic import atomic_write_bytes


class UsageError(ValueError):
    """A command-line value that parses but cannot be used (one line, exit 2)."""


def load_data(path: Path, args: argparse.Namespace, task: str | None = None, **kw):
    from osan.data.io import load_domain

    return load_domain(path, task=task, nan_policy=args.nan_policy, **kw)


def check_out_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (the old file or the new one, never a torn one)."""
    data = text.encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def jsonable(v) -> bool:
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True
