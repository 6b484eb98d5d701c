"""Live input from a PortAudio device, watched and reopened when it stops (ARCHITECTURE.md §1-2).

Threads and what each runs:

- **PortAudio thread**: :meth:`DeviceSource._make_callback`'s closure. It copies ``indata``
  into the ring (picking one channel, or downmixing into a preallocated mono buffer), counts status
  flags, bumps a heartbeat and runs the clock check below (scalar arithmetic on preallocated
  arrays). No allocation of sample buffers, no lock, no logging, no I/O.
- **watchdog thread** (``stetho-device-watchdog``): polls the heartbeat every
  :data:`WATCHDOG_POLL_S`. A device that stops delivering is declared **lost** when
  PortAudio ends the stream (``finished_callback``, stream inactive: a USB device unplugged, the
  sound server killed) or when no callback arrived for :data:`STALL_S` (detection within
  ``STALL_S + WATCHDOG_POLL_S`` = 1.1 s by default). A stream that ended is closed and reopened
  with exponential backoff (:data:`BACKOFF_START_S` … :data:`BACKOFF_MAX_S`), re-initialising
  PortAudio after a failed attempt (PortAudio only sees devices present when it initialised) and
  finding the device again by name. A stream that stalls but stays open is given
  :data:`REOPEN_AFTER_S` more to resume by itself before it is reopened.
- **helper threads** (``stetho-device-close``): every ``Pa_AbortStream``/``Pa_CloseStream`` runs on
  a daemon thread joined with a timeout, so a stalled PortAudio stream never blocks ``stop()``.
  ``Pa_StopStream`` is never used: on a stream that gets no data it can block for ever.
- **caller** (CLI / pipeline): :func:`open_device_source`, :meth:`DeviceSource.start`,
  :meth:`DeviceSource.stop`, and reads of :attr:`DeviceSource.status`.

Time base: stream time follows the wall clock, and audio that never arrived is a counted gap of
dropped samples at (about) its place:

- **A loss** (no callback for ``STALL_S``, or the stream ended). While the stream is closed (between
  the abort of the dead stream and the open of the next one) nobody else produces into the ring,
  so the watchdog itself turns the silent wall-clock time into gaps every poll: the dashboard's
  clock, ``--duration`` and the dropped count keep moving while the device is away. A stalled
  stream that stays open cannot be written around (the ring has one producer); its silence is
  accounted when the watchdog closes it (after ``STALL_S + REOPEN_AFTER_S``, also when the
  device reopens at once and stays silent: then every such cycle) or by the first callback that
  delivers again, which adds the rest (minus the block it delivers). A dropout
  just before the loss, which the clock check below had no time to confirm, is added to that gap
  (and counted as a dropout) by whichever accounts the loss first, the callback or the watchdog:
  the minimum offset since its jump still stands above the baseline (a callback more than
  ``DROPOUT_MIN_S`` late just before a loss looks the same, and is counted the same).
- **A dropout** shorter than ``STALL_S`` (a Bluetooth or USB hiccup; PulseAudio and PipeWire raise
  no ``input_overflow`` for it). The callback compares the wall clock with the samples produced:
  ``offset = now - produced / rate`` is constant while audio flows (it drifts by the clocks' ppm
  difference, and late callbacks only raise it). Its minimum over each :data:`CLOCK_WINDOW_S`
  window is compared with the baseline; a rise above :data:`DROPOUT_MIN_S` in two windows in a row
  (a starved process that catches up rises in one at most) is a dropout: the rise becomes one
  counted gap, placed where it is found (1.0-1.6 s after the audio stopped, in simulated 0.3 s
  holes: the window the hole ends in, then two more). Otherwise the
  baseline follows the window minimum (clock drift). Dropouts shorter than ``DROPOUT_MIN_S`` are
  within scheduling jitter and are not counted. The ALSA ``pulse`` plugin's ADC timestamps are no
  help: measured on the test device, they crept up over seconds after a 0.7 s gap instead of
  jumping.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from stetho_rt.config import PipelineConfig, StreamConfig, check_input_rate
from stetho_rt.errors import ConfigError, DeviceError
from stetho_rt.io.devices import (
    InputDevice,
    describe_available,
    find_input_device,
    import_sounddevice,
    list_input_devices,
    quiet_stderr,
    reinit_portaudio,
)
from stetho_rt.ringbuffer import RingBuffer
from stetho_rt.snapshot import Snapshot

#: No callback for this long means the device is lost [s].
STALL_S = 1.0
#: Watchdog poll interval [s].
WATCHDOG_POLL_S = 0.1
#: A stalled stream that stays open gets this long to resume before it is reopened [s].
REOPEN_AFTER_S = 2.0
#: First and largest delay between reopening attempts [s].
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 2.0
#: Longest wait for one PortAudio abort+close, and for the watchdog thread, in ``stop()`` [s].
CLOSE_TIMEOUT_S = 1.0
#: Channels opened for the default downmix: devices that report more (the ``pulse`` and
#: ``default`` ALSA plugins report 32) upmix a mono or stereo source, so more adds nothing.
DOWNMIX_MAX_CHANNELS = 2
#: PortAudio latency setting: "high" rides out scheduling hiccups of a busy 2-core machine.
DEFAULT_LATENCY = "high"
#: Window over which the callback takes the minimum clock offset [s] (see the module docstring).
CLOCK_WINDOW_S = 0.5
#: Shortest dropout the clock check counts [s]; smaller rises are scheduling jitter.
DROPOUT_MIN_S = 0.1

#: Status values of :attr:`DeviceSource.status`.
STATUS_IDLE = "idle"
STATUS_RUNNING = "running"
STATUS_LOST = "lost"
STATUS_REOPENING = "reopening"
STATUS_STOPPED = "stopped"


def unconfirmed_dropout(clock: np.ndarray, clock_reset: np.ndarray, rate: int) -> int:
    """A dropout the clock check had not confirmed yet [samples], 0 if none (any thread that is
    the ring's producer; scalar arithmetic, no allocation).

    ``clock`` is :class:`DeviceSource`'s clock-check state: the rise of the minimum offset since
    the last jump (``clock[4]``) above the baseline (``clock[0]``), when above
    :data:`DROPOUT_MIN_S`. A loss is about to end the baseline (a new stream, or a stalled one,
    starts a new one), so the hole is counted now or never.
    """
    if clock_reset[0]:
        return 0
    held = clock[4] - clock[0]
    return int(held * rate) if held > DROPOUT_MIN_S else 0


def call_with_timeout(fn: Callable[[], Any], timeout: float, name: str = "stetho-device-close"
                      ) -> threading.Thread | None:
    """Run ``fn`` on a daemon thread and wait at most ``timeout`` [s].

    Returns None if it returned in time, else its still-running thread (the caller may watch it
    finish later). Exceptions of ``fn`` are swallowed (closing a broken stream may fail; nothing
    can be done). A call that never returns dies with the process (a daemon thread).
    """

    def run() -> None:
        with contextlib.suppress(Exception):
            fn()

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    t.join(timeout)
    return t if t.is_alive() else None


class DeviceSource:
    """A PortAudio input stream feeding the ring, watched and reopened when it stops delivering.

    Parameters
    ----------
    device : InputDevice
        The device (see :func:`stetho_rt.io.devices.find_input_device`).
    rate : int or None
        Sample rate to open [Hz]; default the device's native default rate.
    channel : int or None
        Input channel to use (0-based); None downmixes (mean of the first
        ``min(device.channels, DOWNMIX_MAX_CHANNELS)`` channels).
    block_size : int or None
        Frames per callback; default ``StreamConfig().block_size(rate)`` (10 ms).
    latency : str or float
        PortAudio input latency: "low", "high" or seconds.
    stall_s : float
        No callback for this long declares the device lost [s].

    Attributes
    ----------
    rate : int
        Sample rate delivered into the ring [Hz].
    channels : int
        Always 1 (one channel picked or downmixed).
    description : str
        One line for the dashboard.
    status : str
        "idle", "running", "lost", "reopening" or "stopped".
    problem : str or None
        Why the device was last lost or could not be reopened (None while all is well).
    lost_count : int
        Times the device was lost.
    lost_at_stop : bool
        The device was lost (not delivering) when :meth:`stop` was called.
    reopen_count : int
        Times a new stream was opened after a loss.
    finished : bool
        True after :meth:`stop`.
    error : BaseException or None
        An unexpected failure of the watchdog (a lost device is not an error: it is reopened).
    """

    channels = 1

    def __init__(
        self,
        device: InputDevice,
        rate: int | None = None,
        channel: int | None = None,
        *,
        block_size: int | None = None,
        latency: str | float = DEFAULT_LATENCY,
        stall_s: float = STALL_S,
    ) -> None:
        self.device = device
        self.rate = check_input_rate(
            rate if rate is not None else round(device.default_rate), f"device '{device.name}'"
        )
        if channel is not None and not 0 <= channel < device.channels:
            raise DeviceError(
                f"channel {channel} out of range: device {device.index} '{device.name}' has "
                f"{device.channels} input channel(s), numbered 0-{device.channels - 1}"
            )
        self.channel = channel
        self.open_channels = channel + 1 if channel is not None else min(
            device.channels, DOWNMIX_MAX_CHANNELS)
        self.block_size = int(block_size or StreamConfig().block_size(self.rate))
        if self.block_size < 1:
            raise ConfigError(f"block_size={block_size} must be a positive integer")
        self.latency = latency
        self.stall_s = float(stall_s)
        how = (f"channel {channel}" if channel is not None
               else "mono" if self.open_channels == 1 else f"downmix of {self.open_channels} ch")
        self.description = f"device {device.index} '{device.name}' {self.rate} Hz {how}"
        self.status = STATUS_IDLE
        self.problem: str | None = None
        self.lost_count = 0
        self.reopen_count = 0
        self.lost_at_stop = False
        self.finished = False
        self.error: BaseException | None = None
        self.ring: RingBuffer | None = None
        self._sd = import_sounddevice()
        # Shared with the PortAudio thread: preallocated, written in place.
        self._mix = np.zeros(max(4 * self.block_size, 4096), dtype=np.float32)
        self._hb = np.zeros(2, dtype=np.int64)  # callbacks, frames delivered
        # time.monotonic() [s] up to which stream time is accounted: the last callback, or the
        # watchdog's last accounting of a closed stream's silence
        self._hb_t = np.zeros(1, dtype=np.float64)
        self._resync = np.zeros(1, dtype=np.int64)  # 1: next callback accounts the lost time
        # Clock check (PortAudio thread): the offsets [s] baseline, current window's minimum,
        # window start, rise seen in the previous window (0: none), minimum since the last jump
        # above it (a dropout may start there); and dropouts found.
        self._clock = np.zeros(5, dtype=np.float64)
        self._dropouts = np.zeros(1, dtype=np.int64)
        self._clock_reset = np.ones(1, dtype=np.int64)  # 1: next callback starts a new baseline
        self._gen = np.zeros(1, dtype=np.int64)  # current stream generation
        self._ended = threading.Event()  # finished_callback of the current stream
        self._stream: Any = None
        # abort+close calls that timed out (appended only: read by two threads; rare)
        self._hung_closes: list[threading.Thread] = []
        # callbacks when the watchdog began reopening (none come until a new stream opens): while
        # the status is "reopening", more callbacks than this mean the new stream delivers
        self._callbacks_at_reopen = 0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    # ------------------------------------------------------------------ Source API
    def start(self, ring: RingBuffer) -> None:
        """Open the stream into ``ring`` and start the watchdog (caller's thread).

        Raises
        ------
        DeviceError
            The stream cannot open (the message lists the available input devices).
        """
        if self._watchdog is not None:
            raise RuntimeError("DeviceSource can be started only once")
        if self.block_size > ring.capacity:
            raise ConfigError(f"block_size={self.block_size} exceeds ring capacity {ring.capacity}")
        self.ring = ring
        self._hb_t[0] = time.monotonic()
        try:
            self._open(self.device.index)
        except Exception as exc:
            self.status = STATUS_STOPPED
            self.finished = True
            raise DeviceError(
                f"cannot open input device {self.device.index} '{self.device.name}' at "
                f"{self.rate} Hz, {self.open_channels} ch: {exc} ({describe_available()})"
            ) from None
        self.status = STATUS_RUNNING
        self._watchdog = threading.Thread(target=self._watch, name="stetho-device-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def stop(self, timeout: float = 2 * CLOSE_TIMEOUT_S) -> None:
        """Close the stream; returns within about ``timeout`` [s], even if PortAudio hangs.
        Idempotent: a second call keeps what the first one found (:attr:`lost_at_stop`)."""
        if self.finished:
            return
        # lost: not delivering (a reopened stream whose callbacks came is back, even before the
        # watchdog's next poll says so)
        was_lost = self.status == STATUS_LOST or (
            self.status == STATUS_REOPENING and self.callbacks == self._callbacks_at_reopen)
        self._stop.set()
        self._gen[0] += 1  # a late callback of any stream now aborts instead of writing
        wd = self._watchdog
        if wd is not None and wd is not threading.current_thread():
            wd.join(timeout / 2)
        self._close_current(timeout / 2)
        if was_lost and not (wd is not None and wd.is_alive()):
            self._account_silence()  # lost until the end: that time is dropped too
        self.lost_at_stop = was_lost
        self.status = STATUS_STOPPED
        self.finished = True

    @property
    def is_alive(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (also while lost: it is being reopened)."""
        return self._watchdog is not None and not self.finished

    @property
    def input_latency_s(self) -> float:
        """Input latency PortAudio reports for the open stream [s] (0 while closed)."""
        stream = self._stream
        try:
            return float(stream.latency) if stream is not None else 0.0
        except Exception:  # a stream closing under us
            return 0.0

    @property
    def position_s(self) -> float:
        """Stream time produced so far, gaps included [s]."""
        ring = self.ring
        if ring is None:
            return 0.0
        return ring.produced_samples / self.rate

    @property
    def callbacks(self) -> int:
        """Callbacks received so far (all streams)."""
        return int(self._hb[0])

    @property
    def frames_delivered(self) -> int:
        """Frames the device delivered so far (all streams) [samples]."""
        return int(self._hb[1])

    @property
    def dropouts(self) -> int:
        """Dropouts shorter than a loss found by the clock check (each one counted gap)."""
        return int(self._dropouts[0])

    # ------------------------------------------------------------------ PortAudio thread
    def _make_callback(self, gen: int) -> tuple[Callable[..., None], Callable[[], None]]:
        """Build the stream callback and finished-callback for stream generation ``gen``."""
        sd = self._sd
        ring = self.ring
        assert ring is not None
        write = ring.write
        count_overflow = ring.count_overflow
        count_underflow = ring.count_underflow
        skip = ring.skip  # counted as dropped, published as a gap (producer-side)
        mix, hb, hb_t, resync, gen_now = self._mix, self._hb, self._hb_t, self._resync, self._gen
        clock, clock_reset, dropouts = self._clock, self._clock_reset, self._dropouts
        cap = mix.shape[0]
        channel = self.channel
        nch = self.open_channels
        scale = np.float32(1.0 / nch)
        rate = self.rate
        monotonic = time.monotonic
        ended = self._ended

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            # PortAudio thread: no allocation of sample buffers, no lock, no logging, no I/O.
            if gen_now[0] != gen:
                raise sd.CallbackAbort
            now = monotonic()
            if status:
                if status.input_overflow:
                    count_overflow()
                if status.input_underflow:
                    count_underflow()
            if resync[0]:
                resync[0] = 0
                held = unconfirmed_dropout(clock, clock_reset, rate)  # a hole before the loss
                lost = int((now - hb_t[0]) * rate) - frames + held
                clock_reset[0] = 1  # a new stream, or one that stalled: a new baseline
                if lost > 0:
                    skip(lost)  # the silent wall-clock time becomes one counted gap
                    if held:
                        dropouts[0] += 1
            offset = now - (ring.produced_samples + frames) / rate  # stream samples, this block in
            if clock_reset[0]:
                clock_reset[0] = 0
                clock[0] = clock[1] = clock[4] = offset
                clock[2] = now
                clock[3] = 0.0
            else:
                if offset < clock[1]:
                    clock[1] = offset
                if offset > clock[4] + DROPOUT_MIN_S or offset < clock[4]:
                    clock[4] = offset  # a jump (a dropout may start here), or a new minimum
                if now - clock[2] >= CLOCK_WINDOW_S:
                    rise = clock[1] - clock[0]
                    if rise <= DROPOUT_MIN_S:
                        clock[0] = clock[1]  # follow the clocks' drift
                        clock[3] = 0.0
                    elif clock[3] == 0.0:
                        clock[3] = rise  # once could be a starved process catching up
                    else:  # risen for two windows: audio went missing
                        gap = int(min(rise, clock[3]) * rate)
                        skip(gap)
                        dropouts[0] += 1
                        offset -= gap / rate
                        clock[3] = 0.0
                        clock[4] = offset
                    if clock[3] == 0.0:  # else the next window's minimum includes this one's
                        clock[1] = offset
                    clock[2] = now
            if channel is not None:
                write(indata[:, channel])
            elif nch == 1:
                write(indata[:, 0])
            else:
                off = 0
                while off < frames:
                    m = min(frames - off, cap)
                    out = mix[:m]
                    np.copyto(out, indata[off : off + m, 0])
                    for c in range(1, nch):
                        np.add(out, indata[off : off + m, c], out=out)
                    np.multiply(out, scale, out=out)
                    write(out)
                    off += m
            hb[0] += 1
            hb[1] += frames
            hb_t[0] = now

        def finished_callback() -> None:
            # PortAudio thread: only sets an Event (the watchdog reacts).
            if gen_now[0] == gen:
                ended.set()

        return callback, finished_callback

    # ------------------------------------------------------------------ stream management
    def _open(self, index: int) -> None:
        """Open and start a new stream on device ``index`` (caller's or watchdog thread)."""
        sd = self._sd
        gen = int(self._gen[0]) + 1
        self._gen[0] = gen
        self._ended.clear()
        callback, finished_callback = self._make_callback(gen)
        stream = sd.InputStream(
            device=index, samplerate=self.rate, channels=self.open_channels, dtype="float32",
            blocksize=self.block_size, latency=self.latency, callback=callback,
            finished_callback=finished_callback,
        )
        try:
            stream.start()
        except Exception:
            call_with_timeout(stream.close, CLOSE_TIMEOUT_S)
            raise
        self._stream = stream
        if self._stop.is_set():  # stop() ran while this stream opened: close it too
            self._gen[0] += 1
            self._close_current(CLOSE_TIMEOUT_S)

    def _close_current(self, timeout: float) -> bool:
        """Abort and close the current stream on a helper thread; False if it timed out."""
        stream, self._stream = self._stream, None
        if stream is None:
            return True

        def abort_close() -> None:
            try:
                stream.abort()
            finally:
                stream.close()

        hung = call_with_timeout(abort_close, timeout)
        if hung is not None:
            self._hung_closes.append(hung)
        return hung is None

    @property
    def _hung_close(self) -> bool:
        """An abort+close that timed out is still running: its stream's callback may still be
        inside a ring write (the generation check comes before it), so nobody else may produce
        into the ring. Cleared once every such call has returned."""
        return any(t.is_alive() for t in self._hung_closes)

    def _stream_ended(self) -> bool:
        if self._ended.is_set():
            return True
        stream = self._stream
        if stream is None:
            return True
        try:
            return not stream.active
        except Exception:
            return True

    # ------------------------------------------------------------------ watchdog thread
    def _watch(self) -> None:
        try:
            self._watch_loop()
        except BaseException as exc:  # stored and announced by the pipeline, never lost
            self.error = exc

    def _watch_loop(self) -> None:
        last_count = int(self._hb[0])
        last_change = time.monotonic()
        while not self._stop.wait(WATCHDOG_POLL_S):
            now = time.monotonic()
            count = int(self._hb[0])
            if count != last_count:
                last_count, last_change = count, now
                if self.status != STATUS_RUNNING:
                    self.status = STATUS_RUNNING
                    self.problem = None
            if self._stream_ended():
                self._declare_lost("the device stopped (stream ended)")
                if not self._reopen():
                    return
                last_count, last_change = int(self._hb[0]), time.monotonic()
                continue
            silent = now - last_change
            if silent >= self.stall_s:
                if self.status == STATUS_RUNNING:
                    self._declare_lost(f"no audio from the device for {silent:.1f} s")
                elif self.status == STATUS_REOPENING:  # reopened, but still nothing arrives
                    self.status = STATUS_LOST
            if silent >= self.stall_s + REOPEN_AFTER_S:
                if not self._reopen():
                    return
                last_count, last_change = int(self._hb[0]), time.monotonic()

    def _declare_lost(self, why: str) -> None:
        if self.status == STATUS_RUNNING:
            self.lost_count += 1
        self.status = STATUS_LOST
        self.problem = why
        self._resync[0] = 1  # the next delivering callback turns the silence into a gap

    def _account_silence(self) -> None:
        """Turn the wall-clock time since the last audio into a published gap (watchdog thread).

        Only while no stream is open: then the watchdog is the ring's one producer (also of the
        clock-check state: a dropout not yet confirmed before the loss joins the gap). The next
        stream's first callback accounts the rest (``_resync``)."""
        ring = self.ring
        if ring is None or self._stream is not None or self._hung_close:
            return  # a stream is open, or one whose close hung may still call back
        held = unconfirmed_dropout(self._clock, self._clock_reset, self.rate)
        self._clock_reset[0] = 1  # counted now: the next stream starts a new baseline
        wall = int((time.monotonic() - self._hb_t[0]) * self.rate)
        if wall + held > 0:
            ring.skip(wall + held)
            ring.flush_gap()
            self._hb_t[0] += wall / self.rate
            if held:
                self._dropouts[0] += 1

    def _wait_accounting(self, delay: float) -> bool:
        """Wait ``delay`` [s] in watchdog polls, accounting the closed stream's silence at each;
        True if :meth:`stop` was called meanwhile."""
        end = time.monotonic() + delay
        while True:
            self._account_silence()
            left = end - time.monotonic()
            if left <= 0:
                return self._stop.is_set()
            if self._stop.wait(min(left, WATCHDOG_POLL_S)):
                return True

    def _reopen(self) -> bool:
        """Close the dead stream and open a new one, with backoff; False if stopped meanwhile."""
        self._gen[0] += 1  # a late callback of the dead stream now aborts instead of writing
        self._close_current(CLOSE_TIMEOUT_S)
        # the stalled stream's silence, now that nothing else produces: without this a device
        # that reopens at once but stays silent (its feed stopped) froze the stream clock
        self._account_silence()
        # no stream delivers until one opens: a stop() during an attempt finds the device lost
        self._callbacks_at_reopen = self.callbacks
        delay = BACKOFF_START_S
        attempt = 0
        while not self._stop.is_set():
            self.status = STATUS_REOPENING
            try:
                with quiet_stderr():  # ALSA/PortAudio print every failed attempt
                    if attempt > 0:
                        reinit_portaudio(self._sd)
                    dev = self._find_again()
                    self._open(dev.index)
            except Exception as exc:
                self.status = STATUS_LOST
                self.problem = f"cannot reopen '{self.device.name}': {exc}"
            else:
                self.reopen_count += 1  # it delivers once callbacks pass _callbacks_at_reopen
                self._resync[0] = 1
                return not self._stop.is_set()
            attempt += 1
            if self._wait_accounting(delay):
                break
            delay = min(2 * delay, BACKOFF_MAX_S)
        return False

    def end_problem(self, snap: Snapshot) -> str | None:
        """One line when the device was lost, and not back, when it was stopped, else None
        (``snap``: the pipeline's last snapshot, for the dropped count).

        The monitor rides out a lost device (it reopens it, and its silence is counted as dropped
        samples), but a run that ends without it has not heard what it was asked to: the CLI
        prints this line and exits with code 2 (:meth:`Pipeline.raise_end_problems`).
        """
        if not self.lost_at_stop:
            return None
        return (
            f"the input device was lost and had not come back when the monitor stopped "
            f"({self.problem or 'no audio'}); {snap.dropped_samples} samples "
            f"({snap.dropped_samples / snap.source_rate:.1f} s) dropped in all"
        )

    def _find_again(self) -> InputDevice:
        """The same device after a PortAudio re-initialisation (indices may have moved)."""
        devs = list_input_devices()
        for d in devs:
            if d.name == self.device.name and d.hostapi == self.device.hostapi:
                return d
        for d in devs:
            if d.name == self.device.name:
                return d
        raise DeviceError(f"'{self.device.name}' is not present")


def open_device_source(args: argparse.Namespace, cfg: PipelineConfig | None = None
                       ) -> DeviceSource:
    """Build the (not yet started) device source for ``stetho-rt monitor``.

    Parameters
    ----------
    args : argparse.Namespace
        ``device`` (index, part of a name, or None for the default input), ``rate`` [Hz] or None
        for the device's default, ``channel`` or None to downmix, ``record`` (checked here so a bad
        path fails before the device opens).
    cfg : PipelineConfig or None
        Block length (``cfg.stream.block_size``).

    Raises
    ------
    DeviceError
        The device does not exist, or cannot capture at that rate and channel count; the message
        names the available input devices.
    ConfigError
        Rate out of range, or a ``--record`` path that cannot be written.
    """
    cfg = cfg or PipelineConfig()
    record = getattr(args, "record", None)
    if record is not None:
        from stetho_rt.io.recorder import check_record_path

        check_record_path(record)
    devices = list_input_devices()
    dev = find_input_device(getattr(args, "device", None), devices)
    rate = getattr(args, "rate", None)
    rate = check_input_rate(rate if rate is not None else round(dev.default_rate),
                            f"device '{dev.name}'")
    src = DeviceSource(dev, rate, getattr(args, "channel", None),
                       block_size=cfg.stream.block_size(rate))
    sd = src._sd
    try:
        with quiet_stderr():
            sd.check_input_settings(device=dev.index, channels=src.open_channels,
                                    dtype="float32", samplerate=rate)
    except Exception as exc:
        raise DeviceError(
            f"input device {dev.index} '{dev.name}' cannot capture at {rate} Hz with "
            f"{src.open_channels} channel(s) ({exc}; its default rate is "
            f"{dev.default_rate:.0f} Hz); "
            f"{describe_available(devices)}"
        ) from None
    return src
