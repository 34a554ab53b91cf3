"""The runs of the ``test-time`` suite: a row whose config has an ``adapt`` section is Direct
Transfer's run of the same seed and direction (trained first if it is not there yet) adapted by
``osan.testtime.adapt.adapt`` — given the target only, never the source.

Run folders: ``DIR/runs/test-time/<bench>/<direction>/source-only/seed<k>`` (the trained run)
and ``.../<method>/seed<k>`` (each adaptation of it). With ``--executor ray`` two adaptations of
one seed may both find its Direct Transfer run missing: the second stops on the folder's lock
and is reported failed; running the suite again adapts it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from osan.config import AdaptConfig, Config, load_config
from osan.data.domain import Domain
from osan.train.run_folder import CHECKPOINT, CONFIG, METRICS


def fit_or_adapt(
    cfg: Config,
    source: Domain,
    target: Domain,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """``fit`` for a trained row; for a test-time row, Direct Transfer's run (reused when
    finished with the same settings) adapted to ``target`` into ``run_dir``."""
    from osan.train.trainer import fit

    if cfg.adapt.method == "none":
        return fit(cfg, source, target, run_dir, resume=resume, progress=progress)
    from osan.testtime.adapt import adapt

    run_dir = Path(run_dir)
    base_cfg = dataclasses.replace(cfg, adapt=AdaptConfig())
    base = run_dir.parent.parent / base_cfg.method / run_dir.name
    if not _finished(base, base_cfg):
        again = (base / CHECKPOINT).exists() and _same(base, base_cfg)
        fit(base_cfg, source, target, base, resume=again, progress=progress)
    values = {f.name: getattr(cfg.adapt, f.name) for f in dataclasses.fields(cfg.adapt)}
    overrides = [
        f"adapt.{k}={'none' if v is None else v}" for k, v in values.items() if k != "method"
    ]
    overrides += [f"device={cfg.device}"]
    if cfg.num_threads:
        overrides.append(f"num_threads={cfg.num_threads}")
    return adapt(
        base, target, run_dir, method=cfg.adapt.method, overrides=overrides, resume=resume,
        progress=progress,
    )  # fmt: skip


def _same(run: Path, cfg: Config) -> bool:
    """The run folder's config is ``cfg`` up to where it ran (device, threads) and its
    ``adapt`` section (which training does not read: ``adapt.*`` overrides of the suite reach
    the Direct Transfer row's config too)."""

    def settings(c: Config) -> dict[str, Any]:
        skip = ("device", "num_threads", "adapt")
        return {k: v for k, v in c.to_dict().items() if k not in skip}

    try:
        return settings(load_config(run / CONFIG, saved=True)) == settings(cfg)
    except (ValueError, OSError):
        return False


def _finished(run: Path, cfg: Config) -> bool:
    return (run / METRICS).is_file() and (run / CHECKPOINT).is_file() and _same(run, cfg)
