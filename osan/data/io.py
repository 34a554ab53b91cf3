"""One entry point for every file format users bring, and a readable summary of a domain.

:func:`load_domain` picks the loader by format (or detects it); :func:`describe` is what
``osan data inspect FILE`` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from osan.data.domain import DataError, Domain
from osan.data.label_csv import encode_label_csv
from osan.data.mmsa import (
    SPLIT_ALIASES,
    mmsa_from_object,
    mult_from_object,
    wordaligned_from_object,
)
from osan.data.portable import load_portable, portable_kind
from osan.data.safe_pickle import check_regular_file, safe_load
from osan.types import Task

FORMATS: tuple[str, ...] = (
    "auto", "mmsa", "mult", "wordaligned", "label_csv", "csd", "h5", "npz",
)  # fmt: skip


def load_domain(
    path: str | Path,
    *,
    format: str = "auto",
    task: Task | None = None,
    nan_policy: str = "error",
    default_task: Task | None = None,
    rename_splits: dict[str, str] | None = None,
    **kw: Any,
) -> Domain:
    """Load a domain from ``path``; ``format="auto"`` detects it.

    ``task`` forces the task; ``default_task`` is used only where the file declares none (an
    MMSA/MulT pickle without ``meta``), so a caller can compare the loaded ``domain.task`` with
    what it expects. ``rename_splits`` maps the file's split names to ours before the splits
    are checked (``{"val": "valid"}``; pickles and the pickle-free formats).

    Detection: ``.h5``/``.hdf5``/``.npz`` -> :func:`~osan.data.portable.load_portable` (the
    pickle-free format of ``osan data convert``); ``.csv`` ->
    :func:`~osan.data.label_csv.encode_label_csv`; ``.pkl``/``.pickle``
    -> safe-unpickled once, then a dict whose splits hold ``regression_labels`` /
    ``classification_labels`` (or a top-level ``meta``) is MMSA, one whose splits hold
    ``labels`` is MulT, a list of ``((...), label, id)`` tuples is word-aligned, and an
    unlabelled dict is MMSA. A ``.csd`` holds a single computational sequence and is refused
    with a pointer to :func:`~osan.data.csd.load_csd`. ``**kw`` goes to the loader (e.g.
    ``required``, ``name``, ``split``, ``text_encoder``, ``encoder``, ``cache_dir``).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    check_regular_file(path)  # a FIFO would hang, /dev/zero would never end
    suffix = path.suffix.lower()
    if format == "csd" or (format == "auto" and suffix == ".csd"):
        raise DataError(
            f"{path}: a .csd file holds one computational sequence (one modality or the labels); "
            "build a domain from several with osan.data.csd.load_csd(features={'audio': ..., "
            "'vision': ...}, labels=...)"
        )
    if format in ("h5", "npz") or (format == "auto" and portable_kind(path) is not None):
        if "split" in kw:
            raise _split_not_applicable(path, "a pickle-free .h5/.npz file")
        if rename_splits:
            return _renamed_portable(path, rename_splits, task, nan_policy, kw)
        return load_portable(path, task=task, nan_policy=nan_policy, **kw)
    if format == "label_csv" or (format == "auto" and suffix == ".csv"):
        if task not in (None, "regression"):
            raise DataError(f"{path}: label.csv files hold sentiment regression labels only")
        if rename_splits:
            raise DataError(f"{path}: split renaming applies to pickles, .h5 and .npz files")
        return encode_label_csv(path, **kw)
    common = {"nan_policy": nan_policy, **kw}
    if format in ("mmsa", "mult", "wordaligned") or rename_splits or default_task:
        if format == "auto" and suffix not in (".pkl", ".pickle", ".pk"):
            raise _unknown_suffix(path, suffix)
        obj = safe_load(path)
        kind = detect_pickle_format(obj, str(path)) if format == "auto" else format
        if rename_splits:
            obj = _rename_top(obj, rename_splits, str(path))
        if task is None and isinstance(obj, dict):
            meta = obj.get("meta")
            declared = meta.get("task") if isinstance(meta, dict) else None
            task = declared or default_task
        return _from_object(obj, kind, str(path), task, common)
    if suffix not in (".pkl", ".pickle", ".pk"):
        raise _unknown_suffix(path, suffix)
    obj = safe_load(path)
    return _from_object(obj, detect_pickle_format(obj, str(path)), str(path), task, common)


def _split_not_applicable(source: object, kind: str) -> DataError:
    return DataError(
        f"{source}: --split (split=) names the one split of a word-aligned pickle; this file "
        f"is {kind} and holds its own splits"
    )


def _unknown_suffix(path: Path, suffix: str) -> DataError:
    """A hint that the CLI user can follow (``osan data inspect`` and ``train`` take the
    format from the suffix; ``osan data convert`` and Python take it explicitly)."""
    return DataError(
        f"{path}: cannot tell the format from the suffix '{suffix}'; name it .pkl, .csv, .h5 "
        f"or .npz, or convert it with osan data convert {path.name} --format F --out "
        f"OUT.h5 (F one of {', '.join(FORMATS[1:])}; from Python: load_domain(path, format=F))"
    )


