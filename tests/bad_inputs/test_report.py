# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan report`` on bad bench folders, run folders and arguments.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs.common import (
    Table,
    W,
    _corrupt,
    _cut,
    _garbage_bench,
    _records,
    alias_bomb,
    check_in_process,
    report,
)

T = Table()
add = T.add


add(
    "report/bench-missing",
    lambda w: report(w, bench_dir=w.case / "none"),
    absent=("rep",),
    expect="no such folder",
)
add(
    "report/bench-is-file",
    lambda w: report(w, bench_dir=w.file("f", "x")),
    absent=("rep",),
    expect="no such folder",
)
add("report/bench-empty", lambda w: report(w), absent=("rep",), expect="no results.jsonl")
add(
    "report/bench-garbage",
    lambda w: report(w, bench_dir=_garbage_bench(w)),
    absent=("rep",),
    expect="not a run record",
)
add(
    "report/cases-negative",
    lambda w: report(w, "--cases", "-1"),
    absent=("rep",),
    expect="--cases must be >= 0",
)
add("report/out-is-file", lambda w: ["report", "--runs", str(w.run), "--out", str(w.file("o", "keep"))], expect="File exists")  # fmt: skip
add("report/out-unwritable", lambda w: ["report", "--runs", str(w.run), "--out", "/proc/osan-rep"], expect='/proc/osan-rep: No such file')  # fmt: skip
add(
    "report/no-bench",
    lambda w: ["report", "--out", str(w.case / "rep")],
    absent=("rep",),
    expect="give --bench",
)
add("report/record-missing-keys", lambda w: report(w, bench_dir=_records(w, {"run_id": "x"})), absent=("rep",), expect="missing or wrong")  # fmt: skip
add("report/record-metrics-not-dict", lambda w: report(w, bench_dir=_records(w, {"run_id": "msa/A2B/osan/seed1", "metrics": 3})), absent=("rep",), expect='missing or wrong')  # fmt: skip


# ---- issue 26: every run-folder file that report reads is checked (a half-copied folder) ----
def runs(w: W, run: Path) -> list[str]:
    return ["report", "--runs", str(run), "--out", str(w.case / "rep")]


def _features(w: W, edit) -> Path:
    """A copy of the run whose features.npz has ``edit(dict of arrays)`` applied."""
    import numpy as np

    run = w.copy_run()
    with np.load(run / "features.npz") as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    np.savez(run / "features.npz", **arrays)
    return run


add("report/runs-features-cut", lambda w: runs(w, _cut(w, "features.npz")), absent=("rep",), expect="features.npz: truncated or corrupt run file")  # fmt: skip
add("report/runs-features-empty", lambda w: runs(w, _cut(w, "features.npz", 0)), absent=("rep",), expect="features.npz: truncated or corrupt run file")  # fmt: skip
add("report/runs-features-garbage", lambda w: runs(w, _corrupt(w, "features.npz", b"PK\x03\x04junk")), absent=("rep",), expect="features.npz")  # fmt: skip
add("report/runs-features-missing-key", lambda w: runs(w, _features(w, lambda a: a.pop("task"))), absent=("rep",), expect="KeyError")  # fmt: skip
add("report/runs-features-object-array", lambda w: runs(w, _features(w, lambda a: a.__setitem__("task", np_object()))), absent=("rep",), expect="object array")  # fmt: skip
add("report/runs-features-fifo", lambda w: runs(w, _fifo(w, "features.npz")), absent=("rep",), expect="not a regular file")  # fmt: skip
add("report/runs-metrics-cut", lambda w: runs(w, _cut(w, "metrics.json")), absent=("rep",), expect="unreadable run")  # fmt: skip
add("report/runs-metrics-a-list", lambda w: runs(w, _corrupt(w, "metrics.json", "[1, 2]")), absent=("rep",), expect="not the metrics of an osan run")  # fmt: skip
add("report/runs-config-alias-bomb", lambda w: runs(w, _corrupt(w, "config.yaml", alias_bomb())), absent=("rep",), expect="YAML alias *l0 refused")  # fmt: skip
add("report/runs-config-cut", lambda w: runs(w, _cut(w, "config.yaml", 0.3)), absent=("rep",), expect="config.yaml")  # fmt: skip


def np_object():
    import numpy as np

    return np.array([{"a": 1}], dtype=object)


def _fifo(w: W, name: str) -> Path:
    import os

    run = w.copy_run()
    (run / name).unlink()
    os.mkfifo(run / name)
    return run


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)
