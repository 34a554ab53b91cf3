"""Hand-made hostile pickles: each would run code, read foreign memory, exhaust memory or
crash the interpreter under a plain ``pickle.load``. Built opcode by opcode (protocol 2), so
that no hostile object ever exists in the test process."""

from __future__ import annotations

import pickle
import struct

PROTO = b"\x80\x02"


def _str(s: str) -> bytes:
    b = s.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(b)) + b


def _int(n: int) -> bytes:
    if 0 <= n < 2**31:
        return pickle.BININT + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return pickle.LONG1 + bytes([len(raw)]) + raw


def _bytes(b: bytes) -> bytes:
    return pickle.BINBYTES + struct.pack("<I", len(b)) + b


def glob(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def call(module: str, name: str, *args: bytes) -> bytes:
    """``module.name(*args)`` (args already encoded)."""
    return glob(module, name) + pickle.MARK + b"".join(args) + pickle.TUPLE + pickle.REDUCE


def dump(body: bytes) -> bytes:
    return PROTO + body + pickle.STOP


def os_system(marker: str) -> bytes:
    return dump(call("os", "system", _str(f"touch {marker}")))


def in_train_split(value: bytes) -> bytes:
    """``{'train': {'text': value}}``: the payload where a loader would look."""
    return dump(
        pickle.EMPTY_DICT
        + _str("train")
        + pickle.EMPTY_DICT
        + _str("text")
        + value
        + pickle.SETITEM
        + pickle.SETITEM
    )


def dtype_state(kind: str, state: bytes) -> bytes:
    """``numpy.dtype(kind)`` with BUILD ``state`` applied."""
    return (
        call("numpy", "dtype", _str(kind), pickle.NEWFALSE, pickle.NEWTRUE) + state + pickle.BUILD
    )


def _tuple(*items: bytes) -> bytes:
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def structured_dtype_array(offset: int, n: int = 4) -> bytes:
    """An ndarray of ``n`` ids whose void dtype (itemsize 8) has a field at ``offset``: numpy
    would read ``offset - 8`` bytes past each item (process heap) when the ids are read."""
    fields = (
        pickle.EMPTY_DICT
        + _str("a")
        + _tuple(dtype_state("S8", _tuple(_int(3), _str("|"), pickle.NONE, pickle.NONE,
                                          pickle.NONE, _int(8), _int(1), _int(0))),
                 _int(offset))
        + pickle.SETITEM
    )  # fmt: skip
    state = _tuple(
        _int(3), _str("|"), pickle.NONE, _tuple(_str("a")), fields, _int(8), _int(1), _int(16)
    )
    dt = dtype_state("V8", state)
    return array_with_dtype(dt, (n,), b"\x00" * (8 * n))


def array_with_dtype(dt: bytes, shape: tuple[int, ...], raw: bytes) -> bytes:
    """numpy's own array pickle path: ``_reconstruct(ndarray, (0,), b'b')`` + BUILD."""
    return (
        call("numpy.core.multiarray", "_reconstruct", glob("numpy", "ndarray"),
             _tuple(_int(0)), _bytes(b"b"))
        + _tuple(_int(1), _tuple(*[_int(d) for d in shape]), dt, pickle.NEWFALSE, _bytes(raw))
        + pickle.BUILD
    )  # fmt: skip


def plain_dtype(kind: str = "f4") -> bytes:
    order = "|" if kind[0] in "bSO" else "<"
    return dtype_state(
        kind,
        _tuple(_int(3), _str(order), pickle.NONE, pickle.NONE, pickle.NONE, _int(-1), _int(-1),
               _int(0)),
    )  # fmt: skip


def dtype_with_fields_on_float() -> bytes:
    fields = pickle.EMPTY_DICT + _str("a") + _tuple(plain_dtype("f8"), _int(4096)) + pickle.SETITEM
    state = _tuple(
        _int(3), _str("<"), pickle.NONE, _tuple(_str("a")), fields, _int(8), _int(1), _int(16)
    )
    return array_with_dtype(dtype_state("f8", state), (2,), b"\x00" * 16)


def subarray_dtype() -> bytes:
    state = _tuple(
        _int(3), _str("|"), _tuple(plain_dtype("f8"), _tuple(_int(1000))), pickle.NONE,
        pickle.NONE, _int(8), _int(1), _int(0),
    )  # fmt: skip
    return array_with_dtype(dtype_state("V8", state), (1,), b"\x00" * 8)


def huge_declared_array() -> bytes:
    """A (16, 25e6, 25) float32 array (37 GiB) declared with a 40-byte buffer."""
    return array_with_dtype(plain_dtype("f4"), (16, 25_000_000, 25), b"\x00" * 40)


def ndarray_call() -> bytes:
    """``numpy.ndarray((16, 25e6, 25))``: uninitialised memory, 37 GiB of it."""
    return call("numpy", "ndarray", _tuple(_int(16), _int(25_000_000), _int(25)), _str("f4"))


def ndarray_newobj() -> bytes:
    return glob("numpy", "ndarray") + _tuple(_tuple(_int(1000), _int(1000))) + pickle.NEWOBJ


def frombuffer_mismatch() -> bytes:
    return call(
        "numpy.core.numeric", "_frombuffer", _bytes(b"\x00" * 8), plain_dtype("f8"),
        _tuple(_int(1000), _int(1000)), _str("C"),
    )  # fmt: skip


def bytes_bomb(name: str = "bytes") -> bytes:
    return call("builtins", name, _int(10**12))


def codec_call(encoding: str) -> bytes:
    return call("_codecs", "encode", _str("abc"), _str(encoding))


def scalar_short() -> bytes:
    return call("numpy.core.multiarray", "scalar", plain_dtype("f8"), _bytes(b"\x01"))


def negative_shape() -> bytes:
    return array_with_dtype(plain_dtype("f4"), (-4,), b"")


def deep_tuple_key(depth: int = 1_000_000) -> bytes:
    """``{((((...),),),): 1}``: hashing the key recurses ``depth`` deep in C."""
    return dump(
        pickle.EMPTY_DICT + pickle.EMPTY_TUPLE + pickle.TUPLE1 * depth + _int(1) + pickle.SETITEM
    )


def deep_list(depth: int = 200_000) -> bytes:
    return dump(pickle.EMPTY_LIST * depth + pickle.APPEND * (depth - 1))


def deep_dict(depth: int = 100_000) -> bytes:
    return dump(
        (pickle.EMPTY_DICT + _str("k")) * depth + pickle.EMPTY_DICT + pickle.SETITEM * depth
    )


def self_containing_list() -> bytes:
    return dump(
        pickle.EMPTY_LIST + pickle.BINPUT + b"\x00" + pickle.BINGET + b"\x00" + pickle.APPEND
    )


def persistent_id() -> bytes:
    return dump(_str("a") + pickle.BINPERSID)


def build_on_dict() -> bytes:
    return dump(pickle.EMPTY_DICT + pickle.EMPTY_DICT + _str("x") + _int(1) + pickle.SETITEM
                + pickle.BUILD)  # fmt: skip


def defaultdict_factory(module: str, name: str) -> bytes:
    return dump(call("collections", "defaultdict", glob(module, name)))


def _put(i: int) -> bytes:
    return pickle.LONG_BINPUT + struct.pack("<I", 10**6 + i)


def _get(i: int) -> bytes:
    return pickle.LONG_BINGET + struct.pack("<I", 10**6 + i)


def shared_leaves(levels: int = 7, fanout: int = 10) -> bytes:
    """A list whose expansion has ``fanout ** levels`` leaves (10^7) in a few hundred bytes:
    each level is a list of ``fanout`` references to the level below. Leaves one object on
    the stack (memo slots far above what a pickler uses, so it can be embedded)."""
    body = _str("x") + _put(0) + pickle.POP
    for lvl in range(1, levels + 1):
        body += pickle.EMPTY_LIST + pickle.MARK + _get(lvl - 1) * fanout + pickle.APPENDS
        body += _put(lvl) + pickle.POP
    return body + _get(levels)


def repeated(value: bytes, n: int) -> bytes:
    """A list of ``n`` copies of the object ``value`` builds (built once, then referenced)."""
    return (
        pickle.EMPTY_LIST + value + _put(99) + pickle.APPEND + (_get(99) + pickle.APPEND) * (n - 1)
    )


PLACEHOLDER = "@@HOSTILE@@"


def embed(obj: object, hostile: bytes) -> bytes:
    """Pickle ``obj`` (protocol 2) with the string :data:`PLACEHOLDER` in it replaced by the
    object the opcodes ``hostile`` build."""
    blob = pickle.dumps(obj, protocol=2)
    marker = _str(PLACEHOLDER)
    assert blob.count(marker) == 1
    return blob.replace(marker, hostile)
