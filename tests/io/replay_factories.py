"""Test factories: a (not yet started) replay source of a file or of the demo heart, with its ring.

Tests drive a :class:`~stetho_rt.io.source.ReplaySource` directly (no pipeline) through these;
the pipeline builds its sources itself (``stetho_rt.commands.live``, ``stetho_rt.analysis``).
"""

from __future__ import annotations

import os

from stetho_rt.config import StreamConfig
from stetho_rt.io.audiofile import open_audio
from stetho_rt.io.demo import DemoHeart
from stetho_rt.io.source import ReplaySource
from stetho_rt.ringbuffer import RingBuffer


def make_file_replay(
    path: str | os.PathLike[str],
    *,
    channel: int | None = None,
    speed: float = 1.0,
    free_run: bool = False,
    loop: bool = False,
    stream_cfg: StreamConfig | None = None,
) -> tuple[ReplaySource, RingBuffer]:
    """``open_audio(path, channel)`` replayed by :meth:`ReplaySource.from_file` (same options),
    with a ring of ``stream_cfg.ring_capacity(rate)`` samples attached."""
    cfg = stream_cfg or StreamConfig()
    af = open_audio(path, channel)
    return _with_ring(ReplaySource.from_file(af, cfg, speed=speed, free_run=free_run, loop=loop),
                      cfg)


def make_demo_replay(
    demo: DemoHeart | None = None,
    *,
    speed: float = 1.0,
    free_run: bool = False,
    stream_cfg: StreamConfig | None = None,
) -> tuple[ReplaySource, RingBuffer]:
    """The demo heart (default ``DemoHeart()``: 4000 Hz, 72 bpm, endless) replayed by
    :meth:`ReplaySource.from_demo`, with a ring attached."""
    cfg = stream_cfg or StreamConfig()
    return _with_ring(ReplaySource.from_demo(demo, cfg, speed=speed, free_run=free_run), cfg)


def _with_ring(src: ReplaySource, cfg: StreamConfig) -> tuple[ReplaySource, RingBuffer]:
    ring = RingBuffer(cfg.ring_capacity(src.rate))
    src._check_ring(ring)
    src.ring = ring
    return src, ring
