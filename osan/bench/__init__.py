"""``osan bench``: benchmark suites that reproduce the paper's tables on osan's data.

- :mod:`osan.bench.suites`: which runs make up each suite, and their run ids;
- :mod:`osan.bench.runner`: runs the pending ones (resumable) into ``DIR/results.jsonl``;
- :mod:`osan.bench.tables`: ``DIR/table.md`` / ``table.csv`` in the paper's layout;
- :mod:`osan.bench.cli`: the ``osan bench`` sub-command.
"""

from osan.bench.runner import BenchError, BenchOptions, SuiteResult, run_suite
from osan.bench.suites import MAIN_METHODS, SUITES, RunSpec, Variant, plan
from osan.bench.tables import write_tables

__all__ = [
    "MAIN_METHODS",
    "SUITES",
    "BenchError",
    "BenchOptions",
    "RunSpec",
    "SuiteResult",
    "Variant",
    "plan",
    "run_suite",
    "write_tables",
]
