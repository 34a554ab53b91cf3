"""Benchmark specs: which domains a suite runs on, the task, and the transfer pairs.

A spec is a small YAML file (``configs/benchmarks/cmu-mmsa.yaml``)::

    name: cmu-mmsa                      # run-id prefix, table heading (letters, digits, _ . -)
    task: regression                    # or classification (then optionally classes: [...])
    domains:
      mosei: {path: ~/data/MOSEI/unaligned_50.pkl, label: CMU-MOSEI}
      mosi:  {path: ~/data/MOSI/unaligned_50.pkl, label: CMU-MOSI}
    pairs: [[mosei, mosi], [mosi, mosei]]   # default: every ordered pair

A domain is a file (``path``, relative to the spec's folder; ``format`` when the suffix does
not tell; ``splits`` renames the file's splits, ``{val: valid}``; ``nan_policy: zero``) or a
built-in generated domain (``generate: msa``, ``role: source | target``). Optional top-level
keys: ``title``, ``classes``, ``ablation_pair`` (the pair the ablation suites run on; default
the first), ``preset`` (whose benchmark presets and ``--quick`` settings apply: ``msa``,
``vtc`` or ``cmu``; default ``msa`` for regression, ``vtc`` for classification) and
``overrides`` (``key=value`` config overrides for every run on this data).

The built-in benchmarks are specs of the same kind (``--data msa``, ``vtc``, ``cmu-text``):
:data:`BUILTIN` names their files. A pair ``(s, t)`` is the direction ``"<s>2<t>"``; every
problem with a spec is one line (:class:`SpecError`), checked before anything trains.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from osan.data.domain import DataError, Domain

#: Folder of the built-in specs (``<repo>/configs/benchmarks``).
SPEC_DIR = Path(__file__).resolve().parents[2] / "configs" / "benchmarks"
#: ``--data NAME`` -> spec file in :data:`SPEC_DIR` (``cmu`` is the results' key of cmu-text).
BUILTIN: dict[str, str] = {
    "msa": "msa.yaml",
    "vtc": "vtc.yaml",
    "cmu-text": "cmu-text.yaml",
    "cmu": "cmu-text.yaml",
}
TASKS = ("regression", "classification")
GENERATED = ("msa", "vtc")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = (
    "name", "task", "classes", "title", "domains", "pairs", "ablation_pair", "preset", "overrides",
)  # fmt: skip
_DOMAIN_KEYS = ("path", "format", "splits", "nan_policy", "label", "generate", "role")
_FORMATS = ("auto", "mmsa", "mult", "wordaligned", "label_csv", "h5", "npz")


class SpecError(ValueError):
    """A bad spec, a missing file or domains that cannot be paired: one line, exit code 2."""


@dataclass(frozen=True)
class DomainSpec:
    """One domain of a spec: a file, or a built-in generated domain."""

    key: str  # the spec's name for it: part of direction ids
    label: str  # display name (table legends)
    path: Path | None = None
    format: str = "auto"
    splits: tuple[tuple[str, str], ...] = ()  # (file's split name, ours)
    nan_policy: str | None = None  # None: the command's --nan-policy
    generate: str | None = None  # "msa" | "vtc"
    role: str | None = None  # "source" | "target" (of the generator's pair)


@dataclass(frozen=True)
class BenchmarkSpec:
    """What a suite runs on: its task, its domains and the directions between them."""

    name: str
    task: str
    title: str
    domains: tuple[DomainSpec, ...]
    pairs: tuple[tuple[str, str], ...]
    classes: tuple[str, ...] | None = None
    preset: str | None = None
    ablation_pair: tuple[str, str] | None = None
    overrides: tuple[str, ...] = ()
    origin: str = ""  # the built-in name or the spec file's path

    def domain(self, key: str) -> DomainSpec:
        return next(d for d in self.domains if d.key == key)

    @property
    def directions(self) -> dict[str, str]:
        """Direction id -> table heading, in the spec's pair order."""
        return {
            f"{s}2{t}": f"{self.domain(s).label} → {self.domain(t).label}" for s, t in self.pairs
        }

    def short(self, direction: str) -> str:
        """``mosei→mosi``: the compact column heading of a direction."""
        for s, t in self.pairs:
            if f"{s}2{t}" == direction:
                return f"{s}→{t}"
        return direction

    @property
    def ablation_direction(self) -> str:
        s, t = self.ablation_pair or self.pairs[0]
        return f"{s}2{t}"

    @property
    def resolved_preset(self) -> str:
        return self.preset or ("msa" if self.task == "regression" else "vtc")

    @property
    def generated(self) -> bool:
        return all(d.generate is not None for d in self.domains)

    def with_path(self, key: str, path: Path) -> BenchmarkSpec:
        """The spec with domain ``key`` read from ``path`` (``--mosi``/``--mosei``)."""
        doms = tuple(replace(d, path=Path(path)) if d.key == key else d for d in self.domains)
        return replace(self, domains=doms)


