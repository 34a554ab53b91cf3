"""Checks that run before any model is built: a misuse becomes one line, never a traceback
from deep in torch, and never a half-written run folder.

- :func:`prepare` (called by ``fit`` first): the method exists, the device exists, the source
  is labelled (the oracle: the target), source and target have the same modalities, and a
  resumed run is the same run (config, data, method) as the one in the folder; stale temp
  files of killed writers are removed.
- :func:`check_data_against_run` (``osan eval`` / ``osan predict``): the data has the
  modalities and feature dims the run was trained on.
- :func:`resume_config` (``osan train --resume``): the config a resumed run continues with,
  from the run's own config and what the command changes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from osan import lock
from osan.atomic import remove_stale_temps
from osan.config import Config, ConfigError, load_config
from osan.data.domain import Domain
from osan.testtime.stats import SOURCE_STATS
from osan.train.checkpoint import atomic_write_json, load_checkpoint

#: Config keys that may change when a run is resumed: where it runs, not what it computes.
PLACEMENT_KEYS: tuple[str, ...] = ("device", "num_threads", "curve_every")
#: The fingerprint of a run's data (shapes, labels, a content hash), beside its checkpoint;
#: ``data.json`` is the CLI's record of the file names (``osan.bench.spec.write_run_data``).
DATA_FILE = "fingerprint.json"
#: Files of a run written atomically (a killed writer can leave ``.NAME.*.tmp`` of each).
RUN_FILES: tuple[str, ...] = (
    "config.yaml", "metrics.json", "features.npz", "predictions.csv", "data.json", DATA_FILE,
    SOURCE_STATS,
)  # fmt: skip


class RunError(ValueError):
    """A run that cannot start as asked (one line; the CLI exits 2)."""


# --------------------------------------------------------------------------- before training


def prepare(
    cfg: Config,
    source: Domain,
    target: Domain,
    out: str | Path,
    *,
    resume: bool,
    checkpoint: str = "checkpoint.pt",
    is_main: bool = True,
) -> list[str]:
    """Every check of the module docstring; returns notes to show the user (e.g. an
    extended epoch count). Raises :class:`RunError` / :class:`ConfigError` before anything
    is written (except removing stale temp files of a killed writer)."""
    check_inputs(cfg, source, target)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder")
    notes: list[str] = []
    fingerprint = data_fingerprint(source, target)
    ckpt = out / checkpoint
    if resume and ckpt.exists():
        notes += check_same_run(out, cfg, fingerprint)
        saved = load_checkpoint(ckpt, for_resume=True)["dims"]  # a bad checkpoint stops here
        for side, domain in (("source", source), ("target", target)):
            check_data_against_run(saved, domain, side, out, f"{side} {domain.name}")
    if is_main:
        lock.acquire(out, "this run")  # creates the folder; a second process stops here
        _remove_temps(out, checkpoint)
        if _read_json(out / DATA_FILE) != fingerprint:  # unchanged on a resume: not rewritten
            atomic_write_json(fingerprint, out / DATA_FILE)
    for note in notes:
        print(f"osan: note: {note}", file=sys.stderr)
    return notes


def finish_run(out: str | Path, checkpoint: str = "checkpoint.pt") -> None:
    """At the end of a run: remove temp files that killed writers left in its folder, and
    give back the folder's lock."""
    _remove_temps(out, checkpoint)
    lock.release(out)


def _remove_temps(out: str | Path, checkpoint: str) -> None:
    for name in (checkpoint, *RUN_FILES):
        remove_stale_temps(out, name)


def check_inputs(cfg: Config, source: Domain, target: Domain) -> None:
    """The method exists, the device exists, the labels and modalities fit (reads only)."""
    from osan.methods import REGISTRY

    if cfg.method not in REGISTRY:
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {sorted(REGISTRY)}")
    check_device(cfg.device)
    factory = REGISTRY[cfg.method]  # a Method class, or any factory a test registers
    check_domains(
        cfg, source, target, uses_target_labels=getattr(factory, "uses_target_labels", False)
    )


