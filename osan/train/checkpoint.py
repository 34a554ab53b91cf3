"""Atomic checkpoints: write to a temp file in the same folder, fsync, then rename.

A run killed at any moment (``kill -9`` included) leaves either the previous checkpoint or
the new one, never a torn file. Checkpoints are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from osan.atomic import atomic_write_bytes


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated, or holding arbitrary objects
        raise CheckpointError(f"{path}: cannot load checkpoint safely ({e})") from e


def atomic_write_json(obj: Any, path: str | Path) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    atomic_write_bytes(path, lambda f: f.write(data))
