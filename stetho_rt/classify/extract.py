"""Classifier windows of a whole recording through the pipeline's own DSP graph (for training
and evaluation), and the verdict the branch reaches on them (:func:`recording_verdict`).

:func:`recording_windows` runs a file through :class:`stetho_rt.graph.DspGraph` (resampler,
band-pass, S1/S2 detector, spectral features; no model) and cuts the windows exactly as the
classifier branch does in ``stetho-rt analyze`` and on a live stream, so a model trained on these
vectors sees at run time precisely what it was trained on (``tests/classify`` pins the equality).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stetho_rt.classify.session import session_vector
from stetho_rt.classify.verdict import aggregate
from stetho_rt.classify.windows import FeatureWindow, windows_of
from stetho_rt.config import PipelineConfig
from stetho_rt.dsp.level import BlockMeter
from stetho_rt.events import HeartSound
from stetho_rt.io.audiofile import open_audio

if TYPE_CHECKING:
    from stetho_rt.classify.model import OnnxClassifier


@dataclass
class RecordingStream:
    """What the DSP graph makes of one recording for the classifier.

    Attributes
    ----------
    frames : ndarray of float32, shape (n_frames, 4 + n_mels)
        Per-frame features (125 frames/s at 2 kHz).
    sounds : list of HeartSound
        Every sound the detector emitted (input time base).
    time_offset_s : float
        Resampler latency [s] (the windower's time offset).
    """

    frames: np.ndarray
    sounds: list[HeartSound]
    time_offset_s: float


def recording_stream(path: str | Path, cfg: PipelineConfig | None = None) -> RecordingStream:
    """Run one recording through the DSP graph (no classifier) in ``analyze``'s blocks.

    Parameters
    ----------
    path : str or Path
        Audio file (any format and rate :func:`~stetho_rt.io.audiofile.open_audio` reads; a
        multichannel file is downmixed).
    cfg : PipelineConfig, optional
        Stage parameters (defaults from :mod:`stetho_rt.config`).
    """
    from stetho_rt.analysis import ANALYZE_BLOCK_SECONDS
    from stetho_rt.graph import DspGraph

    cfg = cfg or PipelineConfig()
    af = open_audio(path)
    block = max(1, round(ANALYZE_BLOCK_SECONDS * af.rate))
    graph = DspGraph(af.rate, cfg, max_block=block, classifier=None, live=False)
    graph.warm_up()
    meter = BlockMeter()
    feats: list[np.ndarray] = []
    sounds: list[HeartSound] = []
    for x in af.blocks(block):
        meter.process(x)  # non-finite samples -> 0, as the pipeline does
        out = graph.process(x)
        feats.append(out.features.copy())
        sounds += out.sounds
    out = graph.flush()
    feats.append(out.features.copy())
    sounds += out.sounds
    return RecordingStream(np.concatenate(feats), sounds, graph.spectral_offset_s)


def recording_windows(
    path: str | Path, cfg: PipelineConfig | None = None
) -> list[FeatureWindow]:
    """Summarised classifier windows of one recording, as the classifier branch cuts them.

    Returns
    -------
    list of FeatureWindow
        Every complete window, with :attr:`~FeatureWindow.vector` and
        :attr:`~FeatureWindow.quality` computed.
    """
    cfg = cfg or PipelineConfig()
    rs = recording_stream(path, cfg)
    return windows_of(
        rs.frames, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s,
        sounds=rs.sounds, time_offset_s=rs.time_offset_s,
    )


def recording_verdict(clf: OnnxClassifier, windows: Sequence[FeatureWindow]) -> dict[str, Any]:
    """The verdict the classifier branch reaches at the end of a stream of these windows.

    Window probabilities from the window head, the session head (if the model has one) on the
    session summary of every window in order, aggregated with the model's rules.
    """
    n = clf.n_features
    p = clf.run(np.stack([w.vector for w in windows])) if windows else np.zeros((0, 3), np.float32)
    q = np.array([w.quality.index for w in windows], dtype=np.float64)
    session = None
    if clf.session is not None and windows:
        sv = session_vector((w.vector for w in windows), q, n,
                            (w.quality.heard for w in windows))
        session = clf.session.run(sv)[0]
    return aggregate(p, q, clf.rules, session)