def check_device(device: str) -> None:
    """Refuse a device this machine does not have (``cuda`` on a CPU build, ``cuda:3`` with two
    GPUs, ``bogus``) with one line."""
    if device == "cpu":
        return
    try:
        torch.empty(0, device=torch.device(device))
    except Exception as e:  # noqa: BLE001 - torch raises Assertion/Runtime/ValueError here
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise RunError(f"device {device!r} is not available here ({first})") from None


def check_domains(cfg: Config, source: Domain, target: Domain, *, uses_target_labels: bool) -> None:
    """Labels where training needs them, and the same modalities on both sides."""
    need = (
        [(target, "target", ("train", "valid"), "the oracle trains on target labels")]
        if uses_target_labels
        else [(source, "source", ("train", "valid"), "training needs a labelled source")]
    )
    for domain, side, splits, why in need:
        for s in splits:
            if s in domain.splits and domain.splits[s].labels is None:
                raise RunError(f"{side} {domain.name}: split '{s}' has no labels; {why}")
    if cfg.curve_every and target.split("test").labels is None:
        raise RunError(
            f"curve_every={cfg.curve_every} plots target test metrics, but target "
            f"{target.name} has no test labels; drop curve_every"
        )
    describe_difference(source.dims(), target.dims(), "source", "target", dims_may_differ=True)
    if cfg.task == "classification":
        if source.classes is None:
            raise RunError(f"source {source.name}: classification needs class names")
        if target.classes is not None and list(target.classes) != list(source.classes):
            raise RunError(
                f"source classes {source.classes} and target classes {target.classes} differ"
            )


def describe_difference(
    a: dict[str, int], b: dict[str, int], name_a: str, name_b: str, *, dims_may_differ: bool
) -> None:
    """Raise :class:`RunError` naming what differs between two ``{modality: dim}`` maps."""
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        parts = [f"{name_a} has {sorted(a)}, {name_b} has {sorted(b)}"]
        if only_a:
            parts.append(f"missing in {name_b}: {', '.join(only_a)}")
        if only_b:
            parts.append(f"extra in {name_b}: {', '.join(only_b)}")
        raise RunError("modalities differ: " + "; ".join(parts))
    if not dims_may_differ:
        diff = [f"{m} {b[m]} (expected {a[m]})" for m in a if a[m] != b[m]]
        if diff:
            raise RunError(f"feature dims of {name_b} differ from {name_a}: {', '.join(diff)}")


def check_data_against_run(
    run_dims: dict[str, dict[str, int]], domain: Domain, side: str, run: str | Path, data: str
) -> None:
    """The data for ``osan eval`` / ``osan predict`` has the modalities and dims of the run's
    ``side`` (``source`` | ``target``); checked before any model call."""
    expected = run_dims.get(side)
    if expected is None:
        raise RunError(f"{run}: the run has no {side} dims")
    try:
        describe_difference(
            expected, domain.dims(), f"the run's {side}", data, dims_may_differ=False
        )
    except RunError as e:
        raise RunError(f"{data} does not fit run {run}: {e}") from None


# --------------------------------------------------------------------------- resuming


def resume_config(
    run: str | Path,
    *,
    config_file: str | Path | None,
    overrides: list[str] | dict[str, Any],
    **top: Any,
) -> Config | None:
    """The config of ``osan train --resume``: the run's saved config, changed by what the
    command gives (a YAML file, overrides, ``--method`` ...; ``None`` values are not given).
    ``None`` when the run has no saved config (nothing to resume: a fresh start)."""
    saved_path = Path(run) / "config.yaml"
    if not saved_path.is_file():
        return None
    saved = load_config(saved_path, saved=True)
    return load_config(config_file, overrides, base=saved.to_dict(), **top)


