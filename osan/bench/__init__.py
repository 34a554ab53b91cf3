"""``osan bench``: benchmark suites that reproduce the paper's tables on osan's or the user's data.

- :mod:`osan.bench.spec`: benchmark specs (``--data``): domains, task and transfer pairs;
- :mod:`osan.bench.suites`: which runs make up each suite, and their run ids;
- :mod:`osan.bench.runner`: runs the pending ones (resumable) into ``DIR/results.jsonl``;
- :mod:`osan.bench.tables`: ``DIR/table.md`` / ``table.csv`` in the paper's layout;
- :mod:`osan.bench.cli`: the ``osan bench`` sub-command.
"""

from osan.bench.runner import BenchError, BenchOptions, SuiteResult, run_suite
from osan.bench.spec import BenchmarkSpec, SpecError, load_spec
from osan.bench.suites import MAIN_METHODS, SUITES, RunSpec, Variant, plan
from osan.bench.tables import write_tables

__all__ = [
    "MAIN_METHODS",
    "SUITES",
    "BenchError",
    "BenchOptions",
    "BenchmarkSpec",
    "RunSpec",
    "SpecError",
    "SuiteResult",
    "Variant",
    "load_spec",
    "plan",
    "run_suite",
    "write_tables",
]
