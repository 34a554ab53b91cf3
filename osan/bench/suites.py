"""Benchmark suites: which runs reproduce which table of the paper.

A suite expands to a list of :class:`RunSpec` — one ``fit`` each — with a stable run id::

    msa/A2B/osan/seed1                      main suites: <benchmark>/<direction>/<method>/seed<k>
    ablation-ddg/A2B/H32-lam0.9/seed1       ablations:   <suite>/<direction>/<variant>/seed<k>

| suite              | runs                                                        | paper      |
|--------------------|-------------------------------------------------------------|------------|
| ``main``           | every method x every pair of ``--data SPEC`` (any spec)     | Table 1 / 6|
| ``msa-main``       | every method x A2B, B2A of the generated ``msa`` benchmark  | Table 1    |
| ``vtc-main``       | every method on the generated ``vtc`` benchmark             | Table 6    |
| ``real-text``      | every method x CMU-MOSEI <-> CMU-MOSI transcripts (text)    | Table 1*   |
| ``ablation-*``     | OSAN variants on msa A2B (Tables 2-5) and vtc (Tables 7-10) | Tables 2-10|
| ``ablation-design``| OSAN's session-4 design choices, one at a time              | (none)     |
| ``selection``      | a hyper-parameter grid per method on msa, vtc and real text | (osan select)|

The data of a suite is a benchmark spec (:mod:`osan.bench.spec`): the built-in ``msa``,
``vtc`` and ``cmu-text`` (``configs/benchmarks/``) or the user's own (``--data SPEC.yaml``).

Ablation variants are config overrides of ``osan``; each ablation suite has one *reference*
variant (the full model), against which the table reports deltas. The overrides of a run are
applied in the order: quick preset -> the user's ``key=value`` -> the variant's (the variant
wins, otherwise an ablation would not ablate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from osan.bench.spec import BenchmarkSpec, load_spec
from osan.config import TALConfig

#: Every method of the main suites, in the paper's row order (Direct Transfer, UDA, oracle).
MAIN_METHODS: tuple[str, ...] = (
    "source-only",
    "dan",
    "dann",
    "adda",
    "mm-sada",
    "mdmn",
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
    "osan-mixup": "OSAN (TAL + Mixup)",
    "osan": "OSAN (TAL + DDG)",
    "osan-plus": "OSAN+ (OSAN + target self-training; not in the paper)",
    "oracle": "Oracle (supervised on target labels)",
}

#: Methods that are not unsupervised domain adaptation: never bold, never ranked as UDA.
DIRECT_TRANSFER = "source-only"
ORACLE = "oracle"


def method_group(method: str) -> str:
    """``"direct"`` (source-only), ``"oracle"`` (upper bound) or ``"uda"``."""
    if method == DIRECT_TRANSFER:
        return "direct"
    if method == ORACLE:
        return "oracle"
    return "uda"


#: A data source of the suites (name, task, directions, title): a benchmark spec.
Benchmark = BenchmarkSpec

#: The built-in benchmarks, specs in ``configs/benchmarks/`` (``cmu`` is ``cmu-text.yaml``).
#: Their first pair is the direction the paper's ablations use: CMU-MOSI target (Tables 2-5)
#: and Text-show (Tables 7-10).
BENCHMARKS: dict[str, Benchmark] = {b: load_spec(b) for b in ("msa", "vtc", "cmu")}


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
        prefix = self.benchmark if self.suite == MAIN else MAIN_PREFIX.get(self.suite, self.suite)
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
            "selection",
            "main",
            "Hyper-parameter grids for model selection without target labels (osan select)",
            "Tables 1 / 6",
            ("msa", "vtc", "cmu"),
        ),
    )
}

#: Run-id prefix of the main suites (the benchmark, not the suite name).
MAIN_PREFIX: dict[str, str] = {"msa-main": "msa", "vtc-main": "vtc", "real-text": "real-text"}


# --------------------------------------------------------------------------- ablation variants


def _module_variants(task: str) -> list[Variant]:
    return [
        Variant("full", "OSAN (TAL + DDG)", "osan", reference=True),
        Variant("wo-DDG", "w/o DDG", "osan", ("ddg.enabled=false",)),
        Variant("wo-TAL", "w/o TAL", "osan", ("tal.enabled=false",)),
        Variant("wo-both", "w/o Both", "osan", ("ddg.enabled=false", "tal.enabled=false")),
    ]


def _loss_variants(task: str) -> list[Variant]:
    return [
        Variant("full", "L_task + L_adv + L_dis", "osan", ("loss.adv=true", "loss.dis=true"), True),
        # L_task alone: no adversarial, no discrepancy and no TAL correlation term.
        Variant(
            "L_task", "L_task", "osan", ("loss.adv=false", "loss.dis=false", "tal.corr_weight=0")
        ),
        Variant("L_task+adv", "L_task + L_adv", "osan", ("loss.adv=true", "loss.dis=false")),
        Variant("L_task+dis", "L_task + L_dis", "osan", ("loss.adv=false", "loss.dis=true")),
    ]


# (H, λ) in the paper's column order; the first is the full model (the task preset's value).
DDG_GRID: dict[str, tuple[tuple[int, float], ...]] = {
    "regression": ((64, 0.85), (64, 0.9), (32, 0.85), (32, 0.9)),  # Table 4
    "classification": ((128, 0.9), (128, 0.95), (64, 0.9), (64, 0.95)),  # Table 9
}


def _ddg_variants(task: str) -> list[Variant]:
    return [
        Variant(
            f"H{h}-lam{lam:g}",
            f"λ = {lam:g}, H = {h}",
            "osan",
            (f"ddg.heads={h}", f"ddg.lam={lam:g}"),
            reference=i == 0,
        )
        for i, (h, lam) in enumerate(DDG_GRID[task])
    ]


# TAL projection dims per modality in the paper's column order; the first is the full model.
TAL_GRID: dict[str, tuple[dict[str, int], ...]] = {
    "regression": (  # Table 5
        {"text": 384, "vision": 2, "audio": 2},
        {"text": 192, "vision": 4, "audio": 2},
        {"text": 192, "vision": 2, "audio": 4},
    ),
    "classification": (  # Table 10 (t: text, v: the visual layout modality)
        {"text": 56, "layout": 14},
        {"text": 14, "layout": 56},
        {"text": 28, "layout": 28},
    ),
}


def _tal_dims_override(dims: dict[str, int]) -> str:
    return "tal.out_dims={" + ", ".join(f"{m}: {d}" for m, d in dims.items()) + "}"


# Encoder output widths for every column of a TAL ablation where the task preset's are too
# narrow for some column (TAL needs D <= the embedding width): Table 10's v: 56 > layout's 32.
# Every column gets the same encoder, so the deltas measure TAL's dims only.
TAL_ENCODER_DIMS: dict[str, dict[str, int]] = {"classification": {"text": 128, "layout": 64}}


def _tal_variants(task: str, text_scale: float = 1.0) -> list[Variant]:
    out = []
    enc = TAL_ENCODER_DIMS.get(task)
    extra = (
        ()
        if enc is None
        else ("encoder.out_dims={" + ", ".join(f"{m}: {d}" for m, d in enc.items()) + "}",)
    )
    for i, dims in enumerate(TAL_GRID[task]):
        dims = {m: max(1, round(d * text_scale)) if m == "text" else d for m, d in dims.items()}
        name = "-".join(f"{m[0]}{d}" for m, d in dims.items())
        label = ", ".join(f"{m[0]}: {d}" for m, d in dims.items())
        over = (*extra, _tal_dims_override(dims))
        out.append(Variant(name, label, "osan", over, reference=i == 0))
    return out


PAIRINGS: dict[str, str] = {
    "nearest": "nearest neighbour",
    "pseudo_label": "pseudo-label",
    "random": "random",
}


def _pairing_variants(task: str) -> list[Variant]:
    """The config's default pairing is the full model (first column); then the others."""
    default = TALConfig().pairing
    order = [default] + [p for p in PAIRINGS if p != default]
    return [
        Variant(p, PAIRINGS.get(p, p), "osan", (f"tal.pairing={p}",), reference=p == default)
        for p in order
    ]


