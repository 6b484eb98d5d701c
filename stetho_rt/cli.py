"""The ``stetho-rt`` command line (ARCHITECTURE.md §6).

Exit codes: 0 all good; 2 bad input or arguments (one line on stderr per problem, no traceback);
1 internal failure; 130 interrupted (Ctrl-C while a command starts or a batch runs, SIGTERM to
a batch). A live run (monitor, replay) is stopped by Ctrl-C, ``q`` or SIGTERM and ends with 0.
``STETHO_RT_DEBUG=1`` adds tracebacks for internal failures.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from stetho_rt import __version__
from stetho_rt.config import (
    BLOCK_SECONDS,
    CLASSIFIER_HOP_S,
    CLASSIFIER_WINDOW_S,
    MAINS_CHOICES,
    MAX_HEART_RATE_BPM,
    MAX_INPUT_RATE_HZ,
    MIN_HEART_RATE_BPM,
    MIN_INPUT_RATE_HZ,
    RING_SECONDS,
    DspConfig,
    PipelineConfig,
    StreamConfig,
    mains_hz,
)
from stetho_rt.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    StethoError,
    internal_error_text,
    one_line,
    say,
)

MIN_SPEED, MAX_SPEED = 0.01, 1000.0
"""Replay speed factors accepted (times real time)."""
MIN_BENCH_S, MAX_BENCH_S = 1.0, 3600.0
"""Audio per ``bench`` measurement accepted [s]."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {one_line(message)} (see --help)\n")


def _add_stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", type=int, default=None, metavar="N",
                   help="input channel to use (0-based); default: downmix (a file: all "
                        "channels; a device: its first two inputs)")
    p.add_argument("--block-seconds", type=float, default=BLOCK_SECONDS, metavar="S",
                   help=f"source block length [s] (default {BLOCK_SECONDS})")
    p.add_argument("--ring-seconds", type=float, default=RING_SECONDS, metavar="S",
                   help=f"ring buffer capacity [s of input] (default {RING_SECONDS})")


def _add_mains_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mains", choices=tuple(MAINS_CHOICES), default="auto",
                   help="mains hum removed where heard: 50 or 60 Hz and harmonics, both "
                        "(auto, default) or none (off)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="PATH",
                   help="classifier model (.onnx with its .json sidecar); "
                        "default: models/classifier.onnx or $STETHO_RT_MODEL")
    p.add_argument("--no-classifier", action="store_true",
                   help="run without the murmur/artifact classifier")


def _add_live_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true",
                   help="no dashboard: print one status line per second")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds of stream time")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands monitor, replay, analyze, devices, bench)."""
    parser = _Parser(prog="stetho-rt", description="Real-time streaming stethoscope monitor.")
    parser.add_argument("--version", action="version", version=f"stetho-rt {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    mon = sub.add_parser("monitor", help="live monitor (device, or the demo signal)")
    mon.add_argument("--device", default=None, metavar="NAME|INDEX",
                     help="input device by index or (part of) its name")
    mon.add_argument("--rate", type=int, default=None, metavar="HZ",
                     help="device sample rate [Hz] (default: the device's own)")
    mon.add_argument("--record", default=None, metavar="PATH",
                     help="record raw input (WAV/FLAC) and events beside it")
    mon.add_argument("--demo", action="store_true", help="use the embedded demo signal")
    mon.add_argument("--demo-hr", type=float, default=72.0, metavar="BPM",
                     help="demo heart rate [bpm]")
    mon.add_argument("--demo-murmur", action="store_true", help="demo with a systolic murmur")
    _add_stream_args(mon)
    _add_mains_args(mon)
    _add_live_args(mon)
    _add_model_args(mon)

    rep = sub.add_parser("replay", help="stream a recording through the live path")
    rep.add_argument("file")
    rep.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1)")
    rep.add_argument("--loop", action="store_true", help="restart at the end")
    _add_stream_args(rep)
    _add_mains_args(rep)
    _add_live_args(rep)
    _add_model_args(rep)

    ana = sub.add_parser("analyze", help="analyse files (JSON Lines out)")
    ana.add_argument("files", nargs="+", metavar="FILE")
    ana.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                     help="files analysed in parallel processes")
    ana.add_argument("--out", "-o", default=None, metavar="PATH",
                     help="write JSON Lines here instead of stdout")
    ana.add_argument("--channel", type=int, default=None, metavar="N",
                     help="channel to analyse (0-based); default: downmix")
    ana.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_mains_args(ana)
    _add_model_args(ana)

    sub.add_parser("devices", help="list input devices")

    ben = sub.add_parser("bench", help="per-stage cost and real-time factor on this machine")
    ben.add_argument("--seconds", type=float, default=30.0,
                     help="seconds of audio per measurement (default 30)")
    ben.add_argument("--rate", type=int, action="append", default=None, metavar="HZ",
                     help="input rate(s) to measure (default 44100 and 4000)")
    parser.epilog = (
        f"classifier windows: {CLASSIFIER_WINDOW_S} s, hop {CLASSIFIER_HOP_S} s; "
        "see README.md for the full list of defaults"
    )
    return parser


