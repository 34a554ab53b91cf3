"""The README's Python example runs as it is written (in a fresh process, in an empty folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(markdown: str, section: str) -> list[str]:
    """The ```python blocks of the ``## section`` (up to the next ``## `` heading)."""
    parts = re.split(r"^## ", markdown, flags=re.M)
    body = next((p for p in parts if p.split("\n", 1)[0].strip() == section), None)
    if body is None:
        raise AssertionError(f"README.md has no '## {section}' section")
    return re.findall(r"^```python\n(.*?)^```", body, flags=re.M | re.S)


def test_python_blocks_finds_the_section_and_only_its_blocks():
    md = "# t\n## A\n```python\na = 1\n```\n## Python API\ntext\n```python\nb = 2\n```\n## C\n"
    md += "```python\nc = 3\n```\n"
    assert python_blocks(md, "Python API") == ["b = 2\n"]


def test_the_readme_python_example_runs_as_is(tmp_path):
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"), "Python API")
    assert blocks, "the README's Python API section has no ```python block"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "the example printed nothing"
