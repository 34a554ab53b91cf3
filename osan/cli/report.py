"""``osan report``, and the check that a bench folder holds run records as ``osan bench`` writes
them (``osan select`` reads them too)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from osan.cli.common import UsageError


def cmd_report(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from osan.report.build import ReportOptions, build_report, command_line
    from osan.report.runs import ReportError

    if args.cases < 0:
        print("osan report: error: --cases must be >= 0", file=sys.stderr)
        return 2
    if not args.bench and not args.runs:
        print("osan report: error: give --bench DIR [DIR ...] or --runs RUN [RUN ...]",
              file=sys.stderr)  # fmt: skip
        return 2
    for bench in args.bench or []:
        check_bench_records(bench)
    opts = ReportOptions(
        benches=list(args.bench or []),
        out=args.out,
        runs=args.runs,
        methods=args.methods,
        cases=args.cases,
        case_ids=args.case_ids,
        seed=args.seed,
        command=command_line(sys.argv[1:] if argv is None else argv),
    )
    try:
        result = build_report(opts)
    except ReportError as e:
        print(f"osan report: error: {e}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"osan report: note: {note}", file=sys.stderr)
    print(f"wrote {result.markdown}, {result.html} and {len(result.figures)} figure(s)")
    return 0


#: What every record ``osan bench`` writes holds (``osan.bench.runner._record``), and what
#: ``osan report`` / ``osan select`` read without looking.
RECORD_KEYS: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "suite": str,
    "benchmark": str,
    "method": str,
    "direction": str,
    "seed": int,
    "metrics": dict,
}


def check_bench_records(bench: Path) -> None:
    """Every complete line of ``BENCH/results.jsonl`` is a run record as ``osan bench``
    writes it (a torn last line is left to the readers, which skip it)."""
    path = bench / "results.jsonl"
    if not path.is_file():
        return
    for i, line in enumerate(path.read_bytes().splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            raise UsageError(f"{path}: line {i + 1} is not a run record")
        bad = [k for k, tp in RECORD_KEYS.items() if not isinstance(rec.get(k), tp)]
        if bad:
            raise UsageError(
                f"{path}: line {i + 1} is not a run record of osan bench "
                f"(missing or wrong: {', '.join(bad)})"
            )
