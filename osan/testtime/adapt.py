"""The adaptation run behind ``osan adapt``: a finished run, a new unlabelled target, no source.

:func:`adapt` reads ``RUN/config.yaml``, ``RUN/checkpoint.pt`` and (SSA) ``RUN/source_stats.pt``
— never the source data — adapts the weights on the TARGET TRAIN split without its labels, and
writes ``OUT`` as a run folder that ``osan eval | predict | report --runs`` read like any other:

    OUT/config.yaml      the run's config with its ``adapt`` section (method, epochs, lr ...)
    OUT/checkpoint.pt    the adapted weights (``best_model``: the last step; nothing is selected)
    OUT/log.jsonl        one record per epoch (the method's loss)
    OUT/metrics.json     target TEST metrics when the target has test labels (evaluation only)

Every method starts from AdaBN's statistics (:mod:`osan.testtime.adabn`); the gradient methods
then run ``epochs`` passes of Adam over the target train split, the model in eval mode (no
dropout), saving a checkpoint after each pass (``resume=True`` continues from it and ends with
the same weights). ``RUN`` is only read. This is a loop apart from ``osan.train.trainer``'s: it
has no source stream, no validation and no checkpoint selection, which that loop is made of.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from osan import lock
from osan.atomic import remove_stale_temps
from osan.config import Config, load_config, save_config
from osan.data.domain import Domain, SplitLoader
from osan.eval.evaluate import predict_split, score_or_note
from osan.methods import Method, build_method
from osan.testtime.adabn import adabn
from osan.testtime.norms import norm_affines
from osan.testtime.registry import METHODS, applicable, needing_source_stats
from osan.testtime.shot_im import cluster_pseudo_labels, im_loss
from osan.testtime.ssa import direction_weights, ssa_loss
from osan.testtime.stats import (
    SOURCE_STATS,
    head_features,
    load_source_stats,
    save_source_stats,
)
from osan.testtime.tent import tent_loss
from osan.train.checkpoint import atomic_write_json, load_checkpoint, load_state, save_checkpoint
from osan.train.preflight import check_data_against_run, check_device
from osan.train.run_folder import CHECKPOINT, CONFIG, LOG, METRICS
from osan.train.runlog import RunLog

#: ``key=value`` overrides ``osan adapt`` accepts: the adaptation's own, and where it runs.
#: Everything else is the run's as trained (the weights must fit the model it builds).
ALLOWED_TOP_KEYS = ("device", "num_threads")


class AdaptError(ValueError):
    """An adaptation that cannot start as asked (one line; the CLI exits 2)."""


def adapt(
    run_dir: str | Path,
    target: Domain | str | Path,
    out: str | Path,
    *,
    method: str | None = None,
    epochs: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    resume: bool = False,
    progress: bool = False,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Adapt the finished run ``run_dir`` to ``target`` (a :class:`Domain` or a data file) and
    write the run folder ``out``; returns its metrics (see the module docstring).

    ``method``: ``adabn`` (default), ``ssa``, ``tent`` or ``shot-im``; ``epochs`` and
    ``overrides`` (``adapt.lr=3e-4``, ``device=cuda``) change the method's declared defaults.
    Raises :class:`AdaptError` (or the loaders' one-line errors) before writing anything.
    ``stop_after_epochs`` ends the call early, returning ``{}`` (for tests of resumption).
    """
    run, out = Path(run_dir), Path(out)
    cfg, ckpt = open_run(run, method, epochs, overrides)
    check_out(run, out, cfg, resume)
    if not isinstance(target, Domain):
        from osan.data.io import load_domain

        target = load_domain(Path(target), task=cfg.task)
    check_data_against_run(ckpt["dims"], target, "target", run, f"target {target.name}")
    classes = ckpt.get("classes")
    if cfg.task == "classification" and classes and target.classes:
        if list(classes) != list(target.classes):
            raise AdaptError(
                f"target {target.name}: classes {target.classes} differ from {classes}"
            )
    if len(target.split("train")) < 2:
        raise AdaptError(f"target {target.name}: its train split has fewer than 2 rows to adapt on")
    stats = load_source_stats(run)
    if METHODS[cfg.adapt.method].needs_source_stats and stats is None:
        raise AdaptError(missing_stats_message(run, cfg.task))
    device = torch.device(cfg.device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    model = build_method(cfg, ckpt["dims"], ckpt["num_outputs"]).to(device)
    load_state(model, ckpt["best_model"], run / CHECKPOINT)

    lock.acquire(out, "this adaptation")  # creates the folder; a second process stops here
    for name in (CHECKPOINT, CONFIG, METRICS, SOURCE_STATS):  # what a killed writer left
        remove_stale_temps(out, name)
    try:
        return _run(
            run, out, cfg, ckpt, model, target, stats, device, resume, progress, stop_after_epochs
        )
    finally:
        lock.release(out)


def open_run(
    run: Path, method: str | None, epochs: int | None, overrides: list[str] | tuple[str, ...]
) -> tuple[Config, dict[str, Any]]:
    """The adapted run's config (the run's own with this command's ``adapt`` section) and the
    run's checkpoint, checked before anything is read from the target or written."""
    if not (run / CONFIG).is_file():
        raise AdaptError(f"--run {run}: not a run folder (no {CONFIG})")
    trained = load_config(run / CONFIG, saved=True)
    over: list[str] = []
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if "=" not in item or not (key.startswith("adapt.") or key in ALLOWED_TOP_KEYS):
            raise AdaptError(
                f"override {item!r}: osan adapt takes adapt.<key>=value (and "
                f"{', '.join(ALLOWED_TOP_KEYS)}); the rest is the run's as trained"
            )
        over.append(item)
    over.append(f"adapt.method={method or 'adabn'}")
    if epochs is not None:
        over.append(f"adapt.epochs={epochs}")
    base = {k: v for k, v in trained.to_dict().items() if k != "adapt"}  # a fresh adaptation
    cfg = load_config(None, over, base=base)
    name = cfg.adapt.method
    if name == "none":
        raise AdaptError(f"--method: choose from {sorted(METHODS)}")
    if cfg.task not in METHODS[name].tasks:
        raise AdaptError(
            f"--method {name} applies to {' and '.join(METHODS[name].tasks)} runs; "
            f"{run} is {cfg.task} (its methods: {', '.join(applicable(cfg.task))})"
        )
    check_device(cfg.device)
    ckpt = load_checkpoint(run / CHECKPOINT)
    return cfg, ckpt


def missing_stats_message(run: Path, task: str) -> str:
    need = [m for m in needing_source_stats() if task in METHODS[m].tasks]
    rest = [m for m in applicable(task) if m not in need]
    return (
        f"{run}: no {SOURCE_STATS} (trained before osan train wrote it): "
        f"{', '.join(need)} need(s) a retrain with this osan; {', '.join(rest)} adapt it as it is"
    )


def check_out(run: Path, out: Path, cfg: Config, resume: bool) -> None:
    """``out`` is a new or empty folder, or (``resume``) this same adaptation's folder; never
    the run itself."""
    if out.exists() and not out.is_dir():
        raise AdaptError(f"--out {out}: exists and is not a folder")
    if out.resolve() == run.resolve():
        raise AdaptError(f"--out {out}: is the run itself; the run is never modified")
    entries = [p for p in out.iterdir() if p.name != lock.LOCK_FILE] if out.is_dir() else []
    if not entries:
        return
    if not resume:
        raise AdaptError(f"--out {out}: exists and is not empty (--resume continues it)")
    if not (out / CONFIG).is_file():
        raise AdaptError(f"--out {out}: not an osan adapt folder (no {CONFIG}); cannot resume")
    saved = load_config(out / CONFIG, saved=True)
    if saved.hash() != cfg.hash():
        raise AdaptError(
            f"--out {out}: holds another adaptation (config hash {saved.hash()}, this one "
            f"{cfg.hash()}); use a new --out"
        )


def epochs_of(cfg: Config) -> int:
    a = cfg.adapt
    return METHODS[a.method].epochs if a.epochs is None else a.epochs


def lr_of(cfg: Config) -> float:
    a = cfg.adapt
    return METHODS[a.method].lr if a.lr is None else a.lr


def trainable(model: Method, name: str) -> list[torch.nn.Parameter]:
    """What each method updates: normalisation affines (SSA, TENT) or every parameter outside
    the head (SHOT-IM: the source hypothesis stays frozen). The rest is frozen."""
    if name in ("ssa", "tent"):
        params = norm_affines(model)
    elif name == "shot-im":
        head = {id(p) for p in model.head.parameters()}
        params = [p for p in model.parameters() if id(p) not in head]
    else:
        params = []
    keep = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    return params


def _run(
    run: Path,
    out: Path,
    cfg: Config,
    ckpt: dict[str, Any],
    model: Method,
    target: Domain,
    stats: dict[str, Any] | None,
    device: torch.device,
    resume: bool,
    progress: bool,
    stop_after_epochs: int | None,
) -> dict[str, Any]:
    a = cfg.adapt
    train = target.split("train").without_labels()  # structural: no target label is read
    bs = min(a.batch_size, len(train))
    loader = SplitLoader(
        train, bs, shuffle=True, drop_last=True, labelled=False, seed=cfg.seed + 1, device=device
    )
    params = trainable(model, a.method)
    opt = torch.optim.Adam(params, lr=lr_of(cfg)) if params else None
    epochs = epochs_of(cfg) if params else 0
    start, step, log_offset = 0, 0, 0
    state_path = out / CHECKPOINT
    if resume and state_path.exists():
        saved = load_checkpoint(state_path, map_location=device)
        if "adapt" not in saved:
            raise AdaptError(f"{state_path}: not an osan adapt checkpoint; cannot resume")
        load_state(model, saved["model"], state_path)
        if opt is not None and saved.get("optimizer"):
            opt.load_state_dict(saved["optimizer"])
        loader.load_state_dict(saved["loader"])
        torch.set_rng_state(saved["torch_rng"])
        start, step, log_offset = saved["epoch"], saved["global_step"], saved["log_offset"]
    else:
        adabn(model, train, device)  # every method starts from the target's statistics
    save_config(cfg, out / CONFIG)
    if stats is not None:  # the adapted run can be adapted again
        save_source_stats(stats, out)
    log = RunLog(out / LOG, log_offset, None)
    model.eval()
    ssa_terms = _ssa_terms(model, stats, a) if a.method == "ssa" else None
    bar = tqdm(total=epochs * len(loader), initial=step, disable=not progress, desc=a.method)
    try:
        for epoch in range(start, epochs):
            pseudo = _pseudo_labels(model, train, device) if a.shot_beta > 0 else None
            total, n = 0.0, 0
            for batch in loader:
                loss = _loss(model, batch, a.method, ssa_terms, pseudo, a.shot_beta)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise AdaptError(
                        f"{a.method}: the adaptation loss is {value} at step {step}; "
                        f"the last good checkpoint is kept at {state_path}"
                    )
                assert opt is not None
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                total, n = total + value, n + 1
                bar.update(1)
            log.write(
                {"event": "epoch", "epoch": epoch, "step": step, f"adapt_{a.method}": total / n}
            )
            _save(out, model, ckpt, opt, loader, epoch + 1, step, log.offset(), a.method, run)
            if stop_after_epochs is not None and epoch + 1 - start >= stop_after_epochs:
                return {}
        log_offset = log.offset()
    finally:
        bar.close()
        log.close()
    _save(out, model, ckpt, opt, loader, epochs, step, log_offset, a.method, run)
    metrics = evaluate_target(model, cfg, target, device)
    metrics["meta"] = {
        "method": cfg.method,
        "adapt": a.method,
        "adapted_from": str(run),
        "epochs": epochs,
        "steps": step,
        "lr": lr_of(cfg) if params else None,
        "seed": cfg.seed,
        "best_epoch": epochs - 1,
        "selection": "none: the weights after the last adaptation step",
        "validator": None,
        "config_hash": cfg.hash(),
        "uses_target_labels": False,
        "source_free": True,
    }
    atomic_write_json(metrics, out / METRICS)
    return metrics


def _ssa_terms(model: Method, stats: dict[str, Any] | None, a: Any) -> dict[str, torch.Tensor]:
    assert stats is not None
    device = next(model.parameters()).device
    k = min(a.ssa_k, stats["basis"].shape[1])
    basis = stats["basis"][:, :k].to(device)
    weight = model.head.net[-1].weight.detach()  # (O, H): the head's last linear layer
    return {
        "mean": stats["mean"].to(device),
        "basis": basis,
        "var": stats["var"][:k].to(device),
        "weight": direction_weights(weight, basis, a.ssa_weight_bias),
    }


def _loss(
    model: Method,
    batch: Any,
    name: str,
    ssa_terms: dict[str, torch.Tensor] | None,
    pseudo: torch.Tensor | None,
    beta: float,
) -> torch.Tensor:
    if name == "ssa":
        assert ssa_terms is not None
        return ssa_loss(head_features(model, batch, "target"), **ssa_terms)
    logits = model.predict(batch, "target")  # (B, K)
    if name == "tent":
        return tent_loss(logits)
    loss = im_loss(logits)
    if pseudo is not None:
        loss = loss + beta * F.cross_entropy(logits, pseudo[batch.index.to(pseudo.device)])
    return loss


@torch.no_grad()
def _pseudo_labels(model: Method, split: Any, device: torch.device) -> torch.Tensor:
    feats, probs = [], []
    for batch in SplitLoader(split, 256, labelled=False, device=device):
        f = model.features(batch, "target")
        feats.append(f)
        probs.append(torch.softmax(model.head(f), -1))
    return cluster_pseudo_labels(torch.cat(feats), torch.cat(probs))


def _save(
    out: Path,
    model: Method,
    ckpt: dict[str, Any],
    opt: torch.optim.Optimizer | None,
    loader: SplitLoader,
    epoch: int,
    step: int,
    log_offset: int,
    name: str,
    run: Path,
) -> None:
    """A checkpoint ``osan eval | predict`` read (``best_model``) and ``resume`` continues."""
    weights = model.state_dict()
    save_checkpoint(
        {
            "model": weights,
            "best_model": weights,
            "optimizer": opt.state_dict() if opt is not None else {},
            "epoch": epoch,
            "global_step": step,
            "loader": loader.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "log_offset": log_offset,
            "dims": ckpt["dims"],
            "num_outputs": ckpt["num_outputs"],
            "classes": ckpt.get("classes"),
            "adapt": {"method": name, "from_run": os.fspath(run)},
        },
        out / CHECKPOINT,
    )


def evaluate_target(
    model: Method, cfg: Config, target: Domain, device: torch.device | str
) -> dict[str, Any]:
    """Target TEST metrics at the top level and under ``target`` (evaluation is the only
    reader of target labels); no source metrics: the source is not available."""
    preds = predict_split(model, target.split("test"), "target", device=device)
    t = score_or_note(preds, cfg.task, target.classes, "target test")
    source = {"labelled": False, "note": "source-free adaptation: the source data is not read"}
    return {**t, "target": t, "source": source}
