"""Learning curves (paper Fig. 2): target metric per iteration of one-stage OSAN against
two-stage baselines, read from the runs' ``log.jsonl``.

The points are the ``target_curve`` records that a run writes when trained with
``curve_every=k`` (``osan.train.trainer.fit``): DIAGNOSTICS that read target test labels, logged
only, never used by training or model selection. The figure says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osan.report.plotting import PALETTE, TARGET_LABEL_NOTE, new_figure, save_png

CURVE_EVENT = "target_curve"

#: The metrics drawn per task: (key, axis title).
CURVE_METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "regression": (("mae", "MAE ↓"), ("corr", "Corr"), ("acc2_non0", "Acc-2 (non-0)")),
    "classification": (("f1", "macro-F1"), ("accuracy", "Accuracy")),
}


def read_log(path: str | Path) -> list[dict]:
    """The records of a run's ``log.jsonl`` (a torn last line is ignored)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


@dataclass
class Curve:
    """One run's curve. Shape: steps (n,), values[metric] (n,).

    ``phase_starts``: the first step of every phase after the first (two-stage methods).
    """

    label: str
    seed: int
    steps: np.ndarray
    values: dict[str, np.ndarray]
    phase_starts: list[tuple[str, int]]


def read_curve(log_path: str | Path, label: str, seed: int) -> Curve | None:
    """The ``target_curve`` points of a run's log, or ``None`` if it has none."""
    records = read_log(log_path)
    points = [r for r in records if r.get("event") == CURVE_EVENT]
    if not points:
        return None
    keys = {k for r in points for k, v in r.items() if isinstance(v, float)}
    values = {k: np.array([r.get(k, np.nan) for r in points], dtype=float) for k in keys}
    starts: list[tuple[str, int]] = []
    epochs = [r for r in records if r.get("event") == "epoch" and "phase" in r]
    for before, after in zip(epochs, epochs[1:], strict=False):
        if after["phase"] != before["phase"]:  # the new phase starts after `before`'s last step
            starts.append((after["phase"], int(before["step"])))
    return Curve(label, seed, np.array([r["step"] for r in points]), values, starts)


def curves_figure(
    curves: list[Curve],
    task: str,
    title: str,
    path: str | Path,
    colours: dict[str, str] | None = None,
) -> Path:
    """One panel per metric; one colour per method (``colours`` by curve label; its seeds as
    separate lines); a dotted vertical line where a two-stage method's second phase starts."""
    metrics = CURVE_METRICS[task]
    fig = new_figure(4.4 * len(metrics), 3.6)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    labels = list(dict.fromkeys(c.label for c in curves))
    colour = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(labels)}
    colour.update(colours or {})
    for ax, (key, name) in zip(axes, metrics, strict=True):
        seen: set[str] = set()
        for c in curves:
            if key not in c.values:
                continue
            scale = 100.0 if key not in ("mae", "corr") else 1.0
            ax.plot(
                c.steps,
                c.values[key] * scale,
                color=colour[c.label],
                lw=1.4,
                alpha=0.9 if c.label not in seen else 0.45,
                label=c.label if c.label not in seen else None,
            )
            seen.add(c.label)
            for phase, step in c.phase_starts:
                ax.axvline(step, color=colour[c.label], ls=":", lw=1)
                ax.annotate(
                    f"{phase}",
                    (step, 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    color=colour[c.label],
                    ha="left",
                    va="top",
                )
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"target test {name}" + (" (%)" if key not in ("mae", "corr") else ""))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}\n{TARGET_LABEL_NOTE}", fontsize=9)
    return save_png(fig, path)
