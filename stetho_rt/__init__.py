"""stetho-rt: a real-time streaming stethoscope monitor.

Audio from a device or a replayed file flows through a lock-free ring buffer into a DSP thread of
numba-jitted, block-size-invariant stages (resampling to 2 kHz, band-pass, envelopes, STFT), an
online S1/S2 detector and a windowed ONNX classifier. See ``ARCHITECTURE`` in the README.
"""

from __future__ import annotations

__version__ = "0.1.0"
