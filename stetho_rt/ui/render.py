"""Numpy renderers from signal arrays to terminal cells (braille traces, half-block heat maps).

Everything here is pure: arrays in, :class:`~textual.strip.Strip` lines out, no widget state. The
cost is a handful of vectorised numpy operations per panel plus one Segment per colour run, so a
frame stays well under the 2 ms budget at 120x40 (see :func:`stetho_rt.ui.bench.bench_render`).

Braille cells hold 2x4 dots: a panel of ``width`` x ``height`` cells is a ``2*width`` x
``4*height`` dot canvas. Half-block cells hold two vertically stacked pixels (``▀``: foreground on
top, background below).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from stetho_rt.events import HeartSound
from stetho_rt.ui.palette import heat_styles

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.intp]

#: Bit of each dot of a braille cell, indexed [dot row 0-3, dot column 0-1] (Unicode order).
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], np.uint32)
#: Colour class of a column: plain trace, inside an S1, inside an S2.
CLS_TRACE, CLS_S1, CLS_S2 = 0, 1, 2
UPPER_HALF = "▀"


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """``n`` columns of ``step_s`` seconds on the stream-time axis, ending at ``end_s``."""

    end_s: float
    step_s: float
    n: int

    @property
    def start_s(self) -> float:
        """Stream time of the left edge of column 0 [s]."""
        return self.end_s - self.n * self.step_s

    @classmethod
    def aligned(cls, now_s: float, window_s: float, n: int, rate: float) -> TimeAxis:
        """Columns of an even number of samples at ``rate``, their edges fixed in stream time.

        Anchoring the edges to absolute sample indices (not to ``now_s``) keeps each column's
        min/max stable from frame to frame, so the trace scrolls instead of shimmering; an even
        count lets a column split into two braille dot columns of whole samples.
        """
        per_col = 2 * max(round(window_s * rate / max(2 * n, 1)), 1)
        end_idx = (int(np.floor(now_s * rate + 1e-6)) // per_col) * per_col
        return cls(end_idx / rate, per_col / rate, n)


def column_minmax(
    x: FloatArray, x_end_s: float, rate: float, axis: TimeAxis
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Min and max of the samples in each column (and whether the column has data).

    Parameters
    ----------
    x : ndarray, shape (n,)
        Samples at ``rate`` Hz; ``x[-1]`` is the sample just before ``x_end_s``.
    x_end_s : float
        Stream time just after the last sample [s].
    rate : float
        Sample (or frame) rate of ``x`` [Hz].
    axis : TimeAxis
        The columns.

    Returns
    -------
    lo, hi : ndarray, shape (axis.n,), float64
        Column minimum and maximum, widened to touch the neighbouring column so the trace is
        continuous; NaN-free (0 where there is no data).
    valid : ndarray, shape (axis.n,), bool
        Columns that hold at least one sample.
    """
    n = axis.n
    edges = (axis.start_s + np.arange(n + 1) * axis.step_s - x_end_s) * rate + x.shape[0]
    idx = np.clip(np.round(edges).astype(np.intp), 0, x.shape[0])
    # only the visible part of x (plus the first sample after it), as float64
    first = int(idx[0])
    xv = np.asarray(x[first : min(int(idx[-1]) + 1, x.shape[0])], dtype=np.float64)
    idx -= first
    starts, stops = idx[:-1], idx[1:]
    valid = stops > starts
    lo = np.zeros(n)
    hi = np.zeros(n)
    if not valid.any():
        return lo, hi, valid
    s = starts[valid]
    lo[valid] = np.minimum.reduceat(xv, s)[: s.shape[0]]
    hi[valid] = np.maximum.reduceat(xv, s)[: s.shape[0]]
    # reduceat runs each segment up to the next start: trim the last one to its own stop
    last = np.flatnonzero(valid)[-1]
    seg = xv[starts[last] : stops[last]]
    lo[last], hi[last] = seg.min(), seg.max()
    # join neighbours: extend each column to the first sample of the next one
    nxt = np.flatnonzero(valid[:-1] & valid[1:])
    first_next = xv[np.minimum(starts[nxt + 1], xv.shape[0] - 1)]
    lo[nxt] = np.minimum(lo[nxt], first_next)
    hi[nxt] = np.maximum(hi[nxt], first_next)
    return lo, hi, valid


def value_rows(v: FloatArray, scale: float, n_rows: int, *, bipolar: bool) -> IntArray:
    """Dot row (0 = top) of each value; ``v * scale`` spans [-1, 1] (bipolar) or [0, 1]."""
    y = v * scale
    frac = (1.0 - y) * 0.5 if bipolar else 1.0 - y
    return np.clip(np.round(frac * (n_rows - 1)), 0, n_rows - 1).astype(np.intp)


