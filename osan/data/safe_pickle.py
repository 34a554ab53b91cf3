"""A restricted unpickler for third-party data files.

Pickles run code on load: ``pickle.load`` of a file from the internet lets its author call any
function. :func:`safe_load` admits only what dataset pickles legitimately contain: numpy arrays,
dtypes and scalars, and builtin containers and values. Any other global is refused with a
:class:`~osan.data.domain.DataError` before it is even imported.

Admitting a class is not enough: what it is called with and the state it is given matter too.
A crafted ``numpy.dtype`` state (a structured dtype whose field offsets lie past its item size)
makes numpy read process memory; ``numpy.ndarray(shape)`` returns uninitialised memory; a
tuple nested 10^6 deep crashes the interpreter when hashed; a few bytes can declare a 37 GiB
array. So the unpickler also checks every call and every state it applies:

- dtypes are plain numeric, bool, string (``U``/``S``) or object dtypes, rebuilt from their
  type string; never void, structured or sub-array dtypes;
- arrays come only from ``numpy``'s own pickle paths, with a buffer whose size matches the
  shape; what an array may declare is capped relative to the file's size
  (:data:`BYTES_PER_FILE_BYTE` times the file size plus :data:`SLACK_BYTES`);
- ``bytes(n)`` / ``bytearray(n)`` allocation, ``BUILD`` on anything but a dtype or an array,
  and ``NEWOBJ``/``OBJ``/``INST`` on anything but a builtin container are refused;
- nesting deeper than :data:`MAX_DEPTH` (tuples as they are built, everything after the load)
  is refused;
- :func:`safe_load` reads regular files only (no FIFO, device or ``/dev/zero`` behind a
  symlink), at most :data:`MAX_FILE_BYTES`.

Every refusal is a one-line :class:`DataError` naming the file. The allowed globals and their
checked stand-ins are in ``pickle_allowlist.py``; this module is the unpickler and the readers.
"""

from __future__ import annotations

import _codecs
import collections
import io
import os
import pickle
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from osan.data.domain import DataError
from osan.data.pickle_allowlist import (
    ALLOWED,
    CONTAINERS,
    ENCODINGS,
    Refused,
    declared_bytes,
    np_numeric,
    plain_dtype,
    shape_ok,
)

#: Deepest nesting of containers a data file may hold (MMSA files nest 3 deep).
MAX_DEPTH = 64
#: An array (or all arrays together) may declare at most this many bytes per byte of file
#: (object arrays hold an 8-byte pointer per element, and an element can cost 1 byte) ...
BYTES_PER_FILE_BYTE = 16
#: ... plus this much.
SLACK_BYTES = 1 << 20
#: Largest file :func:`safe_load` reads (64 GiB).
MAX_FILE_BYTES = 64 << 30


