"""Report documents: Markdown and HTML from the same blocks; text cannot inject markup."""

from __future__ import annotations

from osan.report import document as D


def test_plain_text_cells_are_escaped_in_markdown_and_html(tmp_path):
    nasty = "a | b <script>alert(1)</script> *x*"
    blocks = [D.Table(["h"], [[nasty]])]
    md = D.to_markdown(blocks)
    assert "\\|" in md and "<script>" not in md
    page = D.to_html(blocks, tmp_path, "t")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<em>" not in page  # plain cells keep their asterisks


def test_inline_markdown_and_suite_tables_render():
    text = "# T\n\n| M | F1 |\n|---|---|\n| *Direct* | **0.5** / 0.4 |\n\n- one\n- two\n"
    out = D.markdown_html(text, demote=2)
    assert "<h3>T</h3>" in out
    assert "<td><em>Direct</em></td>" in out and "<strong>0.5</strong> / 0.4" in out
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert D.inline_html("`a*b*` \\*c\\*") == "<code>a*b*</code> *c*"


def test_images_are_embedded(tmp_path):
    (tmp_path / "f.png").write_bytes(b"\x89PNG fake")
    page = D.to_html([D.Image("f.png", "alt", "cap")], tmp_path, "t")
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in page
    assert D.to_markdown([D.Image("f.png", "alt")]).startswith("![alt](f.png)")
