"""Pickled sentiment datasets: MMSA (``aligned_50.pkl`` / ``unaligned_50.pkl``), MulT-style and
MISA/MMIM word-aligned pickles, plus :func:`save_mmsa`, our writer of the MMSA layout.

Every file is read through :func:`~osan.data.safe_pickle.safe_load` (numpy arrays and builtin
containers only) and checked so that bad input fails with a one-line
:class:`~osan.data.domain.DataError` naming the file, split and field.

MMSA layout (one dict per split; ``dev`` is accepted for ``valid``)::

    {'train': {'text': (N, L, 768), 'audio': (N, La, da), 'vision': (N, Lv, dv),
               'audio_lengths': (N,), 'vision_lengths': (N,), ['text_lengths': (N,)],
               'regression_labels': (N,), ['classification_labels': (N,)],
               'raw_text': N strings, 'id': N strings, ...},
     'valid': {...}, 'test': {...},
     ['meta': {'task', 'classes', 'name', 'modalities'}]}      # our extension

Extra modalities: any key holding a 3-D array with a ``<key>_lengths`` companion, or any name
listed in ``meta['modalities']``. Keys that are not modalities (``text_bert``, ``annotations``,
...) are ignored.

Missing lengths are inferred from the zero padding (see :func:`infer_lengths`); for MMSA's
``text`` the BERT attention mask in ``text_bert`` is used when present, as MMSA itself does.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from osan.atomic import atomic_write_bytes
from osan.data.domain import DataError, Domain, Split, data_error, finalize, pad_sequences
from osan.data.safe_pickle import safe_load
from osan.types import DEFAULT_MODALITIES, SPLITS, Task

SPLIT_ALIASES: dict[str, str] = {"train": "train", "valid": "valid", "dev": "valid", "test": "test"}
TASKS: tuple[str, ...] = ("regression", "classification")
_MMSA_LABEL_KEYS = {"regression": "regression_labels", "classification": "classification_labels"}
_RESERVED = {"id", "raw_text", "meta", "labels", *_MMSA_LABEL_KEYS.values()}

TextEncoder = Callable[[list[str]], np.ndarray]
Padding = Literal["auto", "right", "left"]


# --------------------------------------------------------------------------- public loaders


def load_mmsa(
    path: str | Path,
    *,
    task: Task | None = None,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """Load an MMSA pickle (``aligned_50.pkl`` / ``unaligned_50.pkl``, or one we saved).

    ``task=None`` takes the task from the file's ``meta`` (default ``"regression"``): labels come
    from ``regression_labels``, or ``classification_labels`` for classification. A split without
    either key is unlabelled (``labels=None``). ``required`` lists the splits that must exist.
    ``nan_policy="zero"`` replaces NaN/Inf features by 0 (count in ``meta["nan_replaced"]``);
    the default refuses them.

    Shape:
        returns features[m]: (N, L_m, I_m) float32, lengths[m]: (N,) int64, labels: (N,)
    """
    return mmsa_from_object(
        safe_load(path),
        str(path),
        task=task,
        nan_policy=nan_policy,
        required=required,
        name=name,
    )


def load_mult(
    path: str | Path,
    *,
    task: Task | None = None,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """Load a MulT-style pickle: MMSA-like split dicts with ``labels`` of shape (N, 1, 1) or
    (N, 1), no lengths (inferred, see :func:`infer_lengths`) and ``id`` of shape (N,) or
    (N, k) (rows of k parts are joined with ``"_"``).

    Shape:
        returns features[m]: (N, L_m, I_m) float32, lengths[m]: (N,) int64, labels: (N,)
    """
    return mult_from_object(
        safe_load(path),
        str(path),
        task=task,
        nan_policy=nan_policy,
        required=required,
        name=name,
    )


def load_wordaligned(
    path: str | Path,
    *,
    split: str = "train",
    task: Task = "regression",
    text_encoder: TextEncoder | None = None,
    nan_policy: str = "error",
    name: str | None = None,
) -> Domain:
    """Load a MISA / MMIM word-aligned pickle: ONE split, a list of
    ``((word_ids (L,), facet (L, 47), covarep (L, 74), words [L]), label (1, 1), segment_id)``.

    The file is one split (``train.pkl``, ``dev.pkl``, ...); name it with ``split`` (``dev`` is
    read as ``valid``). Modalities:
    ``vision`` (FACET) and ``audio`` (COVAREP), zero-padded to the longest sample with true
    lengths. The layout has no text *features*, only vocabulary ids of a vocabulary that is not
    in the file, so ids are not exposed as a feature: ``raw_text`` is ``" ".join(words)``, and a
    ``text`` modality exists only when ``text_encoder`` (``list[str] -> (N, D)`` array, e.g.
    :func:`osan.data.label_csv.load_text_encoder`) is given; it becomes a length-1 sequence.

    Shape:
        returns features["vision"]: (N, L, 47), features["audio"]: (N, L, 74),
        features["text"]: (N, 1, D) if encoded, labels: (N,)
    """
    return wordaligned_from_object(
        safe_load(path),
        str(path),
        split=split,
        task=task,
        text_encoder=text_encoder,
        nan_policy=nan_policy,
        name=name,
    )


def save_mmsa(domain: Domain, path: str | Path) -> None:
    """Write ``domain`` in the MMSA layout, atomically (temp file + ``os.replace``).

    Every modality gets explicit ``<m>_lengths``; labels go to ``regression_labels`` or
    ``classification_labels`` (omitted for unlabelled splits); ``meta`` holds task, classes,
    name and the modality names. :func:`load_mmsa` reads it back exactly (pass ``required`` if
    the domain lacks some of train/valid/test).
    """
    domain.validate(required=())
    for s in domain.splits:
        if s not in SPLITS:
            raise ValueError(f"the MMSA layout holds only splits {SPLITS}, not {s!r}")
    for m in domain.modalities:
        if m in _RESERVED or m.endswith("_lengths"):
            raise ValueError(f"modality name {m!r} collides with an MMSA field name")
    obj: dict[str, Any] = {
        "meta": {
            "task": domain.task,
            "classes": None if domain.classes is None else [str(c) for c in domain.classes],
            "name": domain.name,
            "modalities": list(domain.modalities),
            "format": "osan-mmsa",
            "version": 1,
        }
    }
    for s, sp in domain.splits.items():
        d: dict[str, Any] = {}
        for m, x in sp.features.items():
            d[m] = np.ascontiguousarray(x, dtype=np.float32)
            d[f"{m}_lengths"] = np.ascontiguousarray(sp.lengths[m], dtype=np.int64)
        if sp.labels is not None:
            dtype = np.float32 if domain.task == "regression" else np.int64
            d[_MMSA_LABEL_KEYS[domain.task]] = np.ascontiguousarray(sp.labels, dtype=dtype)
        d["id"] = _object_array(sp.ids)
        if sp.raw_text is not None:
            d["raw_text"] = _object_array(sp.raw_text)
        obj[s] = d
    atomic_pickle(obj, Path(path))


# --------------------------------------------------------------------------- from objects


def mmsa_from_object(
    obj: object,
    source: str,
    *,
    task: Task | None = None,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """:func:`load_mmsa` on an already unpickled object; ``source`` names it in errors."""
    return _from_split_dicts(
        obj, source, "mmsa", task=task, nan_policy=nan_policy, required=required, name=name
    )


def mult_from_object(
    obj: object,
    source: str,
    *,
    task: Task | None = None,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """:func:`load_mult` on an already unpickled object; ``source`` names it in errors."""
    return _from_split_dicts(
        obj, source, "mult", task=task, nan_policy=nan_policy, required=required, name=name
    )


def wordaligned_from_object(
    obj: object,
    source: str,
    *,
    split: str = "train",
    task: Task = "regression",
    text_encoder: TextEncoder | None = None,
    nan_policy: str = "error",
    name: str | None = None,
) -> Domain:
    """:func:`load_wordaligned` on an already unpickled object; ``source`` names it in errors."""
    _check_task(task, source)
    split = SPLIT_ALIASES.get(split, split)
    if not isinstance(obj, list):
        raise DataError(
            f"{source}: expected a list of ((word_ids, facet, covarep, words), label, "
            f"segment_id) samples, got {type(obj).__name__}"
        )
    if not obj:
        raise data_error(source, split, None, "split is empty (0 samples)")
    seqs: dict[str, list[np.ndarray]] = {"vision": [], "audio": []}
    labels, ids, raw_text = [], [], []
    for i, sample in enumerate(obj):
        where = f"sample {i}"
        if not (
            isinstance(sample, (tuple, list))
            and len(sample) == 3
            and isinstance(sample[0], (tuple, list))
            and len(sample[0]) == 4
        ):
            raise data_error(
                source,
                split,
                where,
                "expected ((word_ids, facet, covarep, words), label, segment_id), got "
                + _describe_value(sample),
            )
        (_word_ids, facet, covarep, words), label, segment = sample
        for m, value in (("vision", facet), ("audio", covarep)):
            x = _float_array(value, source, split, f"{where} {m}")
            if x.ndim != 2:
                raise data_error(
                    source, split, f"{where} {m}", f"expected 2 dims (L, I), got {x.shape}"
                )
            if seqs[m] and x.shape[1] != seqs[m][0].shape[1]:
                raise data_error(
                    source,
                    split,
                    f"{where} {m}",
                    f"feature dim {x.shape[1]} differs from {seqs[m][0].shape[1]} of sample 0",
                )
            seqs[m].append(x)
        y = np.asarray(label)
        if y.size != 1:
            raise data_error(source, split, f"{where} label", f"expected 1 value, got {y.shape}")
        labels.append(y.reshape(()))
        try:
            ids.append(_to_str(segment))
            raw_text.append(" ".join(_to_str(w) for w in _items(words)))
        except _NotAString as e:
            raise data_error(
                source, split, f"{where} id/words", f"expected strings, got a {e}"
            ) from None
    features, lengths = {}, {}
    for m, xs in seqs.items():
        features[m], lengths[m] = pad_sequences(xs, dim=xs[0].shape[1])
    if text_encoder is not None:
        emb = _encode(text_encoder, raw_text, source, split)
        features["text"] = emb[:, None, :]  # (N, 1, D)
        lengths["text"] = np.ones(len(raw_text), dtype=np.int64)
    y = _labels(np.stack(labels), len(ids), task, source, split, "label")
    sp = Split(features=features, lengths=lengths, labels=y, ids=ids, raw_text=raw_text)
    domain = Domain(
        name=name or Path(source).stem,
        splits={split: sp},
        task=task,
        classes=_infer_classes({split: sp}) if task == "classification" else None,
        meta={"source": source, "format": "wordaligned"},
    )
    return finalize(domain, source, nan_policy=nan_policy, required=(split,))


# --------------------------------------------------------------------------- helpers


def infer_lengths(x: np.ndarray, padding: Padding = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """True lengths of zero-padded sequences, and the sequences padded on the right.

    A row (time step) is padding when all its features are exactly 0. Right padding: length =
    index of the last non-zero row + 1. Left padding (the CMU-MultimodalSDK's default, found in
    MulT-style files): length = L - index of the first non-zero row, and the rows are moved to
    the front so that every array follows our right-padded convention. ``padding="auto"``
    picks the side by majority vote of samples whose first (resp. last) row alone is zero,
    right on a tie. An all-zero sample gets length 1.

    Shape:
        x: (N, L, I) -> x: (N, L, I) right-padded, lengths: (N,) int64, side: "right" | "left"
    """
    n, L = x.shape[0], x.shape[1]
    nonzero = np.zeros((n, L), dtype=bool)
    for a in range(0, n, 1024):  # bounded temporaries for large (N, L, 768) arrays
        nonzero[a : a + 1024] = np.any(x[a : a + 1024] != 0, axis=2)  # (B, L)
    has = nonzero.any(axis=1)
    side = padding
    if padding == "auto":
        left_votes = int(np.sum(~nonzero[:, 0] & nonzero[:, -1]))
        right_votes = int(np.sum(nonzero[:, 0] & ~nonzero[:, -1]))
        side = "left" if left_votes > right_votes else "right"
    if side == "right":
        last = L - np.argmax(nonzero[:, ::-1], axis=1)  # (N,) index of last non-zero + 1
        return x, np.where(has, last, 1).astype(np.int64), side
    first = np.argmax(nonzero, axis=1)  # (N,)
    lengths = np.where(has, L - first, 1).astype(np.int64)
    shift = L - lengths  # (N,) rows of left padding
    src = np.minimum(np.arange(L)[None, :] + shift[:, None], L - 1)  # (N, L)
    out = np.take_along_axis(x, src[:, :, None], axis=1)  # (N, L, I)
    out[np.arange(L)[None, :] >= lengths[:, None]] = 0
    return out, lengths, side


def atomic_pickle(obj: object, path: Path) -> None:
    """Pickle ``obj`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    atomic_write_bytes(path, lambda f: pickle.dump(obj, f, protocol=4))


def _from_split_dicts(
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
    _check_task(task, source)
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
        classes = _infer_classes(splits) if task == "classification" else None
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
                and k not in _RESERVED
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
        x = _float_array(d[m], source, split, m)
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
            lengths[m] = _int_vector(d[key], n, source, split, key)
        elif m == "text" and fmt == "mmsa" and _bert_mask(d, x) is not None:
            lengths[m] = np.maximum(_bert_mask(d, x).sum(axis=1), 1).astype(np.int64)
            inferred[f"{split}/{m}"] = "text_bert attention mask"
        else:
            x, lengths[m], side = infer_lengths(x)
            inferred[f"{split}/{m}"] = f"zero padding ({side})"
        features[m] = x
    if n is None:
        raise data_error(source, split, None, "no modality features (text, audio, vision, ...)")
    label_key = "labels" if fmt == "mult" else _MMSA_LABEL_KEYS[task]
    labels = None
    if label_key in d:
        labels = _labels(d[label_key], n, task, source, split, label_key)
    elif fmt == "mmsa":
        other = _MMSA_LABEL_KEYS["classification" if task == "regression" else "regression"]
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
        ids = _strings(d["id"], n, source, split, "id")
    else:
        ids = [f"{split}[{i}]" for i in range(n)]
    raw_text = _strings(d["raw_text"], n, source, split, "raw_text") if "raw_text" in d else None
    return Split(features=features, lengths=lengths, labels=labels, ids=ids, raw_text=raw_text)


def _bert_mask(d: dict, text: np.ndarray) -> np.ndarray | None:
    """MMSA's ``text_bert`` (N, 3, L): input ids, attention mask, segment ids."""
    tb = d.get("text_bert")
    if isinstance(tb, np.ndarray) and tb.ndim == 3 and tb.shape[0] == text.shape[0]:
        if tb.shape[1] == 3 and tb.shape[2] == text.shape[1]:
            return np.asarray(tb[:, 1, :]) != 0
    return None


def _float_array(value: object, source: str, split: str, field_: str) -> np.ndarray:
    try:
        x = np.asarray(value)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"dtype {x.dtype}")
        with np.errstate(over="ignore"):
            y = x.astype(np.float32, copy=False)
    except (TypeError, ValueError) as e:
        raise data_error(source, split, field_, f"not a numeric array ({e})") from None
    if x.dtype.kind == "f" and x.dtype.itemsize > 4 and not np.all(np.isfinite(y)):
        # finite float64 values beyond float32's range are not NaN/Inf: say what they are
        big = int(np.count_nonzero(np.isinf(y) & np.isfinite(x)))
        if big:
            raise data_error(
                source,
                split,
                field_,
                f"{big} finite values beyond the float32 range (|x| > 3.4e38); rescale them",
            )
    return y


def _int_vector(value: object, n: int, source: str, split: str, field_: str) -> np.ndarray:
    x = _float_array(value, source, split, field_)
    if x.shape != (n,):
        x = x.reshape(-1) if x.size == n else x
    if x.shape != (n,):
        raise data_error(source, split, field_, f"expected shape ({n},), got {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
        raise data_error(source, split, field_, "lengths must be whole numbers")
    return np.asarray(value).reshape(n).astype(np.int64)


def _labels(value: object, n: int, task: Task, source: str, split: str, field_: str) -> np.ndarray:
    y = _float_array(value, source, split, field_)
    if y.shape[:1] != (n,) or y.size != n:
        raise data_error(
            source,
            split,
            field_,
            f"expected one label per sample, shape ({n},), ({n}, 1) or ({n}, 1, 1), got {y.shape}",
        )
    y = y.reshape(n)
    if task == "regression":
        return y.astype(np.float32)
    finite = np.isfinite(y)
    if not finite.all() or np.any(y != np.round(y)):
        raise data_error(source, split, field_, "class labels must be whole numbers")
    return np.asarray(value).reshape(n).astype(np.int64)


def _items(words: object) -> list:
    if isinstance(words, np.ndarray):
        return list(words.ravel())
    if not isinstance(words, (list, tuple)):
        raise _NotAString(type(words).__name__)
    return list(words)


def _strings(value: object, n: int, source: str, split: str, field_: str) -> list[str]:
    try:
        return _strings_unchecked(value, n, source, split, field_)
    except _NotAString as e:
        raise data_error(source, split, field_, f"expected strings, got a {e}") from None


def _strings_unchecked(value: object, n: int, source: str, split: str, field_: str) -> list[str]:
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.shape[0] == n:  # MulT ids: (N, k) parts
            return ["_".join(_to_str(p) for p in row) for row in value]
        if value.ndim != 1:
            raise data_error(source, split, field_, f"expected shape ({n},), got {value.shape}")
        items: Sequence = value.tolist()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise data_error(source, split, field_, f"expected strings, got {type(value).__name__}")
    if len(items) != n:
        raise data_error(source, split, field_, f"has {len(items)} rows, not {n}")
    return [_to_str(v) for v in items]


class _NotAString(TypeError):
    pass


def _to_str(v: object) -> str:
    if isinstance(v, (list, tuple, dict, set, frozenset)) or (
        isinstance(v, np.ndarray) and v.size != 1
    ):
        # an id or a text is a string: a nested container could expand to millions of leaves
        raise _NotAString(type(v).__name__)
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _to_str(v.reshape(()).item())
    return str(v)


def _object_array(items: list[str]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = [str(s) for s in items]
    return out


def _encode(encoder: TextEncoder, texts: list[str], source: str, split: str) -> np.ndarray:
    emb = np.asarray(encoder(texts), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise data_error(
            source, split, "text", f"text encoder returned {emb.shape}, expected ({len(texts)}, D)"
        )
    return emb


def _infer_classes(splits: dict[str, Split]) -> list[str] | None:
    ys = [sp.labels for sp in splits.values() if sp.labels is not None and len(sp.labels)]
    if not ys:
        return None
    k = max(int(y.max()) for y in ys) + 1
    return [str(i) for i in range(max(k, 1))]


def _check_task(task: str, source: str) -> None:
    if task not in TASKS:
        raise DataError(f"{source}: task must be one of {TASKS}, got {task!r}")


def _describe_value(v: object) -> str:
    if isinstance(v, (tuple, list)):
        return f"{type(v).__name__} of {len(v)}"
    return type(v).__name__
