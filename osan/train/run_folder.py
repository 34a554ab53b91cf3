"""A run folder as :func:`osan.train.trainer.fit` writes it: its file names, the test metrics it
records (:func:`evaluate_run`, the only reader of target labels) and the trained method rebuilt
from it (:func:`load_run`, for ``osan eval | predict | select``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from osan.config import Config
from osan.data.domain import Domain
from osan.eval.evaluate import predict_split, score_or_note
from osan.methods import Method, build_method
from osan.train.checkpoint import load_checkpoint, load_state

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
METRICS = "metrics.json"
CONFIG = "config.yaml"


def evaluate_run(
    method: Method, cfg: Config, source: Domain, target: Domain, device: torch.device | str
) -> dict[str, Any]:
    """Target TEST metrics at the top level (and under ``target``), source test under ``source``.

    Evaluation is the only reader of target labels.
    """
    tgt = predict_split(method, target.split("test"), "target", device=device)
    src = predict_split(method, source.split("test"), "source", device=device)
    t_metrics = score_or_note(tgt, cfg.task, target.classes, "target test")
    s_metrics = score_or_note(src, cfg.task, source.classes, "source test")
    return {**t_metrics, "target": t_metrics, "source": s_metrics}


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[Config, Method, Any]:
    """Rebuild a trained method from ``RUN/config.yaml`` and ``RUN/checkpoint.pt``.

    Returns ``(config, method with the selected weights, class names or None)``.
    """
    from osan.config import load_config

    run = Path(run_dir)
    if not (run / CONFIG).exists():
        raise FileNotFoundError(f"{run}: not a run folder (no {CONFIG})")
    cfg = load_config(run / CONFIG, saved=True)
    ckpt = load_checkpoint(run / CHECKPOINT, map_location=device)
    method = build_method(cfg, ckpt["dims"], ckpt["num_outputs"]).to(device)
    load_state(method, ckpt["best_model"], run / CHECKPOINT)
    method.eval()
    return cfg, method, ckpt.get("classes")
