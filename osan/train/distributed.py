"""Data-parallel training with torch DistributedDataParallel (DDP): what one rank does.

``fit`` becomes data-parallel when a process group is initialised (``torchrun`` or
:func:`osan.train.launch.launch`, which starts the processes); without one, every helper here
is the identity and training is unchanged.

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
  the all-gathered global batch (the loop passes :meth:`DistContext.gather_rows` to
  ``method.on_step_end``), so every rank holds the same projections and they equal a
  single process's for the same pairs. Per rank, on the rank's ``B/W`` rows (gradients then
  averaged): MK-MMD, TAL's correlation loss, TAL's output standardisation
  (``tal.normalize=standardize``: batch mean/variance, like BatchNorm without SyncBatchNorm),
  DDG's soft domains and the source/target pairing. They are not per-sample means, so osan
  under DDP is close to, not equal to, the single-process run.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from osan.data.domain import SplitLoader
from osan.types import Batch, StepOutput

StepFn = Callable[[Batch, Batch, float], StepOutput]


class DistributedError(RuntimeError):
    """A data-parallel setting that cannot work (batch size, device, launcher): exit code 2."""


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
        step run through a DistributedDataParallel wrapper (gradient averaging), with the logs
        averaged. Call again after a phase change."""
        if not self.enabled:
            return method.training_step
        step = _Step(method)
        on_cuda = next(method.parameters()).device.type == "cuda"
        ddp = nn.parallel.DistributedDataParallel(
            step,
            device_ids=[self.local_rank] if on_cuda else None,
            find_unused_parameters=True,  # phases and ablations leave parts of the model idle
        )  # buffers (TAL's projections, running statistics) are synced from rank 0 each step
        return functools.partial(_ddp_step, ddp)

    def gather_rows(self, x: Tensor) -> Tensor:
        """The rows of ``x`` on every rank, in rank order (no gradient); ``x`` itself without a
        process group. The loop passes this to ``method.on_step_end`` so that TAL's closed-form
        update (running means and covariances) is computed on the global batch.

        Shape: (B_r, ...) on rank r -> (Σ_r B_r, ...)
        """
        return all_gather_rows(x) if self.enabled else x


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
    return StepOutput(loss=out.loss, logs=mean_over_ranks(out.logs), tal_rows=out.tal_rows)


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


# --------------------------------------------------------------------------- gathering rows


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
