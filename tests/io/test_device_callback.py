"""The DeviceSource callback and shutdown, driven directly (no audio device needed).

The callback is what PortAudio's thread runs: it must copy into the ring (pick or downmix), count
status flags, turn a loss into a counted gap, allocate no sample buffer, and ignore a stale stream.
"""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from stetho_rt.errors import DeviceError
from stetho_rt.io.device import DeviceSource, call_with_timeout
from stetho_rt.io.devices import InputDevice, find_input_device, import_sounddevice
from stetho_rt.ringbuffer import RingBuffer

sd = import_sounddevice()
RATE = 8000
BLOCK = 80


def _device(channels: int = 2, name: str = "Fake Stethoscope USB") -> InputDevice:
    return InputDevice(index=3, name=name, channels=channels, default_rate=float(RATE),
                       low_latency_s=0.01, high_latency_s=0.04, hostapi="ALSA", is_default=False)


def _source(channel: int | None = None, channels: int = 2, ring_size: int = RATE
            ) -> tuple[DeviceSource, RingBuffer, object, object]:
    src = DeviceSource(_device(channels), None, channel, block_size=BLOCK)
    ring = RingBuffer(ring_size)
    src.ring = ring
    src._gen[0] = 1
    cb, fin = src._make_callback(1)
    return src, ring, cb, fin


def _read_all(ring: RingBuffer) -> np.ndarray:
    out = np.empty(ring.capacity, np.float32)
    n, _ = ring.read_into(out)
    return out[:n].copy()


NO_FLAGS = sd.CallbackFlags(0)


def test_defaults_from_device() -> None:
    src = DeviceSource(_device(2), None, None)
    assert src.rate == RATE and src.block_size == 80 and src.open_channels == 2
    assert "downmix of 2 ch" in src.description and src.channels == 1
    assert DeviceSource(_device(32), 4000, None).open_channels == 2  # plugin devices upmix
    assert DeviceSource(_device(4), None, 2).open_channels == 3
    with pytest.raises(DeviceError, match=r"channel 2 out of range.*2 input channel"):
        DeviceSource(_device(2), None, 2)


def test_downmix_and_channel_pick(rng: np.random.Generator) -> None:
    x = rng.uniform(-1, 1, (BLOCK, 2)).astype(np.float32)
    _, ring, cb, _ = _source(None)
    cb(x, BLOCK, None, NO_FLAGS)
    np.testing.assert_array_equal(_read_all(ring), (x[:, 0] + x[:, 1]) * np.float32(0.5))
    _, ring, cb, _ = _source(1)
    cb(x[:, :2], BLOCK, None, NO_FLAGS)
    np.testing.assert_array_equal(_read_all(ring), x[:, 1])
    _, ring, cb, _ = _source(None, channels=1)
    cb(x[:, :1], BLOCK, None, NO_FLAGS)
    np.testing.assert_array_equal(_read_all(ring), x[:, 0])


def test_downmix_longer_than_the_mix_buffer(rng: np.random.Generator) -> None:
    src, ring, cb, _ = _source(None, ring_size=20000)
    n = src._mix.shape[0] * 2 + 17
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    cb(x, n, None, NO_FLAGS)
    got = np.concatenate([_read_all(ring) for _ in range(4)])
    np.testing.assert_array_equal(got, (x[:, 0] + x[:, 1]) * np.float32(0.5))


def test_status_flags_are_counted() -> None:
    src, ring, cb, _ = _source(None)
    x = np.zeros((BLOCK, 2), np.float32)
    for _ in range(3):
        cb(x, BLOCK, None, sd.CallbackFlags(sd._lib.paInputOverflow))
    cb(x, BLOCK, None, sd.CallbackFlags(sd._lib.paInputUnderflow))
    cb(x, BLOCK, None, NO_FLAGS)
    assert ring.input_overflows == 3 and ring.input_underflows == 1
    assert src.callbacks == 5 and src.frames_delivered == 5 * BLOCK
    assert ring.written_samples == 5 * BLOCK  # flagged blocks are still delivered


def test_loss_becomes_one_counted_gap() -> None:
    src, ring, cb, _ = _source(None, ring_size=4 * RATE)
    x = np.ones((BLOCK, 2), np.float32)
    cb(x, BLOCK, None, NO_FLAGS)
    src._hb_t[0] = time.monotonic() - 0.5  # last callback 0.5 s ago...
    src._resync[0] = 1  # ...and the watchdog declared the device lost
    cb(x, BLOCK, None, NO_FLAGS)
    expect = 0.5 * RATE - BLOCK
    assert abs(ring.dropped_samples - expect) < 0.05 * RATE
    out = np.empty(RATE, np.float32)
    assert ring.read_into(out) == (BLOCK, 0)
    n, pos = ring.read_into(out)
    assert n == BLOCK and pos == BLOCK + ring.dropped_samples  # stream time jumped by the gap
    assert src._resync[0] == 0


