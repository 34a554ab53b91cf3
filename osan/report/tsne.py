"""Feature distribution (paper §5.1, Fig. 4/5): t-SNE of the target test features of several
methods side by side, coloured by class (classification) or sentiment bin (regression), with
the source sample drawn faintly behind.

Source and target rows of one method are embedded together (one t-SNE per method), so their
relative position is meaningful within a panel; positions are not comparable across panels.
The colours read target test labels: evaluation only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from osan.report.plotting import PALETTE, TARGET_LABEL_NOTE, new_figure, save_png

#: Regression labels are shown in the three bins of the MOSI convention (Acc-2 "has-0").
SENTIMENT_BINS: tuple[str, ...] = ("negative (< 0)", "neutral (= 0)", "positive (> 0)")


def label_groups(
    labels: np.ndarray, task: str, classes: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Colour group of every label and the group names.

    Shape: labels (N,) -> codes (N,) int64 in [0, len(names))
    """
    y = np.asarray(labels)
    if task == "classification":
        names = list(classes) if classes else [str(k) for k in range(int(y.max()) + 1)]
        return y.astype(np.int64), names
    codes = np.where(y < 0, 0, np.where(y > 0, 2, 1)).astype(np.int64)
    return codes, list(SENTIMENT_BINS)


def subsample(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted fixed-seed rows: ``min(n, k)`` of ``n``."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def tsne_embed(
    source: np.ndarray,
    target: np.ndarray,
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    pca_dims: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE of source and target rows together (PCA to ``pca_dims`` first, as usual).

    Shape: source (N_s, D), target (N_t, D) -> (N_s, 2), (N_t, 2)
    """
    x = np.concatenate([source, target]).astype(np.float64)  # (N_s + N_t, D)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    k = min(pca_dims, x.shape[1], x.shape[0] - 1)
    if k < x.shape[1]:
        x = PCA(n_components=k, random_state=seed).fit_transform(x)  # (N, k)
    perp = float(min(perplexity, max(2.0, (len(x) - 1) / 3.0)))
    xy = TSNE(
        n_components=2, perplexity=perp, init="pca", random_state=seed, learning_rate="auto"
    ).fit_transform(x)  # (N, 2)
    return xy[: len(source)], xy[len(source) :]


@dataclass
class TsnePanel:
    """One method's embedding. Shape: source_xy (N_s, 2), target_xy (N_t, 2), codes (N_t,)."""

    title: str
    source_xy: np.ndarray
    target_xy: np.ndarray
    codes: np.ndarray


def tsne_figure(panels: list[TsnePanel], names: list[str], title: str, path: str | Path) -> Path:
    """Panels side by side (at most 4 per row); one shared legend; the target-label note."""
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = new_figure(3.6 * cols + 0.4, 3.5 * rows + 0.9)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    for ax, panel in zip(axes.flat, panels, strict=False):
        ax.scatter(*panel.source_xy.T, s=6, c="#9a9a9a", alpha=0.25, linewidths=0, zorder=1)
        for k, _ in enumerate(names):
            sel = panel.codes == k
            if sel.any():
                ax.scatter(
                    *panel.target_xy[sel].T,
                    s=9,
                    c=PALETTE[k % len(PALETTE)],
                    alpha=0.85,
                    linewidths=0,
                    zorder=2,
                )
        ax.set_title(panel.title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        axes.flat[0].scatter([], [], s=20, c=PALETTE[k % len(PALETTE)], label=f"target: {n}")
        for k, n in enumerate(names)
    ]
    handles.append(axes.flat[0].scatter([], [], s=20, c="#9a9a9a", label="source sample"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    fig.suptitle(f"{title}\ncolours: {TARGET_LABEL_NOTE}", fontsize=9)
    return save_png(fig, path)
