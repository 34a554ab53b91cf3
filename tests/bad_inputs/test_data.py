# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan data inspect | generate | encode-text | convert`` on bad files and arguments: hostile pickles, malformed content, and (issue 26) HDF5/NPZ bombs and files that reach outside themselves.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests import hostile as H
from tests.bad_inputs.common import (
    _DEL,
    _HOSTILE,
    Table,
    W,
    _npz_with_object,
    _set,
    check_bounded,
    check_in_process,
    inspect,
)

T = Table()
add = T.add


# ---- data inspect: files that are not data files ----
add("inspect/missing", inspect(lambda w: w.case / "nope.pkl"), expect="not found")
add("inspect/directory", inspect(lambda w: w.case), expect="directory")
add("inspect/fifo", inspect(lambda w: w.fifo("pipe.pkl")), expect="not a regular file")
add(
    "inspect/dev-zero-symlink",
    inspect(lambda w: w.symlink("zero.pkl", "/dev/zero")),
    expect="not a regular file",
)
add(
    "inspect/dev-null-symlink",
    inspect(lambda w: w.symlink("null.pkl", "/dev/null")),
    expect="not a regular file",
)
add(
    "inspect/dangling-symlink",
    inspect(lambda w: w.symlink("dangle.pkl", "/nonexistent/x")),
    expect="file not found",
)
add("inspect/empty", inspect(lambda w: w.file("e.pkl", b"")), expect="corrupt")
add(
    "inspect/noise",
    inspect(lambda w: w.file("n.pkl", np.random.default_rng(0).bytes(999))),
    expect="corrupt pickle",
)
add(
    "inspect/text",
    inspect(lambda w: w.file("t.pkl", "id,text,label\n1,a,0\n")),
    expect="corrupt pickle",
)
add(
    "inspect/truncated",
    inspect(lambda w: w.file("cut.pkl", w.src.read_bytes()[: w.src.stat().st_size // 2])),
    expect="corrupt",
)
add("inspect/unknown-suffix", inspect(lambda w: w.file("a.bin", b"x")), expect="name it .pkl")
add(
    "inspect/no-suffix",
    inspect(lambda w: w.file("data", w.src.read_bytes())),
    expect="cannot tell the format",
)
add("inspect/csd", inspect(lambda w: w.file("a.csd", b"x")), expect="computational sequence")
add(
    "inspect/gzip",
    inspect(lambda w: w.file("g.pkl", b"\x1f\x8b\x08\x00" + b"\x00" * 50)),
    expect="corrupt pickle",
)
add(
    "inspect/bad-task",
    inspect(lambda w: w.src, "--task", "ranking"),
    expect="invalid choice: 'ranking'",
)
add(
    "inspect/bad-nan-policy",
    inspect(lambda w: w.src, "--nan-policy", "drop"),
    expect="invalid choice: 'drop'",
)
add("inspect/no-file-arg", lambda w: ["data", "inspect"], expect="required: file")
add(
    "inspect/unknown-option",
    inspect(lambda w: w.src, "--format", "mmsa"),
    expect="unrecognized arguments: --format",
)
for _name, _make in _HOSTILE.items():
    add(
        f"inspect/hostile/{_name}",
        (lambda make, name: lambda w: ["data", "inspect", str(w.file(f"{name}.pkl", make(w)))])(
            _make, _name
        ),
        expect="expected strings" if _name == "ids-1e7-shared-leaves" else "refused",
    )
_CONTENT: dict[str, tuple[Callable[[dict], object], str]] = {
    "missing-valid": (lambda o: o.pop("valid"), "valid"),
    "split-not-dict": (lambda o: o.__setitem__("train", [1, 2]), "train"),
    "missing-modality-in-test": (_set("test", "audio", _DEL), "audio"),
    "rows-mismatch": (_set("train", "audio", lambda s: s["audio"][:-1]), "audio"),
    "2d-features": (_set("train", "text", lambda s: s["text"][:, 0]), "text"),
    "4d-features": (_set("train", "text", lambda s: s["text"][..., None]), "text"),
    "nan-features": (_set("train", "text", lambda s: s["text"] * np.nan), "NaN"),
    "inf-features": (_set("valid", "vision", lambda s: s["vision"] + np.inf), "NaN/Inf"),
    "1e300-features": (
        _set("train", "audio", lambda s: s["audio"].astype("f8") * 1e300),
        "float32",
    ),
    "string-features": (_set("train", "text", lambda s: s["text"].astype(str)), "numeric"),
    "object-features": (_set("train", "text", lambda s: s["text"].astype(object)), "numeric"),
    "complex-features": (_set("train", "text", lambda s: s["text"] + 1j), "numeric"),
    "empty-feature-axis-no-lengths": (
        lambda o: [
            o["train"].pop("text_lengths"),
            o["train"].__setitem__("text", np.zeros((len(o["train"]["id"]), 0, 10), "f4")),
        ],
        "empty feature axis",
    ),  # fmt: skip
    "zero-feature-dim": (
        _set("train", "text", lambda s: np.zeros((len(s["id"]), 6, 0), "f4")),
        "empty feature axis",
    ),
    "labels-out-of-range": (
        _set("train", "regression_labels", lambda s: s["regression_labels"] * 10),
        "[-3, 3]",
    ),
    "labels-wrong-shape": (
        _set("train", "regression_labels", lambda s: s["regression_labels"][:3]),
        "labels",
    ),
    "labels-nan": (
        _set("train", "regression_labels", lambda s: s["regression_labels"] * np.nan),
        "NaN",
    ),
    "labels-strings": (
        _set("train", "regression_labels", lambda s: s["regression_labels"].astype(str)),
        "numeric",
    ),
    "lengths-too-long": (
        _set("train", "text_lengths", lambda s: s["text_lengths"] + 100),
        "lengths",
    ),
    "lengths-zero": (_set("train", "text_lengths", lambda s: s["text_lengths"] * 0), "lengths"),
    "lengths-fractional": (
        _set("train", "text_lengths", lambda s: s["text_lengths"] + 0.5),
        "whole",
    ),
    "lengths-wrong-shape": (
        _set("train", "text_lengths", lambda s: s["text_lengths"][:2]),
        "lengths",
    ),
    "ids-wrong-count": (_set("train", "id", lambda s: s["id"][:3]), "id"),
    "ids-nested-lists": (_set("train", "id", lambda s: [[["a"]]] * len(s["id"])), "strings"),
    "ids-an-int": (_set("train", "id", 7), "id"),
    "raw-text-wrong-count": (_set("train", "raw_text", lambda s: s["raw_text"][:1]), "raw_text"),
    "empty-split": (
        lambda o: o.__setitem__("test", {k: v[:0] for k, v in o["test"].items()}),
        "empty",
    ),
    "meta-not-dict": (lambda o: o.__setitem__("meta", [1]), "meta"),
    "meta-classes-int": (lambda o: o["meta"].__setitem__("classes", 3), "classes"),
    "meta-classes-dict": (lambda o: o["meta"].__setitem__("classes", {"a": 1}), "classes"),
    "meta-modalities-str": (lambda o: o["meta"].__setitem__("modalities", "text"), "modalities"),
    "meta-task-bogus": (lambda o: o["meta"].__setitem__("task", "ranking"), "task"),
    "meta-task-list": (lambda o: o["meta"].__setitem__("task", ["regression"]), "task"),
    "meta-name-dict": (lambda o: o["meta"].__setitem__("name", {"x": 1}), "name"),
    "dev-and-valid": (lambda o: o.__setitem__("dev", o["valid"]), "dev"),
    "no-splits": (lambda o: [o.pop(s) for s in ("train", "valid", "test")], "split"),
    "top-level-list": (lambda o: None, "layout"),
    "labels-only": (
        lambda o: o.__setitem__("train", {"regression_labels": np.zeros(3)}),
        "modality",
    ),
}
for _name, (_edit, _expect) in _CONTENT.items():
    if _name == "top-level-list":
        add(
            f"inspect/content/{_name}", inspect(lambda w: w.pkl("l.pkl", [1, 2, 3])), expect=_expect
        )
        continue
    add(
        f"inspect/content/{_name}",
        (lambda e, n: lambda w: ["data", "inspect", str(w.mmsa(f"{n}.pkl", e))])(_edit, _name),
        expect=_expect,
    )
add(
    "inspect/1e300-nan-policy-zero",
    lambda w: ["data", "inspect", "--nan-policy", "zero",
               str(w.mmsa("big.pkl", _set("train", "audio", lambda s: s["audio"].astype("f8") * 1e300)))],
    expect="float32",
)  # fmt: skip
add(
    "inspect/classification-task-on-regression-file",
    inspect(lambda w: w.src, "--task", "classification"),
    expect="--task regression",
)
add(
    "inspect/wordaligned-bad-sample",
    inspect(lambda w: w.pkl("wa.pkl", [((np.zeros(2), np.zeros((2, 3))), 1.0, "a")])),
    expect="field 'sample 0'",
)
add(
    "inspect/wordaligned-nested-words",
    inspect(
        lambda w: w.pkl(
            "wa2.pkl",
            [((np.zeros(2), np.zeros((2, 3)), np.zeros((2, 4)), [[["w"]]]), np.zeros((1, 1)), "a")],
        )
    ),
    expect="expected strings",
)
add(
    "inspect/mult-labels-wrong",
    inspect(
        lambda w: w.pkl(
            "mult.pkl",
            {s: {"text": np.ones((4, 3, 2), "f4"), "labels": np.zeros((4, 3))}
             for s in ("train", "valid", "test")},
        )
    ), expect="field 'labels'"
)  # fmt: skip

# ---- data generate ----
for _size in ("abc", "-1", "0", "inf", "nan", "1e9", ""):
    add(f"generate/size={_size!r}", (lambda v: lambda w: ["data", "generate", "msa", "--out", str(w.case / "g"), "--size", v])(_size), absent=("g",), expect="--size")  # fmt: skip
add("generate/dims-bogus", lambda w: ["data", "generate", "msa", "--out", str(w.case / "g"), "--dims", "bogus"], absent=("g",), expect="invalid choice: 'bogus'")  # fmt: skip
add("generate/dims-on-vtc", lambda w: ["data", "generate", "vtc", "--out", str(w.case / "g"), "--dims", "mmsa"], absent=("g",), expect='--dims applies to msa only')  # fmt: skip
add("generate/name-bogus", lambda w: ["data", "generate", "imdb", "--out", str(w.case / "g")], absent=("g",), expect="invalid choice: 'imdb'")  # fmt: skip
add("generate/no-out", lambda w: ["data", "generate", "msa"], expect="required: --out")
add("generate/out-is-file", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.file("f", "keep"))], expect="not a folder")  # fmt: skip
add("generate/out-under-file", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.file("f", "keep") / "sub")], expect='Not a directory')  # fmt: skip
add("generate/seed-negative", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.case / "g"), "--seed", "-1"], absent=("g",), expect='--seed must lie')  # fmt: skip
add("generate/seed-2^64", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.case / "g"), "--seed", str(2**64)], absent=("g",), expect='--seed must lie')  # fmt: skip
add("generate/seed-text", lambda w: ["data", "generate", "msa", "--out", str(w.case / "g"), "--seed", "one"], absent=("g",), expect='invalid int value')  # fmt: skip
add("encode-text/out-is-folder", lambda w: ["data", "encode-text", str(w.file("label.csv", "a,b\n")), "--out", str(w.case)], expect='is a folder')  # fmt: skip
add("encode-text/missing-csv", lambda w: ["data", "encode-text", str(w.case / "none.csv"), "--out", str(w.case / "x.pkl")], absent=("x.pkl",), expect='file not found')  # fmt: skip


