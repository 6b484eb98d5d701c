"""``stetho-rt analyze FILE...``: JSON Lines, one object per file, in input order.

Files are analysed by :func:`stetho_rt.analysis.analyze_file` in this process (``--jobs 1``) or in
a pool of worker processes. A bad file yields ``{"file", "error"}``, its one-line reason on stderr,
and exit code 2 at the end; the other files are still analysed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO, Any

from stetho_rt.analysis import analysis_config
from stetho_rt.errors import ConfigError


def _analyze_one(path: str, channel: int | None, model: str | None,
                 no_classifier: bool) -> dict[str, Any]:
    """One file, in this process or a worker (the model is loaded once per process)."""
    from stetho_rt.analysis import analyze_file
    from stetho_rt.commands import load_classifier

    cfg = analysis_config()
    opts = argparse.Namespace(model=model, no_classifier=no_classifier)
    return analyze_file(path, cfg, channel=channel, classifier=load_classifier(opts, cfg))


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, sparse in logs)."""

    def __init__(self, total: int, stream: IO[str], enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled and total > 1
        self.done = 0
        self.failed = 0
        self._tty = stream.isatty()
        self._t0 = time.perf_counter()
        self._last_pct = -10

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


def run_analyze(args: argparse.Namespace) -> int:
    """Analyse ``args.files``; return 0, or 2 when any file failed."""
    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: must be at least 1")
    if not args.no_classifier:  # a bad model is one error for the run, not one per file
        from stetho_rt.commands import load_classifier

        load_classifier(args, analysis_config())
    out: IO[str] = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    progress = Progress(len(args.files), sys.stderr, not args.no_progress)
    failed = 0
    try:
        for record in _records(args.files, args.jobs, args.channel, args.model,
                               args.no_classifier):
            if "error" in record:
                failed += 1
                print(f"stetho-rt: {record['error']}", file=sys.stderr)
            out.write(json.dumps(record) + "\n")
            out.flush()
            progress.update("error" in record)
    finally:
        if args.out:
            out.close()
    return 2 if failed else 0


def _records(files: list[str], jobs: int, channel: int | None, model: str | None,
             no_classifier: bool):  # type: ignore[no-untyped-def]
    paths = [str(Path(f)) for f in files]
    if jobs == 1 or len(paths) == 1:
        for p in paths:
            yield _analyze_one(p, channel, model, no_classifier)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=ctx) as pool:
        futures = [pool.submit(_analyze_one, p, channel, model, no_classifier) for p in paths]
        for fut in futures:  # input order; workers run ahead
            yield fut.result()
