"""Our streaming resampler vs ``soxr.ResampleStream`` (quality HQ), both fed 10 ms blocks.

Usage::

    python tools/bench_resample.py [--seconds 60] [--repeats 5]

For each input rate (44.1 kHz, 48 kHz, 4 kHz) to 2000 Hz:

- **CPU**: ``time.process_time`` of a loop feeding ``seconds`` of white noise in 10 ms blocks
  (``StreamConfig().block_size``) through ``ResampleStage.process`` (the full protocol call,
  argument checks included) and through ``ResampleStream.resample_chunk``; the minimum of
  ``repeats`` interleaved runs. Reported as CPU seconds, µs per block, ms per second of audio, and
  the ratio ours / soxr.
- **Stop-band rejection**: unit tones from 1000 Hz to the input Nyquist (a grid plus the tones
  that fold next to 0 and 1000 Hz); the output power after the transient, relative to the tone,
  worst case in dB (more negative is better). soxr is measured with ``soxr.resample`` (HQ), the
  same filter as its stream.
- **Latency**: ours is the declared signal delay (``latency``, samples at 2 kHz, in ms). Emission
  delay, for both: impulses at 20 positions, fed in 10 ms blocks; the time from the impulse to the
  end of the block whose call returned the output sample at the peak of its response (mean and
  max, ms). soxr's output is delay-compensated but emitted in bursts, so its emission delay is the
  burst period; ours is ``latency`` plus the rest of the current block.
- **Burst**: the largest number of output samples returned by one 10 ms call.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stetho_rt.config import StreamConfig
from stetho_rt.dsp.resample import ResampleStage

OUT = 2000
"""Output rate [Hz]."""
RATES = (44100, 48000, 4000)
"""Input rates benchmarked [Hz]."""


def _blocks(x: np.ndarray, block: int) -> list[np.ndarray]:
    return [np.ascontiguousarray(x[i : i + block]) for i in range(0, x.shape[0], block)]


def _soxr_stream(fs: int) -> soxr.ResampleStream:
    return soxr.ResampleStream(fs, OUT, 1, dtype="float32", quality="HQ")


def _cpu_seconds(
    make: Callable[[], Callable[[np.ndarray], np.ndarray]], blocks: list[np.ndarray]
) -> float:
    """CPU seconds of one loop over ``blocks`` with a fresh processing function."""
    step = make()
    t0 = time.process_time()
    for b in blocks:
        step(b)
    return time.process_time() - t0


def _stop_band_tones(fs: int) -> np.ndarray:
    nyq = fs / 2
    tones = [np.linspace(1000.0, nyq, 40), 1000.0 + np.array([0.0, 5.0, 20.0, 60.0])]
    for k in range(1, int(nyq // OUT) + 1):
        tones.append(k * OUT + np.array([-995.0, -3.0, 3.0, 995.0]))
    f = np.concatenate(tones)
    return np.unique(f[(f >= 1000.0) & (f <= nyq)])


def _rejection_db(resample: Callable[[np.ndarray], np.ndarray], fs: int) -> float:
    """Worst output power of unit stop-band tones [dB re the tone]."""
    n = int(0.6 * fs)
    worst = -np.inf
    for f in _stop_band_tones(fs):
        x = np.cos(2 * np.pi * f * np.arange(n) / fs).astype(np.float32)
        y = resample(x).astype(np.float64)[int(0.3 * OUT) : int(0.55 * OUT)]
        worst = max(worst, 10 * np.log10(np.mean(y**2) / 0.5 + 1e-300))
    return float(worst)


def _emission(
    make: Callable[[], Callable[[np.ndarray], np.ndarray]], fs: int, block: int, lag: int
) -> tuple[float, float, int]:
    """Emission delay (mean, max) [ms] of impulses and the largest burst [samples per call].

    ``lag`` is the stream's declared delay in output samples (0 for soxr, which compensates it).
    """
    spacing = int(0.37 * fs)
    rng = np.random.default_rng(1)
    positions = [fs + i * spacing + int(rng.integers(0, block)) for i in range(20)]
    x = np.zeros(positions[-1] + 2 * fs, dtype=np.float32)
    x[positions] = 1.0
    step = make()
    counts, ends, outs = [], [], []
    for i in range(0, x.shape[0], block):
        y = step(np.ascontiguousarray(x[i : i + block]))
        outs.append(np.array(y, copy=True))
        counts.append(y.shape[0])
        ends.append(min(i + block, x.shape[0]))
    y = np.concatenate(outs)
    emitted = np.cumsum(counts)
    delays = []
    for p in positions:
        k0 = round(p * OUT / fs) + lag
        lo, hi = max(k0 - 10, 0), k0 + 11
        if hi > y.shape[0]:
            continue
        k = lo + int(np.argmax(np.abs(y[lo:hi])))
        call = int(np.searchsorted(emitted, k + 1))  # first call whose output covers index k
        delays.append((ends[call] - 1 - p) / fs * 1e3)
    return float(np.mean(delays)), float(np.max(delays)), int(max(counts))


def bench(
    rates: tuple[int, ...] = RATES, seconds: float = 60.0, repeats: int = 5
) -> dict[str, float]:
    """Measure ours vs soxr HQ at each input rate (module docstring for the methods).

    Parameters
    ----------
    rates : tuple of int
        Input rates [Hz].
    seconds : float
        Audio per timed loop [s].
    repeats : int
        Timed loops per resampler; the minimum CPU time is kept.

    Returns
    -------
    dict of str to float
        Per rate ``r``: ``{r}_ours_cpu_s``, ``{r}_soxr_cpu_s`` [CPU s per ``seconds`` of audio],
        ``{r}_cpu_ratio`` (ours / soxr), ``{r}_ours_us_per_block``, ``{r}_soxr_us_per_block``
        [µs per 10 ms block], ``{r}_ours_ms_per_s``, ``{r}_soxr_ms_per_s`` [CPU ms per second
        of audio],
        ``{r}_ours_rejection_db``, ``{r}_soxr_rejection_db`` [dB, worst alias],
        ``{r}_ours_latency_ms`` (declared, whole output samples), ``{r}_ours_delay_ms`` (group
        delay averaged over 25-400 Hz), ``{r}_ours_emit_mean_ms``, ``{r}_ours_emit_max_ms``,
        ``{r}_soxr_emit_mean_ms``, ``{r}_soxr_emit_max_ms`` [ms], ``{r}_ours_max_burst``,
        ``{r}_soxr_max_burst`` [output samples per call].
    """
    out: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for fs in rates:
        block = StreamConfig().block_size(fs)
        x = (0.1 * rng.standard_normal(int(seconds * fs))).astype(np.float32)
        blocks = _blocks(x, block)
        stage = ResampleStage(fs)
        stage.warm_up()

        def ours(stage: ResampleStage = stage) -> Callable[[np.ndarray], np.ndarray]:
            stage.reset()
            return stage.process

        def theirs(fs: int = fs) -> Callable[[np.ndarray], np.ndarray]:
            return _soxr_stream(fs).resample_chunk

        t_ours, t_soxr = np.inf, np.inf
        for _ in range(repeats):
            t_ours = min(t_ours, _cpu_seconds(ours, blocks))
            t_soxr = min(t_soxr, _cpu_seconds(theirs, blocks))
        r = str(fs)
        out[f"{r}_ours_cpu_s"] = t_ours
        out[f"{r}_soxr_cpu_s"] = t_soxr
        out[f"{r}_cpu_ratio"] = t_ours / t_soxr
        out[f"{r}_ours_us_per_block"] = t_ours / len(blocks) * 1e6
        out[f"{r}_soxr_us_per_block"] = t_soxr / len(blocks) * 1e6
        out[f"{r}_ours_ms_per_s"] = t_ours / seconds * 1e3
        out[f"{r}_soxr_ms_per_s"] = t_soxr / seconds * 1e3

        def ours_batch(x: np.ndarray, stage: ResampleStage = stage) -> np.ndarray:
            stage.reset()
            return stage.process(x).copy()

        def soxr_batch(x: np.ndarray, fs: int = fs) -> np.ndarray:
            return soxr.resample(x, fs, OUT, quality="HQ")

        out[f"{r}_ours_rejection_db"] = _rejection_db(ours_batch, fs)
        out[f"{r}_soxr_rejection_db"] = _rejection_db(soxr_batch, fs)

        out[f"{r}_ours_latency_ms"] = stage.latency / OUT * 1e3
        out[f"{r}_ours_delay_ms"] = 0.0 if stage.plan is None else stage.plan.delay_s * 1e3
        mean, mx, burst = _emission(ours, fs, block, stage.latency)
        out[f"{r}_ours_emit_mean_ms"], out[f"{r}_ours_emit_max_ms"] = mean, mx
        out[f"{r}_ours_max_burst"] = burst
        mean, mx, burst = _emission(theirs, fs, block, 0)
        out[f"{r}_soxr_emit_mean_ms"], out[f"{r}_soxr_emit_max_ms"] = mean, mx
        out[f"{r}_soxr_max_burst"] = burst
    return out


def format_table(res: dict[str, float], rates: tuple[int, ...] = RATES) -> str:
    """The figures of :func:`bench` as a plain-text table."""
    rows: list[tuple[str, str, str]] = [
        ("CPU per 10 ms block [µs]", "us_per_block", "{:.2f}"),
        ("CPU per s of audio [ms]", "ms_per_s", "{:.3f}"),
        ("stop-band alias, worst [dB]", "rejection_db", "{:.1f}"),
        ("emission delay mean [ms]", "emit_mean_ms", "{:.1f}"),
        ("emission delay max [ms]", "emit_max_ms", "{:.1f}"),
        ("max burst [samples/call]", "max_burst", "{:.0f}"),
    ]
    lines = [f"{'input rate':<30}" + "".join(f"{f'{r} ours':>12}{f'{r} soxr':>12}" for r in rates)]
    for label, key, fmt in rows:
        cells = []
        for r in rates:
            ours, theirs = res[f"{r}_ours_{key}"], res[f"{r}_soxr_{key}"]
            cells.append(f"{fmt.format(ours):>12}{fmt.format(theirs):>12}")
        lines.append(f"{label:<30}" + "".join(cells))
    lines.append(
        f"{'CPU ratio ours / soxr':<30}"
        + "".join(f"{res[f'{r}_cpu_ratio']:>12.2f}{'':>12}" for r in rates)
    )
    lines.append(
        f"{'declared latency [ms]':<30}"
        + "".join(f"{res[f'{r}_ours_latency_ms']:>12.2f}{'0 (aligned)':>12}" for r in rates)
    )
    lines.append(
        f"{'group delay 25-400 Hz [ms]':<30}"
        + "".join(f"{res[f'{r}_ours_delay_ms']:>12.2f}{'':>12}" for r in rates)
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run :func:`bench` and print the table (``argv``: options; None means none given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per timed loop [s]")
    parser.add_argument("--repeats", type=int, default=5, help="timed loops; minimum kept")
    args = parser.parse_args([] if argv is None else argv)
    res = bench(seconds=args.seconds, repeats=args.repeats)
    print(format_table(res))


if __name__ == "__main__":
    main(sys.argv[1:])
