# ruff: noqa: E501  (a table of cases reads best one case per line)
"""The corpus of bad inputs and misuses (issue 14): every command, every case ends with exit
code 2, exactly one line on stderr, no traceback, and every file the user already had left
byte-for-byte (and mtime) as it was. Hostile files also prove that nothing ran (a marker file
stays absent) and that no output was written from them.

Most cases call ``osan.cli.main`` in this process (the exit path is the same);
``SUBPROCESS_CASES`` run the real ``osan`` entry point to show the same end to end.
Run just this corpus: ``.venv/bin/python -m pytest -q tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from osan.cli import main
from osan.data.mmsa import save_mmsa
from tests import hostile as H
from tests.helpers import TINY, toy_domains

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the workspace


@dataclass
class W:
    """Paths a case may use: shared fixtures under ``root`` (never to be changed) and the
    case's own folder ``case`` (files made there before the case runs count as the user's)."""

    root: Path
    case: Path
    base: dict  # the toy source as an unpickled MMSA dict (our own file)

    @property
    def src(self) -> Path:
        return self.root / "data" / "s.pkl"

    @property
    def tgt(self) -> Path:
        return self.root / "data" / "t.pkl"

    @property
    def tgt_unl(self) -> Path:
        return self.root / "data" / "t_unlabelled.pkl"

    @property
    def src_unl(self) -> Path:
        return self.root / "data" / "s_unlabelled.pkl"

    @property
    def other_dims(self) -> Path:
        return self.root / "data" / "other_dims.pkl"

    @property
    def other_mods(self) -> Path:
        return self.root / "data" / "other_mods.pkl"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def marker(self) -> Path:
        return self.case / "PWNED"

    def file(self, name: str, data: bytes | str) -> Path:
        p = self.case / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def pkl(self, name: str, obj: object) -> Path:
        return self.file(name, pickle.dumps(obj, protocol=4))

    def mmsa(self, name: str, edit: Callable[[dict], object]) -> Path:
        """The toy source with ``edit(obj)`` applied (in place)."""
        obj = copy.deepcopy(self.base)
        edit(obj)
        return self.pkl(name, obj)

    def copy_run(self, name: str = "runcopy") -> Path:
        dst = self.case / name
        dst.mkdir()
        for p in self.run.iterdir():
            if p.is_file():
                (dst / p.name).write_bytes(p.read_bytes())
        return dst

    def fifo(self, name: str) -> Path:
        p = self.case / name
        os.mkfifo(p)
        return p

    def symlink(self, name: str, target: str) -> Path:
        p = self.case / name
        p.symlink_to(target)
        return p


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """Toy data and one finished tiny run, made once per session."""
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    src, tgt = toy_domains(n=32)
    save_mmsa(src, data / "s.pkl")
    save_mmsa(tgt, data / "t.pkl")
    unl = copy.deepcopy(tgt)
    for sp in unl.splits.values():
        sp.labels = None
    save_mmsa(unl, data / "t_unlabelled.pkl")
    sunl = copy.deepcopy(src)
    for sp in sunl.splits.values():
        sp.labels = None
    save_mmsa(sunl, data / "s_unlabelled.pkl")
    _, other = toy_domains(n=32, target_dims={"text": 10, "vision": 7, "audio": 4})
    save_mmsa(other, data / "other_dims.pkl")
    _, mods = toy_domains(n=32, target_dims={"text": 10, "vision": 5, "pose": 4})
    save_mmsa(mods, data / "other_mods.pkl")
    argv = ["train", "--method", "source-only", "--source", str(data / "s.pkl")]
    argv += ["--target", str(data / "t.pkl"), "--out", str(root / "run"), "--quiet"]
    assert main([*argv, *TINY, "optim.epochs=1"]) == 0
    return root


def _snapshot(*roots: Path) -> dict[Path, tuple[bytes, int, int]]:
    """Bytes, mtime and mode of every regular file (but osan's own lock files, which record
    the pid of whoever holds the folder)."""
    out = {}
    for r in roots:
        for p in sorted(r.rglob("*")):
            st = p.lstat()
            if stat.S_ISREG(st.st_mode) and p.name != ".osan.lock":
                out[p] = (p.read_bytes(), st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return out


def _run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse
        return int(e.code) if e.code is not None else 0


# --------------------------------------------------------------------------- the cases


@dataclass
class Case:
    id: str
    argv: Callable[[W], list[str]]
    absent: tuple[str, ...] = ()  # paths (relative to the case folder) that must not appear
    expect: str = ""  # a fragment the one line must hold
    root_only: bool = False  # skip when running as root (permissions do not bind root)
    extra: dict = field(default_factory=dict)


CASES: list[Case] = []


def inspect(path_fn: Callable[[W], Path], *extra: str) -> Callable[[W], list[str]]:
    return lambda w: ["data", "inspect", str(path_fn(w)), *extra]


def add(id: str, fn: Callable[[W], list[str]], *, absent=(), expect: str = "") -> None:
    CASES.append(Case(id, fn, tuple(absent), expect))


# ---- data inspect: files that are not data files ----
add("inspect/missing", inspect(lambda w: w.case / "nope.pkl"), expect="not found")
add("inspect/directory", inspect(lambda w: w.case), expect="directory")
add("inspect/fifo", inspect(lambda w: w.fifo("pipe.pkl")), expect="not a regular file")
add("inspect/dev-zero-symlink", inspect(lambda w: w.symlink("zero.pkl", "/dev/zero")))
add("inspect/dev-null-symlink", inspect(lambda w: w.symlink("null.pkl", "/dev/null")))
add("inspect/dangling-symlink", inspect(lambda w: w.symlink("dangle.pkl", "/nonexistent/x")))
add("inspect/empty", inspect(lambda w: w.file("e.pkl", b"")), expect="corrupt")
add("inspect/noise", inspect(lambda w: w.file("n.pkl", np.random.default_rng(0).bytes(999))))
add("inspect/text", inspect(lambda w: w.file("t.pkl", "id,text,label\n1,a,0\n")))
add(
    "inspect/truncated",
    inspect(lambda w: w.file("cut.pkl", w.src.read_bytes()[: w.src.stat().st_size // 2])),
    expect="corrupt",
)
add("inspect/unknown-suffix", inspect(lambda w: w.file("a.bin", b"x")), expect="name it .pkl")
add("inspect/no-suffix", inspect(lambda w: w.file("data", w.src.read_bytes())))
add("inspect/csd", inspect(lambda w: w.file("a.csd", b"x")), expect="computational sequence")
add("inspect/gzip", inspect(lambda w: w.file("g.pkl", b"\x1f\x8b\x08\x00" + b"\x00" * 50)))
add("inspect/bad-task", inspect(lambda w: w.src, "--task", "ranking"))
add("inspect/bad-nan-policy", inspect(lambda w: w.src, "--nan-policy", "drop"))
add("inspect/no-file-arg", lambda w: ["data", "inspect"])
add("inspect/unknown-option", inspect(lambda w: w.src, "--format", "mmsa"))

# ---- data inspect: hostile pickles (nothing may run, nothing may be allocated) ----
_HOSTILE: dict[str, Callable[[W], bytes]] = {
    "os-system": lambda w: H.os_system(str(w.marker)),
    "subprocess": lambda w: H.dump(H.call("subprocess", "Popen", H._str(f"touch {w.marker}"))),
    "eval": lambda w: H.dump(H.call("builtins", "eval", H._str("1"))),
    "exec": lambda w: H.dump(H.call("builtins", "exec", H._str(f"open('{w.marker}','w')"))),
    "getattr": lambda w: H.dump(H.call("builtins", "getattr", H._str("x"), H._str("y"))),
    "import": lambda w: H.dump(H.call("builtins", "__import__", H._str("os"))),
    "numpy-load": lambda w: H.dump(H.call("numpy", "load", H._str("/etc/passwd"))),
    "copyreg": lambda w: H.dump(H.call("copyreg", "_reconstructor", H._str("x"))),
    "torch-load": lambda w: H.dump(H.call("torch", "load", H._str("/x"))),
    "pickle-loads": lambda w: H.dump(H.call("pickle", "loads", H._bytes(b"x"))),
    "numpy-fromfile": lambda w: H.dump(H.call("numpy", "fromfile", H._str("/etc/passwd"))),
    "persistent-id": lambda w: H.persistent_id(),
    "structured-dtype-offset": lambda w: H.in_train_split(H.structured_dtype_array(1 << 12)),
    "structured-dtype-far-offset": lambda w: H.in_train_split(H.structured_dtype_array(1 << 40)),
    "fields-on-float-dtype": lambda w: H.in_train_split(H.dtype_with_fields_on_float()),
    "subarray-dtype": lambda w: H.in_train_split(H.subarray_dtype()),
    "void-dtype": lambda w: H.in_train_split(H.call("numpy", "dtype", H._str("V16"))),
    "datetime-dtype": lambda w: H.in_train_split(H.call("numpy", "dtype", H._str("M8[s]"))),
    "37GiB-declared": lambda w: H.in_train_split(H.huge_declared_array()),
    "ndarray-call": lambda w: H.in_train_split(H.ndarray_call()),
    "ndarray-newobj": lambda w: H.in_train_split(H.ndarray_newobj()),
    "frombuffer-mismatch": lambda w: H.in_train_split(H.frombuffer_mismatch()),
    "bytes-bomb": lambda w: H.in_train_split(H.bytes_bomb("bytes")),
    "bytearray-bomb": lambda w: H.in_train_split(H.bytes_bomb("bytearray")),
    "codec-rot13": lambda w: H.in_train_split(H.codec_call("rot13")),
    "codec-zlib": lambda w: H.in_train_split(H.codec_call("zlib_codec")),
    "scalar-short-buffer": lambda w: H.in_train_split(H.scalar_short()),
    "negative-shape": lambda w: H.in_train_split(H.negative_shape()),
    "deep-tuple-key-1e6": lambda w: H.deep_tuple_key(1_000_000),
    "deep-tuple-key-5e3": lambda w: H.deep_tuple_key(5_000),
    "deep-list": lambda w: H.deep_list(200_000),
    "deep-dict": lambda w: H.deep_dict(50_000),
    "self-containing-list": lambda w: H.self_containing_list(),
    "build-on-dict": lambda w: H.build_on_dict(),
    "defaultdict-bytes-factory": lambda w: H.defaultdict_factory("builtins", "bytes"),
    "ids-1e7-shared-leaves": lambda w: H.embed(
        {**copy.deepcopy(w.base), "train": {**w.base["train"], "id": H.PLACEHOLDER}},
        H.repeated(H.shared_leaves(), len(w.base["train"]["id"])),
    ),
    "ids-structured-dtype": lambda w: H.embed(
        {**copy.deepcopy(w.base), "test": {**w.base["test"], "id": H.PLACEHOLDER}},
        H.structured_dtype_array(1 << 12, n=len(w.base["test"]["id"])),
    ),
}
for _name, _make in _HOSTILE.items():
    add(
        f"inspect/hostile/{_name}",
        (lambda make, name: lambda w: ["data", "inspect", str(w.file(f"{name}.pkl", make(w)))])(
            _make, _name
        ),
        expect="expected strings" if _name == "ids-1e7-shared-leaves" else "refused",
    )


# ---- data inspect: well-formed pickles with bad content (file, split and field named) ----
def _set(split: str, key: str, value) -> Callable[[dict], None]:
    def edit(o: dict) -> None:
        if value is _DEL:
            del o[split][key]
        else:
            o[split][key] = value(o[split]) if callable(value) else value

    return edit


_DEL = object()
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
)
add(
    "inspect/wordaligned-nested-words",
    inspect(
        lambda w: w.pkl(
            "wa2.pkl",
            [((np.zeros(2), np.zeros((2, 3)), np.zeros((2, 4)), [[["w"]]]), np.zeros((1, 1)), "a")],
        )
    ),
)
add(
    "inspect/mult-labels-wrong",
    inspect(
        lambda w: w.pkl(
            "mult.pkl",
            {s: {"text": np.ones((4, 3, 2), "f4"), "labels": np.zeros((4, 3))}
             for s in ("train", "valid", "test")},
        )
    ),
)  # fmt: skip

# ---- data generate ----
for _size in ("abc", "-1", "0", "inf", "nan", "1e9", ""):
    add(f"generate/size={_size!r}", (lambda v: lambda w: ["data", "generate", "msa", "--out", str(w.case / "g"), "--size", v])(_size), absent=("g",), expect="--size")  # fmt: skip
add("generate/dims-bogus", lambda w: ["data", "generate", "msa", "--out", str(w.case / "g"), "--dims", "bogus"], absent=("g",))  # fmt: skip
add("generate/dims-on-vtc", lambda w: ["data", "generate", "vtc", "--out", str(w.case / "g"), "--dims", "mmsa"], absent=("g",))  # fmt: skip
add("generate/name-bogus", lambda w: ["data", "generate", "imdb", "--out", str(w.case / "g")], absent=("g",))  # fmt: skip
add("generate/no-out", lambda w: ["data", "generate", "msa"])
add("generate/out-is-file", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.file("f", "keep"))], expect="not a folder")  # fmt: skip
add("generate/out-under-file", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.file("f", "keep") / "sub")])  # fmt: skip
add("generate/seed-negative", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.case / "g"), "--seed", "-1"], absent=("g",))  # fmt: skip
add("generate/seed-2^64", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", str(w.case / "g"), "--seed", str(2**64)], absent=("g",))  # fmt: skip
add("generate/seed-text", lambda w: ["data", "generate", "msa", "--out", str(w.case / "g"), "--seed", "one"], absent=("g",))  # fmt: skip
add("encode-text/out-is-folder", lambda w: ["data", "encode-text", str(w.file("label.csv", "a,b\n")), "--out", str(w.case)])  # fmt: skip
add("encode-text/missing-csv", lambda w: ["data", "encode-text", str(w.case / "none.csv"), "--out", str(w.case / "x.pkl")], absent=("x.pkl",))  # fmt: skip


# ---- data convert ----
def convert(w: W, *extra: str, src=None, out=None) -> list[str]:
    return ["data", "convert", str(src or w.src), "--out", str(out or w.case / "c.h5"), *extra]


add("convert/format-bogus", lambda w: convert(w, "--format", "bogus"), absent=("c.h5",))
add("convert/format-csd", lambda w: convert(w, "--format", "csd"), absent=("c.h5",))
add("convert/out-suffix-txt", lambda w: convert(w, out=w.case / "c.txt"), absent=("c.txt",))
add("convert/out-is-folder", lambda w: convert(w, out=w.case))
add("convert/out-is-input", lambda w: convert(w, out=w.file("in.pkl", w.src.read_bytes()), src=w.case / "in.pkl"))  # fmt: skip
add("convert/out-unwritable", lambda w: convert(w, out=Path("/proc/osan-c.h5")))
add("convert/input-missing", lambda w: convert(w, src=w.case / "none.pkl"), absent=("c.h5",))
add("convert/input-fifo", lambda w: convert(w, src=w.fifo("p.pkl")), absent=("c.h5",))
add("convert/input-hostile", lambda w: convert(w, src=w.file("h.pkl", H.os_system(str(w.marker)))), absent=("c.h5",))  # fmt: skip
add("convert/input-structured-dtype", lambda w: convert(w, src=w.file("h.pkl", _HOSTILE["ids-structured-dtype"](w))), absent=("c.h5",))  # fmt: skip
add("convert/split-on-mmsa", lambda w: convert(w, "--split", "dev"), absent=("c.h5",), expect="word-aligned")  # fmt: skip
add("convert/task-mismatch", lambda w: convert(w, "--task", "classification"), absent=("c.h5",))  # fmt: skip
add("convert/1e300", lambda w: convert(w, src=w.mmsa("big.pkl", _set("train", "audio", lambda s: s["audio"].astype("f8") * 1e300))), absent=("c.h5",), expect="float32")  # fmt: skip
add("convert/npz-garbage-input", lambda w: convert(w, src=w.file("g.npz", b"PK\x03\x04garbage")), absent=("c.h5",))  # fmt: skip
add("convert/h5-garbage-input", lambda w: convert(w, src=w.file("g.h5", b"\x89HDF\r\n\x1a\ngarbage"), out=w.case / "c.npz"), absent=("c.npz",))  # fmt: skip
add("convert/npz-with-pickled-object", lambda w: convert(w, src=_npz_with_object(w)), absent=("c.h5",))  # fmt: skip
add("inspect/npz-with-pickled-object", lambda w: ["data", "inspect", str(_npz_with_object(w))])


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


add("inspect/npz-declares-37GiB", lambda w: ["data", "inspect", str(_npz_bomb(w))])


def _npz_with_object(w: W) -> Path:
    """An .npz whose array is an object array (numpy pickles it inside the zip)."""
    p = w.case / "obj.npz"
    np.savez(p, ids=np.array([_Evil(str(w.marker))], dtype=object))
    return p


add("data/no-subcommand", lambda w: ["data"])
add("no-command", lambda w: [])
add("unknown-command", lambda w: ["fit"])


# ---- train ----
def train(
    w: W, *opts: str, over: tuple[str, ...] = (), src=None, tgt=None, out=None, method="source-only"
) -> list[str]:
    """``osan train`` on the toy data: options ``opts`` first, then the tiny overrides and
    ``over`` (argparse takes the key=value overrides as one run of positionals)."""
    argv = ["train"] + (["--method", method] if method is not None else [])
    argv += ["--source", str(src or w.src), "--target", str(tgt or w.tgt)]
    argv += ["--out", str(out or w.case / "r"), "--quiet", *opts, *TINY, "optim.epochs=1"]
    return argv + list(over)


_TRAIN_OVERRIDES = [
    "optim.lr=-1", "optim.lr=0", "optim.lr=.nan", "optim.lr=[1, 2]", "optim.lr=abc",
    "encoder.dropout=2", "encoder.dropout=-0.1", "num_threads=-1", "num_threads=0",
    "ddg.heads=0", "ddg.heads=-3", "ddg.lam=1.5", "ddg.heads_per_step=-1", "ddg.kind=none",
    "ddg.assign=some", "optim.batch_size=1", "optim.epochs=0", "optim.warmup=2",
    "optim.weight_decay=-1", "optim.epoch=forever", "tal.eps=0", "tal.sweeps=0",
    "tal.solver=newton", "tal.pairing=oracle", "tal.orient=flip", "tal.momentum=2",
    "tal.out_dims={text: 0}", "encoder.out_dims={text: -1}", "encoder.kind=transformer",
    "encoder.hidden=0", "loss.task_loss=ce", "loss.alpha=-1", "loss.mmd_kernels=0",
    "selection=bogus", "selection=snd", "curve_every=-1", "seed=-5", f"seed={2**70}",
    "device=bogus", "device=cuda:x", "task=ranking", "nokey=1", "optim.nokey=1", "noequals",
    "optim=3", "tal.enabled=maybe", "baselines.pretrain_fraction=1",
]  # fmt: skip
for _o in _TRAIN_OVERRIDES:
    _key = "key=value" if "=" not in _o else _o.split("=")[0].split(".")[-1]
    add(f"train/override/{_o}", (lambda o: lambda w: train(w, over=(o,)))(_o), absent=("r",), expect=_key)  # fmt: skip
_TRAIN_ARGS: dict[tuple[str, ...], str] = {
    ("--device", "cuda"): "not available", ("--device", "cuda:7"): "not available",
    ("--device", "bogus"): "not of the form", ("--device", "mps"): "not available",
    ("--seed", str(2**64)): "seed must lie", ("--seed", "-1"): "seed must lie",
    ("--epochs", "0"): "optim.epochs must lie", ("--epochs", "-2"): "optim.epochs must lie",
    ("--epochs", "x"): "invalid int", ("--task", "ranking"): "invalid choice",
    ("--nan-policy", "drop"): "invalid choice", ("--nproc", "0"): "--nproc",
}  # fmt: skip
for _args, _exp in _TRAIN_ARGS.items():
    add(f"train/args/{' '.join(_args)}", (lambda a: lambda w: train(w, *a))(_args), absent=("r",), expect=_exp)  # fmt: skip
add("train/unknown-method", lambda w: train(w, method="magic"), absent=("r",), expect="unknown method")  # fmt: skip
add("train/method-empty", lambda w: train(w, method=""), absent=("r",))
add("train/oracle-unlabelled-target", lambda w: train(w, tgt=w.tgt_unl, method="oracle"), absent=("r",), expect="no labels")  # fmt: skip
add("train/unlabelled-source", lambda w: train(w, src=w.src_unl), absent=("r",), expect="no labels")  # fmt: skip
add("train/unlabelled-source-osan", lambda w: train(w, src=w.src_unl, method="osan"), absent=("r",))  # fmt: skip
add("train/curve-unlabelled-target", lambda w: train(w, over=("curve_every=1",), tgt=w.tgt_unl), absent=("r",), expect="curve_every=1 plots")  # fmt: skip
add("train/modality-names-differ", lambda w: train(w, tgt=w.other_mods), absent=("r",), expect="pose")  # fmt: skip
add(
    "train/target-extra-modality",
    lambda w: train(w, tgt=w.mmsa("extra.pkl", lambda o: [
        o["meta"]["modalities"].append("pose"),
        *[o[s].update(pose=o[s]["audio"], pose_lengths=o[s]["audio_lengths"]) for s in ("train", "valid", "test")],
    ])),
    absent=("r",), expect="extra",
)  # fmt: skip
add("train/source-missing", lambda w: train(w, src=w.case / "no.pkl"), absent=("r",))
add("train/target-fifo", lambda w: train(w, tgt=w.fifo("t.pkl")), absent=("r",))
add("train/target-hostile", lambda w: train(w, tgt=w.file("h.pkl", H.os_system(str(w.marker)))), absent=("r",))  # fmt: skip
add("train/out-is-file", lambda w: train(w, out=w.file("f", "keep")), expect="not a folder")
add("train/out-under-file", lambda w: train(w, out=w.file("f", "keep") / "sub"))
add("train/config-dir", lambda w: train(w, "--config", str(w.case)), absent=("r",), expect="directory")  # fmt: skip
add("train/config-missing", lambda w: train(w, "--config", str(w.case / "c.yaml")), absent=("r",))  # fmt: skip
add("train/config-invalid-yaml", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: {lr: [1,\n  tal: :\n"))), absent=("r",))  # fmt: skip
add("train/config-list", lambda w: train(w, "--config", str(w.file("c.yaml", "- a\n"))), absent=("r",))  # fmt: skip
add("train/config-binary", lambda w: train(w, "--config", str(w.file("c.yaml", b"\xff\xfe\x00"))), absent=("r",))  # fmt: skip
add("train/config-unknown-key", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: {speed: 3}\n"))), absent=("r",))  # fmt: skip
add("train/config-bad-range", lambda w: train(w, "--config", str(w.file("c.yaml", "optim: {lr: -1}\n"))), absent=("r",))  # fmt: skip
add("train/config-int-key", lambda w: train(w, "--config", str(w.file("c.yaml", "1: 2\n"))), absent=("r",))  # fmt: skip
add("train/config-fifo", lambda w: train(w, "--config", str(w.fifo("c.yaml"))), absent=("r",))
add("train/classification-on-regression-data", lambda w: train(w, "--task", "classification"), absent=("r",))  # fmt: skip
add("train/no-source", lambda w: ["train", "--target", str(w.tgt), "--out", str(w.case / "r")], absent=("r",))  # fmt: skip
# resuming the finished shared run with something else is refused, naming the difference
add("resume/other-method", lambda w: train(w, "--resume", out=w.run, method="dann"), expect="method: run has")  # fmt: skip
add("resume/other-override", lambda w: train(w, "--resume", over=("optim.lr=0.5",), out=w.run), expect="optim.lr: run has 0.001, now 0.5")  # fmt: skip
add("resume/other-seed", lambda w: train(w, "--resume", "--seed", "9", out=w.run), expect="seed: run has 0, now 9")  # fmt: skip
add("resume/no-tal", lambda w: train(w, "--resume", "--no-tal", out=w.run), expect="tal.enabled: run has")  # fmt: skip
add("resume/other-target-data", lambda w: train(w, "--resume", tgt=w.tgt_unl, out=w.run), expect="target")  # fmt: skip
add("resume/other-target-dims", lambda w: train(w, "--resume", tgt=w.other_dims, out=w.run), expect="target")  # fmt: skip
add("resume/corrupt-checkpoint", lambda w: train(w, "--resume", out=_corrupt(w, "checkpoint.pt", b"garbage")), expect="checkpoint")  # fmt: skip
add("resume/empty-dict-checkpoint", lambda w: train(w, "--resume", out=_ckpt(w, {})), expect="not an osan checkpoint")  # fmt: skip
add("resume/invalid-config-yaml", lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", "optim: [\n")), expect="invalid YAML")  # fmt: skip
add(
    "resume/config-yaml-unknown-method",
    lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", "method: magic\n"), method=None),
    expect="unknown method",
)
add("resume/config-yaml-other-settings", lambda w: train(w, "--resume", out=_corrupt(w, "config.yaml", "method: dann\n")), expect="different run")  # fmt: skip


def _corrupt(w: W, name: str, data: bytes | str) -> Path:
    run = w.copy_run()
    (run / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return run


def _ckpt(w: W, obj: object) -> Path:
    run = w.copy_run()
    torch.save(obj, run / "checkpoint.pt")
    return run


def _wrong_weights(w: W) -> Path:
    run = w.copy_run()
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    ck["best_model"] = {"nope.weight": torch.zeros(2)}
    ck["model"] = ck["best_model"]
    torch.save(ck, run / "checkpoint.pt")
    return run


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_ckpt(w: W) -> Path:
    run = w.copy_run()
    with open(run / "checkpoint.pt", "wb") as f:
        torch.save({"model": _Evil(str(w.marker))}, f)
    return run


add("resume/wrong-weights", lambda w: train(w, "--resume", out=_wrong_weights(w)), expect="do not fit")  # fmt: skip
add("resume/evil-checkpoint", lambda w: train(w, "--resume", out=_evil_ckpt(w)), expect="checkpoint")  # fmt: skip


# ---- eval and predict ----
def ev(w: W, *extra: str, run=None, data=None) -> list[str]:
    return ["eval", "--run", str(run or w.run), "--data", str(data or w.tgt), *extra]


def pr(w: W, *extra: str, run=None, data=None, out=None) -> list[str]:
    out = out or w.case / "preds.csv"
    return ["predict", "--run", str(run or w.run), "--data", str(data or w.tgt), "--out", str(out), *extra]  # fmt: skip


for _cmd, _fn in (("eval", ev), ("predict", pr)):
    _abs = ("preds.csv",) if _cmd == "predict" else ()
    _runs: dict[str, tuple[Callable[[W], list[str]], str]] = {
        "run-missing": (lambda w, f=_fn: f(w, run=w.case / "none"), "not a run folder"),
        "run-is-file": (lambda w, f=_fn: f(w, run=w.file("r", "x")), "not a run folder"),
        "run-without-config": (lambda w, f=_fn: f(w, run=w.case), "not a run folder"),
        "checkpoint-missing": (lambda w, f=_fn: f(w, run=_rm(w, "checkpoint.pt")), "checkpoint"),
        "checkpoint-garbage": (
            lambda w, f=_fn: f(w, run=_corrupt(w, "checkpoint.pt", b"PK\x03\x04junk")),
            "checkpoint",
        ),  # fmt: skip
        "checkpoint-truncated": (lambda w, f=_fn: f(w, run=_truncate(w)), "checkpoint"),
        "checkpoint-empty-dict": (
            lambda w, f=_fn: f(w, run=_ckpt(w, {})),
            "not an osan checkpoint",
        ),  # fmt: skip
        "checkpoint-a-list": (
            lambda w, f=_fn: f(w, run=_ckpt(w, [1, 2])),
            "not an osan checkpoint",
        ),  # fmt: skip
        "checkpoint-bad-dims": (
            lambda w, f=_fn: f(
                w,
                run=_ckpt(
                    w,
                    {
                        "model": {},
                        "best_model": {},
                        "epoch": 1,
                        "global_step": 1,
                        "dims": {"source": "x"},
                        "num_outputs": 1,
                    },
                ),
            ),
            "dims",
        ),  # fmt: skip
        "checkpoint-wrong-weights": (lambda w, f=_fn: f(w, run=_wrong_weights(w)), "do not fit"),
        "checkpoint-evil": (lambda w, f=_fn: f(w, run=_evil_ckpt(w)), "checkpoint"),
        "checkpoint-fifo": (lambda w, f=_fn: f(w, run=_fifo_ckpt(w)), "not a regular file"),
        "config-invalid-yaml": (
            lambda w, f=_fn: f(w, run=_corrupt(w, "config.yaml", "a: b: c\n")),
            "invalid YAML",
        ),  # fmt: skip
        "config-unknown-method": (
            lambda w, f=_fn: f(w, run=_corrupt(w, "config.yaml", "method: magic\n")),
            "unknown method",
        ),  # fmt: skip
        "config-is-dir": (lambda w, f=_fn: f(w, run=_config_dir(w)), "not a run folder"),
        "data-other-dims": (lambda w, f=_fn: f(w, data=w.other_dims), "vision 7"),
        "data-other-modalities": (lambda w, f=_fn: f(w, data=w.other_mods), "pose"),
        "data-missing": (lambda w, f=_fn: f(w, data=w.case / "none.pkl"), "not found"),
        "data-hostile": (
            lambda w, f=_fn: f(w, data=w.file("h.pkl", H.os_system(str(w.marker)))),
            "refused",
        ),  # fmt: skip
        "data-structured-dtype-ids": (
            lambda w, f=_fn: f(w, data=w.file("h.pkl", _HOSTILE["ids-structured-dtype"](w))),
            "refused",
        ),  # fmt: skip
        "data-1e300": (
            lambda w, f=_fn: f(
                w,
                data=w.mmsa(
                    "big.pkl", _set("test", "text", lambda s: s["text"].astype("f8") * 1e300)
                ),
            ),
            "float32",
        ),  # fmt: skip
        "data-nan": (
            lambda w, f=_fn: f(
                w, data=w.mmsa("nan.pkl", _set("test", "text", lambda s: s["text"] * np.nan))
            ),
            "NaN",
        ),  # fmt: skip
        "split-bogus": (lambda w, f=_fn: f(w, "--split", "holdout"), "holdout"),
        "domain-bogus": (lambda w, f=_fn: f(w, "--domain", "middle"), "invalid choice"),
        "device-bogus": (lambda w, f=_fn: f(w, "--device", "bogus"), "bogus"),
        "device-cuda": (lambda w, f=_fn: f(w, "--device", "cuda"), "cuda"),
        "nan-policy-bogus": (lambda w, f=_fn: f(w, "--nan-policy", "drop"), "invalid choice"),
    }
    for _name, (_argv, _exp) in _runs.items():
        add(f"{_cmd}/{_name}", _argv, absent=_abs, expect=_exp)
add("eval/unlabelled-split", lambda w: ev(w, data=w.tgt_unl), expect="nothing to score")
add("predict/out-is-folder", lambda w: pr(w, out=w.case), expect="folder")
add("predict/out-under-file", lambda w: pr(w, out=w.file("f", "keep") / "p.csv"))
add("predict/no-out", lambda w: ["predict", "--run", str(w.run), "--data", str(w.tgt)])


def _rm(w: W, name: str) -> Path:
    run = w.copy_run()
    (run / name).unlink()
    return run


def _truncate(w: W) -> Path:
    run = w.copy_run()
    blob = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(blob[: len(blob) // 3])
    return run


def _fifo_ckpt(w: W) -> Path:
    run = _rm(w, "checkpoint.pt")
    os.mkfifo(run / "checkpoint.pt")
    return run


def _config_dir(w: W) -> Path:
    run = _rm(w, "config.yaml")
    (run / "config.yaml").mkdir()
    return run


# ---- bench, report, select ----
def bench(w: W, *extra: str, out=None) -> list[str]:
    return ["bench", "--suite", "msa-main", "--out", str(out or w.case / "b"), "--quick", *extra]


add("bench/suite-bogus", lambda w: ["bench", "--suite", "nope", "--out", str(w.case / "b")], absent=("b",))  # fmt: skip
add("bench/out-is-file", lambda w: bench(w, "--methods", "source-only", "--size", "tiny", "--epochs", "1", out=w.file("f", "keep")))  # fmt: skip
add("bench/seeds-text", lambda w: bench(w, "--seeds", "one"), absent=("b",))
add("bench/methods-bogus", lambda w: bench(w, "--methods", "magic"), absent=("b",))
add("bench/override-bad-range", lambda w: bench(w, "optim.lr=-1"), absent=("b",))
add("bench/override-unknown", lambda w: bench(w, "nokey=1"), absent=("b",))
add("bench/executor-bogus", lambda w: bench(w, "--executor", "slurm"), absent=("b",))
add("bench/gpus-on-cpu", lambda w: bench(w, "--gpus-per-run", "1"), absent=("b",))
add("bench/real-text-no-files", lambda w: ["bench", "--suite", "real-text", "--out", str(w.case / "b"), "--mosi", str(w.case / "no.csv")], absent=("b",))  # fmt: skip
add("bench/benchmarks-bogus", lambda w: bench(w, "--benchmarks", "imdb"), absent=("b",))
add("bench/device-bogus", lambda w: bench(w, "--device", "bogus"), absent=("b",))
add("bench/epochs-zero", lambda w: bench(w, "--epochs", "0"), absent=("b",))
add("bench/conflicting-results", lambda w: bench(w, out=_garbage_bench(w)))


def _garbage_bench(w: W) -> Path:
    d = w.case / "gb"
    d.mkdir()
    (d / "results.jsonl").write_text('{"run_id": 3}\n[1, 2]\n{"run_id": "x"}\n')
    return d


def report(w: W, *extra: str, bench_dir=None, out=None) -> list[str]:
    return ["report", "--bench", str(bench_dir or w.case), "--out", str(out or w.case / "rep"), *extra]  # fmt: skip


add("report/bench-missing", lambda w: report(w, bench_dir=w.case / "none"), absent=("rep",))
add("report/bench-is-file", lambda w: report(w, bench_dir=w.file("f", "x")), absent=("rep",))
add("report/bench-empty", lambda w: report(w), absent=("rep",))
add("report/bench-garbage", lambda w: report(w, bench_dir=_garbage_bench(w)), absent=("rep",))
add("report/cases-negative", lambda w: report(w, "--cases", "-1"), absent=("rep",))
add("report/out-is-file", lambda w: ["report", "--runs", str(w.run), "--out", str(w.file("o", "keep"))], expect="File exists")  # fmt: skip
add("report/out-unwritable", lambda w: ["report", "--runs", str(w.run), "--out", "/proc/osan-rep"])  # fmt: skip
add("report/no-bench", lambda w: ["report", "--out", str(w.case / "rep")], absent=("rep",))
add("select/bench-missing", lambda w: ["select", "--bench", str(w.case / "none")])
add("select/bench-is-file", lambda w: ["select", "--bench", str(w.file("f", "x"))])
add("select/bench-empty", lambda w: ["select", "--bench", str(w.case)])
add("select/bench-garbage", lambda w: ["select", "--bench", str(_garbage_bench(w))])
add("select/validator-bogus", lambda w: ["select", "--bench", str(w.case), "--validator", "magic"])  # fmt: skip
add("select/no-bench", lambda w: ["select"])
add("report/record-missing-keys", lambda w: report(w, bench_dir=_records(w, {"run_id": "x"})), absent=("rep",), expect="missing or wrong")  # fmt: skip
add("report/record-metrics-not-dict", lambda w: report(w, bench_dir=_records(w, {"run_id": "msa/A2B/osan/seed1", "metrics": 3})), absent=("rep",))  # fmt: skip
add("select/record-missing-keys", lambda w: ["select", "--bench", str(_records(w, {"run_id": "x"}))], expect="missing or wrong")  # fmt: skip


def pool(w: W, *extra: str, bench_dir=None) -> list[str]:
    return ["pool", "--bench", str(bench_dir or w.case), "--out", str(w.case / "pool"), *extra]


_OK_RECORD = {"run_id": "msa/A2B/osan/seed1", "suite": "msa-main", "benchmark": "msa",
              "method": "osan", "direction": "A2B", "seed": 1, "metrics": {"mae": 1.0}}  # fmt: skip
add("pool/bench-missing", lambda w: pool(w, bench_dir=w.case / "none"), absent=("pool",), expect="no results.jsonl")  # fmt: skip
add("pool/bench-is-file", lambda w: pool(w, bench_dir=w.file("f", "x")), absent=("pool",))
add("pool/bench-empty", lambda w: pool(w), absent=("pool",), expect="no results.jsonl")
add("pool/bench-garbage", lambda w: pool(w, bench_dir=_garbage_bench(w)), absent=("pool",))
add("pool/record-missing-keys", lambda w: pool(w, bench_dir=_records(w, {"run_id": "x"})), absent=("pool",), expect="missing or wrong")  # fmt: skip
add("pool/method-absent", lambda w: pool(w, "--method", "dan", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="no finished run of dan")  # fmt: skip
add("pool/baseline-absent", lambda w: pool(w, bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="--baseline")  # fmt: skip
add("pool/method-syntax", lambda w: pool(w, "--method", "vtc=", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="BENCHMARK=METHOD")  # fmt: skip
add("pool/out-is-file", lambda w: ["pool", "--bench", str(_records(w, _OK_RECORD)), "--baseline", "osan", "--out", str(w.file("o", "keep"))], expect="not a folder")  # fmt: skip
add("pool/no-out", lambda w: ["pool", "--bench", str(w.case)])
add("pool/tag-not-a-bench-folder", lambda w: pool(w, "--tag", f"{w.case / 'other'}=x", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="not one of the --bench folders")  # fmt: skip
add("pool/tag-syntax", lambda w: pool(w, "--tag", "gate0", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="DIR=NAME")  # fmt: skip
add("pool/metric-not-a-number", lambda w: pool(w, bench_dir=_records(w, _OK_RECORD | {"metrics": {"mae": "x"}})), absent=("pool",), expect="metrics.mae is not a number")  # fmt: skip


def _records(w: W, *records: dict) -> Path:
    d = w.case / "rb"
    d.mkdir()
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


# ---- --out where the OS refuses to create anything (read-only for root too: /proc) ----
add("generate/out-unwritable", lambda w: ["data", "generate", "msa", "--size", "tiny", "--out", "/proc/osan-out"])  # fmt: skip
add("train/out-unwritable", lambda w: train(w, out=Path("/proc/osan-out")))
add("predict/out-unwritable", lambda w: pr(w, out=Path("/proc/osan-out.csv")))
add("bench/out-unwritable", lambda w: bench(w, "--methods", "source-only", "--size", "tiny", out=Path("/proc/osan-out")))  # fmt: skip
add("pool/out-unwritable", lambda w: ["pool", "--bench", str(_records(w, _OK_RECORD)), "--baseline", "osan", "--out", "/proc/osan-pool"])  # fmt: skip


# --------------------------------------------------------------------------- the test


@pytest.fixture(scope="session")
def base_obj(workspace) -> dict:
    return pickle.loads((workspace / "data" / "s.pkl").read_bytes())  # our own file


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, workspace, base_obj, tmp_path, capsys):
    if c.root_only and os.geteuid() == 0:
        pytest.skip("permissions do not bind root")
    w = W(workspace, tmp_path, base_obj)
    argv = c.argv(w)
    before = _snapshot(workspace, tmp_path)
    capsys.readouterr()
    code = _run_main(argv)
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err}"
    assert "Traceback" not in err and "weights_only" not in err and "If you trust" not in err
    assert c.expect in lines[0], lines[0]
    after = _snapshot(workspace, tmp_path)
    changed = [p for p, v in before.items() if after.get(p) != v]
    assert not changed, f"changed or removed: {changed}"
    assert not w.marker.exists(), "a hostile file ran code"
    for rel in c.absent:
        assert not (tmp_path / rel).exists(), f"{rel} was created"


def test_the_corpus_is_broad():
    """Issue 14: at least 150 cases, over every command."""
    ids = [c.id for c in CASES] + [c[0] for c in SUBPROCESS_CASES]
    assert len(ids) >= 150 and len(set(ids)) == len(ids)
    commands = {i.split("/")[0] for i in ids}
    for cmd in ("inspect", "generate", "train", "resume", "eval", "predict", "bench", "report",
                "select", "pool"):  # fmt: skip
        assert cmd in commands


# --------------------------------------------------------------------------- end to end

SUBPROCESS_CASES: list[tuple[str, Callable[[W], list[str]]]] = [
    (
        "sub/inspect-hostile",
        lambda w: ["data", "inspect", str(w.file("h.pkl", H.os_system(str(w.marker))))],
    ),  # fmt: skip
    (
        "sub/inspect-deep-tuple",
        lambda w: ["data", "inspect", str(w.file("d.pkl", H.deep_tuple_key()))],
    ),  # fmt: skip
    ("sub/inspect-fifo", lambda w: ["data", "inspect", str(w.fifo("p.pkl"))]),
    ("sub/inspect-dev-zero", lambda w: ["data", "inspect", str(w.symlink("z.pkl", "/dev/zero"))]),
    ("sub/train-unknown-method", lambda w: train(w, method="magic")),
    ("sub/train-lr-negative", lambda w: train(w, over=("optim.lr=-1",))),
    ("sub/eval-evil-checkpoint", lambda w: ev(w, run=_evil_ckpt(w))),
    ("sub/predict-other-dims", lambda w: pr(w, data=w.other_dims)),
    ("sub/argparse-usage", lambda w: ["train", "--bogus-flag"]),
]


def _osan(argv: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "osan.cli", *argv], capture_output=True, text=True, env=env,
        timeout=120, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("name, argv", SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES])
def test_bad_input_end_to_end_in_a_real_process(name, argv, workspace, base_obj, tmp_path):
    w = W(workspace, tmp_path, base_obj)
    args = argv(w)
    before = _snapshot(workspace, tmp_path)
    proc = _osan(args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    after = _snapshot(workspace, tmp_path)
    assert [p for p, v in before.items() if after.get(p) != v] == []
    assert not w.marker.exists()
    assert not (tmp_path / "r").exists() and not (tmp_path / "preds.csv").exists()


def test_inspect_into_a_closed_pipe_is_quiet(workspace):
    """``osan data inspect F | head -1``: no BrokenPipeError traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = f"{sys.executable} -m osan.cli data inspect {workspace / 'data' / 's.pkl'} | head -1"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, env=env
    )
    assert proc.stdout.startswith("domain ")
    assert proc.stderr == "", proc.stderr


def test_a_second_process_on_a_locked_folder_refuses(workspace, tmp_path):
    """While one process holds a folder (a bench or a run), another osan aimed at it stops with
    one line and changes nothing."""
    out = tmp_path / "b"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from osan import lock; lock.acquire(sys.argv[1]); print('held', "
         "flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = _osan(
            ["bench", "--suite", "msa-main", "--out", str(out), "--quick", "--methods",
             "source-only", "--size", "tiny", "--epochs", "1"]
        )  # fmt: skip
        assert proc.returncode == 2 and "in use by another osan process" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (out / "results.jsonl").exists()
        w_run = workspace / "data"
        proc = _osan(
            ["train", "--method", "source-only", "--source", str(w_run / "s.pkl"), "--target",
             str(w_run / "t.pkl"), "--out", str(out), "--quiet", "--epochs", "1", *TINY]
        )  # fmt: skip
        assert proc.returncode == 2 and "in use by another osan process" in proc.stderr
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)  # the kernel dropped the killed holder's lock: the folder is free again
    from osan import lock

    lock.acquire(out)
    lock.release(out)
