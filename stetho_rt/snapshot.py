"""The immutable picture of the pipeline the UI and the headless status line read.

The DSP thread builds a new :class:`Snapshot` and publishes it by swapping one reference
(latest wins); readers never lock and never see a half-built state. Arrays in a snapshot are copies
owned by it and must not be written to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stetho_rt.events import Beat, HeartSound, Window


@dataclass(frozen=True)
class Level:
    """Input level of the most recent blocks: peak and RMS [dBFS], clipped samples (total)."""

    peak_dbfs: float = -120.0
    rms_dbfs: float = -120.0
    clipped_samples: int = 0
    clipping: bool = False
    """True when a recent block had samples at full scale."""


@dataclass(frozen=True)
class Snapshot:
    """Everything a display needs, at one instant of stream time.

    Times are stream seconds from the first sample. ``waveform``/``filtered`` hold the last
    ``display_s`` seconds at the internal rate (2 kHz), ``envelope`` the detector envelope frames at
    its frame rate, ``spectrogram`` the last STFT frames in dB (n_frames, n_bins).
    """

    stream_time_s: float = 0.0
    source: str = ""
    source_rate: int = 0
    internal_rate: int = 2000
    duration_s: float | None = None
    level: Level = field(default_factory=Level)
    dropped_samples: int = 0
    input_overflows: int = 0
    input_underflows: int = 0
    """Device callbacks PortAudio flagged ``input_underflow``: it padded their input with zeros
    because no data was available (the zeros are in the stream; this says how often)."""
    gaps: int = 0
    nonfinite_samples: int = 0
    hum_lines_hz: tuple[int, ...] = ()
    """Mains hum lines being notched out now [Hz] (:mod:`stetho_rt.dsp.hum`); empty: none."""
    late_sounds: int = 0
    """Heart sounds the detector settled after its 0.3 s look-ahead bound and dropped instead of
    reporting late (:attr:`~stetho_rt.detect.s1s2.S1S2Detector.late_sounds`)."""
    latency_s: float = 0.0
    """Estimated input-to-snapshot delay [s]: device input latency (as PortAudio reports it) +
    ring backlog + one block + stage latencies + half the publish interval. The dashboard adds
    the snapshot's age when it shows it."""
    dsp_load: float = 0.0
    """DSP thread busy time over stream time of the last second (0-1 is real-time safe)."""
    waveform: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    filtered: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    envelope: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    envelope_rate: float = 100.0
    spectrogram: np.ndarray = field(default_factory=lambda: np.zeros((0, 33), np.float32))
    spectrogram_rate: float = 125.0
    sounds: tuple[HeartSound, ...] = ()
    beats: tuple[Beat, ...] = ()
    heart_rate_bpm: float | None = None
    heart_rate_trend: tuple[float, ...] = ()
    windows: tuple[Window, ...] = ()
    verdict: dict[str, object] | None = None
    detector_ready: bool = False
    classifier_ready: bool = False
    finished: bool = False
    error: str | None = None
    source_status: str = "running"
    """Device sources: "running", "lost", "reopening", "stopped" (replay: always "running")."""
    source_problem: str | None = None
    """Why the device was lost or cannot be reopened (None while all is well)."""
    source_lost_count: int = 0
    recording_path: str | None = None
    """Path of the recording in progress, if any."""
    recording_error: str | None = None
    """Why the recording in progress stopped writing (disk full...), None while it writes."""
    recording_dropped: int = 0
    """Samples the recording in progress could not queue (written as zeros, marked as a gap)."""
    waveform_end_s: float = 0.0
    """Input time just after the last ``waveform`` sample [s] (stage latency removed)."""
    filtered_end_s: float = 0.0
    """Input time just after the last ``filtered`` sample [s]."""
    envelope_end_s: float = 0.0
    """Input time just after the last ``envelope`` frame [s]."""
    spectrogram_end_s: float = 0.0
    """Input time just after the last ``spectrogram`` frame (centre + half a hop) [s]."""
    published_monotonic: float = 0.0
    """``time.monotonic()`` when the DSP thread published this snapshot."""

    @property
    def classifier_off(self) -> bool:
        """The stream runs without a classifier (``--no-classifier``): samples came, and no
        classifier is ready (one is ready from the first snapshot when loaded)."""
        return not self.classifier_ready and self.stream_time_s > 0

    @property
    def view_start_s(self) -> float:
        """Input time of ``waveform[0]`` [s]."""
        return self.waveform_end_s - self.waveform.shape[0] / self.internal_rate