def _from_object(obj: object, kind: str, source: str, task: Task | None, common: dict) -> Domain:
    if kind != "wordaligned" and "split" in common:
        raise _split_not_applicable(source, kind)
    if kind == "mmsa":
        return mmsa_from_object(obj, source, task=task, **common)
    if kind == "mult":
        return mult_from_object(obj, source, task=task, **common)
    return wordaligned_from_object(obj, source, task=task or "regression", **common)


def _rename_top(obj: object, rename: dict[str, str], source: str) -> object:
    """The split dicts of a pickle under our split names (``{"val": "valid"}``)."""
    if not isinstance(obj, dict):
        raise DataError(f"{source}: split renaming needs a dict of splits")
    missing = sorted(k for k in rename if k not in obj)
    if missing:
        raise DataError(
            f"{source}: no split(s) {missing} to rename (keys: {sorted(map(str, obj))})"
        )
    out = {k: v for k, v in obj.items() if k not in rename}
    for theirs, ours in rename.items():
        if ours in out:
            raise DataError(f"{source}: renaming {theirs!r} to {ours!r} collides with a split")
        out[ours] = obj[theirs]
    return out


def _renamed_portable(
    path: Path, rename: dict[str, str], task: Task | None, nan_policy: str, kw: dict
) -> Domain:
    from osan.data.domain import finalize
    from osan.types import SPLITS

    required = kw.pop("required", SPLITS)
    domain = load_portable(path, task=task, nan_policy=nan_policy, required=(), **kw)
    missing = sorted(k for k in rename if k not in domain.splits)
    if missing:
        raise DataError(f"{path}: no split(s) {missing} to rename (has {sorted(domain.splits)})")
    domain.splits = {rename.get(k, k): v for k, v in domain.splits.items()}
    return finalize(domain, str(path), nan_policy="error", required=required)


def detect_pickle_format(obj: object, source: str = "<object>") -> str:
    """``"mmsa"``, ``"mult"`` or ``"wordaligned"`` for an unpickled object (see
    :func:`load_domain`); :class:`DataError` when it is none of them."""
    if isinstance(obj, dict):
        if "meta" in obj:
            return "mmsa"
        splits = [v for k, v in obj.items() if k in SPLIT_ALIASES and isinstance(v, dict)]
        if not splits:
            raise DataError(
                f"{source}: a dict without 'train'/'valid'/'test' splits is no known layout "
                f"(keys: {sorted(map(str, obj))[:8]})"
            )
        if any("regression_labels" in d or "classification_labels" in d for d in splits):
            return "mmsa"
        if any("labels" in d for d in splits):
            return "mult"
        return "mmsa"
    if isinstance(obj, list) and obj:
        first = obj[0]
        if isinstance(first, (tuple, list)) and len(first) == 3:
            if isinstance(first[0], (tuple, list)):
                return "wordaligned"
    raise DataError(
        f"{source}: unrecognised pickle layout (top level is {type(obj).__name__}); expected an "
        "MMSA/MulT dict of splits or a word-aligned list of samples"
    )


def describe(domain: Domain) -> str:
    """A multi-line human-readable summary: splits, sizes, modalities (dim, length stats),
    labels (regression: mean/sd/min/max; classification: counts per class)."""
    dims = domain.dims() if domain.splits else {}
    mods = ", ".join(f"{m} {d}" for m, d in dims.items())
    lines = [f"domain '{domain.name}': {domain.task}, {len(domain.splits)} split(s)"]
    if domain.classes is not None:
        lines.append(f"  classes: {', '.join(domain.classes)}")
    lines.append(f"  modalities (feature dim): {mods or 'none'}")
    shown = ("source", "format", "encoder", "nan_replaced", "empty_segments", "unassigned_videos")
    for key in (*shown, "inferred_lengths"):
        if key in domain.meta:
            lines.append(f"  {key}: {domain.meta[key]}")
    for s, sp in domain.splits.items():
        state = "labelled" if sp.labels is not None else "unlabelled"
        lines.append(f"  {s}: {len(sp)} samples, {state}")
        width = max(len(m) for m in sp.modalities) if sp.modalities else 0
        for m, x in sp.features.items():
            n = sp.lengths[m]
            lines.append(
                f"    {m:<{width}}  padded L {x.shape[1]:>4}  length min {int(n.min())} "
                f"mean {float(n.mean()):.1f} max {int(n.max())}"
            )
        if sp.labels is None or len(sp) == 0:
            continue
        y = sp.labels
        if domain.task == "regression":
            lines.append(
                f"    labels  mean {float(y.mean()):.3f} sd {float(y.std()):.3f} "
                f"min {float(y.min()):.3f} max {float(y.max()):.3f}"
            )
        else:
            names = domain.classes or [str(k) for k in range(int(y.max()) + 1)]
            counts = np.bincount(y, minlength=len(names))
            lines.append(
                "    labels  "
                + ", ".join(f"{c}: {int(k)}" for c, k in zip(names, counts, strict=True))
            )
    return "\n".join(lines)
