"""Drive a real terminal program in tmux: start, capture the screen, send keys, kill.

Each :class:`Tmux` runs its own tmux server on a private socket (``tmux -L``), so tests never
touch the user's sessions and :meth:`Tmux.kill` ends only what the test started. The command runs
under ``sh -c '...; echo "[exit $?]"; sleep ...'`` so the pane keeps the last screen and the exit
status after the program ends.

Example::

    with Tmux([".venv/bin/stetho-rt", "replay", "a.wav"], width=120, height=40) as tm:
        screen = tm.wait_for(r"\\d+ bpm")
        tm.send_keys("q")
        tm.wait_for(r"\\[exit 0\\]")
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

_ids = itertools.count()

#: Seconds the pane lingers after the program exits (so its last screen can be read).
LINGER_S = 120


def tmux_available() -> bool:
    """True when a ``tmux`` binary is on PATH."""
    return shutil.which("tmux") is not None


class Tmux:
    """One detached tmux session running ``command`` in a ``width`` x ``height`` terminal."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        width: int = 120,
        height: int = 40,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.command = list(command)
        self.width = width
        self.height = height
        self.env = dict(env or {})
        self.cwd = cwd
        self.socket = f"stetho-rt-test-{os.getpid()}-{next(_ids)}"
        """Name of the private tmux server socket."""
        self.target = "ui"
        self._started = False
        self._socket_path = ""

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=10,
        )

    def start(self) -> Tmux:
        """Start the session (detached) with the command in its only pane."""
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in self.env.items())
        cd = f"cd {shlex.quote(os.fspath(self.cwd))}; " if self.cwd is not None else ""
        script = f'{cd}{exports}{shlex.join(self.command)}; echo "[exit $?]"; sleep {LINGER_S}'
        self._tmux(
            "new-session", "-d", "-s", self.target,
            "-x", str(self.width), "-y", str(self.height),
            "sh", "-c", script,
        )  # fmt: skip
        self._started = True
        self._socket_path = self._tmux("display-message", "-p", "#{socket_path}").stdout.strip()
        return self

    def capture(self) -> str:
        """The visible screen as text, one line per row."""
        return self._tmux("capture-pane", "-p", "-t", self.target).stdout

    def send_keys(self, *keys: str) -> None:
        """Send keys by tmux name ("q", "Space", "Escape", "C-c", "+", ...)."""
        self._tmux("send-keys", "-t", self.target, *keys)

    def wait_for(self, pattern: str, timeout: float = 30.0, interval: float = 0.25) -> str:
        """Poll the screen until ``pattern`` (a regex) appears; return that screen.

        Raises
        ------
        TimeoutError
            With the last screen, when the pattern did not appear in ``timeout`` seconds.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if regex.search(screen):
                return screen
            time.sleep(interval)
        raise TimeoutError(f"{pattern!r} not on screen after {timeout} s; last screen:\n{screen}")

    def kill(self) -> None:
        """Kill this test's private tmux server (and so the program, if still running)."""
        if self._started:
            self._tmux("kill-server", check=False)
            self._started = False
            if self._socket_path:
                Path(self._socket_path).unlink(missing_ok=True)

    def __enter__(self) -> Tmux:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
