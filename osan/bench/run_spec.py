"""The values a suite expands into: :class:`Suite`, :class:`Variant` (a column of an ablation
table, a row of a main table) and :class:`RunSpec` (one training run, with its stable run id);
the methods of the main suites in the paper's row order with their labels; the built-in
benchmarks (``osan/bench/suites.py`` defines the suites)."""

from __future__ import annotations

from dataclasses import dataclass, field

from osan.bench.spec import BenchmarkSpec, load_spec
from osan.config import METHOD_TASKS
from osan.data.generators.msa_zoo import SHIFT_KINDS

#: Every method of the main suites, in the paper's row order (Direct Transfer, UDA, oracle).
MAIN_METHODS: tuple[str, ...] = (
    "source-only",
    "dan",
    "dann",
    "adda",
    "mm-sada",
    "mdmn",
    "coral",
    "rsd",
    "dare-gram",
    "mcc",
    "osan-mixup",
    "osan",
    "osan-plus",
    "oracle",
)

#: Row labels of the result tables.
METHOD_LABELS: dict[str, str] = {
    "source-only": "Direct Transfer (source-only)",
    "dan": "DAN",
    "dann": "DANN",
    "adda": "ADDA",
    "mm-sada": "MM-SADA",
    "mdmn": "MDMN",
    "coral": "Deep CORAL",
    "rsd": "RSD",
    "dare-gram": "DARE-GRAM",
    "mcc": "MCC (classification only)",
    "osan-mixup": "OSAN (TAL + Mixup)",
    "osan": "OSAN (TAL + DDG)",
    "osan-plus": "OSAN+ (OSAN + target self-training; not in the paper)",
    "oracle": "Oracle (supervised on target labels)",
}

#: Methods that are not unsupervised domain adaptation: never bold, never ranked as UDA.
DIRECT_TRANSFER = "source-only"
ORACLE = "oracle"

#: The group of test-time (source-free) rows: Direct Transfer's run adapted by ``osan adapt``
#: without the source data (``osan.testtime``); never bold, never ranked as UDA.
TEST_TIME = "test-time"
TEST_TIME_LABELS: dict[str, str] = {
    "adabn": "AdaBN",
    "ssa": "SSA",
    "tent": "TENT",
    "shot-im": "SHOT-IM",
}


def applies(method: str, task: str) -> bool:
    """Whether ``method`` runs on a ``task`` benchmark (``mcc`` is classification only): a
    suite leaves the others out of that benchmark's runs and tables."""
    return task in METHOD_TASKS.get(method, (task,))


def method_group(method: str) -> str:
    """``"direct"`` (source-only), ``"oracle"`` (upper bound) or ``"uda"``."""
    if method == DIRECT_TRANSFER:
        return "direct"
    if method == ORACLE:
        return "oracle"
    return "uda"


#: A data source of the suites (name, task, directions, title): a benchmark spec.
Benchmark = BenchmarkSpec

#: The shift zoo's benchmarks (``msa-sensor``, ``msa-label``, ...): one kind of shift each
#: (``osan/data/generators/msa_zoo.py``), specs ``configs/benchmarks/msa-<kind>.yaml``.
ZOO_BENCHMARKS: tuple[str, ...] = tuple(f"msa-{kind}" for kind in SHIFT_KINDS)

#: The built-in benchmarks, specs in ``configs/benchmarks/`` (``cmu`` is ``cmu-text.yaml``).
#: Their first pair is the direction the paper's ablations use: CMU-MOSI target (Tables 2-5)
#: and Text-show (Tables 7-10).
BENCHMARKS: dict[str, Benchmark] = {b: load_spec(b) for b in ("msa", "vtc", "cmu", *ZOO_BENCHMARKS)}


def benchmark_of(benchmark: str | Benchmark) -> Benchmark:
    """A built-in benchmark by name, or the spec itself."""
    return benchmark if isinstance(benchmark, BenchmarkSpec) else BENCHMARKS[benchmark]


@dataclass(frozen=True)
class Variant:
    """One column of an ablation table (or one row of a main table)."""

    name: str  # id-safe, part of the run id
    label: str  # table heading
    method: str
    overrides: tuple[str, ...] = ()
    reference: bool = False  # the full model the deltas are taken against


@dataclass(frozen=True)
class RunSpec:
    """One training run of a suite."""

    suite: str
    benchmark: str
    direction: str
    variant: Variant
    seed: int
    spec: Benchmark | None = field(default=None, compare=False, repr=False)

    @property
    def method(self) -> str:
        return self.variant.method

    @property
    def data(self) -> Benchmark:
        """The benchmark spec this run trains on."""
        return self.spec if self.spec is not None else BENCHMARKS[self.benchmark]

    @property
    def run_id(self) -> str:
        """Stable id, also the run's folder under ``DIR/runs/``."""
        by_bench = self.suite in (MAIN, SHIFT_ZOO)
        prefix = self.benchmark if by_bench else MAIN_PREFIX.get(self.suite, self.suite)
        if self.suite == TEST_TIME:  # runs on several benchmarks: test-time/msa/A2B/ssa/seed1
            prefix = f"{self.suite}/{self.benchmark}"
        return f"{prefix}/{self.direction}/{self.variant.name}/seed{self.seed}"


@dataclass(frozen=True)
class Suite:
    name: str
    kind: str  # "main" | "ablation"
    title: str
    paper: str
    benchmarks: tuple[str, ...]  # default benchmarks (ablations: msa and vtc); main: none


#: The suite that runs every method on the spec(s) given with ``--data`` (run ids
#: ``<spec name>/<direction>/<method>/seed<k>``, as ``msa-main``'s are ``msa/...``).
MAIN = "main"


#: The suite that runs the chosen methods on every kind of the shift zoo (run ids
#: ``msa-<kind>/A2B/<method>/seed<k>``, one task per kind).
SHIFT_ZOO = "shift-zoo"


#: Run-id prefix of the main suites (the benchmark, not the suite name).
MAIN_PREFIX: dict[str, str] = {"msa-main": "msa", "vtc-main": "vtc", "real-text": "real-text"}