# --------------------------------------------------------------------------- parsing


def load_spec(ref: str | Path) -> BenchmarkSpec:
    """A built-in spec by name (:data:`BUILTIN`) or a spec file by path."""
    text_ref = str(ref)
    if text_ref in BUILTIN:
        path = SPEC_DIR / BUILTIN[text_ref]
        origin = text_ref if text_ref != "cmu" else "cmu-text"
    else:
        path = Path(text_ref).expanduser()
        origin = str(path)
        if not path.is_file():
            raise SpecError(
                f"--data {text_ref}: no such spec file, and not a built-in benchmark "
                f"({', '.join(b for b in BUILTIN if b != 'cmu')})"
            )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read the spec ({e})") from None
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0]
        raise SpecError(f"{path}: not valid YAML ({first})") from None
    return parse_spec(raw, origin=origin, base=path.parent)


def _fail(origin: str, msg: str) -> SpecError:
    return SpecError(f"spec {origin}: {msg}")


def _name(value: Any, origin: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _fail(origin, f"{what} {value!r} must be letters, digits, '_', '.' or '-'")
    return value


def _str_pair(value: Any, origin: str, what: str) -> tuple[str, str]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise _fail(origin, f"{what} {value!r} must be a pair [source, target]")
    return str(value[0]), str(value[1])


def parse_spec(raw: Any, *, origin: str, base: Path | None = None) -> BenchmarkSpec:
    """A :class:`BenchmarkSpec` from parsed YAML; relative paths resolve against ``base``."""
    if not isinstance(raw, dict):
        raise _fail(origin, f"the top level must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - set(_TOP_KEYS))
    if unknown:
        raise _fail(origin, f"unknown key(s) {unknown}; allowed: {list(_TOP_KEYS)}")
    name = _name(raw.get("name"), origin, "name")
    task = raw.get("task", "regression")
    if task not in TASKS:
        raise _fail(origin, f"task must be regression or classification, got {task!r}")
    classes = raw.get("classes")
    if classes is not None:
        if task != "classification" or not isinstance(classes, list) or len(classes) < 2:
            raise _fail(origin, "classes: a list of two or more names, for classification only")
        classes = tuple(str(c) for c in classes)
    domains_raw = raw.get("domains")
    if not isinstance(domains_raw, dict) or len(domains_raw) < 2:
        raise _fail(origin, "domains: a mapping of two or more named domains")
    domains = tuple(
        _domain(_name(k, origin, "domain name"), v, origin, base) for k, v in domains_raw.items()
    )
    keys = [d.key for d in domains]
    pairs_raw = raw.get("pairs")
    if pairs_raw is None:
        pairs = tuple((s, t) for s in keys for t in keys if s != t)
    elif not isinstance(pairs_raw, list) or not pairs_raw:
        raise _fail(origin, "pairs: a list of [source, target] domain names")
    else:
        pairs = tuple(_str_pair(p, origin, "pair") for p in pairs_raw)
    ablation = raw.get("ablation_pair")
    ablation = None if ablation is None else _str_pair(ablation, origin, "ablation_pair")
    for s, t in (*pairs, *([ablation] if ablation else [])):
        for d in (s, t):
            if d not in keys:
                raise _fail(origin, f"pair [{s}, {t}] names unknown domain {d!r} (have {keys})")
        if s == t:
            raise _fail(origin, f"pair [{s}, {t}] pairs a domain with itself")
    if len(set(pairs)) != len(pairs):
        raise _fail(origin, "pairs repeat")
    if ablation is not None and ablation not in pairs:
        raise _fail(origin, f"ablation_pair {list(ablation)} is not one of the pairs")
    preset = raw.get("preset")
    if preset is not None and preset not in ("msa", "vtc", "cmu"):
        raise _fail(origin, f"preset must be msa, vtc or cmu, got {preset!r}")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or not all(
        isinstance(o, str) and "=" in o for o in overrides
    ):
        raise _fail(origin, "overrides: a list of key=value strings")
    title = raw.get("title") or f"benchmark spec {name}"
    return BenchmarkSpec(
        name=name,
        task=task,
        title=str(title),
        domains=domains,
        pairs=pairs,
        classes=classes,
        preset=preset,
        ablation_pair=ablation,
        overrides=tuple(overrides),
        origin=origin,
    )


def _domain(key: str, raw: Any, origin: str, base: Path | None) -> DomainSpec:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        raise _fail(origin, f"domain {key!r} must be a mapping (path: ...), got {raw!r}")
    unknown = sorted(set(map(str, raw)) - set(_DOMAIN_KEYS))
    if unknown:
        raise _fail(
            origin, f"domain {key!r}: unknown key(s) {unknown}; allowed: {list(_DOMAIN_KEYS)}"
        )
    label = str(raw.get("label") or key)
    gen, path = raw.get("generate"), raw.get("path")
    if (gen is None) == (path is None):
        raise _fail(origin, f"domain {key!r}: give exactly one of path or generate")
    if gen is not None:
        if gen not in GENERATED or raw.get("role") not in ("source", "target"):
            raise _fail(origin, f"domain {key!r}: generate: msa | vtc with role: source | target")
        extra = sorted(set(raw) - {"generate", "role", "label"})
        if extra:
            raise _fail(origin, f"domain {key!r}: {extra} do not apply to a generated domain")
        return DomainSpec(key, label, generate=gen, role=raw["role"])
    if "role" in raw:
        raise _fail(origin, f"domain {key!r}: role applies to generated domains only")
    p = Path(str(path)).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(os.path.normpath(base / p))
    fmt = raw.get("format", "auto")
    if fmt not in _FORMATS:
        raise _fail(origin, f"domain {key!r}: format must be one of {list(_FORMATS)}, got {fmt!r}")
    nan = raw.get("nan_policy")
    if nan not in (None, "error", "zero"):
        raise _fail(origin, f"domain {key!r}: nan_policy must be error or zero, got {nan!r}")
    splits = raw.get("splits") or {}
    if not isinstance(splits, dict) or not all(
        v in ("train", "valid", "test") for v in splits.values()
    ):
        raise _fail(
            origin, f"domain {key!r}: splits maps the file's split names to train/valid/test"
        )
    return DomainSpec(
        key,
        label,
        path=p,
        format=fmt,
        splits=tuple((str(a), str(b)) for a, b in splits.items()),
        nan_policy=nan,
    )


def _stem_names(paths: list[Path]) -> list[str]:
    """Distinct id-safe names for files: their stems, else the first folder up their paths
    whose names differ (``MOSEI/Processed/unaligned_50.pkl`` -> ``MOSEI``)."""

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")

    levels = [[p.stem, *(a.name for a in p.resolve().parents)] for p in paths]
    for i in range(min(len(lv) for lv in levels)):
        names = [clean(lv[i]) for lv in levels]
        if all(names) and len(set(names)) == len(names):
            return names
    return ["source", "target"]


def from_files(
    source: Path, target: Path, *, both_directions: bool = False, task: str = "regression"
) -> BenchmarkSpec:
    """The spec of ``osan bench --source S --target T [--both-directions]``."""
    paths = [Path(source).expanduser(), Path(target).expanduser()]
    s, t = _stem_names(paths)
    s_key, t_key = (s if s[0].isalnum() else f"d{s}"), (t if t[0].isalnum() else f"d{t}")
    pairs = ((s_key, t_key), (t_key, s_key)) if both_directions else ((s_key, t_key),)
    return BenchmarkSpec(
        name=f"{s_key}-{t_key}",
        task=task,
        title=f"{paths[0].name} and {paths[1].name} (--source/--target)",
        domains=(DomainSpec(s_key, s_key, path=paths[0]), DomainSpec(t_key, t_key, path=paths[1])),
        pairs=pairs,
        origin="--source/--target",
    )


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
        if d.path is not None and not d.path.is_file():
            raise _fail(spec.origin, f"domain {d.key!r}: no such file {d.path}")


def file_fraction(spec: BenchmarkSpec, size: str | float | None) -> float:
    """The fraction of each split of the spec's files a suite uses: ``--size F`` given
    explicitly (0 < F <= 1), else all (``--quick`` halves generated data only)."""
    if size is None or size == "small" or not any(d.path for d in spec.domains):
        return 1.0
    if isinstance(size, (int, float)) and 0 < float(size) <= 1:
        return float(size)
    raise _fail(spec.origin, f"--size {size}: data files take a fraction in (0, 1]")


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
        return {"benchmark": spec.name, "size": size, "seed": seed, "spec": spec.origin}
    domains: dict[str, Any] = {}
    for d in spec.domains:
        if d.path is None:
            domains[d.key] = {"generate": d.generate, "role": d.role}
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
            if d.generate not in generated:
                from osan.data.generators import generate

                generated[d.generate] = generate(d.generate, seed=seed, size=size)
            loaded[d.key] = generated[d.generate][0 if d.role == "source" else 1]
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
