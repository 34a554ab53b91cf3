"""A pickle-free file format for passing domains between people: HDF5 (``.h5``) or NPZ (``.npz``).

Both hold the same things, read back exactly (array by array, string by string):

    meta                      JSON: format "osan-domain", version, name, task, classes,
                              modalities (order), splits (order), the domain's JSON-able meta
    <split>/ids               N strings (UTF-8)
    <split>/raw_text          N strings (absent when the domain has no raw text)
    <split>/labels            (N,) float32 (regression) or int64 (classes); absent: unlabelled
    <split>/features/<m>      (N, L_m, I_m) float32, zero-padded after the true length
    <split>/lengths/<m>       (N,) int64

HDF5: ``meta`` is a root attribute, the rest are datasets at those paths (strings as
variable-length UTF-8). NPZ: each path is an array name, strings are unicode arrays and
``meta`` a 0-d unicode array; loaded with ``np.load(allow_pickle=False)``. Nothing in either
file can execute code when read. Strings holding a NUL character are refused on writing (HDF5
strings end at a NUL and numpy drops trailing ones), so every file written reads back exactly.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from osan.atomic import atomic_write_bytes, atomic_write_path
from osan.data.domain import DataError, Domain, Split, data_error, finalize
from osan.data.file_audit import NpzIndex, h5_kind, open_h5
from osan.data.safe_pickle import check_regular_file
from osan.types import SPLITS, Task

FORMAT = "osan-domain"
VERSION = 1
SUFFIXES: dict[str, str] = {".h5": "h5", ".hdf5": "h5", ".npz": "npz"}
#: Meta keys that describe where a loaded domain came from; a loader sets them afresh.
_PLACE_KEYS = ("source", "format")


def portable_kind(path: str | Path) -> str | None:
    """``"h5"`` or ``"npz"`` by the file's suffix, else ``None``."""
    return SUFFIXES.get(Path(path).suffix.lower())


# --------------------------------------------------------------------------- writing


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _header(domain: Domain) -> dict[str, Any]:
    kept = {k: v for k, v in domain.meta.items() if k not in _PLACE_KEYS and _jsonable(v)}
    if "source" in domain.meta or "format" in domain.meta:
        kept.setdefault(
            "converted_from",
            {
                k: domain.meta[k]
                for k in _PLACE_KEYS
                if k in domain.meta and _jsonable(domain.meta[k])
            },
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": domain.name,
        "task": domain.task,
        "classes": None if domain.classes is None else [str(c) for c in domain.classes],
        "modalities": list(domain.modalities),
        "splits": list(domain.splits),
        "meta": kept,
    }


def _check_strings(items: list[str], where: str) -> None:
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise DataError(f"{where}: row {i} is {type(s).__name__}, not a string")
        if "\x00" in s:
            raise DataError(f"{where}: row {i} holds a NUL character, which the file cannot keep")


def _arrays(domain: Domain) -> dict[str, np.ndarray | list[str]]:
    """Every stored item by its path (strings as lists); checks what the format cannot hold."""
    domain.validate(required=())
    modalities = domain.modalities
    out: dict[str, np.ndarray | list[str]] = {}
    for s, sp in domain.splits.items():
        if "/" in s or not s:
            raise DataError(f"{domain.name}: split name {s!r} cannot be a path part")
        if sp.modalities != modalities:
            raise data_error(domain.name, s, None, f"modalities {sp.modalities} != {modalities}")
        _check_strings(sp.ids, f"{domain.name}, split '{s}', field 'ids'")
        out[f"{s}/ids"] = list(sp.ids)
        if sp.raw_text is not None:
            _check_strings(sp.raw_text, f"{domain.name}, split '{s}', field 'raw_text'")
            out[f"{s}/raw_text"] = list(sp.raw_text)
        if sp.labels is not None:
            dtype = np.float32 if domain.task == "regression" else np.int64
            out[f"{s}/labels"] = np.ascontiguousarray(sp.labels, dtype=dtype)
        for m in modalities:
            if "/" in m or not m:
                raise DataError(f"{domain.name}: modality name {m!r} cannot be a path part")
            out[f"{s}/features/{m}"] = np.ascontiguousarray(sp.features[m], dtype=np.float32)
            out[f"{s}/lengths/{m}"] = np.ascontiguousarray(sp.lengths[m], dtype=np.int64)
    return out


