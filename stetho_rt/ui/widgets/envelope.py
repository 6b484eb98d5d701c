"""The detector's envelope on the waveform's time axis, S1 and S2 coloured."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from textual.strip import Strip

from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.palette import S1_COLOR, S2_COLOR
from stetho_rt.ui.render import area_codes, coloured_rows, sound_classes
from stetho_rt.ui.view import ViewState
from stetho_rt.ui.widgets.plot import PlotWidget
from stetho_rt.ui.widgets.waveform import end_time, shared_axis


class EnvelopeView(PlotWidget):
    """Envelope column 0 filled, column 1 as a line, scaled to the visible maximum."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"envelope--fill", "envelope--s1", "envelope--s2"}
    DEFAULT_CSS = f"""
    EnvelopeView {{
        height: 7;
        min-height: 3;
    }}
    EnvelopeView > .envelope--fill {{ color: $secondary; }}
    EnvelopeView > .envelope--s1 {{ color: {S1_COLOR}; }}
    EnvelopeView > .envelope--s2 {{ color: {S2_COLOR}; }}
    """

    def draw(self, snap: Snapshot, view: ViewState, width: int, height: int) -> list[Strip]:
        """Area plot scaled so the window's largest value reaches 90 % of the height."""
        env = snap.envelope
        if env.ndim != 2 or env.shape[0] == 0:
            return []
        axis = shared_axis(snap, view, width)
        n_vis = int(view.window_s * snap.envelope_rate) + 1
        peak = float(np.max(env[-n_vis:])) if env.shape[0] else 0.0
        scale = 0.9 / peak if peak > 1e-12 else 1.0
        codes = area_codes(env, end_time(snap, "envelope"), snap.envelope_rate, axis, height, scale)
        styles = [
            self.styled("envelope--fill"),
            self.styled("envelope--s1"),
            self.styled("envelope--s2"),
        ]
        return coloured_rows(codes, sound_classes(snap.sounds, axis), styles)
