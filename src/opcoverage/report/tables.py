"""Report stage, Markdown primitives: one GitHub table renderer, without padding, and the escaping its cells need.

A table is written one row per line with no alignment padding, so one changed cell changes one line of the file
(tabulate pads every row to the widest cell: one verdict that changes can rewrite a whole table).
"""

from __future__ import annotations

from typing import Any


def escape(text: str) -> str:
    """A cell's text on one line, its pipes escaped so they do not split the cell."""
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _cell(value: Any) -> str:
    """Cells arrive escaped by their callers (a pipe inside a code span is theirs to escape): only keep them on one
    line here."""
    return ("" if value is None else str(value)).replace("\n", " ").replace("\r", " ")


def row(cells: list[Any]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A GitHub Markdown table: a header, the ``|---|`` rule, then one unpadded line per row."""
    lines = [row(headers), "|" + "---|" * len(headers)]
    lines += [row(r) for r in rows]
    return "\n".join(lines)
