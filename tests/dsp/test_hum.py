"""Mains hum removal: scipy references, what it removes and what it leaves, block-size invariance,
input policies, real recordings and the analyze record."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stetho_rt.config import DspConfig
from stetho_rt.dsp.hum import (
    HUM_FRAME_SAMPLES,
    HUM_NOTCH_Q,
    HUM_RAMP_SAMPLES,
    HumStage,
    hum_lines_hz,
    peak_biquad,
    remove_hum,
)
from stetho_rt.errors import ConfigError
from stetho_rt.io.demo import DemoHeart
from tests.conftest import require_data
from tests.dsp.test_filters import run_chunked

FS = 2000


def _hum(n: int, mains: float, amps: dict[int, float], phase: float = 0.3) -> np.ndarray:
    """Harmonics ``k`` of ``mains`` [Hz] at amplitudes ``amps[k]``, ``n`` samples at 2 kHz."""
    t = np.arange(n) / FS
    return sum(a * np.sin(2 * np.pi * k * mains * t + k * phase) for k, a in amps.items())


def _noise(n: int, seed: int = 0, level: float = 0.05) -> np.ndarray:
    return level * np.random.default_rng(seed).standard_normal(n)


def _line_db(x: np.ndarray, f: float) -> float:
    """Welch power [dB] at the bin nearest ``f`` (0.5 Hz bins)."""
    freqs, p = scipy.signal.welch(x, FS, nperseg=4000)
    return float(10 * np.log10(p[np.argmin(np.abs(freqs - f))] + 1e-30))


def test_the_sections_are_scipys_peak_and_their_complement_its_notch() -> None:
    for f in (50.0, 60.0, 150.3, 400.0):
        b, a = scipy.signal.iirpeak(f, HUM_NOTCH_Q, fs=FS)
        sec = peak_biquad(f, HUM_NOTCH_Q, FS)
        np.testing.assert_allclose(sec, np.r_[b, a], rtol=1e-12, atol=1e-15)
        bn, an = scipy.signal.iirnotch(f, HUM_NOTCH_Q, fs=FS)
        _, h_peak = scipy.signal.freqz(sec[:3], sec[3:], worN=512, fs=FS)
        _, h_notch = scipy.signal.freqz(bn, an, worN=512, fs=FS)
        np.testing.assert_allclose(1.0 - h_peak, h_notch, atol=1e-12)


def test_lines_are_the_mains_harmonics_inside_the_band() -> None:
    assert hum_lines_hz(DspConfig()).tolist() == [50, 60, 100, 120, 150, 180, 200, 240, 250,
                                                  300, 350, 360, 400]
    assert hum_lines_hz(DspConfig(mains_hz=(60.0,))).tolist() == [60, 120, 180, 240, 300, 360]
    assert hum_lines_hz(DspConfig(mains_hz=())).size == 0


@pytest.mark.parametrize("mains", [50.0, 60.0, 50.12, 59.9])
def test_steady_hum_is_removed_and_the_rest_left(mains: float) -> None:
    """A fundamental and odd harmonics 26 dB above the noise floor per line, grid frequency
    off by up to 0.12 Hz: each line loses at least 20 dB once on (down to the noise floor of
    the 0.5 Hz bins, for the weakest); bins between lines keep
    their level within 0.3 dB; only the harmonics present are switched on."""
    n = 20 * FS
    amps = {1: 0.2, 3: 0.1, 5: 0.05}
    x = (_noise(n) + _hum(n, mains, amps)).astype(np.float32)
    stage = HumStage(DspConfig(), max_block=4096)
    y = run_chunked(stage, x, [160])
    tail_x, tail_y = x[-12 * FS:], y[-12 * FS:]
    for k in amps:
        assert _line_db(tail_x, k * mains) - _line_db(tail_y, k * mains) >= 20.0, k
    for f in (75.0, 130.0, 210.0, 330.0):
        assert abs(_line_db(tail_x, f) - _line_db(tail_y, f)) < 0.3, f
    base = round(mains)
    assert stage.lines_removed_hz == {base, 3 * base, 5 * base}
    # strong hum: on from the first frame's decision (20 dB over its neighbours), to the end
    assert stage.removed_samples == n - HUM_FRAME_SAMPLES


def test_every_harmonic_of_both_mains_at_once_is_removed_deep() -> None:
    """All 14 lines (eight harmonics of 50 Hz, six of 60 Hz, at 0.1 each over noise 20 dB
    below): each loses at least 40 dB. Subtracting every resonator from the input, instead of
    the cascade, left 400 Hz only 12 dB down and the neighbours 240/250 and 350/360 Hz 6-8 dB."""
    n = 30 * FS
    freqs = [50 * k for k in range(1, 9)] + [60 * k for k in range(1, 7)]
    t = np.arange(n) / FS
    x = (_noise(n, level=0.01) + sum(0.1 * np.sin(2 * np.pi * f * t + f) for f in freqs))
    stage = HumStage(DspConfig(), max_block=4096)
    y = run_chunked(stage, x.astype(np.float32), [500])
    for f in freqs:
        assert _line_db(x[-20 * FS:], f) - _line_db(y[-20 * FS:], f) >= 40.0, f
    assert stage.lines_removed_hz == set(freqs)


def test_a_drifting_grid_is_followed() -> None:
    """Mains drifting from 50.0 to 50.3 Hz over 30 s (a notch tuned once would be 12 dB deep at
    the end): the lines are retuned at each analysis and the hum stays at least 20 dB down (the
    noise floor) in every 5 s of the second half."""
    n = 30 * FS
    t = np.arange(n) / FS
    phase = 2 * np.pi * np.cumsum(50.0 + 0.3 * t / 30.0) / FS
    hum = 0.2 * np.sin(phase) + 0.1 * np.sin(3 * phase)
    x = (_noise(n, level=0.01) + hum).astype(np.float32)
    y = run_chunked(HumStage(DspConfig(), max_block=4096), x, [400])
    for start in range(15, 30, 5):
        seg = slice(start * FS, (start + 5) * FS)
        assert np.var(y[seg]) <= 0.01 * np.var(x[seg]), start


def test_without_hum_the_output_is_the_input() -> None:
    """Noise and a synthetic heart (broadband sounds): nothing is switched on and every sample
    passes bit-identical, as does digital silence."""
    heart = DemoHeart(rate=FS, seed=2).read(30 * FS)
    for x in (_noise(30 * FS, seed=4).astype(np.float32), heart.astype(np.float32),
              np.zeros(10 * FS, np.float32)):
        stage = HumStage(DspConfig(), max_block=4096)
        y = run_chunked(stage, x, [200])
        assert np.array_equal(y, x)
        assert stage.removed_samples == 0 and not stage.lines_removed_hz


def test_hum_that_stops_is_released_smoothly() -> None:
    """Hum for 8 s, then none: the line switches off at a frame end after the summed spectra
    fall below the off level, its gain ramps down over 50 ms (no step) and the output is the
    input again from there on."""
    n = 16 * FS
    x = _noise(n, seed=1)
    x[: 8 * FS] += _hum(8 * FS, 50.0, {1: 0.3})
    x = x.astype(np.float32)
    stage = HumStage(DspConfig(), max_block=4096)
    y = run_chunked(stage, x, [500])
    assert stage.lines_removed_hz == {50}
    off = HUM_FRAME_SAMPLES + stage.removed_samples  # first sample with every gain at 0
    assert 8 * FS < off <= 13 * FS
    assert np.array_equal(y[off:], x[off:])
    ramp = slice(off - HUM_RAMP_SAMPLES - 5, off + 5)
    # the resonator has rung down since the hum stopped: ramping it out adds no step
    assert np.abs(y[ramp].astype(float) - x[ramp]).max() < 0.01


def test_digital_silence_after_hum_switches_the_lines_off() -> None:
    """Hum, then digital silence (a device muted, or zeros for dropped samples): the line goes
    off once the summed frames hold no power (4 s) and the output is exact zeros again."""
    x = np.zeros(14 * FS, np.float32)
    x[: 6 * FS] = (_noise(6 * FS) + _hum(6 * FS, 50.0, {1: 0.3})).astype(np.float32)
    stage = HumStage(DspConfig(), max_block=4096)
    y = run_chunked(stage, x, [250])
    assert stage.lines_removed_hz == {50} and not stage.active_lines_hz
    assert not y[11 * FS :].any()


def test_warm_up_compiles_every_kernel_even_without_lines() -> None:
    """Graphs are warmed once per input rate in a process: after a stage with mains off, one
    with lines must not compile its analysis and switch-on kernels on the DSP thread."""
    import subprocess
    import sys

    code = ("from stetho_rt.config import DspConfig; from stetho_rt.dsp import hum; "
            "hum.HumStage(DspConfig(mains_hz=())).warm_up(); "
            "print(len(hum._analyse_kernel.signatures), len(hum._prime_kernel.signatures), "
            "len(hum._hum_kernel.signatures))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert all(int(v) >= 1 for v in out), out


def test_nan_is_used_as_zero_and_counted() -> None:
    x = (_noise(6 * FS) + _hum(6 * FS, 60.0, {1: 0.2})).astype(np.float32)
    x[[10, 5000, 9000]] = [np.nan, np.inf, -np.inf]
    stage = HumStage(DspConfig(), max_block=4096)
    y = run_chunked(stage, x, [333])
    assert np.isfinite(y).all() and stage.nonfinite_samples == 3
    assert stage.lines_removed_hz == {60}


def test_no_mains_configured_passes_everything() -> None:
    x = (_noise(6 * FS) + _hum(6 * FS, 50.0, {1: 0.3})).astype(np.float32)
    assert np.array_equal(remove_hum(x, DspConfig(mains_hz=())), x)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 2500), min_size=1, max_size=6),
       mains=st.sampled_from([50.0, 60.0]), seed=st.integers(0, 3))
def test_block_size_invariance(sizes: list[int], mains: float, seed: int) -> None:
    """Any chunking gives bit-identical output and the same counters (decisions are taken at
    fixed stream positions, every 2000 samples)."""
    n = 12 * FS + 123
    hum = _hum(n, mains, {1: 0.2, 2: 0.05})
    hum[: 2 * FS] *= 0.1  # the hum grows: a line comes on later than the first decision
    hum[6 * FS :] = 0.0  # and stops: the lines switch off and ramp down
    x = (_noise(n, seed) + hum).astype(np.float32)
    whole = HumStage(DspConfig(), max_block=n)
    ref = run_chunked(whole, x, [n])
    stage = HumStage(DspConfig(), max_block=2500)
    out = run_chunked(stage, x, sizes)
    assert np.array_equal(out, ref)
    assert 0 < stage.removed_samples == whole.removed_samples
    assert not stage.active_lines_hz and not whole.active_lines_hz  # switched off, ramped down
    assert stage.lines_removed_hz == whole.lines_removed_hz


def test_reset_returns_to_a_new_stream() -> None:
    x = (_noise(8 * FS) + _hum(8 * FS, 50.0, {1: 0.2})).astype(np.float32)
    stage = HumStage(DspConfig(), max_block=4096)
    first = run_chunked(stage, x, [700])
    stage.reset()
    assert stage.removed_samples == 0 and not stage.lines_removed_hz
    assert np.array_equal(run_chunked(stage, x, [900]), first)


def test_a_real_recording_with_hum_is_cleaned_and_a_clean_one_left_alone() -> None:
    """PhysioNet e01252 carries a steady 240 Hz line (on in 25 of its 26 frames in the dev
    scan): it is switched on from the 2nd second to the end and loses at least 10 dB. CirCor
    50007_TV has no line: every sample passes unchanged."""
    from stetho_rt.dsp.resample import resample

    x, rate = sf.read(require_data("physionet2016") / "e01252.flac", dtype="float32")
    y2k = resample(x, rate)
    stage = HumStage(DspConfig(), max_block=4096)
    out = run_chunked(stage, y2k, [20])
    assert stage.lines_removed_hz == {240}
    assert stage.removed_samples >= y2k.size - 3 * HUM_FRAME_SAMPLES
    assert _line_db(y2k[2 * FS:], 240.0) - _line_db(out[2 * FS:], 240.0) >= 10.0
    clean, rate = sf.read(require_data("circor2022") / "50007_TV.flac", dtype="float32")
    c2k = resample(clean, rate)
    stage = HumStage(DspConfig(), max_block=4096)
    assert np.array_equal(run_chunked(stage, c2k, [20]), c2k)
    assert not stage.lines_removed_hz


def test_analyze_reports_the_hum_and_finds_the_sounds_through_it(tmp_path) -> None:
    """The synthetic heart with 50 Hz hum (fundamental, 3rd and 5th harmonic) at the heart's
    own RMS: without removal the detector found few of its sounds (F1 0.38 on 120 CirCor
    recordings with such hum); now nearly all of them, at the times the clean file gives, and
    the record names the lines removed and for how long."""
    from stetho_rt.analysis import analyze_file

    rate = 4000
    heart = DemoHeart(rate=rate, seed=5).read(20 * rate).astype(np.float64)
    t = np.arange(heart.size) / rate
    hum = sum(np.sin(2 * np.pi * k * 50.0 * t + k) for k in (1, 3, 5))
    hum *= np.sqrt(np.mean(heart**2) / np.mean(hum**2))
    sf.write(tmp_path / "clean.wav", heart, rate, subtype="FLOAT")
    sf.write(tmp_path / "hum.wav", heart + hum, rate, subtype="FLOAT")
    clean = analyze_file(tmp_path / "clean.wav")
    hummed = analyze_file(tmp_path / "hum.wav")
    assert clean["hum"] is None
    assert hummed["hum"]["lines_hz"] == [50, 150, 250]
    assert 18.5 <= hummed["hum"]["removed_s"] <= 19.5  # from the first second's decision on
    ref = np.array([(s["onset_s"] + s["offset_s"]) / 2 for s in clean["sounds"]
                    if s["onset_s"] > 2.5])
    got = np.array([(s["onset_s"] + s["offset_s"]) / 2 for s in hummed["sounds"]
                    if s["onset_s"] > 2.5])
    near = [np.min(np.abs(got - r)) <= 0.03 for r in ref]
    assert len(ref) > 40 and np.mean(near) >= 0.95
    assert abs(hummed["heart_rate_bpm"] - clean["heart_rate_bpm"]) <= 2.0


def test_the_mains_option_chooses_the_lines_watched(tmp_path, capsys) -> None:
    """``--mains off`` analyses as before hum removal (no lines, ``"hum": null``); ``--mains
    60`` does not watch 50 Hz; the default (``auto``) removes it."""
    import json

    from stetho_rt.cli import main

    rate = 4000
    heart = DemoHeart(rate=rate, seed=5).read(8 * rate).astype(np.float64)
    t = np.arange(heart.size) / rate
    path = tmp_path / "hum.wav"
    sf.write(path, heart + 0.05 * np.sin(2 * np.pi * 50.0 * t), rate, subtype="FLOAT")
    hum = {}
    for mains in ("off", "60", "auto"):
        assert main(["analyze", "--no-progress", "--no-classifier", "--mains", mains,
                     str(path)]) == 0
        hum[mains] = json.loads(capsys.readouterr().out)["hum"]
    assert hum["off"] is None and hum["60"] is None
    assert hum["auto"]["lines_hz"] == [50]


@pytest.mark.parametrize(("choice", "mains"), [("auto", (50.0, 60.0)), ("50", (50.0,)),
                                               ("60", (60.0,)), ("off", ())])
def test_the_mains_option_reaches_monitor_and_replay(choice: str, mains: tuple) -> None:
    from stetho_rt.cli import _pipeline_config, build_parser

    for argv in (["monitor", "--demo"], ["replay", "x.wav"]):
        args = build_parser().parse_args([*argv, "--mains", choice])
        assert _pipeline_config(args).dsp.mains_hz == mains


def test_mains_frequencies_are_checked() -> None:
    for bad in ((1e-9,), [50.0], (50.0, 55.0), (float("nan"),), (400.0,)):
        with pytest.raises(ConfigError):
            DspConfig(mains_hz=bad)  # type: ignore[arg-type]



def test_the_graph_shows_the_raw_signal_and_filters_the_clean_one() -> None:
    """In the DSP graph the waveform shown as raw keeps the hum (the resampler's output), while
    the band-passed signal the detector and the display's filtered view get has lost it."""
    from stetho_rt.config import PipelineConfig
    from stetho_rt.graph import DspGraph

    n = 12 * FS
    x = (_noise(n, level=0.01) + _hum(n, 50.0, {1: 0.2})).astype(np.float32)
    graph = DspGraph(FS, PipelineConfig(), max_block=FS, live=False)
    raw, filtered = [], []
    for i in range(0, n, FS // 4):
        out = graph.process(x[i : i + FS // 4])
        raw.append(out.resampled.copy())
        filtered.append(out.filtered.copy())
    graph.close()
    raw_x, filt = np.concatenate(raw)[-6 * FS:], np.concatenate(filtered)[-6 * FS:]
    assert abs(_line_db(raw_x, 50.0) - _line_db(x[-6 * FS:], 50.0)) < 1.0
    assert _line_db(raw_x, 50.0) - _line_db(filt, 50.0) >= 30.0
