"""``osan bench --suite test-time``: Direct Transfer trained once per seed and direction, then
adapted by each test-time method of the task without the source; the table says so."""

from __future__ import annotations

import argparse

from osan.bench import suites as S
from osan.bench.cli import add_bench_parser, cmd_bench
from osan.bench.runner import RESULTS, load_results
from tests.helpers import TINY, toy_domains


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="osan")
    add_bench_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def test_the_plan_is_direct_transfer_then_each_method_of_the_task():
    ids = [r.run_id for r in S.plan("test-time", [1])]
    assert ids == [
        "test-time/msa/A2B/source-only/seed1",
        "test-time/msa/A2B/adabn/seed1",
        "test-time/msa/A2B/ssa/seed1",
        "test-time/msa/B2A/source-only/seed1",
        "test-time/msa/B2A/adabn/seed1",
        "test-time/msa/B2A/ssa/seed1",
        "test-time/vtc/news2show/source-only/seed1",
        "test-time/vtc/news2show/adabn/seed1",
        "test-time/vtc/news2show/tent/seed1",
        "test-time/vtc/news2show/shot-im/seed1",
    ]


def test_suite_adapts_the_direct_transfer_run_without_the_source(tmp_path, monkeypatch):
    src, tgt = toy_domains(seed=0, n=64)
    data = {"A2B": (src, tgt), "B2A": (tgt, src)}
    fits: list[str] = []
    from osan.train import trainer

    real_fit = trainer.fit

    def counting_fit(cfg, source, target, out, **kw):
        fits.append(str(out))
        return real_fit(cfg, source, target, out, **kw)

    monkeypatch.setattr(trainer, "fit", counting_fit)
    out = tmp_path / "bench"
    args = parse(
        "--suite", "test-time", "--benchmarks", "msa", "--out", str(out), "--seeds", "1",
        *TINY, "optim.epochs=1", "adapt.epochs=1",
    )  # fmt: skip
    assert cmd_bench(args, data_fn=lambda b: data) == 0
    records = {r["run_id"]: r for r in load_results(out / RESULTS)}
    assert len(records) == 6
    assert len(fits) == 2  # one Direct Transfer training per direction, reused by adaptations
    for d in ("A2B", "B2A"):
        assert records[f"test-time/msa/{d}/source-only/seed1"]["group"] == "direct"
        for m in ("adabn", "ssa"):
            rec = records[f"test-time/msa/{d}/{m}/seed1"]
            assert rec["group"] == "test-time" and "mae" in rec["metrics"]
    table = (out / "table.md").read_text()
    assert "Direct Transfer + SSA" in table and "without the source data" in table
