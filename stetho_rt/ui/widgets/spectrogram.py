"""Scrolling spectrogram, 0-500 Hz, on the waveform's time axis (half-block heat map)."""

from __future__ import annotations

import numpy as np
from textual.strip import Strip

from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.palette import HEAT_LEVELS
from stetho_rt.ui.render import heat_levels, heat_rows
from stetho_rt.ui.view import SPECTRO_MAX_HZ, ViewState
from stetho_rt.ui.widgets.plot import PlotWidget
from stetho_rt.ui.widgets.waveform import end_time, shared_axis

#: Dynamic range shown [dB]: from the visible maximum (above DC) down this much.
SPAN_DB = 50.0


def pixel_bins(n_pixels: int, n_bins: int, nyquist_hz: float, max_hz: float) -> np.ndarray:
    """Spectrogram bin shown by each pixel row: the top row is ``max_hz``, the bottom 0 Hz."""
    top = max_hz / nyquist_hz * (n_bins - 1)
    f_bins = np.linspace(top, 0.0, n_pixels) if n_pixels > 1 else np.array([0.0])
    return np.clip(np.round(f_bins), 0, n_bins - 1).astype(np.intp)


class SpectrogramView(PlotWidget):
    """Log power of 0-500 Hz, two frequency rows per cell, newest on the right."""

    DEFAULT_CSS = """
    SpectrogramView {
        height: 1fr;
        min-height: 3;
    }
    """

    top_db: float = 0.0
    """dB of the brightest colour in the last drawing."""

    def draw(self, snap: Snapshot, view: ViewState, width: int, height: int) -> list[Strip]:
        """Heat map scaled from the visible maximum down :data:`SPAN_DB`."""
        spec = snap.spectrogram
        if spec.ndim != 2 or spec.shape[0] == 0:
            return []
        axis = shared_axis(snap, view, width)
        n_vis = int(view.window_s * snap.spectrogram_rate) + 1
        rows = pixel_bins(2 * height, spec.shape[1], snap.internal_rate / 2, SPECTRO_MAX_HZ)
        # scale on the shown bins above DC, so rumble and baseline wander do not set it
        shown = np.unique(rows[rows > 0]) if (rows > 0).any() else np.unique(rows)
        self.top_db = float(np.max(spec[-n_vis:, shown]))
        levels, valid = heat_levels(
            spec,
            end_time(snap, "spectrogram"),
            snap.spectrogram_rate,
            axis,
            rows,
            self.top_db - SPAN_DB,
            SPAN_DB,
            HEAT_LEVELS,
        )
        return heat_rows(levels, valid, self.styled(""), HEAT_LEVELS)
