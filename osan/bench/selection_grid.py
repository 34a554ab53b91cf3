"""The ``selection`` suite's grid: per method, the knob values whose product ``osan select``
chooses from without target labels (the full grid, and a smaller one for ``--quick``)."""

from __future__ import annotations

import itertools

from osan.bench.ablations import DDG_GRID
from osan.bench.run_spec import MAIN_METHODS, METHOD_LABELS, Variant, applies

# --------------------------------------------------------------------------- selection grid

SELECTION = "selection"

#: The ``selection`` suite: per method, knob -> values; the grid is their product. ``ddg`` is
#: a knob of (H, λ) pairs taken from the task's DDG ablation grid (Tables 4 / 9). The oracle
#: is not swept (it selects on target labels). The values bracket each knob's default.
_LRS = (3e-4, 1e-3, 3e-3)
SELECTION_GRID: dict[str, dict[str, tuple]] = {
    "source-only": {"optim.lr": (1e-4, *_LRS)},
    "dan": {"loss.beta": (0.1, 0.3, 1.0), "optim.lr": _LRS},
    "dann": {"loss.alpha": (0.1, 0.3, 1.0), "optim.lr": _LRS},
    "adda": {"optim.lr": (1e-4, *_LRS)},  # ADDA has no loss weight (L_D + L_M)
    "mm-sada": {"loss.alpha": (0.1, 1.0), "optim.lr": _LRS},
    "mdmn": {"loss.alpha": (0.1, 1.0), "optim.lr": _LRS},
    "osan-mixup": {"loss.alpha": (0.1, 1.0), "loss.beta": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "osan": {
        "loss.alpha": (0.1, 1.0),
        "loss.beta": (0.1, 1.0),
        "ddg": (0, -1),  # first and last (H, λ) of DDG_GRID[task]
        "optim.lr": (1e-3, 3e-3),
    },
}
SELECTION_GRID.update(
    {
        "coral": {"baselines.coral_weight": (1.0, 3.0, 10.0), "optim.lr": _LRS},
        "rsd": {"baselines.rsd_tradeoff": (1e-3, 1e-2, 1e-1), "optim.lr": _LRS},
        "dare-gram": {"baselines.dare_alpha": (0.05, 0.1, 0.2), "optim.lr": _LRS},
        "mcc": {"baselines.mcc_weight": (0.3, 1.0, 3.0), "optim.lr": _LRS},
    }
)
SELECTION_GRID["osan-plus"] = SELECTION_GRID["osan"]  # OSAN+ gets OSAN's grid
#: ``--quick``: 3 to 6 settings per method. OSAN ties α = β (``adv``) to keep 4 settings.
QUICK_SELECTION_GRID: dict[str, dict[str, tuple]] = {
    "source-only": {"optim.lr": _LRS},
    "dan": {"loss.beta": (0.1, 1.0), "optim.lr": _LRS},
    "dann": {"loss.alpha": (0.1, 1.0), "optim.lr": _LRS},
    "adda": {"optim.lr": _LRS},
    "mm-sada": {"loss.alpha": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "mdmn": {"loss.alpha": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "osan-mixup": {"loss.alpha": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "osan": {"adv": (0.1, 1.0), "ddg": (0, -1)},
}
QUICK_SELECTION_GRID.update(
    {
        "coral": {"baselines.coral_weight": (1.0, 10.0), "optim.lr": _LRS},
        "rsd": {"baselines.rsd_tradeoff": (1e-3, 1e-2), "optim.lr": _LRS},
        "dare-gram": {"baselines.dare_alpha": (0.05, 0.2), "optim.lr": _LRS},
        "mcc": {"baselines.mcc_weight": (1.0, 3.0), "optim.lr": _LRS},
    }
)
QUICK_SELECTION_GRID["osan-plus"] = QUICK_SELECTION_GRID["osan"]
_KNOB_NAMES = {
    "optim.lr": "lr",
    "loss.alpha": "a",
    "loss.beta": "b",
    "adv": "ab",
    "baselines.coral_weight": "w",
    "baselines.rsd_tradeoff": "l",
    "baselines.dare_alpha": "a",
    "baselines.mcc_weight": "w",
}
_KNOB_LABELS = {
    "optim.lr": "lr",
    "loss.alpha": "α",
    "loss.beta": "β",
    "adv": "α = β",
    "baselines.coral_weight": "w",
    "baselines.rsd_tradeoff": "λ",
    "baselines.dare_alpha": "α",
    "baselines.mcc_weight": "μ",
}


def _knob(knob: str, value, task: str) -> tuple[tuple[str, ...], str, str]:
    """(overrides, id part, label part) of one knob value."""
    if knob == "ddg":
        h, lam = DDG_GRID[task][value]
        return (f"ddg.heads={h}", f"ddg.lam={lam:g}"), f"H{h}-lam{lam:g}", f"H = {h}, λ = {lam:g}"
    if knob == "adv":
        over = (f"loss.alpha={value:g}", f"loss.beta={value:g}")
        return over, f"ab{value:g}", f"α = β = {value:g}"
    return (
        (f"{knob}={value:g}",),
        f"{_KNOB_NAMES[knob]}{value:g}",
        f"{_KNOB_LABELS[knob]} = {value:g}",
    )


def selection_variants(task: str, *, quick: bool = False) -> list[Variant]:
    """Every (method, setting) of the ``selection`` grid, method-major in the paper's row order.

    Run ids read ``selection/<direction>/<method>-<setting>/seed<k>``, e.g.
    ``selection/A2B/dann-a0.1-lr0.001/seed1``.
    """
    grid = QUICK_SELECTION_GRID if quick else SELECTION_GRID
    out: list[Variant] = []
    for method in MAIN_METHODS:
        knobs = grid.get(method)
        if not knobs or not applies(method, task):
            continue
        for combo in itertools.product(*knobs.values()):
            parts = [_knob(k, v, task) for k, v in zip(knobs, combo, strict=True)]
            over = tuple(o for p in parts for o in p[0])
            name = "-".join([method] + [p[1] for p in parts])
            label = f"{METHOD_LABELS[method]} ({', '.join(p[2] for p in parts)})"
            out.append(Variant(name, label, method, over))
    return out


# --------------------------------------------------------------------------- input statistics

INPUT_NORM = "input-norm"
#: The ``input-norm`` suite: every UDA method (and Direct Transfer) with raw features and with
#: per-domain input statistics (``encoder.input_norm``), two settings each, for ``osan select``
#: to choose between without target labels. The oracle is not swept.
INPUT_NORM_VALUES = ("none", "domain")


def input_norm_variants(task: str) -> list[Variant]:
    """Two settings per method, method-major in the paper's row order; run ids read
    ``input-norm/<direction>/<method>-norm-<value>/seed<k>``."""
    return [
        Variant(
            f"{m}-norm-{v}",
            f"{METHOD_LABELS[m]} (input_norm = {v})",
            m,
            (f"encoder.input_norm={v}",),
        )
        for m in MAIN_METHODS
        if m != "oracle" and applies(m, task)
        for v in INPUT_NORM_VALUES
    ]
