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
