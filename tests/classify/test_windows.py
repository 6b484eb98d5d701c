"""FeatureWindower: block invariance, time stamps, vector layout and quality."""

from __future__ import annotations

import numpy as np
import pytest

from stetho_rt.classify.windows import (
    FeatureWindower,
    window_feature_names,
    window_quality,
    window_vector,
    windows_of,
)
from stetho_rt.config import DspConfig
from stetho_rt.errors import ConfigError
from stetho_rt.events import HeartSound, Quality
from tests.classify.helpers import frames_of, heart_like


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return frames_of(heart_like(9.3, np.random.default_rng(1)))


def test_window_count_times_and_length(frames: np.ndarray) -> None:
    ws = windows_of(frames)
    n_frames = frames.shape[0]
    assert len(ws) == (n_frames - 500) // 125 + 1
    for j, w in enumerate(ws):
        assert w.index == j
        assert w.start_s == pytest.approx(j * 1.0)
        assert w.end_s == pytest.approx(j * 1.0 + 4.0)
        assert w.decided_s >= w.end_s
        assert w.vector.dtype == np.float32
        assert w.vector.shape == (len(window_feature_names()),)
        assert np.all(np.isfinite(w.vector))
        assert 0.0 <= w.quality.index <= 1.0


@pytest.mark.parametrize("chunk", [1, 7, 125, 499, 501, 1000])
def test_block_invariance(frames: np.ndarray, chunk: int) -> None:
    ref = windows_of(frames)
    wd = FeatureWindower()
    got = []
    for i in range(0, frames.shape[0], chunk):
        got += wd.process(frames[i : i + chunk])
    got += wd.flush()
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        assert a.start_s == b.start_s and a.end_s == b.end_s and a.decided_s == b.decided_s
        np.testing.assert_array_equal(a.vector, b.vector)
        assert a.quality == b.quality


def test_random_chunking_and_reset(frames: np.ndarray, rng: np.random.Generator) -> None:
    ref = windows_of(frames)
    wd = FeatureWindower()
    wd.process(frames[:300])
    wd.reset()
    got, i = [], 0
    while i < frames.shape[0]:
        k = int(rng.integers(0, 200))
        got += wd.process(frames[i : i + k])
        i += k
    got += wd.flush()
    assert [w.vector.tobytes() for w in got] == [w.vector.tobytes() for w in ref]


def test_empty_and_short_input(frames: np.ndarray) -> None:
    wd = FeatureWindower()
    assert wd.process(frames[:0]) == []
    assert wd.process(frames[:499]) == []
    assert wd.flush() == []
    # complete at 500 frames, cut once the detector had 0.6 s (75 frames) to decide its sounds
    assert wd.process(frames[499:574]) == []
    (w,) = wd.process(frames[574:575])
    assert w.decided_s == pytest.approx((574 * 16 + 64) / 2000)
    # at the end of the stream a complete window is cut without the wait
    wd.reset()
    assert wd.process(frames[:520]) == [] and len(wd.flush()) == 1


def test_time_offset_shifts_stamps(frames: np.ndarray) -> None:
    a0, a = windows_of(frames)[:2]
    wd = FeatureWindower(time_offset_s=0.01)
    b0, b = wd.process(frames)[:2]
    assert b.start_s == pytest.approx(a.start_s - 0.01)
    assert b.end_s == pytest.approx(a.end_s - 0.01)
    assert b.decided_s == a.decided_s  # emitted at the same stream time, whatever the delay
    # the first window cannot start before the stream does
    assert b0.start_s == 0.0 and b0.end_s == pytest.approx(a0.end_s - 0.01)


def test_bad_shapes_and_config(frames: np.ndarray) -> None:
    with pytest.raises(ValueError):
        FeatureWindower().process(frames[:, :5])
    with pytest.raises(ConfigError):
        FeatureWindower(window_s=1.0, hop_s=2.0)


def test_quality_periodic_vs_noise_vs_silence(rng: np.random.Generator) -> None:
    heart = frames_of(heart_like(4.2, rng))[:500]
    noise = frames_of((0.1 * rng.standard_normal(8400)).astype(np.float32))[:500]
    silence = frames_of(np.zeros(8400, np.float32))[:500]
    q_heart = window_quality(heart, window_vector(heart, 125.0)[1])
    q_noise = window_quality(noise, window_vector(noise, 125.0)[1])
    q_silence = window_quality(silence, window_vector(silence, 125.0)[1])
    assert q_heart.index > 0.8 > 0.5 > q_noise.index
    assert q_silence.too_quiet and q_silence.index == 0.0
    loud = frames_of(np.sign(heart_like(4.2, rng)) * 0.99)[:500]
    assert window_quality(loud, 1.0).clipped


def test_a_window_clipped_throughout_is_not_clean(rng: np.random.Generator) -> None:
    """Clipped in a few frames (a loud S1): half the quality, still clean at periodicity 1;
    clipped in more than OVERDRIVEN_SHARE of them (a full-scale square wave, a stethoscope
    overdriven throughout): quality 0, whatever its periodicity, so the verdict needs other
    windows (a clipped 2 Hz square wave was verdict normal, quality 0.5 in every window)."""
    x = heart_like(4.2, rng)
    f = frames_of(x)[:500]
    few = f.copy()
    few[::40, 0] = 0.9  # 2.5 % of the frames at RMS 0.9
    some = window_quality(few, 1.0)
    assert some.clipped and some.index == 0.5
    t = np.arange(x.size) / 2000.0
    square = frames_of(np.sign(np.sin(2 * np.pi * 2.0 * t) + 1e-9).astype(np.float32))[:500]
    over = window_quality(square, 1.0)
    assert over.clipped and over.index == 0.0 and over.heard
    half = f.copy()
    half[:250, 0] = 0.9  # exactly half the 500 frames clipped: still half the quality
    assert window_quality(half, 1.0).index == 0.5
    half[250, 0] = 0.9  # one frame more: overdriven
    assert window_quality(half, 1.0).index == 0.0


