"""Colour tables, built once: the spectrogram's colour map and the event colours.

The heat map is viridis (sampled from its published anchor points, no matplotlib needed). Every
spectrogram cell paints both its foreground and its background, so the map reads the same on dark
and light terminals; its luminance rises monotonically, so under ``NO_COLOR`` (Textual turns the
screen monochrome) it degrades to an ordered grey scale that still reads correctly.

S1 and S2 use two Okabe-Ito colours (vermilion, blue) that stay distinct for colour-blind viewers
and readable on both dark and light backgrounds; the dashboard also labels them in text.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from rich.color import Color
from rich.style import Style

#: Viridis at 0, 1/8, ..., 1 (RGB 0-255).
_VIRIDIS_ANCHORS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (40, 174, 128),
        (94, 201, 98),
        (173, 220, 48),
        (253, 231, 37),
    ],
    dtype=np.float64,
)

#: Colours of the heart sounds (also used in TCSS component classes of the plots).
S1_COLOR = "#e0622a"
S2_COLOR = "#3d8fd6"
#: Traffic-light colours readable on dark and light backgrounds (good, caution, bad).
GOOD_COLOR = "#2e9d4f"
WARN_COLOR = "#d08700"
BAD_COLOR = "#d83a2a"
#: Classifier classes.
CLASS_COLORS = {"normal": GOOD_COLOR, "murmur": WARN_COLOR, "artifact": "#9b59b6"}
#: Number of colour levels of the spectrogram.
HEAT_LEVELS = 24


@cache
def heat_colors(n_levels: int = HEAT_LEVELS) -> tuple[Color, ...]:
    """``n_levels`` viridis colours, darkest first."""
    pos = np.linspace(0.0, 1.0, n_levels) * (len(_VIRIDIS_ANCHORS) - 1)
    anchor = np.arange(len(_VIRIDIS_ANCHORS))
    rgb = np.stack([np.interp(pos, anchor, _VIRIDIS_ANCHORS[:, k]) for k in range(3)], axis=1)
    return tuple(Color.from_rgb(*(round(c) for c in row)) for row in rgb)


@cache
def heat_styles(n_levels: int = HEAT_LEVELS) -> tuple[Style, ...]:
    """Styles for a ``▀`` cell, indexed ``upper * n_levels + lower`` (fg = upper, bg = lower)."""
    cols = heat_colors(n_levels)
    return tuple(Style(color=up, bgcolor=low) for up in cols for low in cols)
