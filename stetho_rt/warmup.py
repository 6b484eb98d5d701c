"""Compile (or load from the on-disk cache) every numba kernel once.

``Pipeline.start()`` warms its own stages before a source opens; this module warms a graph for
common input rates in one go, e.g. after installation or before a test run so that parallel
processes find a populated cache instead of all compiling at once.
"""

from __future__ import annotations

import time

from stetho_rt.classify.windows import warm_up_summary
from stetho_rt.config import PipelineConfig
from stetho_rt.dsp.level import BlockMeter
from stetho_rt.graph import DspGraph

WARM_RATES = (2000, 4000, 44100)
"""Input rates whose resampler paths are warmed (integer, fractional and pass-through)."""


def warm_all(rates: tuple[int, ...] = WARM_RATES) -> float:
    """Warm every kernel; return the seconds it took."""
    t0 = time.perf_counter()
    BlockMeter().warm_up()
    warm_up_summary()  # the classifier worker's kernels (the graphs below have no model)
    cfg = PipelineConfig()
    for rate in rates:
        graph = DspGraph(rate, cfg, max_block=cfg.stream.block_size(rate) * 4)
        graph.warm_up()
        graph.close()
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"numba kernels warm in {warm_all():.1f} s")
