# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan pool`` and ``osan select`` on bad bench folders and arguments; both only read.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

import pytest

from tests.bad_inputs.common import (
    _OK_RECORD,
    Table,
    _garbage_bench,
    _records,
    check_in_process,
    pool,
)

T = Table()
add = T.add

add(
    "select/bench-missing",
    lambda w: ["select", "--bench", str(w.case / "none")],
    expect="results.jsonl: not found",
)
add(
    "select/bench-is-file",
    lambda w: ["select", "--bench", str(w.file("f", "x"))],
    expect="results.jsonl: not found",
)
add(
    "select/bench-empty",
    lambda w: ["select", "--bench", str(w.case)],
    expect="results.jsonl: not found",
)
add(
    "select/bench-garbage",
    lambda w: ["select", "--bench", str(_garbage_bench(w))],
    expect="not a run record",
)
add("select/validator-bogus", lambda w: ["select", "--bench", str(w.case), "--validator", "magic"], expect="unknown validator 'magic'")  # fmt: skip
add("select/no-bench", lambda w: ["select"], expect="required: --bench")
add("select/record-missing-keys", lambda w: ["select", "--bench", str(_records(w, {"run_id": "x"}))], expect="missing or wrong")  # fmt: skip
add("pool/bench-missing", lambda w: pool(w, bench_dir=w.case / "none"), absent=("pool",), expect="no results.jsonl")  # fmt: skip
add(
    "pool/bench-is-file",
    lambda w: pool(w, bench_dir=w.file("f", "x")),
    absent=("pool",),
    expect="no results.jsonl",
)
add("pool/bench-empty", lambda w: pool(w), absent=("pool",), expect="no results.jsonl")
add(
    "pool/bench-garbage",
    lambda w: pool(w, bench_dir=_garbage_bench(w)),
    absent=("pool",),
    expect="not a run record",
)
add("pool/record-missing-keys", lambda w: pool(w, bench_dir=_records(w, {"run_id": "x"})), absent=("pool",), expect="missing or wrong")  # fmt: skip
add("pool/method-absent", lambda w: pool(w, "--method", "dan", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="no finished run of dan")  # fmt: skip
add("pool/baseline-absent", lambda w: pool(w, bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="--baseline")  # fmt: skip
add("pool/method-syntax", lambda w: pool(w, "--method", "vtc=", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="BENCHMARK=METHOD")  # fmt: skip
add("pool/out-is-file", lambda w: ["pool", "--bench", str(_records(w, _OK_RECORD)), "--baseline", "osan", "--out", str(w.file("o", "keep"))], expect="not a folder")  # fmt: skip
add("pool/no-out", lambda w: ["pool", "--bench", str(w.case)], expect="required: --out")
add("pool/tag-not-a-bench-folder", lambda w: pool(w, "--tag", f"{w.case / 'other'}=x", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="not one of the --bench folders")  # fmt: skip
add("pool/tag-syntax", lambda w: pool(w, "--tag", "gate0", bench_dir=_records(w, _OK_RECORD)), absent=("pool",), expect="DIR=NAME")  # fmt: skip
add("pool/metric-not-a-number", lambda w: pool(w, bench_dir=_records(w, _OK_RECORD | {"metrics": {"mae": "x"}})), absent=("pool",), expect="metrics.mae is not a number")  # fmt: skip
add("pool/out-unwritable", lambda w: ["pool", "--bench", str(_records(w, _OK_RECORD)), "--baseline", "osan", "--out", "/proc/osan-pool"], expect='/proc/osan-pool: No such file')  # fmt: skip


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)
