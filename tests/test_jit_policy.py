"""Numba options are set in one place (stetho_rt/dsp/_jit.py); kernels use ``@kernel``."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "stetho_rt"
FORBIDDEN = re.compile(r"@(numba\.)?(njit|jit|vectorize|guvectorize)\b|fastmath\s*=|nogil\s*=")


def test_no_numba_options_outside_jit_module() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_jit.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{i}: {line.strip()}")
    assert not offenders, "numba options outside dsp/_jit.py:\n" + "\n".join(offenders)


def test_kernel_options() -> None:
    from stetho_rt.dsp._jit import JIT_OPTIONS

    assert JIT_OPTIONS["cache"] is True
    assert JIT_OPTIONS["nogil"] is True
    assert JIT_OPTIONS["fastmath"] is False


def test_stale_kernel_caches_are_dropped_when_a_kernel_module_changes(
    tmp_path, monkeypatch
) -> None:
    """numba re-validates a cached kernel against its own file only; the package stamp empties
    the cache whenever any kernel module changes (a callee in another module included)."""
    from stetho_rt.dsp._jit import drop_stale_caches

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    mod = tmp_path / "dsp" / "callee.py"
    mod.parent.mkdir()
    mod.write_text("@kernel\ndef f(x):\n    return x\n")
    (tmp_path / "ui.py").write_text("x = 1\n")
    cached = tmp_path / "dsp" / "__pycache__" / "caller.f-1.py311.nbi"
    cached.parent.mkdir()
    cached.write_text("index")
    assert drop_stale_caches(tmp_path) == 1 and not cached.exists()
    cached.write_text("index")
    assert drop_stale_caches(tmp_path) == 0 and cached.exists()  # nothing changed
    (tmp_path / "ui.py").write_text("x = 2\n")
    assert drop_stale_caches(tmp_path) == 0 and cached.exists()  # not a kernel module
    mod.write_text("@kernel\ndef f(x):\n    return x + 1\n")
    assert drop_stale_caches(tmp_path) == 1 and not cached.exists()


WARM_THEN_LIVE = r"""
import sys, json
import numpy as np
from numba.core.dispatcher import Dispatcher
from stetho_rt.config import PipelineConfig
from stetho_rt.graph import DspGraph
from stetho_rt.io.demo import DemoHeart

def signatures():
    out = {}
    for name, mod in list(sys.modules.items()):
        if name.startswith("stetho_rt"):
            for attr, obj in vars(mod).items():
                if isinstance(obj, Dispatcher):
                    out[f"{name}.{attr}"] = sorted(map(str, obj.signatures))
    return out

cfg = PipelineConfig()
batch = DspGraph(44100, cfg, max_block=44100, live=False)
batch.warm_up()
before = signatures()
live = DspGraph(44100, cfg, max_block=441 * 4, live=True)
live.warm_up()  # a no-op for the stages: this rate was warmed by the batch graph
x = DemoHeart(rate=44100, seed=1, duration_s=4.0).read(4 * 44100)
for i in range(0, 2 * 44100, 441):
    live.process(x[i:i + 441])
live.process(np.zeros(441 * 4, np.float32), gap=True)
for i in range(2 * 44100, x.shape[0], 441):
    live.process(x[i:i + 441])
live.flush()
after = signatures()
print(json.dumps({"kernels": len(before),
                  "new": {k: v for k, v in after.items() if before.get(k) != v}}))
"""


def test_a_live_graph_after_a_batch_graph_compiles_nothing() -> None:
    """Kernels compile once per process and input rate in the first graph's warm-up; a batch graph
    (which skips the display envelope) must still warm every kernel a live graph at the same rate
    runs, or the DSP thread would compile mid-stream."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", WARM_THEN_LIVE], capture_output=True, text=True,
                         timeout=300, check=True, cwd=PACKAGE.parent)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["kernels"] >= 20
    assert result["new"] == {}
