"""Data-parallel training with torch DistributedDataParallel (DDP): one process per device.

``fit`` becomes data-parallel when a process group is initialised (``torchrun`` or
:func:`launch`); without one, every helper here is the identity and training is unchanged.

What a rank does, with world size ``W`` and ``optim.batch_size = B`` (the GLOBAL batch):

- **Sharding.** Source and target loaders keep their single-process seeds, so every rank draws
  the same global batches in the same order; rank ``r`` takes rows ``[r·B/W, (r+1)·B/W)`` of each
  (:class:`ShardedLoader`). ``B`` must be divisible by ``W``.
- **Gradients** are averaged over ranks by DDP (gloo on CPU, nccl on CUDA). For a loss that is a
  per-sample mean (source-only's L1/CE, the discriminator's BCE), the mean of the per-rank
  gradients equals the gradient of the global batch: DDP reproduces single-process training
  (up to float summation order) when dropout is off. With dropout on, each rank draws its own
  masks, a different random stream from the single process's.
- **Batch statistics** (documented in ``docs/performance.md``, with the measured effect):
  TAL's closed-form update (Eq. 2-3: running means and covariances; every step with
  ``tal.solver=closed_form``, the first ``tal.cca_init_steps`` with ``gradient``) is computed on
  the all-gathered global batch, so every rank holds the same projections and they equal a
  single process's for the same pairs. Per rank, on the rank's ``B/W`` rows (gradients then
  averaged): MK-MMD, TAL's correlation loss, TAL's output standardisation (``tal.standardize``:
  batch mean/variance, like BatchNorm without SyncBatchNorm), DDG's soft domains and the
  source/target pairing. They are not per-sample means, so osan under DDP is close to, not equal
  to, the single-process run.
- **Buffers** (TAL's projections and running estimates) are rank 0's on every rank after each
  step (broadcast after the forward as well as DDP's broadcast before it).
- **Logs**: the step's scalar terms are averaged over ranks (a NaN on any rank stops every rank).
- **Writes**: only rank 0 writes ``config.yaml``, ``checkpoint.pt``, ``log.jsonl`` and
  ``metrics.json``; validation and test scoring run on every rank over the full split (the
  parameters are identical, so every rank selects the same epoch).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from osan.data.domain import SplitLoader
from osan.types import Batch, StepOutput

StepFn = Callable[[Batch, Batch, float], StepOutput]


class DistributedError(RuntimeError):
    """A data-parallel setting that cannot work (batch size, device, launcher): exit code 2."""


class RankFailed(RuntimeError):
    """A spawned rank raised or died; the message names the rank and its error: exit code 1."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group (rank 0 of 1 when there is none)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def current(cls) -> DistContext:
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return cls(dist.get_rank(), dist.get_world_size(), local)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only writer of the run's files."""
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """``cuda`` means this rank's GPU (``cuda:LOCAL_RANK``) under DDP."""
        dev = torch.device(requested)
        if self.enabled and dev.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return dev

    def shard(self, loader: SplitLoader) -> SplitLoader | ShardedLoader:
        if not self.enabled:
            return loader
        return ShardedLoader(loader, self.rank, self.world_size)

    def wrap(self, method: nn.Module) -> StepFn:
        """The training step to call: ``method.training_step`` itself, or under DDP the same
        step run through a DistributedDataParallel wrapper (gradient averaging), with TAL's
        update inputs gathered and the logs averaged. Call again after a phase change."""
        if not self.enabled:
            return method.training_step
        gather_tal_updates(method)
        step = _Step(method)
        on_cuda = next(method.parameters()).device.type == "cuda"
        ddp = nn.parallel.DistributedDataParallel(
            step,
            device_ids=[self.local_rank] if on_cuda else None,
            find_unused_parameters=True,  # phases and ablations leave parts of the model idle
        )  # buffers (TAL's projections, running statistics) are synced from rank 0 each step
        return functools.partial(_ddp_step, ddp)


class _Step(nn.Module):
    """``forward`` = the method's training step, so that DDP can hook it."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, src: Batch, tgt: Batch, progress: float) -> StepOutput:
        return self.method.training_step(src, tgt, progress)


def _ddp_step(
    ddp: nn.parallel.DistributedDataParallel, src: Batch, tgt: Batch, progress: float
) -> StepOutput:
    out = ddp(src, tgt, progress)
    broadcast_buffers(ddp.module)
    return StepOutput(loss=out.loss, logs=mean_over_ranks(out.logs))


def broadcast_buffers(module: nn.Module) -> None:
    """Rank 0's buffers on every rank. DDP does this before each forward; doing it after the
    forward too means that buffers the forward updates from the rank's own rows (TAL's running
    standardisation estimates, as BatchNorm's) are identical on every rank at the end of each
    step, so validation, selection and the checkpoint see one model. Buffers the backward needs
    (closed-form U/V) already hold rank 0's values on every rank, so the overwrite changes none
    of them (and c10d's in-place write does not trip autograd's version check: a closed-form
    TAL run under DDP trains, see docs/performance.md)."""
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


def mean_over_ranks(logs: Mapping[str, float]) -> dict[str, float]:
    """Average scalar logs over ranks (every rank logs the same keys)."""
    names = sorted(logs)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    vals = torch.tensor([logs[k] for k in names], dtype=torch.float64, device=device)
    dist.all_reduce(vals)
    vals = (vals / dist.get_world_size()).tolist()
    return dict(zip(names, vals, strict=True))


class NullLog:
    """The run log of ranks other than 0: accepts records, writes nothing."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def offset(self) -> int:
        return 0

    def close(self) -> None:
        pass


