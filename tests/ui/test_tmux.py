"""The real console script in a real terminal (tmux): the dashboard starts, shows the heart rate,
pauses on space and quits on q with exit status 0."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ui.tmux import Tmux, tmux_available

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
]

CONSOLE = Path(sys.executable).parent / "stetho-rt"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not CONSOLE.exists(), reason=f"console script not installed ({CONSOLE})")
def test_demo_monitor_in_a_real_terminal() -> None:
    with Tmux([str(CONSOLE), "monitor", "--demo"], width=120, height=40, cwd=REPO) as tm:
        # the status bar (bottom rows) with the heart rate as text; the first run may compile
        screen = tm.wait_for(r"▶ LIVE │ (\d+|--) bpm", timeout=90)
        status = next(line for line in screen.splitlines() if "▶ LIVE │" in line)
        assert "dropped" in status or "drop" in status
        assert "Heart rate · bpm" in screen
        tm.send_keys("Space")
        tm.wait_for(r"⏸ PAUSED", timeout=10)
        tm.send_keys("q")
        tm.wait_for(r"\[exit 0\]", timeout=20)
