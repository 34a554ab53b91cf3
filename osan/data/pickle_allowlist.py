"""The allow-list of the restricted unpickler (``osan/data/safe_pickle.py``): the globals a
dataset pickle may name, each resolved here (never by importing the module the file names),
and the checked stand-ins it gets instead of numpy's own constructors: plain dtypes only, numpy
scalars of exactly their item size, ``_reconstruct`` of an empty ndarray only."""

from __future__ import annotations

import _codecs
import builtins
import collections
import re
from typing import Any

import numpy as np

try:  # numpy >= 2 keeps its internals in numpy._core; numpy.core is a deprecated alias
    from numpy._core import multiarray as np_multiarray
    from numpy._core import numeric as np_numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as np_multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as np_numeric  # type: ignore[no-redef]


_BUILTINS = (
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "str",
    "bytes",
    "bytearray",
    "int",
    "float",
    "complex",
    "bool",
)


def _dtype_from_spec(spec: object, align: object = False, copy: object = True) -> np.dtype:
    """``numpy.dtype`` as pickles call it, for plain type strings only (a fresh copy)."""
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if not isinstance(spec, str) or not _PLAIN_DTYPE.fullmatch(spec):
        raise Refused(f"dtype {spec!r}: only plain numeric, bool, string and object dtypes")
    return np.dtype(spec, align=False, copy=True)


_PLAIN_DTYPE = re.compile(r"b1|\?|[iu][1248]|f(2|4|8|16)|c(8|16|32)|O[48]?|[US]\d{0,9}")
_PLAIN_KINDS = frozenset("biufcOUS")


def plain_dtype(dt: object) -> bool:
    return (
        isinstance(dt, np.dtype)
        and dt.kind in _PLAIN_KINDS
        and dt.fields is None
        and dt.subdtype is None
        and dt.metadata is None
    )


def _scalar(dt: object, data: object = None) -> Any:
    if not plain_dtype(dt):
        raise Refused("numpy scalar of a non-plain dtype")
    if dt.kind != "O" and not (isinstance(data, bytes) and len(data) == dt.itemsize):
        raise Refused(f"numpy scalar: {dt} needs exactly {dt.itemsize} bytes")
    return np_multiarray.scalar(dt, data)


def _reconstruct(cls: object, shape: object, typecode: object) -> np.ndarray:
    """numpy's ``_reconstruct(ndarray, (0,), b'b')``: an EMPTY array that BUILD then fills."""
    if cls is not np.ndarray or not shape_ok(shape) or int(np.prod(shape)) != 0:
        raise Refused("numpy _reconstruct other than of an empty ndarray")
    return np_multiarray._reconstruct(np.ndarray, shape, b"b")


def shape_ok(shape: object) -> bool:
    return (
        isinstance(shape, tuple)
        and len(shape) <= 32
        and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**62 for d in shape)
    )


def declared_bytes(shape: tuple, dt: np.dtype) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * dt.itemsize


# (module, name) as written in the pickle -> the object it stands for. Resolved here, never by
# importing the module named in the file.
ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_mod, "_reconstruct")] = _reconstruct
    ALLOWED[(_mod, "scalar")] = _scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    # protocol-5 pickles of contiguous arrays: a copy of a bytes buffer, nothing else
    ALLOWED[(_mod, "_frombuffer")] = np_numeric._frombuffer
ALLOWED[("numpy", "ndarray")] = np.ndarray  # only as _reconstruct's first argument
ALLOWED[("numpy", "dtype")] = _dtype_from_spec
for _mod in ("builtins", "__builtin__"):
    for _name in _BUILTINS:
        ALLOWED[(_mod, _name)] = getattr(builtins, _name)
ALLOWED[("__builtin__", "unicode")] = str
ALLOWED[("__builtin__", "long")] = int
ALLOWED[("collections", "OrderedDict")] = collections.OrderedDict
# harmless: its default factory must itself pass this list (a builtin type such as ``list``)
ALLOWED[("collections", "defaultdict")] = collections.defaultdict
# how Python 3 writes ``bytes`` into protocol <= 2 pickles (numpy array buffers among them);
# a pure data transformation through the stdlib codec registry
ALLOWED[("_codecs", "encode")] = _codecs.encode

CONTAINERS = (dict, list, set, frozenset, tuple, collections.OrderedDict, collections.defaultdict)
ENCODINGS = {"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "utf-8", "utf8"}


class Refused(Exception):
    """Raised inside the unpickler; becomes a DataError naming the file."""
