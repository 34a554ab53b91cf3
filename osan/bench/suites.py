"""Benchmark suites: which runs reproduce which table of the paper.

A suite expands to a list of :class:`RunSpec` — one ``fit`` each — with a stable run id::

    msa/A2B/osan/seed1                      main suites: <benchmark>/<direction>/<method>/seed<k>
    msa-sensor/A2B/osan/seed1               shift-zoo: msa-<kind>/A2B/<method>/seed<k>
    ablation-ddg/A2B/H32-lam0.9/seed1       ablations:   <suite>/<direction>/<variant>/seed<k>

| suite              | runs                                                        | paper      |
|--------------------|-------------------------------------------------------------|------------|
| ``main``           | every method x every pair of ``--data SPEC`` (any spec)     | Table 1 / 6|
| ``msa-main``       | every method x A2B, B2A of the generated ``msa`` benchmark  | Table 1    |
| ``vtc-main``       | every method on the generated ``vtc`` benchmark             | Table 6    |
| ``real-text``      | every method x CMU-MOSEI <-> CMU-MOSI transcripts (text)    | Table 1*   |
| ``shift-zoo``      | every method x every kind of msa shift (msa-sensor, ...)    | (none)     |
| ``ablation-*``     | OSAN variants on msa A2B (Tables 2-5) and vtc (Tables 7-10) | Tables 2-10|
| ``ablation-design``| OSAN's session-4 design choices, one at a time              | (none)     |
| ``selection``      | a hyper-parameter grid per method on msa, vtc and real text | (osan select)|
| ``test-time``      | Direct Transfer, then its run adapted by every test-time    | (none)     |
|                    | method of the task without the source (``osan adapt``)      |            |

The data of a suite is a benchmark spec (:mod:`osan.bench.spec`): the built-in ``msa``,
``vtc`` and ``cmu-text`` (``configs/benchmarks/``) or the user's own (``--data SPEC.yaml``).

Ablation variants are config overrides of ``osan``; each ablation suite has one *reference*
variant (the full model), against which the table reports deltas. The overrides of a run are
applied in the order: quick preset -> the user's ``key=value`` -> the variant's (the variant
wins, otherwise an ablation would not ablate).

The suite values (Suite, Variant, RunSpec), the main methods and the built-in benchmarks live in
``run_spec.py``, the ablation variants in ``ablations.py``, the selection grid in
``selection_grid.py``; this module names the suites, their presets and expands them into runs.
"""

from __future__ import annotations

from osan.bench.ablations import (
    ABLATIONS,
    DDG_GRID,
    PAIRINGS,
    TAL_ENCODER_DIMS,
    TAL_GRID,
    tal_variants,
)
from osan.bench.run_spec import (
    BENCHMARKS,
    DIRECT_TRANSFER,
    MAIN,
    MAIN_METHODS,
    MAIN_PREFIX,
    METHOD_LABELS,
    ORACLE,
    SHIFT_ZOO,
    TEST_TIME,
    TEST_TIME_LABELS,
    ZOO_BENCHMARKS,
    Benchmark,
    RunSpec,
    Suite,
    Variant,
    applies,
    benchmark_of,
    method_group,
)
from osan.bench.selection_grid import (
    _LRS,  # noqa: F401 (tests read S._LRS)
    INPUT_NORM,
    QUICK_SELECTION_GRID,
    SELECTION,
    SELECTION_GRID,
    input_norm_variants,
    selection_variants,
)

