"""The one training loop. Every method plugs in through ``training_step``.

Guarantees:
- equal-size source and target batches; the target training stream carries ``label=None``
  unless the method is the supervised oracle (``uses_target_labels``);
- checkpoint selection (``osan.train.epoch_selection``) by SOURCE validation loss, or by the
  validator ``cfg.selection`` names (``osan.eval.selection``: source valid labels + unlabelled
  target train); target labels are never read for it;
- atomic per-epoch checkpoints; ``resume=True`` continues a killed run and ends with the same
  metrics as an uninterrupted run of the same seed;
- a NaN/Inf loss term stops the run naming the term and step; the last good checkpoint stays.

The run folder's file names, its test metrics and :func:`load_run` are in ``run_folder.py``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from osan.config import Config, save_config
from osan.data.domain import Domain, SplitLoader
from osan.eval.evaluate import collect_run_artifacts, save_run_artifacts, target_curve_point
from osan.eval.selection import describe_selection
from osan.methods import Method, build_method
from osan.testtime.stats import compute_source_stats, save_source_stats
from osan.train.checkpoint import atomic_write_json, load_checkpoint, load_state, save_checkpoint
from osan.train.distributed import DistContext, ShardedLoader, StepFn
from osan.train.epoch_selection import selectable, selection_key, validation_loss
from osan.train.optim import make_optimizer
from osan.train.preflight import RunError, finish_run, prepare
from osan.train.run_folder import (
    CHECKPOINT,
    CONFIG,
    LOG,
    METRICS,
    evaluate_run,
    load_run,  # noqa: F401 (re-exported: its import path before run_folder.py)
)
from osan.train.runlog import NullLog, RunLog, has_tensorboard
from osan.types import Batch


class TrainingDiverged(RuntimeError):
    """A loss term became NaN/Inf."""


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)


def cycle(loader: SplitLoader) -> Iterator[Batch]:
    while True:
        yield from loader


def phase_schedule(method: Method, epochs: int) -> list[str]:
    """The phase name of every epoch, from the method's phase fractions."""
    names: list[str] = []
    fracs = [p.fraction for p in method.phases]
    total = sum(fracs)
    bounds = np.cumsum([f / total for f in fracs]) * epochs
    for e in range(epochs):
        idx = int(np.searchsorted(bounds, e, side="right"))
        names.append(method.phases[min(idx, len(method.phases) - 1)].name)
    return names


def describe_dims(source: Domain, target: Domain) -> dict[str, dict[str, int]]:
    ds, dt = source.dims(), target.dims()
    if set(ds) != set(dt):
        raise ValueError(
            f"source modalities {sorted(ds)} and target modalities {sorted(dt)} differ"
        )
    return {"source": ds, "target": {m: dt[m] for m in ds}}


def num_outputs(cfg: Config, source: Domain) -> int:
    if cfg.task == "regression":
        return 1
    if source.num_classes is None:
        raise ValueError("classification needs the domain's class names (meta 'classes')")
    return source.num_classes


@dataclass(frozen=True)
class EpochPlan:
    """How long the run is: steps per epoch, the phase of every epoch and the steps of each."""

    steps_per_epoch: int
    phases: list[str]  # the phase name of every epoch
    phase_steps: dict[str, int]  # optimiser steps of each phase (its LR schedule's length)

    @property
    def epochs(self) -> int:
        return len(self.phases)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class Run:
    """What every phase of :func:`fit` reads; fixed once the method and loaders are built."""

    cfg: Config
    method: Method
    source: Domain
    target: Domain
    dims: dict[str, dict[str, int]]
    device: torch.device
    ddp: DistContext
    out: Path
    src_loader: SplitLoader | ShardedLoader
    tgt_loader: SplitLoader | ShardedLoader
    plan: EpochPlan


@dataclass
class RunState:
    """Where a run is: what each epoch's checkpoint saves and ``resume`` restores."""

    epoch: int = 0  # the next epoch to run
    global_step: int = 0
    best_score: float = math.inf  # selection key of the best epoch so far (lower is better)
    best_epoch: int = -1
    best_state: dict[str, Any] | None = None  # that epoch's weights


