"""What ``osan bench`` is asked and answers: :class:`BenchOptions` (the command's options),
:class:`BenchError` (a one-line problem with the command, exit code 2), :class:`SuiteResult`,
and the names of the files in the output folder (the layout is in ``osan/bench/runner.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from osan.bench import suites as S
from osan.data.domain import Domain

RESULTS = "results.jsonl"
FAILED = "failed.jsonl"
RUNS = "runs"

#: ``data_fn(benchmark) -> {direction: (source, target)}``.
DataFn = Callable[[str], dict[str, tuple[Domain, Domain]]]


class BenchError(RuntimeError):
    """A problem with the command (missing files, conflicting results): exit code 2."""


@dataclass
class BenchOptions:
    suite: str
    out: Path
    seeds: list[int] | None = None  # None: [1] with --quick, else [1, 2, 3]
    quick: bool = False
    methods: list[str] | None = None
    benchmarks: list[str] | None = None  # ablations: msa and/or vtc
    overrides: list[str] = field(default_factory=list)
    device: str | None = None
    epochs: int | None = None
    size: str | float | None = None  # generated data size; None: 0.5 with --quick, else small
    data_seed: int = 0
    mosi: Path | None = None  # real-text: MMSA label.csv files
    mosei: Path | None = None
    text_cache_dir: Path | None = None
    verbose: bool = False
    data: list[str] | None = None  # --data: built-in names or spec files
    source: Path | None = None  # --source/--target: a spec of two files
    target: Path | None = None
    both_directions: bool = False
    task: str | None = None  # --task of --source/--target (default regression)
    nan_policy: str = "error"  # for spec domains that do not set their own

    def resolved_seeds(self) -> list[int]:
        if self.seeds:
            return list(self.seeds)
        return [1] if self.quick else [1, 2, 3]

    def resolved_size(self) -> str | float:
        if self.size is not None:
            return self.size
        return S.QUICK_SIZE if self.quick else "small"

    def user_overrides(self) -> list[str]:
        over = list(self.overrides)
        if self.epochs is not None:
            over.append(f"optim.epochs={self.epochs}")
        return over


@dataclass
class SuiteResult:
    total: int
    skipped: int
    ran: list[str]
    failed: list[tuple[str, str]]
    wall_time_s: float
    tables: list[Path]
