"""One field of an unpickled split, checked: numeric feature arrays (float32, in range), length
and label vectors, id and text strings; each failure is a one-line
:class:`~osan.data.domain.DataError` naming the file, split and field."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from osan.data.domain import data_error
from osan.types import Task

TextEncoder = Callable[[list[str]], np.ndarray]


def float_field(value: object, source: str, split: str, field_: str) -> np.ndarray:
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


def int_field(value: object, n: int, source: str, split: str, field_: str) -> np.ndarray:
    x = float_field(value, source, split, field_)
    if x.shape != (n,):
        x = x.reshape(-1) if x.size == n else x
    if x.shape != (n,):
        raise data_error(source, split, field_, f"expected shape ({n},), got {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
        raise data_error(source, split, field_, "lengths must be whole numbers")
    return np.asarray(value).reshape(n).astype(np.int64)


def label_field(
    value: object, n: int, task: Task, source: str, split: str, field_: str
) -> np.ndarray:
    y = float_field(value, source, split, field_)
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


def word_list(words: object) -> list:
    if isinstance(words, np.ndarray):
        return list(words.ravel())
    if not isinstance(words, (list, tuple)):
        raise NotAString(type(words).__name__)
    return list(words)


def string_field(value: object, n: int, source: str, split: str, field_: str) -> list[str]:
    try:
        return _strings_unchecked(value, n, source, split, field_)
    except NotAString as e:
        raise data_error(source, split, field_, f"expected strings, got a {e}") from None


def _strings_unchecked(value: object, n: int, source: str, split: str, field_: str) -> list[str]:
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.shape[0] == n:  # MulT ids: (N, k) parts
            return ["_".join(to_str(p) for p in row) for row in value]
        if value.ndim != 1:
            raise data_error(source, split, field_, f"expected shape ({n},), got {value.shape}")
        items: Sequence = value.tolist()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise data_error(source, split, field_, f"expected strings, got {type(value).__name__}")
    if len(items) != n:
        raise data_error(source, split, field_, f"has {len(items)} rows, not {n}")
    return [to_str(v) for v in items]


class NotAString(TypeError):
    pass


def to_str(v: object) -> str:
    if isinstance(v, (list, tuple, dict, set, frozenset)) or (
        isinstance(v, np.ndarray) and v.size != 1
    ):
        # an id or a text is a string: a nested container could expand to millions of leaves
        raise NotAString(type(v).__name__)
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return to_str(v.reshape(()).item())
    return str(v)


def object_array(items: list[str]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = [str(s) for s in items]
    return out


def encode_texts(encoder: TextEncoder, texts: list[str], source: str, split: str) -> np.ndarray:
    emb = np.asarray(encoder(texts), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise data_error(
            source, split, "text", f"text encoder returned {emb.shape}, expected ({len(texts)}, D)"
        )
    return emb


def describe_value(v: object) -> str:
    if isinstance(v, (tuple, list)):
        return f"{type(v).__name__} of {len(v)}"
    return type(v).__name__