def test_stale_stream_is_ignored() -> None:
    src, ring, cb, fin = _source(None)
    src._gen[0] = 2  # a newer stream took over
    with pytest.raises(sd.CallbackAbort):
        cb(np.ones((BLOCK, 2), np.float32), BLOCK, None, NO_FLAGS)
    fin()
    assert ring.written_samples == 0 and not src._ended.is_set()


def test_callback_allocates_no_sample_buffer() -> None:
    n = 4800  # a block's data is 19 kB: any temporary array would show in the peak
    for channel, channels in ((None, 2), (1, 2), (None, 1)):
        src, ring, cb, _ = _source(channel, channels=channels, ring_size=20 * n)
        x = np.ones((n, src.open_channels), np.float32)
        flags = sd.CallbackFlags(sd._lib.paInputOverflow)
        cb(x, n, None, flags)  # first call: lazy module-level allocations
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(10):
                cb(x, n, None, flags)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert peak < 4 * n, f"callback allocated {peak} bytes (channel={channel})"
        assert ring.written_samples == 11 * n


def test_stop_returns_although_portaudio_hangs() -> None:
    src, _, _, _ = _source(None)
    release = threading.Event()

    class HungStream:
        active = True

        def abort(self) -> None:
            release.wait(30)

        def close(self) -> None:
            pass

    src._stream = HungStream()
    t0 = time.monotonic()
    src.stop(timeout=0.4)
    assert time.monotonic() - t0 < 0.8
    assert src.finished and src.status == "stopped"
    release.set()


def test_call_with_timeout() -> None:
    assert call_with_timeout(lambda: None, 1.0) is None
    assert call_with_timeout(lambda: 1 / 0, 1.0) is None  # errors of a close are swallowed
    ev = threading.Event()
    t0 = time.monotonic()
    hung = call_with_timeout(lambda: ev.wait(30), 0.1)
    assert hung is not None and hung.is_alive()
    assert time.monotonic() - t0 < 0.5
    ev.set()
    hung.join(1.0)
    assert not hung.is_alive()


def test_silence_is_accounted_again_once_a_hung_close_returns() -> None:
    """While a timed-out abort+close still runs, its callback may be writing: the watchdog does
    not produce into the ring. Once it returns, the closed stream's silence is counted again."""
    src, ring, _, _ = _source(None, ring_size=4 * RATE)
    release = threading.Event()

    class HungStream:
        def abort(self) -> None:
            release.wait(30)

        def close(self) -> None:
            pass

    src._stream = HungStream()
    assert not src._close_current(0.1)
    src._hb_t[0] = time.monotonic() - 0.5
    src._account_silence()
    assert ring.dropped_samples == 0  # a callback may still be writing
    release.set()
    src._hung_closes[0].join(1.0)
    src._account_silence()
    assert abs(ring.dropped_samples - 0.5 * RATE) < 0.05 * RATE


def test_find_input_device_rules() -> None:
    devs = [_device(1, "USB Stethoscope"), InputDevice(5, "USB Mic", 2, 48000.0, 0.01, 0.04,
                                                      "ALSA", True)]
    assert find_input_device(None, devs).index == 5  # the default
    assert find_input_device("stetho", devs).index == 3
    assert find_input_device(3, devs).index == 3
    with pytest.raises(DeviceError, match=r"ambiguous.*3 'USB Stethoscope', 5 'USB Mic'"):
        find_input_device("usb", devs)
    with pytest.raises(DeviceError, match=r"no input device with index 4 \(available input "
                                          r"devices: 3 'USB Stethoscope' \(ALSA, 1 ch, 8000 Hz\)"):
        find_input_device(4, devs)
    with pytest.raises(DeviceError, match="no input device found"):
        find_input_device(None, [])


def test_format_devices_table() -> None:
    from stetho_rt.commands.devices import format_devices

    text = format_devices([_device(1, "USB Stethoscope"),
                           InputDevice(5, "x" * 60, 2, 44100.0, 0.0087, 0.0348, "ALSA", True)])
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["idx", "name"] and "latency ms low/high" in lines[0]
    assert lines[1].split() == ["3", "USB", "Stethoscope", "ALSA", "1", "8000", "10.0", "/", "40.0"]
    assert lines[2].startswith("  5* ") and "…" in lines[2] and "8.7 / 34.8" in lines[2]


