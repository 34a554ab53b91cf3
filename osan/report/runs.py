"""The finished runs of ``osan bench`` folders, as the report sees them.

A run is a line of ``DIR/results.jsonl`` plus its folder ``DIR/runs/<run id>/`` (``fit``'s
files and, since the report exists, ``features.npz`` / ``predictions.csv``).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osan.bench import suites as S
from osan.eval.evaluate import FEATURES_FILE

RESULTS = "results.jsonl"
RUNS = "runs"

#: Short method names for figure legends (the tables keep the suites' long labels).
SHORT_LABELS: dict[str, str] = {
    "source-only": "Direct Transfer",
    "dan": "DAN",
    "dann": "DANN",
    "adda": "ADDA",
    "mm-sada": "MM-SADA",
    "mdmn": "MDMN",
    "osan-mixup": "OSAN (TAL + Mixup)",
    "osan-plus": "OSAN+",
    "osan": "OSAN",
    "oracle": "Oracle †",
}

#: Ablation variants named as in the paper's prose.
VARIANT_LABELS: dict[str, str] = {
    "wo-both": "OSAN w/o TAL and DDG",
    "wo-TAL": "OSAN w/o TAL",
    "wo-DDG": "OSAN w/o DDG",
}

#: Methods trained in two stages (named phases): the baselines of the learning-curve figure.
TWO_STAGE: frozenset[str] = frozenset({"adda", "mm-sada", "mdmn"})


class ReportError(RuntimeError):
    """A bad ``osan report`` command (no runs, unknown run ids): exit code 2."""


@dataclass(frozen=True)
class ReportRun:
    """One finished run: its ``results.jsonl`` record and its folder."""

    record: dict[str, Any]
    path: Path
    bench: Path

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    @property
    def method(self) -> str:
        return self.record["method"]

    @property
    def seed(self) -> int:
        return int(self.record.get("seed", 0))

    @property
    def task(self) -> str:
        return self.record.get("task", "regression")

    @property
    def group(self) -> tuple[str, str]:
        """(benchmark, direction): the runs drawn in one figure."""
        return self.record.get("benchmark", "?"), self.record.get("direction", "?")

    @property
    def key(self) -> str:
        """``method`` for a main-suite run, ``method:variant`` for an ablation variant
        (``osan:wo-both``): what ``--methods`` selects."""
        variant = self.record.get("variant", self.method)
        return self.method if variant == self.method else f"{self.method}:{variant}"

    @property
    def label(self) -> str:
        variant = self.record.get("variant", self.method)
        if variant == self.method:
            return SHORT_LABELS.get(self.method, self.method)
        if variant in VARIANT_LABELS:
            return VARIANT_LABELS[variant]
        return f"{SHORT_LABELS.get(self.method, self.method)} [{self.record.get('label', variant)}]"

    @property
    def has_artifacts(self) -> bool:
        return (self.path / FEATURES_FILE).exists()


def group_title(group: tuple[str, str]) -> str:
    bench, direction = group
    spec = S.BENCHMARKS.get(bench)
    heading = spec.directions.get(direction, direction) if spec else direction
    return f"{bench} {direction} ({heading})"


def method_order(key: str) -> tuple[int, str]:
    """Direct Transfer first, the paper's row order, ablation variants after their method."""
    method = key.split(":", 1)[0]
    rank = S.MAIN_METHODS.index(method) if method in S.MAIN_METHODS else len(S.MAIN_METHODS)
    return rank, key


def load_records(bench: Path) -> list[dict[str, Any]]:
    path = bench / RESULTS
    if not bench.is_dir():
        raise ReportError(f"{bench}: no such folder")
    if not path.is_file():
        raise ReportError(f"{bench}: no {RESULTS} (not an `osan bench --out` folder)")
    records = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line: `osan bench` drops it on its next start
        if not isinstance(rec, dict) or "run_id" not in rec:
            raise ReportError(f"{path}: line {i + 1} is not a run record")
        records.append(rec)
    return records


def discover(benches: list[Path], patterns: list[str] | None = None) -> list[ReportRun]:
    """Every finished run of the ``benches`` (``--runs`` patterns, fnmatch-style, select some).

    Raises :class:`ReportError` when a folder is not a bench folder, holds no finished run, or
    a pattern matches nothing.
    """
    runs: list[ReportRun] = []
    for bench in benches:
        records = load_records(Path(bench))
        if not records:
            raise ReportError(f"{bench}: {RESULTS} holds no finished run")
        latest = {r["run_id"]: r for r in records}  # a re-run keeps its last line
        runs += [ReportRun(r, Path(bench) / RUNS / rid, Path(bench)) for rid, r in latest.items()]
    if patterns:
        picked = []
        for pattern in patterns:
            hits = [r for r in runs if fnmatch.fnmatchcase(r.run_id, pattern)]
            if not hits:
                some = ", ".join(r.run_id for r in runs[:4])
                raise ReportError(f"--runs {pattern!r} matches no run (runs are like {some})")
            picked += [r for r in hits if r not in picked]
        runs = picked
    return runs
