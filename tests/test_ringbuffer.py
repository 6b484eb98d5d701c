"""The SPSC ring: order, drop accounting with true positions, and a threaded stress test."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from stetho_rt.ringbuffer import _GAP_SLOTS, RingBuffer


def _ramp(start: int, n: int) -> np.ndarray:
    # float32 holds integers exactly up to 2**24: enough for these tests
    return np.arange(start, start + n, dtype=np.float32)


def test_write_read_wraps_in_order() -> None:
    ring = RingBuffer(10)
    out = np.zeros(10, dtype=np.float32)
    got = []
    pos = 0
    for _block in range(20):
        assert ring.write(_ramp(pos, 7)) == 7
        pos += 7
        n, at = ring.read_into(out[:4])
        got.append((at, out[:n].copy()))
        n, at = ring.read_into(out)
        got.append((at, out[:n].copy()))
    stream = np.concatenate([g for _, g in got])
    np.testing.assert_array_equal(stream, _ramp(0, pos))
    assert ring.dropped_samples == 0


def test_full_ring_drops_new_block_and_reports_gap() -> None:
    ring = RingBuffer(8)
    assert ring.write(_ramp(0, 6)) == 6
    assert ring.write(_ramp(6, 4)) == 0  # would overwrite unread data: dropped
    assert ring.dropped_samples == 4
    out = np.zeros(16, dtype=np.float32)
    n, at = ring.read_into(out)
    assert (n, at) == (6, 0)
    assert ring.write(_ramp(10, 3)) == 3
    n, at = ring.read_into(out)
    # the 4 dropped samples are a gap: the next samples are stamped 10, not 6
    assert (n, at) == (3, 10)
    np.testing.assert_array_equal(out[:3], _ramp(10, 3))


def test_read_stops_at_gap_so_reads_are_contiguous() -> None:
    ring = RingBuffer(8)
    ring.write(_ramp(0, 5))
    ring.write(_ramp(5, 5))  # dropped
    out = np.zeros(2, dtype=np.float32)
    assert ring.read_into(out) == (2, 0)
    ring.write(_ramp(10, 2))  # fits now (3 unread + 2 <= 8): gap published before it
    got = []
    while True:
        n, at = ring.read_into(np.zeros(8, dtype=np.float32))
        if n == 0:
            break
        got.append((n, at))
    assert got == [(3, 2), (2, 10)]
    assert ring.pending_gaps() == []


def test_empty_and_zero_length() -> None:
    ring = RingBuffer(4)
    out = np.zeros(4, dtype=np.float32)
    assert ring.read_into(out) == (0, 0)
    assert ring.write(np.zeros(0, dtype=np.float32)) == 0
    assert ring.available == 0 and ring.free == 4


def test_write_does_not_allocate_storage() -> None:
    ring = RingBuffer(1000)
    data_id = id(ring._data)
    for i in range(300):
        ring.write(_ramp(i, 7))
        ring.read_into(np.zeros(5, dtype=np.float32))
    assert id(ring._data) == data_id


@pytest.mark.parametrize(
    ("capacity", "wblock", "rblock", "producer_sleep", "consumer_sleep"),
    [
        (4096, 441, 1000, 0.0, 0.0),
        (1000, 17, 509, 0.0, 0.0005),  # slow consumer: drops happen
        (333, 160, 7, 0.0002, 0.0),  # slow producer, tiny reads
        (2048, 1, 2048, 0.0, 0.0),
    ],
)
def test_threaded_stress_every_sample_arrives_in_order_or_is_counted(
    capacity: int, wblock: int, rblock: int, producer_sleep: float, consumer_sleep: float
) -> None:
    """Producer and consumer threads at different block sizes and speeds: what the consumer
    reads plus the gaps it crosses equals exactly what the producer offered, in order."""
    total = 200_000 if wblock > 1 else 40_000
    ring = RingBuffer(capacity)
    done = threading.Event()
    offered: list[int] = []

    def produce() -> None:
        pos = 0
        while pos < total:
            n = min(wblock, total - pos)
            ring.write(_ramp(pos, n))
            offered.append(n)
            pos += n
            if producer_sleep:
                time.sleep(producer_sleep)
        done.set()

    received_pos: list[int] = []
    received: list[np.ndarray] = []

    def consume() -> None:
        out = np.zeros(rblock, dtype=np.float32)
        while True:
            n, at = ring.read_into(out)
            if n:
                received_pos.append(at)
                received.append(out[:n].copy())
                if consumer_sleep:
                    time.sleep(consumer_sleep)
            elif done.is_set() and ring.available == 0:
                break

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)

    got = np.concatenate(received) if received else np.zeros(0, np.float32)
    # each read is contiguous in stream time and its position equals its first value
    for at, chunk in zip(received_pos, received, strict=True):
        assert chunk[0] == at
        np.testing.assert_array_equal(chunk, _ramp(at, chunk.shape[0]))
    # strictly increasing: order kept, nothing repeated
    assert np.all(np.diff(got) > 0)
    # accounted: received + dropped == offered
    assert got.shape[0] + ring.dropped_samples == total
    # a trailing drop is not followed by a block, so it stays pending rather than crossed
    assert ring.stream_position + ring._pending_gap == total


def test_flushed_gap_moves_stream_time_without_samples() -> None:
    """A lost device's silence is published at once (no block follows it yet)."""
    ring = RingBuffer(8)
    ring.write(_ramp(0, 3))
    ring.skip(100)
    assert ring.flush_gap() and ring.flush_gap()  # nothing pending: a no-op
    out = np.zeros(8, dtype=np.float32)
    assert ring.read_into(out) == (3, 0)
    assert ring.read_into(out) == (0, 103)  # crossed with no sample after it
    ring.skip(7)
    ring.flush_gap()
    ring.write(_ramp(110, 2))
    assert ring.read_into(out) == (2, 110)
    assert ring.dropped_samples == 107 and ring.pending_gaps() == []


def test_flush_gap_waits_while_the_gap_log_is_full() -> None:
    ring = RingBuffer(8)
    for _ in range(_GAP_SLOTS):
        ring.skip(1)
        assert ring.flush_gap()
    ring.skip(5)
    assert not ring.flush_gap()  # no slot: still pending, still counted
    assert ring.dropped_samples == _GAP_SLOTS + 5
    out = np.zeros(8, dtype=np.float32)
    assert ring.read_into(out) == (0, _GAP_SLOTS)
    assert ring.flush_gap()
    assert ring.read_into(out) == (0, _GAP_SLOTS + 5)
