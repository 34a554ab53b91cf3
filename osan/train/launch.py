"""Starting the processes of a data-parallel run: above the loop, which it calls.

``osan train --ddp [--nproc N]`` (or ``torchrun ... -m osan.cli train ... --ddp``) comes here:
:func:`resolve_nproc` decides how many processes, :func:`launch` spawns them (or joins
torchrun's group) and :func:`fit_distributed` runs :func:`osan.train.trainer.fit` on every
rank. What each rank does inside the loop is :mod:`osan.train.distributed`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from osan.train.distributed import DistributedError
from osan.train.trainer import fit


class RankFailed(RuntimeError):
    """A spawned rank raised or died; the message names the rank and its error: exit code 1."""


def backend_for(device: str) -> str:
    """nccl for CUDA devices, gloo otherwise (CPU)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def launch(fn: Callable[..., Any], args: tuple, *, nproc: int, device: str) -> None:
    """Run ``fn(*args)`` in ``nproc`` processes forming one process group.

    Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) this process is one of them: it joins the
    group (``env://``) and runs ``fn`` once. Otherwise ``nproc`` processes are spawned on this
    machine and meet through a temporary file (no port to choose). The group is destroyed after.
    """
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise DistributedError(f"--device {device}: CUDA is not available here")
    backend = backend_for(device)
    if launched_by_torchrun():
        dist.init_process_group(backend)
        try:
            fn(*args)
        finally:
            dist.destroy_process_group()
        return
    if nproc < 2:
        raise DistributedError(f"--nproc must be at least 2 for DDP, got {nproc}")
    if backend == "nccl" and nproc > torch.cuda.device_count():
        raise DistributedError(
            f"--nproc {nproc} exceeds the {torch.cuda.device_count()} visible CUDA devices"
        )
    import torch.multiprocessing as mp  # only when spawning

    with tempfile.TemporaryDirectory(prefix="osan-ddp-") as tmp:
        store = Path(tmp) / "rendezvous"
        try:
            mp.spawn(
                _spawned,
                args=(nproc, backend, f"file://{store}", fn, args),
                nprocs=nproc,
                join=True,
            )
        except mp.ProcessRaisedException as e:  # the rank's traceback ends with its error
            last = str(e).strip().splitlines()[-1]
            raise RankFailed(f"rank {e.error_index} failed: {last}") from None
        except mp.ProcessExitedException as e:
            raise RankFailed(f"rank {e.error_index} died (exit code {e.exit_code})") from None


def _spawned(
    rank: int, world: int, backend: str, init: str, fn: Callable[..., Any], args: tuple
) -> None:
    os.environ["LOCAL_RANK"] = str(rank)
    if backend == "gloo":  # share the cores: one process per core by default
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group(backend, init_method=init, rank=rank, world_size=world)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def resolve_nproc(ddp: bool, nproc: int | None, cfg: Any) -> int:
    """How many processes ``osan train --ddp [--nproc N]`` runs, or :class:`DistributedError`
    saying what to pass instead. Under ``torchrun`` it is torchrun's world size."""
    if not ddp:
        if launched_by_torchrun():
            raise DistributedError("launched by torchrun: add --ddp (or every rank trains alone)")
        raise DistributedError("--nproc needs --ddp")
    if launched_by_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        if nproc is not None and nproc != world:
            raise DistributedError(f"--nproc {nproc} but torchrun started {world} processes")
        n = world
    elif nproc is not None:
        n = nproc
    elif torch.device(cfg.device).type == "cuda" and torch.cuda.device_count() > 1:
        n = torch.cuda.device_count()
    else:
        raise DistributedError(
            "--ddp: pass --nproc N (processes on this machine) or launch with "
            "torchrun --nproc_per_node N -m osan.cli train ... --ddp"
        )
    if not launched_by_torchrun() and n < 2:
        raise DistributedError(f"--ddp needs at least 2 processes, got --nproc {n}")
    if cfg.optim.batch_size % n:
        raise DistributedError(
            f"optim.batch_size={cfg.optim.batch_size} is the global batch and must be divisible "
            f"by the number of processes ({n})"
        )
    return n


def fit_distributed(
    cfg: Any,
    source: Any,
    target: Any,
    out_dir: str | Path,
    *,
    nproc: int,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any] | None:
    """:func:`osan.train.trainer.fit` on ``nproc`` data-parallel processes (or, under
    ``torchrun``, as this process's rank). Returns the metrics rank 0 wrote to
    ``out_dir/metrics.json``; ``None`` on the other ranks under ``torchrun``."""
    launch(_fit_rank, (cfg, source, target, str(out_dir), resume, progress), nproc=nproc,
           device=cfg.device)  # fmt: skip
    if launched_by_torchrun() and int(os.environ["RANK"]) != 0:
        return None
    return json.loads((Path(out_dir) / "metrics.json").read_text())


def _fit_rank(
    cfg: Any, source: Any, target: Any, out_dir: str, resume: bool, progress: bool
) -> None:
    fit(cfg, source, target, out_dir, resume=resume, progress=progress and dist.get_rank() == 0)
