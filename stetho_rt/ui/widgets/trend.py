"""A sparkline of the recent heart rates on a sensible bpm scale (newest on the right)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from stetho_rt.ui.palette import S1_COLOR

_BLOCKS = np.array(list(" ▁▂▃▄▅▆▇█"))
#: Smallest span of the vertical scale [bpm], so a steady rhythm draws a flat line, not a wall.
MIN_SPAN_BPM = 20.0


def spark_rows(values: Sequence[float], width: int, height: int) -> list[str]:
    """Rows (top first) of a bar sparkline of the last ``width`` values, eighth-cell steps.

    The scale spans the values' range widened to at least :data:`MIN_SPAN_BPM` around its
    middle; every value shows at least one eighth of a cell.
    """
    v = np.asarray(values[-width:] if width > 0 else [], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0 or width <= 0 or height <= 0:
        return [" " * max(width, 0)] * max(height, 0)
    mid = 0.5 * (v.min() + v.max())
    half = max(0.5 * (v.max() - v.min()), 0.5 * MIN_SPAN_BPM)
    eighths = np.clip((v - (mid - half)) / (2 * half), 0.0, 1.0) * (height * 8)
    eighths = np.maximum(np.round(eighths), 1).astype(np.intp)
    pad = " " * (width - v.size)
    rows = []
    for r in range(height):
        part = np.clip(eighths - (height - 1 - r) * 8, 0, 8)
        rows.append(pad + "".join(_BLOCKS[part].tolist()))
    return rows


class TrendLine(Widget):
    """Recent heart rates as bars; the scale adapts but never exaggerates small changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"trend--bar"}
    DEFAULT_CSS = f"""
    TrendLine {{
        height: 1;
    }}
    TrendLine > .trend--bar {{ color: {S1_COLOR}; }}
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: tuple[float, ...] = ()
        self._rows: tuple[tuple[float, ...], int, int, list[str]] | None = None

    @property
    def data(self) -> tuple[float, ...]:
        """The heart rates shown [bpm], oldest first."""
        return self._data

    @data.setter
    def data(self, values: Sequence[float]) -> None:
        self._data = tuple(values)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """Row ``y`` of the sparkline."""
        width, height = self.size
        cached = self._rows
        if cached is None or cached[:3] != (self._data, width, height):
            cached = (self._data, width, height, spark_rows(self._data, width, height))
            self._rows = cached
        rows = cached[3]
        if y >= len(rows):
            return Strip.blank(width, self.rich_style)
        style = self.rich_style + self.get_component_rich_style("trend--bar", partial=True)
        return Strip([Segment(rows[y], style)], width)
