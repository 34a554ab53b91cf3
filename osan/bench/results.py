"""``results.jsonl``: one JSON line per finished run, appended (one ``write``), flushed and
fsync-ed. A torn last line (a crash mid-write, or a write still in progress) is skipped on
reading; only ``osan bench``, which owns the folder and holds its lock, cuts it off the file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from osan.bench.options import BenchError


def load_results(path: Path, *, repair: bool = False, quiet: bool = False) -> list[dict[str, Any]]:
    """The records of ``results.jsonl``, from one read of the file (a consistent prefix while
    a bench appends: every append is a single write of a whole line).

    A torn last line is skipped and reported in one line on stderr (unless ``quiet``); with
    ``repair`` (``osan bench`` under its folder lock) it is also cut off the file, so the next
    append starts on a clean line. Without ``repair`` the file is never written. A bad line
    elsewhere is a :class:`BenchError`."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    records: list[dict[str, Any]] = []
    pos = 0
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        end = pos + len(line) + 1
        if line.strip():
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or not isinstance(rec.get("run_id"), str):
                    raise ValueError("not a run record")
            except ValueError as e:
                is_last = all(not rest.strip() for rest in lines[i + 1 :])
                if not is_last:
                    raise BenchError(f"{path}: line {i + 1} is not a run record ({e})") from None
                if repair:
                    with open(path, "r+b") as f:
                        f.truncate(pos)
                if not quiet:
                    what = "dropped" if repair else "skipped (the file is left as it is)"
                    print(
                        f"osan: {path}: a torn last line (an interrupted or ongoing write) {what}",
                        file=sys.stderr,
                    )
                break
            records.append(rec)
        pos = end
    return records


def append_result(path: Path, record: dict[str, Any]) -> None:
    with open(path, "ab") as f:
        f.write((json.dumps(record, sort_keys=False) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
