"""The classifier branch of the DSP graph: windower -> worker -> Window events -> verdict.

:class:`ClassifierBranch` is what :class:`stetho_rt.graph.DspGraph` holds: on the DSP thread it
cuts windows from the per-frame features and the detector's sounds
(:class:`~stetho_rt.classify.windows.FeatureWindower`), hands them to the
:class:`~stetho_rt.classify.worker.ClassifierWorker` and returns the windows
classified so far; :meth:`verdict` aggregates every window of the session with the model's session
head output for them (:mod:`stetho_rt.classify.verdict`, :mod:`stetho_rt.classify.session`), from
running sums: the branch keeps no window list, so its cost and memory do not grow with the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stetho_rt.classify.model import OnnxClassifier
from stetho_rt.classify.verdict import VerdictAccumulator
from stetho_rt.classify.windows import FeatureWindow, FeatureWindower, warm_up_summary
from stetho_rt.classify.worker import ClassifierWorker
from stetho_rt.config import PipelineConfig
from stetho_rt.events import HeartSound, Window

DRAIN_TIMEOUT_S = 30.0
"""Longest wait for the worker to finish queued windows at the end of a stream [s]."""


class ClassifierBranch:
    """Feature windows, the classifier worker and the session verdict of one stream.

    Parameters
    ----------
    model : OnnxClassifier
        A loaded, validated model (shared read-only; one branch per stream).
    cfg : PipelineConfig
        Window length and hop [s], queue depth, DSP geometry.
    time_offset_s : float
        Delay of the 2 kHz signal behind the input (resampler latency) [s].
    blocking : bool
        True in batch mode (every window classified), False live (drop-oldest queue).
    """

    def __init__(
        self,
        model: OnnxClassifier,
        cfg: PipelineConfig,
        time_offset_s: float = 0.0,
        *,
        blocking: bool = False,
    ) -> None:
        self.model = model
        self._dsp = cfg.dsp
        self.windower = FeatureWindower(
            cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s, time_offset_s
        )
        if self.windower.n_features != model.n_features:
            from stetho_rt.errors import ModelError

            raise ModelError(
                f"{model.path}: model expects {model.n_features} features, the windower makes "
                f"{self.windower.n_features}"
            )
        self.worker = ClassifierWorker(model, cfg.classifier_queue, blocking=blocking)
        self._verdict_sums = VerdictAccumulator(model.rules)
        self._verdict: dict[str, Any] | None = None
        self._session_start_s = -np.inf  # windows starting earlier belong to an older session
        self._repaired: list[tuple[float, float]] = []  # input spans replaced by zeros [s]
        self._flushed = False

    @property
    def dropped(self) -> int:
        """Windows dropped unclassified (live mode, worker too slow)."""
        return self.worker.dropped

    def warm_up(self) -> None:
        """Before the stream opens: the window-summary kernels compiled (or loaded); the model's
        heads had their first run when it was loaded (:meth:`OnnxClassifier.load`)."""
        warm_up_summary(self._dsp)

    def process(self, features: np.ndarray, sounds: Sequence[HeartSound] = ()) -> list[Window]:
        """Feed per-frame features and the sounds the detector emitted for the same samples (DSP
        thread); return the windows classified since the last call."""
        self._submit(self.windower.process(features, sounds))
        return self._take(self.worker.collect())

    def flush(self) -> list[Window]:
        """End of stream (after the detector's last sounds went through :meth:`process`): wait
        for queued windows (bounded) and return the rest."""
        self._submit(self.windower.flush())
        self._flushed = True  # from now on an empty session is a verdict (too little signal)
        return self._take(self.worker.drain(DRAIN_TIMEOUT_S))

    def reset(self) -> None:
        """New stream: windower back to frame 0, queued windows, results not yet collected and
        the verdict discarded (no wait on the worker)."""
        self.new_session(-np.inf)
        self.windower.reset()
        self._repaired.clear()
        self._flushed = False

    def new_session(self, at_s: float) -> None:
        """Start a new session at stream time ``at_s`` [s] within the same stream (the chest
        piece moved to another site): the verdict and the session summary forget every window,
        and windows that start before ``at_s`` (they hold the old site's sound) are not
        classified. The windower keeps its grid and time base."""
        self.worker.reset_session()
        self._verdict_sums.reset()
        self._verdict = None
        self._session_start_s = float(at_s)

    def mark_repaired(self, start_s: float, end_s: float) -> None:
        """Input from ``start_s`` to ``end_s`` [s, input time base] was replaced by zeros
        (dropped samples, NaN/inf): windows overlapping it get quality 0 (not clean, left out
        of the verdict and the session summary). Called in stream order, before the windows
        over that span are cut (they are cut 0.6 s after their end)."""
        self._repaired.append((float(start_s), float(end_s)))

    def _submit(self, windows: Sequence[FeatureWindow]) -> None:
        for fw in windows:
            if fw.start_s >= self._session_start_s:
                repaired = any(a < fw.end_s and b > fw.start_s for a, b in self._repaired)
                self.worker.submit(fw, repaired)
            # windows come in start order: a span ending before this one's start is done
            self._repaired = [(a, b) for a, b in self._repaired if b > fw.start_s]

    def _take(self, windows: list[Window]) -> list[Window]:
        if windows:
            self._verdict_sums.add_windows(windows)
            self._verdict = None
        return windows

    def verdict(self) -> dict[str, Any] | None:
        """Session verdict over every window classified so far (JSON-ready dict); None while the
        session has no classified window and the stream goes on (nothing to say yet). At the end
        of a stream without one it is ``artifact`` (too little signal)."""
        if self._verdict_sums.n == 0 and not self._flushed:
            return None
        if self._verdict is None:
            self._verdict = self._verdict_sums.result(self.worker.session_probs)
        return self._verdict

    def close(self) -> None:
        """Stop the worker thread."""
        self.worker.close()
