# ruff: noqa: E501  (a table of cases reads best one case per line)
"""Shared workspace, builders and invariants of the bad-input corpus (issues 14, 26, 27).

Every case of ``tests/bad_inputs/test_*.py`` runs one osan command and asserts: exit code 2,
exactly one line on stderr holding the words the case names, no traceback, every file the
user already had left byte-for-byte (and mtime) as it was, no marker file (nothing ran) and
no output written from a bad input. Bomb cases run in a child process and also bound its peak
resident memory (:func:`osan_bounded`).
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import resource
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from osan.cli import main
from tests import hostile as H
from tests.helpers import TINY

ROOT = Path(__file__).resolve().parents[2]
#: Peak resident memory a bomb case may reach (a valid tiny convert needs ~400 MB).
BOMB_RSS_BYTES = 1536 << 20
#: The content of a file "elsewhere on the user's disk" (:meth:`W.secret_file`).
SECRET = b"OSAN-SECRET-MARKER-26:"
#: Address-space ceiling of a bomb child, so a regression fails instead of swapping the host.
BOMB_AS_BYTES = 8 << 30

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

    @property
    def outside(self) -> Path:
        """A folder standing for the rest of the user's disk: a file there holds
        :data:`SECRET`, and no byte of it may reach any output."""
        return self.case / "outside"

    def secret_file(self, nbytes: int) -> Path:
        p = self.outside / "secret.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes((SECRET * (nbytes // len(SECRET) + 1))[:nbytes])
        return p

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
    expect: str  # words the one line must hold
    absent: tuple[str, ...] = ()  # paths (relative to the case folder) that must not appear


class Table:
    """The cases of one test module; every case names the words its error must contain."""

    def __init__(self) -> None:
        self.cases: list[Case] = []

    def add(self, id: str, fn: Callable[[W], list[str]], *, expect: str, absent=()) -> None:
        assert expect.strip(), f"{id}: name the words its error must contain"
        assert id not in self.ids, f"{id}: a second case of that name"
        self.cases.append(Case(id, fn, expect, tuple(absent)))

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.cases]


def inspect(path_fn: Callable[[W], Path], *extra: str) -> Callable[[W], list[str]]:
    return lambda w: ["data", "inspect", str(path_fn(w)), *extra]


def check_in_process(c: Case, w: W, capsys) -> None:
    """Run case ``c`` through ``osan.cli.main`` and assert the corpus's invariants."""
    argv = c.argv(w)
    before = _snapshot(w.root, w.case)
    capsys.readouterr()
    code = _run_main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err}"
    assert "Traceback" not in err and "weights_only" not in err and "If you trust" not in err
    assert c.expect in lines[0], lines[0]
    assert_unchanged(before, w)
    for rel in c.absent:
        assert not (w.case / rel).exists(), f"{rel} was created"
    assert_no_secret(w, out.encode() + err.encode())


def check_bounded(c: Case, w: W) -> None:
    """Case ``c`` in a child process (:func:`osan_bounded`): the corpus's invariants plus a
    peak resident memory under :data:`BOMB_RSS_BYTES`."""
    argv = c.argv(w)
    before = _snapshot(w.root, w.case)
    r = osan_bounded(argv)
    err = r.stderr.decode(errors="replace")
    lines = err.strip().splitlines()
    assert r.returncode == 2, f"exit {r.returncode}: {err[-2000:]}"
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert c.expect in lines[0], lines[0]
    assert r.max_rss_bytes < BOMB_RSS_BYTES, f"peak RSS {r.max_rss_bytes >> 20} MiB"
    assert_unchanged(before, w)
    for rel in c.absent:
        assert not (w.case / rel).exists(), f"{rel} was created"
    assert_no_secret(w, r.stdout + r.stderr)


def assert_no_secret(w: W, output: bytes) -> None:
    """No byte run of :data:`SECRET` in the command's output or any file under the case folder
    but the secret file itself."""
    assert SECRET not in output
    for p in w.case.rglob("*"):
        if p.is_file() and not p.is_symlink() and w.outside not in p.parents:
            assert SECRET not in p.read_bytes(), f"{p} holds bytes of a file outside the input"


def assert_unchanged(before: dict, w: W) -> None:
    after = _snapshot(w.root, w.case)
    changed = [p for p, v in before.items() if after.get(p) != v]
    assert not changed, f"changed or removed: {changed}"
    assert not w.marker.exists(), "a hostile file ran code"


