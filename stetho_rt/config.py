"""Named defaults and frozen configuration objects.

Every tunable of the pipeline is an UPPER_CASE constant here; the CLI reuses them for its help text
and defaults, so documentation and code never disagree. Units are in the names: ``_HZ`` (hertz),
``_S`` (seconds), ``_SAMPLES`` (samples at the rate the field refers to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from stetho_rt.errors import ConfigError

#: Rate of every stage after the resampler [Hz].
INTERNAL_RATE_HZ = 2000
#: Lowest and highest input rates accepted from a file or device [Hz].
MIN_INPUT_RATE_HZ = 1000
MAX_INPUT_RATE_HZ = 192000
#: Resampler: pass-band edge (ripple < 0.1 dB below it) and stop-band rejection [Hz], [dB].
RESAMPLE_PASS_HZ = 800.0
RESAMPLE_STOP_DB = 85.0
#: Heart-sound band-pass edges [Hz] and order (of the Butterworth band-pass; sections = order).
BANDPASS_LOW_HZ = 25.0
BANDPASS_HIGH_HZ = 400.0
BANDPASS_ORDER = 4
#: Mains frequencies whose hum (the frequency and its harmonics in the band) is removed where
#: heard [Hz] (see dsp/hum.py); empty: no hum removal.
MAINS_HZ = (50.0, 60.0)
#: Mains frequencies accepted [Hz] (the world's grids run at 50 or 60 Hz).
MAINS_RANGE_HZ = (40.0, 70.0)
#: Bins a hum line is compared with [Hz from the line] (dsp/hum.py).
HUM_NEIGHBOUR_OFFSETS_HZ = (-5, -3, 3, 5)
#: Smallest distance between two different hum lines [Hz]: none may sit in another's neighbour
#: bins.
MAINS_MIN_LINE_GAP_HZ = float(max(abs(o) for o in HUM_NEIGHBOUR_OFFSETS_HZ))
#: ``--mains`` choices: which mains frequencies' hum is watched for and removed [Hz].
MAINS_CHOICES: dict[str, tuple[float, ...]] = {"auto": MAINS_HZ, "50": (50.0,), "60": (60.0,),
                                               "off": ()}
#: Spike (stethoscope knock) suppression: window [s] and threshold as a multiple of the robust
#: window-peak level (3rd largest peak of the last 8 windows; see dsp/filters.py).
SPIKE_WINDOW_S = 0.5
SPIKE_THRESHOLD = 8.0
#: Envelope frame rate delivered to the detector [Hz] and homomorphic low-pass cut-off [Hz].
ENVELOPE_RATE_HZ = 100
HOMOMORPHIC_CUTOFF_HZ = 8.0
#: STFT at the internal rate: Hann window and hop [samples at 2 kHz], mel bands for features.
STFT_WINDOW_SAMPLES = 64
STFT_HOP_SAMPLES = 16
STFT_MEL_BANDS = 16
#: Floor of log-power values [dB] (power 1e-10).
LOG_POWER_FLOOR_DB = -100.0
#: Ring buffer capacity [s of input] and block size the sources deliver [s].
RING_SECONDS = 10.0
BLOCK_SECONDS = 0.01
#: |sample| at or above this counts as clipped [full scale = 1.0].
CLIP_LEVEL = 0.999
#: Detector look-ahead bound [s].
DETECTOR_LOOKAHEAD_S = 0.3
#: Classifier windows: length and hop [s]; queue depth [windows].
CLASSIFIER_WINDOW_S = 4.0
CLASSIFIER_HOP_S = 1.0
CLASSIFIER_QUEUE = 8
#: Wait after a classifier window's end before it is cut [s], so the detector has decided every
#: sound that starts inside it (longest sound 0.22 s + decision at most 0.30 s + upstream
#: latency, about 0.01 s).
CLASSIFIER_SOUND_WAIT_S = 0.6
#: Heart-rate range reported [bpm].
MIN_HEART_RATE_BPM = 30.0
MAX_HEART_RATE_BPM = 220.0
#: UI poll rate [Hz].
UI_FPS = 25


def mains_hz(choice: str) -> tuple[float, ...]:
    """The mains frequencies [Hz] of a ``--mains`` choice (:data:`MAINS_CHOICES`)."""
    return MAINS_CHOICES[choice]


@dataclass(frozen=True)
class DspConfig:
    """Parameters of the DSP chain. All rates in Hz, all durations in seconds."""

    internal_rate: int = INTERNAL_RATE_HZ
    resample_pass_hz: float = RESAMPLE_PASS_HZ
    resample_stop_db: float = RESAMPLE_STOP_DB
    bandpass_low_hz: float = BANDPASS_LOW_HZ
    bandpass_high_hz: float = BANDPASS_HIGH_HZ
    bandpass_order: int = BANDPASS_ORDER
    mains_hz: tuple[float, ...] = MAINS_HZ
    spike_window_s: float = SPIKE_WINDOW_S
    spike_threshold: float = SPIKE_THRESHOLD
    envelope_rate: int = ENVELOPE_RATE_HZ
    homomorphic_cutoff_hz: float = HOMOMORPHIC_CUTOFF_HZ
    stft_window: int = STFT_WINDOW_SAMPLES
    stft_hop: int = STFT_HOP_SAMPLES
    mel_bands: int = STFT_MEL_BANDS

    def __post_init__(self) -> None:
        if self.internal_rate != INTERNAL_RATE_HZ:
            raise ConfigError(f"internal_rate={self.internal_rate}: only 2000 Hz is supported")
        if not 0 < self.bandpass_low_hz < self.bandpass_high_hz < self.internal_rate / 2:
            raise ConfigError(
                f"band-pass {self.bandpass_low_hz}-{self.bandpass_high_hz} Hz must satisfy "
                f"0 < low < high < {self.internal_rate / 2}"
            )
        self._check_mains()
        if self.internal_rate % self.envelope_rate:
            raise ConfigError(
                f"envelope_rate={self.envelope_rate} must divide internal_rate={self.internal_rate}"
            )
        if self.stft_hop <= 0 or self.stft_window < self.stft_hop:
            raise ConfigError(f"stft hop={self.stft_hop} must be in 1..window={self.stft_window}")


    @property
    def mains_lines_hz(self) -> tuple[int, ...]:
        """The hum lines watched [Hz], sorted: every harmonic of :attr:`mains_hz` from the
        band-pass's lower to its upper edge, whole hertz (shared harmonics once)."""
        return tuple(sorted({round(k * m) for m in self.mains_hz
                             for k in range(1, int(self.bandpass_high_hz // m) + 1)
                             if self.bandpass_low_hz <= k * m}))

    def _check_mains(self) -> None:
        """``mains_hz``: a tuple of mains frequencies in :data:`MAINS_RANGE_HZ` whose harmonics
        in the band are either the same line or more than :data:`MAINS_MIN_LINE_GAP_HZ` apart
        (a line must not sit in another's neighbour bins, dsp/hum.py)."""
        mains = self.mains_hz
        lo, hi = MAINS_RANGE_HZ
        if not isinstance(mains, tuple) or not all(
                isinstance(m, (int, float)) and lo <= m <= hi for m in mains):
            raise ConfigError(f"mains_hz={mains!r}: a tuple of frequencies in {lo:g}-{hi:g} Hz")
        close = [(a, b) for a, b in pairwise(self.mains_lines_hz)
                 if b - a <= MAINS_MIN_LINE_GAP_HZ]
        if close:
            raise ConfigError(f"mains_hz={mains!r}: harmonics {close[0][0]} and {close[0][1]} Hz "
                              f"are within {MAINS_MIN_LINE_GAP_HZ:g} Hz of each other")


@dataclass(frozen=True)
class StreamConfig:
    """Ring and block geometry of the live path."""

    ring_seconds: float = RING_SECONDS
    block_seconds: float = BLOCK_SECONDS

    def ring_capacity(self, rate: float) -> int:
        """Ring capacity [samples at ``rate``]."""
        return max(round(self.ring_seconds * rate), 1024)

    def block_size(self, rate: float) -> int:
        """Source block size [samples at ``rate``]."""
        return max(round(self.block_seconds * rate), 1)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs besides its source."""

    dsp: DspConfig = field(default_factory=DspConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    lookahead_s: float = DETECTOR_LOOKAHEAD_S
    classifier_window_s: float = CLASSIFIER_WINDOW_S
    classifier_hop_s: float = CLASSIFIER_HOP_S
    classifier_queue: int = CLASSIFIER_QUEUE


def check_input_rate(rate: float, what: str = "input") -> int:
    """Return ``rate`` as an int after checking it lies in the supported range [Hz]."""
    if not float(rate).is_integer():
        raise ConfigError(f"{what} rate {rate} Hz: only integer rates are supported")
    if not MIN_INPUT_RATE_HZ <= rate <= MAX_INPUT_RATE_HZ:
        raise ConfigError(
            f"{what} rate {rate:g} Hz is outside {MIN_INPUT_RATE_HZ}-{MAX_INPUT_RATE_HZ} Hz"
        )
    return int(rate)
