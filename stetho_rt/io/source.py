"""Audio sources that feed the ring buffer, and the replay thread (ARCHITECTURE.md §1-2).

A :class:`Source` is what the pipeline starts and watches: the device callback or the
:class:`ReplaySource`, which takes the callback's place for files and the demo signal with the
same block size and the same ring. Replay is the live path with another producer:

- **paced** (default): one block of ``block_size`` samples is written when its last sample "has
  been recorded", i.e. at ``t0 + samples_so_far / (rate * speed)`` on the ``time.perf_counter``
  clock (deadlines from one start time, so waits do not drift). If the ring is full the block is
  dropped, exactly as from a device: :meth:`RingBuffer.write` returns 0, counts the drop and
  publishes the gap, so stream time stays true for the consumer.
- **free-running** (benchmarks, batch analysis, tests): no pacing; when the ring lacks room the
  thread waits in short sleeps, so no sample is ever dropped.

Any exception in the thread is caught at its top and stored on :attr:`ReplaySource.error`;
:attr:`ReplaySource.finished` is set when the thread ends, for whatever reason.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from stetho_rt.config import StreamConfig
from stetho_rt.errors import ConfigError
from stetho_rt.io.audiofile import AudioFile, HiddenByDownmix
from stetho_rt.io.demo import DemoHeart
from stetho_rt.ringbuffer import RingBuffer
from stetho_rt.snapshot import Snapshot

Float32Array = npt.NDArray[np.float32]
#: A reader: ``read(n)`` returning up to ``n`` samples (empty at the end), an object with such a
#: ``read`` method, or an iterable of 1-D blocks of any length.
Reader = Callable[[int], npt.ArrayLike] | Iterable[npt.ArrayLike]

#: Sleep while a free-running replay waits for room in the ring [s].
FREE_RUN_POLL_S = 0.0005
#: Default time :meth:`ReplaySource.stop` waits for the thread [s].
STOP_TIMEOUT_S = 2.0


@runtime_checkable
class Source(Protocol):
    """What the pipeline needs from a producer of samples (device or replay).

    Attributes
    ----------
    rate : int
        Sample rate delivered into the ring [Hz].
    channels : int
        Channels delivered into the ring (1: sources downmix or pick a channel).
    description : str
        One line for the dashboard and logs.
    finished : bool
        True once the producer has ended (end of file, stop, or error).
    error : BaseException or None
        The exception that ended the producer, if any.
    """

    rate: int
    channels: int
    description: str
    finished: bool
    error: BaseException | None

    def start(self, ring: RingBuffer) -> None:
        """Start producing into ``ring``."""
        ...

    def stop(self) -> None:
        """Stop producing; returns promptly (bounded wait) even mid-stream."""
        ...

    @property
    def is_alive(self) -> bool:
        """True while the producer runs."""
        ...

    @property
    def position_s(self) -> float:
        """Stream time produced so far, dropped samples included [s]."""
        ...

    def end_problem(self, snap: Snapshot) -> str | None:
        """After :meth:`stop`: one line when the run lacked what was asked of the source (a
        device lost and not back), else None; ``snap`` is the pipeline's last snapshot."""
        ...


