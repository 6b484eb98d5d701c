"""What the user chose to see: view gain, raw or band-passed trace, time window, pause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ViewMode = Literal["raw", "filtered"]

#: Seconds of signal shown by the waveform, envelope and spectrogram (shared time axis).
WINDOW_S = 4.0
#: Vertical gains of the waveform view: the trace spans +/- 1/gain of full scale.
GAINS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
DEFAULT_GAIN = 2.0
#: Highest frequency the spectrogram shows [Hz].
SPECTRO_MAX_HZ = 500.0


@dataclass(frozen=True, slots=True)
class ViewState:
    """The display settings every panel renders with."""

    gain: float = DEFAULT_GAIN
    """Waveform gain: +/- 1/gain of full scale fills the panel."""
    mode: ViewMode = "filtered"
    """Which trace the waveform panel shows: raw (resampled) or band-passed."""
    window_s: float = WINDOW_S
    """Seconds of stream time across the panels."""

    @property
    def mode_label(self) -> str:
        """Human name of the trace shown."""
        return "band-passed" if self.mode == "filtered" else "raw"


def next_gain(gain: float, step: int) -> float:
    """The gain ``step`` positions up (+1) or down (-1) the :data:`GAINS` ladder, clamped."""
    idx = min(range(len(GAINS)), key=lambda i: abs(GAINS[i] - gain))
    return GAINS[min(max(idx + step, 0), len(GAINS) - 1)]
