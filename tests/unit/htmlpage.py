"""A page of the dashboard read back with the standard library's `html.parser`.

`parse_page(html)` gives the tags with their attributes, the rows carrying `data-` attributes
(with the section they are in and the text of each cell), the headings, the stylesheet, the title
and the page's text with its blocks apart. The dashboard's unit tests read the renderer's output
with it, and the headless-browser test reads the DOM Chromium dumps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Page", "Row", "parse_page"]


@dataclass
class Row:
    """A `<tr>` with `data-` attributes: those attributes and the text of each cell."""

    data: dict[str, str]
    section: str
    cells: list[str] = field(default_factory=list)


@dataclass
class Page:
    """What a parsed page holds, as the tests look at it."""

    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    text: str = ""
    style: str = ""
    title: str = ""

    def find(self, key: str, section: str | None = None) -> dict[str, Row]:
        """The rows carrying `data-KEY` (in the `<section id=SECTION>`), by its value."""
        return {
            row.data[key]: row
            for row in self.rows
            if key in row.data and section in (None, row.section)
        }

    def attrs(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def section(self, ident: str) -> bool:
        return any(attrs.get("id") == ident for attrs in self.attrs("section"))


_BLOCKS = frozenset(
    {"p", "div", "td", "th", "tr", "li", "h1", "h2", "caption", "summary", "pre", "title"}
)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.open: list[str] = []
        self.row: Row | None = None
        self.cell: list[str] | None = None
        self.chunks: list[str] = []
        self.section = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.page.tags.append((tag, values))
        self.open.append(tag)
        if tag in _BLOCKS:
            self.chunks.append(" ")
        if tag == "section":
            self.section = values.get("id", "")
        if tag == "tr" and any(k.startswith("data-") for k in values):
            data = {k[5:]: v for k, v in values.items() if k.startswith("data-")}
            self.row = Row(data, self.section)
            self.page.rows.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag in ("meta", "br", "img", "link", "input"):
            self.open.pop()  # void elements have no end tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.cells.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr":
            self.row = None
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        where = self.open[-1] if self.open else ""
        if where == "style":
            self.page.style += data
            return
        if where == "title":
            self.page.title += data
        if where in ("h1", "h2"):
            self.page.headings.append(data.strip())
        if self.cell is not None:
            self.cell.append(data)
        self.chunks.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join("".join(self.chunks).split())


def parse_page(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page
