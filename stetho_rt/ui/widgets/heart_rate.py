"""Heart rate in large digits, its trend and the beat-to-beat variability."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Digits, Label

from stetho_rt.events import Beat
from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.widgets.trend import TrendLine

#: RR intervals outside this range are ignored in the variability [s] (220-30 bpm).
RR_RANGE_S = (60.0 / 220.0, 2.0)
#: Beats the variability is computed over (the most recent ones).
HRV_BEATS = 30
#: Trend points shown (the most recent ones).
TREND_POINTS = 60


def rr_variability(beats: Sequence[Beat]) -> tuple[float, float] | None:
    """SDNN and RMSSD [ms] of the recent RR intervals, None with fewer than 3 usable ones."""
    rr = np.array([b.rr_s for b in beats[-HRV_BEATS:]], dtype=np.float64)
    rr = rr[(rr >= RR_RANGE_S[0]) & (rr <= RR_RANGE_S[1])]
    if rr.shape[0] < 3:
        return None
    sdnn = float(np.std(rr, ddof=1)) * 1000.0
    rmssd = float(np.sqrt(np.mean(np.diff(rr) ** 2))) * 1000.0
    return sdnn, rmssd


def hr_text(snap: Snapshot) -> str:
    """Heart rate as the digits show it: "72", "--" (no estimate), "" (no detector)."""
    if not snap.detector_ready:
        return ""
    if snap.heart_rate_bpm is None or not np.isfinite(snap.heart_rate_bpm):
        return "--"
    return f"{snap.heart_rate_bpm:.0f}"


class HeartRatePanel(Vertical):
    """Large heart-rate digits, a trend sparkline and SDNN/RMSSD, or "waiting for detector"."""

    DEFAULT_CSS = """
    HeartRatePanel {
        height: auto;
    }
    HeartRatePanel > Digits {
        width: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Heart rate · bpm"
        self._text = ""
        self._trend: tuple[float, ...] = ()
        self._hrv = ""

    def compose(self) -> ComposeResult:
        """Digits, waiting note, trend and variability lines."""
        yield Label("waiting for detector", id="hr-waiting")
        yield Digits("--", id="hr-digits")
        yield TrendLine(id="hr-trend")
        yield Label("", id="hr-hrv")

    def on_mount(self) -> None:
        """Start in the waiting state."""
        self.query_one("#hr-digits", Digits).display = False

    def update_from(self, snap: Snapshot) -> None:
        """Show the snapshot's heart rate; touch the child widgets only when something changed."""
        text = hr_text(snap)
        if text != self._text:
            self._text = text
            digits = self.query_one("#hr-digits", Digits)
            digits.display = bool(text)
            self.query_one("#hr-waiting", Label).display = not text
            if text:
                digits.update(text)
        trend = snap.heart_rate_trend[-TREND_POINTS:]
        if trend != self._trend:
            self._trend = trend
            self.query_one("#hr-trend", TrendLine).data = trend
        hrv = rr_variability(snap.beats)
        line = "" if text in ("", "--") else (  # no variability without a rate
            "SDNN -- · RMSSD --" if hrv is None else f"SDNN {hrv[0]:.0f} · RMSSD {hrv[1]:.0f} ms"
        )
        if line != self._hrv:
            self._hrv = line
            self.query_one("#hr-hrv", Label).update(line)
