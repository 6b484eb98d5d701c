"""Every kernel, bounds-checked: numba does not check indices, so an out-of-bounds write corrupts
the heap silently and crashes later (at exit, in GC). Here the whole graph, the detector included,
runs in a subprocess with ``NUMBA_BOUNDSCHECK=1`` and a private cache (cached kernels would
otherwise be loaded without the checks), over awkward block sizes, gaps and stream ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import numpy as np
from stetho_rt.config import PipelineConfig, StreamConfig
from stetho_rt.graph import DspGraph
from stetho_rt.io.demo import DemoHeart
from stetho_rt.io.source import ReplaySource
from stetho_rt.pipeline import Pipeline

rng = np.random.default_rng(0)
for rate in (1000, 2000, 4000, 11025, 44100, 96000):
    cfg = PipelineConfig()
    block = cfg.stream.block_size(rate)
    g = DspGraph(rate, cfg, max_block=block * 4)
    g.warm_up()
    x = DemoHeart(rate=rate, seed=rate).read(rate * 3)
    x[rate // 2 : rate // 2 + 50] = 1.0  # clipped knock
    pos = 0
    while pos < x.shape[0]:
        n = int(rng.integers(0, block * 4 + 1))
        g.process(np.ascontiguousarray(x[pos : pos + n]))
        pos += n
    g.flush()
    g.reset()
    g.process(np.zeros(block * 4, np.float32))
    g.flush()
# the classifier branch (window summaries run in numba kernels on the worker thread)
from stetho_rt.classify.model import OnnxClassifier
cfg = PipelineConfig()
clf = OnnxClassifier.load(None, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s)
g = DspGraph(4000, cfg, max_block=4000, classifier=clf, live=False)
g.warm_up()
x = DemoHeart(rate=4000, seed=3, murmur=True).read(4000 * 9)
x[8000:8400] = 1.0
for i in range(0, x.shape[0], 1000):
    g.process(np.ascontiguousarray(x[i : i + 1000]))
out = g.flush()
assert g.verdict() is not None
g.close()
# the live path with drops (tiny ring, paced, slowed consumer is not needed: tiny ring suffices)
cfg = PipelineConfig(stream=StreamConfig(block_seconds=0.01, ring_seconds=0.05))
src = ReplaySource.from_demo(DemoHeart(rate=8000, duration_s=3.0), cfg.stream, speed=50.0)
p = Pipeline(src, cfg, live=True)
p.start(); p.wait(60); p.stop()
assert p.error is None, p.error
print("OK")
"""


@pytest.mark.slow
def test_all_kernels_in_bounds(tmp_path: Path) -> None:
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
        proc.stdout[-2000:] + proc.stderr[-4000:])
