"""Where a suite's pending runs execute: ``local`` (one after another in this process, the
default) or ``ray`` (one Ray task per run, on an embedded local cluster or an existing one).

The runner (the *driver*) hands an :class:`Executor` the list of :class:`RunTask`, a function
that loads a benchmark's domains, the per-run work (:func:`execute_run`) and a callback
``on_done``. The executor calls ``on_done`` exactly once per task, in the driver, as runs
finish; the callback is the only writer of ``DIR/results.jsonl`` and ``DIR/failed.jsonl`` (one
writer per file, however many workers).

Ray specifics:

- **Data** is loaded once by the driver (``data_fn``, as the local executor does) and put in the
  object store, one object per (benchmark, direction); tasks receive it by reference (numpy
  arrays are read zero-copy on the driver's node, shipped once to other nodes). Workers never
  need the data files or the generator.
- **Resources**: each task asks for ``cpus_per_run`` CPUs (and sets ``torch.set_num_threads``
  to it) and ``gpus_per_run`` GPUs (Ray then sets ``CUDA_VISIBLE_DEVICES``).
- **Failures**: a run whose ``fit`` raises is reported (``failed.jsonl``), as with ``local``.
  A task whose worker process dies (killed, out of memory, node lost) is retried by Ray up to
  ``max_retries`` times; the retry resumes from the run's last checkpoint when ``DIR`` is on a
  filesystem the workers share. A task that still cannot finish is reported as failed with
  Ray's error. Nothing is dropped silently.
- **Where files go**: workers write ``DIR/runs/<run id>/`` (checkpoints, logs) where they run;
  on a multi-node cluster put ``DIR`` on a shared filesystem, or only ``results.jsonl`` (which
  the driver writes) is complete.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from osan.config import Config
from osan.data.domain import Domain

#: ``data_fn(benchmark) -> {direction: (source, target)}`` (see ``osan.bench.runner.DataFn``).
DataFn = Callable[[str], dict[str, tuple[Domain, Domain]]]

EXECUTORS: tuple[str, ...] = ("local", "ray")
RAY_HELP = "--executor ray needs Ray: pip install 'osan[ray]'"


class ExecutorError(RuntimeError):
    """A bad executor setting (Ray missing, bad resources): the command exits with code 2."""


@dataclass(frozen=True)
class RunTask:
    """One run to execute: everything a worker needs besides the data (picklable)."""

    run_id: str
    benchmark: str
    direction: str
    cfg: Config
    run_dir: Path


@dataclass(frozen=True)
class RunOutcome:
    """What came back from one run: ``metrics`` or ``error`` (exactly one is set)."""

    run_id: str
    metrics: dict[str, Any] | None
    error: str | None
    wall_time_s: float
    resumed: bool


#: The work of one run: ``work(task, source, target) -> RunOutcome``.
Work = Callable[[RunTask, Domain, Domain], RunOutcome]
OnDone = Callable[[RunOutcome], None]
OnStart = Callable[[RunTask], None]


def execute_run(
    task: RunTask,
    source: Domain,
    target: Domain,
    *,
    fit_fn: Callable[..., dict[str, Any]],
    can_resume: Callable[[Path, Config], bool],
    progress: bool = False,
) -> RunOutcome:
    """Train one run where it executes. Whether to resume is decided here, from the run folder,
    so that a retried task continues from the checkpoint its killed attempt left. A run that
    raises becomes an outcome with ``error`` (one failed run must not end a long suite)."""
    resume = can_resume(task.run_dir, task.cfg)
    t0 = time.perf_counter()
    try:
        metrics = fit_fn(task.cfg, source, target, task.run_dir, resume=resume, progress=progress)
    except Exception as e:
        return RunOutcome(
            task.run_id, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0, resume
        )
    return RunOutcome(task.run_id, metrics, None, time.perf_counter() - t0, resume)


class Executor(Protocol):
    """Runs every task once (``on_done`` is called once per task, in the calling process)."""

    name: str

    def run(
        self,
        tasks: Sequence[RunTask],
        data_fn: DataFn,
        work: Work,
        on_done: OnDone,
        on_start: OnStart | None = None,
    ) -> None: ...


class LocalExecutor:
    """One run after another in this process, in plan order (the default)."""

    name = "local"

    def run(
        self,
        tasks: Sequence[RunTask],
        data_fn: DataFn,
        work: Work,
        on_done: OnDone,
        on_start: OnStart | None = None,
    ) -> None:
        data: dict[str, dict[str, tuple[Domain, Domain]]] = {}
        for task in tasks:
            if on_start is not None:
                on_start(task)
            if task.benchmark not in data:
                data[task.benchmark] = data_fn(task.benchmark)
            source, target = data[task.benchmark][task.direction]
            on_done(work(task, source, target))


class RayExecutor:
    """Every run is a Ray task; results come back to the driver as they finish.

    ``address=None`` joins the cluster named by ``RAY_ADDRESS`` if set, else starts an embedded
    local cluster (``num_cpus`` CPUs, default all) that is shut down afterwards. A Ray session
    already initialised in this process (tests, notebooks) is used as is and left running.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_run: float = 1.0,
        gpus_per_run: float = 0.0,
        max_retries: int = 2,
        num_cpus: int | None = None,
    ) -> None:
        if cpus_per_run <= 0:
            raise ExecutorError(f"--cpus-per-run must be positive, got {cpus_per_run}")
        if gpus_per_run < 0:
            raise ExecutorError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        if max_retries < 0:
            raise ExecutorError(f"max_retries must be >= 0, got {max_retries}")
        require_ray()
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.max_retries = max_retries
        self.num_cpus = num_cpus

    def _init(self) -> bool:
        """Connect or start a cluster; True if this call started the Ray session."""
        import ray

        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=True)
        return True

    def run(
        self,
        tasks: Sequence[RunTask],
        data_fn: DataFn,
        work: Work,
        on_done: OnDone,
        on_start: OnStart | None = None,
    ) -> None:
        if not tasks:
            return
        import ray

        started = self._init()
        pending: dict[Any, RunTask] = {}
        try:
            remote = ray.remote(_ray_run).options(
                num_cpus=self.cpus_per_run,
                num_gpus=self.gpus_per_run,
                max_retries=self.max_retries,  # the worker process died: run it again
                retry_exceptions=False,  # fit raised: report it (re-running the suite retries)
            )
            work_ref = ray.put(work)
            data_refs: dict[tuple[str, str], Any] = {}
            for task in tasks:
                key = (task.benchmark, task.direction)
                if key not in data_refs:
                    for direction, pair in data_fn(task.benchmark).items():
                        data_refs[(task.benchmark, direction)] = ray.put(pair)
                ref = remote.remote(work_ref, task, data_refs[key], self.cpus_per_run)
                pending[ref] = task
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task = pending.pop(ref)
                    on_done(_outcome(ray, ref, task))
        finally:
            for ref in pending:  # interrupted: stop what is still queued or running
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def _outcome(ray: Any, ref: Any, task: RunTask) -> RunOutcome:
    """The task's outcome, or a failed outcome naming Ray's error (worker died after its
    retries, task cancelled, node lost): reported, never dropped."""
    try:
        return ray.get(ref)
    except Exception as e:  # ray.exceptions.RayError and what it wraps
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return RunOutcome(task.run_id, None, f"{type(e).__name__}: {msg}", 0.0, False)


def _ray_run(work: Work, task: RunTask, pair: tuple[Domain, Domain], num_cpus: float) -> RunOutcome:
    """The body of one Ray task (runs in a worker process)."""
    import torch

    torch.set_num_threads(max(1, int(num_cpus)))
    source, target = pair
    with warnings.catch_warnings():
        # Arrays from the object store are read-only views; training never writes its inputs.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return work(task, source, target)


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise ExecutorError(RAY_HELP)


def make_executor(
    name: str,
    *,
    ray_address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
) -> Executor:
    """The executor named on the command line (``--executor``)."""
    if name == "local":
        if ray_address is not None:
            raise ExecutorError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(ray_address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)
    raise ExecutorError(f"unknown executor {name!r}; choose from {list(EXECUTORS)}")
