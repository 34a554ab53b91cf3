# ruff: noqa: E501  (a table of cases reads best one case per line)
"""The same promise end to end: the real ``osan`` entry point in a child process (exit code,
one line holding the named words, nothing changed), a closed pipe, and a folder held by another
process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests import hostile as H
from tests.bad_inputs.common import (
    ROOT,
    W,
    _evil_ckpt,
    _snapshot,
    assert_unchanged,
    ev,
    osan,
    pr,
    train,
)
from tests.helpers import TINY

SUBPROCESS_CASES: list[tuple[str, Callable[[W], list[str]], str]] = [
    ("sub/inspect-hostile", lambda w: ["data", "inspect", str(w.file("h.pkl", H.os_system(str(w.marker))))], "refused to unpickle 'os.system'"),
    ("sub/inspect-deep-tuple", lambda w: ["data", "inspect", str(w.file("d.pkl", H.deep_tuple_key()))], "refused"),
    ("sub/inspect-fifo", lambda w: ["data", "inspect", str(w.fifo("p.pkl"))], "not a regular file"),
    ("sub/inspect-dev-zero", lambda w: ["data", "inspect", str(w.symlink("z.pkl", "/dev/zero"))], "not a regular file"),
    ("sub/train-unknown-method", lambda w: train(w, method="magic"), "unknown method"),
    ("sub/train-lr-negative", lambda w: train(w, over=("optim.lr=-1",)), "optim.lr must lie"),
    ("sub/eval-evil-checkpoint", lambda w: ev(w, run=_evil_ckpt(w)), "checkpoint"),
    ("sub/predict-other-dims", lambda w: pr(w, data=w.other_dims), "vision 7"),
    ("sub/argparse-usage", lambda w: ["train", "--bogus-flag"], "required: --source"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, argv, expect", SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES]
)
def test_bad_input_end_to_end_in_a_real_process(name, argv, expect, w):
    args = argv(w)
    before = _snapshot(w.root, w.case)
    proc = osan(args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert expect in lines[0], lines[0]
    assert_unchanged(before, w)
    assert not (w.case / "r").exists() and not (w.case / "preds.csv").exists()


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
        proc = osan(
            ["bench", "--suite", "msa-main", "--out", str(out), "--quick", "--methods",
             "source-only", "--size", "tiny", "--epochs", "1"]
        )  # fmt: skip
        assert proc.returncode == 2 and "in use by another osan process" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (out / "results.jsonl").exists()
        w_run = workspace / "data"
        proc = osan(
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
