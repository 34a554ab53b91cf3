"""Pooling bench folders over data: does a method beat each other method across many datasets?

One bench folder holds one draw of the data (a generated benchmark's data seed, or one pair of
files), so its table says little on its own: with 3 training seeds, a difference between two
methods is often inside the seed-to-seed spread. :func:`pool_cells` reads several folders and
keeps one :class:`DataCell` per (benchmark, direction, data, variant): the mean over training
seeds of every target and source metric. :func:`compare` pairs a method's cells with each other
method's on the same data and counts, per task (benchmark, direction), the data draws it wins,
with the mean paired difference and an exact two-sided sign test over the draws;
:func:`per_data` counts, per data draw, the tasks it wins against a baseline and against every
other UDA method, and those where its source fit is at least the baseline's;
:func:`gap_closed` gives, where the oracle ran, the share of the baseline → oracle gap each
method closes, and :func:`paired_differences` the per-draw differences to the baseline that
``pool.png`` plots.

"Beats" means better on every main metric of the task (:func:`main_metrics`: MAE and Corr for
regression, macro-F1 for classification), strictly. Pure computation: no files
(:mod:`osan.bench.pool_report` writes the report and is the command).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from osan.bench import suites as S
from osan.bench.options import BenchError
from osan.bench.results import load_results
from osan.bench.spec import provenance
from osan.eval.metrics import METRIC_DIRECTIONS

__all__ = [
    "Comparison",
    "DataCell",
    "DataSummary",
    "GapShare",
    "MethodChoice",
    "beats",
    "compare",
    "gap_closed",
    "main_metrics",
    "paired_differences",
    "per_data",
    "pool_cells",
    "sign_test",
]

#: Where a record's target / source metrics are.
DOMAIN_KEYS = {"target": "metrics", "source": "source_metrics"}


def main_metrics(task: str) -> tuple[str, ...]:
    """The metrics "beats" is judged on: MAE and Corr (regression) or macro-F1."""
    return ("mae", "corr") if task == "regression" else ("f1",)


@dataclass
class DataCell:
    """One (benchmark, direction, data draw, variant): means over its training seeds."""

    benchmark: str
    direction: str
    data_key: str  # identifies the data draw (its ``data`` record, canonical JSON)
    data_label: str  # "data seed 12", or the provenance line of a files-based benchmark
    variant: str
    method: str
    group: str
    uses_target_labels: bool
    task: str
    folder: str
    seeds: list[int] = field(default_factory=list)
    target: dict[str, float] = field(default_factory=dict)
    source: dict[str, float] = field(default_factory=dict)

    @property
    def task_key(self) -> tuple[str, str]:
        return (self.benchmark, self.direction)

    @property
    def uda(self) -> bool:
        return self.group == "uda" and not self.uses_target_labels

    def metrics(self, domain: str) -> dict[str, float]:
        return self.target if domain == "target" else self.source


def data_identity(data: Any) -> tuple[str, str]:
    """(key, label) of a record's ``data``: a generated benchmark is named by its data seed,
    other data by its provenance line (files and their hashes)."""
    if not isinstance(data, dict):
        return ("null", "data not recorded")
    key = json.dumps(data, sort_keys=True)
    if "size" in data and not data.get("domains"):
        return key, f"data seed {data.get('seed', 0)}"
    return key, provenance(data).removeprefix("Data: ")


def _means(records: list[dict[str, Any]], key: str, path: Path) -> dict[str, float]:
    """Mean over ``records`` of each metric under ``key`` (NaN left out). Raises
    :class:`BenchError` naming ``path`` and the metric for a value that is not a number."""
    out: dict[str, float] = {}
    tables = [r.get(key) if isinstance(r.get(key), dict) else {} for r in records]
    for k in sorted({k for t in tables for k in t}):
        try:
            vals = np.array([t.get(k, math.nan) for t in tables], dtype=float)
        except (TypeError, ValueError):
            raise BenchError(f"{path}: {key}.{k} is not a number") from None
        vals = vals[np.isfinite(vals)]
        if vals.size:
            out[k] = float(vals.mean())
    return out


def _task_of(metrics: dict[str, Any]) -> str:
    return "regression" if "mae" in metrics else "classification"


TAG_SEP = "@"


def parse_tags(items: list[str], folders: list[Path]) -> dict[int, str]:
    """``--tag DIR=NAME ...`` → {index of DIR in ``folders``: NAME}. Raises BenchError.

    Every variant read from a tagged folder is named ``VARIANT@NAME`` (``osan@gate0``), so runs
    of one method with other settings pool as a variant of their own instead of replacing it."""
    where = {Path(f).resolve(): i for i, f in enumerate(folders)}
    out: dict[int, str] = {}
    for item in items:
        folder, sep, name = item.rpartition("=")
        if not sep or not folder or not name:
            raise BenchError(f"--tag {item!r}: expected DIR=NAME")
        if not all(ch.isalnum() or ch in "-_." for ch in name):
            raise BenchError(f"--tag {item!r}: NAME may hold letters, digits, '-', '_', '.'")
        i = where.get(Path(folder).resolve())
        if i is None:
            raise BenchError(f"--tag {item!r}: {folder} is not one of the --bench folders")
        if out.get(i, name) != name:
            raise BenchError(f"--tag: {folder} tagged twice ({out[i]!r}, {name!r})")
        out[i] = name
    return out


def pool_cells(
    folders: list[Path], tags: dict[int, str] | None = None
) -> tuple[list[DataCell], list[str]]:
    """The cells of every folder's ``results.jsonl``; returns (cells, notes).

    Within a folder the last record of a run id wins (as in ``osan bench``'s tables). A cell
    (benchmark, direction, data, variant) found in several folders is taken whole from the
    LAST folder named, and a note says so. ``tags`` ({folder index: NAME}, from
    :func:`parse_tags`) renames every variant of that folder ``VARIANT@NAME``. Raises
    :class:`BenchError` for a folder without ``results.jsonl`` or with a line that is not a
    run record."""
    cells: dict[tuple[str, str, str, str], DataCell] = {}
    notes: list[str] = []
    tags = tags or {}
    for index, folder in enumerate(folders):
        path = Path(folder) / "results.jsonl"
        if not path.is_file():
            raise BenchError(f"{folder}: no results.jsonl (not an osan bench folder)")
        by_id: dict[str, dict[str, Any]] = {}
        for i, r in enumerate(load_results(path)):
            bad = [k for k in ("benchmark", "direction", "method", "seed") if k not in r]
            if bad or not isinstance(r.get("metrics"), dict):
                missing = ", ".join(bad) or "metrics"
                raise BenchError(f"{path}: record {i + 1} lacks {missing}")
            by_id[r["run_id"]] = r
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        labels: dict[str, str] = {}
        for r in by_id.values():
            dkey, dlabel = data_identity(r.get("data"))
            labels[dkey] = dlabel
            variant = str(r.get("variant") or r["method"])
            if index in tags:
                variant = f"{variant}{TAG_SEP}{tags[index]}"
            groups.setdefault((r["benchmark"], r["direction"], dkey, variant), []).append(r)
        for key, rs in groups.items():
            first = rs[0]
            method = str(first["method"])
            cell = DataCell(
                benchmark=key[0],
                direction=key[1],
                data_key=key[2],
                data_label=labels[key[2]],
                variant=key[3],
                method=method,
                group=str(first.get("group") or S.method_group(method)),
                uses_target_labels=any(bool(r.get("uses_target_labels")) for r in rs),
                task=str(first.get("task") or _task_of(first["metrics"])),
                folder=str(folder),
                seeds=sorted(int(r["seed"]) for r in rs),
                target=_means(rs, "metrics", path),
                source=_means(rs, "source_metrics", path),
            )
            if key in cells:
                notes.append(
                    f"{key[0]} {key[1]} {cell.data_label} {key[3]}: {cells[key].folder} "
                    f"replaced by {folder}"
                )
            cells[key] = cell
    return list(cells.values()), notes


def oriented(a: float, b: float, metric: str) -> float:
    """a − b oriented so that + means a is better (for a "min" metric, b − a)."""
    return b - a if METRIC_DIRECTIONS.get(metric, "max") == "min" else a - b


def beats(a: dict[str, float], b: dict[str, float], keys: tuple[str, ...]) -> bool | None:
    """Whether ``a`` is strictly better than ``b`` on every metric of ``keys``; None when a
    metric is missing from either."""
    if any(k not in a or k not in b for k in keys):
        return None
    return all(oriented(a[k], b[k], k) > 0 for k in keys)


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test of ``wins`` against ``losses`` (ties left out): the
    probability, if each draw were a fair coin, of a split at least this uneven."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class MethodChoice:
    """The method under test per benchmark (``--method osan`` or ``msa=osan vtc=osan-plus``)."""

    default: str | None
    per_benchmark: dict[str, str]

    @classmethod
    def parse(cls, items: list[str]) -> MethodChoice:
        default, per = None, {}
        for item in items:
            if "=" in item:
                bench, _, method = item.partition("=")
                if not bench or not method:
                    raise BenchError(f"--method {item!r}: expected METHOD or BENCHMARK=METHOD")
                per[bench] = method
            elif default is None:
                default = item
            else:
                raise BenchError(f"--method: two defaults ({default!r}, {item!r})")
        return cls(default, per)

    def of(self, benchmark: str) -> str | None:
        return self.per_benchmark.get(benchmark, self.default)

    def label(self) -> str:
        parts = [f"{b}: {m}" for b, m in self.per_benchmark.items()]
        if self.default is not None:
            parts.append(self.default if not parts else f"otherwise {self.default}")
        return ", ".join(parts)


@dataclass
class Comparison:
    """The method against one other variant on one task, paired over the data draws both ran.

    ``diff``/``diff_std``: mean and sample std over draws of the oriented difference of the
    per-draw means (+ = the method better), per metric; ``metric_wins``/``metric_losses`` per
    metric; ``wins``: draws where it beats the other on every main metric."""

    benchmark: str
    direction: str
    domain: str  # "target" or "source"
    method: str
    other: str
    task: str
    n: int
    wins: int
    metric_wins: dict[str, int]
    metric_losses: dict[str, int]
    diff: dict[str, float]
    diff_std: dict[str, float]

    def sign_p(self, metric: str) -> float:
        return sign_test(self.metric_wins[metric], self.metric_losses[metric])


def _index(cells: list[DataCell]) -> dict[tuple[str, str, str], dict[str, DataCell]]:
    out: dict[tuple[str, str, str], dict[str, DataCell]] = {}
    for c in cells:
        out.setdefault((c.benchmark, c.direction, c.data_key), {})[c.variant] = c
    return out


def tasks_of(cells: list[DataCell]) -> list[tuple[str, str]]:
    """(benchmark, direction) in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for c in cells:
        seen.setdefault(c.task_key, None)
    return list(seen)


def compare(
    cells: list[DataCell], choice: MethodChoice, domain: str = "target"
) -> list[Comparison]:
    """The method of each benchmark against every other variant, per task, paired by data draw."""
    index = _index(cells)
    out: list[Comparison] = []
    for bench, direction in tasks_of(cells):
        method = choice.of(bench)
        if method is None:
            continue
        draws = [v for (b, d, _), v in index.items() if (b, d) == (bench, direction)]
        others = {c.variant: c for v in draws for c in v.values() if c.variant != method}
        for other in others:
            pairs = [(v[method], v[other]) for v in draws if method in v and other in v]
            if not pairs:
                continue
            task = pairs[0][0].task
            keys = main_metrics(task)
            wins, mw, ml, diffs = 0, dict.fromkeys(keys, 0), dict.fromkeys(keys, 0), {}
            for k in keys:
                diffs[k] = []
            for a, b in pairs:
                ma, mb = a.metrics(domain), b.metrics(domain)
                if beats(ma, mb, keys):
                    wins += 1
                for k in keys:
                    if k in ma and k in mb:
                        d = oriented(ma[k], mb[k], k)
                        diffs[k].append(d)
                        mw[k] += d > 0
                        ml[k] += d < 0
            out.append(
                Comparison(
                    benchmark=bench,
                    direction=direction,
                    domain=domain,
                    method=method,
                    other=other,
                    task=task,
                    n=len(pairs),
                    wins=wins,
                    metric_wins=mw,
                    metric_losses=ml,
                    diff={k: float(np.mean(v)) if v else math.nan for k, v in diffs.items()},
                    diff_std={
                        k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in diffs.items()
                    },
                )
            )
    return out


@dataclass
class DataSummary:
    """Per data draw (a data seed shared by every generated benchmark, or one files-based
    benchmark's data): the tasks the method wins.

    ``tasks``: tasks where the method and the baseline both ran; ``vs_baseline``: tasks it
    beats the baseline on; ``vs_all``: tasks where it beats every other UDA variant that ran
    on that data (``others``: how many there were, per task); ``source_ok``: tasks where its
    source test metrics are at least the baseline's on every main metric."""

    label: str
    tasks: list[str] = field(default_factory=list)
    vs_baseline: list[str] = field(default_factory=list)
    vs_all: list[str] = field(default_factory=list)
    others: dict[str, int] = field(default_factory=dict)
    source_ok: list[str] = field(default_factory=list)


def per_data(cells: list[DataCell], choice: MethodChoice, baseline: str) -> list[DataSummary]:
    """One :class:`DataSummary` per data draw label, in first-seen order."""
    index = _index(cells)
    rows: dict[str, DataSummary] = {}
    for (bench, direction, _), variants in index.items():
        method = choice.of(bench)
        if method is None or method not in variants or baseline not in variants:
            continue
        m, base = variants[method], variants[baseline]
        keys = main_metrics(m.task)
        name = f"{bench} {direction}"
        row = rows.setdefault(m.data_label, DataSummary(m.data_label))
        row.tasks.append(name)
        if beats(m.target, base.target, keys):
            row.vs_baseline.append(name)
        others = [c for v, c in variants.items() if v != method and c.uda]
        row.others[name] = len(others)
        if others and all(beats(m.target, c.target, keys) for c in others):
            row.vs_all.append(name)
        if all(k in m.source and k in base.source for k in keys) and all(
            oriented(m.source[k], base.source[k], k) >= 0 for k in keys
        ):
            row.source_ok.append(name)
    return list(rows.values())


#: The variant whose target metrics bound what adaptation can gain (the supervised oracle).
ORACLE = "oracle"


@dataclass
class GapShare:
    """How much of the baseline → oracle gap one variant closes on one task, per main metric.

    ``share[k] = oriented(mean[k], baseline_mean[k]) / oriented(oracle_mean[k],
    baseline_mean[k])`` on the target test means pooled over the ``n`` draws where the variant,
    the baseline and the oracle all ran: 1 = at the oracle, 0 = at the baseline, < 0 = further
    from the oracle than the baseline (MAE: (baseline − m) / (baseline − oracle)). NaN when the
    oracle did not run on the task (``oracle_ran`` False) or is not better than the baseline on
    that metric (no gap to close)."""

    benchmark: str
    direction: str
    variant: str
    baseline: str
    oracle_ran: bool
    n: int
    share: dict[str, float]
    mean: dict[str, float]
    baseline_mean: dict[str, float]
    oracle_mean: dict[str, float]


def gap_closed(cells: list[DataCell], baseline: str, oracle: str = ORACLE) -> list[GapShare]:
    """One :class:`GapShare` per task and variant (neither the baseline nor the oracle) that
    ran beside the baseline, in first-seen order of tasks and variants."""
    index = _index(cells)
    out: list[GapShare] = []
    for bench, direction in tasks_of(cells):
        draws = [v for (b, d, _), v in index.items() if (b, d) == (bench, direction)]
        variants = list(dict.fromkeys(c.variant for v in draws for c in v.values()))
        oracle_ran = any(oracle in v for v in draws)
        for variant in variants:
            if variant in (baseline, oracle):
                continue
            need = (variant, baseline, oracle) if oracle_ran else (variant, baseline)
            paired = [v for v in draws if all(n in v for n in need)]
            if not paired:
                continue
            keys = main_metrics(paired[0][variant].task)

            def pooled(name: str, paired=paired, keys=keys) -> dict[str, float]:
                vals = {k: [v[name].target.get(k, math.nan) for v in paired] for k in keys}
                return {k: float(np.mean(x)) for k, x in vals.items()}

            m, base = pooled(variant), pooled(baseline)
            top = pooled(oracle) if oracle_ran else dict.fromkeys(keys, math.nan)
            share = {}
            for k in keys:
                gap = oriented(top[k], base[k], k)
                share[k] = oriented(m[k], base[k], k) / gap if gap > 0 else math.nan
            out.append(
                GapShare(
                    bench,
                    direction,
                    variant,
                    baseline,
                    oracle_ran,
                    len(paired),
                    share,
                    m,
                    base,
                    top,
                )  # fmt: skip
            )
    return out


def paired_differences(
    cells: list[DataCell], baseline: str, domain: str = "target"
) -> dict[tuple[str, str], dict[str, dict[str, list[float]]]]:
    """Per task, per variant (not the baseline), per main metric: the oriented difference to
    the baseline on each data draw where both ran (+ = the variant better), in draw order."""
    index = _index(cells)
    out: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {}
    for (bench, direction, _), variants in index.items():
        if baseline not in variants:
            continue
        base = variants[baseline].metrics(domain)
        task = out.setdefault((bench, direction), {})
        for name, cell in variants.items():
            if name == baseline:
                continue
            mine = cell.metrics(domain)
            per = task.setdefault(name, {k: [] for k in main_metrics(cell.task)})
            for k in per:
                if k in mine and k in base:
                    per[k].append(oriented(mine[k], base[k], k))
    return out
