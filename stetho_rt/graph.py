"""The DSP graph the DSP thread runs on every block (one object, used live and in batch).

::

    x (source rate) ─► resample ─► hum removal ─► band-pass ─► detector (S1/S2, beats; envelopes)
                                        │                                        │ sounds
                                        └─► spectral frames (dB) + features ─► windows ─► classifier

The resampled signal feeds the STFT so the spectrogram and the classifier see the full 0-1 kHz band
(noise and speech above 400 Hz are what artifacts are made of); the detector works on the
band-passed heart-sound band. Hum removal (:mod:`stetho_rt.dsp.hum`) notches mains lines out of
both where they are heard, with no delay, so every later stage sees the same clean signal.

Gaps (samples dropped between producer and consumer) are filled with zeros by the pipeline, so
every stage's sample count, and so the time base, stays exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stetho_rt.classify.branch import ClassifierBranch
from stetho_rt.config import PipelineConfig
from stetho_rt.detect.s1s2 import S1S2Detector
from stetho_rt.dsp.features import SpectralStage
from stetho_rt.dsp.filters import BandpassStage
from stetho_rt.dsp.hum import HumStage
from stetho_rt.dsp.resample import ResampleStage
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK
from stetho_rt.events import Beat, HeartSound, Window

_EMPTY_1D = np.zeros(0, np.float32)
_EMPTY_2D = np.zeros((0, 0), np.float32)
_EMPTY_ENV = np.zeros((0, 2), np.float32)
for _a in (_EMPTY_1D, _EMPTY_2D, _EMPTY_ENV):
    _a.flags.writeable = False
_WARMED: set[int] = set()
"""Input rates [Hz] whose DSP stages and detector were already warmed in this process."""


@dataclass
class GraphOutput:
    """What one block produced. Arrays are views valid until the next call (the empty defaults
    are shared, read-only)."""

    resampled: np.ndarray = field(default_factory=lambda: _EMPTY_1D)
    filtered: np.ndarray = field(default_factory=lambda: _EMPTY_1D)
    envelope: np.ndarray = field(default_factory=lambda: _EMPTY_ENV)
    spectrogram: np.ndarray = field(default_factory=lambda: _EMPTY_2D)  # set by every call
    features: np.ndarray = field(default_factory=lambda: _EMPTY_2D)
    sounds: list[HeartSound] = field(default_factory=list)
    beats: list[Beat] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)


class DspGraph:
    """All stages of one stream, from source-rate samples to events.

    Parameters
    ----------
    in_rate : int
        Source rate [Hz].
    cfg : PipelineConfig
        Stage parameters.
    max_block : int
        Largest block fed per call [samples at ``in_rate``].
    classifier : OnnxClassifier, optional
        The loaded model; None runs no classifier branch.
    live : bool
        True for display modes. False (batch analysis) classifies every window (blocking queue)
        and leaves out the display-only envelopes (:attr:`GraphOutput.envelope` stays empty).
        Sounds, beats and rates are the same either way, and so are the windows and the verdict
        unless a live queue had to drop windows (counted).
    """

    def __init__(
        self,
        in_rate: int,
        cfg: PipelineConfig,
        max_block: int,
        classifier: Any | None = None,
        *,
        live: bool = True,
    ) -> None:
        dsp = cfg.dsp
        self.in_rate = in_rate
        self.max_block = max_block
        self.resampler = ResampleStage(in_rate, dsp, max_block=max_block)
        # the largest block at 2 kHz any stage after the resampler is fed [samples]
        max_2k = math.ceil(max_block * dsp.internal_rate / in_rate) + 64
        self.hum = HumStage(dsp, max_block=max_2k)  # no delay: the time base is unchanged
        self.bandpass = BandpassStage(dsp, max_block=max_2k)
        self.spectral = SpectralStage(dsp, max_block=max_2k)
        det_block = max(max_2k, DEFAULT_MAX_BLOCK)
        # batch analysis shows nothing: the display-only envelopes are not computed
        self.detector = S1S2Detector(cfg, max_block=det_block,
                                     time_offset_s=self.upstream_latency_s,
                                     display_envelope=live)
        self.classifier = classifier
        self.classify: ClassifierBranch | None = None
        if classifier is not None:
            # windows stamped in the input time base; batch mode classifies every window
            self.classify = ClassifierBranch(
                classifier, cfg, time_offset_s=self.spectral_offset_s, blocking=not live
            )
        self.envelope_rate = float(dsp.envelope_rate)
        self.spectral_rate = float(self.spectral.out_rate)

    @property
    def upstream_latency_s(self) -> float:
        """Delay of the band-passed signal behind the input [s] (resampler + band-pass)."""
        return self.resampler.latency_s + self.bandpass.latency_s

    @property
    def spectral_offset_s(self) -> float:
        """Delay of the 2 kHz signal, hence of the spectral frames, behind the input [s]
        (resampler): the classifier windows' time offset."""
        return self.resampler.latency_s

    @property
    def latency_s(self) -> float:
        """Delay of the displayed signals behind the input [s]."""
        return self.upstream_latency_s

    @property
    def has_detector(self) -> bool:
        """True: the S1/S2 detector always runs (the snapshot field lets displays tell a pipeline
        that has none, e.g. a test fake)."""
        return True

    @property
    def has_classifier(self) -> bool:
        """True when a classifier model is loaded."""
        return self.classifier is not None

    def warm_up(self) -> None:
        """Compile (or load from cache) every kernel before a stream opens.

        Numba compiles a kernel once per process and argument types, so the DSP stages and the
        detector warm up in the first graph of a process per input rate (the resampler's path
        depends on it); the stages of a new graph start in their initial state anyway. The
        classifier branch's window-summary kernels are compiled once per process and DSP
        configuration; its model's heads ran once when it was loaded."""
        if self.in_rate not in _WARMED:
            for stage in (self.resampler, self.hum, self.bandpass, self.spectral):
                stage.warm_up()
            self.detector.warm_up()
            _WARMED.add(self.in_rate)
        if self.classify is not None:
            self.classify.warm_up()

    def process(self, x: np.ndarray, gap: bool = False) -> GraphOutput:
        """Run one block of source-rate samples (1-D float32, finite) through every stage.

        ``gap=True`` marks zeros standing in for dropped samples: the filters run on them (their
        clocks stay exact) but the detector is told to skip, so no sound or beat spans a gap."""
        raw = self.resampler.process(x)  # shown as the raw waveform: hum and all
        y = self.hum.process(raw)
        bp = self.bandpass.process(y)
        spec = self.spectral.process(y)
        out = GraphOutput(resampled=raw, filtered=bp)
        self._split_spectral(spec, out)
        if gap:
            self.detector.skip(bp.shape[0])
        else:
            det = self.detector.process(bp)
            out.envelope = self.detector.last_envelope
            out.sounds = det.sounds  # a new list per call
            out.beats = det.beats
        if self.classify is not None:  # after the detector: windows take its sounds
            out.windows = self.classify.process(out.features, out.sounds)
        return out

    def reset(self) -> None:
        """Every stage back to its initial state (no reallocation)."""
        for stage in (self.resampler, self.hum, self.bandpass, self.spectral):
            stage.reset()
        self.detector.reset()
        if self.classify is not None:
            self.classify.reset()

    def new_session(self, at_s: float) -> None:
        """New classifier session at stream time ``at_s`` [s] (see
        :meth:`~stetho_rt.classify.branch.ClassifierBranch.new_session`); the DSP stages and the
        detector carry on."""
        if self.classify is not None:
            self.classify.new_session(at_s)

    def flush(self) -> GraphOutput:
        """Drain every stage at the end of the stream."""
        raw = self.resampler.flush().copy()
        y = self.hum.process(raw).copy()
        bp = np.concatenate([self.bandpass.process(y).copy(), self.bandpass.flush()])
        spec = self.spectral.process(y)
        out = GraphOutput(resampled=raw, filtered=bp)
        self._split_spectral(spec, out)
        det = self.detector.process(bp)
        out.envelope = self.detector.last_envelope.copy()
        tail = self.detector.flush()
        out.sounds += det.sounds + tail.sounds
        out.beats += det.beats + tail.beats
        if self.classify is not None:  # every sound of the stream is known now
            out.windows = self.classify.process(out.features, out.sounds) + self.classify.flush()
        return out

    def _split_spectral(self, spec: Any, out: GraphOutput) -> None:
        out.spectrogram, out.features = self.spectral.split(spec)

    def heart_rate_bpm(self) -> float | None:
        """Current heart-rate estimate [bpm], None when there is none."""
        return self.detector.heart_rate_bpm

    def recording_heart_rate_bpm(self) -> float | None:
        """Heart rate over the whole stream so far [bpm] (batch summary), None if unknown."""
        return self.detector.recording_heart_rate_bpm()

    def verdict(self) -> dict[str, object] | None:
        """Session verdict from the classifier windows: None without a classifier, and before the
        session's first window while the stream goes on (:meth:`ClassifierBranch.verdict`)."""
        return None if self.classify is None else self.classify.verdict()

    def close(self) -> None:
        """Stop helper threads (classifier worker)."""
        if self.classify is not None:
            self.classify.close()
