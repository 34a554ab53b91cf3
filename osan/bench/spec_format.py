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
built-in generated domain (``generate: msa``, ``role: source | target``; for msa, ``shift:``
a kind of the shift zoo such as ``sensor``, default ``builtin``). Optional top-level
keys: ``title``, ``classes``, ``ablation_pair`` (the pair the ablation suites run on; default
the first), ``preset`` (whose benchmark presets and ``--quick`` settings apply: ``msa``,
``vtc`` or ``cmu``; default ``msa`` for regression, ``vtc`` for classification) and
``overrides`` (``key=value`` config overrides for every run on this data).

The built-in benchmarks are specs of the same kind (``--data msa``, ``vtc``, ``cmu-text``):
:data:`BUILTIN` names their files. A pair ``(s, t)`` is the direction ``"<s>2<t>"``; every
problem with a spec is one line (:class:`SpecError`), checked before anything trains.

This module reads and checks a spec; ``osan/bench/spec.py`` loads and describes its data.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from osan.data.generators.msa_zoo import KINDS, SHIFT_KINDS
from osan.yaml_safe import YamlRefused, load_yaml, read_yaml_text

#: Folder of the built-in specs (``<repo>/configs/benchmarks``).
SPEC_DIR = Path(__file__).resolve().parents[2] / "configs" / "benchmarks"
#: ``--data NAME`` -> spec file in :data:`SPEC_DIR` (``cmu`` is the results' key of cmu-text).
BUILTIN: dict[str, str] = {
    "msa": "msa.yaml",
    "vtc": "vtc.yaml",
    "cmu-text": "cmu-text.yaml",
    "cmu": "cmu-text.yaml",
    **{f"msa-{kind}": f"msa-{kind}.yaml" for kind in SHIFT_KINDS},
}
TASKS = ("regression", "classification")
GENERATED = ("msa", "vtc")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = (
    "name", "task", "classes", "title", "domains", "pairs", "ablation_pair", "preset", "overrides",
)  # fmt: skip
_DOMAIN_KEYS = ("path", "format", "splits", "nan_policy", "label", "generate", "role", "shift")
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
    shift: str = "builtin"  # msa: a kind of the shift zoo (osan.data.generators.msa_zoo)


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
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file (a FIFO or device)"
            raise SpecError(f"--data {text_ref}: {kind}; refused")
        if not path.is_file():
            raise SpecError(
                f"--data {text_ref}: no such spec file, and not a built-in benchmark "
                f"({', '.join(b for b in BUILTIN if b != 'cmu')})"
            )
    try:
        raw = load_yaml(read_yaml_text(path))  # a regular file of at most 1 MiB, no aliases
    except YamlRefused as e:
        raise SpecError(f"{path}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read the spec ({e})") from None
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0]
        raise SpecError(f"{path}: not valid YAML ({first})") from None
    return parse_spec(raw, origin=origin, base=path.parent)


def spec_error(origin: str, msg: str) -> SpecError:
    return SpecError(f"spec {origin}: {msg}")