#: Importable from here as before the split into run_spec / ablations / selection_grid.
__all__ = [
    "ABLATIONS",
    "BENCHMARKS",
    "BENCH_OVERRIDES",
    "Benchmark",
    "DDG_GRID",
    "DIRECT_TRANSFER",
    "MAIN",
    "MAIN_METHODS",
    "MAIN_PREFIX",
    "METHOD_LABELS",
    "ORACLE",
    "PAIRINGS",
    "QUICK_OVERRIDES",
    "QUICK_SELECTION_GRID",
    "QUICK_SIZE",
    "QUICK_TEXT_SCALE",
    "RunSpec",
    "SELECTION",
    "SELECTION_GRID",
    "SHIFT_ZOO",
    "SUITES",
    "Suite",
    "TEST_TIME",
    "TEST_TIME_LABELS",
    "TAL_ENCODER_DIMS",
    "TAL_GRID",
    "Variant",
    "applies",
    "ZOO_BENCHMARKS",
    "benchmark_of",
    "directions",
    "method_group",
    "plan",
    "run_overrides",
    "selection_variants",
    "tal_variants",
    "variants",
]


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            MAIN,
            "main",
            "All methods on a benchmark spec (--data)",
            "Table 1 / Table 6",
            (),
        ),
        Suite(
            "msa-main", "main", "All methods on the generated msa benchmark", "Table 1", ("msa",)
        ),
        Suite(
            "vtc-main", "main", "All methods on the generated vtc benchmark", "Table 6", ("vtc",)
        ),
        Suite(
            "real-text",
            "main",
            "All methods on real CMU-MOSEI / CMU-MOSI transcripts (text only)",
            "Table 1 (text modality, real data)",
            ("cmu",),
        ),
        Suite(
            SHIFT_ZOO,
            "main",
            "The chosen methods on every kind of the msa shift zoo (one cause of shift each)",
            "(not in the paper)",
            ZOO_BENCHMARKS,
        ),
        Suite(
            "ablation-modules",
            "ablation",
            "Ablation of the proposed modules",
            "Tables 2 / 7",
            ("msa", "vtc"),
        ),
        Suite(
            "ablation-losses",
            "ablation",
            "Ablation of the three losses",
            "Tables 3 / 8",
            ("msa", "vtc"),
        ),
        Suite("ablation-ddg", "ablation", "DDG hyperparameters", "Tables 4 / 9", ("msa", "vtc")),
        Suite(
            "ablation-tal",
            "ablation",
            "TAL projection dimensions",
            "Tables 5 / 10",
            ("msa", "vtc"),
        ),
        Suite(
            "ablation-pairing",
            "ablation",
            "TAL pairing strategies",
            "(not in the paper)",
            ("msa", "vtc"),
        ),
        Suite(
            "ablation-design",
            "ablation",
            "OSAN's design choices since session 4, one at a time",
            "(not in the paper)",
            ("msa", "vtc"),
        ),
        Suite(
            INPUT_NORM,
            "main",
            "Every method with raw features and with per-domain input statistics (osan select)",
            "(not in the paper)",
            ("msa", "vtc", "cmu"),
        ),
        Suite(
            TEST_TIME,
            "main",
            "Test-time (source-free) adaptation of Direct Transfer's run, next to it",
            "(not in the paper)",
            ("msa", "vtc"),
        ),
        Suite(
            "selection",
            "main",
            "Hyper-parameter grids for model selection without target labels (osan select)",
            "Tables 1 / 6",
            ("msa", "vtc", "cmu"),
        ),
    )
}


# --------------------------------------------------------------------------- benchmark presets

#: Overrides every run of a benchmark gets, for every method alike (before ``--quick``'s and
#: the user's). Real text: an epoch is one pass over the labelled source (with the default,
#: one pass over the larger split, CMU-MOSI → CMU-MOSEI cycles MOSI's 1 281 training rows 12
#: times per epoch) and lr 3e-4. Chosen without target labels: of 9 source-only settings (seed
#: 1), the one with the lowest source-test MAE averaged over both directions (0.753; the
#: defaults 0.766); the grid is in docs/research-log.md, "How the real-text preset was chosen".
BENCH_OVERRIDES: dict[str, tuple[str, ...]] = {"cmu": ("optim.epoch=source", "optim.lr=3e-4")}


# --------------------------------------------------------------------------- quick preset

#: ``--quick``: fewer epochs on half the data and a narrower model (TAL's cost grows with the
#: text embedding width), so that ``msa-main`` (1 seed, 18 runs) ends in < 15 min on 2 cores.
QUICK_SIZE = 0.5
QUICK_TEXT_SCALE = 0.25  # TAL text dims of the quick ablation-tal variants (384 -> 96)
QUICK_OVERRIDES: dict[str, tuple[str, ...]] = {
    "msa": (
        "optim.epochs=6",
        "encoder.hidden=64",
        "encoder.out_dims={text: 128, vision: 16, audio: 16}",
        "tal.out_dims={text: 96, vision: 2, audio: 2}",
        "ddg.heads=32",
    ),
    "vtc": ("optim.epochs=6", "encoder.hidden=64"),
    "cmu": (
        "optim.epochs=6",
        "encoder.hidden=64",
        "encoder.out_dims={text: 128}",
        "tal.out_dims={text: 96}",
    ),
}