class _FakeClock:
    """``time.monotonic`` for the callback: the simulated time of the current call [s]."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _clocked_source(monkeypatch: pytest.MonkeyPatch, seconds: float
                    ) -> tuple[DeviceSource, RingBuffer, object, _FakeClock]:
    import types

    import stetho_rt.io.device as device

    clock = _FakeClock()
    monkeypatch.setattr(device, "time", types.SimpleNamespace(monotonic=clock))
    src, ring, cb, _ = _source(None, channels=1, ring_size=int(seconds * RATE) + 10 * RATE)
    return src, ring, cb, clock


def _run_blocks(cb: object, clock: _FakeClock, arrivals: np.ndarray) -> None:
    """One callback per block, at ``arrivals`` [s] (non-decreasing)."""
    x = np.zeros((BLOCK, 1), np.float32)
    for t in arrivals:
        clock.now = 1000.0 + float(t)
        cb(x, BLOCK, None, NO_FLAGS)  # type: ignore[operator]


def _arrivals(rng: np.random.Generator, seconds: float, ppm: float = 0.0,
              burst: int = 5) -> np.ndarray:
    """When blocks reach the callback: captured every 10 ms by a clock ``ppm`` off the wall
    clock, handed over in bursts of ``burst`` blocks (like the ALSA pulse plugin), 0-30 ms late."""
    k = np.arange(int(seconds * RATE / BLOCK))
    captured = (k + 1) * BLOCK / RATE * (1 + ppm * 1e-6)
    handed = captured[np.minimum((k // burst + 1) * burst - 1, k.size - 1)]
    return np.maximum.accumulate(handed + rng.uniform(0, 0.03, k.size))


def test_clock_check_ignores_jitter_and_drift(monkeypatch: pytest.MonkeyPatch,
                                             rng: np.random.Generator) -> None:
    """20 minutes of bursty, late callbacks from a clock 300 ppm slow (0.36 s in all): no
    dropout, nothing dropped."""
    src, ring, cb, clock = _clocked_source(monkeypatch, 1200)
    _run_blocks(cb, clock, _arrivals(rng, 1200, ppm=300))
    assert src.dropouts == 0 and ring.dropped_samples == 0


def test_clock_check_ignores_a_starved_process_that_catches_up(
        monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    """No callback for 0.8 s, then the buffered blocks all at once: late, but nothing lost."""
    src, ring, cb, clock = _clocked_source(monkeypatch, 10)
    t = _arrivals(rng, 10)
    stalled = (t > 4.0) & (t < 4.8)
    t[stalled] = 4.8
    _run_blocks(cb, clock, t)
    assert src.dropouts == 0 and ring.dropped_samples == 0


@pytest.mark.parametrize("hole_s", [0.15, 0.3, 0.7])
def test_clock_check_counts_a_dropout_as_one_gap(monkeypatch: pytest.MonkeyPatch,
                                                 rng: np.random.Generator, hole_s: float) -> None:
    """The device loses ``hole_s`` of audio (shorter than a loss, no overflow flag): one gap of
    that length, found within 1.5 s of the hole's end (the window the hole ends in, then two)."""
    src, ring, cb, clock = _clocked_source(monkeypatch, 10)
    t = _arrivals(rng, 10)
    lost = (t > 4.0) & (t < 4.0 + hole_s)
    _run_blocks(cb, clock, t[(t <= 4.0)])
    assert ring.dropped_samples == 0
    after = t[t >= 4.0 + hole_s]
    _run_blocks(cb, clock, after[after < 4.0 + hole_s + 1.5])
    assert src.dropouts == 1
    assert abs(ring.dropped_samples - int(lost.sum()) * BLOCK) <= 0.015 * RATE
    _run_blocks(cb, clock, after[after >= 4.0 + hole_s + 1.5])
    assert src.dropouts == 1  # found once
    # stream time again follows the wall clock: samples produced match the time elapsed
    produced_s = (ring.written_samples + ring.dropped_samples) / RATE
    assert abs(produced_s - t[-1]) < 0.05


