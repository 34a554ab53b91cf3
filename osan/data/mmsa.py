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

This module holds the loaders and the writer; the split-dict layout is read in
``split_dicts.py``, each field checked in ``pickle_fields.py``, lengths inferred in
``padding.py``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from osan.atomic import atomic_write_bytes
from osan.data.domain import DataError, Domain, Split, data_error, finalize, pad_sequences
from osan.data.padding import Padding, infer_lengths
from osan.data.pickle_fields import (
    NotAString,
    TextEncoder,
    describe_value,
    encode_texts,
    float_field,
    label_field,
    object_array,
    to_str,
    word_list,
)
from osan.data.safe_pickle import safe_load
from osan.data.split_dicts import (
    MMSA_LABEL_KEYS,
    RESERVED_KEYS,
    SPLIT_ALIASES,
    TASKS,
    check_task,
    from_split_dicts,
    infer_classes,
)
from osan.types import SPLITS, Task

#: Importable from here as before the split into split_dicts / pickle_fields / padding.
__all__ = [
    "SPLIT_ALIASES",
    "TASKS",
    "Padding",
    "TextEncoder",
    "atomic_pickle",
    "infer_lengths",
    "load_mmsa",
    "load_mult",
    "load_wordaligned",
    "mmsa_from_object",
    "mult_from_object",
    "save_mmsa",
    "wordaligned_from_object",
]


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
        if m in RESERVED_KEYS or m.endswith("_lengths"):
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
            d[MMSA_LABEL_KEYS[domain.task]] = np.ascontiguousarray(sp.labels, dtype=dtype)
        d["id"] = object_array(sp.ids)
        if sp.raw_text is not None:
            d["raw_text"] = object_array(sp.raw_text)
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
    return from_split_dicts(
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
    return from_split_dicts(
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
    check_task(task, source)
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
                + describe_value(sample),
            )
        (_word_ids, facet, covarep, words), label, segment = sample
        for m, value in (("vision", facet), ("audio", covarep)):
            x = float_field(value, source, split, f"{where} {m}")
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
            ids.append(to_str(segment))
            raw_text.append(" ".join(to_str(w) for w in word_list(words)))
        except NotAString as e:
            raise data_error(
                source, split, f"{where} id/words", f"expected strings, got a {e}"
            ) from None
    features, lengths = {}, {}
    for m, xs in seqs.items():
        features[m], lengths[m] = pad_sequences(xs, dim=xs[0].shape[1])
    if text_encoder is not None:
        emb = encode_texts(text_encoder, raw_text, source, split)
        features["text"] = emb[:, None, :]  # (N, 1, D)
        lengths["text"] = np.ones(len(raw_text), dtype=np.int64)
    y = label_field(np.stack(labels), len(ids), task, source, split, "label")
    sp = Split(features=features, lengths=lengths, labels=y, ids=ids, raw_text=raw_text)
    domain = Domain(
        name=name or Path(source).stem,
        splits={split: sp},
        task=task,
        classes=infer_classes({split: sp}) if task == "classification" else None,
        meta={"source": source, "format": "wordaligned"},
    )
    return finalize(domain, source, nan_policy=nan_policy, required=(split,))


# --------------------------------------------------------------------------- helpers


def atomic_pickle(obj: object, path: Path) -> None:
    """Pickle ``obj`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    atomic_write_bytes(path, lambda f: pickle.dump(obj, f, protocol=4))