def _design_variants(task: str) -> list[Variant]:
    """Each session-4 choice of docs/method.md ("OSAN as built") reverted alone, plus the
    label-shift weights and OSAN+'s self-training added alone."""
    return [
        Variant("full", "OSAN (defaults)", "osan", reference=True),
        Variant("fusion-replace", "TAL tensor alone", "osan", ("tal.fusion=replace",)),
        Variant("reverse-before", "GRL before DDG", "osan", ("ddg.reverse=before",)),
        Variant("pairing-nearest", "nearest pairing", "osan", ("tal.pairing=nearest",)),
        Variant("iw", "+ label-shift weights", "osan", ("loss.label_shift=iw",)),
        Variant("plus", "+ self-training (OSAN+)", "osan-plus"),
    ]


_ABLATIONS = {
    "ablation-design": _design_variants,
    "ablation-modules": _module_variants,
    "ablation-losses": _loss_variants,
    "ablation-ddg": _ddg_variants,
    "ablation-pairing": _pairing_variants,
}


# --------------------------------------------------------------------------- benchmark presets

#: Overrides every run of a benchmark gets, for every method alike (before ``--quick``'s and
#: the user's). Real text: an epoch is one pass over the labelled source (with the default,
#: one pass over the larger split, CMU-MOSI → CMU-MOSEI cycles MOSI's 1 281 training rows 12
#: times per epoch) and lr 3e-4. Chosen without target labels: of 9 source-only settings (seed
#: 1), the one with the lowest source-test MAE averaged over both directions (0.753; the
#: defaults 0.766); the grid is in docs/results.md "Real text".
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


# --------------------------------------------------------------------------- selection grid

SELECTION = "selection"

