"""The classifier inside the live path (DspGraph + Pipeline): batch fills every window, the same
audio gives the same numbers in batch and live mode. Skipped until the graph takes ``live=``."""

from __future__ import annotations

import numpy as np

from stetho_rt.classify.model import OnnxClassifier, default_model_path
from stetho_rt.config import PipelineConfig
from stetho_rt.io.demo import DemoHeart
from stetho_rt.io.source import ReplaySource
from stetho_rt.pipeline import Pipeline


def _run(clf: OnnxClassifier, *, live: bool) -> Pipeline:
    cfg = PipelineConfig()
    src = ReplaySource.from_demo(DemoHeart(rate=4000, duration_s=12.5, seed=5), cfg.stream,
                                 free_run=True)
    pipe = Pipeline(src, cfg, live=live, classifier=clf)
    pipe.start()
    assert pipe.wait(60)
    pipe.stop()
    assert pipe.error is None, pipe.error
    return pipe


def test_batch_classifies_every_window_and_is_deterministic() -> None:
    clf = OnnxClassifier.load(default_model_path())
    a = _run(clf, live=False)
    b = _run(clf, live=False)
    wa = [w.to_json() for w in a.events.windows]
    # 12.5 s -> 1622 STFT frames at 2 kHz -> windows starting at 0..8 s
    assert len(wa) == 9
    assert wa == [w.to_json() for w in b.events.windows]
    v = a.graph.verdict()
    assert v is not None and v == b.graph.verdict()
    assert v["windows"] == len(wa)
    assert a.graph.classify.dropped == 0


def test_live_windows_match_batch_numbers() -> None:
    clf = OnnxClassifier.load(default_model_path())
    batch = {w.start_s: w.probs for w in _run(clf, live=False).events.windows}
    live = _run(clf, live=True)
    got = {w.start_s: w.probs for w in live.events.windows}
    assert len(got) + live.graph.classify.dropped == len(batch)
    for start, probs in got.items():
        assert probs == batch[start]


def test_new_session_applies_on_the_dsp_thread() -> None:
    """``Pipeline.new_session()`` (UI thread) takes effect before the DSP thread's next block:
    afterwards the window log and the verdict hold only windows that start at or after it."""
    import time

    clf = OnnxClassifier.load(default_model_path())
    cfg = PipelineConfig()
    src = ReplaySource.from_demo(DemoHeart(rate=4000, duration_s=40.0, seed=5), cfg.stream,
                                 speed=8.0)  # paced: 40 s of audio in 5 s
    pipe = Pipeline(src, cfg, live=False, classifier=clf)
    pipe.start()
    try:
        while pipe.samples_in < 12 * src.rate:
            assert pipe.error is None and not pipe.finished.is_set()
            time.sleep(0.01)
        at_s = pipe.new_session()
        assert pipe.wait(60)
        # the stream has ended but the pipeline is not stopped (a replay over, the dashboard
        # still open): refused, nothing would apply it
        assert pipe.new_session() is None
    finally:
        pipe.stop()
    assert pipe.error is None, pipe.error
    starts = [w.start_s for w in pipe.events.windows]
    assert starts and min(starts) >= at_s >= 12.0
    assert pipe.graph.verdict()["windows"] == len(starts)
    assert ("new session" in [label for _, label in pipe.marks])
    # applied at the time the request marked, not at wherever the DSP thread had got to
    assert pipe.graph.classify._session_start_s == at_s
    assert pipe.new_session() is None  # the stream has ended: nothing would apply it
    assert [label for _, label in pipe.marks].count("new session") == 1


def test_no_new_session_after_stop() -> None:
    """A stopped pipeline refuses a new session: nothing would apply it."""
    cfg = PipelineConfig()
    src = ReplaySource.from_demo(DemoHeart(rate=4000, duration_s=40.0, seed=5), cfg.stream,
                                 speed=1.0)
    pipe = Pipeline(src, cfg, live=True, classifier=OnnxClassifier.load(default_model_path()))
    pipe.start()
    pipe.stop()
    assert pipe.new_session() is None


def test_heads_run_once_at_load_not_per_graph(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each model's ONNX heads have their first run when it is loaded (a check of their output,
    :meth:`OnnxHead.probe`), so no graph holding it runs them again before its stream, whether
    or not the graph's DSP kernels were already warm in this process."""
    from stetho_rt.classify.model import OnnxHead
    from stetho_rt.graph import DspGraph

    cfg = PipelineConfig()
    probed: list[str] = []
    real_probe = OnnxHead.probe

    def counted(head: OnnxHead) -> None:
        probed.append(head.path.name)
        real_probe(head)

    monkeypatch.setattr(OnnxHead, "probe", counted)
    for _ in range(2):
        probed.clear()
        clf = OnnxClassifier.load(default_model_path())
        assert probed == ["classifier.onnx", "classifier_session.onnx"]
        DspGraph(4000, cfg, max_block=400, classifier=clf, live=False).warm_up()
        assert len(probed) == 2