# --------------------------------------------------------------------------- child processes


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def osan(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """The real ``osan`` entry point in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "osan.cli", *argv], capture_output=True, text=True, env=_env(),
        timeout=120, **kw,
    )  # fmt: skip


@dataclass
class Bounded:
    returncode: int
    stdout: bytes
    stderr: bytes
    max_rss_bytes: int


def osan_bounded(argv: list[str], timeout: float = 180) -> Bounded:
    """``osan`` in a child process under an address-space ceiling; returns its exit code,
    output and ITS OWN peak resident memory (``wait4``'s rusage of that child alone)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (BOMB_AS_BYTES, BOMB_AS_BYTES))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "osan.cli", *argv], stdout=out, stderr=err, env=_env(),
            preexec_fn=limit,
        )  # fmt: skip
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            proc.returncode = 0  # reaped by wait4: Popen must not wait again
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        return Bounded(code, out.read(), err.read(), usage.ru_maxrss * 1024)


# --------------------------------------------------------------------------- builders shared by several commands

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


# ---- data inspect: well-formed pickles with bad content (file, split and field named) ----
def _set(split: str, key: str, value) -> Callable[[dict], None]:
    def edit(o: dict) -> None:
        if value is _DEL:
            del o[split][key]
        else:
            o[split][key] = value(o[split]) if callable(value) else value

    return edit


_DEL = object()


def _npz_with_object(w: W) -> Path:
    """An .npz whose array is an object array (numpy pickles it inside the zip)."""
    p = w.case / "obj.npz"
    np.savez(p, ids=np.array([_Evil(str(w.marker))], dtype=object))
    return p


def train(
    w: W, *opts: str, over: tuple[str, ...] = (), src=None, tgt=None, out=None, method="source-only"
) -> list[str]:
    """``osan train`` on the toy data: options ``opts`` first, then the tiny overrides and
    ``over`` (argparse takes the key=value overrides as one run of positionals)."""
    argv = ["train"] + (["--method", method] if method is not None else [])
    argv += ["--source", str(src or w.src), "--target", str(tgt or w.tgt)]
    argv += ["--out", str(out or w.case / "r"), "--quiet", *opts, *TINY, "optim.epochs=1"]
    return argv + list(over)


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


def ev(w: W, *extra: str, run=None, data=None) -> list[str]:
    return ["eval", "--run", str(run or w.run), "--data", str(data or w.tgt), *extra]


def pr(w: W, *extra: str, run=None, data=None, out=None) -> list[str]:
    out = out or w.case / "preds.csv"
    return ["predict", "--run", str(run or w.run), "--data", str(data or w.tgt), "--out", str(out), *extra]  # fmt: skip


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


def bench(w: W, *extra: str, out=None) -> list[str]:
    return ["bench", "--suite", "msa-main", "--out", str(out or w.case / "b"), "--quick", *extra]


def _garbage_bench(w: W) -> Path:
    d = w.case / "gb"
    d.mkdir()
    (d / "results.jsonl").write_text('{"run_id": 3}\n[1, 2]\n{"run_id": "x"}\n')
    return d


def report(w: W, *extra: str, bench_dir=None, out=None) -> list[str]:
    return ["report", "--bench", str(bench_dir or w.case), "--out", str(out or w.case / "rep"), *extra]  # fmt: skip


def pool(w: W, *extra: str, bench_dir=None) -> list[str]:
    return ["pool", "--bench", str(bench_dir or w.case), "--out", str(w.case / "pool"), *extra]


_OK_RECORD = {"run_id": "msa/A2B/osan/seed1", "suite": "msa-main", "benchmark": "msa",
              "method": "osan", "direction": "A2B", "seed": 1, "metrics": {"mae": 1.0}}  # fmt: skip


def _records(w: W, *records: dict) -> Path:
    d = w.case / "rb"
    d.mkdir()
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


# --------------------------------------------------------------------------- YAML bombs


def alias_bomb(levels: int = 9, indent: int = 0) -> str:
    """A YAML mapping whose last key expands to 10^levels leaves through nested aliases
    (a few hundred bytes; ``yaml.safe_load`` builds every leaf)."""
    pad = " " * indent
    rows = [f"{pad}l0: &l0 [{', '.join(['x'] * 10)}]"]
    for i in range(1, levels + 1):
        rows.append(f"{pad}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(rows) + "\n"


#: A YAML file over the 1 MiB limit for configs and specs (a comment: valid YAML).
OVERSIZED_YAML = "# " + "x" * (1 << 20) + "\nmethod: dann\n"


def _cut(w: W, name: str, keep: float = 0.5) -> Path:
    """A copy of the finished run with ``name`` cut to ``keep`` of its bytes (a half copy)."""
    run = w.copy_run()
    blob = (run / name).read_bytes()
    (run / name).write_bytes(blob[: int(len(blob) * keep)])
    return run