class SafeUnpickler(pickle._Unpickler):  # the Python implementation: its opcodes can be checked
    """An unpickler that resolves only numpy arrays/dtypes/scalars and builtin containers, and
    checks what they are called with (see the module docstring).

    ``source`` names the file in error messages; ``budget`` is the number of bytes the arrays
    of the file may declare in total.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: io.BufferedIOBase,
        *,
        source: str,
        encoding: str = "ASCII",
        budget: int = SLACK_BYTES,
    ) -> None:
        super().__init__(file, encoding=encoding)
        self.source = source
        self.budget = budget
        self._depth: dict[int, int] = {}  # id(tuple | frozenset) -> nesting depth
        self._keep: list[object] = []  # holds those objects so that their ids stay unique

    def find_class(self, module: str, name: str) -> Any:
        if not re.fullmatch(r"[A-Za-z_][\w.]*", module) or not name.isidentifier():
            raise pickle.UnpicklingError(f"no global named {module!r}.{name!r}")  # not a pickle
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refused to unpickle '{module}.{name}': only numpy arrays "
                "and builtin containers are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.source}: refused a persistent id: not a plain data pickle")

    # ---------------------------------------------------------------- nesting of hashables
    def _hashable_depth(self, obj: object) -> int:
        if isinstance(obj, (tuple, frozenset)):
            return self._depth.get(id(obj), 1)
        return 0

    def _track(self, obj: object) -> object:
        if isinstance(obj, (tuple, frozenset)) and obj:
            d = 1 + max(self._hashable_depth(x) for x in obj)
            if d > MAX_DEPTH:
                raise Refused(f"containers nested deeper than {MAX_DEPTH}")
            if d > 1:
                self._depth[id(obj)] = d
                self._keep.append(obj)
        return obj

    def load_tuple(self) -> None:
        items = self.pop_mark()  # before self.append: pop_mark rebinds it
        self.append(self._track(tuple(items)))

    def load_tuple1(self) -> None:
        self.stack[-1] = self._track((self.stack[-1],))

    def load_tuple2(self) -> None:
        self.stack[-2:] = [self._track((self.stack[-2], self.stack[-1]))]

    def load_tuple3(self) -> None:
        self.stack[-3:] = [self._track((self.stack[-3], self.stack[-2], self.stack[-1]))]

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self.append(self._track(frozenset(items)))

    dispatch[pickle.TUPLE[0]] = load_tuple
    dispatch[pickle.TUPLE1[0]] = load_tuple1
    dispatch[pickle.TUPLE2[0]] = load_tuple2
    dispatch[pickle.TUPLE3[0]] = load_tuple3
    dispatch[pickle.FROZENSET[0]] = load_frozenset

    # ---------------------------------------------------------------- calls and states
    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        self.stack[-1] = self._track(self._call(func, args))

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _call(self, func: Any, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise Refused("REDUCE arguments are not a tuple")
        if func is np.ndarray:
            raise Refused("direct numpy.ndarray(...) calls (uninitialised memory)")
        if func in (bytes, bytearray) and args and not isinstance(args[0], (bytes, str)):
            raise Refused(f"{func.__name__}(...) of a non-string (allocation)")
        if func is _codecs.encode:
            enc = args[1] if len(args) > 1 else "utf-8"
            if len(args) > 2 or str(enc).lower() not in ENCODINGS:
                raise Refused(f"_codecs.encode with encoding {enc!r}")
        if func is np_numeric._frombuffer:
            if len(args) != 4:
                raise Refused("numpy _frombuffer with unexpected arguments")
            buf, dt, shape, order = args
            if (
                not isinstance(buf, (bytes, bytearray))
                or not plain_dtype(dt)
                or dt.kind == "O"
                or not shape_ok(shape)
                or order not in ("C", "F")
                or declared_bytes(shape, dt) != len(buf)
            ):
                raise Refused("numpy _frombuffer whose buffer does not match its shape")
            self._spend(len(buf))
        if func is collections.defaultdict and args and args[0] not in (None, *CONTAINERS):
            raise Refused("defaultdict with a factory other than a builtin container")
        return func(*args)

    def _spend(self, nbytes: int) -> None:
        self.budget -= nbytes
        if self.budget < 0:
            raise Refused(
                "its arrays declare more memory than the file's size allows "
                f"({BYTES_PER_FILE_BYTE}x the file + {SLACK_BYTES >> 20} MiB)"
            )

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, np.dtype):
            inst.__setstate__(self._dtype_state(inst, state))
        elif type(inst) is np.ndarray:
            inst.__setstate__(self._array_state(state))
        else:
            raise Refused(f"BUILD (set state) on a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def _dtype_state(self, dt: np.dtype, state: object) -> tuple:
        """The state of ``dt`` rebuilt from a type string: byte order and (for U/S) size are
        all a file may set; fields, names, sub-arrays, flags and metadata are not."""
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
            raise Refused("dtype state of an unknown layout")
        order, sub, names, fields_, elsize = state[1:6]
        if sub is not None or names is not None or fields_ is not None or len(state) == 9:
            raise Refused("structured, sub-array or annotated dtypes")
        if order not in ("<", ">", "|", "="):
            raise Refused(f"dtype byte order {order!r}")
        if dt.kind in "US":
            if not isinstance(elsize, int) or not 0 <= elsize < 2**31:
                raise Refused(f"dtype size {elsize!r}")
            width = elsize // 4 if dt.kind == "U" else elsize
            if dt.kind == "U" and elsize % 4:
                raise Refused(f"unicode dtype size {elsize} (not a multiple of 4)")
            spec = f"{order if dt.kind == 'U' else '|'}{dt.kind}{width}"
        else:
            if elsize not in (-1, dt.itemsize):
                raise Refused(f"dtype size {elsize!r} for {dt}")
            spec = f"{order if order in '<>' else '='}{dt.kind}{dt.itemsize}"
        return np.dtype(spec).__reduce__()[2]

    def _array_state(self, state: object) -> tuple:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise Refused("ndarray state of an unknown layout")
        shape, dt, _fortran, raw = state[-4:]
        if not plain_dtype(dt) or not shape_ok(shape):
            raise Refused("ndarray of a non-plain dtype or a bad shape")
        nbytes = declared_bytes(shape, dt)
        self._spend(nbytes)
        if dt.kind == "O":
            if not isinstance(raw, list) or len(raw) != nbytes // dt.itemsize:
                raise Refused("object ndarray whose items do not match its shape")
        elif not isinstance(raw, (bytes, bytearray, str)) or len(raw) != nbytes:
            raise Refused("ndarray whose buffer does not match its shape")
        return state

    def _refuse_new(self) -> None:
        raise Refused("object construction (NEWOBJ/OBJ/INST)")

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack[-1]
        if cls not in CONTAINERS:
            self._refuse_new()
        self.stack[-1] = cls.__new__(cls, *args)

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in CONTAINERS or kwargs:
            self._refuse_new()
        self.append(cls.__new__(cls, *args))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _instantiate(self, klass: Any, args: Any) -> None:  # OBJ and INST
        if klass not in CONTAINERS:
            self._refuse_new()
        super()._instantiate(klass, args)


def safe_loads(data: bytes, *, source: str = "<bytes>") -> object:
    """Unpickle ``data`` with :class:`SafeUnpickler`; see :func:`safe_load`."""
    budget = BYTES_PER_FILE_BYTE * len(data) + SLACK_BYTES
    try:
        return _checked(_load(data, source, "ASCII", budget), source)
    except UnicodeDecodeError:
        # Python 2 pickles hold byte strings (numpy buffers among them) as ``str``; latin1
        # maps every byte to one code point, which numpy turns back into the same bytes.
        pass
    return _checked(_load(data, source, "latin1", budget), source)


def _load(data: bytes, source: str, encoding: str, budget: int) -> object:
    try:
        return SafeUnpickler(
            io.BytesIO(data), source=source, encoding=encoding, budget=budget
        ).load()
    except (DataError, UnicodeDecodeError):
        raise
    except Refused as e:
        raise DataError(f"{source}: refused to unpickle: {e}") from None
    except RecursionError:
        raise DataError(f"{source}: refused to unpickle: nesting too deep") from None
    except MemoryError:
        raise DataError(
            f"{source}: refused to unpickle: it needs more memory than is free"
        ) from None
    except Exception as e:  # noqa: BLE001 - every decoding failure means a broken file
        raise _corrupt(source, e) from None


def _checked(obj: object, source: str) -> object:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and self-containing containers.

    Heights are computed once per distinct container (shared ones included), iteratively."""
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[object, bool]] = [(obj, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            height[key] = 1 + max((height.get(id(c), 0) for c in _children(node)), default=0)
            if height[key] > MAX_DEPTH:
                raise DataError(
                    f"{source}: refused to unpickle: containers nested deeper than {MAX_DEPTH}"
                )
            continue
        if key in height or not _is_container(node):
            continue
        if key in on_path:
            raise DataError(f"{source}: refused to unpickle: a container holds itself")
        on_path.add(key)
        stack.append((node, True))
        for c in _children(node):
            if _is_container(c) and id(c) not in height:
                if id(c) in on_path:
                    raise DataError(f"{source}: refused to unpickle: a container holds itself")
                stack.append((c, False))
    return obj


def _is_container(x: object) -> bool:
    return isinstance(x, (dict, list, tuple, set, frozenset)) or (
        isinstance(x, np.ndarray) and x.dtype.kind == "O"
    )


def _children(x: object) -> list:
    if isinstance(x, dict):
        return [*x.keys(), *x.values()]
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return list(x)  # type: ignore[call-overload]


def check_regular_file(path: str | Path) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed); a one-line
    :class:`DataError` for a missing path, a folder, a FIFO, a device (``/dev/zero``) ..."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a directory, not a data file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path}: not a regular file (a FIFO, socket or device); refused")
    return st.st_size


def read_regular_file(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, read without blocking on FIFOs and at most ``limit``."""
    path = Path(path)
    size = check_regular_file(path)
    if size > limit:
        raise DataError(f"{path}: {size} bytes is larger than the {limit}-byte limit")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # replaced since the check
            raise DataError(f"{path}: not a regular file; refused")
        data = f.read(min(size, limit) + 1)
    if len(data) > limit:
        raise DataError(f"{path}: larger than the {limit}-byte limit")
    return data


def safe_load(path: str | Path) -> object:
    """Load a pickle file admitting only numpy arrays/dtypes/scalars and builtin containers.

    Python 2 pickles are read with a ``latin1`` fallback. Raises :class:`DataError` for a
    missing, truncated or corrupt file, a path that is not a regular file, and any refused
    global, call or state (the message names the file).
    """
    path = Path(path)
    return safe_loads(read_regular_file(path), source=str(path))


def _corrupt(source: str, e: Exception) -> DataError:
    detail = str(e).splitlines()[0] if str(e) else ""
    return DataError(
        f"{source}: truncated or corrupt pickle ({type(e).__name__}"
        + (f": {detail})" if detail else ")")
    )