class ReplaySource:
    """A producer thread replaying a reader into the ring, paced or free-running.

    Parameters
    ----------
    reader : callable or iterable
        ``read(n) -> array`` returning up to ``n`` samples and an empty array at the end (e.g.
        :meth:`DemoHeart.read`), an object with such a ``read`` method, or an iterable of 1-D
        blocks of any length (e.g. :meth:`AudioFile.blocks`). Blocks are re-cut to ``block_size``.
    rate : int
        Sample rate of the reader's samples [Hz].
    ring : RingBuffer or None
        Ring to feed; may instead be given to :meth:`start`.
    block_size : int or None
        Samples per write [samples at ``rate``]; default ``StreamConfig().block_size(rate)``
        (10 ms). Must not exceed the ring's capacity.
    speed : float
        Replay speed factor in paced mode (1 = real time, 10 = ten times faster).
    free_run : bool
        Ignore the clock and never drop: wait for room in the ring instead.
    loop : bool
        Restart the reader at its end, seamlessly (needs ``rewind`` unless ``reader`` is a
        re-iterable such as a list).
    description : str
        One line for the dashboard.
    rewind : callable or None
        Returns a fresh reader for the next loop pass.
    duration_s : float or None
        Length of one pass [s] when known (progress display); None if unknown or endless.
    """

    channels = 1

    def __init__(
        self,
        reader: Reader,
        rate: int,
        ring: RingBuffer | None = None,
        block_size: int | None = None,
        speed: float = 1.0,
        free_run: bool = False,
        loop: bool = False,
        description: str = "replay",
        rewind: Callable[[], Reader] | None = None,
        duration_s: float | None = None,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ConfigError(f"speed={speed} must be a positive finite factor")
        if rate <= 0:
            raise ConfigError(f"rate={rate} Hz must be positive")
        self.rate = int(rate)
        self.block_size = StreamConfig().block_size(rate) if block_size is None else int(block_size)
        if self.block_size < 1:
            raise ConfigError(f"block_size={block_size} must be a positive integer")
        if loop and rewind is None:
            if isinstance(reader, Iterator) or callable(reader) or hasattr(reader, "read"):
                raise ConfigError("loop=True needs a rewind() for a one-pass reader")
            rewind = lambda: reader  # noqa: E731  (a re-iterable restarts itself)
        self.speed = float(speed)
        self.free_run = bool(free_run)
        self.loop = bool(loop)
        self.description = description
        self.duration_s = duration_s
        self.ring = ring
        self.finished = False
        self.error: BaseException | None = None
        self._reader = reader
        self.hidden_counts: HiddenByDownmix | None = None
        """Non-finite and clipped samples the file's downmix hides (files only)."""
        self._rewind = rewind
        self._produced = 0  # samples written or dropped (stream position) [samples]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pull: Callable[[int], Float32Array | None] | None = None
        if ring is not None:
            self._check_ring(ring)

    # ------------------------------------------------------------------------ constructors
    @classmethod
    def from_file(
        cls,
        audio: AudioFile,
        stream_cfg: StreamConfig | None = None,
        *,
        speed: float = 1.0,
        free_run: bool = False,
        loop: bool = False,
        ring: RingBuffer | None = None,
    ) -> ReplaySource:
        """Replay a validated file (see :func:`open_audio`) into ``ring`` or :meth:`start`'s.

        Parameters
        ----------
        audio : AudioFile
            The file, as returned by :func:`stetho_rt.io.audiofile.open_audio`.
        stream_cfg : StreamConfig or None
            Block duration (default 10 ms); the ring is the caller's.
        speed : float
            Replay speed factor in paced mode.
        free_run : bool
            Free-running (no pacing, no drops) instead of paced.
        loop : bool
            Restart the file at its end.
        ring : RingBuffer or None
            Ring to feed (its capacity must hold one block) [samples at ``audio.rate``]; None to
            give it to :meth:`start` instead.
        """
        cfg = stream_cfg or StreamConfig()
        bs = cfg.block_size(audio.rate)
        mode = "free-run" if free_run else f"{speed:g}x"
        src = cls(
            audio.blocks(bs),
            audio.rate,
            ring,
            bs,
            speed=speed,
            free_run=free_run,
            loop=loop,
            description=f"replay {audio.describe()} {mode}{', loop' if loop else ''}",
            rewind=lambda: audio.blocks(bs),
            duration_s=audio.duration_s,
        )
        src.hidden_counts = audio.hidden
        return src

    @classmethod
    def from_demo(
        cls,
        demo: DemoHeart | None = None,
        stream_cfg: StreamConfig | None = None,
        *,
        speed: float = 1.0,
        free_run: bool = False,
        ring: RingBuffer | None = None,
    ) -> ReplaySource:
        """Replay the synthetic heart (default ``DemoHeart()``) into ``ring`` or :meth:`start`'s.

        Parameters
        ----------
        demo : DemoHeart or None
            The generator (keep a reference to read its ``truth()``).
        stream_cfg : StreamConfig or None
            Block duration (default 10 ms).
        speed : float
            Replay speed factor in paced mode.
        free_run : bool
            Free-running instead of paced (use a ``duration_s``-limited demo, or stop it).
        ring : RingBuffer or None
            Ring to feed (its capacity must hold one block) [samples at the demo's rate]; None to
            give it to :meth:`start` instead.
        """
        cfg = stream_cfg or StreamConfig()
        d = demo if demo is not None else DemoHeart()
        mode = "free-run" if free_run else f"{speed:g}x"
        return cls(
            d.read,
            d.rate,
            ring,
            cfg.block_size(d.rate),
            speed=speed,
            free_run=free_run,
            description=f"{d.description} {mode}",
            duration_s=d.duration_s,
        )

    # ------------------------------------------------------------------------ Source API
    @property
    def is_alive(self) -> bool:
        """True while the replay thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def position_s(self) -> float:
        """Stream time produced so far, dropped samples included [s]."""
        return self._produced / self.rate

    def end_problem(self, snap: Snapshot) -> str | None:
        """None: a replay has nothing to come back (a file's damage is raised as it streams)."""
        return None

    def start(self, ring: RingBuffer | None = None) -> None:
        """Start the replay thread feeding ``ring`` (or the ring given at construction)."""
        if self._thread is not None:
            raise RuntimeError("ReplaySource can be started only once")
        if ring is not None:
            self._check_ring(ring)
            self.ring = ring
        if self.ring is None:
            raise ConfigError("ReplaySource.start needs a ring")
        self._thread = threading.Thread(target=self._run, name="stetho-replay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the thread to stop and wait for it at most ``timeout`` seconds."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end by itself; return True if it has ended."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    # ------------------------------------------------------------------------ thread
    def _check_ring(self, ring: RingBuffer) -> None:
        if self.block_size > ring.capacity:
            raise ConfigError(
                f"block_size={self.block_size} exceeds the ring capacity of {ring.capacity}"
            )

    def _run(self) -> None:
        try:
            self._stream()
        except BaseException as e:  # stored and announced by the pipeline, never lost
            self.error = e
        finally:
            self.finished = True

    def _stream(self) -> None:
        ring = self.ring
        assert ring is not None
        stop = self._stop
        bs = self.block_size
        period = 1.0 / (self.rate * self.speed)
        self._pull = _puller(self._reader)
        pass_samples = 0
        t0 = time.perf_counter()
        while not stop.is_set():
            block, pass_samples = self._next_block(bs, pass_samples)
            if block is None:
                # blocks dropped at the very end have no later block to carry their gap: publish
                # it now, so the stream's time reaches the file's end (it stopped short by the
                # samples dropped last)
                while not ring.flush_gap() and not stop.wait(FREE_RUN_POLL_S):
                    pass  # the gap log is full until the consumer reads on
                return
            n = block.shape[0]
            if self.free_run:
                while ring.free < n:
                    if stop.is_set():
                        return
                    time.sleep(FREE_RUN_POLL_S)
                ring.write(block)
            else:
                wait = t0 + (self._produced + n) * period - time.perf_counter()
                if wait > 0 and stop.wait(wait):
                    return
                ring.write(block)  # 0 when full: the ring counts the drop and the gap
            self._produced += n

    def _next_block(self, bs: int, pass_samples: int) -> tuple[Float32Array | None, int]:
        """Assemble up to ``bs`` samples, rewinding at the end when looping."""
        assert self._pull is not None
        parts: list[Float32Array] = []
        have = 0
        while have < bs:
            b = self._pull(bs - have)
            if b is None:
                if not self.loop or self._rewind is None or pass_samples == 0:
                    break
                self._pull = _puller(self._rewind())
                pass_samples = 0
                continue
            parts.append(b)
            have += b.shape[0]
            pass_samples += b.shape[0]
        if have == 0:
            return None, pass_samples
        block = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return block, pass_samples


def _puller(reader: Reader) -> Callable[[int], Float32Array | None]:
    """Adapt a reader to ``pull(n)``: up to ``n`` contiguous float32 samples, None at the end."""
    read = getattr(reader, "read", None)
    if not callable(read) and callable(reader) and not isinstance(reader, Iterable):
        read = reader
    if callable(read):

        def pull_read(n: int) -> Float32Array | None:
            b = _as_block(read(n))
            if b.shape[0] > n:
                raise ValueError(f"reader returned {b.shape[0]} samples for read({n})")
            return b if b.shape[0] else None

        return pull_read

    it = iter(reader)  # type: ignore[arg-type]
    rest: list[Float32Array] = []

    def pull_iter(n: int) -> Float32Array | None:
        while True:
            if rest:
                b = rest.pop()
            else:
                try:
                    b = _as_block(next(it))
                except StopIteration:
                    return None
            if b.shape[0] == 0:
                continue
            if b.shape[0] > n:
                rest.append(b[n:])
                return b[:n]
            return b

    return pull_iter


def _as_block(x: npt.ArrayLike) -> Float32Array:
    b = np.ascontiguousarray(x, dtype=np.float32)
    if b.ndim != 1:
        raise ValueError(f"reader yielded a block of shape {b.shape}; 1-D blocks expected")
    return b
