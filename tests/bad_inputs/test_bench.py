# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan bench`` on bad arguments, folders and benchmark specs.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs.common import Table, _garbage_bench, bench, check_in_process

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


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)