def fit(
    cfg: Config,
    source: Domain,
    target: Domain,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log_every: int = 10,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train ``cfg.method`` on labelled ``source`` and unlabelled ``target``; write the run.

    Writes ``out_dir/{config.yaml, checkpoint.pt, log.jsonl, metrics.json, source_stats.pt}``
    (the last: source feature statistics for ``osan adapt``) and returns the
    metrics. ``stop_after_epochs`` ends the call early (for tests of resumption).

    The phases: :func:`build` the method, its loaders and the epoch plan; :func:`restore` a
    checkpoint (``resume``); then, per epoch: a fresh optimiser when the phase changes,
    :func:`train_epoch` (the loop over steps), :func:`end_epoch` (selection, log) and
    :func:`checkpoint`; last, :func:`finish` evaluates the selected weights.
    """
    prepare(cfg, source, target, out_dir, resume=resume, is_main=DistContext.current().is_main)
    run = build(cfg, source, target, Path(out_dir))
    state, log_offset, ckpt = RunState(), 0, None
    ckpt_path = run.out / CHECKPOINT
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, map_location=run.device, for_resume=True)
        state, log_offset = restore(run, ckpt)
        log_path = run.out / LOG
        have = log_path.stat().st_size if log_path.is_file() else 0
        if isinstance(log_offset, int) and have < log_offset:  # not NUL-padded back to length
            raise RunError(
                f"{log_path}: {have} bytes, shorter than the {log_offset} its checkpoint "
                "recorded (a cut or half-copied run folder); train into a new --out"
            )
    elif not resume and ckpt_path.exists() and run.ddp.is_main:
        ckpt_path.unlink()
    if run.ddp.is_main:  # only rank 0 writes the run's files
        save_config(cfg, run.out / CONFIG)
        tb = run.out / "tb" if has_tensorboard() else None
        log: RunLog | NullLog = RunLog(run.out / LOG, log_offset, tb)
    else:
        log = NullLog()

    current_phase = None
    bar = tqdm(
        total=run.plan.total_steps,
        initial=state.global_step,
        disable=not progress,
        desc=f"{cfg.method} seed={cfg.seed}",
        dynamic_ncols=True,
    )
    epochs_run = 0
    try:
        for epoch in range(state.epoch, run.plan.epochs):
            phase = run.plan.phases[epoch]
            if phase != current_phase:
                run.method.set_phase(phase)
                opt, sched = make_optimizer(run.method, cfg, run.plan.phase_steps[phase])
                step_fn = run.ddp.wrap(run.method)  # method.training_step, or its DDP wrapper
                if ckpt is not None and ckpt.get("phase") == phase:
                    opt.load_state_dict(ckpt["optimizer"])
                    sched.load_state_dict(ckpt["scheduler"])
                current_phase = phase
            t0 = time.perf_counter()
            sums = train_epoch(run, state, step_fn, opt, sched, epoch, phase, log, bar, log_every)
            end_epoch(run, state, sums, epoch, phase, t0, log)
            checkpoint(run, state, opt, sched, epoch, phase, log.offset())
            ckpt = None
            epochs_run += 1
            if stop_after_epochs is not None and epochs_run >= stop_after_epochs:
                finish_run(run.out, CHECKPOINT)
                return {}
    finally:
        bar.close()
        log.close()
    return finish(run, state)


def build(cfg: Config, source: Domain, target: Domain, out: Path) -> Run:
    """Seed, build the method and the training streams, plan the epochs.

    The target stream carries no label unless the method is the supervised oracle; under DDP
    each loader is this rank's share of the global batches."""
    out.mkdir(parents=True, exist_ok=True)
    ddp = DistContext.current()  # rank 0 of 1 unless a process group is up (torchrun, --ddp)
    device = ddp.device(cfg.device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    set_seed(cfg.seed)
    dims = describe_dims(source, target)
    method = build_method(cfg, dims, num_outputs(cfg, source))
    # per-domain input statistics (encoder.input_norm=domain) from the training splits'
    # features: the same on every rank; a resumed run loads them with the weights
    method.encoder.fit_input_norm("source", source.split("train"))
    method.encoder.fit_input_norm("target", target.split("train"))
    method = method.to(device)

    bs = cfg.optim.batch_size
    src_loader = SplitLoader(
        source.split("train"), bs, shuffle=True, drop_last=True, seed=cfg.seed, device=device
    )
    tgt_train = target.split("train")
    if not method.uses_target_labels:
        tgt_train = tgt_train.without_labels()  # structural: no target label reaches training
    tgt_loader = SplitLoader(
        tgt_train,
        bs,
        shuffle=True,
        drop_last=True,
        labelled=method.uses_target_labels,
        seed=cfg.seed + 1,
        device=device,
    )
    src_loader, tgt_loader = ddp.shard(src_loader), ddp.shard(tgt_loader)
    if cfg.optim.epoch in ("labelled", "source"):
        # one pass over the labelled split the method learns from: the source's, or the
        # target's for the supervised oracle
        steps_per_epoch = len(tgt_loader if method.uses_target_labels else src_loader)
    else:  # "longer": one pass over the larger of the two training splits
        steps_per_epoch = max(len(src_loader), len(tgt_loader))
    phases = phase_schedule(method, cfg.optim.epochs)
    phase_steps = {p: phases.count(p) * steps_per_epoch for p in set(phases)}
    plan = EpochPlan(steps_per_epoch, phases, phase_steps)
    return Run(cfg, method, source, target, dims, device, ddp, out, src_loader, tgt_loader, plan)


def restore(run: Run, ckpt: dict[str, Any]) -> tuple[RunState, int | None]:
    """Load a checkpoint's weights, loader positions and RNG state; return where the run stood
    and the log's length then (the log is truncated there)."""
    load_state(run.method, ckpt["model"], run.out / CHECKPOINT)
    run.src_loader.load_state_dict(ckpt["src_loader"])
    run.tgt_loader.load_state_dict(ckpt["tgt_loader"])
    torch.set_rng_state(ckpt["torch_rng"])
    state = RunState(
        epoch=ckpt["epoch"],
        global_step=ckpt["global_step"],
        best_score=ckpt["best_score"],
        best_epoch=ckpt["best_epoch"],
        best_state=ckpt["best_model"],
    )
    return state, ckpt["log_offset"]


def train_epoch(
    run: Run,
    state: RunState,
    step_fn: StepFn,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    phase: str,
    log: RunLog | NullLog,
    bar: tqdm,
    log_every: int,
) -> dict[str, float]:
    """The loop over one epoch's steps: the method's step, a stop on a non-finite term,
    backward, clipping, optimiser and LR step, the method's end-of-step update (TAL's on the
    gathered rows under DDP), logs. Returns the sum of every logged term over the epoch."""
    cfg, method = run.cfg, run.method
    method.train()
    src_iter, tgt_iter = cycle(run.src_loader), cycle(run.tgt_loader)
    sums: dict[str, float] = {}
    for _ in range(run.plan.steps_per_epoch):
        src = next(src_iter)
        tgt = next(tgt_iter)
        out_step = step_fn(src, tgt, state.global_step / max(run.plan.total_steps, 1))
        for name, value in out_step.logs.items():
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"loss term '{name}' is {value} at step {state.global_step} (epoch "
                    f"{epoch}); the last good checkpoint is kept at {run.out / CHECKPOINT}"
                )
        opt.zero_grad(set_to_none=True)
        out_step.loss.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(method.trainable_parameters(), cfg.optim.grad_clip)
        opt.step()
        sched.step()
        method.on_step_end(out_step, gather=run.ddp.gather_rows)
        state.global_step += 1
        step = state.global_step
        for k, v in out_step.logs.items():
            sums[k] = sums.get(k, 0.0) + v
        if cfg.curve_every and step % cfg.curve_every == 0:
            # Diagnostic for learning curves: reads target TEST labels, is only logged
            # (never used by training or selection) and consumes no RNG.
            curve = target_curve_point(
                method, run.target, cfg.task, run.source.classes, device=run.device
            )
            log.write(
                {
                    "event": "target_curve",
                    "diagnostic": "reads target labels",
                    "step": step,
                    "epoch": epoch,
                    "phase": phase,
                    **{k: float(v) for k, v in curve.items() if isinstance(v, float)},
                }
            )
        if step % log_every == 0:
            log.write(
                {
                    "event": "step",
                    "step": step,
                    "epoch": epoch,
                    "phase": phase,
                    "lr": float(sched.get_last_lr()[0]),
                    **out_step.logs,
                }
            )
        bar.update(1)
        bar.set_postfix(loss=f"{out_step.logs['total']:.3f}", refresh=False)
    return sums


def end_epoch(
    run: Run,
    state: RunState,
    sums: dict[str, float],
    epoch: int,
    phase: str,
    started: float,
    log: RunLog | NullLog,
) -> None:
    """Score the epoch for checkpoint selection (no target label, except for the oracle's
    target validation loss), keep its weights if it is the best so far, log the epoch
    (``seconds``: since ``started``, a ``time.perf_counter()``, validation included)."""
    cfg, method, device = run.cfg, run.method, run.device
    batch = max(cfg.optim.batch_size, 256)
    if method.selection_domain == "target" and method.uses_target_labels:
        val = validation_loss(method, run.target, "target", device, batch)
    else:
        val = validation_loss(method, run.source, "source", device, batch)
    select_key, select_log = selection_key(method, cfg, run.source, run.target, val, device, batch)
    record = {
        "event": "epoch",
        "epoch": epoch,
        "step": state.global_step,
        "phase": phase,
        f"{method.selection_domain}_valid_loss": val,
        **select_log,
        "seconds": time.perf_counter() - started,
        **{f"train_{k}": v / run.plan.steps_per_epoch for k, v in sums.items()},
    }
    if selectable(method, phase) and select_key <= state.best_score:
        state.best_score, state.best_epoch = select_key, epoch
        state.best_state = copy.deepcopy(method.state_dict())
    record["best_epoch"] = state.best_epoch
    log.write(record)


def checkpoint(
    run: Run,
    state: RunState,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    phase: str,
    log_offset: int,
) -> None:
    """Rank 0 writes everything ``resume`` needs to continue after ``epoch`` (atomically)."""
    method = run.method
    state_dict = {
        "model": method.state_dict(),
        "best_model": state.best_state if state.best_state is not None else method.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "phase": phase,
        "epoch": epoch + 1,
        "global_step": state.global_step,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "src_loader": run.src_loader.state_dict(),
        "tgt_loader": run.tgt_loader.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "log_offset": log_offset,
        "dims": run.dims,
        "num_outputs": method.num_outputs,
        "classes": run.source.classes,
    }
    if run.ddp.is_main:
        save_checkpoint(state_dict, run.out / CHECKPOINT)


def finish(run: Run, state: RunState) -> dict[str, Any]:
    """Evaluate the selected weights on the test splits; rank 0 writes the artifacts that
    ``osan report`` reads, and ``metrics.json``. Returns the metrics."""
    cfg, method = run.cfg, run.method
    if state.best_state is not None:
        method.load_state_dict(state.best_state)
    metrics = evaluate_run(method, cfg, run.source, run.target, run.device)
    # What `osan report` reads (features, predictions), so that a report never retrains.
    if run.ddp.is_main:
        artifacts = collect_run_artifacts(
            method, run.source, run.target, task=cfg.task, classes=run.source.classes,
            device=run.device,
        )  # fmt: skip
        save_run_artifacts(artifacts, run.out)
        # what test-time adaptation reads later without the source (``osan adapt``)
        stats = compute_source_stats(method, run.source.split("train"), run.device)
        save_source_stats(stats, run.out)
    metrics["meta"] = {
        "method": cfg.method,
        "seed": cfg.seed,
        "best_epoch": state.best_epoch,
        "selection": (
            "target validation loss (oracle: supervised on target labels)"
            if method.uses_target_labels
            else describe_selection(cfg.selection)
        ),
        "validator": None if method.uses_target_labels else cfg.selection,
        "valid_loss": state.best_score,
        "config_hash": cfg.hash(),
        "uses_target_labels": method.uses_target_labels,
    }
    if run.ddp.is_main:
        atomic_write_json(metrics, run.out / METRICS)
        finish_run(run.out, CHECKPOINT)
    return metrics
