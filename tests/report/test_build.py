"""``osan report`` end to end on tiny finished benches: every figure is a valid PNG, the HTML is
self-contained and renders every image in a real headless browser, nothing is retrained, and
bad commands exit 2 with one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from osan.cli import main
from tests.report.browser import render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPECTED = {
    "tsne_msa_A2B.png",
    "tsne_msa_B2A.png",
    "tsne_vtc_news2show.png",
    "curves_msa_A2B.png",
    "curves_msa_B2A.png",
    "curves_vtc_news2show.png",
    "jsd.png",
}


@pytest.fixture(scope="module")
def report(benches, tmp_path_factory) -> Path:
    """A report of both benches, built from copies without any checkpoint: the report must
    not need the models (nothing is retrained or re-run)."""
    root = tmp_path_factory.mktemp("report")
    copies = []
    for name, bench in benches.items():
        copy = root / name
        shutil.copytree(bench, copy)
        for ckpt in copy.rglob("checkpoint.pt"):
            ckpt.unlink()
        copies.append(str(copy))
    out = root / "out"
    assert main(["report", "--bench", *copies, "--out", str(out)]) == 0
    return out


def test_every_figure_exists_and_is_a_valid_png(report):
    pngs = {p.name for p in report.glob("*.png")}
    assert pngs == EXPECTED
    for name in pngs:
        data = (report / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        with Image.open(report / name) as im:
            im.verify()
        with Image.open(report / name) as im:
            assert im.size[0] > 300 and im.size[1] > 200, name


def test_markdown_links_every_figure_and_holds_every_section(report):
    md = (report / "report.md").read_text()
    assert set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)) == EXPECTED
    for section in ("## Tables", "Training time per run", "t-SNE", "JSD", "Learning curves",
                    "Case studies"):  # fmt: skip
        assert section in md, section
    assert "reads target test labels" in md
    assert "| msa/A2B/osan/seed1 | OSAN | 1 |" in md  # per-run training time
    # case studies show the raw text of the samples and each method's prediction
    assert re.search(r"\| s\d+ \| text \d+ \| [+-]\d\.\d\d \| Direct Transfer \|", md)


def test_html_is_self_contained(report):
    page = (report / "report.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == len(EXPECTED)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<script" not in page


def test_html_renders_every_image_in_headless_chromium(report, chromium, tmp_path):
    moved = tmp_path / "alone.html"  # no PNG beside it: the page must carry its images
    shutil.copy(report / "report.html", moved)
    seen = render(chromium, moved, tmp_path)
    assert seen["errors"] == []
    assert seen["broken"] == []
    assert seen["images"] == len(EXPECTED) and all(w > 300 for w in seen["widths"])


def test_the_browser_check_can_fail(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head></head><body><img src="data:image/png;base64,AAAA" '
        'data-file="broken.png"><img src="missing.png" data-file="missing.png"></body></html>'
    )
    seen = render(chromium, page, tmp_path)
    assert sorted(seen["broken"]) == ["broken.png", "missing.png"]


def test_runs_and_methods_select_what_is_shown(benches, tmp_path):
    out = tmp_path / "one"
    argv = ["report", "--bench", str(benches["msa"]), "--out", str(out),
            "--runs", "msa/A2B/*", "--methods", "source-only", "osan", "--cases", "2"]  # fmt: skip
    assert main(argv) == 0
    md = (out / "report.md").read_text()
    assert {p.name for p in out.glob("*.png")} == {"tsne_msa_A2B.png", "curves_msa_A2B.png",
                                                   "jsd.png"}  # fmt: skip
    assert "MDMN" not in md.split("## Feature distribution")[1]
    assert "B2A" not in md.split("## Feature distribution")[1]


def test_runs_without_saved_features_are_named_not_fatal(benches, tmp_path, capsys):
    copy = tmp_path / "msa"
    shutil.copytree(benches["msa"], copy)
    (copy / "runs/msa/B2A/osan/seed1/features.npz").unlink()
    argv = ["report", "--bench", str(copy), "--out", str(tmp_path / "out"), "--runs", "*/B2A/*"]
    assert main(argv) == 0
    assert "msa/B2A/osan/seed1" in capsys.readouterr().err
    assert (tmp_path / "out/tsne_msa_B2A.png").exists()  # from the other two methods
    assert "msa/B2A/osan/seed1" in (tmp_path / "out/report.md").read_text().split("## Notes")[1]


def test_runs_without_curves_say_how_to_get_them(benches, tmp_path):
    copy = tmp_path / "vtc"
    shutil.copytree(benches["vtc"], copy)
    for log in copy.rglob("log.jsonl"):
        lines = [x for x in log.read_text().splitlines() if "target_curve" not in x]
        log.write_text("\n".join(lines) + "\n")
    assert main(["report", "--bench", str(copy), "--out", str(tmp_path / "out")]) == 0
    assert not list((tmp_path / "out").glob("curves_*.png"))
    assert "curve_every=N" in (tmp_path / "out/report.md").read_text()


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        ("empty", [], "no results.jsonl"),
        ("no-runs", [], "holds no finished run"),
        ("missing", [], "no such folder"),
        ("msa", ["--runs", "nope/*"], "matches no run"),
        ("msa", ["--methods", "dann"], "not among the runs' methods"),
        ("msa", ["--case-ids", "zzz"], "zzz"),
    ],
)
def test_bad_commands_exit_2_with_one_line(benches, tmp_path, capsys, setup, extra, message):
    bench = {"msa": benches["msa"], "empty": tmp_path, "missing": tmp_path / "nope"}.get(setup)
    if setup == "no-runs":
        bench = tmp_path
        (bench / "results.jsonl").write_text("")
    assert main(["report", "--bench", str(bench), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("osan report: error")
