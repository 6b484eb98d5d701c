"""``stetho-rt analyze FILE...``: JSON Lines, one object per file, in input order.

Files are analysed by :func:`stetho_rt.analysis.analyze_file` in this process (``--jobs 1``) or in
a pool of worker processes. A bad file yields ``{"file", "error"}``, its one-line reason on stderr,
and exit code 2 at the end; a file that fails internally (a bug) yields the same, with exit code
1; the other files are still analysed. ``--out`` is checked before any file is read: it may not
be one of the inputs, and a path that cannot be written is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import IO, Any

from stetho_rt.analysis import analysis_config
from stetho_rt.config import MAINS_HZ, mains_hz
from stetho_rt.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    internal_error_text,
    say,
)


def _analyze_one(path: str, channel: int | None, model: str | None,
                 no_classifier: bool, mains_hz: tuple[float, ...] = MAINS_HZ,
                 ) -> tuple[dict[str, Any], bool]:
    """One file, in this process or a worker (the model is loaded once per process): its record
    and whether it failed internally (a bug, not bad input: the batch goes on, exit code 1)."""
    from stetho_rt.analysis import analyze_file
    from stetho_rt.commands import load_classifier

    cfg = analysis_config(mains_hz)
    opts = argparse.Namespace(model=model, no_classifier=no_classifier)
    try:
        return analyze_file(path, cfg, channel=channel,
                            classifier=load_classifier(opts, cfg)), False
    except Exception as exc:
        return {"file": path, "error": f"{path}: {internal_error_text(exc)}"}, True


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, sparse in logs)."""

    def __init__(self, total: int, stream: IO[str], enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled and total > 1
        self.done = 0
        self.failed = 0
        self._tty = stream.isatty()
        self._t0 = time.perf_counter()
        self._last_pct = -10

    def clear(self) -> None:
        """Erase the bar on a terminal, so that a message printed next starts its own line (the
        next :meth:`update` redraws it)."""
        if self.enabled and self._tty and 0 < self.done < self.total:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def update(self, failed: bool) -> None:
        """Count one finished file and redraw."""
        self.done += 1
        self.failed += int(failed)
        if not self.enabled:
            return
        pct = 100 * self.done // self.total
        if not self._tty and pct < self._last_pct + 10 and self.done < self.total:
            return
        self._last_pct = pct
        width = 30
        fill = width * self.done // self.total
        rate = self.done / max(time.perf_counter() - self._t0, 1e-9)
        line = (f"[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} files "
                f"{rate:.1f}/s, {self.failed} failed")
        end = "" if self._tty and self.done < self.total else "\n"
        self.stream.write(("\r" if self._tty else "") + line + end)
        self.stream.flush()


def _open_out(path: str, inputs: list[str]) -> IO[str]:
    """``--out`` opened for writing, refused (ConfigError, exit 2) when it is one of the inputs
    (opening it would empty that recording) or cannot be written."""
    target = Path(path)
    for f in inputs:
        try:
            same = target.exists() and Path(f).exists() and os.path.samefile(target, f)
        except OSError:
            same = False
        if same:
            raise ConfigError(f"--out {path}: is also an input file; it would be overwritten")
    try:
        return open(target, "w", encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"--out {path}: cannot write ({e.strerror or e})") from e


def run_analyze(args: argparse.Namespace) -> int:
    """Analyse ``args.files``; return 0, 2 when any file was bad input, 1 when one failed
    internally (the other files are analysed either way)."""
    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: must be at least 1")
    if not args.no_classifier:  # a bad model is one error for the run, not one per file, and
        from stetho_rt.commands import load_classifier  # found before --out is emptied

        load_classifier(args, analysis_config())
    out: IO[str] = _open_out(args.out, args.files) if args.out else sys.stdout
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None  # as Ctrl-C
    progress = Progress(len(args.files), sys.stderr, not args.no_progress)
    failed = internal = 0
    work = partial(_analyze_one, channel=args.channel, model=args.model,
                   no_classifier=args.no_classifier,
                   mains_hz=mains_hz(args.mains))
    records = _records(args.files, args.jobs, work)
    try:
        for record, crashed in records:
            if "error" in record:
                failed += 1
                internal += int(crashed)
                progress.clear()
                say(record["error"])
            try:
                with _signals_held(main_thread):  # the count said matches the records written
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                    progress.update("error" in record)
            except BrokenPipeError:  # `analyze ... | head`: the reader is gone, stop quietly
                if out is sys.stdout:
                    _silence_stdout()
                records.close()  # queued files are cancelled, not analysed for nobody
                break
            except OSError as e:
                raise ConfigError(f"{args.out or 'stdout'}: cannot write ({e.strerror or e})"
                                  ) from e
    except KeyboardInterrupt:  # SIGINT, or SIGTERM (below): the records so far are complete
        records.close()  # the workers end now
        progress.clear()
        say(f"interrupted after {progress.done} of {len(args.files)} files (their records "
            "are written)")
        return EXIT_INTERRUPTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if args.out:
            with contextlib.suppress(OSError):  # its buffer cannot be written either: the
                out.close()  # write error above says so
    return EXIT_INTERNAL if internal else (EXIT_BAD_INPUT if failed else EXIT_OK)


@contextlib.contextmanager
def _signals_held(main_thread: bool) -> Iterator[None]:
    """Defer SIGINT and SIGTERM while a record is written and counted: one arriving inside the
    flush raised there, after the record reached the file but before it was counted, and
    "interrupted after N files" said one fewer than the file held. The signals are noted and
    raised as KeyboardInterrupt once the record is counted. (A signal mask did not hold: with
    ``--jobs`` the pool's threads are alive, the kernel hands the signal to one of them and
    CPython still runs the handler in the main thread, inside the section.)"""
    if not main_thread:
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: object) -> None:
        arrived.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if arrived:
        raise KeyboardInterrupt


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: the batch stops as on Ctrl-C."""
    raise KeyboardInterrupt


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


Work = Callable[[str], tuple[dict[str, Any], bool]]
"""Analyse one file: (record, crashed); a picklable top-level callable (pool workers)."""


def _records(files: list[str], jobs: int, work: Work):  # type: ignore[no-untyped-def]
    """(record, crashed) per file, in input order, from ``work`` (names as given).

    With ``jobs`` > 1 files run in a pool of worker processes, which run ahead of the order.
    A worker that dies (killed, out of memory) breaks the pool, and the pool cannot say which
    file it was running. Files finished before the break keep their records; the others run
    again in a new pool. After a second break the remaining files run one at a time in a
    one-worker pool until one breaks it alone: that file gets an error record (crashed), and the
    rest go back to a full pool (also after ``jobs + 2`` files in a row ran alone without a
    break: the files that were running at the break are past by then). So a file that kills its
    worker never ends the batch, and a healthy file that happened to run beside it is never
    blamed.
    """
    if jobs == 1 or len(files) == 1:
        for p in files:
            yield work(p)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
    done: dict[int, tuple[dict[str, Any], bool]] = {}  # finished out of order, kept
    pool: ProcessPoolExecutor | None = None
    futures: dict[int, Future] = {}
    breaks = 0
    isolate = False  # one file at a time, to find the one that kills its worker
    alone_ok = 0  # files in a row that ran alone without a break
    finished = False
    try:
        i = 0
        while i < len(files):
            if i in done:
                yield done.pop(i)
                i += 1
                continue
            if pool is None:
                width = 1 if isolate else min(jobs, len(files) - i)
                pool = ProcessPoolExecutor(max_workers=width, mp_context=ctx)
                ahead = [i] if isolate else [k for k in range(i, len(files)) if k not in done]
                futures = {k: pool.submit(work, files[k]) for k in ahead}
            try:
                if i not in futures:  # isolating: the next file, in the same one-worker pool
                    futures = {i: pool.submit(work, files[i])}  # (its idle worker may be gone)
                result = futures[i].result()  # input order; workers run ahead
            except BrokenProcessPool:
                for k, fut in futures.items():  # what finished before the break stands
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        done[k] = fut.result()
                _end_pool(pool)
                pool = None
                if not isolate:
                    breaks += 1
                    isolate = breaks >= 2
                    continue
                if i not in futures:  # the idle worker died before this file was sent: not its
                    continue  # fault, send it to a new one-worker pool
                isolate, breaks, alone_ok = False, 0, 0  # it broke a pool it ran in alone
                result = ({"file": files[i], "error": f"{files[i]}: internal error: the worker "
                           "process analysing it ended unexpectedly"}, True)
            if isolate:
                alone_ok += 1
                if alone_ok > jobs + 1:  # no culprit among the suspects: full pool again
                    pool.shutdown(wait=True)
                    pool, isolate, breaks, alone_ok = None, False, 0, 0
            yield result
            i += 1
        finished = True
    finally:  # closed early (reader gone, interrupted): drop queued files, stop the workers
        if pool is not None and finished:
            pool.shutdown(wait=True)  # idle workers: they exit at once
        elif pool is not None:
            _end_pool(pool)


def _end_pool(pool: ProcessPoolExecutor) -> None:
    """End the workers now, a worker mid-file too (it would run on for nobody, after this
    process has gone); the queued files are dropped with them.

    The workers are terminated first and no future is cancelled: the pool then marks its
    pending futures broken itself (Python 3.11 raises in its manager thread if one of them
    was cancelled)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):  # already gone
            proc.terminate()
    pool.shutdown(wait=False)