def save_portable(domain: Domain, path: str | Path, *, compress: bool = False) -> None:
    """Write ``domain`` to ``path`` (``.h5``/``.hdf5`` or ``.npz``), atomically.

    ``compress=True``: gzip (HDF5) or ``savez_compressed`` (NPZ); the data read back is the same.
    """
    path = Path(path)
    kind = portable_kind(path)
    if kind is None:
        raise ValueError(f"{path}: the pickle-free formats are .h5 / .hdf5 and .npz")
    header = json.dumps(_header(domain), sort_keys=True)
    items = _arrays(domain)
    if kind == "npz":
        arrays = {
            k: np.asarray(v, dtype=str) if isinstance(v, list) else v for k, v in items.items()
        }
        arrays["meta"] = np.asarray(header)
        save = np.savez_compressed if compress else np.savez
        atomic_write_bytes(path, lambda f: save(f, **arrays))
        return

    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h:
            h.attrs["meta"] = header
            for k, v in items.items():
                if isinstance(v, list):
                    h.create_dataset(
                        k, data=np.asarray(v, dtype=object), dtype=h5py.string_dtype("utf-8")
                    )
                else:
                    opts = {"compression": "gzip", "compression_opts": 4} if compress else {}
                    h.create_dataset(k, data=v, **(opts if v.ndim >= 1 and v.size else {}))

    atomic_write_path(path, write)


# --------------------------------------------------------------------------- reading


class _Reader:
    """Uniform access to an open, audited HDF5 file or NPZ archive by item path (see
    :mod:`osan.data.file_audit`): every dtype is known before its array is read."""

    def __init__(self, source: str, kind: str, handle: Any, index: NpzIndex | None = None) -> None:
        self.source, self.kind, self.h, self.index = source, kind, handle, index

    def meta(self) -> str:
        if self.kind == "h5":
            raw = self.h.attrs.get("meta")
        else:
            raw = self.h["meta"].item() if self.has("meta") else None
        if raw is None:
            raise DataError(f"{self.source}: no 'meta' (not an osan domain file)")
        if isinstance(raw, np.ndarray):
            raise DataError(f"{self.source}: 'meta' is an array, not a JSON string")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def has(self, key: str) -> bool:
        if self.kind == "h5":
            import h5py

            return isinstance(self.h.get(key), h5py.Dataset)
        assert self.index is not None
        return key in self.index.headers

    def dtype(self, key: str) -> str:
        """``"str"`` for strings, else the numpy dtype's name; from the header only."""
        if self.kind == "h5":
            return h5_kind(self.h[key])
        assert self.index is not None
        dt = self.index.headers[key][1]
        return "str" if dt.kind == "U" else str(dt)

    def array(self, key: str, want: type, split: str, field_: str) -> np.ndarray:
        got = self.dtype(key)
        if got != np.dtype(want).name:
            raise data_error(
                self.source, split, field_, f"dtype {got}, expected {np.dtype(want).name}"
            )
        return self.h[key][()] if self.kind == "h5" else self.h[key]

    def strings(self, key: str, split: str, field_: str) -> list[str]:
        got = self.dtype(key)
        if got != "str":
            raise data_error(self.source, split, field_, f"dtype {got}, expected strings")
        if self.kind == "h5":
            if self.h[key].ndim != 1:
                raise data_error(self.source, split, field_, "expected a list of strings")
            return list(self.h[key].asstr()[()])
        arr = self.h[key]
        if arr.ndim != 1:
            raise data_error(self.source, split, field_, "expected a list of strings")
        return arr.tolist()


