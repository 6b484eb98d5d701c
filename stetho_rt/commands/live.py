"""``stetho-rt monitor`` and ``stetho-rt replay``: the live path, with or without the dashboard."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import IO

from stetho_rt.commands import load_classifier
from stetho_rt.config import PipelineConfig
from stetho_rt.errors import EXIT_INTERNAL, EXIT_OK, StethoError, report_run_failure, say
from stetho_rt.pipeline import Pipeline
from stetho_rt.snapshot import Snapshot

STATUS_INTERVAL_S = 1.0


def build_source(command: str, args: argparse.Namespace, cfg: PipelineConfig):  # type: ignore[no-untyped-def]
    """The producer for ``monitor`` (device, else demo) or ``replay`` (file)."""
    from stetho_rt.io.source import ReplaySource

    if command == "replay":
        from stetho_rt.io.audiofile import open_audio

        audio = open_audio(args.file, channel=args.channel)
        return ReplaySource.from_file(audio, cfg.stream, speed=args.speed, loop=args.loop)
    from stetho_rt.io.demo import DemoHeart

    if not args.demo:
        from stetho_rt.io.device import open_device_source

        if args.device is not None:
            return open_device_source(args, cfg)  # asked for: a missing device is an error
        if _default_input_available():
            return open_device_source(args, cfg)
        ignored = [flag for flag, value in (("--rate", args.rate), ("--channel", args.channel))
                   if value is not None]
        say("no input device available: playing the embedded demo signal"
            + (f" ({' and '.join(ignored)} ignored: only a device uses them)" if ignored else ""))
    demo = DemoHeart(hr_bpm=args.demo_hr, murmur=args.demo_murmur)
    return ReplaySource.from_demo(demo, cfg.stream)


def _default_input_available() -> bool:
    """True when PortAudio loads and lists at least one input device."""
    from stetho_rt.errors import DeviceError
    from stetho_rt.io.devices import list_input_devices

    try:
        return bool(list_input_devices())
    except DeviceError:
        return False


def status_line(s: Snapshot) -> str:
    """One human-readable line: stream time, level, drops, heart rate, verdict."""
    hr = f"{s.heart_rate_bpm:.0f} bpm" if s.heart_rate_bpm is not None else (
        "-- bpm" if s.detector_ready else "waiting for detector")
    verdict = "waiting for classifier"
    if s.verdict is not None:
        verdict = str(s.verdict.get("label"))
    elif s.classifier_ready:
        verdict = "--"
    elif s.classifier_off:
        verdict = "off"
    clip = " CLIPPING" if s.level.clipping else ""
    return (f"t={s.stream_time_s:7.1f}s level={s.level.rms_dbfs:6.1f} dBFS "
            f"peak={s.level.peak_dbfs:6.1f} dBFS{clip} dropped={s.dropped_samples} "
            f"overflows={s.input_overflows} underflows={s.input_underflows} "
            f"late_sounds={s.late_sounds} nonfinite={s.nonfinite_samples} "
            f"clipped={s.level.clipped_samples} "
            f"hr={hr} verdict={verdict} "
            f"latency={s.latency_s * 1000:.0f} ms load={s.dsp_load * 100:.1f}%"
            + (f" device={s.source_status}"
               + (f" ({s.source_problem})" if s.source_problem else "")
               if s.source_status in ("lost", "reopening") else "")
            + (f" device_losses={s.source_lost_count}" if s.source_lost_count else "")
            + (f" hum={'/'.join(map(str, s.hum_lines_hz))}Hz" if s.hum_lines_hz else "")
            + (f" rec_dropped={s.recording_dropped}" if s.recording_path else "")
            + (f" REC_FAILED=({s.recording_error})" if s.recording_error else ""))


def run_headless(pipe: Pipeline, out: IO[str]) -> int:
    """Print a status line every second until the stream ends (its source, or the pipeline's
    ``end_s``: ``--duration``) or a signal."""
    stop = threading.Event()
    prev = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipe.start()
        next_t = time.monotonic() + STATUS_INTERVAL_S
        while not stop.is_set():
            if pipe.finished.wait(timeout=max(next_t - time.monotonic(), 0.0)):
                break
            print(status_line(pipe.snapshot), file=out, flush=True)
            next_t += STATUS_INTERVAL_S
    finally:
        pipe.stop()
        for s, h in prev.items():
            signal.signal(s, h)
    ended = pipe.finished.is_set() and not pipe.reached_end_s  # the source ended
    print(status_line(pipe.snapshot) + (" (end)" if ended else ""),
          file=out, flush=True)  # the counts up to the end, whatever ended the run
    if report_run_failure(pipe.error):
        return EXIT_INTERNAL
    pipe.raise_end_problems()
    return EXIT_OK


def run_live(command: str, args: argparse.Namespace, cfg: PipelineConfig) -> int:
    """Run ``monitor``/``replay``; the dashboard unless ``--headless``."""
    if not args.headless and not (os.isatty(0) and os.isatty(2)):  # Textual draws on stderr
        raise StethoError("the dashboard needs a terminal (standard input and error are not "
                          "one); use --headless for a status line per second")
    source = build_source(command, args, cfg)
    recorder = None
    if getattr(args, "record", None) is not None:
        from stetho_rt.io.recorder import Recorder

        recorder = Recorder(args.record, source.rate)
    pipe = Pipeline(source, cfg, live=True, recorder=recorder,
                    classifier=load_classifier(args, cfg), end_s=args.duration)
    if args.headless:
        from stetho_rt.io.device import DeviceSource

        if not isinstance(source, DeviceSource):  # nothing prints behind our back
            return run_headless(pipe, sys.stdout)
        from stetho_rt.ui.stderr_guard import divert_stderr

        with divert_stderr(only_tty=False):  # PortAudio's own prints when a device dies
            return run_headless(pipe, sys.stdout)
    from stetho_rt.ui.app import run_app

    return run_app(pipe, duration=args.duration)
