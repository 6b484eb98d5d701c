"""The one place that sets numba options for the whole package.

Kernels are decorated with :data:`kernel` and nothing else (a test greps for stray ``@njit``):

- ``nopython`` (njit): no Python objects inside kernels;
- ``nogil=True``: the UI and the classifier worker keep running while the DSP thread computes;
- ``cache=True``: compiled code is stored beside the modules, so a restart listens fast;
- ``fastmath=False``: no reassociation, so chunked and one-call output are bit-identical.

numba checks a cached kernel against its *own* source file only: a kernel that calls a kernel of
another module (``filters.sos_sample`` from the resampler and the envelope stage) would keep the
old compiled callee after an edit. :func:`drop_stale_caches` (run on import) therefore keys the
whole package's cache on a hash of every module that defines kernels and empties it when one
changes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba import njit

JIT_OPTIONS = {"nogil": True, "cache": True, "fastmath": False, "error_model": "numpy"}

kernel = njit(**JIT_OPTIONS)
"""Decorator for every private DSP kernel."""

PACKAGE_DIR = Path(__file__).resolve().parents[1]
STAMP_NAME = "numba-kernel-sources.sha256"
"""File in the package's top ``__pycache__`` holding the hash the cached kernels were built from."""


def kernel_sources_hash(package: Path = PACKAGE_DIR) -> str:
    """SHA-256 over :data:`JIT_OPTIONS` and the path and text of every package module that
    defines a kernel (the options change every kernel's code without touching its module)."""
    h = hashlib.sha256(repr(sorted(JIT_OPTIONS.items())).encode())
    for path in sorted(package.rglob("*.py")):
        text = path.read_bytes()
        if b"@kernel" in text:
            h.update(str(path.relative_to(package)).encode())
            h.update(text)
    return h.hexdigest()


def drop_stale_caches(package: Path = PACKAGE_DIR) -> int:
    """Delete the package's cached kernels when a kernel module changed; return files deleted.

    Does nothing when ``NUMBA_CACHE_DIR`` points elsewhere or the package is not writable (an
    installed, unchanging package)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return 0
    try:
        digest = kernel_sources_hash(package)
        stamp = package / "__pycache__" / STAMP_NAME
        if stamp.exists() and stamp.read_text().strip() == digest:
            return 0
        dropped = 0
        for pattern in ("*.nbi", "*.nbc"):
            for f in package.rglob(f"__pycache__/{pattern}"):
                f.unlink(missing_ok=True)
                dropped += 1
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_name(f"{STAMP_NAME}.{os.getpid()}.tmp")
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)  # atomic: a concurrent process reads the old or the new stamp
        return dropped
    except OSError:
        return 0


drop_stale_caches()
