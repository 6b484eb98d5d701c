"""The classifier worker thread and its bounded queue (ARCHITECTURE.md §1.4).

The DSP thread hands each :class:`~stetho_rt.classify.windows.FeatureWindow` to
:meth:`ClassifierWorker.submit` and never waits on inference:

- **live** (``blocking=False``): the queue holds at most ``maxsize`` windows; when it is full the
  *oldest* waiting window is dropped and counted in :attr:`ClassifierWorker.dropped` (the newest
  window is what the dashboard needs);
- **batch** (``blocking=True``): ``submit`` waits for room instead, so every window is classified
  and batch and live give the same numbers for the same audio when nothing is dropped.

The worker runs the model one window at a time (same arithmetic whatever the queue depth) and
appends ``(session number, Window, session head probabilities)`` to an output deque that the DSP
thread drains with :meth:`ClassifierWorker.collect` (non-blocking; it returns the current
session's :class:`~stetho_rt.events.Window` events). When the model has a session head, the
worker also adds each window to the session summary (:mod:`stetho_rt.classify.session`) and runs
the head on it; :attr:`ClassifierWorker.session_probs` holds the head's output for the windows
collected so far. An exception in the worker is stored and
re-raised by the next ``submit``/``collect``/``drain`` on the DSP thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import replace
from typing import Protocol

import numpy as np

from stetho_rt.classify.session import SessionSummary, window_features_of
from stetho_rt.classify.windows import FeatureWindow
from stetho_rt.config import CLASSIFIER_QUEUE
from stetho_rt.errors import ConfigError, PipelineError
from stetho_rt.events import CLASS_LABELS, Quality, Window


class Model(Protocol):
    """What the worker needs of a model (:class:`~stetho_rt.classify.model.OnnxClassifier`)."""

    labels: tuple[str, ...]

    def run(self, x: np.ndarray) -> np.ndarray: ...


class SessionHead(Protocol):
    """A model's session head (:class:`~stetho_rt.classify.model.OnnxHead`)."""

    n_features: int

    def run(self, x: np.ndarray) -> np.ndarray: ...


def make_window(fw: FeatureWindow, probs: np.ndarray, labels: tuple[str, ...],
                quality: Quality | None = None) -> Window:
    """The :class:`~stetho_rt.events.Window` event of a classified feature window (``quality``:
    instead of the window's own, e.g. for a repaired window)."""
    p = {k: float(probs[i]) for i, k in enumerate(labels)}
    return Window(
        start_s=fw.start_s,
        end_s=fw.end_s,
        probs=p,
        label=labels[int(np.argmax(probs))],
        decided_s=fw.decided_s,
        quality=fw.quality if quality is None else quality,
    )


class ClassifierWorker:
    """A thread that classifies feature windows from a bounded drop-oldest queue.

    Parameters
    ----------
    model : Model
        ``run(x[None, :]) -> (1, 3)`` probabilities and ``labels``.
    maxsize : int
        Queue capacity [windows] (:data:`~stetho_rt.config.CLASSIFIER_QUEUE`).
    blocking : bool
        False (live): a full queue drops its oldest window. True (batch): ``submit`` waits.
    name : str
        Thread name.

    Attributes
    ----------
    submitted, processed, dropped : int
        Windows handed in, classified, and dropped unclassified (live mode only).
    session_probs : ndarray, shape (3,), or None
        The session head's probabilities after the last collected window (None: no head, or
        no window since the last :meth:`reset_session`).
    """

    def __init__(
        self,
        model: Model,
        maxsize: int = CLASSIFIER_QUEUE,
        *,
        blocking: bool = False,
        name: str = "stetho-classifier",
    ) -> None:
        if maxsize < 1:
            raise ConfigError(f"classifier queue size {maxsize} must be at least 1")
        self.model = model
        self.maxsize = int(maxsize)
        self.blocking = bool(blocking)
        self.submitted = 0
        self.processed = 0
        self.dropped = 0
        self.error: BaseException | None = None
        self.session_probs: np.ndarray | None = None
        head: SessionHead | None = getattr(model, "session", None)
        # the session head with the summary it reads (worker thread only), or None; the head
        # reads the summary's n window-feature means and n spreads plus the mean quality
        self._session = None if head is None else (
            head, SessionSummary(window_features_of(int(head.n_features))))
        self._session_no = 0  # bumped by reset_session (DSP thread, under the lock)
        self._summary_no = 0  # the session the summary holds (worker thread only)
        self._queue: deque[tuple[FeatureWindow, bool]] = deque()  # (window, repaired)
        self._out: deque[tuple[int, Window, np.ndarray | None]] = deque()
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side (DSP thread)
    def submit(self, fw: FeatureWindow, repaired: bool = False) -> None:
        """Queue one window (drops the oldest when full in live mode; waits in batch mode);
        ``repaired``: it holds input replaced by zeros (its quality index becomes 0)."""
        self._raise_error()
        with self._cond:
            if self._closed:
                return
            if self.blocking:
                while len(self._queue) >= self.maxsize and self.error is None and not self._closed:
                    self._cond.wait(0.1)
            elif len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((fw, repaired))
            self.submitted += 1
            self._cond.notify_all()
        self._raise_error()

    def collect(self) -> list[Window]:
        """Windows classified since the last call (non-blocking), oldest first."""
        self._raise_error()
        out: list[Window] = []
        current = self._session_no
        while self._out:
            number, window, head_probs = self._out.popleft()
            if number != current:  # classified for a session that has been reset since
                continue
            out.append(window)
            if head_probs is not None:
                self.session_probs = head_probs
        return out

    def reset_session(self) -> None:
        """New session (DSP thread): windows still queued are discarded (not counted as dropped),
        results of the old session are never collected, and the summary restarts with the next
        window. Safe while the worker is busy; call :meth:`drain` first to keep the old results."""
        with self._cond:
            self._queue.clear()
            self._session_no += 1
        self.session_probs = None

    def drain(self, timeout: float | None = None) -> list[Window]:
        """Wait until every queued window is classified (or ``timeout`` [s]); then collect."""
        with self._cond:
            self._cond.wait_for(self._idle, timeout)
        return self.collect()

    def _idle(self) -> bool:
        return (not self._queue and not self._busy) or self.error is not None or self._closed

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread (waiting windows are discarded, not counted as dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        labels = tuple(self.model.labels)
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    fw, repaired = self._queue.popleft()
                    number = self._session_no
                    self._busy = True
                    self._cond.notify_all()
                probs = np.asarray(self.model.run(fw.vector[None, :]))[0]
                quality = replace(fw.quality, index=0.0, repaired=True) if repaired else fw.quality
                head_probs = None
                if self._session is not None:
                    head, summary = self._session
                    if number != self._summary_no:
                        summary.reset()
                        self._summary_no = number
                    summary.add(fw.vector, quality.index, summarise=quality.heard)
                    head_probs = np.asarray(head.run(summary.vector()[None, :]))[0]
                self._out.append((number, make_window(fw, probs, labels, quality), head_probs))
                with self._cond:
                    self.processed += 1
                    self._busy = False
                    self._cond.notify_all()
        except BaseException as exc:  # stored and re-raised on the DSP thread
            with self._cond:
                self.error = exc
                self._busy = False
                self._cond.notify_all()

    def _raise_error(self) -> None:
        if self.error is not None:
            exc = self.error
            raise PipelineError(f"stetho-classifier: {type(exc).__name__}: {exc}") from exc


__all__ = ["CLASS_LABELS", "ClassifierWorker", "make_window"]
