"""``pool.png``: per-draw paired differences of every method against the baseline.

One panel per task and main metric (msa A→B MAE, msa A→B Corr, …, vtc macro-F1); in each, a
column per method (the oracle left out: its gap would flatten every other column; its mean is
in the panel's title), a dot per data draw (the method's mean over training seeds minus the
baseline's on that draw, oriented so that + = better than the baseline), the mean over draws
as a black bar, and the zero line (the baseline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from osan.bench.pool import ORACLE, DataCell, paired_differences
from osan.bench.pool_labels import metric_title, scale, short_label
from osan.report.plotting import colour_of, new_figure, save_png

#: Panels side by side before the next row starts.
_COLUMNS_PER_ROW = 2


def pool_figure(cells: list[DataCell], baseline: str) -> Figure:
    """The figure (one axes per task and main metric, in first-seen task order)."""
    diffs = paired_differences(cells, baseline)
    panels = [
        (task, metric)
        for task, per_variant in diffs.items()
        for metric in next(iter(per_variant.values()), {})
    ]
    names = list(dict.fromkeys(v for per in diffs.values() for v in per if v != ORACLE))
    cols = min(_COLUMNS_PER_ROW, max(len(panels), 1))
    rows = max(1, -(-len(panels) // cols))
    width = max(4.5, 0.5 * len(names) + 1.5)
    fig = new_figure(width * cols, 3.2 * rows)
    base = short_label(baseline)
    rng = np.random.default_rng(0)  # jitter only: the same figure for the same data
    for i, ((bench, direction), metric) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        per_variant = diffs[(bench, direction)]
        shown = [v for v in names if v in per_variant and per_variant[v][metric]]
        for x, variant in enumerate(shown):
            ys = scale(metric) * np.asarray(per_variant[variant][metric], dtype=float)
            jitter = rng.uniform(-0.15, 0.15, ys.size)
            ax.scatter(x + jitter, ys, s=14, alpha=0.75, color=colour_of(variant, names))
            ax.plot([x - 0.3, x + 0.3], [ys.mean()] * 2, color="black", linewidth=2)
        ax.axhline(0.0, color="#555555", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([short_label(v) for v in shown], rotation=35, ha="right", fontsize=7)
        title = f"{bench} {direction}: {metric_title(metric)}"
        oracle = per_variant.get(ORACLE, {}).get(metric)
        if oracle:
            title += f"\noracle {scale(metric) * float(np.mean(oracle)):+.3g} (not drawn)"
        ax.set_title(title, fontsize=8)
        ax.set_ylabel(f"minus {base}", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(
        f"Target test, each method minus {base} per data draw\n"
        "(+ = better; dot: one draw; bar: the mean over draws)",
        fontsize=9,
    )
    return fig


def write_pool_figure(cells: list[DataCell], baseline: str, path: Path) -> Path:
    """Write :func:`pool_figure` as a PNG atomically; returns the path."""
    return save_png(pool_figure(cells, baseline), path)
