"""The data of a benchmark spec: each file's short SHA-256, what a results line records about
the data (and the one-line ``Data:`` provenance of a table), every domain loaded once and each
pair checked to train together, subsampling, and ``RUN/data.json`` of ``osan train``.

The spec format (:class:`BenchmarkSpec`, :func:`load_spec`, ...) is described and read in
``osan/bench/spec_format.py``; every name of it stays importable from here.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from osan.bench.spec_format import (
    BUILTIN,
    GENERATED,
    SPEC_DIR,
    TASKS,
    BenchmarkSpec,
    DomainSpec,
    SpecError,
    from_files,
    load_spec,
    parse_spec,
    spec_error,
)
from osan.data.domain import DataError, Domain

#: Importable from here as before the split into spec_format (the spec) and this module (its data).
__all__ = [
    "BUILTIN",
    "GENERATED",
    "RUN_DATA",
    "SPEC_DIR",
    "TASKS",
    "BenchmarkSpec",
    "DomainSpec",
    "SpecError",
    "check_files",
    "describe_data",
    "file_fraction",
    "file_hash",
    "from_files",
    "load_domains",
    "load_spec",
    "parse_spec",
    "provenance",
    "subsample",
    "write_run_data",
]


# --------------------------------------------------------------------------- files and data

_HASHES: dict[tuple[str, int, int], str] = {}


def file_hash(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256 (cached per path, size and mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()[:12]
    return _HASHES[key]


def check_files(spec: BenchmarkSpec) -> None:
    """:class:`SpecError` naming the first domain whose file is missing."""
    for d in spec.domains:
        if d.path is None:
            continue
        if not d.path.exists():
            raise spec_error(spec.origin, f"domain {d.key!r}: no such file {d.path}")
        if not d.path.is_file():
            kind = "a folder" if d.path.is_dir() else "not a regular file (a FIFO or device)"
            raise spec_error(spec.origin, f"domain {d.key!r}: {d.path} is {kind}; refused")


def file_fraction(spec: BenchmarkSpec, size: str | float | None) -> float:
    """The fraction of each split of the spec's files a suite uses: ``--size F`` given
    explicitly (0 < F <= 1), else all (``--quick`` halves generated data only)."""
    if size is None or size == "small" or not any(d.path for d in spec.domains):
        return 1.0
    if isinstance(size, (int, float)) and 0 < float(size) <= 1:
        return float(size)
    raise spec_error(spec.origin, f"--size {size}: data files take a fraction in (0, 1]")


def describe_data(
    spec: BenchmarkSpec,
    *,
    size: str | float,
    seed: int,
    fraction: float = 1.0,
    nan_policy: str = "error",
) -> dict[str, Any]:
    """What a results line records about the data (and what resuming compares): the spec,
    and per file domain its file name and short SHA-256 (and any non-default format, split
    renaming, NaN policy); generated data by ``size`` and ``seed``; file data cut to
    ``fraction`` of each split by ``seed``."""
    check_files(spec)
    if spec.generated:
        out = {"benchmark": spec.name, "size": size, "seed": seed, "spec": spec.origin}
        shifts = {d.key: d.shift for d in spec.domains if d.shift != "builtin"}
        return {**out, "shift": shifts} if shifts else out
    domains: dict[str, Any] = {}
    for d in spec.domains:
        if d.path is None:
            domains[d.key] = {"generate": d.generate, "role": d.role}
            if d.shift != "builtin":
                domains[d.key]["shift"] = d.shift
            continue
        entry: dict[str, Any] = {"file": d.path.name, "sha256": file_hash(d.path)}
        if d.format != "auto":
            entry["format"] = d.format
        if d.splits:
            entry["splits"] = dict(d.splits)
        if (d.nan_policy or nan_policy) != "error":
            entry["nan_policy"] = d.nan_policy or nan_policy
        domains[d.key] = entry
    out: dict[str, Any] = {"benchmark": spec.name, "spec": spec.origin, "domains": domains}
    if any(d.generate for d in spec.domains):
        out.update(size=size, seed=seed)
    if fraction < 1:
        out.update(fraction=fraction, seed=seed)
    return out


def provenance(data: dict[str, Any]) -> str:
    """One line saying which data a table ran on, from a results line's ``data``."""
    name = data.get("benchmark", "?")
    spec = data.get("spec")
    head = f"Data: {name}" + (f" (spec {spec})" if spec and spec != name else "")
    if spec == "osan train":
        head = "Data (osan train)"
    parts = []
    for key, d in (data.get("domains") or {}).items():
        if "generate" in d:
            parts.append(f"{key} = generated {d['generate']} {d.get('role')}")
        else:
            parts.append(f"{key} = {d.get('file', '?')} sha256 {d.get('sha256', '(not hashed)')}")
    if not data.get("domains"):
        if "size" in data:
            parts.append(f"generated by osan.data.generators (size {data['size']}, "
                         f"data seed {data.get('seed', 0)})")  # fmt: skip
            shifts = data.get("shift") or {}
            parts += [f"{k} = shift zoo kind {v}" for k, v in shifts.items()]
        else:
            files = [f"{k} = {v}" for k, v in data.items() if k not in ("benchmark", "spec")]
            parts.append(", ".join(files) + " (recorded before file hashes)")
    if "fraction" in data:
        parts.append(
            f"files cut to {data['fraction']:g} of each split (data seed {data.get('seed')})"
        )
    return head + ": " + "; ".join(parts)


