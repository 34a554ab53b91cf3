"""One writer per folder: an advisory ``flock`` on ``FOLDER/.osan.lock``.

``osan bench --out DIR`` holds DIR's lock for the whole suite and every ``fit`` holds its run
folder's lock while it trains, so a second process aiming at the same folder stops at once with
one line (naming the holder's pid) instead of duplicating records or adopting the other's
checkpoint. The lock is the kernel's: a killed holder (``kill -9`` included) releases it, so a
stale lock file never blocks anyone. Within one process, acquiring a folder it already holds
is a no-op (a run retried after an exception), and one :func:`release` gives it back.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = ".osan.lock"

_held: dict[str, int] = {}  # resolved folder -> descriptor of its locked lock file


class FolderLocked(RuntimeError):
    """Another process holds the folder (one line; the CLI exits 2)."""


def acquire(folder: str | Path, what: str = "osan") -> None:
    """Take ``folder``'s lock (creating the folder) or raise :class:`FolderLocked`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    if key in _held:
        return
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise FolderLocked(
            f"{folder}: in use by another osan process ({holder}); wait for it to finish, "
            f"or give {what} another folder"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
    _held[key] = fd


def release(folder: str | Path) -> None:
    """Give back ``folder``'s lock if this process holds it."""
    fd = _held.pop(str(Path(folder).resolve()), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock
