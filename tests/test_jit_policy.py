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
