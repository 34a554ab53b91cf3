"""The Python API: train from files, load a finished run, predict and evaluate, in a notebook.

    import osan

    src, tgt = osan.generate("msa", "data", size="tiny")  # or your own files
    run = osan.train("source-only", src, tgt, "runs/a", epochs=1, optim__lr=5e-4)
    run = osan.load_run("runs/a")  # the same run, later
    run.predict(tgt)  # {sample id: prediction}; no labels needed
    run.evaluate(tgt)  # the metrics `osan eval` prints

Each function goes through the command line's own steps (``osan/cli/train.py``,
``osan/cli/runs.py``, ``osan/cli/data.py``): the same config resolution, the same checks and
the same one-line errors (``ConfigError``, ``DataError``, ``RunError``, ``CheckpointError``,
``UsageError``: every one a ``ValueError``). torch loads on the first call, not on
``import osan``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osan.config import Config
    from osan.data.domain import Domain
    from osan.methods import Method


class Run:
    """A finished run folder (what ``osan train --out`` writes) with its trained model.

    Attributes:
        path: the run folder.
        config: its resolved :class:`~osan.config.Config`.
        model: the trained method (a ``torch.nn.Module``, in eval mode) with the weights that
            checkpoint selection chose.
        classes: the class names (classification), else ``None``.
        dims: the feature dims it was trained on, ``{"source": {...}, "target": {...}}``.
        metrics: ``metrics.json`` as training saved it (test metrics at the top level and under
            ``target``, ``source``, ``meta``), or ``None`` when the folder has none.
        device: where ``predict`` and ``evaluate`` run.
    """

    def __init__(
        self,
        path: Path,
        config: Config,
        model: Method,
        classes: list[str] | None,
        dims: dict[str, dict[str, int]],
        metrics: dict[str, Any] | None,
        device: str,
    ) -> None:
        self.path, self.config, self.model, self.classes = path, config, model, classes
        self.dims, self.metrics, self.device = dims, metrics, device

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, method={self.config.method!r}, task={self.config.task!r})"

    def predict(
        self,
        data: str | Path | Domain,
        split: str = "test",
        *,
        domain: str = "target",
        nan_policy: str = "error",
    ) -> dict[str, float | str]:
        """One prediction per sample id of ``data``'s ``split`` (``osan predict``; labels are
        not read): a float for regression, the class name for classification.

        ``domain``: which side of the run the data comes from (``target`` | ``source``).
        """
        from osan.cli.runs import checked_split, prediction_rows
        from osan.eval.evaluate import predict_split

        loaded, name = _domain(data, self.config.task, nan_policy)
        part = checked_split(loaded, split, self.dims, domain, self.path, name)
        preds = predict_split(self.model, part, domain, device=self.device, labelled=False)
        _, rows = prediction_rows(preds, self.config.task, self.classes)
        out = {row[0]: row[1] for row in rows}
        if len(out) < len(rows):
            from collections import Counter

            from osan.data.domain import DataError

            twice = next(i for i, n in Counter(preds.ids).items() if n > 1)
            raise DataError(
                f"{name}: split '{split}': sample id {twice!r} occurs more than once, so a dict "
                "cannot hold one prediction per sample (osan predict writes every row)"
            )
        return out

    def evaluate(
        self,
        data: str | Path | Domain,
        split: str = "test",
        *,
        domain: str = "target",
        nan_policy: str = "error",
    ) -> dict[str, float]:
        """The metrics of the run on ``data``'s labelled ``split``: the numbers ``osan eval``
        prints (nothing is written)."""
        from osan.cli.runs import checked_split, score_split

        loaded, name = _domain(data, self.config.task, nan_policy)
        checked_split(loaded, split, self.dims, domain, self.path, name)
        metrics = score_split(
            self.config, self.model, self.classes, loaded, split, domain,
            device=self.device, data=name, hint="Run.predict predicts it",
        )  # fmt: skip
        return {k: v for k, v in metrics.items() if not isinstance(v, dict)}

    def adapt(
        self,
        target: str | Path | Domain,
        out: str | Path,
        *,
        method: str | None = None,
        epochs: int | None = None,
        overrides: Mapping[str, Any] | Sequence[str] | None = None,
        resume: bool = False,
        progress: bool = False,
        **dotted: Any,
    ) -> Run:
        """Adapt this run to the unlabelled ``target`` without the source data (``osan adapt``)
        and return the adapted run, written to ``out``.

        ``method``: ``adabn`` (default), ``ssa`` (regression), ``tent`` or ``shot-im``
        (classification); ``overrides``/keywords: ``adapt.*`` keys (``adapt__lr=3e-4``),
        ``device``, ``num_threads``. Only this run's config, checkpoint and source statistics
        are read."""
        return adapt(
            self.path, target, out, method=method, epochs=epochs, overrides=overrides,
            resume=resume, progress=progress, device=self.device, **dotted,
        )  # fmt: skip


def train(
    method: str,
    source: str | Path | Domain,
    target: str | Path | Domain,
    out: str | Path,
    *,
    task: str | None = None,
    config: str | Path | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    device: str | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    nan_policy: str = "error",
    progress: bool = True,
    **dotted: Any,
) -> Run:
    """Train ``method`` on labelled ``source`` and unlabelled ``target``; write the run to
    ``out`` and return it (``osan train``).

    ``source``/``target``: files in any format ``osan train`` reads, or loaded domains.
    The config resolves as on the command line: defaults, the task preset, the YAML file
    ``config``, then ``overrides`` and the keyword overrides, then ``epochs``, ``task``,
    ``seed``, ``device`` (``None``: the config's value; the defaults are seed 0 on cpu).
    Overrides are dotted keys, in a dict (``overrides={"optim.lr": 5e-4}``), as
    ``key=value`` strings (``["optim.lr=5e-4"]``, YAML values as on the command line), or as
    keywords with ``__`` for the dot (``optim__lr=5e-4``, ``num_threads=1``).
    """
    from osan.cli.train import train_config
    from osan.config_base import merge_dicts
    from osan.train.trainer import fit

    over = _overrides(overrides, dotted)
    if epochs is not None:
        over = merge_dicts(over, _nest({"optim.epochs": epochs}))
    if task is None and _is_domain(source):
        task = source.task
    out = Path(out)
    cfg = train_config(
        out, method=method, config=config, overrides=over, resume=False,
        task=task, seed=seed, device=device,
    )  # fmt: skip
    src, _ = _domain(source, cfg.task, nan_policy)
    tgt, _ = _domain(target, cfg.task, nan_policy)
    fit(cfg, src, tgt, out, progress=progress)
    if not (_is_domain(source) or _is_domain(target)):
        from osan.bench.spec import write_run_data

        write_run_data(out, source=source, target=target)  # for `osan report --runs`
    return load_run(out, device=cfg.device)


def adapt(
    run: str | Path | Run,
    target: str | Path | Domain,
    out: str | Path,
    *,
    method: str | None = None,
    epochs: int | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    resume: bool = False,
    progress: bool = False,
    device: str = "cpu",
    **dotted: Any,
) -> Run:
    """Test-time (source-free) adaptation of the finished run ``run`` to ``target``'s
    unlabelled train split (``osan adapt``); writes ``out`` and returns it as a :class:`Run`.
    See :meth:`Run.adapt`."""
    from osan.testtime.adapt import adapt as adapt_run

    path = run.path if isinstance(run, Run) else Path(run)
    over = _flatten(_overrides(overrides, dotted))
    if device != "cpu":
        over.setdefault("device", device)
    items = [f"{k}={json.dumps(v)}" for k, v in over.items()]
    adapt_run(
        path, target, out, method=method, epochs=epochs, overrides=items,
        resume=resume, progress=progress,
    )  # fmt: skip
    return load_run(out, device=device)


def load_run(path: str | Path, *, device: str = "cpu") -> Run:
    """A finished run folder (``osan train --out``) with its trained model, as ``osan eval``
    and ``osan predict`` read it."""
    from osan.cli.runs import open_run
    from osan.train.trainer import load_run as load_method

    path = Path(path)
    _, dims = open_run(path, device)
    cfg, method, classes = load_method(path, device)
    metrics_file = path / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    return Run(path, cfg, method, classes, dims, metrics, device)


def load_domain(
    path: str | Path, *, task: str | None = None, nan_policy: str = "error", **kw: Any
) -> Domain:
    """A domain from a file in any format ``osan`` reads (the loader of every command:
    :func:`osan.data.io.load_domain`, which documents ``format=``, ``rename_splits=`` ...)."""
    from osan.data.io import load_domain as load

    return load(path, task=task, nan_policy=nan_policy, **kw)


def generate(
    name: str,
    out: str | Path,
    *,
    seed: int = 0,
    size: str | float = "small",
    dims: str | None = None,
    shift: str = "builtin",
) -> tuple[Path, Path]:
    """Write the built-in benchmark ``name`` (``msa`` | ``vtc``) to ``out`` as
    ``source.pkl``, ``target.pkl`` and ``meta.json`` (``osan data generate``); returns the
    paths of the two domains. ``size``: ``tiny`` | ``small`` | ``large`` or a multiplier;
    ``shift`` (msa only): ``builtin`` or a kind of the shift zoo (``sensor``, ``dims``, ...)."""
    from osan.cli.data import generate_files

    return generate_files(name, Path(out), seed=seed, size=size, dims=dims, shift=shift)


# --------------------------------------------------------------------------- helpers


def _is_domain(data: object) -> bool:
    from osan.data.domain import Domain

    return isinstance(data, Domain)


def _domain(data: str | Path | Domain, task: str, nan_policy: str) -> tuple[Domain, str]:
    """``data`` loaded as the command line loads a file (the task forced to the run's), and
    the name that errors give it; a loaded domain must already have that task."""
    from osan.data.domain import DataError

    if _is_domain(data):
        if data.task != task:
            raise DataError(f"{data.name}: a {data.task} domain, but the run's task is {task}")
        return data, data.name
    if not isinstance(data, (str, Path)):
        raise TypeError(f"data must be a file path or an osan Domain, not {type(data).__name__}")
    return load_domain(data, task=task, nan_policy=nan_policy), str(data)


def _overrides(
    overrides: Mapping[str, Any] | Sequence[str] | None, dotted: dict[str, Any]
) -> dict[str, Any]:
    """The nested override dict of ``load_config``: ``overrides`` (dotted keys or
    ``key=value`` strings), then the keywords (``optim__lr`` -> ``optim.lr``)."""
    from osan.config import ConfigError
    from osan.config_base import merge_dicts, parse_overrides

    if overrides is None:
        over: dict[str, Any] = {}
    elif isinstance(overrides, Mapping):
        over = _nest(overrides)
    elif isinstance(overrides, Sequence) and not isinstance(overrides, str):
        over = parse_overrides(list(overrides))
    else:
        raise ConfigError(
            f"overrides must be a dict of dotted keys or a list of key=value strings, "
            f"not {type(overrides).__name__}"
        )
    return merge_dicts(over, _nest({k.replace("__", "."): v for k, v in dotted.items()}))


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optim.lr": 5e-4}`` -> ``{"optim": {"lr": 5e-4}}`` (later keys win)."""
    from osan.config import ConfigError
    from osan.config_base import merge_dicts

    out: dict[str, Any] = {}
    for key, value in flat.items():
        if not isinstance(key, str) or not all(key.split(".")):
            raise ConfigError(f"override key {key!r} is not a dotted name such as optim.lr")
        for part in reversed(key.split(".")):
            value = {part: value}
        out = merge_dicts(out, value)
    return out


def _flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"adapt": {"lr": 1e-3}}`` -> ``{"adapt.lr": 1e-3}`` (the inverse of :func:`_nest`)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
