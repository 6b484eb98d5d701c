"""The one place that sets numba options for the whole package.

Kernels are decorated with :data:`kernel` and nothing else (a test greps for stray ``@njit``):

- ``nopython`` (njit): no Python objects inside kernels;
- ``nogil=True``: the UI and the classifier worker keep running while the DSP thread computes;
- ``cache=True``: compiled code is stored beside the modules, so a restart listens fast;
- ``fastmath=False``: no reassociation, so chunked and one-call output are bit-identical.
"""

from __future__ import annotations

from numba import njit

JIT_OPTIONS = {"nogil": True, "cache": True, "fastmath": False, "error_model": "numpy"}

kernel = njit(**JIT_OPTIONS)
"""Decorator for every private DSP kernel."""
