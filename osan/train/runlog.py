"""The run's log, ``RUN/log.jsonl``: one JSON record per line (steps, epochs, learning-curve
points), mirrored to TensorBoard when it is installed. Only rank 0 writes one; the other ranks
of a data-parallel run hold a :class:`NullLog`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class RunLog:
    """Appends records to ``path``, first truncated to ``offset`` bytes (a resumed run drops
    what was logged after its checkpoint); ``offset()`` is what a checkpoint stores."""

    def __init__(self, path: Path, offset: int | None, tb_dir: Path | None):
        mode = "r+b" if path.exists() else "wb"
        self.f = open(path, mode)
        if offset is not None:
            self.f.truncate(offset)
        self.f.seek(0, os.SEEK_END)
        self.tb = None
        if tb_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(tb_dir))
            except Exception:  # tensorboard not installed: JSONL only
                self.tb = None

    def write(self, record: dict[str, Any]) -> None:
        self.f.write((json.dumps(record) + "\n").encode())
        if self.tb is not None and "step" in record:
            for k, v in record.items():
                if isinstance(v, float):
                    self.tb.add_scalar(f"{record.get('event', 'log')}/{k}", v, record["step"])

    def offset(self) -> int:
        self.f.flush()
        os.fsync(self.f.fileno())
        return self.f.tell()

    def close(self) -> None:
        self.f.close()
        if self.tb is not None:
            self.tb.close()


class NullLog:
    """The run log of ranks other than 0: accepts records, writes nothing."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def offset(self) -> int:
        return 0

    def close(self) -> None:
        pass


def has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True
