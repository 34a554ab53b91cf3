# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan bench`` on bad arguments, folders and benchmark specs.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs.common import (
    OVERSIZED_YAML,
    Table,
    W,
    _garbage_bench,
    alias_bomb,
    bench,
    check_bounded,
    check_in_process,
)

T = Table()
add = T.add


add("bench/suite-bogus", lambda w: ["bench", "--suite", "nope", "--out", str(w.case / "b")], absent=("b",), expect="invalid choice: 'nope'")  # fmt: skip
add("bench/out-is-file", lambda w: bench(w, "--methods", "source-only", "--size", "tiny", "--epochs", "1", out=w.file("f", "keep")), expect='File exists')  # fmt: skip
add(
    "bench/seeds-text",
    lambda w: bench(w, "--seeds", "one"),
    absent=("b",),
    expect="--seeds takes integers",
)
add(
    "bench/methods-bogus",
    lambda w: bench(w, "--methods", "magic"),
    absent=("b",),
    expect="unknown method(s) ['magic']",
)
add(
    "bench/override-bad-range",
    lambda w: bench(w, "optim.lr=-1"),
    absent=("b",),
    expect="optim.lr must lie",
)
add("bench/override-unknown", lambda w: bench(w, "nokey=1"), absent=("b",), expect="['nokey']")
add(
    "bench/executor-bogus",
    lambda w: bench(w, "--executor", "slurm"),
    absent=("b",),
    expect="invalid choice: 'slurm'",
)
add(
    "bench/gpus-on-cpu",
    lambda w: bench(w, "--gpus-per-run", "1"),
    absent=("b",),
    expect="--gpus-per-run 1",
)
add("bench/real-text-no-files", lambda w: ["bench", "--suite", "real-text", "--out", str(w.case / "b"), "--mosi", str(w.case / "no.csv")], absent=("b",), expect='Not found')  # fmt: skip
add(
    "bench/benchmarks-bogus",
    lambda w: bench(w, "--benchmarks", "imdb"),
    absent=("b",),
    expect="invalid choice: 'imdb'",
)
add(
    "bench/device-bogus",
    lambda w: bench(w, "--device", "bogus"),
    absent=("b",),
    expect="'bogus' is not of the form",
)
add(
    "bench/epochs-zero",
    lambda w: bench(w, "--epochs", "0"),
    absent=("b",),
    expect="optim.epochs must lie",
)
add(
    "bench/conflicting-results",
    lambda w: bench(w, out=_garbage_bench(w)),
    expect="line 1 is not a run record",
)
add("bench/out-unwritable", lambda w: bench(w, "--methods", "source-only", "--size", "tiny", out=Path("/proc/osan-out")), expect='/proc/osan-out: No such file')  # fmt: skip


# ---- issue 26: benchmark specs (--data SPEC.yaml) that expand, are too large or ill-typed ----
def spec(w: W, text: str | None = None, *, path: Path | None = None) -> list[str]:
    p = path or w.file("spec.yaml", text or "")
    return ["bench", "--suite", "main", "--data", str(p), "--out", str(w.case / "b"), "--quick"]


def _spec(w: W, domains: str = "", **top: str) -> str:
    """A spec text over two files of the shared toy data, ``top`` keys and ``domains`` rows
    added."""
    rows = ["name: toy"] + [f"{k}: {v}" for k, v in top.items()]
    rows += ["domains:", f"  a: {w.src}", f"  b: {w.tgt}"] + ([domains] if domains else [])
    return "\n".join(rows) + "\n"


add("bench/spec-alias-bomb-in-title", lambda w: spec(w, _spec(w) + "title:\n" + alias_bomb(indent=2)), absent=("b",), expect="YAML alias *l0 refused")  # fmt: skip
add("bench/spec-one-alias", lambda w: spec(w, "name: &n toy\ntitle: *n\ndomains: {a: /x, b: /y}\n"), absent=("b",), expect="YAML alias *n refused")  # fmt: skip
add("bench/spec-over-1MiB", lambda w: spec(w, OVERSIZED_YAML), absent=("b",), expect="-byte limit for YAML")  # fmt: skip
add("bench/spec-fifo", lambda w: spec(w, path=w.fifo("spec.yaml")), absent=("b",), expect="not a regular file")  # fmt: skip
add("bench/spec-domain-dev-zero", lambda w: spec(w, _spec(w, "  c: /dev/zero")), absent=("b",), expect="/dev/zero is not a regular file")  # fmt: skip
add("bench/spec-domain-folder", lambda w: spec(w, _spec(w, f"  c: {w.case}")), absent=("b",), expect="is a folder")  # fmt: skip
add("bench/spec-domain-missing", lambda w: spec(w, _spec(w, "  c: /nonexistent/c.pkl")), absent=("b",), expect="no such file /nonexistent/c.pkl")  # fmt: skip
add("bench/spec-title-mapping", lambda w: spec(w, _spec(w, title="{a: 1}")), absent=("b",), expect="title: one line of text")  # fmt: skip
add("bench/spec-title-huge", lambda w: spec(w, _spec(w, title="x" * 600)), absent=("b",), expect="title: one line of text")  # fmt: skip
add("bench/spec-label-list", lambda w: spec(w, _spec(w, "  c: {path: " + str(w.src) + ", label: [1, 2]}")), absent=("b",), expect="label must be a short string")  # fmt: skip
add("bench/spec-path-int", lambda w: spec(w, _spec(w, "  c: {path: 3}")), absent=("b",), expect="path must be a string")  # fmt: skip
add("bench/spec-classes-mappings", lambda w: spec(w, _spec(w, task="classification", classes="[{a: 1}, {b: 2}]")), absent=("b",), expect="each class is a name")  # fmt: skip
add("bench/spec-split-key-int", lambda w: spec(w, _spec(w, "  c: {path: " + str(w.src) + ", splits: {1: train}}")), absent=("b",), expect="splits maps")  # fmt: skip
add("bench/spec-top-level-list", lambda w: spec(w, "- a\n- b\n"), absent=("b",), expect="top level must be a mapping")  # fmt: skip
add("bench/spec-domain-h5-bomb", lambda w: spec(w, _spec(w, f"  c: {_h5_declared_bomb(w)}")), absent=("b",), expect="declared size")  # fmt: skip


def _h5_declared_bomb(w: W) -> Path:
    import h5py

    from osan.data.io import load_domain
    from osan.data.portable import save_portable

    p = w.case / "c.h5"
    save_portable(load_domain(w.src), p)
    with h5py.File(p, "a") as h:
        n, _, d = h["train/features/text"].shape
        del h["train/features/text"]
        h.create_dataset(
            "train/features/text", shape=(n, 3_400_000_000 // (4 * n * d), d), dtype="f4"
        )
    return p


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)


# The 10^9-leaf alias bomb in a real process: refused before it expands (memory bounded).
B = Table()
B.add("bench/spec-alias-bomb-in-title", lambda w: spec(w, _spec(w) + "title:\n" + alias_bomb(indent=2)), absent=("b",), expect="YAML alias *l0 refused")  # fmt: skip


@pytest.mark.parametrize("c", B.cases, ids=B.ids)
def test_bomb_in_a_real_process_stays_bounded(c, w):
    check_bounded(c, w)
