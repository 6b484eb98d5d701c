"""Per-block cost of the band-pass and envelope stages vs scipy, in 10 ms blocks at 2 kHz.

Usage::

    python tools/bench_filters.py

Each figure is the time of one ``process()`` call on a 20-sample block (10 ms at 2000 Hz), in
microseconds: a loop over ``BLOCKS`` consecutive blocks of white noise is timed ``RUNS`` times and
the minimum per-block time is kept (the least disturbed run). The scipy figure is the same loop
with ``y, zi = scipy.signal.sosfilt(sos, block, zi=zi)``, the same SOS and carried state, i.e. what
a straightforward streaming band-pass would cost (on the same float32 blocks, and on float64
copies). Kernels are compiled (or loaded from the numba cache) before timing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stetho_rt.dsp.envelope import EnvelopeStage
from stetho_rt.dsp.filters import BandpassStage

BLOCK = 20
"""Samples per block (10 ms at 2 kHz)."""
BLOCKS = 2000
"""Blocks per timed loop (20 s of signal)."""
RUNS = 7
"""Timed loops; the minimum is reported."""


def _per_block_us(step: Callable[[np.ndarray], object], blocks: list[np.ndarray]) -> float:
    """Minimum over ``RUNS`` loops of the mean time of ``step(block)`` [µs per block]."""
    best = float("inf")
    for _ in range(RUNS):
        t0 = time.perf_counter()
        for b in blocks:
            step(b)
        best = min(best, (time.perf_counter() - t0) / len(blocks))
    return best * 1e6


def bench() -> dict[str, float]:
    """Measure the per-block costs.

    Returns
    -------
    dict of str to float
        ``bandpass_us`` (spike suppression off), ``bandpass_spikes_us`` (on),
        ``scipy_sosfilt_us`` (per-block scipy with carried ``zi``), ``speedup`` and
        ``speedup_spikes`` (scipy time / ours), ``envelope_us``; times in µs per 20-sample block.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal(BLOCK * BLOCKS).astype(np.float32) * 0.1
    blocks = [np.ascontiguousarray(x[i : i + BLOCK]) for i in range(0, x.shape[0], BLOCK)]

    off = BandpassStage(suppress_spikes=False, max_block=BLOCK)
    on = BandpassStage(max_block=BLOCK)
    env = EnvelopeStage(max_block=BLOCK)
    for stage in (off, on, env):
        stage.warm_up()
    bp = off.process(x)  # band-passed input for the envelope (split into blocks by process)
    env_blocks = [np.ascontiguousarray(bp[i : i + BLOCK]) for i in range(0, bp.shape[0], BLOCK)]
    off.reset()

    sos = off.sos
    state = {"zi": np.zeros((sos.shape[0], 2))}
    blocks64 = [b.astype(np.float64) for b in blocks]

    def scipy_step(b: np.ndarray) -> None:
        _, state["zi"] = scipy.signal.sosfilt(sos, b, zi=state["zi"])

    for b in blocks64[:50]:
        scipy_step(b)

    ours = _per_block_us(off.process, blocks)
    ours_spikes = _per_block_us(on.process, blocks)
    ref = _per_block_us(scipy_step, blocks)
    ref64 = _per_block_us(scipy_step, blocks64)
    envelope = _per_block_us(env.process, env_blocks)
    return {
        "bandpass_us": ours,
        "bandpass_spikes_us": ours_spikes,
        "scipy_sosfilt_us": ref,
        "scipy_sosfilt_f64_us": ref64,
        "speedup": ref / ours,
        "speedup_spikes": ref / ours_spikes,
        "envelope_us": envelope,
    }


def main() -> None:
    r = bench()
    print(f"per 10 ms block ({BLOCK} samples at 2 kHz), min of {RUNS} runs x {BLOCKS} blocks:")
    print(f"  BandpassStage, spikes off     {r['bandpass_us']:8.2f} us")
    print(f"  BandpassStage, spikes on      {r['bandpass_spikes_us']:8.2f} us")
    print(f"  scipy sosfilt + zi (float32)  {r['scipy_sosfilt_us']:8.2f} us")
    print(f"  scipy sosfilt + zi (float64)  {r['scipy_sosfilt_f64_us']:8.2f} us")
    print(
        f"  speed-up vs scipy             {r['speedup']:8.1f} x (spikes on: "
        f"{r['speedup_spikes']:.1f} x; target >= 10 x)"
    )
    print(f"  EnvelopeStage                 {r['envelope_us']:8.2f} us")


if __name__ == "__main__":
    main()
