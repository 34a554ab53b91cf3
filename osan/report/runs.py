"""The finished runs of ``osan bench`` folders, or of ``osan train`` folders, as the report
sees them.

A bench run is a line of ``DIR/results.jsonl`` plus its folder ``DIR/runs/<run id>/`` (``fit``'s
files and, since the report exists, ``features.npz`` / ``predictions.csv``). A train run is a
folder ``osan train --out RUN`` wrote (``config.yaml``, ``metrics.json``, ``log.jsonl``,
``features.npz`` and ``data.json``): :func:`discover_train_runs` makes it a record of the same
shape, grouped by method.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osan.bench import suites as S
from osan.bench.spec import RUN_DATA
from osan.config import ConfigError, load_config
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
    "coral": "Deep CORAL",
    "rsd": "RSD",
    "dare-gram": "DARE-GRAM",
    "mcc": "MCC",
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
    bench: Path | None  # None: an `osan train` folder

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
    if bench == TRAIN_BENCH:
        return f"osan train runs, {direction}"
    spec = S.BENCHMARKS.get(bench)
    heading = spec.directions.get(direction) if spec else None
    return f"{bench} {direction}" + (f" ({heading})" if heading else "")


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
    records, torn = [], []
    for i, line in enumerate(path.read_bytes().splitlines()):  # one read: a consistent prefix
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:  # torn (a write cut or in progress): skipped, the file left alone
            torn.append(i + 1)
            continue
        if not isinstance(rec, dict) or "run_id" not in rec:
            raise ReportError(f"{path}: line {i + 1} is not a run record")
        records.append(rec)
    if torn:
        print(
            f"osan: {path}: skipped torn line(s) {', '.join(map(str, torn))} (an interrupted or "
            "ongoing write; the file is left as it is)",
            file=sys.stderr,
        )
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


# --------------------------------------------------------------------------- osan train folders

#: The ``benchmark`` of records made from ``osan train`` folders.
TRAIN_BENCH = "train"
_PLACEMENT = ("seed", "device", "num_threads")


def _settings(cfg_dict: dict[str, Any]) -> str:
    d = {k: v for k, v in cfg_dict.items() if k not in _PLACEMENT}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:6]


def _train_seconds(log: Path) -> float:
    total, seen = 0.0, False
    if log.is_file():
        for line in log.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.get("event") == "epoch" and "seconds" in rec:
                total += float(rec["seconds"])
                seen = True
    return total if seen else math.nan


def _train_record(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise ReportError(f"{path}: no such folder (--runs without --bench: osan train folders)")
    for name in ("config.yaml", "metrics.json"):
        if not (path / name).is_file():
            raise ReportError(f"{path}: no {name} (not a finished `osan train --out` folder)")
    try:
        cfg = load_config(path / "config.yaml", saved=True)
        metrics = json.loads((path / "metrics.json").read_text())
    except (ConfigError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ReportError(f"{path}: unreadable run ({first})") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("meta", {}), dict):
        raise ReportError(f"{path / 'metrics.json'}: not the metrics of an osan run")
    data = None
    if (path / RUN_DATA).is_file():
        try:
            data = json.loads((path / RUN_DATA).read_text())
        except ValueError:
            data = None
    where = "unrecorded data"
    if isinstance(data, dict) and data.get("domains"):
        doms = data["domains"]
        where = " → ".join(str(doms[k].get("file", k)) for k in ("source", "target") if k in doms)
    meta = metrics.get("meta", {})
    target = metrics.get("target", metrics)
    variant, label, group = cfg.method, S.METHOD_LABELS.get(cfg.method, cfg.method), None
    if cfg.adapt.method != "none":  # an `osan adapt` folder: its own row, test-time group
        variant = f"{cfg.method}+{cfg.adapt.method}"
        label = f"{label} + {S.TEST_TIME_LABELS[cfg.adapt.method]}"
        group = S.TEST_TIME
    return {
        "run_id": str(path),
        "suite": "runs",
        "benchmark": TRAIN_BENCH,
        "task": cfg.task,
        "method": cfg.method,
        "variant": variant,
        "label": label,
        "reference": False,
        "group": group or S.method_group(cfg.method),
        "direction": where,
        "direction_label": where,
        "direction_short": where,
        "seed": cfg.seed,
        "metrics": {k: float(v) for k, v in target.items() if isinstance(v, (int, float))},
        "wall_time_s": _train_seconds(path / "log.jsonl"),
        "resumed": False,
        "best_epoch": meta.get("best_epoch"),
        "uses_target_labels": bool(meta.get("uses_target_labels", cfg.method == S.ORACLE)),
        "settings": _settings(cfg.to_dict()),
        **({"data": data} if isinstance(data, dict) else {}),
    }


def discover_train_runs(paths: list[Path]) -> list[ReportRun]:
    """``osan train`` folders as report runs, grouped by method (and by the data recorded in
    each ``data.json``). A method whose runs differ in settings other than the seed gets one
    row per setting, named by a short hash of the config (``osan [1a2b3c]``): only seeds are
    averaged. Raises :class:`ReportError` for a folder that is not a finished run."""
    if not paths:
        raise ReportError("--runs needs at least one run folder")
    records = []
    seen: set[str] = set()
    for p in paths:
        rec = _train_record(Path(p))
        if rec["run_id"] in seen:
            continue
        seen.add(rec["run_id"])
        records.append(rec)
    settings: dict[tuple[str, str, str], set[str]] = {}
    for r in records:
        settings.setdefault((r["task"], r["direction"], r["variant"]), set()).add(r["settings"])
    taken: dict[tuple[str, str, str, int], str] = {}
    for r in records:
        if len(settings[(r["task"], r["direction"], r["variant"])]) > 1:
            r["variant"] = f"{r['variant']}-{r['settings']}"
            r["label"] = f"{r['label']} [{r['settings']}]"
        key = (r["task"], r["direction"], r["variant"], r["seed"])
        if key in taken:
            raise ReportError(
                f"{r['run_id']} and {taken[key]}: same method, settings, data and seed; "
                "pass one of them"
            )
        taken[key] = r["run_id"]
    return [ReportRun(r, Path(r["run_id"]), None) for r in records]