def braille_codes(top: IntArray, bottom: IntArray, height: int) -> npt.NDArray[np.uint32]:
    """Braille cell codes of a canvas lit between ``top`` and ``bottom`` in each dot column.

    Parameters
    ----------
    top, bottom : ndarray, shape (2 * width,)
        First and last lit dot row per dot column (0 = top); ``top > bottom`` leaves it dark.
    height : int
        Cells; the canvas has ``4 * height`` dot rows.

    Returns
    -------
    ndarray, shape (height, width), uint32
        Code points (blank cells are spaces, not U+2800, so they copy cleanly as text).
    """
    rows = np.arange(4 * height)[:, None]
    lit = (rows >= top[None, :]) & (rows <= bottom[None, :])
    width = top.shape[0] // 2
    cells = lit.reshape(height, 4, width, 2).astype(np.uint32)
    codes = np.einsum("hrwc,rc->hw", cells, _BRAILLE_BITS)
    return np.where(codes == 0, 0x20, codes + 0x2800).astype("<u4")


def runs(classes: npt.NDArray[np.integer]) -> list[tuple[int, int, int]]:
    """Runs of equal values: ``(start, stop, value)`` triples covering the array."""
    if classes.shape[0] == 0:
        return []
    starts = [0, *(np.flatnonzero(classes[1:] != classes[:-1]) + 1).tolist()]
    stops = [*starts[1:], classes.shape[0]]
    values = classes[starts].tolist()
    return list(zip(starts, stops, values, strict=True))


def coloured_rows(
    codes: npt.NDArray[np.uint32], classes: npt.NDArray[np.integer], styles: Sequence[Style]
) -> list[Strip]:
    """One Strip per cell row, the text of ``codes`` coloured by ``styles[classes[column]]``.

    Blank cells take the colour of the visible cell before them, so a row breaks into segments
    only where the visible colour changes: few segments per line for Textual to composite.
    """
    height, width = codes.shape
    if width == 0:
        return [Strip([], 0) for _ in range(height)]
    col = np.arange(width)
    last_visible = np.where(codes != 0x20, col, 0)
    np.maximum.accumulate(last_visible, axis=1, out=last_visible)
    eff = classes[last_visible]
    rows, cuts = np.nonzero(eff[:, 1:] != eff[:, :-1])
    per_row = np.split(cuts + 1, np.cumsum(np.bincount(rows, minlength=height))[:-1])
    strips = []
    for r in range(height):
        text = codes[r].tobytes().decode("utf-32-le")
        starts = [0, *per_row[r].tolist()]
        stops = [*starts[1:], width]
        row_cls = eff[r].tolist()
        segs = [Segment(text[a:b], styles[row_cls[a]]) for a, b in zip(starts, stops, strict=True)]
        strips.append(Strip(segs, width))
    return strips


def sound_classes(sounds: Sequence[HeartSound], axis: TimeAxis) -> npt.NDArray[np.int8]:
    """Colour class of each column: :data:`CLS_S1` / :data:`CLS_S2` where a sound overlaps it."""
    cls = np.zeros(axis.n, np.int8)
    t0, step = axis.start_s, axis.step_s
    for s in sounds:
        if s.offset_s < t0 or s.onset_s > axis.end_s:
            continue
        a = max(int(np.floor((s.onset_s - t0) / step)), 0)
        b = min(int(np.ceil((s.offset_s - t0) / step)), axis.n)
        cls[a:b] = CLS_S1 if s.kind == "S1" else CLS_S2
    return cls


def trace_codes(
    x: FloatArray, x_end_s: float, rate: float, axis: TimeAxis, height: int, scale: float
) -> npt.NDArray[np.uint32]:
    """Braille codes of a bipolar min/max trace of ``x`` on ``axis`` (2 dot columns per cell)."""
    dots = TimeAxis(axis.end_s, axis.step_s / 2, axis.n * 2)
    lo, hi, valid = column_minmax(x, x_end_s, rate, dots)
    n_rows = 4 * height
    top = value_rows(hi, scale, n_rows, bipolar=True)
    bottom = value_rows(lo, scale, n_rows, bipolar=True)
    top[~valid] = n_rows
    return braille_codes(top, bottom, height)


