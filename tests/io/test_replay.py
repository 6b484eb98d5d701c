"""The replay thread: free-run loses nothing, paced runs on the clock, drops keep time true."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stetho_rt.config import StreamConfig
from stetho_rt.errors import ConfigError, InputError
from stetho_rt.io.audiofile import open_audio
from stetho_rt.io.demo import DemoHeart
from stetho_rt.io.source import ReplaySource, Source
from stetho_rt.ringbuffer import RingBuffer
from tests.io.replay_factories import make_demo_replay, make_file_replay


def _ramp(n: int) -> np.ndarray:
    """Samples equal to their own index (exact in float32 below 2**24)."""
    return np.arange(n, dtype=np.float32)


def _random_blocks(x: np.ndarray, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    return np.split(x, np.sort(rng.integers(0, len(x), count)))


class Consumer(threading.Thread):
    """Reads the ring like the DSP thread, recording (position, samples) of every read."""

    def __init__(self, ring: RingBuffer, src: ReplaySource, chunk: int = 300, nap: float = 2e-4):
        super().__init__(daemon=True)
        self.ring, self.src, self.chunk, self.nap = ring, src, chunk, nap
        self.reads: list[tuple[int, np.ndarray]] = []

    def run(self) -> None:
        out = np.empty(self.chunk, np.float32)
        while True:
            n, pos = self.ring.read_into(out)
            if n:
                self.reads.append((pos, out[:n].copy()))
            elif self.src.finished and self.ring.available == 0:
                return
            else:
                time.sleep(self.nap)

    def samples(self) -> np.ndarray:
        return np.concatenate([s for _, s in self.reads]) if self.reads else np.zeros(0)

    def check_positions(self) -> None:
        """Every sample read sits at the stream index it encodes: time stays true."""
        for pos, s in self.reads:
            np.testing.assert_array_equal(s, pos + np.arange(len(s), dtype=np.float32))


def _run(src: ReplaySource, ring: RingBuffer, **kw) -> tuple[Consumer, float]:
    cons = Consumer(ring, src, **kw)
    t0 = time.perf_counter()
    src.start()
    cons.start()
    cons.join(20)
    assert not cons.is_alive()
    return cons, time.perf_counter() - t0


def test_free_run_delivers_every_sample_in_order(rng: np.random.Generator):
    x = _ramp(300_000)
    ring = RingBuffer(1024)  # small: the producer must wait for the consumer many times
    src = ReplaySource(_random_blocks(x, rng, 3000), 4000, ring, 40, free_run=True)
    assert isinstance(src, Source)
    cons, _ = _run(src, ring, chunk=257)
    assert src.error is None and src.finished and not src.is_alive
    np.testing.assert_array_equal(cons.samples(), x)
    cons.check_positions()
    assert ring.dropped_samples == 0
    assert src.position_s == pytest.approx(len(x) / 4000)


def test_callable_reader_and_rechunking(rng: np.random.Generator):
    demo = DemoHeart(rate=2000, duration_s=7.3, seed=1)
    ref = DemoHeart(rate=2000, duration_s=7.3, seed=1).read(10**6)
    ring = RingBuffer(4096)
    seen: list[int] = []
    real_write = ring.write

    def spy(block: np.ndarray) -> int:
        seen.append(len(block))
        return real_write(block)

    ring.write = spy  # type: ignore[method-assign]
    src = ReplaySource(demo.read, 2000, ring, 20, free_run=True)
    cons, _ = _run(src, ring)
    np.testing.assert_array_equal(cons.samples(), ref)
    assert set(seen[:-1]) == {20} and 1 <= seen[-1] <= 20  # device-like blocks


def test_paced_speed_1_takes_real_time():
    rate, secs = 4000, 0.6
    ring = RingBuffer(rate * 10)
    src = ReplaySource([_ramp(int(rate * secs))], rate, ring)  # default 10 ms blocks
    assert src.block_size == 40
    cons, wall = _run(src, ring)
    assert 0.95 * secs <= wall <= secs + 0.4
    np.testing.assert_array_equal(cons.samples(), _ramp(int(rate * secs)))


def test_paced_speed_10_is_ten_times_faster():
    rate, secs = 4000, 3.0
    ring = RingBuffer(rate * 10)
    src = ReplaySource([_ramp(int(rate * secs))], rate, ring, speed=10.0)
    cons, wall = _run(src, ring)
    assert 0.95 * secs / 10 <= wall <= secs / 10 + 0.3
    assert len(cons.samples()) == rate * secs and ring.dropped_samples == 0


def test_starved_consumer_in_paced_mode_drops_but_keeps_time():
    rate, n = 4000, 16000  # 4 s of stream at speed 10: 0.4 s of wall time
    ring = RingBuffer(1024)
    src = ReplaySource([_ramp(n)], rate, ring, 40, speed=10.0)
    cons = Consumer(ring, src, chunk=4096, nap=0.05)  # wakes every 50 ms: 2000 samples later
    src.start()
    cons.start()
    cons.join(10)
    got = cons.samples()
    assert ring.dropped_samples > 0 and len(got) < n
    assert len(got) + ring.dropped_samples == n  # every sample was delivered or counted
    cons.check_positions()  # gaps shift the positions: stream time stays true
    positions = [p for p, _ in cons.reads]
    ends = [p + len(s) for p, s in cons.reads]
    jumps = [b - a for a, b in zip(ends[:-1], positions[1:], strict=True) if b != a]
    assert jumps and all(j > 0 and j % 40 == 0 for j in jumps)  # whole blocks dropped
    assert sum(jumps) <= ring.dropped_samples
    assert src.position_s == pytest.approx(n / rate)


def test_blocks_dropped_at_the_very_end_still_move_stream_time_to_the_end():
    """A consumer that reads only after the producer ended: the ring keeps its first 1024
    samples and every later block is dropped, with no block after them to carry their gap.
    The gap is published when the source ends, so the stream's position reaches the file's
    end (it stopped at 1024 of 16000: a replay's last status line showed 47-60 s of a 64 s
    file)."""
    rate, n = 4000, 16000
    ring = RingBuffer(1024)
    src = ReplaySource([_ramp(n)], rate, ring, 64, speed=100.0)
    src.start()
    deadline = time.monotonic() + 20
    while not src.finished:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert ring.unread_gaps == 1 and ring.available == 1024  # the pipeline waits for the gap too
    out = np.empty(4096, np.float32)
    got, pos = ring.read_into(out)
    assert pos == 0 and got == 1024
    np.testing.assert_array_equal(out[:got], _ramp(1024))
    assert ring.read_into(out) == (0, n)  # the trailing gap: time moves to the end
    assert ring.unread_gaps == 0
    assert ring.dropped_samples == n - 1024


@pytest.mark.parametrize("free_run", [False, True])
def test_stop_returns_fast_mid_stream(free_run: bool):
    src, ring = make_demo_replay(DemoHeart(rate=4000), free_run=free_run)  # endless
    src.start()
    time.sleep(0.15)  # free-run: the ring is full by now and the thread waits for room
    t0 = time.perf_counter()
    src.stop()
    assert time.perf_counter() - t0 < 0.5
    assert not src.is_alive and src.finished and src.error is None
    assert src.position_s > 0
    if free_run:
        assert ring.available == ring.capacity - ring.capacity % src.block_size
        assert ring.dropped_samples == 0


def test_stop_with_a_blocking_reader_does_not_hang():
    gate = threading.Event()

    def stuck(n: int) -> np.ndarray:
        gate.wait(5)
        return np.zeros(0, np.float32)

    src = ReplaySource(stuck, 4000, RingBuffer(4096))
    src.start()
    t0 = time.perf_counter()
    src.stop(timeout=0.2)
    assert time.perf_counter() - t0 < 0.5
    gate.set()
    assert src.join(2) and src.finished


def test_reader_exception_lands_on_error():
    calls = 0

    def flaky(n: int) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("disk on fire")
        return np.ones(n, np.float32)

    ring = RingBuffer(4096)
    src = ReplaySource(flaky, 4000, ring, 40, free_run=True)
    src.start()
    assert src.join(2)
    assert isinstance(src.error, RuntimeError) and "disk on fire" in str(src.error)
    assert src.finished and not src.is_alive
    assert ring.available == 120


def test_bad_block_from_reader_lands_on_error():
    src = ReplaySource([np.zeros((10, 2), np.float32)], 4000, RingBuffer(4096), free_run=True)
    src.start()
    assert src.join(2) and isinstance(src.error, ValueError)


def test_loop_restarts_seamlessly():
    x = _ramp(1000)
    ring = RingBuffer(4096)
    src = ReplaySource([x[:300], x[300:]], 1000, ring, 64, free_run=True, loop=True)
    src.start()
    out = np.empty(3500, np.float32)
    got = 0
    deadline = time.perf_counter() + 5
    while got < 3500 and time.perf_counter() < deadline:
        n, _ = ring.read_into(out[got:])
        got += n
    src.stop()
    assert got == 3500 and src.error is None
    np.testing.assert_array_equal(out, np.tile(x, 4)[:3500])


def test_file_replay_end_to_end(tmp_path: Path, rng: np.random.Generator):
    path = tmp_path / "heart.wav"
    sig = DemoHeart(rate=4000, seed=3).read(4000 * 5)
    stereo = np.stack([sig, 0.5 * rng.standard_normal(len(sig)).astype(np.float32)], axis=1)
    sf.write(path, stereo, 4000, subtype="FLOAT")
    cfg = StreamConfig(ring_seconds=0.5)
    src, ring = make_file_replay(path, channel=0, free_run=True, stream_cfg=cfg)
    assert ring.capacity == 2000 and src.block_size == 40 and src.rate == 4000
    assert "heart.wav" in src.description and src.duration_s == pytest.approx(5.0)
    cons, _ = _run(src, ring)
    assert src.error is None
    np.testing.assert_array_equal(cons.samples(), sig)
    np.testing.assert_array_equal(cons.samples(), open_audio(path, channel=0).read_all())

    looped, _ = make_file_replay(path, loop=True, free_run=True)
    looped.start()
    time.sleep(0.05)
    looped.stop()
    assert looped.error is None


def test_from_file_and_from_demo_take_the_ring_at_start(tmp_path: Path):
    """The pipeline's way: build the source, then ``start(ring)`` with the pipeline's ring."""
    demo = DemoHeart(rate=2000, duration_s=3.0, seed=9)
    ref = DemoHeart(rate=2000, duration_s=3.0, seed=9).read(10**6)
    path = tmp_path / "demo.flac"
    sf.write(path, ref, 2000, subtype="PCM_24")
    cfg = StreamConfig()
    for src in (
        ReplaySource.from_demo(demo, cfg, free_run=True),
        ReplaySource.from_file(open_audio(path), cfg, free_run=True),
    ):
        assert src.ring is None and src.block_size == 20 and src.duration_s == 3.0
        ring = RingBuffer(cfg.ring_capacity(src.rate))
        cons = Consumer(ring, src)
        src.start(ring)
        cons.start()
        cons.join(10)
        assert src.error is None
        np.testing.assert_allclose(cons.samples(), ref, atol=2**-22)
    assert demo.truth("S1")  # the caller's demo object recorded its truth


def test_file_replay_rejects_bad_files_up_front(tmp_path: Path):
    with pytest.raises(InputError, match=r"missing\.wav: no such file"):
        make_file_replay(tmp_path / "missing.wav")


def test_truncation_during_replay_lands_on_error(tmp_path: Path, rng: np.random.Generator):
    path = tmp_path / "shrinks.wav"
    sf.write(path, 0.3 * rng.standard_normal(40000), 4000, subtype="PCM_16")
    src, ring = make_file_replay(path, free_run=True)
    path.write_bytes(path.read_bytes()[:40000])  # cut after validation, before streaming
    cons, _ = _run(src, ring)
    assert isinstance(src.error, InputError) and "truncated" in str(src.error)
    assert 0 < len(cons.samples()) < 40000


def test_parameter_checks():
    with pytest.raises(ConfigError):
        ReplaySource([], 4000, speed=0.0)
    with pytest.raises(ConfigError):
        ReplaySource([], 4000, RingBuffer(1024), block_size=2048)
    with pytest.raises(ConfigError):
        ReplaySource(iter([]), 4000, loop=True)  # a one-pass iterator cannot loop
    with pytest.raises(ConfigError):
        ReplaySource([], 4000).start()  # no ring anywhere
    src = ReplaySource([], 4000, RingBuffer(1024))
    src.start()
    assert src.join(1) and src.finished and src.error is None and src.position_s == 0
    with pytest.raises(RuntimeError):
        src.start()
