"""ClassifierWorker: drop-oldest queue under a slow model, no drops in batch mode, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from stetho_rt.classify.windows import FeatureWindow
from stetho_rt.classify.worker import ClassifierWorker
from stetho_rt.errors import PipelineError
from stetho_rt.events import CLASS_LABELS, Quality


class SlowModel:
    """Probabilities from the first vector component; sleeps ``delay`` per call."""

    labels = CLASS_LABELS

    def __init__(self, delay: float = 0.0, fail_at: int = -1) -> None:
        self.delay = delay
        self.fail_at = fail_at
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def run(self, x: np.ndarray) -> np.ndarray:
        self.gate.wait()
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        time.sleep(self.delay)
        p = np.array([[x[0, 0], 1.0 - x[0, 0], 0.0]], np.float32)
        return p


def _fw(i: int) -> FeatureWindow:
    v = np.full(4, (i % 10) / 10.0, np.float32)
    return FeatureWindow.from_vector(i, float(i), i + 4.0, i + 4.1, v, Quality(0.9))


def test_live_drops_oldest_and_counts() -> None:
    model = SlowModel()
    model.gate.clear()  # the worker blocks on its first window
    w = ClassifierWorker(model, maxsize=4, blocking=False)
    try:
        for i in range(20):
            w.submit(_fw(i))  # never blocks
        assert w.submitted == 20
        # one window is inside the model, 4 wait, the rest were dropped (oldest first)
        time.sleep(0.05)
        model.gate.set()
        out = w.drain(timeout=5)
        assert w.dropped + w.processed == 20 == w.dropped + len(out)
        assert w.dropped in (15, 16)  # 16 if the worker had not yet taken the first window
        starts = [x.start_s for x in out]
        assert starts[-4:] == [16.0, 17.0, 18.0, 19.0]  # the newest survive
    finally:
        w.close()


def test_live_submit_never_waits_on_inference() -> None:
    model = SlowModel(delay=0.05)
    w = ClassifierWorker(model, maxsize=2, blocking=False)
    try:
        t0 = time.perf_counter()
        for i in range(50):
            w.submit(_fw(i))
        assert time.perf_counter() - t0 < 0.05
        assert w.dropped > 0
    finally:
        w.close()


def test_batch_mode_processes_every_window_in_order() -> None:
    model = SlowModel(delay=0.002)
    w = ClassifierWorker(model, maxsize=2, blocking=True)
    try:
        got = []
        for i in range(30):
            w.submit(_fw(i))
            got += w.collect()
        got += w.drain(timeout=5)
        assert w.dropped == 0 and w.processed == 30
        assert [x.start_s for x in got] == [float(i) for i in range(30)]
        assert got[3].probs["normal"] == pytest.approx(0.3)
        assert got[3].label == "murmur" and got[3].quality.index == pytest.approx(0.9)
    finally:
        w.close()


def test_worker_error_is_raised_on_dsp_side() -> None:
    w = ClassifierWorker(SlowModel(fail_at=2), maxsize=4, blocking=True)
    try:
        w.submit(_fw(0))
        w.submit(_fw(1))
        with pytest.raises(PipelineError, match="boom"):
            w.drain(timeout=5)
    finally:
        w.close()


def test_close_stops_thread() -> None:
    w = ClassifierWorker(SlowModel(), maxsize=2)
    w.close()
    assert not w._thread.is_alive()
    w.submit(_fw(0))  # ignored after close
