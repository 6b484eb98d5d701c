"""Dashboard behaviour with the Pilot: keys, lifecycle states, sizes, entry points."""

from __future__ import annotations

import dataclasses
import gc
import re
import tracemalloc
from functools import partialmethod

import pytest
from textual.app import App

from stetho_rt.ui import app as app_module
from stetho_rt.ui.app import StethoApp, make_app, run_app
from stetho_rt.ui.help import HelpScreen
from stetho_rt.ui.messages import LifecycleNews
from stetho_rt.ui.synthetic import SyntheticPipeline
from stetho_rt.ui.widgets.classifier import ClassifierPanel
from stetho_rt.ui.widgets.heart_rate import HeartRatePanel
from tests.ui.fakes import BarePipeline, FailingStartPipeline, FakePipeline

pytestmark = pytest.mark.ui

SIZE = (120, 40)


def status(app: StethoApp) -> str:
    """The status bar as plain text."""
    return app._status.plain


def notes_of(app: StethoApp) -> list[str]:
    """Record the app's notifications (messages) in a list."""
    notes: list[str] = []
    app.notify = lambda message, **_: notes.append(message)  # type: ignore[method-assign]
    return notes


async def test_starts_polls_and_stops(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert fake.started
        assert app.displayed_time_s == pytest.approx(12.0)
        assert re.search(r"▶ LIVE │ \d+ bpm │ pos 12\.0 s", status(app)), status(app)
        for word in ("dropped 0", "overflows 0", "latency 46 ms", "DSP load 3%", "4000 Hz"):
            assert word in status(app)
    assert fake.stopped


async def test_pause_freezes_the_view_not_the_stream(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        fake.advance(1.5)
        app.poll()
        assert app.displayed_time_s == pytest.approx(12.0)
        assert "PAUSED" in status(app) and "pos 12.0 s" in status(app)
        await pilot.press("space")
        app.poll()
        assert app.displayed_time_s == pytest.approx(13.5, abs=0.01)
        assert "▶ LIVE" in status(app) and "pos 13.5 s" in status(app)


async def test_filter_and_gain_keys(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        assert app.view.mode == "filtered"
        await pilot.press("f")
        assert app.view.mode == "raw"
        assert "raw" in str(app._wave.border_title)
        await pilot.press("f")
        assert app.view.mode == "filtered"
        gain = app.view.gain
        await pilot.press("+")
        assert app.view.gain == 2 * gain
        await pilot.press("-", "-")
        assert app.view.gain == gain / 2
        assert f"×{gain / 2:g}" in str(app._wave.border_title)


async def test_gain_applies_while_paused(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = [app._wave.render_line(y).text for y in range(app._wave.size.height)]
        await pilot.press("space", "+", "+")
        app.poll()
        after = [app._wave.render_line(y).text for y in range(app._wave.size.height)]
        assert before != after
        assert app.displayed_time_s == pytest.approx(12.0)


async def test_record_and_mark_call_the_pipeline(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        notes = notes_of(app)
        await pilot.press("r")
        app.poll()
        assert fake.toggles == 1 and app.recording == "/tmp/stetho-rec-1.flac"
        assert "● REC" in status(app)
        await pilot.press("m", "m")
        assert [label for label, _ in fake.marks] == ["mark 1", "mark 2"]
        await pilot.press("r")
        app.poll()
        assert fake.toggles == 2 and app.recording is None
        assert "REC" not in status(app)
        assert any("Recording to stetho-rec-1.flac" in n for n in notes)
        assert any("mark 2 at 12.00 s" in n for n in notes)


async def test_new_session_key_calls_the_pipeline(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        notes = notes_of(app)
        await pilot.press("n")
        assert [label for label, _ in fake.marks] == ["new session"]
        assert any("New session at 12.00 s" in n for n in notes)
    bare = make_app(BarePipeline())
    async with bare.run_test(size=SIZE) as pilot:
        notes = notes_of(bare)
        await pilot.press("n")
        assert notes == ["A new session is not available for this source."]


async def test_new_session_refused_without_classifier_or_after_the_end() -> None:
    class NoClassifier(FakePipeline):
        @property
        def snapshot(self):  # type: ignore[no-untyped-def]
            return dataclasses.replace(super().snapshot, classifier_ready=False)

    class Ended(FakePipeline):
        def new_session(self) -> None:  # type: ignore[override]
            return None

    for pipe, note in ((NoClassifier(), "No classifier is running"),
                       (Ended(), "The stream has ended")):
        app = make_app(pipe)
        async with app.run_test(size=SIZE) as pilot:
            notes = notes_of(app)
            await pilot.press("n")
            assert len(notes) == 1 and notes[0].startswith(note)


async def test_record_and_mark_unavailable_notify() -> None:
    app = make_app(BarePipeline())
    async with app.run_test(size=SIZE) as pilot:
        notes = notes_of(app)
        await pilot.press("r", "m")
        assert app.recording is None
        assert notes == [
            "Recording is not available for this source.",
            "Marking is not available for this source.",
        ]


async def test_help_opens_and_closes(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("?")
        assert isinstance(app.screen, HelpScreen)
        fake.advance(0.5)
        app.poll()  # polling with the help on top must not fail
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_quits(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert fake.stopped


async def test_click_pauses(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#waveform")
        assert app.paused


async def test_waiting_and_no_estimate_states() -> None:
    pipe = FakePipeline(detector_ready=False, classifier_ready=False)
    app = make_app(pipe)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        hr = app.query_one("#hr", HeartRatePanel)
        assert hr.query_one("#hr-waiting").display
        assert not hr.query_one("#hr-digits").display
        assert "hr waiting for detector" in status(app)
        classifier = app.query_one("#classifier", ClassifierPanel)
        # a running stream without a classifier (--no-classifier) said "waiting" for ever
        assert classifier.render().plain == "classifier off (--no-classifier)"
        classifier.snapshot = None  # before the first snapshot
        assert classifier.render().plain == "waiting for classifier"

    # ready, but too early for an estimate (t = 0.5 s: no beat, no window yet)
    pipe = FakePipeline(t0=0.5)
    app = make_app(pipe)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "-- bpm" in status(app)
        assert app.query_one("#hr-digits").value == "--"
        text = app.query_one("#classifier", ClassifierPanel).render().plain
        assert text.startswith("verdict  --") and "quality  --" in text


@pytest.mark.parametrize(
    ("action", "expected"),
    [("finish", "■ ENDED"), ("fail", "✖ FAILED"), ("set_status", "⚠ device lost")],
)
async def test_lifecycle_news(fake: FakePipeline, action: str, expected: str) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = notes_of(app)
        if action == "set_status":
            fake.set_status("device lost")
        else:
            getattr(fake, action)()
        app.poll()
        app.poll()
        assert status(app).startswith(expected), status(app)
        assert len(notes) == 1  # announced once, not every poll


@pytest.mark.parametrize(
    ("size", "hidden"),
    [
        ((80, 24), {"envelope"}),
        ((60, 20), {"envelope", "spectrogram"}),
        ((40, 12), {"envelope", "spectrogram", "side"}),
    ],
)
async def test_small_terminals_degrade(
    fake: FakePipeline, size: tuple[int, int], hidden: set[str]
) -> None:
    app = make_app(fake)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for name in ("envelope", "spectrogram", "side"):
            assert app.query_one(f"#{name}").display == (name not in hidden), name
        assert re.search(r"\d+ bpm", status(app))
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.query_one("#envelope").display
        assert app._plots[1].render_line(0).text.strip()  # redrawn from the held snapshot


async def test_duration_quits_on_stream_time(fake: FakePipeline) -> None:
    app = StethoApp(fake, duration=12.5)
    async with app.run_test(size=SIZE) as pilot:
        fake.advance(0.6)
        app.poll()
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


@pytest.fixture
def headless_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``run_app``'s ``App.run`` headless so it runs under pytest."""
    monkeypatch.setattr(StethoApp, "run", partialmethod(App.run, headless=True))


@pytest.mark.usefixtures("headless_run")
def test_run_app_exit_codes() -> None:
    ok = FakePipeline(t0=2.0)
    ok.finish()
    assert run_app(ok, duration=60.0) == 0
    assert ok.started and ok.stopped
    bad = FakePipeline(t0=2.0)
    bad.fail("ValueError: bad block")
    assert run_app(bad, duration=60.0) == 1
    assert bad.stopped


@pytest.mark.usefixtures("headless_run")
def test_run_app_reraises_start_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "START_WAIT_S", 1.0)
    pipe = FailingStartPipeline()
    with pytest.raises(OSError, match="no such device"):
        run_app(pipe)  # the dashboard closes by itself
    assert pipe.stopped


async def test_memory_stays_flat_over_a_long_replay() -> None:
    """Stream time moving at 10x speed: the UI keeps nothing that grows with it."""
    pipe = SyntheticPipeline(t0=5.0)
    app = make_app(pipe)
    async with app.run_test(size=SIZE) as pilot:
        growth = []
        for i in range(160):
            pipe.advance(0.4)  # 10x real time at 25 polls/s
            app.poll()
            if i % 8 == 0:
                await pilot.pause()  # let Textual composite a frame now and then
            if i == 40:
                gc.collect()
                tracemalloc.start()
            elif i > 40 and i % 30 == 0:
                gc.collect()
                growth.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
    # a few snapshots (~0.35 MB each) alive at a time make it wobble; keeping one per frame
    # (or any per-frame leak above ~8 kB) would add well over 1 MiB over these 120 polls
    assert max(growth) - min(growth) < 1024 * 1024, growth
    assert pipe.t > 60.0


async def test_posted_news_polls_at_once(fake: FakePipeline) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        fake.set_status("device lost")
        app.post_message(LifecycleNews("device lost"))  # what a pipeline thread would do
        await pilot.pause()
        assert app.lifecycle == "device lost"


async def test_a_device_flapping_between_lost_and_reopening_is_one_toast(
        fake: FakePipeline) -> None:
    """Each lost/reopening flip posted a 10 s toast: eight piled up over the panels."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = notes_of(app)
        for status_now in ("lost", "reopening", "lost", "reopening", "lost"):
            fake.set_status(status_now)
            app.poll()
        assert len(notes) == 1 and status(app).startswith("⚠ lost")
        fake.set_status("running")
        app.poll()
        assert len(notes) == 2 and "back" in notes[-1]


async def test_paused_stays_visible_when_the_stream_ends(fake: FakePipeline) -> None:
    """ENDED replaced PAUSED: a view frozen at 7.6 s read as a file that ended there."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        fake.finish()
        app.poll()
        assert status(app).startswith("⏸ PAUSED · ■ ENDED"), status(app)
        await pilot.press("space")
        app.poll()
        assert status(app).startswith("■ ENDED"), status(app)


async def test_a_mark_while_not_recording_says_it_is_not_saved(fake: FakePipeline) -> None:
    """`m` said "mark 1 at 8.17 s" while nothing kept it."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes: list[tuple[str, str]] = []
        app.notify = (  # type: ignore[method-assign]
            lambda message, severity="information", **_: notes.append((message, severity)))
        await pilot.press("m")
        assert "not saved" in notes[-1][0] and notes[-1][1] == "warning"
        await pilot.press("r", "m")
        assert notes[-1][0].endswith(" s") and notes[-1][1] == "information"


async def test_the_footer_keys_work_over_the_help_screen(fake: FakePipeline) -> None:
    """Over the help screen the footer still showed `space Pause ... q Quit`, and both did
    nothing (only Escape or ? closed it)."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("space")  # closes the help (it does not pause behind it)
        assert not isinstance(app.screen, HelpScreen) and not app.paused
        await pilot.press("question_mark", "q")
        await pilot.pause()
    assert app.return_code == 0


def test_the_classifier_panel_turns_off_once_the_stream_runs() -> None:
    """The panel kept its first snapshot (t = 0, "waiting") for ever without a classifier: its
    cache key did not change when the stream started."""
    from stetho_rt.snapshot import Snapshot

    panel = ClassifierPanel()
    panel.update_from(Snapshot(stream_time_s=0.0))
    assert panel.render().plain == "waiting for classifier"
    panel.update_from(Snapshot(stream_time_s=1.0))
    assert panel.render().plain == "classifier off (--no-classifier)"
