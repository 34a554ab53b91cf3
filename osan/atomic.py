"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

A process killed at any moment (``kill -9`` included) leaves either the old file or the new
one, never a torn file. The file gets the permissions a plain ``open(path, "w")`` would give
(0666 less the umask), not the temp file's private 0600: written data is meant to be read by
others (a converted data set, a results table). A killed writer can leave its temp file
``.NAME.*.tmp`` behind; :func:`remove_stale_temps` deletes them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _mkstemp(path: Path) -> tuple[int, str]:
    """A temp file beside ``path``; an OS error names ``path`` (what the user asked for), not
    the temp file."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None


def atomic_write_bytes(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename it over ``path``
    (:func:`atomic_write_path` with the file opened for the caller)."""

    def into(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    atomic_write_path(path, into)


def atomic_write_path(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` for writers that open the file themselves (HDF5), then fsync
    the temp file and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temps(folder: str | Path, name: str) -> list[Path]:
    """Delete the temp files ``folder/.NAME.*.tmp`` that a killed :func:`atomic_write_bytes`
    left behind; returns what it removed. Call it only while no other process writes ``name``
    in ``folder`` (a run holds its folder's lock)."""
    removed = []
    for p in Path(folder).glob(f".{name}.*.tmp"):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed
