"""Online S1/S2 detector: block-size invariance, look-ahead bound, heart rate, no-estimate cases."""

from __future__ import annotations

import numpy as np
import pytest

from stetho_rt.config import DETECTOR_LOOKAHEAD_S, PipelineConfig
from stetho_rt.detect.features_v2 import HOP_SAMPLES
from stetho_rt.detect.heart_rate import BeatTracker
from stetho_rt.detect.s1s2 import DetectorOutput, S1S2Detector
from stetho_rt.detect.scoring import Annotation, score_recording
from stetho_rt.dsp.filters import bandpass
from stetho_rt.graph import DspGraph
from stetho_rt.io.demo import DemoHeart

RATE = 2000


def demo(
    hr: float, seconds: float = 20.0, seed: int = 1, **kw: object
) -> tuple[np.ndarray, DemoHeart]:
    """Band-passed synthetic heart sounds at 2 kHz and the generator (for its truth)."""
    h = DemoHeart(rate=RATE, hr_bpm=hr, seed=seed, duration_s=seconds, **kw)  # type: ignore[arg-type]
    x = h.read(int(seconds * RATE))
    return np.ascontiguousarray(bandpass(x), dtype=np.float32), h


def run(x: np.ndarray, block: int | None = None, det: S1S2Detector | None = None) -> DetectorOutput:
    det = det or S1S2Detector(PipelineConfig())
    out = DetectorOutput()
    step = block or max(x.shape[0], 1)
    for i in range(0, x.shape[0], step):
        o = det.process(x[i : i + step])
        out.sounds += o.sounds
        out.beats += o.beats
    o = det.flush()
    out.sounds += o.sounds
    out.beats += o.beats
    return out


def truth_annotation(h: DemoHeart) -> Annotation:
    c = {k: np.array([0.5 * (s.onset_s + s.offset_s) for s in h.truth(k)]) for k in ("S1", "S2")}
    return Annotation(c, np.array([[0.0, h.position_s]]), [c["S1"]])


@pytest.fixture(scope="module")
def demo72() -> tuple[np.ndarray, DemoHeart]:
    return demo(72.0, seconds=12.0)


@pytest.mark.parametrize("block", [1, 17, 509, None])
def test_block_size_invariance(demo72: tuple[np.ndarray, DemoHeart], block: int | None) -> None:
    x, _ = demo72
    ref = run(x, None)
    got = run(x, block)
    assert len(ref.sounds) > 10
    assert got.sounds == ref.sounds
    assert got.beats == ref.beats


def test_detects_demo_sounds(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    x, h = demo72
    out = run(x, 20)
    sc = score_recording([(s.kind, s.centre_s) for s in out.sounds], truth_annotation(h))
    # the emission model is trained on real recordings; the synthetic demo sounds differ from
    # them (measured F1@60ms 0.98 at 72 bpm): this guards against regressions only
    assert sc[("all", 0.06)].f1 > 0.9


def test_lookahead_bound(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    x, _ = demo72
    det = S1S2Detector(PipelineConfig(), time_offset_s=0.05)
    out = run(x, 20, det)
    lat = np.array([s.decided_s - s.offset_s for s in out.sounds])
    assert lat.size and lat.max() <= DETECTOR_LOOKAHEAD_S + 0.05 + 1e-9
    assert det.latency_s <= DETECTOR_LOOKAHEAD_S
    # decided_s is stream time, not shifted by time_offset_s
    assert all(s.decided_s <= x.shape[0] / RATE + 1e-9 for s in out.sounds)


@pytest.mark.parametrize("hr", [30.0, 45.0, 72.0, 110.0, 150.0, 190.0, 220.0])
def test_heart_rate_range(hr: float) -> None:
    x, _ = demo(hr, seconds=24.0 if hr < 50 else 16.0, seed=int(hr))
    det = S1S2Detector(PipelineConfig())
    out, running = DetectorOutput(), []
    for i in range(0, x.shape[0], 509):
        o = det.process(x[i : i + 509])
        out.sounds += o.sounds
        out.beats += o.beats
        running.append(det.heart_rate_bpm)
    out.beats += det.flush().beats
    est = det.recording_heart_rate_bpm()
    assert est is not None, f"no estimate at {hr} bpm"
    assert est == pytest.approx(hr, rel=0.05)
    assert out.beats and all(30.0 <= b.hr_bpm <= 220.0 for b in out.beats)
    # the running rate: tracked by the end, and never a multiple or sub-multiple for long
    shown = np.array([v for v in running if v is not None])
    assert shown.size and shown[-1] == pytest.approx(hr, rel=0.05)
    assert np.mean(np.abs(shown / hr - 1.0) <= 0.1) >= 0.95


@pytest.mark.parametrize("kind", ["noise", "silence"])
def test_no_estimate_on_noise_or_silence(kind: str, rng: np.random.Generator) -> None:
    n = 15 * RATE
    x = np.zeros(n, np.float32) if kind == "silence" else rng.standard_normal(n).astype(np.float32)
    x = np.ascontiguousarray(bandpass(x), dtype=np.float32) if kind == "noise" else x
    det = S1S2Detector(PipelineConfig())
    out = run(x, 509, det)
    assert det.recording_heart_rate_bpm() is None
    assert det.heart_rate_bpm is None
    assert len(out.beats) < 3


@pytest.mark.parametrize("kind", ["click then zeros", "DC offset", "heart then zeros"])
def test_no_sounds_read_into_digital_silence(kind: str) -> None:
    """The features are gain-free, so digital silence read as a rhythm (27 and 40 sounds, a
    187 bpm rate); digital silence (below SILENCE_DBFS) now carries no information. After real
    heart sounds, the silence stays silent too. "click then zeros" is what the pipeline sees of a
    lone click: the band-pass's spike suppressor removes it (its largest output sample is about
    3e-8), so the case is zeros; "DC offset" leaves the band-pass's decaying tail of the step."""
    n = 20 * RATE
    if kind == "click then zeros":
        x = np.zeros(n)
        x[RATE] = 0.9
    elif kind == "DC offset":
        x = np.full(n, 0.3)
    else:  # demo() is band-passed already: the raw generator's output, band-passed once below
        x = np.concatenate([DemoHeart(rate=RATE, hr_bpm=72.0, seed=1, duration_s=8.0)
                            .read(8 * RATE), np.zeros(n)])
    x = np.ascontiguousarray(bandpass(x.astype(np.float32)), dtype=np.float32)
    det = S1S2Detector(PipelineConfig())
    out = run(x, 509, det)
    if kind == "heart then zeros":
        assert len(out.sounds) > 10  # the heart was heard...
        assert max(s.offset_s for s in out.sounds) < 8.5  # ...and nothing after it
    else:
        assert out.sounds == []
        # no rhythm is read into the silence at all (it was, and only its emission was stopped)
        assert det.silent_sounds == 0
        assert det.recording_heart_rate_bpm() is None and det.heart_rate_bpm is None


@pytest.mark.parametrize("kind", ["DC offset", "click then zeros"])
def test_a_heart_after_digital_silence_is_read_afresh(kind: str) -> None:
    """20 s of silence, then the 72 bpm demo heart: the detector starts afresh at the heart, as
    after a gap. No sound is more than 60 ms from a true sound of its kind (the heart alone: 0).
    Before the detector restarted at the run's end, 3 were in the "click" case (20 s of zeros:
    the spike suppressor removes the click), from the running period and duration model carried
    through the silence; before the level statistics restarted, 4 (DC) and 5 (click)."""
    heart, h = demo(72.0, seconds=12.0)
    raw = np.full(20 * RATE, 0.3) if kind == "DC offset" else np.zeros(20 * RATE)
    if kind == "click then zeros":
        raw[RATE] = 0.9
    silence = bandpass(raw.astype(np.float32))
    out = run(np.ascontiguousarray(np.concatenate([silence, heart]), dtype=np.float32), 509)
    lead_s = silence.shape[0] / RATE
    truth = truth_annotation(h).centres
    wrong = [s for s in out.sounds
             if np.min(np.abs(truth[s.kind] - (s.centre_s - lead_s))) > 0.06]
    assert len(out.sounds) > 20 and wrong == []


def _rate_change_across(pause: str) -> tuple[S1S2Detector, DetectorOutput, list[float | None]]:
    """72 bpm for 10 s, then 2 s of digital silence (``pause="zeros"``) or a gap (``"gap"``),
    then 120 bpm for 12 s, in 100 ms blocks: the detector, its events and the running rate after
    each block of the second heart."""
    a, _ = demo(72.0, seconds=10.0, seed=2)
    b, _ = demo(120.0, seconds=12.0, seed=3)
    det = S1S2Detector(PipelineConfig())
    out = DetectorOutput()
    feed = [a, np.zeros(2 * RATE, np.float32)] if pause == "zeros" else [a]
    for x in feed:
        for i in range(0, x.shape[0], 200):
            o = det.process(x[i : i + 200])
            out.sounds += o.sounds
            out.beats += o.beats
    if pause == "gap":
        det.skip(2 * RATE)
    shown = []
    for i in range(0, b.shape[0], 200):
        o = det.process(b[i : i + 200])
        out.sounds += o.sounds
        out.beats += o.beats
        shown.append(det.heart_rate_bpm)
    return det, out, shown


def test_digital_silence_restarts_the_detector_like_a_gap() -> None:
    """Across 2 s of zeros the running rate is not carried over: the old 72 bpm was shown for
    2.5 s into the new 120 bpm heart; now, as after a gap, no rate until the new one (from 3.3 s).
    The beat sequence ends at the silence too: without that, the first beats after it gave 73 and
    76 bpm (the median of intervals of the old rhythm); with it about 120, as after the gap."""
    results = {p: _rate_change_across(p) for p in ("zeros", "gap")}
    shown_zeros, shown_gap = results["zeros"][2], results["gap"][2]
    # the same instants shown; not the same values (the frame features restart differently)
    assert [v is None for v in shown_zeros] == [v is None for v in shown_gap]
    assert all(v is None for v in shown_zeros[:30])
    later = np.array([v for v in shown_zeros[40:] if v is not None])
    assert later.size > 60 and np.all(np.abs(later - 120.0) < 6.0)
    after = {p: [b.hr_bpm for b in r[1].beats if b.s1_s > 12.0] for p, r in results.items()}
    assert len(after["zeros"]) > 10 and len(after["gap"]) > 10
    assert all(abs(hr - 120.0) < 12.0 for hr in after["zeros"][:2] + after["gap"][:2])


def test_block_size_invariance_across_digital_silence() -> None:
    """The restart at a silent run's end happens at a frame, not a block boundary."""
    a, _ = demo(72.0, seconds=6.0, seed=2)
    b, _ = demo(100.0, seconds=8.0, seed=3)
    x = np.ascontiguousarray(np.concatenate([a, np.zeros(RATE, np.float32), b]))
    ref = run(x, None)
    assert sum(s.centre_s > 7.0 for s in ref.sounds) > 10
    for block in (1, 17, 509):
        got = run(x, block)
        assert got.sounds == ref.sounds and got.beats == ref.beats


def test_sounds_the_rhythm_puts_in_a_short_dropout_are_counted_not_emitted() -> None:
    """Zeroed dropouts shorter than a silent run (0.45 s < 0.5 s: no restart) over every third
    S1 of a 72 bpm heart: the duration model carries the rhythm through them and its path places
    sounds there (4 of them, a one-off count at 0.45 s; none at 0.2 and 0.3 s), which are counted
    in ``silent_sounds`` and never emitted: no sound lies inside a dropout."""
    x, h = demo(72.0, seconds=20.0)
    dropouts = []
    for s1 in h.truth("S1")[5::3]:
        a = int((s1.onset_s - 0.05) * RATE)
        b = a + int(0.45 * RATE)
        x[a:b] = 0.0
        dropouts.append((a / RATE, b / RATE))
    det = S1S2Detector(PipelineConfig())
    out = run(x, 509, det)
    assert len(out.sounds) > 35
    assert det.silent_sounds > 0
    assert not [s for s in out.sounds if any(a <= s.onset_s and s.offset_s <= b
                                             for a, b in dropouts)]


def test_a_quiet_heart_is_still_heard() -> None:
    """60 dB down (-70 dBFS sounds) as many sounds come out, centres within 20 ms: the floor is
    for silence only."""
    x, _ = demo(72.0, seconds=12.0)
    loud = run(x, 509)
    quiet = run(np.ascontiguousarray(x * np.float32(1e-3)), 509)
    assert len(quiet.sounds) == len(loud.sounds) > 10
    assert max(abs(a.centre_s - b.centre_s) for a, b in zip(loud.sounds, quiet.sounds,
                                                            strict=True)) < 0.02


def _hum_with_burst(n: int) -> np.ndarray:
    """A 50 Hz hum at 4 kHz, ``n`` samples, with a 25 ms zeroed burst at 0.25 s (what the pipeline
    makes of a NaN burst): no heart sound, yet the burst leaves the autocorrelation a peak."""
    x = (0.1 * np.sin(2 * np.pi * 50 * np.arange(n) / 4000)).astype(np.float32)
    x[1000:1100] = 0.0
    return x


def _feed_reading_the_rate(g: DspGraph, x: np.ndarray) -> tuple[list[float | None], int]:
    """Feed ``x`` to the graph ``g`` in 100 ms blocks: the running rate after each block and the
    number of sounds emitted."""
    shown, sounds = [], 0
    for i in range(0, x.shape[0], 400):
        sounds += len(g.process(x[i : i + 400]).sounds)
        shown.append(g.heart_rate_bpm())
    return shown, sounds


def test_no_running_rate_without_a_heard_interval() -> None:
    """A 50 Hz hum with a zeroed burst: no heart sound, yet the burst leaves the autocorrelation
    a peak. The running rate showed 145 bpm in half the blocks from 3.3 s on (the session rate
    already said None); neither may report a rate without an S1-S1 interval heard."""
    g = DspGraph(4000, PipelineConfig(), max_block=400, classifier=None, live=False)
    shown, sounds = _feed_reading_the_rate(g, _hum_with_burst(40000))
    assert sounds == 0
    assert shown == [None] * len(shown)
    assert g.recording_heart_rate_bpm() is None


def test_no_running_rate_after_a_gap_from_intervals_heard_before_it() -> None:
    """10 s of heart sounds, a gap, then the hum of the test above: the autocorrelation starts
    over after the gap, and an S1-S1 interval heard before it must not vouch for the hum's peak
    (it showed 145 bpm in 27 of 60 blocks). The session rate still has the heart's intervals."""
    heart = DemoHeart(rate=4000, hr_bpm=72.0, seed=1, duration_s=10.0).read(40000)
    g = DspGraph(4000, PipelineConfig(), max_block=400, classifier=None, live=False)
    for i in range(0, heart.shape[0], 400):
        g.process(np.ascontiguousarray(heart[i : i + 400], dtype=np.float32))
    assert g.heart_rate_bpm() is not None  # the heart's rate before the gap
    g.process(np.zeros(400, np.float32), gap=True)
    shown, sounds = _feed_reading_the_rate(g, _hum_with_burst(24000))
    assert sounds == 0
    assert shown == [None] * len(shown)
    rate = g.recording_heart_rate_bpm()
    assert rate is not None and abs(rate - 72.0) < 5.0


def test_gap_resets_context_keeps_time(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    x, _ = demo72
    det = S1S2Detector(PipelineConfig())
    a = det.process(x[:8000])
    det.skip(4000)
    b = det.process(x[8000:])
    c = det.flush()
    later = b.sounds + c.sounds
    assert later and min(s.onset_s for s in later) >= 6.0  # 8000 + 4000 samples = 6 s
    assert all(s.offset_s <= 4.0 + 1e-9 for s in a.sounds)


def test_reset_repeats_output(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    x, _ = demo72
    det = S1S2Detector(PipelineConfig())
    first = run(x, 509, det)
    det.reset()
    second = run(x, 509, det)
    assert first.sounds == second.sounds


def test_last_envelope_shape(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    x, _ = demo72
    det = S1S2Detector(PipelineConfig())
    det.process(x[:2000])
    env = det.last_envelope
    assert env.ndim == 2 and env.shape[1] == 2 and env.dtype == np.float32
    assert env.shape[0] == 100


def test_no_display_envelope_changes_no_event(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    """Batch analysis leaves out the display envelope: the sounds, beats and rates are the same
    to the bit, and the envelope is empty."""
    x, _ = demo72
    shown = S1S2Detector(PipelineConfig())
    hidden = S1S2Detector(PipelineConfig(), display_envelope=False)
    hidden.warm_up()  # warms the envelope kernel too (a live graph may follow in the process)
    a, b = run(x, 509, shown), run(x, 509, hidden)
    assert a.sounds == b.sounds and a.beats == b.beats and len(a.sounds) > 20
    assert shown.recording_heart_rate_bpm() == hidden.recording_heart_rate_bpm()
    shown.reset()
    hidden.reset()
    shown.process(x[:2000])
    hidden.process(x[:2000])
    assert hidden.last_envelope.shape == (0, 2) and shown.last_envelope.shape == (100, 2)


def test_last_envelope_holds_a_call_longer_than_max_block(
        demo72: tuple[np.ndarray, DemoHeart]) -> None:
    """A batch call of many blocks returns every envelope frame (it used to keep only what fit a
    buffer of ``max_block`` samples, and the graph's flush had to feed it block by block)."""
    x, _ = demo72
    n = 11200  # 5.6 s: two sounds are still undecided at the end
    whole = S1S2Detector(PipelineConfig(), max_block=200)
    whole.process(x[:n])
    pieces = S1S2Detector(PipelineConfig(), max_block=200)
    envs = []
    for i in range(0, n, 200):
        pieces.process(x[i : i + 200])
        envs.append(pieces.last_envelope.copy())
    np.testing.assert_array_equal(whole.last_envelope, np.concatenate(envs))
    assert whole.last_envelope.shape[0] == n // HOP_SAMPLES
    # the end-of-stream padding (29 frames) is fed in max_block pieces too: it used to go in one
    # block and the frame features wrote past their buffer (heap corruption at max_block=200)
    flushed = whole.flush().sounds
    assert len(flushed) == 2 and flushed == pieces.flush().sounds
    assert whole.flush().sounds == []  # nothing left after the first flush


def test_frame_features_refuse_a_block_longer_than_max_block() -> None:
    from stetho_rt.detect.features_v2 import FrameFeatures

    fe = FrameFeatures(max_block=200)
    assert 0 < fe.process(np.zeros(200, np.float32)).shape[0] <= 200 // HOP_SAMPLES
    with pytest.raises(ValueError, match="exceeds max_block=200"):
        fe.process(np.zeros(201, np.float32))


def test_rejects_bad_input() -> None:
    det = S1S2Detector(PipelineConfig())
    with pytest.raises(TypeError):
        det.process(np.zeros(10))  # float64


@pytest.mark.parametrize("block", [1, 17, 509])
def test_features_v2_block_size_invariance(
    demo72: tuple[np.ndarray, DemoHeart], block: int
) -> None:
    from stetho_rt.detect.features_v2 import N_FEATURES, FrameFeatures

    x, _ = demo72
    ref = FrameFeatures(max_block=x.shape[0]).process(x).copy()
    fe = FrameFeatures(max_block=509)
    got = np.concatenate([fe.process(x[i : i + block]).copy() for i in range(0, x.shape[0], block)])
    assert ref.shape == (x.shape[0] // 20 - 4, N_FEATURES)
    np.testing.assert_array_equal(got, ref)


def test_heart_rate_halving_contrast_track() -> None:
    """Systole ~ diastole: the S1/S2 contrast autocorrelation keeps the full period."""
    from stetho_rt.detect.heart_rate import _autocorr_period, lag_range

    rate, period = 100.0, 0.6
    t = np.arange(800) / rate
    ph = (t % period) / period
    s1 = (ph < 0.15).astype(float)
    s2 = ((ph > 0.5) & (ph < 0.62)).astype(float)
    k = lag_range(rate / 2, 30.0, 220.0)[1] + 3  # lags 0 .. kmax + 2, as the detector sizes it
    r, rd, acc, out = np.zeros(k), np.zeros(k), np.zeros((2, k)), np.zeros(2)
    assert _autocorr_period(
        s1 + s2, s1 - s2, 800, 0, 1024, rate, 30.0, 220.0, np.zeros(401), r, rd, acc, out
    )
    assert out[0] == pytest.approx(period, rel=0.03)


def test_merge_split_intervals() -> None:
    """At slow rates an S2 taken for an S1 splits the interval; the refinement merges the parts."""
    from stetho_rt.detect.s1s2 import _merge_split_intervals

    rr = np.array([1.5, 0.5, 1.45, 0.55, 2.05, 0.5, 1.5])
    got = _merge_split_intervals(rr, 2.0, 0.3)
    np.testing.assert_allclose(got, [2.0, 2.0, 2.05, 2.0])  # 2.05 + 0.5 fits worse than 2.05
    # intervals near the period are left alone
    np.testing.assert_array_equal(_merge_split_intervals(rr[[0, 2, 4]], 2.0, 0.3), rr[[0, 2, 4]])


def test_alternation_tells_systole_diastole_from_a_rhythm_at_the_half() -> None:
    """S2s taken for S1s at 75 bpm give intervals alternating 0.33 / 0.47 s around half the
    period (0.4 s); a real rhythm there is regular. Fewer than 3 pairs are no evidence."""
    from stetho_rt.detect.s1s2 import HALF_ALTERNATION_MAX, HR_REFINE_TOL, _alternation

    split = np.tile([0.33, 0.47], 8)
    assert _alternation(split, 0.4, HR_REFINE_TOL) == pytest.approx(0.175)
    regular = 0.4 + 0.01 * np.sin(np.arange(16))  # slow variation, as sinus arrhythmia
    assert _alternation(regular, 0.4, HR_REFINE_TOL) < 0.03
    assert _alternation(regular, 0.4, HR_REFINE_TOL) < 0.089 < HALF_ALTERNATION_MAX < 0.135
    assert _alternation(split[:3], 0.4, HR_REFINE_TOL) == 0.0  # 2 pairs only
    # pairs with an interval off the half (a missed sound) are left out
    gappy = np.array([0.33, 0.47, 0.8, 0.4, 0.41, 0.4, 0.39])
    assert _alternation(gappy, 0.4, HR_REFINE_TOL) < 0.02


def test_session_period_takes_a_regular_half_but_not_an_alternating_one() -> None:
    """The session period: the autocorrelation says 0.8 s. Regular intervals at 0.4 s (a real
    rhythm at 150 bpm whose autocorrelation took the double) move it to the half; intervals
    alternating 0.33 / 0.47 s (S2s taken for S1s at 75 bpm) do not, and it is refined by the few
    whole intervals instead; the double is refused while S1 recurs at the period."""
    from stetho_rt.detect.s1s2 import session_period_s

    lo, hi = 60.0 / 220.0, 2.0
    regular = 0.4 + 0.004 * np.sin(np.arange(30))
    assert session_period_s(regular, 0.8, lo, hi, s1_recurs=False) == pytest.approx(0.4, abs=0.01)
    split = np.r_[np.tile([0.33, 0.47], 12), [0.79, 0.8, 0.81, 0.8, 0.8]]
    assert session_period_s(split, 0.8, lo, hi, s1_recurs=False) == pytest.approx(0.8)
    # every other S1 missed: double intervals, taken unless S1 recurs at the period
    missed = np.r_[np.full(20, 1.6), np.full(3, 0.8)]
    assert session_period_s(missed, 0.8, lo, hi, s1_recurs=False) == pytest.approx(1.6)
    assert session_period_s(missed, 0.8, lo, hi, s1_recurs=True) == 0.8
    # too few intervals near the period: the autocorrelation's period as it is
    assert session_period_s(np.array([0.8, 0.81]), 0.8, lo, hi, s1_recurs=False) == 0.8


def test_missing_detector_model_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from stetho_rt.detect.emission import EmissionModel
    from stetho_rt.errors import ModelError

    with pytest.raises(ModelError, match="detector model not found"):
        EmissionModel.load(tmp_path / "missing.json")


@pytest.mark.parametrize(("before", "after"), [(75.0, 95.0), (95.0, 75.0), (75.0, 110.0),
                                               (110.0, 75.0)])
def test_running_rate_follows_a_step_within_a_few_beats(before: float, after: float) -> None:
    """A step change of the rate (exercise, a tachycardia's onset): the running rate is within
    5 bpm of the new rate from the decision of the 4th S1 after the step on, i.e. after 3 new
    intervals (README: 3 beats; the 8 s autocorrelation alone took 5-13 beats)."""
    step_s, seconds = 20.0, 36.0
    h = DemoHeart(rate=RATE, hr_bpm=before, seed=int(before + after), duration_s=seconds)
    first = h.read(int(step_s * RATE))
    h.change_rate(after)
    x = np.ascontiguousarray(bandpass(np.concatenate([first, h.read(int(seconds * RATE))])),
                             dtype=np.float32)
    det = S1S2Detector(PipelineConfig())
    shown: list[tuple[float, float | None]] = []
    sounds = []
    block = RATE // 10
    for i in range(0, x.shape[0], block):
        sounds += det.process(x[i : i + block]).sounds
        shown.append(((i + block) / RATE, det.heart_rate_bpm))
    s1_after = [(s.onset_s + s.offset_s) / 2 for s in h.truth("S1") if s.onset_s >= step_s]
    fourth = [s for s in sounds if s.kind == "S1" and abs(s.centre_s - s1_after[3]) <= 0.06]
    assert fourth and fourth[0].decided_s - fourth[0].offset_s <= DETECTOR_LOOKAHEAD_S
    settled_from = fourth[0].decided_s
    late = [v for t, v in shown if t >= settled_from]
    assert late and all(v is not None and abs(v - after) <= 5.0 for v in late), (
        f"{before:g}->{after:g} bpm: {[None if v is None else round(v) for v in late]}")
    # and before the step it showed the old rate
    early = [v for t, v in shown if step_s - 6.0 <= t < step_s]
    assert all(v is not None and abs(v - before) <= 5.0 for v in early)


def test_beat_tracker_takes_a_regular_new_rhythm_but_not_a_harmonic_one() -> None:
    def feed(bt: BeatTracker, intervals: list[float], period: float, t0: float = 0.0) -> list:
        t, beats = t0, []
        bt.add_s1(t, t, period)
        for rr in intervals:
            t += rr
            beats.append(bt.add_s1(t, t, period))
        return beats

    bt = BeatTracker()
    beats = feed(bt, [0.8, 0.8, 0.8, 0.5, 0.51, 0.5, 0.5], period=0.8)
    assert [b is not None for b in beats] == [True, True, True, False, False, True, True]
    # the new rhythm replaced the old intervals: its beats show its own rate at once
    assert beats[-1].hr_bpm == pytest.approx(120.0, rel=0.02)
    assert bt.run_period_s(0.8) == pytest.approx(0.5, rel=0.02)
    # every other S1 missed: a steady run at twice the period is left to the autocorrelation
    bt = BeatTracker()
    beats = feed(bt, [0.4, 0.4, 0.8, 0.8, 0.8, 0.8], period=0.4)
    assert [b is not None for b in beats] == [True, True, False, False, False, False]
    # irregular intervals (missed and extra sounds) are no new rhythm either
    bt = BeatTracker()
    beats = feed(bt, [0.8, 0.8, 0.5, 1.2, 0.55, 1.1], period=0.8)
    assert [b is not None for b in beats] == [True, True, False, False, False, False]
    assert bt.run_period_s(0.8) is None  # the last intervals are not a regular run


def _following_a_step_to_140_bpm() -> tuple[BeatTracker, float]:
    """A tracker that saw S1s at 100 then 140 bpm (0.6 -> 0.43 s) with the autocorrelation
    still at 0.6 s, so it follows the new rhythm; and the time of the last S1 [s]."""
    bt = BeatTracker()
    t = 0.0
    bt.add_s1(t, t, 0.6)
    for rr in (0.6, 0.6, 0.43, 0.43, 0.43):
        t += rr
        bt.add_s1(t, t, 0.6)
    return bt, t


def test_beats_of_a_followed_rhythm_survive_the_autocorrelation_passing_a_multiple() -> None:
    """After a 100 -> 140 bpm step the 8 s autocorrelation held both rates and read 1.76, 1.26,
    then 0.86 s (twice the new period) before it settled: the beat at 0.86 was dropped as 'off
    the period' although it continued the rhythm being followed (the demo heart, seed 0, in the
    step of tools/eval_rate_tracking.py)."""
    bt, t = _following_a_step_to_140_bpm()
    assert bt.display_period_s(0.6, t + 0.1) == pytest.approx(0.43)  # the new rhythm followed
    beats = []
    for period in (1.76, 1.26, 0.86, 0.43):
        t += 0.43
        beats.append(bt.add_s1(t, t, period))
    assert all(b is not None for b in beats)
    assert all(b.hr_bpm == pytest.approx(60 / 0.43) for b in beats)
    # a missed S1 after the autocorrelation caught up is no beat
    t += 0.86
    assert bt.add_s1(t, t, 0.43) is None


def test_a_followed_rhythm_survives_a_missed_s1() -> None:
    """A missed S1 while the autocorrelation reads twice the new period: no beat for the double
    interval (it used to be taken as one, at the autocorrelation's period), and the rhythm stays
    followed, so the beats after it count (it used to end the following, and with the
    autocorrelation at a multiple no new run could start it again)."""
    bt, t = _following_a_step_to_140_bpm()
    t += 0.86
    assert bt.add_s1(t, t, 0.86) is None  # the missed S1
    assert bt.display_period_s(0.86, t + 0.1) == pytest.approx(0.43)
    beats = []
    for _ in range(3):
        t += 0.43
        beats.append(bt.add_s1(t, t, 0.86))
    assert all(b is not None and b.hr_bpm == pytest.approx(60 / 0.43) for b in beats)
    assert bt.display_period_s(0.86, t + 0.1) == pytest.approx(0.43)
    # an irregular interval ends the following: judged against the autocorrelation again
    t += 0.55
    bt.add_s1(t, t, 0.86)
    assert bt.display_period_s(0.86, t + 0.1) == pytest.approx(0.86)


def test_shown_period_follows_a_new_rhythm_until_the_autocorrelation_agrees() -> None:
    bt = BeatTracker()
    t = 0.0
    bt.add_s1(t, t, 0.55)
    for rr in (0.55, 0.55, 0.8, 0.8, 0.8):  # 110 -> 75 bpm
        t += rr
        bt.add_s1(t, t, 0.55)
    assert bt.display_period_s(0.55, t + 0.3) == pytest.approx(0.8)  # the new rhythm
    assert bt.display_period_s(0.55, t + 2.5) == pytest.approx(0.55)  # its last S1 too old
    # the autocorrelation's window holds both rates and passes through a multiple: kept
    t += 0.8
    bt.add_s1(t, t, 1.6)
    assert bt.display_period_s(1.6, t + 0.3) == pytest.approx(0.8)
    t += 0.8
    bt.add_s1(t, t, 0.79)  # agrees within 5 %: handed back
    assert bt.display_period_s(0.79, t + 0.3) == pytest.approx(0.79)
    # a run at twice the period is not taken up (every other S1 missed)
    bt = BeatTracker()
    t = 0.0
    bt.add_s1(t, t, 0.4)
    for _ in range(4):
        t += 0.8
        bt.add_s1(t, t, 0.4)
    assert bt.display_period_s(0.4, t + 0.2) == pytest.approx(0.4)


def test_running_rate_does_not_depend_on_when_it_is_read() -> None:
    """The rate shown at a stream time is a function of the samples processed: a detector read
    after every block and one read every 5 s agree at every common instant (the state that
    follows a new rhythm once changed only when read: 77 vs 37 bpm after a 110 -> 75 step)."""
    h = DemoHeart(rate=RATE, hr_bpm=110.0, seed=3, duration_s=40.0)
    first = h.read(20 * RATE)
    h.change_rate(75.0)
    x = np.ascontiguousarray(bandpass(np.concatenate([first, h.read(20 * RATE)])),
                             dtype=np.float32)
    often, rarely = S1S2Detector(PipelineConfig()), S1S2Detector(PipelineConfig())
    block = RATE // 100
    compared = 0
    for k, i in enumerate(range(0, x.shape[0], block)):
        often.process(x[i : i + block])
        rarely.process(x[i : i + block])
        a = often.heart_rate_bpm
        if (k + 1) % 500 == 0:
            assert rarely.heart_rate_bpm == a, f"at {(i + block) / RATE:.2f} s"
            compared += 1
    assert compared == 8


def test_beat_tracker_memory_is_bounded() -> None:
    from stetho_rt.detect.heart_rate import RAW_INTERVALS_KEPT

    bt = BeatTracker()
    for k in range(RAW_INTERVALS_KEPT + 500):
        bt.add_s1(0.8 * k, 0.8 * k + 0.3, 0.8)
    assert len(bt.raw_intervals) == RAW_INTERVALS_KEPT


def _model_file(tmp_path, name="detector.json", **changes):  # type: ignore[no-untyped-def]
    """The shipped detector model with ``changes`` applied (None deletes a key), as the file
    ``name`` in ``tmp_path``."""
    import json

    from stetho_rt.detect.emission import MODEL_PATH

    d = json.loads(MODEL_PATH.read_text())
    for k, v in changes.items():
        if v is None:
            del d[k]
        else:
            d[k] = v
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"w2": None}, "no 'w2'"),
        ({"b2": [0.0, 0.0, 0.0]}, "not one hidden layer"),
        ({"prior": [0.5, 0.5, 0.0, 0.0]}, "priors .* must be positive"),
        ({"b2": [0.0, float("nan"), 0.0, 0.0]}, "b2 has non-finite values"),
        ({"offsets": [-40, 0.5]}, "whole frame offsets"),
        ({"offsets": []}, "non-empty"),
        ({"feature_set": "v9"}, "unknown feature_set"),
        ({"time_shift_s": [0.0]}, "time_shift_s has shape"),
        ({"w1": "abc"}, "not a detector model"),
        ({"w3": [[0.0] * 4] * 4, "b3": [0.0] * 4}, "second hidden layer"),
    ],
)
def test_malformed_detector_model_is_a_clear_error(tmp_path, changes, message) -> None:  # type: ignore[no-untyped-def]
    """A damaged or mismatched model file is a ModelError naming the fault, never a KeyError or
    a kernel reading past its arrays."""
    from stetho_rt.detect.emission import EmissionModel
    from stetho_rt.errors import ModelError

    with pytest.raises(ModelError, match=message):
        EmissionModel.load(_model_file(tmp_path, **changes))


def test_detector_model_with_too_long_context_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A context reaching further back than the decoder's feature ring holds (hsmm.RING rows
    back from the newest frame), or a look-ahead that leaves no time for the decision within
    the 300 ms bound, is refused when the model is loaded / the detector built."""
    import json

    from stetho_rt.detect import hsmm
    from stetho_rt.detect.emission import MODEL_PATH, EmissionModel
    from stetho_rt.errors import ModelError

    d = json.loads(MODEL_PATH.read_text())
    newest = max(d["offsets"])  # the look-ahead [frames]
    fits = _model_file(tmp_path, offsets=[newest - (hsmm.RING - 1), *d["offsets"][1:]])
    assert EmissionModel.load(fits).offsets[0] == newest - (hsmm.RING - 1)
    far = _model_file(tmp_path, "far.json", offsets=[newest - hsmm.RING, *d["offsets"][1:]])
    with pytest.raises(ModelError, match=f"the decoder keeps {hsmm.RING}"):
        EmissionModel.load(far)
    # the last offset moved 40 frames ahead (400 ms): same shapes, no decision in time
    ahead = _model_file(tmp_path, "ahead.json", offsets=[*d["offsets"][:-1], 40])
    with pytest.raises(ModelError, match=r"ahead\.json: .* no room for a decision"):
        S1S2Detector(PipelineConfig(), model_path=ahead)


def test_one_whole_file_call_gives_the_block_sounds(demo72: tuple[np.ndarray, DemoHeart]) -> None:
    """A detector sized for a whole file (batch tools) gives the same sounds in one 60 s call as
    in 509-sample blocks (the silence floor's first energy ring, a fixed 1024 frames, overflowed
    on such a call)."""
    x, _ = demo72
    x = np.ascontiguousarray(np.tile(x, 5))  # 60 s: 6000 frames in one call
    whole = run(x, None, S1S2Detector(PipelineConfig(), max_block=x.shape[0]))
    assert whole.sounds == run(x, 509).sounds and len(whole.sounds) > 100


@pytest.mark.parametrize("hr_bpm", [72, 200, 210])
def test_running_rate_is_not_half_the_heart_at_high_rates(hr_bpm: int) -> None:
    """At 210 bpm the 8 s autocorrelation took the double lag and the dashboard showed 105 bpm
    for 43 % of the time (the demo's default seed). Half the period is shown when the running
    S1/S2 contrast says S1 recurs there; a right period is never halved (72 bpm)."""
    g = DspGraph(4000, PipelineConfig(), 400)
    x = DemoHeart(rate=4000, hr_bpm=hr_bpm).read(4000 * 40)
    shown, _ = _feed_reading_the_rate(g, x)
    late = np.array([np.nan if v is None else v for v in shown[100:]])  # from 10 s on
    assert np.mean(np.abs(late - hr_bpm) <= 5) >= 0.95, np.nanpercentile(late, [5, 50, 95])
