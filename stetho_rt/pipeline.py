"""The live pipeline: a source fills the ring, the DSP thread drains it (ARCHITECTURE.md §1).

One :class:`Pipeline` serves every mode. The dashboard, ``monitor --headless``, ``replay`` and
batch ``analyze`` differ only in their producer (device callback, paced replay thread, free-running
replay thread) and in what they read from the pipeline (the latest :class:`Snapshot`, or the full
event log at the end). There is no separate offline code path.

Threads and who writes what:

- the producer (source) writes the ring's producer counters only;
- the DSP thread (:meth:`Pipeline._run`) reads the ring, runs :class:`DspGraph`, the detector and
  the windower, appends to the display histories (live modes only) and the event logs, and
  publishes a new :class:`Snapshot`
  by swapping ``self._snapshot`` (one reference store: readers never lock);
- the classifier worker (when a model is loaded) consumes windows from a bounded queue;
- readers (UI, status line) only call :attr:`Pipeline.snapshot`.

An exception on the DSP thread is caught at the thread's top, stored in :attr:`Pipeline.error`
and shown in the next snapshot; the CLI turns it into exit code 1.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stetho_rt.config import CLIP_LEVEL, PipelineConfig
from stetho_rt.dsp.level import BlockMeter, index_runs, to_dbfs
from stetho_rt.errors import StethoError
from stetho_rt.events import Beat, HeartSound, Window
from stetho_rt.graph import DspGraph
from stetho_rt.history import History
from stetho_rt.io.audiofile import HiddenByDownmix
from stetho_rt.io.source import Source
from stetho_rt.ringbuffer import RingBuffer
from stetho_rt.snapshot import Level, Snapshot

DISPLAY_SECONDS = 10.0
"""Seconds of waveform, envelope and spectrogram the snapshot carries."""
RECENT_EVENTS_S = 30.0
"""Seconds of recent events the snapshot carries (the full log is kept only in batch mode)."""
PUBLISH_INTERVAL_S = 0.03
"""Wall-clock interval between snapshots in live mode [s] (about 30 per second)."""
IDLE_SLEEP_S = 0.002
"""DSP thread sleep when the ring is empty, live modes [s] (a device delivers a block every few
ms; waking oftener gains nothing)."""
IDLE_SLEEP_BATCH_S = 0.0002
"""DSP thread sleep when the ring is empty in batch analysis of a free-running source [s]. Such a
producer outruns the DSP thread, so the ring is empty only before its first block: a 2 ms sleep
there cost about 1.5 ms of a PASCAL file's 19 ms (9 s of audio; the first block's wait 1.98 →
0.42 ms in a one-off timeline). The ring takes no lock (the device callback writes it), so the
DSP thread polls rather than waits on an event."""
RECORDER_CLOSE_S = 10.0
"""Longest wait for the recorder to finish its files at stop (FLAC encodes ~6 min/s) [s]."""


def _free_recording_path(folder: Path) -> Path:
    """``folder/stetho-<date>-<time>.wav`` (``-2``, ``-3``... when a recording of that second
    exists already: a recording is never overwritten); creates ``folder``."""
    from stetho_rt.io.recorder import recording_files

    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p, n = folder / f"stetho-{stamp}.wav", 1
    while any(q.exists() for q in recording_files(p)):
        n += 1
        p = folder / f"stetho-{stamp}-{n}.wav"
    return p


@dataclass
class EventLog:
    """Events emitted so far; bounded to recent ones unless ``keep_all``."""

    keep_all: bool
    sounds: deque[HeartSound] = field(default_factory=deque)
    beats: deque[Beat] = field(default_factory=deque)
    windows: deque[Window] = field(default_factory=deque)

    def prune(self, now_s: float) -> None:
        """Drop events older than :data:`RECENT_EVENTS_S` (live mode keeps memory flat)."""
        if self.keep_all:
            return
        horizon = now_s - RECENT_EVENTS_S
        while self.sounds and self.sounds[0].offset_s < horizon:
            self.sounds.popleft()
        while self.beats and self.beats[0].s1_s < horizon:
            self.beats.popleft()
        while self.windows and self.windows[0].end_s < horizon:
            self.windows.popleft()


class Pipeline:
    """Ring + DSP thread (+ classifier worker) around one source.

    Parameters
    ----------
    source : Source
        The producer; its ``rate`` [Hz] fixes the ring and the resampler.
    cfg : PipelineConfig
        Parameters of every stage.
    live : bool
        True for display modes (snapshots published about every 30 ms, event log bounded);
        False for batch analysis (one snapshot at the end, every event kept, no display
        histories: waveform, filtered signal, envelope and spectrogram stay empty).
    end_s : float or None
        Stream time [s] at which the stream ends as if the source had (``--duration``): the DSP
        thread processes exactly that much input, then flushes and finishes
        (:attr:`reached_end_s`) before it publishes a snapshot at that time: the caller waits for
        :attr:`finished`. (The end used to be checked on the published snapshot and the run
        stopped without the final flush.)
    """

    def __init__(
        self,
        source: Source,
        cfg: PipelineConfig | None = None,
        *,
        live: bool = True,
        classifier: Any | None = None,
        recorder: Any | None = None,
        end_s: float | None = None,
    ) -> None:
        self.cfg = cfg or PipelineConfig()
        self.source = source
        self.recorder = recorder
        """Optional :class:`stetho_rt.io.recorder.Recorder`, fed by the DSP thread."""
        self.live = live
        self.idle_sleep_s = (IDLE_SLEEP_BATCH_S if not live and getattr(source, "free_run", False)
                             else IDLE_SLEEP_S)
        """DSP thread sleep while the ring is empty [s] (:data:`IDLE_SLEEP_BATCH_S` in batch
        analysis of a free-running source, else :data:`IDLE_SLEEP_S`)."""
        rate = int(source.rate)
        self.rate = rate
        self._end_samples = None if end_s is None else max(round(end_s * rate), 1)
        self.reached_end_s = False
        """True when the stream ended at ``end_s`` rather than with its source."""
        self.ring = RingBuffer(self.cfg.stream.ring_capacity(rate))
        self.block = max(self.cfg.stream.block_size(rate), 1)
        self.graph = DspGraph(
            rate, self.cfg, max_block=self.block * 4, classifier=classifier, live=live
        )
        self.meter = BlockMeter()
        # what a file's downmix hides from the meter (a live device: nothing)
        self._hidden = getattr(source, "hidden_counts", None) or HiddenByDownmix()
        self._zeros = np.zeros(self.block * 4, dtype=np.float32)
        self.events = EventLog(keep_all=not live)
        internal = self.cfg.dsp.internal_rate
        self._raw_hist = History(int(DISPLAY_SECONDS * internal))
        self._bp_hist = History(int(DISPLAY_SECONDS * internal))
        env_rate = self.graph.envelope_rate
        self._env_hist = History(int(DISPLAY_SECONDS * env_rate), 2)
        self._spec_hist = History(int(DISPLAY_SECONDS * self.graph.spectral_rate),
                                  self.graph.spectral.db_columns.stop)
        self._hr_trend: deque[float] = deque(maxlen=120)
        self._snapshot = Snapshot(source=source.description, source_rate=rate)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.samples_in = 0
        """Stream samples consumed (gaps included) [samples at the source rate]."""
        self.gaps = 0
        """Gaps in the stream (runs of dropped samples; consecutive ones without audio between
        count once)."""
        self._gap_end = -1  # stream sample just after the last gap
        self._busy_s = 0.0
        self._load_window: deque[tuple[float, float]] = deque(maxlen=200)
        self.finished = threading.Event()
        """Set when the source has ended and everything it produced was processed."""
        self._closers: list[threading.Thread] = []  # finishing recordings stopped by the UI
        self.recording_problems: list[str] = []
        """One line per recording that failed or was not finished (see :meth:`Recorder.problem`)."""
        self.marks: deque[tuple[float, str]] = deque(maxlen=100)
        """User marks (stream time [s], label), newest last."""
        self._pending_session_s: float | None = None  # stream time of a requested session [s]
        self._session_lock = threading.Lock()  # guards accepting / requesting (held briefly)
        self._accepting_sessions = True  # False once the stream is finishing, failed or stopped

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Warm every kernel, start the DSP thread, then the source (in that order)."""
        if self.recorder is not None:
            self.recorder.start()  # creates the files: a bad path fails before anything runs
        self.meter.warm_up()
        self.graph.warm_up()
        self._thread = threading.Thread(target=self._run, name="stetho-dsp", daemon=True)
        self._thread.start()
        self.source.start(self.ring)

    @property
    def nonfinite_samples(self) -> int:
        """NaN/inf input samples: replaced by zeros (the meter), or left out of a file's
        downmix (counted by the file as it streams, so it may lead the meter by the ring)."""
        return self.meter.nonfinite_samples + self._hidden.nonfinite

    @property
    def clipped_samples(self) -> int:
        """Input samples at full scale: of the stream (the meter), or of a channel of a file
        that its downmix averages down (counted by the file as it streams)."""
        return self.meter.clipped_samples + self._hidden.clipped

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the source and the DSP thread; never waits longer than ``timeout`` each."""
        self._refuse_sessions()
        self._stop.set()  # first: a source that ends because it is stopped is not an end
        self.source.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if (self.live and not self._thread.is_alive() and not self.finished.is_set()
                    and self.error is None):
                self._publish()  # the counts as they stand at the stop (a lost device's time)
        self.graph.close()
        if self.recorder is not None:
            self._close_recorder(self.recorder)
        deadline = time.monotonic() + RECORDER_CLOSE_S
        for closer in self._closers:  # recordings stopped from the dashboard, still finishing
            closer.join(max(deadline - time.monotonic(), 0.0))

    def _close_recorder(self, rec: Any) -> None:
        """Finish ``rec``'s files; a failure is kept in :attr:`recording_problems`."""
        problem = rec.problem(rec.close(timeout=RECORDER_CLOSE_S))
        if problem is not None:
            self.recording_problems.append(problem)

    def raise_end_problems(self) -> None:
        """After :meth:`stop`: raise one :class:`StethoError` line (CLI exit code 2) when the run
        did not deliver what was asked: a device lost and not back, a recording that failed."""
        problems = [p for p in (self.source.end_problem(self.snapshot), *self.recording_problems)
                    if p]
        if problems:
            raise StethoError("; ".join(problems))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source ended and was fully processed; False on timeout."""
        return self.finished.wait(timeout)

    # ------------------------------------------------------------------ UI actions (UI thread)
    def toggle_recording(self, path: str | None = None) -> str | None:
        """Start recording (to ``path`` or a time-stamped WAV in ``recordings/``), or stop the
        recording in progress. Returns the new recording's path, or None when it stopped.

        The DSP thread reads ``self.recorder`` once per block, so swapping the reference is
        safe; a stopped recorder finishes its files on a helper thread (FLAC encoding must not
        block the UI)."""
        from stetho_rt.io.recorder import Recorder

        current = self.recorder
        if current is not None:
            self.recorder = None
            closer = threading.Thread(target=self._close_recorder, args=(current,),
                                      name="stetho-recorder-close", daemon=True)
            closer.start()
            self._closers.append(closer)  # joined by stop(): its problem must be in by then
            return None
        if self.finished.is_set():
            raise StethoError("The stream has ended: there is nothing left to record.")
        if path is None:
            path = str(_free_recording_path(Path("recordings")))
        rec = Recorder(path, self.rate)
        try:
            rec.start()
        except OSError as exc:
            raise StethoError(f"cannot record to {path}: {exc}") from None
        self.recorder = rec
        return str(rec.path)

    def mark(self, label: str = "mark") -> float:
        """Mark an event at the current stream time [s]; written to the recording if one runs."""
        now_s = self.samples_in / self.rate
        rec = self.recorder
        if rec is not None:
            rec.mark(label, now_s)
        self.marks.append((now_s, label))
        return now_s

    def new_session(self) -> float | None:
        """Start a new classifier session (UI thread; the chest piece moved to another site).

        The DSP thread applies it before its next block: the verdict, the session summary and
        the window log start afresh from the current stream time, which is marked (and written to
        the recording, if one runs). Returns that stream time [s], or None when there is no
        classifier (no verdict to restart, nothing is marked) or the stream has ended (or
        failed): nothing would apply it.
        """
        if not self.graph.has_classifier:
            return None
        with self._session_lock:
            if not self._accepting_sessions:
                return None
            now_s = self.mark("new session")
            self._pending_session_s = now_s
        return now_s

    def _apply_session_request(self) -> None:
        """DSP thread: start the requested session at the stream time the request marked."""
        if self._pending_session_s is None:  # the per-block check: no lock
            return
        with self._session_lock:  # only this thread clears it: still set
            at_s, self._pending_session_s = self._pending_session_s, None
        self.graph.new_session(at_s)
        self.events.windows.clear()

    def _refuse_sessions(self) -> None:
        """From now on :meth:`new_session` returns None (the stream ends, failed or stops)."""
        with self._session_lock:
            self._accepting_sessions = False

    @property
    def snapshot(self) -> Snapshot:
        """The latest published snapshot (never blocks)."""
        return self._snapshot

    # ------------------------------------------------------------------ DSP thread
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # stored and announced, never lost
            self.error = exc
            self._refuse_sessions()
            self._publish(error=f"{type(exc).__name__}: {exc}")
            self.finished.set()

    def _loop(self) -> None:
        buf = np.zeros(self.block * 4, dtype=np.float32)
        idle_sleep_s = self.idle_sleep_s
        last_publish = 0.0
        while not self._stop.is_set():
            self._apply_session_request()
            n, pos = self.ring.read_into(buf)
            if pos > self.samples_in:  # also with no samples: a lost device's time moves on
                self._on_gap(self._before_end(pos - self.samples_in))
            if self._at_end():
                return
            n = self._before_end(n)
            if n == 0:
                if self._source_done():
                    self._finish()
                    return
                now = time.perf_counter()
                if self.live and now - last_publish >= PUBLISH_INTERVAL_S:
                    self._publish()  # keep the source status (device lost...) visible
                    last_publish = now
                time.sleep(idle_sleep_s)
                continue
            rec = self.recorder  # one read per block: the UI thread may swap it
            if rec is not None:
                rec.submit_audio(buf[:n], pos)  # raw input (copied), before any stage
            t0 = time.thread_time()
            self._process(buf[:n])
            self.samples_in = pos + n
            self._busy_s += time.thread_time() - t0
            self._load_window.append((self.samples_in / self.rate, self._busy_s))
            if self._at_end():  # before any publish: no snapshot shows end_s unfinished
                return
            now = time.perf_counter()
            if self.live and now - last_publish >= PUBLISH_INTERVAL_S:
                self._publish()
                last_publish = now

    def _at_end(self) -> bool:
        """At ``end_s``: finish the stream there (flush, final snapshot) and return True."""
        if self._end_samples is None or self.samples_in < self._end_samples:
            return False
        self.reached_end_s = True
        self._finish()
        return True

    def _before_end(self, n: int) -> int:
        """``n`` samples [source rate], cut to what is left before ``end_s``, if any."""
        if self._end_samples is None:
            return n
        return max(min(n, self._end_samples - self.samples_in), 0)

    def _source_done(self) -> bool:
        src_err = self.source.error
        if src_err is not None:
            raise src_err
        # a stopped run ends where it stands: a replay source also says "finished" when it is
        # stopped, and a final flush and verdict then looked like the end of the recording
        # a gap published last (samples dropped at the very end) is read before the end
        return (bool(self.source.finished) and self.ring.available == 0
                and self.ring.unread_gaps == 0 and not self._stop.is_set())

    def _on_gap(self, length: int) -> None:
        """Samples were dropped: feed that many zeros so every stage's clock stays exact.

        The zeros go through the normal path (histories, events), so the display shows the gap
        as silence at its true place; the gap itself is counted in ``gaps`` and the ring's
        ``dropped_samples``."""
        if self.samples_in != self._gap_end:  # else it extends the gap before (a lost device)
            self.gaps += 1
        self._gap_end = self.samples_in + length
        self._mark_repaired(self.samples_in, self.samples_in + length)
        rec = self.recorder
        if rec is not None:
            rec.submit_gap(self.samples_in, length)  # zeros + a "gap" event
        while length > 0:
            k = min(length, self._zeros.shape[0])
            self._zeros[:k] = 0.0  # a stage never writes its input, but stay defensive
            out = self.graph.process(self._zeros[:k], gap=True)
            self._absorb(out)
            self.samples_in += k
            length -= k

    def _process(self, x: np.ndarray) -> None:
        bad = self.meter.process(x)  # sanitises in place: no NaN reaches a stage
        if bad is not None:  # rare: the runs of samples the meter replaced by zeros
            for a, b in index_runs(bad):
                self._mark_repaired(self.samples_in + a, self.samples_in + b)
        out = self.graph.process(x)
        self._absorb(out)

    def _mark_repaired(self, start: int, end: int) -> None:
        """Input samples ``start`` to ``end`` (stream indices) were replaced by zeros: windows
        over them are not clean (:meth:`ClassifierBranch.mark_repaired`)."""
        branch = self.graph.classify
        if branch is not None:
            branch.mark_repaired(start / self.rate, end / self.rate)

    def _absorb(self, out: Any) -> None:
        if self.live:  # display histories: batch analysis shows nothing (its snapshot has none)
            self._raw_hist.append(out.resampled)
            self._bp_hist.append(out.filtered)
            self._env_hist.append(out.envelope)
            self._spec_hist.append(out.spectrogram)
        self.events.sounds.extend(out.sounds)
        self.events.beats.extend(out.beats)
        self.events.windows.extend(out.windows)
        rec = self.recorder
        if rec is not None and (out.sounds or out.beats or out.windows):
            rec.submit_events(out.sounds, out.beats, out.windows)
        for beat in out.beats:
            self._hr_trend.append(beat.hr_bpm)
        self.events.prune(self.samples_in / self.rate)

    def _finish(self) -> None:
        self._refuse_sessions()  # later requests refused, a pending one still applied
        self._apply_session_request()
        self._absorb(self.graph.flush())
        self._publish(finished=True)
        self.finished.set()

    def _dsp_load(self) -> float:
        if len(self._load_window) < 2:
            return 0.0
        (t_a, b_a), (t_b, b_b) = self._load_window[0], self._load_window[-1]
        return (b_b - b_a) / (t_b - t_a) if t_b > t_a else 0.0

    def _publish(self, *, finished: bool = False, error: str | None = None) -> None:
        g = self.graph
        internal = self.cfg.dsp.internal_rate
        backlog_s = self.ring.available / self.rate
        rec = self.recorder
        self._snapshot = Snapshot(
            stream_time_s=self.samples_in / self.rate,
            source=self.source.description,
            source_rate=self.rate,
            internal_rate=internal,
            duration_s=getattr(self.source, "duration_s", None),
            level=Level(
                peak_dbfs=to_dbfs(self.meter.peak),
                rms_dbfs=to_dbfs(self.meter.rms),
                clipped_samples=self.clipped_samples,
                clipping=self.meter.peak >= CLIP_LEVEL,
            ),
            dropped_samples=self.ring.dropped_samples,
            input_overflows=self.ring.input_overflows,
            input_underflows=self.ring.input_underflows,
            gaps=self.gaps,
            nonfinite_samples=self.nonfinite_samples,
            hum_lines_hz=tuple(g.hum.active_lines_hz),
            late_sounds=g.detector.late_sounds,
            latency_s=(float(getattr(self.source, "input_latency_s", 0.0)) + backlog_s
                       + self.block / self.rate + g.latency_s + PUBLISH_INTERVAL_S / 2),
            dsp_load=self._dsp_load(),
            waveform=self._raw_hist.latest(),
            filtered=self._bp_hist.latest(),
            envelope=self._env_hist.latest(),
            envelope_rate=g.envelope_rate,
            spectrogram=self._spec_hist.latest(),
            spectrogram_rate=g.spectral_rate,
            sounds=tuple(self.events.sounds),
            beats=tuple(self.events.beats),
            heart_rate_bpm=g.heart_rate_bpm(),
            heart_rate_trend=tuple(self._hr_trend),
            windows=tuple(self.events.windows),
            verdict=g.verdict(),
            detector_ready=g.has_detector,
            classifier_ready=g.has_classifier,
            finished=finished,
            error=error,
            source_status=str(getattr(self.source, "status", "running")),
            source_problem=getattr(self.source, "problem", None),
            source_lost_count=int(getattr(self.source, "lost_count", 0)),
            recording_path=None if rec is None else str(rec.path),
            recording_error=None if rec is None else rec.error_text,
            recording_dropped=0 if rec is None else rec.dropped_samples,
            **self._end_times(),
            published_monotonic=time.monotonic(),
        )

    def _end_times(self) -> dict[str, float]:
        """Input time just after the last row of each display history [s]: the row count at its
        rate minus the latency of the stages before it, so S1/S2 marks line up with the traces."""
        g = self.graph
        internal = float(self.cfg.dsp.internal_rate)
        env_latency_s = g.detector.envelope_latency / g.envelope_rate
        hop = self.cfg.dsp.stft_hop
        frames = self._spec_hist.total
        spec_end = ((frames - 1) * hop + self.cfg.dsp.stft_window / 2 + hop / 2) / internal
        return {
            "waveform_end_s": self._raw_hist.total / internal - g.resampler.latency_s,
            "filtered_end_s": self._bp_hist.total / internal - g.upstream_latency_s,
            "envelope_end_s": self._env_hist.total / g.envelope_rate - g.upstream_latency_s
            - env_latency_s,
            "spectrogram_end_s": (spec_end if frames else 0.0) - g.resampler.latency_s,
        }
