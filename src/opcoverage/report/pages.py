"""Report stage, page budgets: a page is built from blocks, and a page past its byte budget is cut, in code.

GitHub stops rendering a Markdown file at 512,000 bytes and caps a file's diff in a pull request at 500 KB, and a
job summary near 1 MiB is dropped without an error. So each page has a budget; when the page would pass it, the
least important blocks lose their last rows (or, when they cannot be split, go whole), each cut replaced by one
line that says what was cut and where the full data is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INDEX_BUDGET = 100_000
TARGET_BUDGET = 400_000
SUMMARY_BUDGET = 500_000  # the job summary: well under the 1 MiB cap, which drops a summary near it silently


def size(lines: list[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


@dataclass
class Block:
    """``head`` + ``rows`` + ``tail``. With ``rows`` and ``split``, a cut keeps the first rows; otherwise the whole
    block goes. ``keep`` orders the cuts: the lowest goes first; None is never cut."""

    head: list[str]
    rows: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    what: str = "rows"
    keep: int | None = None
    split: bool = True
    cut_note: str = ""

    def lines(self) -> list[str]:
        if self.cut_note and not self.split:  # cut whole
            return [self.cut_note, ""]
        return self.head + self.rows + (["", self.cut_note] if self.cut_note else []) + self.tail


class Page:
    def __init__(self, budget: int, where: str):
        self.budget = budget
        self.where = where  # where the full data is, for the cut notes ("`cpu-torch-cpu.csv` and `results.json`")
        self.blocks: list[Block] = []

    def add(self, lines: list[str], keep: int | None = None, what: str = "lines") -> None:
        """Lines that are never split: kept whole, or (with ``keep``) cut whole."""
        self.blocks.append(Block(list(lines), keep=keep, what=what, split=False))

    def table(self, head: list[str], rows: list[str], tail: list[str], what: str, keep: int) -> None:
        self.blocks.append(Block(list(head), list(rows), list(tail), what, keep))

    def render(self) -> str:
        total = sum(size(b.lines()) for b in self.blocks)
        # The least kept first; among equals the largest, so one big table is cut rather than many small ones.
        for block in sorted((b for b in self.blocks if b.keep is not None), key=lambda b: (b.keep, -size(b.lines()))):
            if total <= self.budget:
                break
            before = size(block.lines())
            if block.split and block.rows:
                dropped = 0
                while block.rows and total - before + size(block.lines()) > self.budget:
                    # Drop rows in chunks proportional to the excess rather than one at a time.
                    excess = total - before + size(block.lines()) - self.budget
                    average = max(size(block.rows) // max(len(block.rows), 1), 1)
                    chunk = max(1, min(len(block.rows), excess // average + 1))
                    del block.rows[len(block.rows) - chunk:]
                    dropped += chunk
                    block.cut_note = self._note(f"{dropped} more {block.what}")
            else:
                block.head, block.rows, block.tail, block.split = [], [], [], False
                block.cut_note = self._note(block.what)
            total += size(block.lines()) - before
        return "\n".join(line for b in self.blocks for line in b.lines()).rstrip() + "\n"

    def _note(self, what: str) -> str:
        return (f"✂️ *Cut to keep this page under {self.budget // 1000} KB: {what}. The full data is in "
                f"{self.where}.*")