@pytest.mark.parametrize("audio_between_s", [0.2, 0.7])
def test_a_dropout_just_before_a_loss_is_counted(monkeypatch: pytest.MonkeyPatch,
                                                 rng: np.random.Generator,
                                                 audio_between_s: float) -> None:
    """A 0.3 s hole, audio again for ``audio_between_s`` (too short to confirm the hole), then no
    callback for 1.5 s (the watchdog declares a loss): the hole and the loss are both dropped,
    and stream time again follows the wall clock."""
    src, ring, cb, clock = _clocked_source(monkeypatch, 10)
    t = _arrivals(rng, 10)
    hole_end, stall = 4.3, 4.3 + audio_between_s
    _run_blocks(cb, clock, t[t <= 4.0])
    _run_blocks(cb, clock, t[(t >= hole_end) & (t < stall)])
    assert src.dropouts == 0 and ring.dropped_samples == 0  # not confirmed yet
    src._resync[0] = 1  # the watchdog: no audio for STALL_S
    _run_blocks(cb, clock, t[t >= stall + 1.5])
    lost = int(((t > 4.0) & (t < hole_end)).sum() + ((t >= stall) & (t < stall + 1.5)).sum())
    assert abs(ring.dropped_samples - lost * BLOCK) <= 0.1 * RATE
    assert src.dropouts == 1
    produced_s = (ring.written_samples + ring.dropped_samples) / RATE
    assert abs(produced_s - t[-1]) < 0.1


def test_a_loss_without_a_hole_before_it_is_no_dropout(monkeypatch: pytest.MonkeyPatch,
                                                       rng: np.random.Generator) -> None:
    """Audio flows, then the loss: only the silent time is dropped, and no dropout is counted.
    (A callback more than ``DROPOUT_MIN_S`` late just before a loss cannot be told from a hole by
    the clock: it is counted as one, and the time base stays right either way.)"""
    src, ring, cb, clock = _clocked_source(monkeypatch, 10)
    t = _arrivals(rng, 10)
    _run_blocks(cb, clock, t[t <= 4.0])
    src._resync[0] = 1
    _run_blocks(cb, clock, t[t >= 5.5])
    assert src.dropouts == 0
    assert abs(ring.dropped_samples - int(((t > 4.0) & (t < 5.5)).sum()) * BLOCK) <= 0.1 * RATE


def test_a_dropout_before_a_loss_that_never_ends_is_counted(monkeypatch: pytest.MonkeyPatch,
                                                            rng: np.random.Generator) -> None:
    """A 0.3 s hole, 0.5 s of audio, then the device is gone until the run stops: the watchdog's
    accounting of the closed stream's silence (also at stop) takes the hole too, once."""
    src, ring, cb, clock = _clocked_source(monkeypatch, 10)
    t = _arrivals(rng, 10)
    _run_blocks(cb, clock, t[t <= 4.0])
    _run_blocks(cb, clock, t[(t >= 4.3) & (t < 4.8)])
    assert src.dropouts == 0
    for now in (6.0, 6.5, 7.0):  # watchdog polls while the device is away, or stop()
        clock.now = 1000.0 + now
        src._account_silence()
    assert src.dropouts == 1
    produced_s = (ring.written_samples + ring.dropped_samples) / RATE
    assert abs(produced_s - 7.0) < 0.1
    lost = int(((t > 4.0) & (t < 4.3)).sum() + (t >= 4.8).sum()) - int((t > 7.0).sum())
    assert abs(ring.dropped_samples - lost * BLOCK) <= 0.1 * RATE


def test_short_hiccup_below_the_threshold_is_not_a_dropout(
        monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    src, ring, cb, clock = _clocked_source(monkeypatch, 10)
    t = _arrivals(rng, 10)
    _run_blocks(cb, clock, t[(t <= 4.0) | (t >= 4.05)])
    assert src.dropouts == 0 and ring.dropped_samples == 0


def test_a_run_ending_without_its_device_is_an_error() -> None:
    """The line behind the CLI's exit 2 for a monitor stopped while its device was away."""
    import re

    from stetho_rt.io.source import ReplaySource
    from stetho_rt.snapshot import Snapshot

    src = DeviceSource(_device(1), None, None)
    snap = Snapshot(source_rate=RATE, dropped_samples=3 * RATE)
    assert src.end_problem(snap) is None  # never lost
    assert ReplaySource(lambda n: np.zeros(0, np.float32), RATE).end_problem(snap) is None
    src.lost_at_stop, src.problem = True, "no audio from the device for 1.0 s"
    line = src.end_problem(snap)
    assert line is not None and re.search(
        r"lost and had not come back.*no audio.*24000 samples \(3\.0 s\) dropped", line), line