def check_same_run(out: Path, cfg: Config, fingerprint: dict[str, Any]) -> list[str]:
    """Refuse to resume when the method, a setting or the data differ from the run in
    ``out`` (naming the difference). A larger ``optim.epochs`` extends the run, said in the
    returned note; a smaller one than already trained is refused."""
    from osan.methods import REGISTRY

    notes = []
    saved_path = out / "config.yaml"
    if saved_path.is_file():
        saved = load_config(saved_path, saved=True)
        diffs = config_differences(saved, cfg)
        epochs = [d for d in diffs if d[0] == "optim.epochs"]
        others = [d for d in diffs if d[0] != "optim.epochs"]
        if others:
            shown = "; ".join(f"{k}: run has {a!r}, now {b!r}" for k, a, b in others[:4])
            more = f" (and {len(others) - 4} more)" if len(others) > 4 else ""
            raise RunError(
                f"{out}: --resume would continue a different run ({shown}{more}); "
                "resume with the run's own settings or train into a new --out"
            )
        if epochs:
            (_, old, new) = epochs[0]
            if new < old:
                raise RunError(
                    f"{out}: the run was set to {old} epochs; resuming cannot shorten it to {new}"
                )
            if len(getattr(REGISTRY[cfg.method], "phases", ())) > 1:
                raise RunError(
                    f"{out}: {cfg.method} trains in phases whose boundaries depend on the "
                    f"epoch count; cannot extend it from {old} to {new} epochs, train a new run"
                )
            notes.append(
                f"extending {out} from {old} to {new} epochs (the learning-rate schedule is "
                f"recomputed for {new} epochs from the next epoch on)"
            )
    data_path = out / DATA_FILE
    if data_path.is_file():
        before = _read_json(data_path)
        if not isinstance(before, dict) or not all(
            isinstance(before.get(side), dict) for side in ("source", "target")
        ):
            raise RunError(
                f"{data_path}: truncated or corrupt, so --resume cannot check that the data is "
                "the run's own; train into a new --out"
            )
        if isinstance(before, dict):
            for side in ("source", "target"):
                if before.get(side) != fingerprint[side]:
                    raise RunError(
                        f"{out}: --resume with other {side} data than the run was trained on "
                        f"({_describe_change(before.get(side), fingerprint[side])})"
                    )
    return notes


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def config_differences(a: Config, b: Config) -> list[tuple[str, Any, Any]]:
    """``(dotted key, value in a, value in b)`` for every setting that differs, ignoring
    :data:`PLACEMENT_KEYS`."""
    out: list[tuple[str, Any, Any]] = []

    def walk(x: Any, y: Any, prefix: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict) and not _is_leaf_map(prefix):
            for k in sorted(set(x) | set(y), key=str):
                walk(x.get(k), y.get(k), f"{prefix}{k}.")
        elif x != y:
            out.append((prefix[:-1], x, y))

    da = {k: v for k, v in a.to_dict().items() if k not in PLACEMENT_KEYS}
    db = {k: v for k, v in b.to_dict().items() if k not in PLACEMENT_KEYS}
    walk(da, db, "")
    return out


def _is_leaf_map(prefix: str) -> bool:
    return prefix.endswith("out_dims.")


def data_fingerprint(source: Domain, target: Domain) -> dict[str, Any]:
    """Per side: name, task, dims, split sizes and a content hash (ids, lengths, labels and a
    strided sample of the feature rows); cheap, and different for any edited file we know."""
    return {"source": _domain_print(source), "target": _domain_print(target)}


def _domain_print(d: Domain) -> dict[str, Any]:
    h = hashlib.sha256()
    for s, sp in sorted(d.splits.items()):
        h.update(s.encode())
        h.update("\x1f".join(map(str, sp.ids)).encode())
        if sp.labels is not None:
            h.update(np.ascontiguousarray(sp.labels).tobytes())
        for m in sorted(sp.features):
            x = sp.features[m]
            h.update(f"{m}{x.shape}".encode())
            h.update(np.ascontiguousarray(sp.lengths[m]).tobytes())
            h.update(np.ascontiguousarray(x[:: max(1, len(x) // 64)]).tobytes())
    return {
        "dims": d.dims(),
        "n": {s: len(sp) for s, sp in d.splits.items()},
        "labelled": {s: sp.labels is not None for s, sp in d.splits.items()},
        "sha256": h.hexdigest()[:16],
    }


def _describe_change(before: Any, now: dict[str, Any]) -> str:
    if not isinstance(before, dict):
        return "the run's data record is unreadable"
    for key, what in (("dims", "feature dims"), ("n", "split sizes"), ("labelled", "labels")):
        if before.get(key) != now[key]:
            return f"{what} {before.get(key)} then, {now[key]} now"
    return "same shapes, different content"
