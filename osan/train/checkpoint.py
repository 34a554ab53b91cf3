"""Atomic checkpoints: write to a temp file in the same folder, fsync, then rename.

A run killed at any moment (``kill -9`` included) leaves either the previous checkpoint or
the new one, never a torn file. Checkpoints are loaded with ``weights_only=True``; whatever
goes wrong while loading is one line (:class:`CheckpointError`), never torch's multi-line text
(which advises re-running with ``weights_only=False``: we never do, nor pass that advice on).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import torch

from osan.atomic import atomic_write_bytes


class CheckpointError(RuntimeError):
    """A missing, unreadable, corrupt or foreign checkpoint. The message is one line."""


#: What every checkpoint written by ``osan.train.trainer.fit`` holds, and the types.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "model": dict,
    "best_model": dict,
    "epoch": int,
    "global_step": int,
    "dims": dict,
    "num_outputs": int,
}


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    atomic_write_bytes(path, lambda f: torch.save(state, f))


#: What ``fit(resume=True)`` reads besides :data:`REQUIRED`.
RESUME_REQUIRED: tuple[str, ...] = (
    "optimizer",
    "scheduler",
    "phase",
    "best_score",
    "best_epoch",
    "src_loader",
    "tgt_loader",
    "torch_rng",
    "log_offset",
)


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", *, for_resume: bool = False
) -> dict[str, Any]:
    """Load and check the layout of a checkpoint (see :data:`REQUIRED`, and
    :data:`RESUME_REQUIRED` with ``for_resume``)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint found") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path}: not a regular file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt, truncated, or holding arbitrary objects
        raise CheckpointError(f"{path}: cannot load checkpoint safely ({_why(e)})") from None
    check_layout(ckpt, path)
    missing = [k for k in RESUME_REQUIRED if k not in ckpt] if for_resume else []
    if missing:
        raise CheckpointError(f"{path}: cannot resume from it (no {', '.join(missing)})")
    return ckpt


def load_state(module: torch.nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """``module.load_state_dict(state)``, with a one-line :class:`CheckpointError` when the
    weights do not fit the model (another method, other dims, a foreign file)."""
    try:
        module.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - RuntimeError/KeyError/TypeError from torch
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        first = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise CheckpointError(
            f"{path}: its weights do not fit this model ({first[:200]})"
        ) from None


def check_layout(ckpt: object, path: str | Path) -> None:
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not an osan checkpoint (a {type(ckpt).__name__})")
    for key, tp in REQUIRED.items():
        if key not in ckpt:
            raise CheckpointError(f"{path}: not an osan checkpoint (no '{key}')")
        if not isinstance(ckpt[key], tp) or isinstance(ckpt[key], bool):
            raise CheckpointError(f"{path}: field '{key}' has the wrong type")
    dims = ckpt["dims"]
    ok = isinstance(dims.get("source"), dict) and isinstance(dims.get("target"), dict)
    if not ok or not all(
        isinstance(m, str) and isinstance(d, int) and d > 0
        for side in ("source", "target")
        for m, d in dims[side].items()
    ):
        raise CheckpointError(f"{path}: field 'dims' is not {{source: {{modality: dim}}, ...}}")


def _why(e: Exception) -> str:
    """The first meaningful line of a torch load error, without its weights_only advice."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    keep = [
        ln
        for ln in lines
        if "weights_only" not in ln
        and "Weights only load failed" not in ln
        and not ln.lower().startswith(("please", "check the", "in pytorch", "(1)", "(2)"))
    ]
    text = keep[0] if keep else type(e).__name__
    if text.startswith("WeightsUnpickler error:"):
        text = text.split(":", 1)[1].strip()
    text = text.split(" Please ")[0].split(" Check the documentation")[0]  # torch's advice
    return f"{type(e).__name__}: {text}"[:300]


def atomic_write_json(obj: Any, path: str | Path) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    atomic_write_bytes(path, lambda f: f.write(data))
