"""One exception hierarchy for the package.

Every error a user can cause (bad file, bad argument, missing device, bad model) derives from
:class:`StethoError`; the CLI turns it into one line on stderr and exit code 2. Anything else is an
internal failure (exit code 1).
"""

from __future__ import annotations

import os
import sys
import traceback

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
"""Exit codes: all good; an internal failure (a bug); bad input or arguments."""
EXIT_INTERRUPTED = 130
"""Exit code of an interrupted command (128 + SIGINT, as a shell reports it): Ctrl-C while a
command starts or a batch runs, SIGTERM to a batch. A live run stopped by them ends with 0."""


def internal_error_text(exc: BaseException) -> str:
    """``internal error: <type>: <message>`` for an unexpected exception (printing its traceback
    to stderr first when ``STETHO_RT_DEBUG`` is set)."""
    if os.environ.get("STETHO_RT_DEBUG"):
        traceback.print_exception(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


class StethoError(Exception):
    """Base class of every error stetho-rt reports to a user."""


class ConfigError(StethoError, ValueError):
    """A parameter is out of range or inconsistent (the message echoes the bad value)."""


class InputError(StethoError):
    """An input file or signal cannot be used (missing, empty, truncated, not audio, NaN...)."""


class DeviceError(StethoError):
    """An audio device is missing, cannot open at the asked rate, or stopped delivering."""


class ModelError(StethoError):
    """A model (the classifier and its sidecar, or the detector's emission model) is missing,
    malformed or does not match what the pipeline feeds."""


class PipelineError(StethoError):
    """A pipeline thread failed; carries the thread's name and the original error text."""


_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09}
_CONTROL_ESCAPES.update({0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) and the Unicode line and paragraph
    separators shown escaped (``\\n``, ``\\x1b``, ``\\u2028``...): one line on a terminal."""
    return text.translate(_CONTROL_ESCAPES)


def say(message: str) -> None:
    """Print ``stetho-rt: <message>`` on stderr as one line: control characters (a newline in a
    file name the message quotes) are shown escaped, ``\\n``, ``\\x1b``..."""
    print(f"stetho-rt: {one_line(message)}", file=sys.stderr, flush=True)


def report_run_failure(error: BaseException | None) -> bool:
    """After a live run stopped, the pipeline's own ``error`` the CLI way: bad input found
    mid-stream (a :class:`StethoError`) is re-raised (one line, exit 2); anything else is printed
    as one ``stetho-rt: internal error: ...`` line on stderr and True is returned (the caller
    exits 1); False when None."""
    if isinstance(error, StethoError):
        raise error
    if error is None:
        return False
    say(internal_error_text(error))
    return True