#: The ``selection`` suite: per method, knob -> values; the grid is their product. ``ddg`` is
#: a knob of (H, λ) pairs taken from the task's DDG ablation grid (Tables 4 / 9). The oracle
#: is not swept (it selects on target labels). The values bracket each knob's default.
_LRS = (3e-4, 1e-3, 3e-3)
SELECTION_GRID: dict[str, dict[str, tuple]] = {
    "source-only": {"optim.lr": (1e-4, *_LRS)},
    "dan": {"loss.beta": (0.1, 0.3, 1.0), "optim.lr": _LRS},
    "dann": {"loss.alpha": (0.1, 0.3, 1.0), "optim.lr": _LRS},
    "adda": {"optim.lr": (1e-4, *_LRS)},  # ADDA has no loss weight (L_D + L_M)
    "mm-sada": {"loss.alpha": (0.1, 1.0), "optim.lr": _LRS},
    "mdmn": {"loss.alpha": (0.1, 1.0), "optim.lr": _LRS},
    "osan-mixup": {"loss.alpha": (0.1, 1.0), "loss.beta": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "osan": {
        "loss.alpha": (0.1, 1.0),
        "loss.beta": (0.1, 1.0),
        "ddg": (0, -1),  # first and last (H, λ) of DDG_GRID[task]
        "optim.lr": (1e-3, 3e-3),
    },
}
SELECTION_GRID["osan-plus"] = SELECTION_GRID["osan"]  # OSAN+ gets OSAN's grid
#: ``--quick``: 3 to 6 settings per method. OSAN ties α = β (``adv``) to keep 4 settings.
QUICK_SELECTION_GRID: dict[str, dict[str, tuple]] = {
    "source-only": {"optim.lr": _LRS},
    "dan": {"loss.beta": (0.1, 1.0), "optim.lr": _LRS},
    "dann": {"loss.alpha": (0.1, 1.0), "optim.lr": _LRS},
    "adda": {"optim.lr": _LRS},
    "mm-sada": {"loss.alpha": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "mdmn": {"loss.alpha": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "osan-mixup": {"loss.alpha": (0.1, 1.0), "optim.lr": (1e-3, 3e-3)},
    "osan": {"adv": (0.1, 1.0), "ddg": (0, -1)},
}
QUICK_SELECTION_GRID["osan-plus"] = QUICK_SELECTION_GRID["osan"]
_KNOB_NAMES = {"optim.lr": "lr", "loss.alpha": "a", "loss.beta": "b", "adv": "ab"}
_KNOB_LABELS = {"optim.lr": "lr", "loss.alpha": "α", "loss.beta": "β", "adv": "α = β"}


def _knob(knob: str, value, task: str) -> tuple[tuple[str, ...], str, str]:
    """(overrides, id part, label part) of one knob value."""
    if knob == "ddg":
        h, lam = DDG_GRID[task][value]
        return (f"ddg.heads={h}", f"ddg.lam={lam:g}"), f"H{h}-lam{lam:g}", f"H = {h}, λ = {lam:g}"
    if knob == "adv":
        over = (f"loss.alpha={value:g}", f"loss.beta={value:g}")
        return over, f"ab{value:g}", f"α = β = {value:g}"
    return (
        (f"{knob}={value:g}",),
        f"{_KNOB_NAMES[knob]}{value:g}",
        f"{_KNOB_LABELS[knob]} = {value:g}",
    )


def selection_variants(task: str, *, quick: bool = False) -> list[Variant]:
    """Every (method, setting) of the ``selection`` grid, method-major in the paper's row order.

    Run ids read ``selection/<direction>/<method>-<setting>/seed<k>``, e.g.
    ``selection/A2B/dann-a0.1-lr0.001/seed1``.
    """
    grid = QUICK_SELECTION_GRID if quick else SELECTION_GRID
    out: list[Variant] = []
    for method in MAIN_METHODS:
        knobs = grid.get(method)
        if not knobs:
            continue
        for combo in itertools.product(*knobs.values()):
            parts = [_knob(k, v, task) for k, v in zip(knobs, combo, strict=True)]
            over = tuple(o for p in parts for o in p[0])
            name = "-".join([method] + [p[1] for p in parts])
            label = f"{METHOD_LABELS[method]} ({', '.join(p[2] for p in parts)})"
            out.append(Variant(name, label, method, over))
    return out


def variants(suite: str, benchmark: str | Benchmark, *, quick: bool = False) -> list[Variant]:
    """The variants (columns of an ablation table, rows of a main table) of ``suite``."""
    spec = SUITES[suite]
    bench = benchmark_of(benchmark)
    if suite == SELECTION:
        return selection_variants(bench.task, quick=quick)
    if spec.kind == "main":
        return [Variant(m, METHOD_LABELS[m], m) for m in MAIN_METHODS]
    task = bench.task
    if suite == "ablation-tal":
        scale = QUICK_TEXT_SCALE if quick and bench.resolved_preset != "vtc" else 1.0
        return _tal_variants(task, scale)
    return _ABLATIONS[suite](task)


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
