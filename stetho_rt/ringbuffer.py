"""Single-producer / single-consumer float32 ring buffer without locks (ARCHITECTURE.md §2).

Two threads share it: the **producer** (PortAudio callback or the replay thread; a device's
watchdog while no stream of it is open, when it publishes the lost time with :meth:`skip` and
:meth:`flush_gap`) calls :meth:`RingBuffer.write`; the **consumer** (the DSP thread) calls
:meth:`RingBuffer.read_into`.
Each side writes only its own counters and publishes them after its copy is complete, so no lock is
needed (a counter is one int64 slot of a numpy array, stored in one step under the
GIL).

When a block does not fit, the producer never blocks and never overwrites unread data: it drops
the *new* block, adds its length to ``dropped_samples`` and remembers a pending gap. The gap is
published to the consumer (position and length, in stream samples) together with the next block
that fits, so stream time stays true: after a gap, the consumer's stream index jumps by the gap's
length.

``write`` allocates nothing and takes no lock: it is safe to call from an audio callback.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stetho_rt.errors import ConfigError
from stetho_rt.events import Gap

_GAP_SLOTS = 256


class RingBuffer:
    """SPSC ring of float32 samples with drop accounting.

    Parameters
    ----------
    capacity : int
        Samples the ring holds (e.g. 10 s of input at the source rate).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ConfigError(f"ring capacity={capacity} must be a positive integer")
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype=np.float32)
        # NB: slot 0 = samples stored (producer writes), 1 = samples consumed (consumer writes),
        # 2 = dropped samples total (producer), 3 = gaps published (producer),
        # 4 = gaps consumed (consumer), 5 = input overflow flags seen (producer),
        # 6 = input underflow flags seen (producer).
        self._ctr = np.zeros(7, dtype=np.int64)
        # Gap log, written by the producer only: stored index at which the gap sits, and length.
        self._gap_at = np.zeros(_GAP_SLOTS, dtype=np.int64)
        self._gap_len = np.zeros(_GAP_SLOTS, dtype=np.int64)
        self._pending_gap = 0  # producer-only: dropped samples not yet published as a gap
        self._stream_pos = 0  # consumer-only: stream index of the next sample to read

    # ----------------------------------------------------------------- producer side
    def write(self, block: npt.NDArray[np.float32]) -> int:
        """Append ``block`` (1-D float32); return samples stored (0 if dropped). Producer only."""
        n = block.shape[0]
        ctr = self._ctr
        w = int(ctr[0])
        gaps_w = int(ctr[3])
        room = self.capacity - (w - int(ctr[1]))
        gap_room = _GAP_SLOTS - (gaps_w - int(ctr[4]))
        if n > room or (self._pending_gap and gap_room < 1):
            ctr[2] += n
            self._pending_gap += n
            return 0
        if n == 0:
            return 0
        start = w % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = block[:first]
        if first < n:
            self._data[: n - first] = block[first:]
        if self._pending_gap:
            self._publish_gap(w, gaps_w)  # before the samples that follow it
        ctr[0] = w + n  # publish after the copy
        return n

    def _publish_gap(self, w: int, gaps_w: int) -> None:
        slot = gaps_w % _GAP_SLOTS
        self._gap_at[slot] = w
        self._gap_len[slot] = self._pending_gap
        self._pending_gap = 0
        self._ctr[3] = gaps_w + 1

    def flush_gap(self) -> bool:
        """Publish the pending gap now, without waiting for the next block, so the consumer's
        stream time moves on while no audio arrives (a lost device). Producer only.

        Returns
        -------
        bool
            False when the gap log is full: the gap stays pending (still counted) and is
            published with a later block or flush.
        """
        if not self._pending_gap:
            return True
        ctr = self._ctr
        gaps_w = int(ctr[3])
        if _GAP_SLOTS - (gaps_w - int(ctr[4])) < 1:
            return False
        self._publish_gap(int(ctr[0]), gaps_w)
        return True

    def skip(self, n: int) -> None:
        """Account ``n`` samples that never arrived (device lost): a counted drop and a gap,
        published with the next block (or :meth:`flush_gap`), so stream time jumps by ``n``.
        Producer only."""
        if n > 0:
            self._ctr[2] += n
            self._pending_gap += n

    def count_overflow(self) -> None:
        """Count one input-overflow flag reported by the device. Producer only."""
        self._ctr[5] += 1

    def count_underflow(self) -> None:
        """Count one input-underflow flag reported by the device (it padded the block with
        zeros). Producer only."""
        self._ctr[6] += 1

    # ----------------------------------------------------------------- consumer side
    def read_into(self, out: npt.NDArray[np.float32]) -> tuple[int, int]:
        """Copy up to ``len(out)`` contiguous-in-time samples into ``out``. Consumer only.

        Returns
        -------
        n : int
            Samples copied (0 when the ring is empty).
        position : int
            Stream index [samples] of ``out[0]``; it jumps past dropped samples, so the samples
            read are always contiguous in stream time (a read stops at the next gap).
        """
        ctr = self._ctr
        w = int(ctr[0])
        r = int(ctr[1])
        avail = w - r
        g = int(ctr[4])
        if g < int(ctr[3]):
            slot = g % _GAP_SLOTS
            at = int(self._gap_at[slot])
            if at == r:  # the gap sits before the next sample: account for it, then continue
                self._stream_pos += int(self._gap_len[slot])
                ctr[4] = g + 1
                return self.read_into(out)
            avail = min(avail, at - r)
        n = min(avail, out.shape[0])
        if n <= 0:
            return 0, self._stream_pos
        start = r % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._data[start : start + first]
        if first < n:
            out[first:n] = self._data[: n - first]
        position = self._stream_pos
        self._stream_pos += n
        ctr[1] = r + n  # release the space after the copy
        return n, position

    def pending_gaps(self) -> list[Gap]:
        """Gaps published but not yet crossed by the reader (for display). Consumer only."""
        out = []
        pos = self._stream_pos
        r = int(self._ctr[1])
        for g in range(int(self._ctr[4]), int(self._ctr[3])):
            slot = g % _GAP_SLOTS
            out.append(Gap(pos + int(self._gap_at[slot]) - r, int(self._gap_len[slot])))
            pos += int(self._gap_len[slot])
        return out

    # ----------------------------------------------------------------- either side (read-only)
    @property
    def available(self) -> int:
        """Samples stored and not yet read."""
        return int(self._ctr[0] - self._ctr[1])

    @property
    def free(self) -> int:
        """Samples that can be written without a drop."""
        return self.capacity - self.available

    @property
    def unread_gaps(self) -> int:
        """Gaps published but not yet read past (their time not yet in :attr:`stream_position`).
        Consumer only."""
        return int(self._ctr[3] - self._ctr[4])

    @property
    def dropped_samples(self) -> int:
        """Samples dropped by the producer because the ring was full (total)."""
        return int(self._ctr[2])

    @property
    def input_overflows(self) -> int:
        """Input-overflow flags the device reported (total)."""
        return int(self._ctr[5])

    @property
    def input_underflows(self) -> int:
        """Input-underflow flags the device reported (total)."""
        return int(self._ctr[6])

    @property
    def produced_samples(self) -> int:
        """Stream samples the producer has accounted: stored plus dropped (gaps included)."""
        return int(self._ctr[0] + self._ctr[2])

    @property
    def written_samples(self) -> int:
        """Samples stored since creation."""
        return int(self._ctr[0])

    @property
    def stream_position(self) -> int:
        """Stream index of the next sample the consumer will read. Consumer only."""
        return self._stream_pos
