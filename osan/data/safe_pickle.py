"""A restricted unpickler for third-party data files.

Pickles run code on load: ``pickle.load`` of a file from the internet lets its author call any
function. :func:`safe_load` admits only what dataset pickles legitimately contain: numpy arrays,
dtypes and scalars, and builtin containers and values. Any other global is refused with a
:class:`~osan.data.domain.DataError` before it is even imported.
"""

from __future__ import annotations

import _codecs
import builtins
import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from osan.data.domain import DataError

try:  # numpy >= 2 keeps its internals in numpy._core; numpy.core is a deprecated alias
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

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

# (module, name) as written in the pickle -> the object it stands for. Resolved here, never by
# importing the module named in the file.
_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_mod, "scalar")] = _multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    # protocol-5 pickles of contiguous arrays: a copy of a bytes buffer, nothing else
    _ALLOWED[(_mod, "_frombuffer")] = _numeric._frombuffer
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
for _mod in ("builtins", "__builtin__"):
    for _name in _BUILTINS:
        _ALLOWED[(_mod, _name)] = getattr(builtins, _name)
_ALLOWED[("__builtin__", "unicode")] = str
_ALLOWED[("__builtin__", "long")] = int
_ALLOWED[("collections", "OrderedDict")] = collections.OrderedDict
# harmless: its default factory must itself pass this list (a builtin type such as ``list``)
_ALLOWED[("collections", "defaultdict")] = collections.defaultdict
# how Python 3 writes ``bytes`` into protocol <= 2 pickles (numpy array buffers among them);
# a pure data transformation through the stdlib codec registry
_ALLOWED[("_codecs", "encode")] = _codecs.encode


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy arrays/dtypes/scalars and builtin containers.

    ``source`` names the file in error messages.
    """

    def __init__(self, file: io.BufferedIOBase, *, source: str, encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refused to unpickle '{module}.{name}': only numpy arrays "
                "and builtin containers are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.source}: refused a persistent id: not a plain data pickle")


def safe_loads(data: bytes, *, source: str = "<bytes>") -> object:
    """Unpickle ``data`` with :class:`SafeUnpickler`; see :func:`safe_load`."""
    try:
        return SafeUnpickler(io.BytesIO(data), source=source).load()
    except UnicodeDecodeError:
        # Python 2 pickles hold byte strings (numpy buffers among them) as ``str``; latin1
        # maps every byte to one code point, which numpy turns back into the same bytes.
        pass
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - every decoding failure means a broken file
        raise _corrupt(source, e) from None
    try:
        return SafeUnpickler(io.BytesIO(data), source=source, encoding="latin1").load()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001
        raise _corrupt(source, e) from None


def safe_load(path: str | Path) -> object:
    """Load a pickle file admitting only numpy arrays/dtypes/scalars and builtin containers.

    Python 2 pickles are read with a ``latin1`` fallback. Raises :class:`DataError` for a
    missing, truncated or corrupt file and for any refused global (the message names both the
    file and the global).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a pickle file") from None
    return safe_loads(data, source=str(path))


def _corrupt(source: str, e: Exception) -> DataError:
    detail = str(e).splitlines()[0] if str(e) else ""
    return DataError(
        f"{source}: truncated or corrupt pickle ({type(e).__name__}"
        + (f": {detail})" if detail else ")")
    )
