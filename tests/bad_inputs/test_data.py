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


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)
