"""``osan adapt``: test-time (source-free) adaptation of a finished run
(:func:`osan.testtime.adapt.adapt`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from osan.cli.common import check_out_folder, load_data


def cmd_adapt(args: argparse.Namespace) -> int:
    from osan.testtime.adapt import adapt, open_run

    check_out_folder(args.out)
    cfg, _ = open_run(args.run, args.method, args.epochs, args.overrides)  # before the data
    target = load_data(args.target, args, task=cfg.task)
    metrics = adapt(
        args.run,
        target,
        args.out,
        method=args.method,
        epochs=args.epochs,
        overrides=args.overrides,
        resume=args.resume,
        progress=not args.quiet,
    )
    write_adapted_run_data(args.run, args.out, args.target)
    t = metrics["target"]
    if t.get("labelled") is False:
        print("target test: no labels, nothing to score")
    else:
        vals = ", ".join(f"{k}={v:.4f}" for k, v in t.items() if isinstance(v, float))
        print(f"target test: {vals}")
    print(f"adapted run ({args.method}) written to {args.out}")
    return 0


def write_adapted_run_data(run: Path, out: Path, target: Path) -> None:
    """``OUT/data.json`` for ``osan report --runs``: the source as the run recorded it (the
    source file is not opened), the new target hashed."""
    from osan.atomic import atomic_write_bytes
    from osan.bench.spec import RUN_DATA, file_hash

    source: dict = {"file": "(not read)"}
    try:
        recorded = json.loads((run / RUN_DATA).read_text())
        source = dict(recorded["domains"]["source"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    tgt = {"file": target.name, **({"sha256": file_hash(target)} if target.is_file() else {})}
    doms = {"source": source, "target": tgt}
    data = {"benchmark": "train", "spec": "osan adapt", "domains": doms}
    text = json.dumps(data, indent=2) + "\n"
    atomic_write_bytes(out / RUN_DATA, lambda f: f.write(text.encode()))
