"""``osan eval`` and ``osan predict``: a trained run applied to a data file."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from osan.cli.common import UsageError, load_data, write_text
from osan.config import load_config


def _open_run(args: argparse.Namespace):
    """The run, and the data checked against it, before any model call."""
    from osan.train.checkpoint import load_checkpoint
    from osan.train.preflight import check_data_against_run, check_device
    from osan.train.trainer import load_run

    check_device(args.device)
    if not (args.run / "config.yaml").is_file():
        raise UsageError(f"--run {args.run}: not a run folder (no config.yaml)")
    dims = load_checkpoint(args.run / "checkpoint.pt")["dims"]
    cfg = load_config(args.run / "config.yaml", saved=True)
    domain = load_data(args.data, args, task=cfg.task)
    split = domain.split(args.split)
    check_data_against_run(dims, domain, args.domain, args.run, str(args.data))
    cfg, method, classes = load_run(args.run, args.device)
    return cfg, method, classes, domain, split


def cmd_eval(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split, score

    cfg, method, classes, domain, split = _open_run(args)
    if split.labels is None:
        print(
            f"osan: error: {args.data}: split '{args.split}' has no labels: nothing to score "
            f"(osan predict --run {args.run} --data {args.data} --out FILE.csv predicts it)",
            file=sys.stderr,
        )
        return 2
    if cfg.task == "classification" and classes and domain.classes:
        if list(classes) != list(domain.classes):
            raise UsageError(
                f"{args.data}: classes {domain.classes} differ from the run's {classes}"
            )
    preds = predict_split(method, split, args.domain, device=args.device)
    metrics = score(preds.pred, preds.labels, cfg.task, classes or domain.classes)
    out = args.run / f"eval_{args.data.stem}_{args.split}.json"
    write_text(out, json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    print(f"written to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from osan.eval.evaluate import predict_split

    if args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a folder; give a file name (e.g. preds.csv)")
    cfg, method, classes, domain, split = _open_run(args)
    preds = predict_split(method, split, args.domain, device=args.device, labelled=False)
    f = io.StringIO(newline="")  # the CSV is built in memory, then written atomically
    w = csv.writer(f)
    if cfg.task == "regression":
        w.writerow(["id", "prediction"])
        for i, p in zip(preds.ids, preds.pred.tolist(), strict=True):
            w.writerow([i, f"{p:.6f}"])
    else:
        import torch

        names = classes or [str(k) for k in range(preds.pred.shape[1])]
        prob = torch.softmax(torch.from_numpy(preds.pred), -1).numpy()
        w.writerow(["id", "prediction", *[f"p_{n}" for n in names]])
        for i, row in zip(preds.ids, prob, strict=True):
            w.writerow([i, names[int(row.argmax())], *[f"{x:.6f}" for x in row]])
    write_text(args.out, f.getvalue())
    print(f"wrote {len(preds.ids)} predictions to {args.out}")
    return 0