# ---- data convert ----
def convert(w: W, *extra: str, src=None, out=None) -> list[str]:
    return ["data", "convert", str(src or w.src), "--out", str(out or w.case / "c.h5"), *extra]


add(
    "convert/format-bogus",
    lambda w: convert(w, "--format", "bogus"),
    absent=("c.h5",),
    expect="--format bogus",
)
add(
    "convert/format-csd",
    lambda w: convert(w, "--format", "csd"),
    absent=("c.h5",),
    expect="--format csd",
)
add(
    "convert/out-suffix-txt",
    lambda w: convert(w, out=w.case / "c.txt"),
    absent=("c.txt",),
    expect="write .h5",
)
add("convert/out-is-folder", lambda w: convert(w, out=w.case), expect="write .h5")
add("convert/out-is-input", lambda w: convert(w, out=w.file("in.pkl", w.src.read_bytes()), src=w.case / "in.pkl"), expect='overwrite the input')  # fmt: skip
add(
    "convert/out-unwritable",
    lambda w: convert(w, out=Path("/proc/osan-c.h5")),
    expect="/proc/osan-c.h5: No such file",
)
add(
    "convert/input-missing",
    lambda w: convert(w, src=w.case / "none.pkl"),
    absent=("c.h5",),
    expect="file not found",
)
add(
    "convert/input-fifo",
    lambda w: convert(w, src=w.fifo("p.pkl")),
    absent=("c.h5",),
    expect="not a regular file",
)
add("convert/input-hostile", lambda w: convert(w, src=w.file("h.pkl", H.os_system(str(w.marker)))), absent=("c.h5",), expect="refused to unpickle 'os.system'")  # fmt: skip
add("convert/input-structured-dtype", lambda w: convert(w, src=w.file("h.pkl", _HOSTILE["ids-structured-dtype"](w))), absent=("c.h5",), expect='refused to unpickle')  # fmt: skip
add("convert/split-on-mmsa", lambda w: convert(w, "--split", "dev"), absent=("c.h5",), expect="word-aligned")  # fmt: skip
add("convert/task-mismatch", lambda w: convert(w, "--task", "classification"), absent=("c.h5",), expect='holds regression labels')  # fmt: skip
add("convert/1e300", lambda w: convert(w, src=w.mmsa("big.pkl", _set("train", "audio", lambda s: s["audio"].astype("f8") * 1e300))), absent=("c.h5",), expect="float32")  # fmt: skip
add("convert/npz-garbage-input", lambda w: convert(w, src=w.file("g.npz", b"PK\x03\x04garbage")), absent=("c.h5",), expect='corrupt npz file')  # fmt: skip
add("convert/h5-garbage-input", lambda w: convert(w, src=w.file("g.h5", b"\x89HDF\r\n\x1a\ngarbage"), out=w.case / "c.npz"), absent=("c.npz",), expect='corrupt h5 file')  # fmt: skip
add("convert/npz-with-pickled-object", lambda w: convert(w, src=_npz_with_object(w)), absent=("c.h5",), expect='object array')  # fmt: skip
add(
    "inspect/npz-with-pickled-object",
    lambda w: ["data", "inspect", str(_npz_with_object(w))],
    expect="object array",
)


