"""The restricted unpickler admits data (numpy arrays, builtin containers) and nothing else."""

from __future__ import annotations

import collections
import os
import pickle
import struct

import numpy as np
import pytest

from osan.data.domain import DataError
from osan.data.safe_pickle import safe_load, safe_loads


class _Hostile:
    """Unpickling this runs ``touch <marker>`` through ``os.system``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _data() -> dict:
    return {
        "train": {
            "text": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
            "id": np.array(["a$_$1", "b$_$2"]),
            "names": np.array(["x", "y"], dtype=object),
            "lengths": [3, 2],
        },
        "scalar": np.float64(1.5),
        "int_scalar": np.int64(7),
        "dtype": np.dtype("<f4"),
        "misc": (1, 2.0, 3j, True, None, b"raw", frozenset({1}), {2, 3}, bytearray(b"z")),
        "ordered": collections.OrderedDict(a=1),
        "default": collections.defaultdict(list, {"k": [1]}),
    }


def _assert_same(a: object, b: object) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert type(a) is type(b) and a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_admits_numpy_arrays_and_builtin_containers(tmp_path, protocol):
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(_data(), protocol=protocol))
    _assert_same(_data(), safe_load(path))


def test_refuses_os_system_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"train": [_Hostile(str(marker))]}))
    with pytest.raises(DataError) as e:
        safe_load(path)
    msg = str(e.value)
    assert str(path) in msg and "system'" in msg and "refused" in msg
    assert "only numpy arrays and builtin containers are allowed" in msg
    assert "\n" not in msg
    assert not marker.exists()
    # control: the payload is live, plain pickle would have run it
    pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    "module, name",
    [
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("numpy", "load"),
        ("subprocess", "Popen"),
        ("collections", "namedtuple"),
        ("copyreg", "_reconstructor"),
    ],
)
def test_refuses_every_other_global(module, name):
    payload = f"c{module}\n{name}\n(S'1'\ntR.".encode()
    with pytest.raises(DataError, match=f"refused to unpickle '{module}.{name}'"):
        safe_loads(payload, source="evil.pkl")


def test_refuses_persistent_ids():
    with pytest.raises(DataError, match="persistent id"):
        safe_loads(b"\x80\x02X\x01\x00\x00\x00aQ.", source="p.pkl")


def test_truncated_or_corrupt_file_is_a_data_error(tmp_path):
    blob = pickle.dumps(_data(), protocol=4)
    cases = {
        "cut.pkl": blob[: len(blob) // 2],
        "noise.pkl": np.random.default_rng(0).bytes(300),
        "empty.pkl": b"",
        "text.pkl": b"id,text,label\n",
    }
    for fname, content in cases.items():
        path = tmp_path / fname
        path.write_bytes(content)
        with pytest.raises(DataError, match="truncated or corrupt pickle") as e:
            safe_load(path)
        assert str(path) in str(e.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        safe_load(tmp_path / "nope.pkl")


class _Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` (BINSTRING), as numpy arrays pickled by Python 2."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def test_python2_pickles_load_through_the_latin1_fallback(tmp_path):
    import io

    x = np.linspace(-3, 3, 40).reshape(4, 10)  # float64 buffer full of bytes >= 0x80
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump({"train": {"labels": x, "id": ["a", "b"]}})
    path = tmp_path / "py2.pkl"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnicodeDecodeError):  # what a default unpickler does with it
        pickle.loads(buf.getvalue())
    out = safe_load(path)
    np.testing.assert_array_equal(out["train"]["labels"], x)
    assert out["train"]["id"] == ["a", "b"]


def test_structured_dtype_that_would_read_foreign_memory_is_refused():
    """Issue 14: a void dtype whose field lies at offset 4096 of an 8-byte item. Under plain
    pickle the array exists with that layout (reading its ids copies process memory, e.g. text
    of this interpreter's heap, into an output); the safe loader refuses the dtype itself."""
    from tests import hostile as H

    blob = H.in_train_split(H.structured_dtype_array(1 << 12, n=4))
    plain = pickle.loads(blob)["train"]["text"]  # the control: the payload is live
    assert plain.dtype.fields["a"][1] > plain.dtype.itemsize
    with pytest.raises(DataError, match="only plain numeric, bool, string and object dtypes"):
        safe_loads(blob, source="ids.pkl")


@pytest.mark.parametrize("kind", ["<f4", ">f8", "<i8", "|b1", "<U7", "|S3", "<c16", "<u2", "|O"])
def test_every_plain_dtype_round_trips_through_the_rebuilt_state(kind):
    """Whatever plain pickle gives for a plain dtype, the safe loader gives too."""
    x = np.arange(3).astype(kind)
    for protocol in (2, 4, 5):
        blob = pickle.dumps({"x": x, "d": x.dtype}, protocol=protocol)
        got, want = safe_loads(blob), pickle.loads(blob)
        assert got["x"].dtype == want["x"].dtype and got["d"] == want["d"] == x.dtype
        np.testing.assert_array_equal(got["x"], want["x"])
