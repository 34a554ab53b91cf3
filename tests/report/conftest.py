"""Fixtures of the report tests: tiny finished benches (regression and classification, with
learning-curve diagnostics) and a headless browser."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from osan.bench.cli import add_bench_parser, cmd_bench
from tests.helpers import TINY, toy_domains
from tests.report.browser import find_chromium

CURVE_EVERY = 2


def _bench(out: Path, suite: str, methods: list[str], data) -> Path:
    parser = argparse.ArgumentParser(prog="osan")
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["bench", "--suite", suite, "--out", str(out), "--seeds", "1", "--methods", *methods,
         *TINY, f"curve_every={CURVE_EVERY}"]
    )  # fmt: skip
    assert cmd_bench(args, data_fn=lambda benchmark: data) == 0
    return out


@pytest.fixture(scope="package")
def benches(tmp_path_factory) -> dict[str, Path]:
    """``msa``: source-only, MDMN (two-stage) and OSAN on a toy regression pair, both
    directions; ``vtc``: source-only and OSAN on a toy 3-class pair. One seed, 2 epochs."""
    root = tmp_path_factory.mktemp("benches")
    src, tgt = toy_domains(seed=0, n=64)
    msa = _bench(
        root / "msa",
        "msa-main",
        ["source-only", "mdmn", "osan"],
        {"A2B": (src, tgt), "B2A": (tgt, src)},
    )
    csrc, ctgt = toy_domains(task="classification", seed=1, n=64)
    vtc = _bench(root / "vtc", "vtc-main", ["source-only", "osan"], {"news2show": (csrc, ctgt)})
    return {"msa": msa, "vtc": vtc}


@pytest.fixture(scope="session")
def chromium() -> str:
    path, why = find_chromium()
    if path is None:
        pytest.skip(f"headless browser check skipped: {why}")
    return path
