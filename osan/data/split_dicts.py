"""The split-dict layout shared by MMSA and MulT-style pickles (one dict of fields per split,
``dev`` accepted for ``valid``, an optional ``meta`` dict) read into a
:class:`~osan.data.domain.Domain`: splits, modalities, lengths, labels, ids and classes.
The layout itself is described in ``osan/data/mmsa.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osan.data.domain import DataError, Domain, Split, data_error, finalize
from osan.data.padding import infer_lengths
from osan.data.pickle_fields import float_field, int_field, label_field, string_field
from osan.types import DEFAULT_MODALITIES, SPLITS, Task

SPLIT_ALIASES: dict[str, str] = {"train": "train", "valid": "valid", "dev": "valid", "test": "test"}
TASKS: tuple[str, ...] = ("regression", "classification")
MMSA_LABEL_KEYS = {"regression": "regression_labels", "classification": "classification_labels"}
RESERVED_KEYS = {"id", "raw_text", "meta", "labels", *MMSA_LABEL_KEYS.values()}


def from_split_dicts(
    obj: object,
    source: str,
    fmt: str,
    *,
    task: Task | None,
    nan_policy: str,
    required: tuple[str, ...],
    name: str | None,
) -> Domain:
    if not isinstance(obj, dict):
        raise DataError(
            f"{source}: expected a dict of splits ('train', 'valid', 'test'), got "
            f"{type(obj).__name__}"
        )
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise data_error(source, None, "meta", f"expected a dict, got {type(meta).__name__}")
    task = task or meta.get("task") or "regression"
    check_task(task, source)
    if not isinstance(meta.get("name", ""), (str, type(None))):
        raise data_error(source, None, "meta", "'name' must be a string")
    raw: dict[str, dict] = {}
    for key, value in obj.items():
        s = SPLIT_ALIASES.get(key) if isinstance(key, str) else None
        if s is None:
            continue
        if s in raw:
            raise DataError(f"{source}: has both 'dev' and 'valid' splits; keep one")
        if not isinstance(value, dict):
            raise data_error(
                source, s, None, f"expected a dict of fields, got {type(value).__name__}"
            )
        raw[s] = value
    if not raw:
        raise DataError(
            f"{source}: no split found (expected keys 'train', 'valid'/'dev', 'test'; got "
            f"{sorted(map(str, obj))[:8]})"
        )
    for s in required:
        if s not in raw:
            raise data_error(source, s, None, f"missing split (have {sorted(raw)})")
    listed = meta.get("modalities")
    if listed is not None and (
        not isinstance(listed, (list, tuple)) or not all(isinstance(m, str) for m in listed)
    ):
        raise data_error(source, None, "meta", "'modalities' must be a list of names")
    modalities = list(listed or _find_modalities(raw))
    splits = {}
    inferred: dict[str, str] = {}
    for s in (s for s in SPLITS if s in raw):
        splits[s] = _read_split(raw[s], source, s, fmt, modalities, task, inferred)
    if "classes" in meta:
        listed_classes = meta["classes"]
        if listed_classes is not None and (
            not isinstance(listed_classes, (list, tuple))
            or not all(isinstance(c, (str, int)) for c in listed_classes)
        ):
            raise data_error(source, None, "meta", "'classes' must be a list of class names")
        classes = None if listed_classes is None else [str(c) for c in listed_classes]
    else:
        classes = infer_classes(splits) if task == "classification" else None
    domain = Domain(
        name=name or meta.get("name") or Path(source).stem,
        splits=splits,
        task=task,
        classes=classes,
        meta={"source": source, "format": fmt},
    )
    if inferred:
        domain.meta["inferred_lengths"] = inferred
    return finalize(domain, source, nan_policy=nan_policy, required=required)


def _find_modalities(raw: dict[str, dict]) -> list[str]:
    found: list[str] = []
    for m in DEFAULT_MODALITIES:
        if any(m in d for d in raw.values()):
            found.append(m)
    for d in raw.values():
        for k, v in d.items():
            if (
                isinstance(k, str)
                and k not in found
                and k not in RESERVED_KEYS
                and f"{k}_lengths" in d
                and isinstance(v, np.ndarray)
                and v.ndim == 3
            ):
                found.append(k)
    return found


def _read_split(
    d: dict,
    source: str,
    split: str,
    fmt: str,
    modalities: list[str],
    task: Task,
    inferred: dict[str, str],
) -> Split:
    features: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray] = {}
    n: int | None = None
    first = ""
    for m in modalities:
        if m not in d:
            raise data_error(source, split, m, "missing modality (other splits have it)")
        x = float_field(d[m], source, split, m)
        if x.ndim != 3:
            raise data_error(source, split, m, f"expected 3 dims (N, L, I), got shape {x.shape}")
        if x.shape[1] == 0 or x.shape[2] == 0:
            raise data_error(source, split, m, f"empty feature axis, shape {tuple(x.shape)}")
        if n is None:
            n, first = x.shape[0], m
        elif x.shape[0] != n:
            raise data_error(source, split, m, f"has {x.shape[0]} rows but '{first}' has {n}")
        key = f"{m}_lengths"
        if key in d:
            lengths[m] = int_field(d[key], n, source, split, key)
        elif m == "text" and fmt == "mmsa" and _bert_mask(d, x) is not None:
            lengths[m] = np.maximum(_bert_mask(d, x).sum(axis=1), 1).astype(np.int64)
            inferred[f"{split}/{m}"] = "text_bert attention mask"
        else:
            x, lengths[m], side = infer_lengths(x)
            inferred[f"{split}/{m}"] = f"zero padding ({side})"
        features[m] = x
    if n is None:
        raise data_error(source, split, None, "no modality features (text, audio, vision, ...)")
    label_key = "labels" if fmt == "mult" else MMSA_LABEL_KEYS[task]
    labels = None
    if label_key in d:
        labels = label_field(d[label_key], n, task, source, split, label_key)
    elif fmt == "mmsa":
        other = MMSA_LABEL_KEYS["classification" if task == "regression" else "regression"]
        if other in d:
            held = "classification" if task == "regression" else "regression"
            raise data_error(
                source,
                split,
                label_key,
                f"missing, but '{other}' is present: the file holds {held} labels "
                f"(--task {held}, or task='{held}' from Python)",
            )
    if "id" in d:
        ids = string_field(d["id"], n, source, split, "id")
    else:
        ids = [f"{split}[{i}]" for i in range(n)]
    raw_text = (
        string_field(d["raw_text"], n, source, split, "raw_text") if "raw_text" in d else None
    )
    return Split(features=features, lengths=lengths, labels=labels, ids=ids, raw_text=raw_text)


def _bert_mask(d: dict, text: np.ndarray) -> np.ndarray | None:
    """MMSA's ``text_bert`` (N, 3, L): input ids, attention mask, segment ids."""
    tb = d.get("text_bert")
    if isinstance(tb, np.ndarray) and tb.ndim == 3 and tb.shape[0] == text.shape[0]:
        if tb.shape[1] == 3 and tb.shape[2] == text.shape[1]:
            return np.asarray(tb[:, 1, :]) != 0
    return None


def infer_classes(splits: dict[str, Split]) -> list[str] | None:
    ys = [sp.labels for sp in splits.values() if sp.labels is not None and len(sp.labels)]
    if not ys:
        return None
    k = max(int(y.max()) for y in ys) + 1
    return [str(i) for i in range(max(k, 1))]


def check_task(task: str, source: str) -> None:
    if task not in TASKS:
        raise DataError(f"{source}: task must be one of {TASKS}, got {task!r}")
