"""``osan eval`` and ``osan predict``: a trained run applied to a data file.

The steps are functions that ``osan.api`` (``osan.load_run``, ``Run.predict``,
``Run.evaluate``) calls too, so that Python and the command line check and compute the same.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osan.cli.common import UsageError, load_data, write_text
from osan.config import Config, load_config

if TYPE_CHECKING:
    from osan.data.domain import Domain, Split
    from osan.eval.evaluate import Predictions
    from osan.methods import Method


def open_run(run: Path, device: str) -> tuple[Config, dict[str, dict[str, int]]]:
    """A finished run's config and the dims it was trained on, checked before any model is
    built (the device, the folder, the checkpoint's layout: one-line errors)."""
    from osan.train.checkpoint import load_checkpoint
    from osan.train.preflight import check_device

    check_device(device)
    if not (run / "config.yaml").is_file():
        raise UsageError(f"--run {run}: not a run folder (no config.yaml)")
    dims = load_checkpoint(run / "checkpoint.pt")["dims"]
    return load_config(run / "config.yaml", saved=True), dims


def checked_split(
    domain: Domain, split: str, dims: dict[str, dict[str, int]], side: str, run: Path, data: str
) -> Split:
    """``domain``'s split ``split``, if the data has the modalities and dims of the run's
    ``side`` (``source`` | ``target``); checked before any model call."""
    from osan.train.preflight import check_data_against_run

    out = domain.split(split)
    check_data_against_run(dims, domain, side, run, data)
    return out


def _open_run(args: argparse.Namespace):
    """The run, and the data checked against it, before any model call."""
    from osan.train.trainer import load_run

    cfg, dims = open_run(args.run, args.device)
    domain = load_data(args.data, args, task=cfg.task)
    split = checked_split(domain, args.split, dims, args.domain, args.run, str(args.data))
    cfg, method, classes = load_run(args.run, args.device)
    return cfg, method, classes, domain, split


def score_split(
    cfg: Config,
    method: Method,
    classes: list[str] | None,
    domain: Domain,
    split: str,
    side: str,
    *,
    device: str,
    data: str,
    hint: str,
) -> dict[str, Any]:
    """The metrics of ``method`` on ``domain``'s labelled split ``split`` (what ``osan eval``
    writes); ``hint`` says how to predict a split that has no labels."""
    from osan.eval.evaluate import predict_split, score

    labelled = domain.split(split)
    if labelled.labels is None:
        raise UsageError(f"{data}: split '{split}' has no labels: nothing to score ({hint})")
    if cfg.task == "classification" and classes and domain.classes:
        if list(classes) != list(domain.classes):
            raise UsageError(f"{data}: classes {domain.classes} differ from the run's {classes}")
    preds = predict_split(method, labelled, side, device=device)
    return score(preds.pred, preds.labels, cfg.task, classes or domain.classes)


def prediction_rows(
    preds: Predictions, task: str, classes: list[str] | None
) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of ``osan predict``'s CSV: ``id, prediction`` (a float for
    regression; for classification the class name, then ``p_<class>`` probabilities)."""
    if task == "regression":
        return ["id", "prediction"], [
            [i, p] for i, p in zip(preds.ids, preds.pred.tolist(), strict=True)
        ]
    import torch

    names = classes or [str(k) for k in range(preds.pred.shape[1])]
    prob = torch.softmax(torch.from_numpy(preds.pred), -1).numpy()  # (N, K)
    rows = [
        [i, names[int(row.argmax())], *row.tolist()] for i, row in zip(preds.ids, prob, strict=True)
    ]
    return ["id", "prediction", *[f"p_{n}" for n in names]], rows


def cmd_eval(args: argparse.Namespace) -> int:
    """Print the run's metrics on ``--data``; ``--out FILE.json`` also writes them (never into
    the run folder, which eval only reads)."""
    if args.out is not None:
        if args.out.is_dir():
            raise UsageError(f"--out {args.out}: is a folder; give a file name (e.g. eval.json)")
        if args.run.resolve() in args.out.resolve().parents:
            raise UsageError(
                f"--out {args.out}: inside the run folder {args.run}, which osan eval only "
                "reads; write it elsewhere"
            )
    cfg, method, classes, domain, _ = _open_run(args)
    hint = f"osan predict --run {args.run} --data {args.data} --out FILE.csv predicts it"
    metrics = score_split(
        cfg, method, classes, domain, args.split, args.domain,
        device=args.device, data=str(args.data), hint=hint,
    )  # fmt: skip
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    if args.out is not None:
        write_text(args.out, json.dumps(metrics, indent=2) + "\n")
        print(f"written to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split

    if args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a folder; give a file name (e.g. preds.csv)")
    cfg, method, classes, domain, split = _open_run(args)
    preds = predict_split(method, split, args.domain, device=args.device, labelled=False)
    header, rows = prediction_rows(preds, cfg.task, classes)
    f = io.StringIO(newline="")  # the CSV is built in memory, then written atomically
    w = csv.writer(f)
    w.writerow(header)
    for i, *values in rows:
        w.writerow([i, *[v if isinstance(v, str) else f"{v:.6f}" for v in values]])
    write_text(args.out, f.getvalue())
    print(f"wrote {len(preds.ids)} predictions to {args.out}")
    return 0
