# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan report`` on bad bench folders, run folders and arguments.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

import pytest

from tests.bad_inputs.common import Table, _garbage_bench, _records, check_in_process, report

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


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)
