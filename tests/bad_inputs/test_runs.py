# ruff: noqa: E501  (a table of cases reads best one case per line)
"""``osan eval`` and ``osan predict`` on bad run folders and data.

Each case: exit 2, one line naming the words it lists, nothing of the user's changed (see
:mod:`tests.bad_inputs.common`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests import hostile as H
from tests.bad_inputs.common import (
    _HOSTILE,
    OVERSIZED_YAML,
    Table,
    W,
    _ckpt,
    _config_dir,
    _corrupt,
    _cut,
    _evil_ckpt,
    _fifo_ckpt,
    _rm,
    _set,
    _truncate,
    _wrong_weights,
    alias_bomb,
    check_in_process,
    ev,
    pr,
)

T = Table()
add = T.add


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
add("eval/out-inside-run", lambda w: ev(w, "--out", str(w.run / "e.json")), expect="only reads")
add(
    "eval/out-deep-inside-run",
    lambda w: ev(w, "--out", str(w.run / "sub" / "e.json")),
    expect="only reads",
)
add("eval/out-is-folder", lambda w: ev(w, "--out", str(w.case)), expect="folder")
add("predict/out-is-folder", lambda w: pr(w, out=w.case), expect="folder")
add(
    "predict/out-under-file",
    lambda w: pr(w, out=w.file("f", "keep") / "p.csv"),
    expect="File exists",
)
add(
    "predict/no-out",
    lambda w: ["predict", "--run", str(w.run), "--data", str(w.tgt)],
    expect="required: --out",
)
add(
    "predict/out-unwritable",
    lambda w: pr(w, out=Path("/proc/osan-out.csv")),
    expect="/proc/osan-out.csv: No such file",
)


# ---- issue 26: every run-folder file that eval/predict read is checked ----
for _cmd, _fn in (("eval", ev), ("predict", pr)):
    _abs = ("preds.csv",) if _cmd == "predict" else ()
    add(f"{_cmd}/config-cut", (lambda f: lambda w: f(w, run=_cut(w, "config.yaml", 0.3)))(_fn), absent=_abs, expect="config.yaml")  # fmt: skip
    add(f"{_cmd}/config-alias-bomb", (lambda f: lambda w: f(w, run=_corrupt(w, "config.yaml", alias_bomb())))(_fn), absent=_abs, expect="YAML alias *l0 refused")  # fmt: skip
    add(f"{_cmd}/config-over-1MiB", (lambda f: lambda w: f(w, run=_corrupt(w, "config.yaml", OVERSIZED_YAML)))(_fn), absent=_abs, expect="-byte limit for YAML")  # fmt: skip
    add(f"{_cmd}/checkpoint-cut-at-90%", (lambda f: lambda w: f(w, run=_cut(w, "checkpoint.pt", 0.9)))(_fn), absent=_abs, expect="checkpoint")  # fmt: skip
    add(f"{_cmd}/checkpoint-empty", (lambda f: lambda w: f(w, run=_cut(w, "checkpoint.pt", 0)))(_fn), absent=_abs, expect="checkpoint")  # fmt: skip
    add(f"{_cmd}/data-h5-declared-bomb", (lambda f: lambda w: f(w, data=_h5_bomb(w)))(_fn), absent=_abs, expect="declared size")  # fmt: skip


def _h5_bomb(w: W) -> Path:
    """The toy target as an osan .h5 whose test features are an unwritten 3.4 GB dataset."""
    import h5py

    from osan.data.io import load_domain
    from osan.data.portable import save_portable

    p = w.case / "t.h5"
    save_portable(load_domain(w.tgt), p)
    with h5py.File(p, "a") as h:
        n, _, d = h["test/features/text"].shape
        del h["test/features/text"]
        h.create_dataset(
            "test/features/text", shape=(n, 3_400_000_000 // (4 * n * d), d), dtype="f4"
        )
    return p


@pytest.mark.parametrize("c", T.cases, ids=T.ids)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(c, w, capsys):
    check_in_process(c, w, capsys)
