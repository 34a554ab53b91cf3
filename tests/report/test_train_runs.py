"""``osan report --runs RUN [RUN ...]`` without ``--bench``: ``osan train`` folders, grouped by
method, into the same report (tables with the data each ran on, figures); with ``--bench``,
``--runs`` keeps selecting run ids inside the bench."""

from __future__ import annotations

import json

import pytest

from osan.cli import main
from osan.data.mmsa import save_mmsa
from tests.helpers import TINY, toy_domains


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_runs")
    src, tgt = toy_domains(seed=0, n=48)
    save_mmsa(src, root / "s.pkl")
    save_mmsa(tgt, root / "t.pkl")
    runs = []
    for method, seed in (("source-only", 1), ("osan", 1), ("osan", 2)):
        run = root / f"{method}-{seed}"
        argv = [
            "train",
            "--method",
            method,
            "--source",
            str(root / "s.pkl"),
            "--target",
            str(root / "t.pkl"),
            "--out",
            str(run),
            "--seed",
            str(seed),
            "--quiet",
            *TINY,
        ]
        assert main(argv) == 0  # fmt: skip
        runs.append(run)
    return root, runs


def test_report_from_train_folders_groups_by_method(train_runs, tmp_path, capsys):
    root, runs = train_runs
    data = json.loads((runs[0] / "data.json").read_text())
    assert data["domains"]["source"]["file"] == "s.pkl"
    out = tmp_path / "rep"
    assert main(["report", "--runs", *map(str, runs), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Direct Transfer (source-only)" in md and "OSAN (TAL + DDG)" in md
    assert "n = 2" in md or "±" in md  # the two osan seeds are one row
    assert "Data (osan train)" in md and data["domains"]["target"]["sha256"] in md
    assert (out / "report.html").is_file() and list(out.glob("tsne_*.png"))
    # a folder that is not a run: one line, exit 2
    capsys.readouterr()
    assert main(["report", "--runs", str(root), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a finished `osan train --out` folder" in err
    assert main(["report", "--out", str(tmp_path / "y")]) == 2


def test_different_settings_of_one_method_are_separate_rows(train_runs, tmp_path):
    root, runs = train_runs
    other = root / "osan-lr"
    argv = ["train", "--method", "osan", "--source", str(root / "s.pkl"), "--target",
            str(root / "t.pkl"), "--out", str(other), "--seed", "1", "--quiet", *TINY,
            "optim.lr=0.003"]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "rep2"
    assert main(["report", "--runs", str(runs[1]), str(other), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert md.count("OSAN (TAL + DDG) [") >= 2
