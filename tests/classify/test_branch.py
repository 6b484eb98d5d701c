"""ClassifierBranch: windower + worker + verdict; same audio -> same probabilities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stetho_rt.classify.branch import ClassifierBranch
from stetho_rt.classify.model import OnnxClassifier, default_model_path
from stetho_rt.config import PipelineConfig
from tests.classify.helpers import frames_of, heart_like


@pytest.fixture(scope="module")
def clf() -> OnnxClassifier:
    return OnnxClassifier.load(default_model_path())


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return frames_of(heart_like(14.0, np.random.default_rng(3)))


def _run(clf: OnnxClassifier, frames: np.ndarray, chunk: int, *, blocking: bool,
         queue: int = 8) -> tuple[list, dict]:
    cfg = dataclasses.replace(PipelineConfig(), classifier_queue=queue)
    br = ClassifierBranch(clf, cfg, blocking=blocking)
    try:
        out = []
        for i in range(0, frames.shape[0], chunk):
            out += br.process(frames[i : i + chunk])
        out += br.flush()
        return out, br.verdict()
    finally:
        br.close()


def test_same_audio_same_probs_any_chunking(clf: OnnxClassifier, frames: np.ndarray) -> None:
    ref, v_ref = _run(clf, frames, frames.shape[0], blocking=True)
    assert len(ref) == (frames.shape[0] - 500) // 125 + 1
    for chunk in (1, 17, 250):
        got, v = _run(clf, frames, chunk, blocking=True, queue=1)
        assert [w.to_json() for w in got] == [w.to_json() for w in ref]
        assert v == v_ref


def test_live_mode_without_pressure_matches_batch(clf: OnnxClassifier, frames: np.ndarray) -> None:
    ref, v_ref = _run(clf, frames, 40, blocking=True)
    got, v = _run(clf, frames, 40, blocking=False, queue=1000)
    assert [w.probs for w in got] == [w.probs for w in ref]
    assert v == v_ref


def test_verdict_shape(clf: OnnxClassifier, frames: np.ndarray) -> None:
    ws, v = _run(clf, frames, 100, blocking=True)
    assert v["label"] in ("normal", "murmur", "artifact")
    assert sum(v["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert v["windows"] == len(ws)
    for w in ws:
        assert w.label == max(w.probs, key=w.probs.get)
        assert sum(w.probs.values()) == pytest.approx(1.0, abs=1e-5)


def test_short_stream_is_artifact(clf: OnnxClassifier, frames: np.ndarray) -> None:
    ws, v = _run(clf, frames[:400], 100, blocking=True)
    assert ws == [] and v["label"] == "artifact"


def test_verdict_blends_the_session_head_and_reset_restarts_it(
    clf: OnnxClassifier, frames: np.ndarray
) -> None:
    from stetho_rt.classify.session import session_vector
    from stetho_rt.classify.verdict import aggregate_windows
    from stetho_rt.classify.windows import windows_of

    br = ClassifierBranch(clf, PipelineConfig(), blocking=True)
    try:
        for _ in range(2):  # the second session must not remember the first
            ws = br.process(frames) + br.flush()
            fws = windows_of(frames, PipelineConfig().dsp, 4.0, 1.0)
            sv = session_vector((w.vector for w in fws), [w.quality.index for w in fws],
                                clf.n_features, [w.quality.heard for w in fws])
            session = clf.session.run(sv)[0]
            np.testing.assert_array_equal(br.worker.session_probs, session)
            assert br.verdict() == aggregate_windows(ws, clf.rules, session)
            br.reset()
            assert br.worker.session_probs is None
    finally:
        br.close()


def test_new_session_forgets_the_old_site(clf: OnnxClassifier, frames: np.ndarray) -> None:
    """After ``new_session(at)`` only windows starting at ``at`` or later are classified; the
    verdict and the session head see exactly those, and the time base carries on."""
    from stetho_rt.classify.session import session_vector
    from stetho_rt.classify.verdict import aggregate_windows
    from stetho_rt.classify.windows import windows_of

    at_s = 5.0
    half = 700  # frames: 5.6 s, so windows starting before 5 s are still to be cut
    br = ClassifierBranch(clf, PipelineConfig(), blocking=True)
    try:
        first = br.process(frames[:half])
        br.worker.drain(5)
        br.new_session(at_s)
        assert br.verdict() is None and br.worker.session_probs is None  # nothing to say yet
        rest = br.process(frames[half:]) + br.flush()
        all_windows = windows_of(frames, PipelineConfig().dsp, 4.0, 1.0)
        new = [w for w in all_windows if w.start_s >= at_s]
        assert [w.start_s for w in rest] == [w.start_s for w in new] and len(new) >= 4
        assert all(w.start_s < at_s for w in first)
        sv = session_vector((w.vector for w in new), [w.quality.index for w in new],
                            clf.n_features, [w.quality.heard for w in new])
        session = clf.session.run(sv)[0]
        np.testing.assert_array_equal(br.worker.session_probs, session)
        assert br.verdict() == aggregate_windows(rest, clf.rules, session)
    finally:
        br.close()