def _demo_and_damaged(tmp_path, seconds: int, span_s: tuple[int, int], value: float):  # type: ignore[no-untyped-def]
    """A normal demo heart (4 kHz, ``seconds`` long) and a copy with ``span_s`` [s] set to
    ``value``, both as float WAV files in ``tmp_path``; and the shipped classifier.
    Returns ``(clean_path, damaged_path, classifier)``."""
    import soundfile as sf

    x = DemoHeart(rate=4000, seed=3).read(4000 * seconds)
    damaged = x.copy()
    damaged[span_s[0] * 4000 : span_s[1] * 4000] = value
    clean_path, damaged_path = tmp_path / "clean.wav", tmp_path / "damaged.wav"
    sf.write(clean_path, x, 4000, subtype="FLOAT")
    sf.write(damaged_path, damaged, 4000, subtype="FLOAT")
    cfg = PipelineConfig()
    clf = OnnxClassifier.load(None, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s)
    return clean_path, damaged_path, clf


def test_windows_over_repaired_input_are_not_clean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """1 s of inf replaced by zeros (counted) left its windows at quality 1.0, and the
    verdict of a normal demo turned murmur. Windows over repaired input now get quality 0, at
    every block size; the other windows are untouched."""
    from stetho_rt.analysis import analyze_file
    from stetho_rt.config import StreamConfig

    clean_path, bad_path, clf = _demo_and_damaged(tmp_path, 12, (4, 5), np.inf)
    clean = analyze_file(clean_path, classifier=clf)
    recs = [analyze_file(bad_path, PipelineConfig(stream=StreamConfig(block_seconds=b)),
                         classifier=clf) for b in (0.25, 0.01)]
    assert recs[0]["windows"] == recs[1]["windows"] and recs[0]["verdict"] == recs[1]["verdict"]
    rec = recs[0]
    assert rec["nonfinite_samples"] == 4000
    over = [w for w in rec["windows"] if w["start_s"] < 5.0 and w["end_s"] > 4.0]
    assert over and all(w["quality"] == 0.0 for w in over)
    for w, c in zip(rec["windows"], clean["windows"], strict=True):
        if w not in over:
            assert w["quality"] == c["quality"]
    assert rec["verdict"]["label"] == clean["verdict"]["label"] == "normal"


def test_windows_over_digital_silence_stay_out_of_the_verdict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """1 s of zeros inside a recording (a muted input, a dropout the device did not report) left
    the windows over it at quality 1.0 and in the session summary. Those holding more than
    0.2 s of it are now too quiet: quality 0, out of the verdict and the session summary; the
    others are untouched."""
    from stetho_rt.analysis import analyze_file

    clean_path, muted_path, clf = _demo_and_damaged(tmp_path, 14, (6, 7), 0.0)
    clean = analyze_file(clean_path, classifier=clf)
    rec = analyze_file(muted_path, classifier=clf)
    over = [w for w in rec["windows"] if min(w["end_s"], 7.0) - max(w["start_s"], 6.0) > 0.3]
    far = [i for i, w in enumerate(rec["windows"]) if w["end_s"] < 5.5 or w["start_s"] > 7.5]
    assert len(over) >= 4 and all(w["quality"] == 0.0 for w in over)
    for i in far:
        assert rec["windows"][i]["quality"] == clean["windows"][i]["quality"]
    assert rec["verdict"]["label"] == clean["verdict"]["label"] == "normal"
    assert rec["verdict"]["clean_windows"] == clean["verdict"]["clean_windows"] - len(over)


def test_audio_clipped_throughout_gets_the_artifact_verdict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A full-scale square wave (an input overdriven throughout: every sample clipped) was
    classified normal at 2 Hz and murmur at 0.8 Hz, every window at quality 0.5 (16 and 7 of
    16 clean; s25_square_676c488.log). Its
    windows are now overdriven (quality 0), none is clean and the verdict says so; every
    sample is still counted as clipped."""
    import soundfile as sf

    from stetho_rt.analysis import analyze_file

    cfg = PipelineConfig()
    clf = OnnxClassifier.load(None, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s)
    t = np.arange(20 * 4000) / 4000.0
    for hz in (0.8, 2.0):
        path = tmp_path / f"square_{hz}.wav"
        sf.write(path, np.sign(np.sin(2 * np.pi * hz * t) + 1e-9), 4000, subtype="PCM_16")
        rec = analyze_file(path, classifier=clf)
        assert rec["clipped_samples"] == t.size
        assert rec["windows"] and all(w["quality"] == 0.0 for w in rec["windows"])
        assert rec["verdict"]["label"] == "artifact" and rec["verdict"]["clean_windows"] == 0
