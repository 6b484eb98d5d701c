"""Renderers and formatting helpers against slow, obvious references."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from stetho_rt.events import Beat, HeartSound
from stetho_rt.snapshot import Level
from stetho_rt.ui.palette import heat_colors
from stetho_rt.ui.render import (
    CLS_S1,
    CLS_S2,
    TimeAxis,
    braille_codes,
    column_minmax,
    hbar,
    heat_levels,
    runs,
    sound_classes,
    trace_codes,
)
from stetho_rt.ui.synthetic import synthetic_snapshot
from stetho_rt.ui.view import GAINS, next_gain
from stetho_rt.ui.widgets.heart_rate import rr_variability
from stetho_rt.ui.widgets.level import meter_text
from stetho_rt.ui.widgets.spectrogram import pixel_bins
from stetho_rt.ui.widgets.status import StatusState, lifecycle_of, status_text

pytestmark = pytest.mark.ui


def test_braille_bits_follow_unicode_order() -> None:
    # one cell, left dot column lit on rows 0-3, right column dark -> dots 1,2,3,7 = U+2847
    codes = braille_codes(np.array([0, 4]), np.array([3, 3]), height=1)
    assert chr(codes[0, 0]) == "⡇"
    codes = braille_codes(np.array([4, 0]), np.array([3, 0]), height=1)
    assert chr(codes[0, 0]) == "⠈"  # right column, top dot only = dot 4
    dark = braille_codes(np.array([4, 4]), np.array([3, 3]), height=1)
    assert chr(dark[0, 0]) == " "


def test_column_minmax_matches_a_loop(rng: np.random.Generator) -> None:
    rate = 2000.0
    x = rng.standard_normal(5000).astype(np.float32)
    axis = TimeAxis.aligned(now_s=2.5, window_s=1.0, n=37, rate=rate)
    lo, hi, valid = column_minmax(x, 2.5, rate, axis)
    assert valid.all()
    per = round(axis.step_s * rate)
    first = x.shape[0] - round((2.5 - axis.start_s) * rate)
    for c in range(axis.n):
        a = first + c * per
        seg = x[a : a + per + (1 if c < axis.n - 1 else 0)]  # joined to the next column
        assert lo[c] == pytest.approx(seg.min())
        assert hi[c] == pytest.approx(seg.max())


def test_columns_without_data_stay_dark() -> None:
    x = np.ones(200, np.float32)  # 0.1 s of data at the right end of a 1 s window
    axis = TimeAxis.aligned(now_s=5.0, window_s=1.0, n=20, rate=2000.0)
    codes = trace_codes(x, 5.0, 2000.0, axis, height=2, scale=0.5)
    assert (codes[:, :17] == 0x20).all()
    assert (codes[:, -2:] != 0x20).any()


def test_trace_scrolls_without_shimmer(rng: np.random.Generator) -> None:
    """Advancing by one column shifts the picture by one column, unchanged."""
    rate, n = 2000.0, 40
    x = rng.standard_normal(20000).astype(np.float32)
    a = TimeAxis.aligned(now_s=10.0, window_s=2.0, n=n, rate=rate)
    shift = round(a.step_s * rate)
    b = TimeAxis.aligned(now_s=10.0 + a.step_s, window_s=2.0, n=n, rate=rate)
    first = trace_codes(x[:-shift], 10.0, rate, a, height=4, scale=0.3)
    second = trace_codes(x, 10.0 + shift / rate, rate, b, height=4, scale=0.3)
    np.testing.assert_array_equal(first[:, 1:-1], second[:, :-2])


def test_sound_classes_and_runs() -> None:
    axis = TimeAxis(end_s=2.0, step_s=0.1, n=20)
    sounds = [HeartSound("S1", 0.25, 0.35, 0.9, 0.6), HeartSound("S2", 1.0, 1.1, 0.9, 1.4)]
    cls = sound_classes(sounds, axis)
    assert cls.tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 2] + [0] * 9
    assert runs(cls)[:3] == [(0, 2, 0), (2, 4, CLS_S1), (4, 10, 0)]
    assert runs(cls)[3] == (10, 11, CLS_S2)


def test_heat_levels_rise_with_power_and_pixel_bins() -> None:
    frames = np.tile(np.linspace(-80, 0, 33, dtype=np.float32), (250, 1))
    axis = TimeAxis(end_s=2.0, step_s=0.1, n=20)
    rows = pixel_bins(8, 33, 1000.0, 500.0)
    assert rows[0] == 16 and rows[-1] == 0  # top row 500 Hz, bottom row 0 Hz
    levels, valid = heat_levels(frames, 2.0, 125.0, axis, rows, -60.0, 60.0, 24)
    assert valid.all()
    assert (np.diff(levels[:, 0]) <= 0).all()  # brighter towards the top (more power)


def test_heat_map_luminance_is_monotonic() -> None:
    """Under NO_COLOR the map turns grey: its order must survive."""
    lum = [0.2126 * c.triplet.red + 0.7152 * c.triplet.green + 0.0722 * c.triplet.blue
           for c in heat_colors(24)]
    assert all(b > a for a, b in itertools.pairwise(lum))


def test_hbar() -> None:
    assert hbar(0.0, 4) == "    "
    assert hbar(1.0, 4) == "████"
    assert hbar(0.5, 3) == "█▌ "
    assert hbar(2.0, 2) == "██"


def test_rr_variability() -> None:
    rr = [0.80, 0.84, 0.78, 0.82, 0.90]
    beats = [Beat(i, r, 60 / r, i) for i, r in enumerate(rr)]
    sdnn, rmssd = rr_variability(beats)  # type: ignore[misc]
    assert sdnn == pytest.approx(np.std(rr, ddof=1) * 1000)
    assert rmssd == pytest.approx(np.sqrt(np.mean(np.diff(rr) ** 2)) * 1000)
    assert rr_variability(beats[:2]) is None


def test_gain_ladder() -> None:
    assert next_gain(2.0, +1) == 4.0
    assert next_gain(GAINS[-1], +1) == GAINS[-1]
    assert next_gain(GAINS[0], -1) == GAINS[0]


@pytest.mark.parametrize("width", [120, 80, 60, 30])
def test_status_text_fits_and_keeps_the_heart_rate(width: int) -> None:
    snap = synthetic_snapshot(12.0, source="file: /very/long/path/to/a/recording.wav")
    text = status_text(StatusState(snap, lifecycle="running"), width)
    assert text.cell_len <= width
    assert text.plain.startswith("▶ LIVE │ 71 bpm")
    if width >= 100:
        assert "dropped 0" in text.plain and "latency 46 ms" in text.plain


@pytest.mark.parametrize(
    ("count", "long_text", "short_text"),
    [
        ({"source_lost_count": 1}, "device losses 1", "lost 1"),
        ({"input_underflows": 2}, "underflows 2", "udf 2"),
        ({"late_sounds": 3}, "late sounds 3", "late 3"),
        ({"nonfinite_samples": 9}, "non-finite 9", "nan 9"),
        ({"clipped_samples": 5}, "clipped 5", "clip 5"),
        ({"recording_dropped": 6}, "rec dropped 6", "rdrop 6"),
        ({"hum_lines_hz": (50, 150)}, "hum removed 50/150 Hz", "hum 2"),
    ],
)
def test_status_text_shows_a_rare_count_only_once_there_was_any(
        count: dict[str, object], long_text: str, short_text: str) -> None:
    snap = synthetic_snapshot(12.0)
    assert long_text.rsplit(" ", 1)[0] not in status_text(
        StatusState(snap, lifecycle="running"), 200).plain
    if "clipped_samples" in count:  # the clipped count sits on the level
        snap = replace(snap, level=replace(snap.level, **count))
    else:
        snap = replace(snap, **count)
    assert long_text in status_text(StatusState(snap, lifecycle="running"), 200).plain
    assert short_text in status_text(StatusState(snap, lifecycle="running"), 100).plain


def test_lifecycle_of() -> None:
    snap = synthetic_snapshot(3.0)
    assert lifecycle_of(snap) == "running"
    assert lifecycle_of(snap.__class__(finished=True)) == "ended"
    assert lifecycle_of(snap.__class__(error="OSError: gone")) == "failed: OSError: gone"


def test_meter_text() -> None:
    ok = meter_text(Level(-12.0, -24.0), 20).plain.split("\n")
    assert len(ok[0]) == 20 and "│" in ok[0] and ok[1].startswith("rms -24.0")
    clip = meter_text(Level(0.0, -6.0, 12, True), 20).plain
    assert "CLIPPING" in clip and "12 samples" in clip


def test_bench_render_runs() -> None:
    """The benchmark the lead calls still works (a smoke run; no timing asserted)."""
    from stetho_rt.ui.bench import bench_render

    out = bench_render(sizes=((80, 24),), frames=3, distinct=2)
    res = out["80x24"]
    assert set(res) == {"draw_ms", "frame_ms", "mem_growth_kib", "panels"}
    assert res["panels"] == ["waveform", "spectrogram"]
    assert all(isinstance(v, float) for v in res["frame_ms"].values())


def test_classifier_panel_shows_the_deciding_share() -> None:
    """A murmur verdict whose murmur bar is below the normal one says why: share vs threshold."""
    from stetho_rt.ui.widgets.classifier import _share_text

    v = {"label": "murmur", "probs": {"normal": 0.61, "murmur": 0.31, "artifact": 0.08},
         "murmur_share": 0.34, "murmur_threshold": 0.22}
    assert _share_text(v).plain == " 34%≥22%"
    assert _share_text({**v, "murmur_share": 0.1, "label": "normal"}).plain == " 10%<22%"
    assert _share_text({**v, "label": "artifact"}).plain == ""
    # the sign is the label's own comparison, made on the unrounded share
    assert _share_text({**v, "murmur_share": 0.22, "label": "normal"}).plain == " 22%<22%"
    assert _share_text(None).plain == ""


def test_no_verdict_until_the_first_window_unless_the_stream_ended() -> None:
    from stetho_rt.snapshot import Snapshot
    from stetho_rt.ui.widgets.classifier import verdict_of

    empty = {"label": "artifact", "probs": {"normal": 0.0, "murmur": 0.0, "artifact": 1.0},
             "windows": 0}
    # streaming, no window yet: the branch gives no verdict, the panel shows "--"
    assert verdict_of(Snapshot(verdict=None, classifier_ready=True)) is None
    label, _ = verdict_of(Snapshot(verdict=empty, classifier_ready=True, finished=True))
    assert label == "artifact"  # a finished stream too short for a window: what analyze says


def test_status_text_says_when_the_recording_stopped_writing() -> None:
    snap = synthetic_snapshot(12.0)
    state = StatusState(snap, lifecycle="running", recording="r.wav")
    assert "● REC" in status_text(state, 200).plain
    # the error is live state: a view frozen (paused) before the failure still says so
    state = StatusState(snap, lifecycle="running", recording="r.wav",
                        recording_error="System error")
    assert "✖ REC FAILED" in status_text(state, 200).plain
