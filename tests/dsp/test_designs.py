"""Design cache (stetho_rt/dsp/designs.py): hits, corruption, unwritable folders, and a warm start
that imports neither scipy.signal nor librosa."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from stetho_rt.config import DspConfig
from stetho_rt.dsp import designs
from stetho_rt.dsp.designs import CACHE_ENV, cache_dir, cache_path, cached_design, clear_memo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_memo() -> Iterator[None]:
    """Every test starts and ends with an empty in-process memo."""
    clear_memo()
    yield
    clear_memo()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache folder (never the user's ~/.cache)."""
    path = tmp_path / "designs"
    monkeypatch.setenv(CACHE_ENV, str(path))
    return path


class Counting:
    """A design function that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, object]:
        self.calls += 1
        return {
            "sos": np.arange(12, dtype=np.float64).reshape(2, 6) / 7.0,
            "taps": np.linspace(-1.0, 1.0, 5, dtype=np.float32),
            "latency": 5,
            "delay_s": 0.1 + 0.2,
        }


def assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


def test_cache_hit_returns_equal_arrays(cache: Path) -> None:
    compute = Counting()
    first = cached_design("unit", (1, 2.5, "x"), compute)
    assert compute.calls == 1
    files = sorted(p.name for p in cache.iterdir())
    assert files == [cache_path("unit", (1, 2.5, "x")).name]  # no temporary file left behind
    assert first["latency"].shape == () and first["latency"].dtype == np.int64
    clear_memo()
    second = cached_design("unit", (1, 2.5, "x"), compute)  # from the file
    assert compute.calls == 1
    assert_bit_identical(first, second)
    assert float(second["delay_s"]) == 0.1 + 0.2
    third = cached_design("unit", (1, 2.5, "x"), compute)  # from the memo
    assert compute.calls == 1
    assert_bit_identical(first, third)


def test_results_are_independent_copies(cache: Path) -> None:
    compute = Counting()
    a = cached_design("unit", (1,), compute)
    a["sos"][:] = 0.0
    b = cached_design("unit", (1,), compute)
    assert b["sos"][1, 0] == 6.0 / 7.0
    assert b["sos"].flags.writeable and b["sos"].flags.c_contiguous


def test_key_covers_params_name_and_design_version(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = cache_path("unit", (1, 2.0))
    assert cache_path("unit", (1, 2.0)) == base
    assert cache_path("unit", (1, 2.000001)) != base
    assert cache_path("unit", (1, 2)) != base  # int and float parameters are different designs
    assert cache_path("other", (1, 2.0)) != base
    monkeypatch.setattr(designs, "DESIGN_VERSION", designs.DESIGN_VERSION + 1)
    assert cache_path("unit", (1, 2.0)) != base
    with pytest.raises(ValueError):
        cache_path("../escape", ())


def write_garbage(path: Path) -> None:
    path.write_bytes(b"not a zip file at all")


def write_truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_foreign(path: Path) -> None:
    with path.open("wb") as f:
        np.savez(f, __key__=np.array("another design"), sos=np.zeros((2, 6)))


def write_keyless(path: Path) -> None:
    with path.open("wb") as f:
        np.savez(f, sos=np.zeros((2, 6)))


@pytest.mark.parametrize(
    "corrupt",
    [write_garbage, write_truncated, write_foreign, write_keyless],
    ids=lambda f: f.__name__,
)
def test_corrupted_file_is_recomputed(cache: Path, corrupt: Callable[[Path], None]) -> None:
    compute = Counting()
    good = cached_design("unit", (3,), compute)
    path = cache_path("unit", (3,))
    corrupt(path)
    clear_memo()
    again = cached_design("unit", (3,), compute)
    assert compute.calls == 2
    assert_bit_identical(good, again)
    clear_memo()
    cached_design("unit", (3,), compute)  # the file was rewritten: a hit
    assert compute.calls == 2


def test_unwritable_location_just_computes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "designs"))  # cannot be created, even by root
    compute = Counting()
    out = cached_design("unit", (4,), compute)
    assert compute.calls == 1 and out["latency"] == 5
    clear_memo()
    cached_design("unit", (4,), compute)
    assert compute.calls == 2
    assert blocker.is_file()


def test_read_only_dir(cache: Path) -> None:
    compute = Counting()
    cache.mkdir()
    cache.chmod(0o555)
    try:
        out = cached_design("unit", (5,), compute)
        assert compute.calls == 1 and out["latency"] == 5
        if os.geteuid() != 0:  # root writes anyway
            assert list(cache.iterdir()) == []
        # a read-only folder that already holds the design serves it
        cache.chmod(0o755)
        cached_design("unit", (6,), compute)
        cache.chmod(0o555)
        clear_memo()
        cached_design("unit", (6,), compute)
        assert compute.calls == 2
    finally:
        cache.chmod(0o755)


def test_compute_errors_propagate(cache: Path) -> None:
    def broken() -> dict[str, object]:
        raise ZeroDivisionError("bad design")

    with pytest.raises(ZeroDivisionError):
        cached_design("unit", (7,), broken)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "stetho-rt" / "designs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "stetho-rt" / "designs"


def stage_designs() -> dict[str, np.ndarray]:
    """Every cached design the DSP stages use, flattened into one dict."""
    from stetho_rt.dsp.envelope import EnvelopeStage
    from stetho_rt.dsp.features import mel_filterbank
    from stetho_rt.dsp.filters import BandpassStage
    from stetho_rt.dsp.resample import design

    cfg = DspConfig()
    out: dict[str, np.ndarray] = {}
    bp = BandpassStage(cfg)
    out["bp_sos"], out["bp_latency"] = bp.sos, np.array(bp.latency)
    env = EnvelopeStage(cfg)
    for name in ("homomorphic_sos", "decimation_taps", "_hzi0"):
        out[f"env{name}"] = getattr(env, name)
    out["env_latency"] = np.array([env.latency, env.homomorphic_delay, env.decimation_delay])
    out["mel"] = mel_filterbank(cfg)
    for rate in (4000, 11025, 44100, 44101):
        plan = design(rate, cfg)
        for name in ("fir", "sos", "table"):
            out[f"rs{rate}{name}"] = getattr(plan, name)
        out[f"rs{rate}delay"] = np.array([plan.delay_s, plan.latency, plan.shift, plan.phases])
    return out


def test_stage_designs_from_cache_are_bit_identical(cache: Path) -> None:
    computed = stage_designs()
    assert len(list(cache.glob("*.npz"))) == 7  # bandpass, envelope, mel, 4 resample plans
    clear_memo()
    assert_bit_identical(computed, stage_designs())


WARM = """
from stetho_rt.config import PipelineConfig
from stetho_rt.dsp.envelope import EnvelopeStage
from stetho_rt.graph import DspGraph
DspGraph(44100, PipelineConfig(), max_block=1764)
EnvelopeStage()
"""

CHECK = """
import json, sys
import stetho_rt.graph
from stetho_rt.config import PipelineConfig
from stetho_rt.dsp.envelope import EnvelopeStage
g = stetho_rt.graph.DspGraph(44100, PipelineConfig(), max_block=1764)
EnvelopeStage()
heavy = ("scipy.signal", "scipy.stats", "librosa")
print(json.dumps({"detector": g.has_detector, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_warm_start_imports_neither_scipy_signal_nor_librosa(tmp_path: Path) -> None:
    env = {**os.environ, CACHE_ENV: str(tmp_path / "designs")}

    def run(code: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run(WARM)
    assert len(list((tmp_path / "designs").glob("*.npz"))) >= 4
    result = json.loads(run(CHECK).strip().splitlines()[-1])
    assert result == {"detector": True, "loaded": []}