def area_codes(
    env: FloatArray, env_end_s: float, rate: float, axis: TimeAxis, height: int, scale: float
) -> npt.NDArray[np.uint32]:
    """Braille codes of a filled, unipolar plot of ``env`` (column 0) with column 1 as a line.

    Parameters
    ----------
    env : ndarray, shape (n, k), k >= 1
        Envelope frames at ``rate`` Hz, non-negative.
    """
    dots = TimeAxis(axis.end_s, axis.step_s / 2, axis.n * 2)
    n_rows = 4 * height
    _, hi, valid = column_minmax(env[:, 0], env_end_s, rate, dots)
    top = value_rows(hi, scale, n_rows, bipolar=False)
    top[~valid] = n_rows
    bottom = np.full_like(top, n_rows - 1)
    codes = braille_codes(top, bottom, height)
    if env.shape[1] > 1:
        lo2, hi2, valid2 = column_minmax(env[:, 1], env_end_s, rate, dots)
        t2 = value_rows(hi2, scale, n_rows, bipolar=False)
        b2 = value_rows(lo2, scale, n_rows, bipolar=False)
        t2[~valid2] = n_rows
        line = braille_codes(t2, b2, height)
        both = np.where(codes == 0x20, 0, codes - 0x2800) | np.where(line == 0x20, 0, line - 0x2800)
        codes = np.where(both == 0, 0x20, both + 0x2800).astype("<u4")
    return codes


def heat_levels(
    frames: FloatArray,
    frames_end_s: float,
    rate: float,
    axis: TimeAxis,
    rows: IntArray,
    lo_db: float,
    span_db: float,
    n_levels: int,
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Colour level of each (pixel row, column) of a spectrogram, strongest frame per column.

    Parameters
    ----------
    frames : ndarray, shape (n, n_bins)
        Log power [dB] at ``rate`` frames/s; ``frames[-1]`` ends at ``frames_end_s``.
    rows : ndarray, shape (n_pixel_rows,)
        Bin shown by each pixel row, top row first.
    lo_db, span_db : float
        dB mapped to level 0, and the range mapped to the levels.

    Returns
    -------
    levels : ndarray, shape (n_pixel_rows, axis.n), intp in 0..n_levels-1
    valid : ndarray, shape (axis.n,), bool
    """
    n = axis.n
    edges = (axis.start_s + np.arange(n + 1) * axis.step_s - frames_end_s) * rate
    idx = np.clip(np.round(edges).astype(np.intp) + frames.shape[0], 0, frames.shape[0])
    first = int(idx[0])
    sub = frames[first : int(idx[-1])]
    idx -= first
    starts, stops = idx[:-1], idx[1:]
    valid = stops > starts
    cols = np.full((n, frames.shape[1]), -np.inf)
    if valid.any():
        s = starts[valid]
        red = np.maximum.reduceat(sub, s, axis=0)
        last = np.flatnonzero(valid)[-1]
        red[-1] = sub[starts[last] : stops[last]].max(axis=0)
        cols[valid] = red
    img = cols[:, rows].T  # (pixel rows, columns)
    lev = np.floor((img - lo_db) * (n_levels / span_db))
    return np.clip(lev, 0, n_levels - 1).astype(np.intp), valid


def heat_rows(
    levels: IntArray, valid: npt.NDArray[np.bool_], blank: Style, n_levels: int
) -> list[Strip]:
    """Half-block strips of a level image with an even number of pixel rows."""
    styles = heat_styles(n_levels)
    cells = heat_cells(n_levels)
    width = levels.shape[1]
    pairs = levels[0::2] * n_levels + levels[1::2]
    pairs[:, ~valid] = -1
    strips = []
    for row in pairs:
        segs = [
            Segment(" " * (b - a), blank)
            if p < 0
            else (cells[p] if b - a == 1 else Segment(UPPER_HALF * (b - a), styles[p]))
            for a, b, p in runs(row)
        ]
        strips.append(Strip(segs, width))
    return strips


@cache
def heat_cells(n_levels: int) -> tuple[Segment, ...]:
    """One-cell ``▀`` segments for every colour pair (most runs are one cell long)."""
    return tuple(Segment(UPPER_HALF, style) for style in heat_styles(n_levels))


def hbar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighth-cell resolution)."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return bar + " " * (width - len(bar))


def text_strip(text: Text, width: int, base: Style, console: Console) -> Strip:
    """One line of rich ``text`` as a Strip of exactly ``width`` cells over the ``base`` style.

    Cheaper than letting Textual convert a Text renderable on every frame, for the lines that
    change at the frame rate (status bar, level meter).
    """
    segments = Segment.apply_style(text.render(console, end=""), base)
    return Strip(segments).adjust_cell_length(width, base)