def variants(suite: str, benchmark: str | Benchmark, *, quick: bool = False) -> list[Variant]:
    """The variants (columns of an ablation table, rows of a main table) of ``suite``."""
    spec = SUITES[suite]
    bench = benchmark_of(benchmark)
    if suite == SELECTION:
        return selection_variants(bench.task, quick=quick)
    if suite == INPUT_NORM:
        return input_norm_variants(bench.task)
    if suite == TEST_TIME:
        return test_time_variants(bench.task)
    if spec.kind == "main":
        return [Variant(m, METHOD_LABELS[m], m) for m in MAIN_METHODS if applies(m, bench.task)]
    task = bench.task
    if suite == "ablation-tal":
        scale = QUICK_TEXT_SCALE if quick and bench.resolved_preset != "vtc" else 1.0
        return tal_variants(task, scale)
    return ABLATIONS[suite](task)


def test_time_variants(task: str) -> list[Variant]:
    """Direct Transfer, then one row per test-time method of the task: its run adapted without
    the source (``osan.bench.test_time`` runs the adaptation as a second step)."""
    from osan.testtime.registry import applicable

    dt = Variant(DIRECT_TRANSFER, METHOD_LABELS[DIRECT_TRANSFER], DIRECT_TRANSFER)
    return [dt] + [
        Variant(
            m,
            f"Direct Transfer + {TEST_TIME_LABELS[m]}",
            DIRECT_TRANSFER,
            (f"adapt.method={m}",),
        )
        for m in applicable(task)
    ]


def directions(suite: str, benchmark: str | Benchmark) -> list[str]:
    """Main suites run every direction; ablations the spec's ablation pair (the built-ins:
    the paper's MOSI / Text-show target)."""
    bench = benchmark_of(benchmark)
    if SUITES[suite].kind == "main":
        return list(bench.directions)
    return [bench.ablation_direction]


def plan(
    suite: str,
    seeds: list[int],
    *,
    methods: list[str] | None = None,
    benchmarks: list[str] | None = None,
    quick: bool = False,
    data: list[Benchmark] | None = None,
) -> list[RunSpec]:
    """Every run of ``suite``, ordered seed-major (so one seed of every run finishes first,
    and a table is useful early), then benchmark, direction and variant.

    ``methods`` restricts a main suite to those methods; ``benchmarks`` restricts an ablation
    suite to ``msa`` and/or ``vtc``; ``data`` (benchmark specs, ``--data``) replaces the
    suite's benchmarks (the ``main`` suite runs on nothing else).
    """
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {sorted(SUITES)}")
    spec = SUITES[suite]
    if methods is not None:
        unknown = sorted(set(methods) - set(MAIN_METHODS))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {list(MAIN_METHODS)}")
        if spec.kind != "main":
            raise ValueError(f"--methods applies to the main suites; {suite} ablates osan")
    chosen: list[Benchmark] = [BENCHMARKS[b] for b in spec.benchmarks]
    if data:
        if benchmarks is not None:
            raise ValueError("give either --data or --benchmarks")
        names = [d.name for d in data]
        if len(set(names)) != len(names):
            raise ValueError(f"two --data specs share a name: {names}")
        if suite in MAIN_PREFIX and names != list(spec.benchmarks):
            raise ValueError(
                f"{suite} runs on {list(spec.benchmarks)}; for other data use --suite main "
                f"--data {' '.join(names)}"
            )
        chosen = list(data)
    elif benchmarks is not None:
        bad = sorted(set(benchmarks) - set(spec.benchmarks))
        if bad:
            raise ValueError(f"{suite} runs on {list(spec.benchmarks)}, not {bad}")
        chosen = [BENCHMARKS[b] for b in spec.benchmarks if b in benchmarks]
    if not chosen:
        raise ValueError(
            f"suite {suite} needs data: --data SPEC.yaml (or a built-in: msa, vtc, cmu-text), "
            "or --source S --target T"
        )
    if not seeds:
        raise ValueError("need at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat: {seeds}")
    runs = []
    for seed in seeds:
        for bench in chosen:
            for direction in directions(suite, bench):
                for v in variants(suite, bench, quick=quick):
                    if methods is not None and v.method not in methods:
                        continue
                    runs.append(RunSpec(suite, bench.name, direction, v, seed, bench))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"two --data specs give the same run id {dup}; use one --out per spec")
    return runs


def run_overrides(
    run: RunSpec, user: list[str] | tuple[str, ...] = (), *, quick: bool = False
) -> list[str]:
    """The ``key=value`` overrides of one run: the benchmark's preset, the spec's own, the quick
    preset, then the user's, then the variant's (a spec names its preset, default ``msa`` for
    regression and ``vtc`` for classification)."""
    preset = run.data.resolved_preset
    out: list[str] = list(BENCH_OVERRIDES.get(preset, ()))
    out += list(run.data.overrides)
    if quick:
        out += QUICK_OVERRIDES[preset]
    out += list(user)
    out += list(run.variant.overrides)
    return out
