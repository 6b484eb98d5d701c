"""``stetho-rt bench``: per-stage cost, the whole chain's real-time factor, and cold start.

Every figure is measured here, on this machine, when the command runs: CPU time of the calling
thread (``time.thread_time``), minimum over repeats, on a synthetic heart-sound signal from the
demo source. Side-by-side comparisons with reference implementations (soxr, scipy, librosa) live
in ``tools/bench.py`` because those are test-only dependencies.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stetho_rt.config import PipelineConfig
from stetho_rt.graph import DspGraph
from stetho_rt.io.demo import DemoHeart

REPEATS = 3
BATCH_BLOCK_FACTOR = 25
"""Batch analysis feeds 25 live blocks (250 ms) per call; stages are block-size invariant."""


@dataclass(frozen=True)
class StageCost:
    """Cost of one stage (or the chain) fed 10 ms blocks: µs per block and real-time factor."""

    name: str
    us_per_block: float
    realtime_factor: float


def _signal(rate: int, seconds: float) -> np.ndarray:
    demo = DemoHeart(rate=rate, hr_bpm=75.0, murmur=True, seed=1)
    return demo.read(int(seconds * rate))


def _time_blocks(fn: Callable[[np.ndarray], object], x: np.ndarray, block: int,
                 reset: Callable[[], None]) -> float:
    """Min over repeats of the thread CPU seconds to feed ``x`` in ``block``-sized pieces."""
    best = float("inf")
    blocks = [np.ascontiguousarray(x[i : i + block]) for i in range(0, x.shape[0], block)]
    for _ in range(REPEATS):
        reset()
        t0 = time.thread_time()
        for b in blocks:
            fn(b)
        best = min(best, time.thread_time() - t0)
    return best


def measure_chain(rate: int, seconds: float = 30.0,
                  cfg: PipelineConfig | None = None) -> list[StageCost]:
    """Per-stage and whole-chain cost for input at ``rate`` Hz in 10 ms blocks."""
    cfg = cfg or PipelineConfig()
    block = cfg.stream.block_size(rate)
    x = _signal(rate, seconds)
    graph = DspGraph(rate, cfg, max_block=block * 4)
    graph.warm_up()
    n_blocks = -(-x.shape[0] // block)

    def cost(name: str, seconds_cpu: float) -> StageCost:
        return StageCost(name, seconds_cpu / n_blocks * 1e6, seconds / seconds_cpu)

    out = []
    t = _time_blocks(graph.resampler.process, x, block, graph.resampler.reset)
    out.append(cost(f"resample {rate}->2000 Hz", t))
    y = np.concatenate([graph.resampler.process(b).copy()
                        for b in np.array_split(x, n_blocks)])
    graph.resampler.reset()
    block_2k = cfg.stream.block_size(cfg.dsp.internal_rate)
    n2 = -(-y.shape[0] // block_2k)

    def cost2k(name: str, seconds_cpu: float) -> StageCost:
        return StageCost(name, seconds_cpu / n2 * 1e6, seconds / seconds_cpu)

    out.append(cost2k("hum removal (no hum)", _time_blocks(
        graph.hum.process, y, block_2k, graph.hum.reset)))
    t_2k = np.arange(y.shape[0]) / cfg.dsp.internal_rate
    hummed = (y + 0.05 * np.sin(2 * np.pi * 50.0 * t_2k)
              + 0.02 * np.sin(2 * np.pi * 150.0 * t_2k)).astype(np.float32)
    out.append(cost2k("hum removal (50+150 Hz on)", _time_blocks(
        graph.hum.process, hummed, block_2k, graph.hum.reset)))
    out.append(cost2k("band-pass + spikes", _time_blocks(
        graph.bandpass.process, y, block_2k, graph.bandpass.reset)))
    out.append(cost2k("STFT + features", _time_blocks(
        graph.spectral.process, y, block_2k, graph.spectral.reset)))
    bp = np.concatenate([graph.bandpass.process(b).copy() for b in np.array_split(y, n2)])
    graph.bandpass.reset()
    out.append(cost2k("detector (envelopes, S1/S2, HR)", _time_blocks(
        graph.detector.process, bp, block_2k, graph.detector.reset)))

    def whole(b: np.ndarray) -> None:
        graph.process(b)

    out.append(cost("whole chain, 10 ms blocks", _time_blocks(whole, x, block, graph.reset)))
    graph.close()
    big = cfg.stream.block_size(rate) * BATCH_BLOCK_FACTOR
    batch = DspGraph(rate, cfg, max_block=big)
    batch.warm_up()
    n_big = -(-x.shape[0] // big)
    t = _time_blocks(lambda b: batch.process(b), x, big, batch.reset)
    out.append(StageCost(f"whole chain, {big / rate * 1000:.0f} ms blocks (batch)",
                         t / n_big * 1e6, seconds / t))
    batch.close()
    return out


def measure_cold_start() -> float:
    """Seconds from process start to the first processed block (warm numba cache)."""
    code = (
        "import time; t0=time.perf_counter()\n"
        "from stetho_rt.commands.live import build_source\n"
        "from stetho_rt.pipeline import Pipeline\n"
        "from stetho_rt.config import PipelineConfig\n"
        "from stetho_rt.io.demo import DemoHeart\n"
        "from stetho_rt.io.source import ReplaySource\n"
        "cfg=PipelineConfig()\n"
        "p=Pipeline(ReplaySource.from_demo(DemoHeart(), cfg.stream), cfg)\n"
        "p.start()\n"
        "while p.samples_in == 0: time.sleep(0.001)\n"
        "print('FIRST', flush=True)\n"
        "p.stop()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm cache
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("FIRST"):
                best = min(best, time.perf_counter() - t0)
                break
        proc.wait(timeout=60)
    return best


def format_costs(rate: int, costs: list[StageCost]) -> str:
    """A plain-text table of :func:`measure_chain` results."""
    lines = [f"input {rate} Hz, 10 ms blocks (thread CPU time, min of {REPEATS})",
             f"  {'stage':<34} {'us/block':>10} {'x real time':>12}"]
    lines += [f"  {c.name:<34} {c.us_per_block:>10.1f} {c.realtime_factor:>12.0f}"
              for c in costs]
    return "\n".join(lines)


def run_bench(args: argparse.Namespace) -> int:
    """Print the per-stage table for each rate, then the cold-start time."""
    for rate in args.rate or [44100, 4000]:
        print(format_costs(rate, measure_chain(rate, args.seconds)), flush=True)
    print(f"cold start (process start -> first processed block, warm cache): "
          f"{measure_cold_start():.2f} s")
    return 0