@pytest.mark.parametrize(("gap_s", "quiet"), [(0.1, False), (0.3, True), (1.0, True)])
def test_a_gap_of_digital_silence_makes_a_window_too_quiet(
    rng: np.random.Generator, gap_s: float, quiet: bool
) -> None:
    """A window is too quiet once more than SILENT_SHARE (0.2 s of 4 s) of it is digital
    silence, not only when most of it is (the median rule let 1 s of zeros pass at quality 1 and
    into the session summary, and normal recordings read murmur); quiet sound is not silence."""
    x = heart_like(4.2, rng)
    x[int(2000 * 1.5) : int(2000 * (1.5 + gap_s))] = 0.0
    f = frames_of(x)[:500]
    q = window_quality(f, window_vector(f, 125.0)[1])
    assert q.too_quiet is quiet and (q.index == 0.0) is quiet and q.heard is not quiet
    assert Quality(1.0, repaired=True).heard is False and Quality(1.0).heard is True
    faint = x.copy()
    faint[int(2000 * 1.5) : int(2000 * (1.5 + gap_s))] = 3e-5 * rng.standard_normal(
        int(2000 * gap_s))  # -90 dBFS: faint, but sound
    f = frames_of(faint)[:500]
    assert not window_quality(f, window_vector(f, 125.0)[1]).too_quiet


def test_level_invariance(rng: np.random.Generator) -> None:
    """Window vectors describe shape, not gain: a 20 dB gain change moves them very little."""
    x = heart_like(4.2, rng)
    a, _ = window_vector(frames_of(x)[:500], 125.0)
    b, _ = window_vector(frames_of(x * 0.1)[:500], 125.0)
    np.testing.assert_allclose(a, b, atol=0.05 * np.abs(a).max())


def test_names_match_vector_length() -> None:
    assert len(window_feature_names(DspConfig().mel_bands)) == FeatureWindower().n_features


def _sounds_of(period: float, seconds: float, decide_after: float) -> list[HeartSound]:
    out = []
    for b in np.arange(0.3, seconds, period):
        for kind, on, dur in (("S1", b, 0.1), ("S2", b + 0.33 * period, 0.08)):
            out.append(HeartSound(kind, float(on), float(on + dur), 0.9,
                                  float(on + dur + decide_after)))
    return out


@pytest.mark.parametrize("chunk", [1, 13, 125, 600])
def test_sounds_block_invariance(frames: np.ndarray, chunk: int) -> None:
    """Sounds handed over with the block in which they were decided: any chunking, same windows
    as the batch form (which sees every sound up front and keeps those decided by each cut)."""
    sounds = _sounds_of(0.8, 9.3, 0.29)
    ref = windows_of(frames, sounds=sounds)
    assert all(w.vector[-1] > 0 for w in ref)  # complete cycles found in every window
    wd = FeatureWindower()
    got = []
    for i in range(0, frames.shape[0], chunk):
        end_sample = (min(i + chunk, frames.shape[0]) - 1) * 16 + 64  # last frame's last sample
        start_sample = (i - 1) * 16 + 64 if i else -1
        new = [s for s in sounds if start_sample < round(s.decided_s * 2000) <= end_sample]
        got += wd.process(frames[i : i + chunk], new)
    got += wd.flush()
    assert [w.vector.tobytes() for w in got] == [w.vector.tobytes() for w in ref]


def test_sounds_decided_after_the_cut_are_left_out(frames: np.ndarray) -> None:
    """A window takes the sounds decided by its cut (0.6 s past its end), not later ones."""
    late = windows_of(frames, sounds=_sounds_of(0.8, 9.3, 5.0))
    on_time = windows_of(frames, sounds=_sounds_of(0.8, 9.3, 0.29))
    n_ph = 7 * 16 + 4
    # decided 5 s after they end: no window but the last ones (cut at the flush) sees a cycle
    assert late[0].vector[-1] == 0.0 and not late[0].vector[-n_ph:].any()
    assert on_time[0].vector[-1] > 0.0
    assert late[-1].vector[-1] == on_time[-1].vector[-1] > 0.0


@pytest.mark.parametrize("n", [0, 1, 2, 7, 400, 401])
def test_rms_stats_median_is_numpys(n: int) -> None:
    """The window's median frame RMS and its silent / clipped counts, against numpy."""
    from stetho_rt.classify._summary_kernels import rms_stats_kernel

    rms = np.random.default_rng(n).lognormal(-6.0, 3.0, n)
    median, n_silent, n_clip = rms_stats_kernel(rms.copy(), 1e-5, 0.5)
    if n == 0:
        assert np.isnan(median) and n_silent == n_clip == 0
        return
    assert median == np.median(rms)
    assert n_silent == np.count_nonzero(rms < 1e-5) and n_clip == np.count_nonzero(rms >= 0.5)