class ShardedLoader:
    """Rank ``r``'s contiguous share of every global batch of ``loader``.

    Iterating the wrapped loader on every rank (same seed → same order) and keeping rows
    ``[r·b, (r+1)·b)`` with ``b = B / W`` shards source and target consistently; the union of
    the ranks' shards is exactly the single-process batch. ``len``, ``state_dict`` and resumption
    are the wrapped loader's.
    """

    def __init__(self, loader: SplitLoader, rank: int, world_size: int) -> None:
        if loader.batch_size % world_size:
            raise DistributedError(
                f"optim.batch_size={loader.batch_size} is the global batch and must be "
                f"divisible by the number of processes ({world_size})"
            )
        if loader.n < world_size:
            raise DistributedError(
                f"a split of {loader.n} samples cannot be shared by {world_size} processes"
            )
        self.loader = loader
        self.rank = rank
        self.world_size = world_size

    @property
    def batch_size(self) -> int:
        """Rows per rank."""
        return self.loader.batch_size // self.world_size

    def __len__(self) -> int:
        return len(self.loader)

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.loader:
            yield shard_batch(batch, self.rank, self.world_size)


def shard_batch(batch: Batch, rank: int, world_size: int) -> Batch:
    """Rank ``rank``'s contiguous rows of ``batch`` (sizes differ by at most one row).

    Shape: (B, ...) -> (B_r, ...) with Σ_r B_r = B
    """
    idx = torch.tensor_split(torch.arange(batch.size), world_size)[rank]
    lo, hi = (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)
    return Batch(
        features={m: x[lo:hi] for m, x in batch.features.items()},
        lengths={m: n[lo:hi] for m, n in batch.lengths.items()},
        label=None if batch.label is None else batch.label[lo:hi],
        index=batch.index[lo:hi],
    )


# --------------------------------------------------------------------------- TAL statistics


def gather_tal_updates(method: nn.Module) -> int:
    """Make every TAL module of ``method`` compute its closed-form update (running means and
    covariances, Eq. 2-3) on the rows of ALL ranks: the update's batch-first tensor inputs are
    all-gathered first. Every rank then computes the same projections. Returns how many TAL
    modules were wrapped (idempotent)."""
    from osan.alignment.tal import TensorAlignment

    n = 0
    for module in method.modules():
        if isinstance(module, TensorAlignment) and not getattr(module, "_rows_gathered", False):
            module.update = _gathering(module.update)  # instance attribute shadows the method
            module._rows_gathered = True
            n += 1
    return n


def _gathering(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_gather_rows(a) for a in args)
        kwargs = {k: _gather_rows(v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)

    return wrapper


def _gather_rows(value: Any) -> Any:
    if isinstance(value, Tensor):
        return all_gather_rows(value)
    if isinstance(value, Mapping):
        return {k: _gather_rows(v) for k, v in value.items()}
    return value


def all_gather_rows(x: Tensor) -> Tensor:
    """Concatenate every rank's ``x`` along dim 0, in rank order (no gradient).

    Shape: (B_r, ...) on rank r -> (Σ_r B_r, ...)
    """
    world = dist.get_world_size()
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    most = int(max(int(s) for s in sizes))
    padded = x.new_zeros((most, *x.shape[1:]))  # (max B_r, ...)
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes, strict=True)])


# --------------------------------------------------------------------------- launching


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
    import torch.multiprocessing as mp

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
    import json

    launch(_fit_rank, (cfg, source, target, str(out_dir), resume, progress), nproc=nproc,
           device=cfg.device)  # fmt: skip
    if launched_by_torchrun() and int(os.environ["RANK"]) != 0:
        return None
    return json.loads((Path(out_dir) / "metrics.json").read_text())


def _fit_rank(
    cfg: Any, source: Any, target: Any, out_dir: str, resume: bool, progress: bool
) -> None:
    from osan.train.trainer import fit

    fit(cfg, source, target, out_dir, resume=resume, progress=progress and dist.get_rank() == 0)
