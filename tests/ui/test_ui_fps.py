"""``STETHO_RT_UI_FPS`` sets the dashboard's poll rate; unset or invalid keeps ``UI_FPS``."""

from __future__ import annotations

import pytest

from stetho_rt.config import UI_FPS
from stetho_rt.ui.app import make_app
from tests.ui.fakes import FakePipeline

pytestmark = pytest.mark.ui


async def test_env_var_sets_the_poll_interval(fake: FakePipeline,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STETHO_RT_UI_FPS", "30")
    app = make_app(fake)
    assert app.fps == 30.0
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        intervals = [t._interval for t in app._timers]
        assert intervals.count(pytest.approx(1 / 30)) == 1, intervals


@pytest.mark.parametrize("value", [None, "", "fast", "0", "-5", "nan", "inf", "1000"])
def test_unset_or_invalid_keeps_the_default(fake: FakePipeline, monkeypatch: pytest.MonkeyPatch,
                                            value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("STETHO_RT_UI_FPS", raising=False)
    else:
        monkeypatch.setenv("STETHO_RT_UI_FPS", value)
    assert make_app(fake).fps == float(UI_FPS)
