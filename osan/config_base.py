"""What ``osan/config.py`` is built on, for any dataclass config: :class:`ConfigError`, the
declaration of a number's range (:func:`ranged`), the strict coercion of YAML and command-line
values to the annotated types, nested merging, dotted ``key=value`` overrides, the check of
every declared value (:func:`check_values`) and the keys a later version retired.

Nothing here knows :class:`osan.config.Config`; everything stays importable from
``osan.config``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from osan.yaml_safe import YamlRefused, load_yaml


class ConfigError(ValueError):
    """An unknown key, a value of the wrong type, or an invalid combination."""


@dataclass(frozen=True)
class Range:
    """Allowed interval of a number (``None``: unbounded on that side)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def __str__(self) -> str:
        left = "(" if self.lo_open or self.lo is None else "["
        right = ")" if self.hi_open or self.hi is None else "]"
        lo = "-inf" if self.lo is None else _num(self.lo)
        hi = "inf" if self.hi is None else _num(self.hi)
        return f"{left}{lo}, {hi}{right}"


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def ranged(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Any:
    """A dataclass field with ``default`` whose value (each value, for a dict) must lie in
    the range; ``None`` always passes for an optional field."""
    return field(default=default, metadata={"range": Range(lo, hi, lo_open, hi_open)})


# Keys that a later version replaced, and what to write instead.
RETIRED_KEYS: dict[str, str] = {
    key: "the three TAL flags became one choice, tal.normalize = standardize (was "
    "tal.standardize=true) | layer (tal.output_norm=true) | orthonormal "
    "(tal.orthonormal_output=true) | none (all three false)"
    for key in ("tal.standardize", "tal.output_norm", "tal.orthonormal_output")
}

#: The last commit that has the options of :data:`RETIRED_OPTIONS` (check it out to rerun a
#: result that used one; docs/method.md, "Retired options", says what each measured).
RETIRED_IN = "00e8d38"

#: Options retired because their measured effect was nil or harmful and no preset used them
#: (issue 27): key -> the value whose behaviour the code kept (the default it had). A run
#: folder's saved config.yaml holds every key; one at this value loads (the behaviour is the
#: same), any other value, or the key in a user's YAML or override, is refused in one line.
RETIRED_OPTIONS: dict[str, Any] = {
    "tal.fusion": "residual",
    "tal.update_every": 1,
    "tal.tie": True,
    "tal.orient": "rotate",
    "tal.head_dropout": 0.0,
    "tal.detach_input": False,
    "tal.head_init": "joint",
    "ddg.reverse": "after",
    "ddg.assign": "split",
    "loss.target_dropout": False,
    "loss.mmd_on": "align",
    "loss.align_on": "tal",
    "loss.st_scale": False,
    "loss.st_teacher": "model",
    "loss.st_ema": 0.99,
    "loss.st_views": "clean",
    "loss.label_shift": "none",
}
RETIRED_KEYS.update(
    {
        key: f"was retired (its measured effect was nil or harmful; the code keeps {key}="
        f"{str(value).lower() if isinstance(value, bool) else value}); last in commit "
        f"{RETIRED_IN} (docs/method.md, Retired options)"
        for key, value in RETIRED_OPTIONS.items()
    }
)


def drop_retired_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a saved run config, nested) without the retired keys that hold the value
    whose behaviour the code kept; a retired key at another value stays, to be refused."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for key, kept in RETIRED_OPTIONS.items():
        section, name = key.split(".")
        node = out.get(section)
        if isinstance(node, dict) and name in node and node[name] == kept:
            del node[name]
    return out


def convert_value(value: Any, tp: Any, key: str) -> Any:
    """Coerce a YAML/CLI value to the annotated type ``tp`` (strict: no silent surprises)."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is None and is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return build_dataclass(tp, value, key + ".")
    if tp is Any:
        return value
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        choices = ", ".join(map(str, args))
        raise ConfigError(f"{key}: must be one of {choices}; got {value!r}")
    if origin in (dict,):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        kt, vt = args
        return {
            convert_value(k, kt, key): convert_value(v, vt, f"{key}.{k}") for k, v in value.items()
        }
    if origin is not None and type(None) in args:  # Optional[X] / X | None
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        inner = [a for a in args if a is not type(None)]
        return convert_value(value, inner[0], key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError as e:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from e
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from e
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def build_dataclass(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    for key in sorted(prefix + str(k) for k in unknown):
        if key in RETIRED_OPTIONS:
            value = data[key.rsplit(".", 1)[1]]
            raise ConfigError(f"{key}={value!r} {RETIRED_KEYS[key]}")
        if key in RETIRED_KEYS:
            raise ConfigError(f"{key} no longer exists: {RETIRED_KEYS[key]}")
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {sorted(prefix + str(k) for k in unknown)}; "
            f"valid under '{prefix or '.'}': {sorted(known)}"
        )
    kwargs = {k: convert_value(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def merge_dicts(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in _REPLACED_DICTS:
            out[k] = merge_dicts(out[k], v)
        else:
            out[k] = v
    return out


# Per-modality dim maps are replaced whole, so that a preset for other modalities
# (e.g. text + layout) does not inherit text/vision/audio entries.
_REPLACED_DICTS = {"out_dims"}


def yaml_problem(e: yaml.YAMLError) -> str:
    """One line for a YAML error (PyYAML's own message spans several)."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or type(e).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["tal.eps=1e-4", "ddg.heads=32"]`` → nested dict with YAML-parsed values."""
    out: dict[str, Any] = {}
    setter: dict[tuple[str, ...], str] = {}  # the override that set each key
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw) if raw != "" else ""
        except YamlRefused as e:
            raise ConfigError(f"override {item!r}: {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(
                f"override {item!r}: value is not valid YAML ({yaml_problem(e)})"
            ) from None
        node = out
        parts = key.strip().split(".")
        for i, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):  # an earlier override set this section to a value
                first = setter.get(tuple(parts[: i + 1]), "another override")
                section = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"override {first!r}: '{section}' is a section of settings, not a value "
                    f"(it clashes with {item!r})"
                )
        node[parts[-1]] = value
        setter[tuple(parts)] = item
    return out


def check_values(obj: Any, prefix: str = "") -> None:
    """Check every field of the dataclass ``obj`` (recursively) against its declaration:
    ``Literal`` choices, ``metadata["range"]`` (for a dict, each of its values) and
    ``metadata["pattern"]``. Works for any field added later; raises :class:`ConfigError`
    naming the dotted key."""
    hints = get_type_hints(type(obj), include_extras=False)
    for f in fields(obj):
        key, value = prefix + f.name, getattr(obj, f.name)
        if is_dataclass(value):
            check_values(value, key + ".")
            continue
        _check_literal(value, hints[f.name], key)
        rng = f.metadata.get("range")
        if rng is not None and value is not None:
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for k, v in items:
                where = key if k is None else f"{key}.{k}"
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"{where}: expected a number, got {v!r}")
                if not rng.contains(v):
                    raise ConfigError(f"{where} must lie in {rng}, got {v!r}")
        pattern = f.metadata.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, str(value)):
            raise ConfigError(f"{key}: {value!r} is not of the form {pattern}")


def _check_literal(value: Any, tp: Any, key: str) -> None:
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal and value not in args:
        raise ConfigError(f"{key}: must be one of {', '.join(map(str, args))}; got {value!r}")
    if origin is not None and origin is not Literal and type(None) in args and value is not None:
        for inner in args:
            if get_origin(inner) is Literal:
                _check_literal(value, inner, key)
