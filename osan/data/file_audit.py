"""Checks on a pickle-free file (HDF5 ``.h5``/``.csd``, NPZ) made before any array is read.

The same promise as the unpickler (:mod:`osan.data.safe_pickle`), for the formats we tell users
to share:

- **declared size**: all datasets / arrays together may declare at most
  :data:`BYTES_PER_FILE_BYTE` times the file's size plus :data:`SLACK_BYTES` (a small file
  declaring a huge unwritten or highly compressed dataset is refused before numpy allocates
  anything);
- **nothing outside the file**: HDF5 external storage (raw data in another file), external
  links, virtual datasets and soft links are refused, so no byte of another file on the
  reader's disk is read (and copied into a converted file meant for sharing);
- **known filters only** (deflate, shuffle, fletcher32, lzf, scale-offset off): no plugin is
  loaded;
- **dtypes** are the caller's to check per field from :func:`h5_dtype` / :class:`NpzIndex`
  before a read.

Each refusal is a :class:`~osan.data.domain.DataError` naming the file and the item.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from osan.data.domain import DataError
from osan.data.pickle_allowlist import declared_bytes

#: A file's datasets may declare at most this many bytes per byte of file (the unpickler's
#: ratio; compressed zero padding can exceed it: such a file is refused with a hint) ...
BYTES_PER_FILE_BYTE = 16
#: ... plus this much.
SLACK_BYTES = 1 << 20
#: HDF5 filters a file may use: deflate (gzip), shuffle, fletcher32, lzf.
ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}


def size_cap(file_bytes: int) -> int:
    return BYTES_PER_FILE_BYTE * file_bytes + SLACK_BYTES


def _over_cap(source: str, item: str, total: int, file_bytes: int) -> DataError:
    return DataError(
        f"{source}: '{item}' brings the declared size to {total} bytes, more than the file's "
        f"size allows ({BYTES_PER_FILE_BYTE}x its {file_bytes} bytes + {SLACK_BYTES >> 20} "
        "MiB); refused before reading (a heavily compressed file: write it uncompressed)"
    )


# --------------------------------------------------------------------------- HDF5


def audit_h5(h: Any, source: str, file_bytes: int) -> None:
    """Walk every link of the open ``h5py.File`` ``h``; raise :class:`DataError` for a link
    that is not a hard link, a dataset stored outside the file (external raw storage, virtual),
    an unknown filter, or a total declared size over :func:`size_cap`. Reads no dataset."""
    import h5py

    total = 0
    cap = size_cap(file_bytes)
    seen: set[Any] = set()
    todo: list[tuple[str, Any]] = [("/", h)]
    while todo:
        where, group = todo.pop()
        key = group.id.__hash__()  # hard links to a group already walked: walk it once
        if key in seen:
            continue
        seen.add(key)
        for name in group:
            path = f"{where.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise DataError(
                    f"{source}: '{path}' is an external link to {link.filename!r}; osan files "
                    "hold their data inside the file; refused"
                )
            if isinstance(link, h5py.SoftLink):
                raise DataError(
                    f"{source}: '{path}' is a soft link (to {link.path!r}); osan files hold "
                    "no links; refused"
                )
            if not isinstance(link, h5py.HardLink):
                raise DataError(f"{source}: '{path}' is a link of an unknown kind; refused")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                todo.append((path, obj))
            elif isinstance(obj, h5py.Dataset):
                total += _dataset_bytes(obj, source, path)
                if total > cap:
                    raise _over_cap(source, path, total, file_bytes)
            else:
                raise DataError(f"{source}: '{path}' is a {type(obj).__name__}; refused")


def _dataset_bytes(ds: Any, source: str, path: str) -> int:
    import h5py

    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        raise DataError(
            f"{source}: '{path}' is a virtual dataset (its data lives in other files); refused"
        )
    if dcpl.get_external_count() > 0:
        name = dcpl.get_external(0)[0].decode(errors="replace")
        raise DataError(
            f"{source}: '{path}' keeps its data in an external file ({name!r}); "
            "osan reads only data stored inside the file; refused"
        )
    if layout not in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED, h5py.h5d.COMPACT):
        raise DataError(f"{source}: '{path}' has an unknown storage layout; refused")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise DataError(
                f"{source}: '{path}' uses HDF5 filter {code} (osan reads "
                f"{', '.join(ALLOWED_FILTERS.values())}); refused"
            )
    shape = ds.shape
    if shape is None:  # a null dataspace holds nothing
        return 0
    itemsize = 16 if ds.dtype.kind == "O" else ds.dtype.itemsize  # vlen: a heap reference
    return declared_bytes(shape, np.dtype(np.uint8)) * max(itemsize, 1)


def h5_kind(ds: Any) -> str:
    """``"str"`` for a (variable or fixed length) string dataset, else the numpy dtype's
    name; read from the header only."""
    import h5py

    if h5py.check_string_dtype(ds.dtype) is not None:
        return "str"
    return str(ds.dtype)


def open_h5(path: Path, source: str) -> Any:
    """``h5py.File(path, "r")`` audited (:func:`audit_h5`); the caller closes it."""
    import h5py

    size = path.stat().st_size
    h = h5py.File(path, "r")
    try:
        audit_h5(h, source, size)
    except BaseException:
        h.close()
        raise
    return h


# --------------------------------------------------------------------------- NPZ


class NpzIndex:
    """Every array of an ``.npz`` by name: its shape and dtype, read from the ``.npy`` headers
    (``allow_pickle`` never on). Raises :class:`DataError` for a member that is not an ``.npy``,
    an object dtype, or a total declared size over :func:`size_cap`."""

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source
        file_bytes = path.stat().st_size
        cap = size_cap(file_bytes)
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        total = 0
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    raise DataError(f"{source}: member '{info.filename}' is not an .npy array")
                name = info.filename[: -len(".npy")]
                with z.open(info) as f:
                    shape, dtype = _npy_header(f, source, name)
                if dtype.hasobject:
                    raise DataError(
                        f"{source}: '{name}' is an object array (pickled inside the file); refused"
                    )
                nbytes = declared_bytes(shape, dtype)
                total += max(nbytes, info.file_size)
                if total > cap:
                    raise _over_cap(source, name, total, file_bytes)
                self.headers[name] = (shape, dtype)


def _npy_header(f: Any, source: str, name: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f, max_header_size=10_000)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(f, max_header_size=10_000)
        else:
            raise ValueError(f"npy format version {version}")
    except (ValueError, EOFError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{source}: '{name}' has no valid .npy header ({first})") from None
    if any(d < 0 for d in shape):
        raise DataError(f"{source}: '{name}' declares a negative shape {shape}")
    return tuple(shape), dtype
