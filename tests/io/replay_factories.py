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
    """``open_audio(path, channel)`` replayed by :meth:`ReplaySource.from_file` (same options)
    into a ring of ``stream_cfg.ring_capacity(rate)`` samples at the file's rate."""
    cfg = stream_cfg or StreamConfig()
    af = open_audio(path, channel)
    ring = RingBuffer(cfg.ring_capacity(af.rate))
    src = ReplaySource.from_file(af, cfg, speed=speed, free_run=free_run, loop=loop, ring=ring)
    return src, ring


def make_demo_replay(
    demo: DemoHeart | None = None,
    *,
    speed: float = 1.0,
    free_run: bool = False,
    stream_cfg: StreamConfig | None = None,
) -> tuple[ReplaySource, RingBuffer]:
    """The demo heart (default ``DemoHeart()``: 4000 Hz, 72 bpm, endless) replayed by
    :meth:`ReplaySource.from_demo` into a ring of ``stream_cfg.ring_capacity(rate)`` samples at
    the demo's rate."""
    cfg = stream_cfg or StreamConfig()
    d = demo if demo is not None else DemoHeart()
    ring = RingBuffer(cfg.ring_capacity(d.rate))
    return ReplaySource.from_demo(d, cfg, speed=speed, free_run=free_run, ring=ring), ring
