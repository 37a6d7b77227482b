"""Report stage, Markdown primitives: one GitHub table renderer and the escaping its cells need."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate


def escape(text: str) -> str:
    """A cell's text on one line, its pipes escaped so they do not split the cell."""
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
