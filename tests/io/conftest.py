"""The virtual capture device: a private PulseAudio daemon started once per test session.

Tests marked ``device`` use the ``vdev`` fixture. When PulseAudio (or the ALSA pulse plugin) is not
installed they skip with the reason; under ``STETHO_RT_REQUIRE_DATA=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.virtual_device import VirtualDevice, pulseaudio_available, reinit_portaudio

#: Rate and channels of the session's FIFO source [Hz].
VDEV_RATE = 48000
VDEV_CHANNELS = 1


@pytest.fixture(scope="session")
def virtual_device() -> Iterator[VirtualDevice]:
    """Start the daemon, point PortAudio at it, tear it down at the end of the session."""
    reason = pulseaudio_available()
    if reason is not None:
        if os.environ.get("STETHO_RT_REQUIRE_DATA") == "1":
            pytest.fail(f"virtual capture device unavailable: {reason}; "
                        "STETHO_RT_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(f"virtual capture device unavailable: {reason}")
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "PULSE_CLIENTCONFIG", "PULSE_COOKIE")}
    vd = VirtualDevice()
    vd.start(VDEV_RATE, VDEV_CHANNELS)
    vd.apply_env()
    # PortAudio lists devices once, when it initialises: do it again now that the daemon runs.
    if "sounddevice" in sys.modules:
        reinit_portaudio()
    try:
        yield vd
    finally:
        vd.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def vdev(virtual_device: VirtualDevice) -> Iterator[VirtualDevice]:
    """The session's device, daemon up, no feed running, FIFO drained of stale audio."""
    vd = virtual_device
    if not vd.daemon_running:
        vd.restart_daemon()
        reinit_portaudio()
    vd.stop_feeding()
    vd.drain()
    yield vd
    vd.stop_feeding()