def _npz_bomb(w: W) -> Path:
    """A 600-byte .npz whose arrays declare shape (16, 25e6, 25): 37 GiB."""
    import io
    import zipfile

    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        hdr, {"descr": "<f4", "fortran_order": False, "shape": (16, 25_000_000, 25)}
    )
    p = w.case / "bomb.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("meta.npy", hdr.getvalue())
        z.writestr("train__text.npy", hdr.getvalue() + b"\x00" * 100)
    return p


add(
    "inspect/npz-declares-37GiB",
    lambda w: ["data", "inspect", str(_npz_bomb(w))],
    expect="declared size",
)


add("data/no-subcommand", lambda w: ["data"], expect="required: data_command")
add("no-command", lambda w: [], expect="required: command")
add("unknown-command", lambda w: ["fit"], expect="invalid choice: 'fit'")


# ---- --out where the OS refuses to create anything (read-only for root too: /proc) ----
add("generate/out-unwritable", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", "/proc/osan-out"], expect='/proc/osan-out: No such file')  # fmt: skip


# ---- issue 26: pickle-free files (.h5 / .npz) that declare too much or reach outside ----
def _h5(w: W, name: str, edit: Callable) -> Path:
    """The toy source as an osan ``.h5`` (our writer), then ``edit(h5py.File, w)`` applied."""
    import h5py

    from osan.data.io import load_domain
    from osan.data.portable import save_portable

    p = w.case / name
    save_portable(load_domain(w.src), p)
    with h5py.File(p, "a") as h:
        edit(h, w)
    return p


def _text_shape(h) -> tuple[int, int, int]:
    return h["train/features/text"].shape


def _replace(h, key: str, **kw) -> None:
    del h[key]
    h.create_dataset(key, **kw)


def _declared_bomb(h, w) -> None:
    """train/features/text: an unwritten float32 dataset of 3.4 GB (the file stays ~100 KB)."""
    n, _, d = _text_shape(h)
    _replace(h, "train/features/text", shape=(n, 3_400_000_000 // (4 * n * d), d), dtype="f4")


def _gzip_bomb(h, w) -> None:
    """train/features/text: 64 MiB of zeros, gzip-compressed to a few KB."""
    n, _, d = _text_shape(h)
    data = np.zeros((n, (64 << 20) // (4 * n * d), d), "f4")
    _replace(h, "train/features/text", data=data, compression="gzip", chunks=(1, 64, d))


def _external_storage(h, w) -> None:
    """train/features/text: raw data in an outside file (named by absolute path)."""
    shape = _text_shape(h)
    secret = w.secret_file(int(np.prod(shape)) * 4)
    _replace(h, "train/features/text", shape=shape, dtype="f4", external=[(str(secret), 0, secret.stat().st_size)])  # fmt: skip


def _outside_h5(w: W, shape: tuple[int, ...]) -> Path:
    import h5py

    w.secret_file(16)
    p = w.outside / "other.h5"
    with h5py.File(p, "w") as o:
        raw = np.frombuffer(w.outside.joinpath("secret.bin").read_bytes(), "u1")
        o.create_dataset(
            "data", data=np.resize(raw, int(np.prod(shape)) * 4).view("f4").reshape(shape)
        )
    return p


def _external_link(h, w) -> None:
    other = _outside_h5(w, _text_shape(h))
    del h["train/features/text"]
    h["train/features/text"] = h5py_module().ExternalLink(str(other), "/data")


def _virtual(h, w) -> None:
    h5py = h5py_module()
    shape = _text_shape(h)
    other = _outside_h5(w, shape)
    layout = h5py.VirtualLayout(shape=shape, dtype="f4")
    layout[...] = h5py.VirtualSource(str(other), "data", shape=shape)
    del h["train/features/text"]
    h.create_virtual_dataset("train/features/text", layout)


def _soft(target: str) -> Callable:
    def edit(h, w) -> None:
        del h["train/ids"]
        h["train/ids"] = h5py_module().SoftLink(target)

    return edit


def h5py_module():
    import h5py

    return h5py


def _dtype(key: str, make: Callable) -> Callable:
    def edit(h, w) -> None:
        old = h[key][()]
        _replace(h, key, data=make(old))

    return edit


def _meta(value: str) -> Callable:
    def edit(h, w) -> None:
        h.attrs["meta"] = value

    return edit


def _meta_with(**changes) -> Callable:
    def edit(h, w) -> None:
        import json

        head = json.loads(h.attrs["meta"])
        head.update(changes)
        h.attrs["meta"] = json.dumps(head)

    return edit


_H5: dict[str, tuple[Callable, str]] = {
    "declared-3.4GB-unwritten": (_declared_bomb, "declared size"),
    "gzip-64MiB-of-zeros": (_gzip_bomb, "declared size"),
    "external-storage": (_external_storage, "external file"),
    "external-link": (_external_link, "external link"),
    "virtual-dataset": (_virtual, "virtual dataset"),
    "soft-link-inside": (_soft("/valid/ids"), "soft link"),
    "soft-link-dangling": (_soft("/nowhere/ids"), "soft link"),
    "ids-as-integers": (_dtype("train/ids", lambda a: np.arange(len(a))), "split 'train', field 'ids': dtype int64, expected strings"),
    "features-float64": (_dtype("valid/features/audio", lambda a: a.astype("f8")), "split 'valid', field 'audio': dtype float64, expected float32"),
    "labels-as-strings": (_dtype("test/labels", lambda a: np.array([str(x) for x in a], dtype=object).astype("S")), "split 'test', field 'labels'"),
    "lengths-float": (_dtype("train/lengths/vision", lambda a: a.astype("f4")), "field 'lengths/vision': dtype float32, expected int64"),
    "meta-not-json": (_meta("{not json"), "'meta' is not valid JSON"),
    "meta-modalities-int": (_meta_with(modalities=3), "modalities must be a list"),
    "meta-version-text": (_meta_with(version="two"), "version must be an integer"),
}  # fmt: skip
for _name, (_edit, _exp) in _H5.items():
    add(f"inspect/h5/{_name}", (lambda e, n: lambda w: ["data", "inspect", str(_h5(w, f"{n}.h5", e))])(_edit, _name), expect=_exp)  # fmt: skip
    add(f"convert/h5/{_name}", (lambda e, n: lambda w: convert(w, src=_h5(w, f"{n}.h5", e), out=w.case / "c.npz"))(_edit, _name), absent=("c.npz",), expect=_exp)  # fmt: skip


def _npz(w: W, name: str, members: dict[str, bytes], compress: bool = False) -> Path:
    import zipfile

    p = w.case / name
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(p, "w", mode) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return p


def _npy(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _good_npz(w: W, edit: Callable[[dict], None]) -> Path:
    """The toy source as an osan ``.npz`` (our writer), its members edited by name."""
    import zipfile

    from osan.data.io import load_domain
    from osan.data.portable import save_portable

    ours = w.case / "ours.npz"
    save_portable(load_domain(w.src), ours)
    with zipfile.ZipFile(ours) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    ours.unlink()
    edit(members)
    return _npz(w, "src.npz", members, compress=True)


_NPZ: dict[str, tuple[Callable[[W], Path], str]] = {
    "deflated-64MiB-of-zeros": (lambda w: _good_npz(w, lambda m: m.__setitem__("train/features/text.npy", _npy(np.zeros((32, 4096, 128), "f4")))), "declared size"),
    "ids-as-integers": (lambda w: _good_npz(w, lambda m: m.__setitem__("train/ids.npy", _npy(np.arange(24)))), "split 'train', field 'ids': dtype int64, expected strings"),
    "features-float16": (lambda w: _good_npz(w, lambda m: m.__setitem__("test/features/text.npy", _npy(np.zeros((4, 2, 3), "f2")))), "field 'text': dtype float16"),
    "member-not-npy": (lambda w: _good_npz(w, lambda m: m.__setitem__("notes.txt", b"hello")), "not an .npy array"),
    "header-garbage": (lambda w: _good_npz(w, lambda m: m.__setitem__("train/ids.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': oops}")), "no valid .npy header"),
    "truncated": (lambda w: w.file("cut.npz", _good_npz(w, lambda m: None).read_bytes()[:5000]), "corrupt npz file"),
}  # fmt: skip
for _name, (_make, _exp) in _NPZ.items():
    add(f"inspect/npz/{_name}", (lambda m: lambda w: ["data", "inspect", str(m(w))])(_make), expect=_exp)  # fmt: skip
add("convert/npz/ids-as-integers", lambda w: convert(w, src=_NPZ["ids-as-integers"][0](w), out=w.case / "c.h5"), absent=("c.h5",), expect="dtype int64, expected strings")  # fmt: skip


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)


# Bombs and outside files again in a real process: memory bounded, nothing leaked.
B = Table()
B.add("inspect/h5/declared-3.4GB-unwritten", lambda w: ["data", "inspect", str(_h5(w, "b.h5", _declared_bomb))], expect="declared size")  # fmt: skip
B.add("convert/h5/declared-3.4GB-unwritten", lambda w: convert(w, src=_h5(w, "b.h5", _declared_bomb), out=w.case / "c.npz"), absent=("c.npz",), expect="declared size")  # fmt: skip
B.add("convert/h5/external-storage", lambda w: convert(w, src=_h5(w, "e.h5", _external_storage), out=w.case / "c.npz"), absent=("c.npz",), expect="external file")  # fmt: skip
B.add("convert/npz/deflated-64MiB-of-zeros", lambda w: convert(w, src=_NPZ["deflated-64MiB-of-zeros"][0](w), out=w.case / "c.h5"), absent=("c.h5",), expect="declared size")  # fmt: skip


@pytest.mark.parametrize("c", B.cases, ids=B.ids)
def test_bomb_in_a_real_process_stays_bounded(c, w):
    check_bounded(c, w)
