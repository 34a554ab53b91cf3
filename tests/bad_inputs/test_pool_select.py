# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan pool`` and ``osan select`` on bad bench folders and arguments; both only read.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bad_inputs.common import (
    _OK_RECORD,
    ROOT,
    Table,
    W,
    _garbage_bench,
    _records,
    _snapshot,
    assert_unchanged,
    check_in_process,
    osan,
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


# ---- issue 26: pool and select only read: a torn record is skipped in memory, never cut ----
def _torn_bench(w: W) -> Path:
    """A bench folder with two finished runs and a torn last line (a write cut or ongoing)."""
    base = _OK_RECORD | {"run_id": "msa/A2B/source-only/seed1", "method": "source-only"}
    d = _records(w, _OK_RECORD, base | {"metrics": {"mae": 1.2}})
    with open(d / "results.jsonl", "ab") as f:
        f.write(b'{"run_id": "msa/B2A/osan/se')
    return d


def test_pool_skips_a_torn_last_line_in_memory_and_leaves_the_file(w):
    bench_dir = _torn_bench(w)
    before = _snapshot(w.root, w.case)
    files = sorted(p.name for p in bench_dir.iterdir())
    proc = osan(["pool", "--bench", str(bench_dir), "--baseline", "source-only", "--out", str(w.case / "pool")])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "torn last line" in lines[0] and "left as it is" in lines[0], lines
    assert_unchanged(before, w)  # results.jsonl byte for byte (and mtime)
    assert sorted(p.name for p in bench_dir.iterdir()) == files  # no lock file, nothing new
    assert "0 of 1" in (w.case / "pool" / "pool.md").read_text()  # the two whole records


def test_select_skips_a_torn_last_line_and_leaves_the_file(w):
    bench_dir = _torn_bench(w)
    before = _snapshot(w.root, w.case)
    proc = osan(["select", "--bench", str(bench_dir)])
    assert "torn last line" in proc.stderr and "left as it is" in proc.stderr
    assert "run folder(s) missing" in proc.stderr  # it went on to the records it could read
    assert_unchanged(before, w)
    assert sorted(p.name for p in bench_dir.iterdir()) == ["results.jsonl"]


def test_pool_reads_a_folder_that_a_live_bench_holds(w):
    """A bench holds its folder's lock while it appends: pool reads the whole lines there are
    (a consistent prefix) without waiting and without touching the lock or the file."""
    bench_dir = _torn_bench(w)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from osan import lock; lock.acquire(sys.argv[1]); print('held', "
         "flush=True); time.sleep(60)", str(bench_dir)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(w.root, w.case)
        proc = osan(["pool", "--bench", str(bench_dir), "--baseline", "source-only", "--out", str(w.case / "pool")])  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert_unchanged(before, w)
    finally:
        holder.kill()
        holder.wait()
