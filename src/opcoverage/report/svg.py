"""Report stage, SVG primitives: a small writer for the pictures (rects, text, lines), no plotting library.

The pictures are plain SVG 1.1 with inline attributes only (no CSS classes, scripts or external fonts), so
GitHub renders them as images and they look the same everywhere.
"""

from __future__ import annotations

from xml.sax.saxutils import escape as _xml_escape

FONT = "font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\""
# Status colours: green pass, amber partial, red wrong results, grey n/a; chosen to stay apart for the common
# forms of colour blindness as well as they can (Okabe-Ito-like hues), and every picture has a legend.
COLOURS = {
    "full": "#2e9e57", "partial": "#f0b429", "none": "#c44536", "wrong": "#7b2d8e", "n/a": "#e4e4e4",
    "pass": "#2e9e57", "mismatch": "#7b2d8e", "unsupported": "#c44536", "error": "#e07b39", "fallback": "#3b7dd8",
    "crash": "#222222", "timeout": "#8c6d46", "skipped": "#e4e4e4", "computed_as": "#9fd4a8",
}


def esc(text: str) -> str:
    return _xml_escape(str(text), {'"': "&quot;"})


class Svg:
    """Collects elements, then writes a document sized to what was drawn."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.width = 0.0
        self.height = 0.0

    def _grow(self, x: float, y: float) -> None:
        self.width, self.height = max(self.width, x), max(self.height, y)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, title: str | None = None,
             stroke: str | None = None) -> None:
        edge = f' stroke="{stroke}" stroke-width="0.5"' if stroke else ""
        tip = f"<title>{esc(title)}</title>" if title else ""
        body = f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="{fill}"{edge}'
        self.parts.append(body + (f">{tip}</rect>" if tip else "/>"))
        self._grow(x + w, y + h)

    def text(self, x: float, y: float, text: str, size: float = 10, anchor: str = "start", weight: str = "normal",
             fill: str = "#222", rotate: float | None = None) -> None:
        turn = f' transform="rotate({rotate:g} {x:g} {y:g})"' if rotate else ""
        bold = ' font-weight="bold"' if weight != "normal" else ""
        self.parts.append(f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" text-anchor="{anchor}" fill="{fill}"'
                          f'{bold}{turn} {FONT}>{esc(text)}</text>')
        # An estimate of the text's extent (0.6 em per character), enough to size the canvas.
        extent = 0.6 * size * len(str(text))
        if rotate:
            self._grow(x + extent * 0.75, y + 2)
        elif anchor == "end":
            self._grow(x + 2, y + 2)
        else:
            self._grow(x + (extent if anchor == "start" else extent / 2), y + 2)

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#888", width: float = 1,
             dash: str | None = None) -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{stroke}" '
                          f'stroke-width="{width:g}"{dashed}/>')
        self._grow(max(x1, x2), max(y1, y2))

    def polyline(self, points: list[tuple[float, float]], stroke: str, width: float = 1.5) -> None:
        if not points:
            return
        coords = " ".join(f"{x:g},{y:g}" for x, y in points)
        self.parts.append(f'<polyline points="{coords}" fill="none" stroke="{stroke}" stroke-width="{width:g}"/>')
        for x, y in points:
            self.parts.append(f'<circle cx="{x:g}" cy="{y:g}" r="2.5" fill="{stroke}"/>')
            self._grow(x + 3, y + 3)

    def legend(self, x: float, y: float, entries: list[tuple[str, str]], size: float = 10) -> float:
        """A row of swatches with labels from (x, y); returns the y below it."""
        cursor = x
        for colour, label in entries:
            self.rect(cursor, y, size, size, colour, stroke="#999")
            self.text(cursor + size + 4, y + size - 1, label, size)
            cursor += size + 12 + 0.6 * size * len(label)
        return y + size + 8

    def document(self, margin: float = 10) -> str:
        w, h = self.width + margin, self.height + margin
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w:.0f}" height="{h:.0f}" '
                f'viewBox="0 0 {w:.0f} {h:.0f}">')
        background = f'<rect x="0" y="0" width="{w:.0f}" height="{h:.0f}" fill="#ffffff"/>'
        return "\n".join([head, background, *self.parts, "</svg>"]) + "\n"