def load_portable(
    path: str | Path,
    *,
    task: Task | None = None,
    nan_policy: str = "error",
    required: tuple[str, ...] = SPLITS,
    name: str | None = None,
) -> Domain:
    """Read a domain written by :func:`save_portable` (no pickle anywhere).

    ``task`` (when given) must be the task the file declares: a classification file read as
    regression is a :class:`DataError`, not a silent reinterpretation.
    """
    path = Path(path)
    source = str(path)
    kind = portable_kind(path)
    if kind is None:
        raise DataError(f"{path}: not an .h5 / .hdf5 / .npz file")
    check_regular_file(path)
    try:
        if kind == "h5":
            with open_h5(path, source) as h:
                return _read(_Reader(source, kind, h), task, nan_policy, required, name)
        index = NpzIndex(path, source)  # headers only: sizes and dtypes before any read
        with np.load(path, allow_pickle=False) as z:
            return _read(_Reader(source, kind, z, index), task, nan_policy, required, name)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path}: declares more memory than is free; refused") from None
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
    ) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        first = first.split(" If you trust")[0]  # numpy's advice to load pickles: never
        raise DataError(f"{path}: unreadable or corrupt {kind} file ({first})") from None


def _read(
    r: _Reader, task: Task | None, nan_policy: str, required: tuple[str, ...], name: str | None
) -> Domain:
    try:
        head = json.loads(r.meta())
    except json.JSONDecodeError as e:
        raise DataError(f"{r.source}: 'meta' is not valid JSON ({e})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise DataError(f"{r.source}: not an osan domain file (meta format != {FORMAT!r})")
    for key in ("modalities", "splits"):
        value = head.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise data_error(r.source, None, "meta", f"{key} must be a list of names")
    if not isinstance(head.get("version", 0), int):
        raise data_error(r.source, None, "meta", "version must be an integer")
    if head.get("version", 0) > VERSION:
        raise DataError(
            f"{r.source}: written by a newer osan (format version {head['version']}); upgrade osan"
        )
    declared = head.get("task")
    if declared not in ("regression", "classification"):
        raise data_error(r.source, None, "meta", f"unknown task {declared!r}")
    if task is not None and task != declared:
        raise DataError(f"{r.source}: holds {declared} data, not {task}")
    modalities = head.get("modalities") or []
    splits: dict[str, Split] = {}
    for s in head.get("splits") or []:
        for field_ in ("ids", *(f"features/{m}" for m in modalities)):
            if not r.has(f"{s}/{field_}"):
                raise data_error(r.source, s, field_, "missing")
        for m in modalities:
            if not r.has(f"{s}/lengths/{m}"):
                raise data_error(r.source, s, f"lengths/{m}", "missing")
        ids = r.strings(f"{s}/ids", s, "ids")
        has_raw = r.has(f"{s}/raw_text")
        raw_text = r.strings(f"{s}/raw_text", s, "raw_text") if has_raw else None
        labels = None
        if r.has(f"{s}/labels"):
            want = np.float32 if declared == "regression" else np.int64
            labels = r.array(f"{s}/labels", want, s, "labels")
        feats, lens = {}, {}
        for m in modalities:
            feats[m] = r.array(f"{s}/features/{m}", np.float32, s, m)
            lens[m] = r.array(f"{s}/lengths/{m}", np.int64, s, f"lengths/{m}")
        splits[s] = Split(feats, lens, labels, ids, raw_text)
    for s in required:
        if s not in splits:
            raise data_error(r.source, s, None, f"missing split (have {sorted(splits)})")
    meta = dict(head.get("meta") or {})
    meta.update({"source": r.source, "format": f"osan-{r.kind}"})
    domain = Domain(
        name=name or head.get("name") or Path(r.source).stem,
        splits=splits,
        task=declared,
        classes=head.get("classes"),
        meta=meta,
    )
    return finalize(domain, r.source, nan_policy=nan_policy, required=required)