def _name(value: Any, origin: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise spec_error(origin, f"{what} {value!r} must be letters, digits, '_', '.' or '-'")
    return value


def _str_pair(value: Any, origin: str, what: str) -> tuple[str, str]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise spec_error(origin, f"{what} {value!r} must be a pair [source, target]")
    return str(value[0]), str(value[1])


def parse_spec(raw: Any, *, origin: str, base: Path | None = None) -> BenchmarkSpec:
    """A :class:`BenchmarkSpec` from parsed YAML; relative paths resolve against ``base``."""
    if not isinstance(raw, dict):
        raise spec_error(origin, f"the top level must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - set(_TOP_KEYS))
    if unknown:
        raise spec_error(origin, f"unknown key(s) {unknown}; allowed: {list(_TOP_KEYS)}")
    name = _name(raw.get("name"), origin, "name")
    task = raw.get("task", "regression")
    if task not in TASKS:
        raise spec_error(origin, f"task must be regression or classification, got {task!r}")
    classes = raw.get("classes")
    if classes is not None:
        if task != "classification" or not isinstance(classes, list) or len(classes) < 2:
            raise spec_error(
                origin, "classes: a list of two or more names, for classification only"
            )
        if not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes):
            raise spec_error(origin, "classes: each class is a name (a string)")
        classes = tuple(str(c) for c in classes)
    domains_raw = raw.get("domains")
    if not isinstance(domains_raw, dict) or len(domains_raw) < 2:
        raise spec_error(origin, "domains: a mapping of two or more named domains")
    domains = tuple(
        _domain(_name(k, origin, "domain name"), v, origin, base) for k, v in domains_raw.items()
    )
    keys = [d.key for d in domains]
    pairs_raw = raw.get("pairs")
    if pairs_raw is None:
        pairs = tuple((s, t) for s in keys for t in keys if s != t)
    elif not isinstance(pairs_raw, list) or not pairs_raw:
        raise spec_error(origin, "pairs: a list of [source, target] domain names")
    else:
        pairs = tuple(_str_pair(p, origin, "pair") for p in pairs_raw)
    ablation = raw.get("ablation_pair")
    ablation = None if ablation is None else _str_pair(ablation, origin, "ablation_pair")
    for s, t in (*pairs, *([ablation] if ablation else [])):
        for d in (s, t):
            if d not in keys:
                raise spec_error(
                    origin, f"pair [{s}, {t}] names unknown domain {d!r} (have {keys})"
                )
        if s == t:
            raise spec_error(origin, f"pair [{s}, {t}] pairs a domain with itself")
    if len(set(pairs)) != len(pairs):
        raise spec_error(origin, "pairs repeat")
    if ablation is not None and ablation not in pairs:
        raise spec_error(origin, f"ablation_pair {list(ablation)} is not one of the pairs")
    preset = raw.get("preset")
    if preset is not None and preset not in ("msa", "vtc", "cmu"):
        raise spec_error(origin, f"preset must be msa, vtc or cmu, got {preset!r}")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or not all(
        isinstance(o, str) and "=" in o for o in overrides
    ):
        raise spec_error(origin, "overrides: a list of key=value strings")
    title = raw.get("title") or f"benchmark spec {name}"
    if not isinstance(title, str) or len(title) > 500:
        raise spec_error(origin, "title: one line of text (at most 500 characters)")
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
        raise spec_error(origin, f"domain {key!r} must be a mapping (path: ...), got {raw!r}")
    unknown = sorted(set(map(str, raw)) - set(_DOMAIN_KEYS))
    if unknown:
        raise spec_error(
            origin, f"domain {key!r}: unknown key(s) {unknown}; allowed: {list(_DOMAIN_KEYS)}"
        )
    label = raw.get("label") or key
    if not isinstance(label, str) or len(label) > 200:
        raise spec_error(origin, f"domain {key!r}: label must be a short string")
    gen, path = raw.get("generate"), raw.get("path")
    if (gen is None) == (path is None):
        raise spec_error(origin, f"domain {key!r}: give exactly one of path or generate")
    if gen is not None:
        if gen not in GENERATED or raw.get("role") not in ("source", "target"):
            raise spec_error(
                origin, f"domain {key!r}: generate: msa | vtc with role: source | target"
            )
        extra = sorted(set(raw) - {"generate", "role", "label", "shift"})
        if extra:
            raise spec_error(origin, f"domain {key!r}: {extra} do not apply to a generated domain")
        shift = raw.get("shift", "builtin")
        if (
            not isinstance(shift, str)
            or shift not in KINDS
            or (gen != "msa" and shift != "builtin")
        ):
            raise spec_error(
                origin, f"domain {key!r}: shift {shift!r} must be one of {list(KINDS)} (msa only)"
            )
        return DomainSpec(key, label, generate=gen, role=raw["role"], shift=shift)
    for k in ("role", "shift"):
        if k in raw:
            raise spec_error(origin, f"domain {key!r}: {k} applies to generated domains only")
    if not isinstance(path, str) or not path:
        raise spec_error(origin, f"domain {key!r}: path must be a string, got {path!r}")
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(os.path.normpath(base / p))
    fmt = raw.get("format", "auto")
    if fmt not in _FORMATS:
        raise spec_error(
            origin, f"domain {key!r}: format must be one of {list(_FORMATS)}, got {fmt!r}"
        )
    nan = raw.get("nan_policy")
    if nan not in (None, "error", "zero"):
        raise spec_error(origin, f"domain {key!r}: nan_policy must be error or zero, got {nan!r}")
    splits = raw.get("splits") or {}
    if not isinstance(splits, dict) or not all(
        isinstance(k, str) and v in ("train", "valid", "test") for k, v in splits.items()
    ):
        raise spec_error(
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
