"""Lossless recording of the raw input and of the events, from a writer thread (ARCHITECTURE.md §1).

Threads:

- **DSP thread** (the pipeline) calls :meth:`Recorder.submit_audio`, :meth:`Recorder.submit_gap` and
  :meth:`Recorder.submit_events`; the UI thread may call :meth:`Recorder.mark`. Each call copies
  what it needs and puts it on a bounded queue without waiting: when the queue is full (the disk
  stalls) the item is dropped and counted, never blocking the caller.
- **writer thread** (``stetho-recorder``) owns both files: it writes the audio, zero-fills gaps,
  writes the event rows and flushes both every :data:`FLUSH_INTERVAL_S`.

The recording's timeline is true: sample ``k`` of the file is stream sample ``origin + k`` (origin:
the stream position of the first block recorded). Samples the input lost (ring drops, a device
that was unplugged) and blocks the recorder itself had to drop are written as zeros **and** marked
by a ``gap`` event, so file time and event times stay aligned. Gaps that follow each other with
no audio between (a lost device's time arrives in 0.1 s pieces) make one event, written when the
gap ends (a process killed during it keeps the zeros, not that event).

Crash safety (a process killed with SIGKILL loses at most the last flush interval):

- WAV: libsndfile rewrites the RIFF header on every flush (measured, libsndfile 1.2.2), so a killed
  recording is a valid WAV holding everything up to the last flush.
- FLAC: a FLAC stream cut by SIGKILL has no length in its header and libsndfile cannot read it, so
  the audio is written to ``<path>.partial.wav`` (crash-safe WAV, float) while recording and
  encoded to FLAC by :meth:`Recorder.close` (written to a temporary name, then renamed: the
  ``.flac`` is complete or absent). After a crash, the ``.partial.wav`` is the recording;
  :func:`finish_partial` encodes it.

Events go to ``<path>.events.jsonl`` (one JSON object per line, key ``event``: ``start``, ``sound``,
``beat``, ``window``, ``gap``, ``mark``, ``end``) or ``<path>.events.csv`` (same rows, fixed
columns :data:`CSV_COLUMNS`). Times are stream seconds; ``start`` gives ``origin_s``, the stream
time of the file's first sample.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from stetho_rt.errors import ConfigError, InputError
from stetho_rt.events import Beat, HeartSound, Window

#: Extension -> (libsndfile format, default subtype, allowed subtypes).
FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    ".wav": ("WAV", "FLOAT", ("FLOAT", "PCM_24", "PCM_16")),
    ".flac": ("FLAC", "PCM_24", ("PCM_24", "PCM_16")),
}
#: Event file formats.
EVENT_FORMATS = ("jsonl", "csv")
#: The writer flushes audio and events at least this often [s].
FLUSH_INTERVAL_S = 0.5
#: Queue depth [items] (an item is one block, one gap or one batch of events: ~10 s of input).
QUEUE_ITEMS = 2048
#: Zeros written per call when filling a gap [samples].
_ZERO_CHUNK = 65536
#: Frames per read/write when encoding the partial WAV to FLAC [samples].
_ENCODE_CHUNK = 1 << 18
#: Columns of the CSV event file.
CSV_COLUMNS = ("event", "stream_s", "end_s", "kind", "label", "confidence", "hr_bpm", "rr_s",
               "quality", "probs", "decided_s", "position", "length", "detail")
_CLOSE = object()


def check_record_path(path: str | os.PathLike[str], subtype: str | None = None) -> Path:
    """Validate a recording path before anything opens; return it as a Path.

    Raises
    ------
    ConfigError
        Unknown extension, bad subtype, missing or unwritable folder, a path that is a folder,
        or a recording that exists already (its audio, events or partial file): a recording is
        never overwritten.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in FORMATS:
        raise ConfigError(f"--record {p}: use a .wav or .flac file name (lossless), not '{ext}'")
    if subtype is not None and subtype.upper() not in FORMATS[ext][2]:
        allowed = ", ".join(FORMATS[ext][2])
        raise ConfigError(f"--record {p}: subtype {subtype} is not one of {allowed}")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        if not parent.is_dir():
            what = "is not a folder" if parent.exists() else "does not exist"
            raise ConfigError(f"--record {p}: folder {parent} {what}")
        if not os.access(parent, os.W_OK):
            raise ConfigError(f"--record {p}: folder {parent} is not writable")
        if p.is_dir():
            raise ConfigError(f"--record {p}: is a folder")
        for existing in recording_files(p):
            if existing.exists():
                raise ConfigError(f"--record {p}: {existing} exists already; a recording is "
                                  "never overwritten (choose another name)")
    except OSError as e:  # a name too long for the file system (with its partial's suffix), ...
        raise ConfigError(f"--record {p}: {e.strerror or e}") from None
    return p