def load_domains(
    spec: BenchmarkSpec,
    *,
    size: str | float,
    seed: int,
    fraction: float = 1.0,
    nan_policy: str = "error",
    text_cache_dir: Path | None = None,
) -> dict[str, tuple[Domain, Domain]]:
    """Load every domain once and check that each pair can train together: ``{direction:
    (source, target)}``. Raises :class:`SpecError` (one line) for what cannot be paired."""
    check_files(spec)
    generated: dict[str, tuple[Domain, Domain]] = {}
    loaded: dict[str, Domain] = {}
    for d in spec.domains:
        if d.generate is not None:
            key = f"{d.generate}:{d.shift}"
            if key not in generated:
                from osan.data.generators import generate

                generated[key] = generate(d.generate, seed=seed, size=size, kind=d.shift)
            loaded[d.key] = generated[key][0 if d.role == "source" else 1]
            continue
        assert d.path is not None
        try:
            dom = _load_file(d, spec, nan_policy, text_cache_dir)
        except DataError as e:
            raise SpecError(f"spec {spec.origin}: domain {d.key!r}: {e}") from None
        except ImportError as e:
            raise SpecError(
                f"spec {spec.origin}: domain {d.key!r} needs the text extra to encode "
                f"{d.path.name}: pip install 'osan[text]' ({e})"
            ) from None
        loaded[d.key] = subsample(dom, fraction, seed, d.key) if fraction < 1 else dom
    for key, dom in loaded.items():
        _check_domain(spec, key, dom)
    out = {}
    for s, t in spec.pairs:
        _check_pair(spec, s, t, loaded[s], loaded[t])
        out[f"{s}2{t}"] = (loaded[s], loaded[t])
    return out


def _load_file(d: DomainSpec, spec: BenchmarkSpec, nan_policy: str, cache: Path | None) -> Domain:
    from osan.data.io import load_domain

    assert d.path is not None
    fmt = d.format
    is_csv = fmt == "label_csv" or (fmt == "auto" and d.path.suffix.lower() == ".csv")
    if is_csv:
        if spec.task != "regression":
            raise DataError(f"{d.path}: label.csv files hold sentiment regression labels only")
        return load_domain(d.path, format=fmt, name=d.label, cache_dir=cache, progress=True)
    return load_domain(
        d.path,
        format=fmt,
        nan_policy=d.nan_policy or nan_policy,
        default_task=spec.task,
        rename_splits=dict(d.splits) or None,
        name=d.label,
    )


def _check_domain(spec: BenchmarkSpec, key: str, dom: Domain) -> None:
    where = f"spec {spec.origin}: domain {key!r}"
    if dom.task != spec.task:
        raise SpecError(
            f"{where} holds {dom.task} data but the spec's task is {spec.task}: task mismatch "
            "(set task: in the spec, or --task with --source/--target)"
        )
    if spec.classes is not None:
        names = list(spec.classes)
        if dom.classes is None or len(dom.classes) != len(names):
            raise SpecError(f"{where}: classes {dom.classes} do not match the spec's {names}")
        if dom.classes != names:
            if dom.classes != [str(k) for k in range(len(names))]:
                raise SpecError(f"{where}: classes {dom.classes} differ from the spec's {names}")
            dom.classes = names  # class ids 0..K-1 named by the spec


def _check_pair(spec: BenchmarkSpec, s: str, t: str, src: Domain, tgt: Domain) -> None:
    where = f"spec {spec.origin}: pair [{s}, {t}] cannot be paired"
    if set(src.modalities) != set(tgt.modalities):
        raise SpecError(
            f"{where}: modalities {sorted(src.modalities)} vs {sorted(tgt.modalities)} "
            "(names must agree; feature dims may differ)"
        )
    if src.task == "classification" and src.classes != tgt.classes:
        raise SpecError(f"{where}: classes {src.classes} vs {tgt.classes}")
    for split in ("train", "valid", "test"):
        if src.split(split).labels is None:
            raise SpecError(f"{where}: source {s!r} split {split!r} has no {spec.task} labels")
    if tgt.split("test").labels is None:
        raise SpecError(f"{where}: target {t!r} test split has no labels to evaluate on")


def subsample(domain: Domain, fraction: float, seed: int, key: str) -> Domain:
    """Each split cut to ``fraction`` of its rows (at least 8), by a fixed seeded draw."""
    splits = {}
    for i, (name, sp) in enumerate(domain.splits.items()):
        n = len(sp)
        k = min(n, max(8, round(n * fraction)))
        rng = np.random.default_rng([seed, zlib.crc32(key.encode()), i])
        splits[name] = sp.subset(np.sort(rng.permutation(n)[:k]))
    meta = {**domain.meta, "subsample": {"fraction": fraction, "seed": seed}}
    return replace(domain, splits=splits, meta=meta)


#: What ``osan train`` records about its data in the run folder (read by ``osan report``).
RUN_DATA = "data.json"


def write_run_data(run_dir: str | Path, *, source: str | Path, target: str | Path) -> None:
    """Write ``RUN/data.json``: the source and target files' names and short SHA-256, in the
    shape of a results line's ``data`` (so :func:`provenance` reads it)."""
    import json

    from osan.atomic import atomic_write_bytes

    domains = {}
    for role, p in (("source", Path(source)), ("target", Path(target))):
        domains[role] = {"file": p.name, **({"sha256": file_hash(p)} if p.is_file() else {})}
    data = {"benchmark": "train", "spec": "osan train", "domains": domains}
    text = json.dumps(data, indent=2) + "\n"
    atomic_write_bytes(Path(run_dir) / RUN_DATA, lambda f: f.write(text.encode()))
