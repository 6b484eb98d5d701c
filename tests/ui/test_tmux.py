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
        # the demo is marked as such: synthetic sounds must never pass for a patient's
        screen = tm.wait_for(r"▶ LIVE │ DEMO( signal)? │ (\d+|--) bpm .*│ drop(ped)? \d+",
                             timeout=90)
        assert "Heart rate · bpm" in screen
        tm.send_keys("Space")
        tm.wait_for(r"⏸ PAUSED", timeout=10)
        tm.send_keys("q")
        tm.wait_for(r"\[exit 0\]", timeout=20)


@pytest.mark.data
@pytest.mark.skipif(not CONSOLE.exists(), reason=f"console script not installed ({CONSOLE})")
def test_replay_of_a_real_recording_shows_heart_rate_and_s1_s2_marks() -> None:
    """The issue's acceptance test: ``stetho-rt replay`` of a real PhysioNet recording in a
    120x40 terminal shows a numeric heart rate in the status bar and S1/S2 marks under the
    waveform."""
    from tests.conftest import require_data

    path = require_data() / "physionet2016" / "a0405.flac"  # 12.5 s, normal, about 72 bpm
    with Tmux([str(CONSOLE), "replay", str(path)], width=120, height=40, cwd=REPO) as tm:
        screen = tm.wait_for(r"▶ LIVE │ \d+ bpm", timeout=90)
        status = next(line for line in screen.splitlines() if "▶ LIVE │" in line)
        bpm = int(status.split("▶ LIVE │")[1].split("bpm")[0])
        assert 55 <= bpm <= 90, status  # annotated about 72; the first estimate may be rough
        # the time-axis row under the waveform carries the S1/S2 labels ("-3s   S1    S2 ...");
        # the legend row ("■ S1  ■ S2") does not count
        marks = tm.wait_for(r"(?m)^│.*-\ds.*S1.*S2|^│.*S1.*S2.*-\ds", timeout=30)
        mark_rows = [line for line in marks.splitlines() if "S1" in line and "S2" in line
                     and "■" not in line]
        assert mark_rows, marks
        tm.send_keys("q")
        tm.wait_for(r"\[exit 0\]", timeout=20)