def recording_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Every file a recording at ``path`` may write: the audio, its FLAC partial, its events."""
    p = Path(path)
    return (p, partial_path_for(p), *(events_path_for(p, f) for f in EVENT_FORMATS))


def events_path_for(path: str | os.PathLike[str], events_format: str = "jsonl") -> Path:
    """``<path>.events.jsonl`` or ``<path>.events.csv``."""
    return Path(f"{os.fspath(path)}.events.{events_format}")


def partial_path_for(path: str | os.PathLike[str]) -> Path:
    """The crash-safe WAV a FLAC recording is written to until :meth:`Recorder.close`."""
    return Path(f"{os.fspath(path)}.partial.wav")


def finish_partial(partial: str | os.PathLike[str], path: str | os.PathLike[str] | None = None,
                   subtype: str = "PCM_24") -> Path:
    """Encode a ``.partial.wav`` (left by a crashed FLAC recording, or by close) to FLAC.

    The FLAC is written to ``<path>.tmp`` and renamed, then the partial WAV is removed.

    Parameters
    ----------
    partial : str or PathLike
        The ``<path>.partial.wav``.
    path : str or PathLike or None
        Destination; default the partial name without ``.partial.wav``.
    subtype : str
        FLAC sample format.

    Returns
    -------
    Path
        The FLAC file.
    """
    import soundfile as sf

    src = Path(partial)
    dst = Path(path) if path is not None else Path(os.fspath(src).removesuffix(".partial.wav"))
    tmp = Path(f"{dst}.tmp")
    with sf.SoundFile(os.fsencode(src)) as fin, sf.SoundFile(
        os.fsencode(tmp), "w", samplerate=fin.samplerate, channels=fin.channels, format="FLAC",
        subtype=subtype,
    ) as fout:
        while True:
            block = fin.read(_ENCODE_CHUNK, dtype="float32")
            if block.shape[0] == 0:
                break
            fout.write(block)
    os.replace(tmp, dst)
    src.unlink()
    return dst


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


class Recorder:
    """Writes the raw input losslessly plus the events beside it, from its own thread.

    Parameters
    ----------
    path : str or PathLike
        ``.wav`` (default subtype FLOAT: float32 input is kept bit-exact) or ``.flac``
        (PCM_24: exact for sources of up to 24 bits).
    rate : int
        Sample rate of the submitted audio [Hz] (the source rate).
    events_format : str
        "jsonl" (``<path>.events.jsonl``) or "csv" (``<path>.events.csv``).
    subtype : str or None
        libsndfile subtype; default per format (see :data:`FORMATS`).
    flush_interval_s : float
        Longest time between flushes [s]; bounds what a SIGKILL loses.
    queue_items : int
        Capacity of the queue between the callers and the writer [items].

    Attributes
    ----------
    path, events_path : Path
        The audio and event files.
    write_path : Path
        The file audio goes to while recording (``path``, or the partial WAV for FLAC).
    samples_written : int
        Samples in the audio file so far, zero-filled gaps included.
    dropped_samples : int
        Samples submitted while the queue was full (written as zeros, marked as a gap).
    error : BaseException or None
        Why the writer stopped (disk full...); later submissions are ignored.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int,
        events_format: str = "jsonl",
        subtype: str | None = None,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        queue_items: int = QUEUE_ITEMS,
    ) -> None:
        self.path = check_record_path(path, subtype)
        if events_format not in EVENT_FORMATS:
            raise ConfigError(f"events_format={events_format!r}: use 'jsonl' or 'csv'")
        if rate <= 0:
            raise ConfigError(f"rate={rate} Hz must be positive")
        ext = self.path.suffix.lower()
        self.format, default_subtype, _ = FORMATS[ext]
        self.subtype = (subtype or default_subtype).upper()
        self.rate = int(rate)
        self.events_format = events_format
        self.events_path = events_path_for(self.path, events_format)
        self.write_path = partial_path_for(self.path) if self.format == "FLAC" else self.path
        self.flush_interval_s = float(flush_interval_s)
        self.samples_written = 0
        self.dropped_samples = 0
        self.error: BaseException | None = None
        self._q: queue.Queue[Any] = queue.Queue(maxsize=int(queue_items))
        self._thread: threading.Thread | None = None
        self._closed = False
        self._sf: Any = None
        self._events: IO[str] | None = None
        self._csv: Any = None
        self._origin: int | None = None
        self._next: int = 0  # stream position of the next file sample (valid once _origin set)
        self._zeros = np.zeros(0, dtype=np.float32)
        self._gap_row: list[Any] | None = None  # [position, length, reason] of the open gap

    # ------------------------------------------------------------------ caller side
    def start(self) -> None:
        """Create both files and start the writer thread (caller's thread: errors raise here).

        Raises
        ------
        InputError
            A file cannot be created.
        """
        import soundfile as sf

        if self._thread is not None:
            raise RuntimeError("Recorder can be started only once")
        wav_subtype = "FLOAT" if self.format == "FLAC" else self.subtype
        try:
            self._sf = sf.SoundFile(os.fsencode(self.write_path), "w", samplerate=self.rate,
                                    channels=1, format="WAV", subtype=wav_subtype)
            self._events = open(self.events_path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except (OSError, RuntimeError) as exc:
            if self._sf is not None:
                self._sf.close()
            raise InputError(f"{self.path}: cannot create the recording ({exc})") from None
        if self.events_format == "csv":
            self._csv = csv.writer(self._events)
            self._csv.writerow(CSV_COLUMNS)
        self._thread = threading.Thread(target=self._run, name="stetho-recorder", daemon=True)
        self._thread.start()

    def submit_audio(self, block: npt.ArrayLike, position: int) -> bool:
        """Queue a copy of ``block`` (1-D, source rate) whose first sample is stream ``position``.

        Never blocks. Returns False if the block was dropped (queue full, recorder closed or
        failed); dropped samples become zeros and a gap in the file.
        """
        x = np.array(block, dtype=np.float32, copy=True).reshape(-1)
        return self._put(("audio", int(position), x), x.shape[0])

    def submit_gap(self, position: int, length: int) -> bool:
        """Mark ``length`` lost samples at stream ``position``: zeros in the file, a gap event."""
        if length <= 0:
            return True
        return self._put(("gap", int(position), int(length)), 0)

    def submit_events(self, sounds: Iterable[HeartSound] = (), beats: Iterable[Beat] = (),
                      windows: Iterable[Window] = ()) -> bool:
        """Queue event rows (sounds, beats, classifier windows)."""
        rows = [self._sound_row(s) for s in sounds]
        rows += [self._beat_row(b) for b in beats]
        rows += [self._window_row(w) for w in windows]
        if not rows:
            return True
        return self._put(("rows", rows), 0)

    def mark(self, label: str, stream_s: float) -> bool:
        """Queue a user mark (e.g. "patient coughed") at stream time ``stream_s`` [s]."""
        return self._put(("rows", [{"event": "mark", "stream_s": _r(stream_s), "label": label}]), 0)

    def close(self, timeout: float = 10.0) -> bool:
        """Finish the files (FLAC: encode the partial WAV); True if done within ``timeout`` [s].

        Safe to call twice and from any thread but the writer's. On timeout the writer thread keeps
        going in the background (a daemon thread: it dies with the process, leaving the crash-safe
        ``write_path``).
        """
        t = self._thread
        if t is None:
            self._closed = True
            return True
        if not self._closed:
            self._closed = True
            deadline = time.monotonic() + timeout
            while True:
                try:
                    self._q.put(_CLOSE, timeout=0.05)
                    break
                except queue.Full:
                    if not t.is_alive() or time.monotonic() > deadline:
                        break
            t.join(max(deadline - time.monotonic(), 0.0))
        else:
            t.join(timeout)
        return not t.is_alive()

    @property
    def error_text(self) -> str | None:
        """:attr:`error` in a few words (libsndfile's are terse: "System error" for a full disk or
        a file-size limit), None while all is well."""
        err = self.error
        if err is None:
            return None
        return str(err).strip().rstrip(".") or type(err).__name__

    def problem(self, finished: bool = True) -> str | None:
        """One line when the recording is not what was asked for, else None.

        Parameters
        ----------
        finished : bool
            What :meth:`close` returned (False: the files were not finished in time).
        """
        # the audio stays where it was written (a FLAC's partial WAV is encoded only on success)
        held = f"{self.write_path} holds the first {self.samples_written / self.rate:.1f} s"
        if self.error_text is not None:
            return f"recording {self.path} stopped writing ({self.error_text}); {held}"
        if not finished:
            return f"recording {self.path} was not finished in time; {held}"
        return None

    @property
    def is_alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _put(self, item: tuple[Any, ...], n: int) -> bool:
        if self._closed or self.error is not None or self._thread is None:
            return False
        try:
            self._q.put_nowait(item)
            return True
        except queue.Full:
            self.dropped_samples += n  # the writer sees the position jump and zero-fills it
            return False

    # ------------------------------------------------------------------ rows
    @staticmethod
    def _sound_row(s: HeartSound) -> dict[str, Any]:
        return {"event": "sound", **s.to_json()}

    @staticmethod
    def _beat_row(b: Beat) -> dict[str, Any]:
        return {"event": "beat", **b.to_json()}

    @staticmethod
    def _window_row(w: Window) -> dict[str, Any]:
        return {"event": "window", **w.to_json()}

    def _write_row(self, row: dict[str, Any]) -> None:
        assert self._events is not None
        if self._csv is None:
            self._events.write(json.dumps(row, separators=(",", ":")) + "\n")
            return
        flat = {
            "event": row.get("event"),
            "stream_s": next((row[k] for k in ("stream_s", "onset_s", "s1_s", "start_s")
                              if k in row), None),
            "end_s": row.get("end_s", row.get("offset_s")),
            "kind": row.get("kind"),
            "label": row.get("label"),
            "confidence": row.get("confidence"),
            "hr_bpm": row.get("hr_bpm"),
            "rr_s": row.get("rr_s"),
            "quality": row.get("quality"),
            "probs": (";".join(f"{k}={v}" for k, v in row["probs"].items())
                      if "probs" in row else None),
            "decided_s": row.get("decided_s"),
            "position": row.get("position"),
            "length": row.get("length"),
            "detail": row.get("detail"),
        }
        if row.get("event") == "start":
            flat["detail"] = f"rate={row['rate']} file={row['file']} started={row['started']}"
        elif row.get("event") == "end":
            flat["detail"] = (f"samples={row['samples']} "
                              f"recorder_dropped={row['dropped_samples']}")
        self._csv.writerow(["" if flat[c] is None else flat[c] for c in CSV_COLUMNS])

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # disk full, I/O error: stored, later submissions ignored
            self.error = exc
        finally:
            try:
                self._finish()
            except BaseException as exc:
                if self.error is None:
                    self.error = exc

    def _loop(self) -> None:
        next_flush = time.monotonic() + self.flush_interval_s
        while True:
            try:
                item = self._q.get(timeout=max(next_flush - time.monotonic(), 0.0))
            except queue.Empty:
                item = None
            if item is _CLOSE:
                return
            if item is not None:
                self._handle(item)
            if time.monotonic() >= next_flush:
                self._flush()
                next_flush = time.monotonic() + self.flush_interval_s

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "audio":  # only audio ends a loss: windows and marks keep coming during one
            self._end_gap_row()
        if kind == "audio":
            _, position, x = item
            self._begin(position)
            if position > self._next:  # samples the recorder's queue (or an unreported gap) lost
                self._gap(self._next, position - self._next, "recorder")
            elif position < self._next:  # overlap: keep the file contiguous
                x = x[self._next - position:]
            if x.shape[0]:
                self._sf.write(x)
                self.samples_written += x.shape[0]
                self._next += x.shape[0]
        elif kind == "gap":
            _, position, length = item
            self._begin(position)
            end = position + length
            if end > self._next:
                start = max(position, self._next)
                self._gap(start, end - start, "input")
        elif kind == "rows":
            for row in item[1]:
                self._write_row(row)

    def _begin(self, position: int) -> None:
        if self._origin is not None:
            return
        self._origin = position
        self._next = position
        self._write_row({
            "event": "start",
            "stream_s": _r(position / self.rate),
            "origin_s": _r(position / self.rate),
            "rate": self.rate,
            "file": self.path.name,
            "subtype": self.subtype,
            "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        })

    def _gap(self, position: int, length: int, reason: str) -> None:
        """Zero-fill ``length`` samples at stream ``position`` and write the gap event."""
        if self._zeros.shape[0] == 0:
            self._zeros = np.zeros(_ZERO_CHUNK, dtype=np.float32)
        left = length
        while left > 0:
            m = min(left, _ZERO_CHUNK)
            self._sf.write(self._zeros[:m])
            left -= m
        self.samples_written += length
        self._next = position + length
        row = self._gap_row
        if row is not None and row[0] + row[1] == position and row[2] == reason:
            row[1] += length  # a lost device's time arrives as many gaps in a row: one event
        else:
            self._end_gap_row()
            self._gap_row = [position, length, reason]

    def _end_gap_row(self) -> None:
        """Write the gap event being extended, if any: when audio follows it (or at the end), so
        rows decided during the loss (windows, marks) come before it in the events file."""
        row, self._gap_row = self._gap_row, None
        if row is None:
            return
        position, length, reason = row
        self._write_row({
            "event": "gap",
            "stream_s": _r(position / self.rate),
            "end_s": _r((position + length) / self.rate),
            "position": position,
            "length": length,
            "detail": reason,
        })

    def _flush(self) -> None:
        if self._sf is not None:
            self._sf.flush()  # rewrites the WAV header: the file is valid after a SIGKILL
        if self._events is not None:
            self._events.flush()

    def _finish(self) -> None:
        # Writer thread: drain what was queued before close, then close both files.
        with contextlib.suppress(queue.Empty):
            while self.error is None:
                item = self._q.get_nowait()
                if item is not _CLOSE:
                    self._handle(item)
        if self._events is not None and self.error is None:
            self._end_gap_row()
            end = self._next if self._origin is not None else 0
            self._write_row({"event": "end", "stream_s": _r(end / self.rate),
                             "samples": self.samples_written,
                             "dropped_samples": self.dropped_samples})
        if self._sf is not None:
            self._sf.close()
            self._sf = None
        if self._events is not None:
            self._events.close()
            self._events = None
        if self.format == "FLAC" and self.error is None:
            finish_partial(self.write_path, self.path, self.subtype)


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a ``.events.jsonl`` file back (tolerates a last line cut by a crash)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out
