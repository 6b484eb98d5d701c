"""Scrolling waveform with S1 and S2 coloured, and a label row naming them."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.events import Click, MouseScrollDown, MouseScrollUp
from textual.message import Message
from textual.strip import Strip

from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.palette import S1_COLOR, S2_COLOR
from stetho_rt.ui.render import (
    CLS_S1,
    CLS_S2,
    TimeAxis,
    coloured_rows,
    runs,
    sound_classes,
    trace_codes,
)
from stetho_rt.ui.view import ViewState
from stetho_rt.ui.widgets.plot import PlotWidget


def end_time(snap: Snapshot, name: str) -> float:
    """Stream time just after the last row of ``snap.<name>`` [s]: ``snap.<name>_end_s`` (the
    displayed signals lag the input by their stage latencies, so not ``stream_time_s``)."""
    return float(getattr(snap, f"{name}_end_s"))


def shared_axis(snap: Snapshot, view: ViewState, width: int) -> TimeAxis:
    """The time axis every signal panel uses, so their columns line up."""
    return TimeAxis.aligned(snap.stream_time_s, view.window_s, width, snap.internal_rate)


class WaveformView(PlotWidget):
    """The last few seconds of signal, S1 and S2 in their own colours; click pauses, wheel zooms."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "waveform--trace",
        "waveform--s1",
        "waveform--s2",
        "waveform--axis",
    }
    DEFAULT_CSS = f"""
    WaveformView {{
        height: 2fr;
        min-height: 4;
    }}
    WaveformView > .waveform--trace {{ color: $foreground; }}
    WaveformView > .waveform--s1 {{ color: {S1_COLOR}; text-style: bold; }}
    WaveformView > .waveform--s2 {{ color: {S2_COLOR}; text-style: bold; }}
    WaveformView > .waveform--axis {{ color: $foreground-muted; }}
    """

    class GainStep(Message):
        """The mouse wheel asked for more (+1) or less (-1) gain."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step
            """+1 for more gain, -1 for less."""

    class Clicked(Message):
        """The waveform was clicked (the app toggles pause)."""

    def draw(self, snap: Snapshot, view: ViewState, width: int, height: int) -> list[Strip]:
        """Trace rows plus, when there is room, a row of S1/S2 labels and second ticks."""
        axis = shared_axis(snap, view, width)
        x = snap.filtered if view.mode == "filtered" else snap.waveform
        name = "filtered" if view.mode == "filtered" else "waveform"
        labels = height >= 4
        rows = height - 1 if labels else height
        codes = trace_codes(x, end_time(snap, name), snap.internal_rate, axis, rows, view.gain)
        classes = sound_classes(snap.sounds, axis)
        styles = self._styles()
        strips = coloured_rows(codes, classes, styles)
        if labels:
            strips.append(self._label_row(snap, axis, styles))
        return strips

    def _styles(self) -> list[Style]:
        return [
            self.styled("waveform--trace"),
            self.styled("waveform--s1"),
            self.styled("waveform--s2"),
            self.styled("waveform--axis"),
        ]

    @staticmethod
    def _label_row(snap: Snapshot, axis: TimeAxis, styles: list[Style]) -> Strip:
        """S1/S2 labels at each sound's onset, and seconds-ago ticks where there is room."""
        n = axis.n
        chars = np.full(n, " ", dtype="<U1")
        cls = np.full(n, 3, np.int8)
        for s in snap.sounds:
            col = int(np.floor((s.onset_s - axis.start_s) / axis.step_s))
            if col >= 0 and col + 2 <= n and (chars[max(col - 1, 0) : col + 2] == " ").all():
                chars[col : col + 2] = list(s.kind)
                cls[col : col + 2] = CLS_S1 if s.kind == "S1" else CLS_S2
        for k in range(1, int(axis.n * axis.step_s) + 1):
            tick = f"-{k}s"
            col = int((snap.stream_time_s - k - axis.start_s) / axis.step_s) - len(tick) // 2
            free = chars[max(col - 1, 0) : col + len(tick) + 1]
            if col >= 0 and col + len(tick) <= n and (free == " ").all():
                chars[col : col + len(tick)] = list(tick)
        text = "".join(chars.tolist())
        return Strip([Segment(text[a:b], styles[c]) for a, b, c in runs(cls)], n)

    def on_click(self, event: Click) -> None:
        """Clicking the trace toggles pause."""
        event.stop()
        self.post_message(self.Clicked())

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        """Wheel up: more gain."""
        event.stop()
        self.post_message(self.GainStep(+1))

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        """Wheel down: less gain."""
        event.stop()
        self.post_message(self.GainStep(-1))
