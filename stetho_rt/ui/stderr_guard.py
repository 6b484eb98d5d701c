"""Keep C libraries from scribbling over the dashboard.

PortAudio and ALSA print diagnostics straight to file descriptor 2 from their own threads (for
example "Expression ... failed" when a sound server dies). Textual draws the screen on stderr too,
so those lines would garble it. While the dashboard runs, fd 2 is pointed at a log file and Textual
is given its own duplicate of the terminal. Python-level warnings go to the log as well.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


def log_path() -> Path:
    """Where diverted stderr goes: ``$STETHO_RT_LOG`` or ``~/.cache/stetho-rt/stderr.log``."""
    env = os.environ.get("STETHO_RT_LOG")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "stetho-rt" / "stderr.log"


@contextlib.contextmanager
def divert_stderr(only_tty: bool = True) -> Iterator[Path | None]:
    """Point fd 2 at the log while the block runs; Python's ``sys.stderr`` (and Textual) keep
    writing to the original stderr.

    Does nothing (yields None) when the log cannot be opened, or when ``only_tty`` and stderr is
    not a terminal (the dashboard's case; the headless monitor diverts a pipe's too, so a
    caller reading its stderr gets our one-line messages, not PortAudio's).
    """
    try:
        if only_tty and not os.isatty(2):
            yield None
            return
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        yield None
        return
    tty_fd = os.dup(2)
    tty = os.fdopen(tty_fd, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                    errors="replace")
    saved = (sys.stderr, sys.__stderr__)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stderr = sys.__stderr__ = tty  # Textual's driver writes to sys.__stderr__
    try:
        yield path
    finally:
        tty.flush()
        os.dup2(tty_fd, 2)
        sys.stderr, sys.__stderr__ = saved
        tty.close()
