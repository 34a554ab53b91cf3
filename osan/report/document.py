"""A report as a list of blocks, rendered to Markdown (``report.md``) and to one self-contained
HTML page (``report.html``, images embedded as ``data:`` URIs).

Only the Markdown that osan writes is understood (it is not a general converter): ATX headings,
pipe tables, fenced code, ``- `` lists, paragraphs, and inline ``**bold**``, ``*italic*`` and
`` `code` ``. Every piece of text is HTML-escaped before inline markup is applied.

Each block type renders itself (``markdown()``, ``html(image_dir)``); a new block type is one
class here, and the two renderers below need no change.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# --------------------------------------------------------------------------- Markdown


def md_escape(text: str) -> str:
    """Plain text as Markdown: no markup, no line breaks, no table-breaking pipes."""
    text = " ".join(str(text).split())
    return re.sub(r"([\\`*_|\[\]<>])", r"\\\1", text)


def _demote_md(text: str, by: int) -> str:
    if by <= 0:
        return text
    return re.sub(
        r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + by) + " ", text, flags=re.M
    )


# --------------------------------------------------------------------------- HTML

_CODE = re.compile(r"`([^`]+)`")
_ESCAPED = re.compile(r"\\([\\`*_|\[\]]|&lt;|&gt;)")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def inline_html(text: str) -> str:
    """Inline Markdown → HTML; the text is escaped first, so it cannot inject markup."""
    s = html.escape(text.replace("\x00", ""), quote=False)
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"\x00{len(kept) - 1}\x00"

    s = _CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), s)  # code spans: verbatim
    s = _ESCAPED.sub(lambda m: keep(m.group(1)), s)  # \* \| ...: literal characters
    s = _STRONG.sub(r"<strong>\1</strong>", s)
    s = _EM.sub(r"<em>\1</em>", s)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], s)


def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and cells[0].strip() == "":
        cells = cells[1:]
    if cells and cells[-1].strip() == "":
        cells = cells[:-1]
    return [c.strip() for c in cells]


def markdown_html(text: str, demote: int = 0) -> str:
    """The subset of Markdown that osan writes (see the module docstring) as HTML."""
    lines = text.splitlines()
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            out.append(f"<p>{inline_html(' '.join(para))}</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(#{1,6}) (.*)$", line)
        if m:
            flush()
            level = min(6, len(m.group(1)) + demote)
            out.append(f"<h{level}>{inline_html(m.group(2))}</h{level}>")
        elif line.startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(lines[i + 1 : j]))}</code></pre>")
            i = j
        elif line.lstrip().startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_split_row(lines[i]))
                i += 1
            i -= 1
            body = [r for r in rows[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            out.append(_html_table(rows[0], body, inline=True))
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline_html(lines[i][2:])}</li>")
                i += 1
            i -= 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
        i += 1
    flush()
    return "\n".join(out)


def _html_table(header: list[str], rows: list[list[str]], *, inline: bool) -> str:
    cell = inline_html if inline else (lambda s: html.escape(str(s), quote=False))
    head = "".join(f"<th>{cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
code, pre { background: #f6f6f6; }
pre { padding: 0.5em; overflow-x: auto; }
"""


# --------------------------------------------------------------------------- blocks


class Block(Protocol):
    """What a report is made of: a piece that renders itself to Markdown and to HTML."""

    def markdown(self) -> str:
        """The block as Markdown lines (no trailing blank line)."""
        ...

    def html(self, image_dir: Path) -> str:
        """The block as an HTML fragment (images read from ``image_dir``)."""
        ...


@dataclass(frozen=True)
class Heading:
    level: int
    text: str

    def markdown(self) -> str:
        return f"{'#' * self.level} {self.text}"

    def html(self, image_dir: Path) -> str:
        return f"<h{self.level}>{inline_html(self.text)}</h{self.level}>"


@dataclass(frozen=True)
class Para:
    """A paragraph of inline Markdown (``**bold**``, ``*italic*``, `` `code` ``)."""

    text: str

    def markdown(self) -> str:
        return self.text

    def html(self, image_dir: Path) -> str:
        return f"<p>{inline_html(self.text)}</p>"


@dataclass(frozen=True)
class Table:
    """A table of PLAIN-text cells (escaped for Markdown and HTML alike)."""

    header: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        out = ["| " + " | ".join(md_escape(h) for h in self.header) + " |"]
        out.append("|" + "---|" * len(self.header))
        out.extend("| " + " | ".join(md_escape(c) for c in row) + " |" for row in self.rows)
        return "\n".join(out)

    def html(self, image_dir: Path) -> str:
        return _html_table(self.header, self.rows, inline=False)


@dataclass(frozen=True)
class Image:
    """A PNG beside the report (``name`` relative to the report's folder)."""

    name: str
    alt: str
    caption: str = ""

    def markdown(self) -> str:
        out = f"![{md_escape(self.alt)}]({self.name})"
        if self.caption:
            out += f"\n\n*{md_escape(self.caption)}*"
        return out

    def html(self, image_dir: Path) -> str:
        """A ``<figure>`` with the PNG embedded as a ``data:`` URI."""
        data = base64.b64encode((image_dir / self.name).read_bytes()).decode("ascii")
        alt = html.escape(self.alt, quote=True)
        cap = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}" '
            f'data-file="{html.escape(self.name, quote=True)}">{cap}</figure>'
        )


@dataclass(frozen=True)
class Code:
    text: str

    def markdown(self) -> str:
        return "```\n" + self.text.rstrip("\n") + "\n```"

    def html(self, image_dir: Path) -> str:
        return f"<pre><code>{html.escape(self.text)}</code></pre>"


@dataclass(frozen=True)
class Markdown:
    """Markdown written elsewhere (a suite's ``table.md``); headings shifted by ``demote``."""

    text: str
    demote: int = 0

    def markdown(self) -> str:
        return _demote_md(self.text.strip("\n"), self.demote)

    def html(self, image_dir: Path) -> str:
        return markdown_html(self.text, self.demote)


# --------------------------------------------------------------------------- documents


def to_markdown(blocks: list[Block]) -> str:
    """The report's Markdown: every block, each followed by a blank line."""
    return "\n".join(f"{b.markdown()}\n" for b in blocks)


def to_html(blocks: list[Block], image_dir: Path, title: str) -> str:
    """One self-contained page: every :class:`Image` is read from ``image_dir`` and embedded."""
    out = [b.html(image_dir) for b in blocks]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(out)
        + "\n</body></html>\n"
    )
