"""Learning curves read back from run logs: the points, and where a two-stage method's second
phase starts (drawn as a dotted line)."""

from __future__ import annotations

import json

from osan.report.curves import read_curve
from tests.report.conftest import CURVE_EVERY


def test_curves_come_from_the_logged_diagnostics(benches):
    run = benches["msa"] / "runs/msa/A2B"
    osan = read_curve(run / "osan/seed1/log.jsonl", "OSAN", 1)
    mdmn = read_curve(run / "mdmn/seed1/log.jsonl", "MDMN", 1)
    assert osan is not None and mdmn is not None
    assert osan.steps[0] == CURVE_EVERY and list(osan.steps) == list(mdmn.steps)
    assert set(osan.values) >= {"mae", "corr", "acc2_non0"}
    assert osan.phase_starts == []  # one stage
    records = [json.loads(x) for x in (run / "mdmn/seed1/log.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    last_pretrain = max(r["step"] for r in epochs if r["phase"] == "pretrain")
    assert any(r["phase"] == "adapt" for r in epochs)
    assert mdmn.phase_starts == [("adapt", last_pretrain)]


def test_a_log_without_diagnostics_has_no_curve(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"event": "epoch", "step": 4, "phase": "main"}) + "\n{torn")
    assert read_curve(log, "x", 1) is None
