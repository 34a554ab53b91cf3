"""``results.jsonl``: one JSON line per finished run, appended, flushed and fsync-ed; a torn last
line (a crash mid-write) is dropped on reading."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from osan.bench.options import BenchError


def load_results(path: Path) -> list[dict[str, Any]]:
    """The records of ``results.jsonl``. A torn last line (a crash mid-write) is dropped and cut
    off the file, so the next append starts on a clean line; a bad line elsewhere is an error."""
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
                print(
                    f"osan bench: dropping a torn last line of {path} (an interrupted write)",
                    file=sys.stderr,
                )
                with open(path, "r+b") as f:
                    f.truncate(pos)
                break
            records.append(rec)
        pos = end
    return records


def append_result(path: Path, record: dict[str, Any]) -> None:
    with open(path, "ab") as f:
        f.write((json.dumps(record, sort_keys=False) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