def _pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    block = getattr(args, "block_seconds", BLOCK_SECONDS)
    ring = getattr(args, "ring_seconds", RING_SECONDS)
    if not 0.0005 <= block <= 1.0:
        raise StethoError(f"--block-seconds {block}: must be between 0.0005 and 1")
    if not block * 4 <= ring <= 600:
        raise StethoError(f"--ring-seconds {ring}: must be between 4 blocks and 600 s")
    return PipelineConfig(dsp=DspConfig(mains_hz=mains_hz(args.mains)),
                          stream=StreamConfig(ring_seconds=ring, block_seconds=block))


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values no run can honour (one line naming the option, exit 2)."""

    def bad(value: float | None, lo: float, hi: float) -> bool:
        return value is not None and not (math.isfinite(value) and lo <= value <= hi)

    duration = getattr(args, "duration", None)
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise StethoError(f"--duration {duration}: must be a positive number of seconds")
    if bad(getattr(args, "speed", None), MIN_SPEED, MAX_SPEED):
        raise StethoError(f"--speed {args.speed}: must be between {MIN_SPEED:g} and "
                          f"{MAX_SPEED:g} (times real time)")
    if bad(getattr(args, "demo_hr", None), MIN_HEART_RATE_BPM, MAX_HEART_RATE_BPM):
        raise StethoError(f"--demo-hr {args.demo_hr}: must be between "
                          f"{MIN_HEART_RATE_BPM:g} and {MAX_HEART_RATE_BPM:g} bpm")
    if args.command == "bench" and bad(args.seconds, MIN_BENCH_S, MAX_BENCH_S):
        raise StethoError(f"--seconds {args.seconds}: must be between {MIN_BENCH_S:g} and "
                          f"{MAX_BENCH_S:g}")
    if args.command == "monitor" and args.demo:
        for flag, value in (("--rate", args.rate), ("--channel", args.channel),
                            ("--device", args.device)):
            if value is not None:
                raise StethoError(f"{flag} applies to an input device, not to --demo")
    channel = getattr(args, "channel", None)
    if channel is not None and channel < 0:
        raise StethoError(f"--channel {channel}: must be 0 or more (0-based)")
    rate = getattr(args, "rate", None)
    if args.command == "monitor" and rate is not None and not (
            MIN_INPUT_RATE_HZ <= rate <= MAX_INPUT_RATE_HZ):
        raise StethoError(f"--rate {rate}: must be a sample rate of {MIN_INPUT_RATE_HZ}-"
                          f"{MAX_INPUT_RATE_HZ} Hz")
    for flag, path in (("--out", getattr(args, "out", None)),
                       ("--record", getattr(args, "record", None))):
        if path is not None and not str(path):
            raise StethoError(f"{flag}: empty path")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "monitor")  # `stetho-rt [monitor options]` is the monitor
    args = build_parser().parse_args(argv)
    with _noting_interrupts() as interrupted:
        return _run_command(args, interrupted)


@contextlib.contextmanager
def _noting_interrupts() -> Iterator[threading.Event]:
    """While the command runs, Ctrl-C still raises KeyboardInterrupt and is also noted in the
    event yielded: a library that swallows the KeyboardInterrupt (llvmlite's callbacks while
    numba compiles, onnxruntime's initialisation) then fails with some other error, which is
    reported as the interrupt it was instead of an internal error. Only Python's own handler is
    wrapped (in the main thread); another one is left alone."""
    noted = threading.Event()
    wrap = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if not wrap:
        yield noted
        return

    def on_sigint(signum: int, frame: object) -> None:
        noted.set()
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_command(args: argparse.Namespace, interrupted: threading.Event) -> int:
    command = args.command
    try:
        _check_options(args)
        if command == "analyze":
            from stetho_rt.commands.analyze import run_analyze

            return run_analyze(args)
        if command == "devices":
            from stetho_rt.commands.devices import run_devices

            return run_devices(args)
        if command == "bench":
            from stetho_rt.benchmark import run_bench

            return run_bench(args)
        from stetho_rt.commands.live import run_live

        return run_live(command, args, _pipeline_config(args))
    except StethoError as exc:
        say(str(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # outside a batch's own handling (it says how far it got)
        say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if interrupted.is_set():  # the interrupt was swallowed and resurfaced as this
            say("interrupted")
            return EXIT_INTERRUPTED
        say(internal_error_text(exc))
        return EXIT_INTERNAL
