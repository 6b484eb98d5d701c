"""The Textual dashboard: polls the pipeline's latest Snapshot and draws it (ARCHITECTURE.md §1).

The UI pulls, real-time code never pushes: a ``set_interval`` timer reads ``pipe.snapshot`` (one
reference load, never blocking) :data:`~stetho_rt.config.UI_FPS` times a second (or
``STETHO_RT_UI_FPS``: :func:`ui_fps`), and each panel renders it with numpy into cached lines.
Lifecycle news (source ended, device lost, pipeline failed) is read from the same snapshot and
announced once per change. The pipeline is started on a worker thread on mount (its kernel
warm-up may take a moment) and stopped on unmount.

Entry points: :func:`make_app` (any pipeline-like object, so tests inject a fake) and
:func:`run_app` (what the CLI calls).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from stetho_rt.config import UI_FPS
from stetho_rt.errors import EXIT_INTERNAL, EXIT_OK, report_run_failure
from stetho_rt.io.demo import DEMO_PREFIX
from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.help import HelpScreen
from stetho_rt.ui.messages import LifecycleNews
from stetho_rt.ui.view import ViewState, next_gain
from stetho_rt.ui.widgets.classifier import ClassifierPanel
from stetho_rt.ui.widgets.envelope import EnvelopeView
from stetho_rt.ui.widgets.heart_rate import HeartRatePanel
from stetho_rt.ui.widgets.level import LevelMeter
from stetho_rt.ui.widgets.spectrogram import SpectrogramView
from stetho_rt.ui.widgets.status import StatusBar, StatusState, lifecycle_of
from stetho_rt.ui.widgets.waveform import WaveformView

#: Seconds on_unmount waits for a pipeline start still in progress before stopping it.
START_WAIT_S = 30.0


class PipelineLike(Protocol):
    """What the dashboard needs of a pipeline (optional: ``toggle_recording``, ``mark``)."""

    error: BaseException | None
    finished: threading.Event

    @property
    def snapshot(self) -> Snapshot: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def raise_end_problems(self) -> None: ...


class StethoApp(App[int]):
    """The live dashboard over one pipeline."""

    CSS_PATH = "stetho.tcss"
    TITLE = "stetho-rt"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-tiny-w"),
        (50, "-narrow"),
        (90, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-tiny-h"),
        (22, "-short"),
        (30, "-tall"),
    ]
    # footer order: what must stay visible in a narrow terminal first (quit, help, pause)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("space", "toggle_pause", "Pause"),
        Binding("r", "toggle_recording", "Rec"),
        Binding("m", "mark", "Mark"),
        Binding("n", "new_session", "New", key_display="n"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("plus,equals_sign", "gain(1)", "Gain+", key_display="+"),
        Binding("minus,underscore", "gain(-1)", "Gain-", key_display="-"),
    ]

    paused: reactive[bool] = reactive(False)
    """The view is frozen (the stream keeps running and recording)."""
    view: reactive[ViewState] = reactive(ViewState)
    """Gain, trace and time window the panels render with."""
    recording: reactive[str | None] = reactive(None)
    """Path being recorded to, None when not recording."""
    recording_error: str | None = None
    """Why the pipeline's recording stopped writing (from the live snapshot, not the frozen one)."""
    lifecycle: reactive[str] = reactive("starting")
    """Stream state: starting, running, ended, failed: ..., or the source's own status."""

    def __init__(
        self, pipe: PipelineLike, *, duration: float | None = None, fps: float = UI_FPS
    ) -> None:
        super().__init__()
        self.pipe = pipe
        self.duration = duration
        self.fps = fps
        self.start_error: BaseException | None = None
        """Exception raised by ``pipe.start()``, re-raised by :func:`run_app`."""
        self.shown: Snapshot | None = None
        """The snapshot on screen (frozen while paused)."""
        self._stale = False
        self._marks = 0
        self._start_done = threading.Event()
        self._stopped = False
        self._exiting = False
        self._age_s = 0.0
        self._demo_told = False

    # ------------------------------------------------------------------ layout and lifecycle
    def compose(self) -> ComposeResult:
        """Signal panels on the left, numbers on the right, status bar and key footer below."""
        with Horizontal(id="main"):
            with Vertical(id="plots"):
                yield WaveformView(id="waveform")
                yield EnvelopeView(id="envelope")
                yield SpectrogramView(id="spectrogram")
            with Vertical(id="side"):
                yield HeartRatePanel(id="hr")
                yield ClassifierPanel(id="classifier")
                yield LevelMeter(id="level")
        yield StatusBar(id="status")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        """Start the pipeline (worker thread) and the poll timer."""
        # the dashboard widgets, held so polls never query (another screen may be on top)
        self._wave = self.query_one("#waveform", WaveformView)
        self._plots = (
            self._wave,
            self.query_one("#envelope", EnvelopeView),
            self.query_one("#spectrogram", SpectrogramView),
        )
        self._hr = self.query_one("#hr", HeartRatePanel)
        self._classifier = self.query_one("#classifier", ClassifierPanel)
        self._level = self.query_one("#level", LevelMeter)
        self._status = self.query_one("#status", StatusBar)
        self._plots[1].border_title = "Envelope"
        self._plots[2].border_title = "Spectrogram 0-500 Hz"
        self._update_titles()
        self.run_worker(self._start_pipeline, thread=True, exit_on_error=False, name="start")
        self.set_interval(1.0 / self.fps, self.poll)
        self.poll()

    def _start_pipeline(self) -> None:
        try:
            self.pipe.start()
        finally:
            self._start_done.set()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Pipeline started, or failed to start."""
        if event.worker.name != "start":
            return
        if event.state == WorkerState.SUCCESS and self.lifecycle == "starting":
            self.lifecycle = "running"
        elif event.state == WorkerState.ERROR:
            # nothing to show without a stream: leave, and let run_app re-raise it for the CLI
            err = event.worker.error
            self.start_error = err
            self.lifecycle = f"failed: {type(err).__name__}: {err}"
            self.exit(1)

    def on_unmount(self) -> None:
        """Stop the pipeline (after a start still in progress has finished)."""
        self.stop_pipeline()

    def stop_pipeline(self) -> None:
        """Stop the pipeline once; safe to call again."""
        if self._stopped:
            return
        self._stopped = True
        self._start_done.wait(START_WAIT_S)
        self.pipe.stop()

    # ------------------------------------------------------------------ polling
    def poll(self) -> None:
        """Read the latest snapshot; announce lifecycle changes; redraw unless paused."""
        if not hasattr(self, "_status"):
            return  # not mounted yet
        live = self.pipe.snapshot
        self._check_lifecycle(live)
        if self.duration is not None and not self._exiting and (
            live.stream_time_s >= self.duration or live.finished or live.error
        ):
            self._exiting = True
            self.exit(1 if self.pipe.error is not None else 0)
        if not self._demo_told and live.source.startswith(DEMO_PREFIX):
            self._demo_told = True
            self.notify("Synthetic heart sounds, not a patient: no input device is in use.",
                        title="DEMO signal", severity="warning", timeout=15)
        if not self.paused and live is not self.shown:
            self.shown = live
            self._age_s = snapshot_age_s(live)
            self._stale = True
        self._sync_recording(live)
        if self._stale and self.shown is not None:
            self._stale = False
            self._draw(self.shown)
        self._update_status()

    def _check_lifecycle(self, snap: Snapshot) -> None:
        if self.lifecycle == "starting" and snap.stream_time_s <= 0 and not snap.error:
            return  # before the first samples, "starting" until pipe.start() has returned
        if self.lifecycle.startswith("failed") and self.start_error is not None:
            return
        life = lifecycle_of(snap)
        finished = getattr(self.pipe, "finished", None)
        if life == "running" and finished is not None and finished.is_set():
            life = "ended"
        self._announce(life)

    def on_lifecycle_news(self, message: LifecycleNews) -> None:
        """News posted by another thread: poll now instead of at the next tick.

        The snapshot stays the single source of truth, so the poster publishes the snapshot
        carrying the news first, then posts.
        """
        self.poll()

    def _announce(self, life: str) -> None:
        """Take a new lifecycle state; notify once per change."""
        if life == self.lifecycle:
            return
        before, self.lifecycle = self.lifecycle, life
        if life.startswith("failed"):
            self.notify(life[len("failed: ") :], title="Pipeline failed", severity="error",
                        timeout=30)
        elif life == "ended":
            self.notify("The source ended; press q to quit.", title="Source ended")
        elif life != "running" and before in ("starting", "running"):  # one toast per loss:
            self.notify(life, title="Source", severity="warning", timeout=10)  # lost and
        elif life == "running" and before not in ("starting", "running"):  # reopening alternate
            self.notify("The source is back.", title="Source")

    def _draw(self, snap: Snapshot) -> None:
        view = self.view
        for plot in self._plots:
            plot.show(snap, view)  # hidden panels keep the snapshot for when they reappear
        self._hr.update_from(snap)
        self._classifier.update_from(snap)
        self._level.level = snap.level

    def _update_status(self) -> None:
        self._status.state = StatusState(
            self.shown, self.paused, self.recording, self.recording_error, self.lifecycle,
            self._age_s,
        )

    def _sync_recording(self, snap: Snapshot) -> None:
        """Follow the pipeline's own record of recording (e.g. ``--record``) when it has one."""
        if hasattr(snap, "recording_path"):
            path = snap.recording_path
            self.recording = None if path is None else str(path)
        self.recording_error = getattr(snap, "recording_error", None)

    def _update_titles(self) -> None:
        view = self.view
        wave = self._wave
        wave.border_title = f"Waveform · {view.mode_label} · ×{view.gain:g}"
        wave.border_subtitle = "[#e0622a]■ S1[/]  [#3d8fd6]■ S2[/]"

    # ------------------------------------------------------------------ view state
    def watch_view(self) -> None:
        """Redraw the frozen or live snapshot with the new settings."""
        self._stale = True
        if hasattr(self, "_wave"):
            self._update_titles()

    def watch_paused(self) -> None:
        """Resume shows the live snapshot at once."""
        self._stale = True

    @property
    def displayed_time_s(self) -> float | None:
        """Stream time of the snapshot on screen [s] (frozen while paused)."""
        return None if self.shown is None else self.shown.stream_time_s

    # ------------------------------------------------------------------ actions
    def action_toggle_pause(self) -> None:
        """Freeze or unfreeze the view."""
        self.paused = not self.paused

    def action_gain(self, step: int) -> None:
        """One step more (+1) or less (-1) waveform gain."""
        self.view = replace(self.view, gain=next_gain(self.view.gain, step))

    def action_cycle_filter(self) -> None:
        """Switch the waveform between band-passed and raw."""
        mode = "raw" if self.view.mode == "filtered" else "filtered"
        self.view = replace(self.view, mode=mode)

    def action_toggle_recording(self) -> None:
        """Start or stop recording through ``pipe.toggle_recording()``."""
        toggle = getattr(self.pipe, "toggle_recording", None)
        if toggle is None:
            self.notify("Recording is not available for this source.", severity="warning")
            return
        try:
            path: Any = toggle()
        except Exception as exc:  # a refusal from the pipeline, shown, never fatal
            self.notify(str(exc), title="Recording", severity="error")
            return
        was = self.recording
        self.recording = str(path) if path is not None else None
        if self.recording:
            self.notify(f"Recording to {Path(self.recording).name}", title="Recording")
        else:
            self.notify(f"Saved {Path(was).name}" if was else "Recording stopped",
                        title="Recording")

    def action_mark(self) -> None:
        """Mark an event at the current stream time through ``pipe.mark(label)``."""
        mark = getattr(self.pipe, "mark", None)
        if mark is None:
            self.notify("Marking is not available for this source.", severity="warning")
            return
        self._marks += 1
        label = f"mark {self._marks}"
        try:
            mark(label)
        except Exception as exc:  # e.g. not recording: shown, never fatal
            self.notify(str(exc), title="Mark", severity="error")
            return
        t = self.pipe.snapshot.stream_time_s
        if self.recording:
            self.notify(f"{label} at {t:.2f} s", title="Mark")
        else:  # nothing would keep it: say so
            self.notify(f"{label} at {t:.2f} s is not saved: marks are written to a recording "
                        "(press r to record)", title="Mark", severity="warning")

    def action_new_session(self) -> None:
        """Restart the classifier's verdict through ``pipe.new_session()`` (a new site)."""
        new_session = getattr(self.pipe, "new_session", None)
        if new_session is None:
            self.notify("A new session is not available for this source.", severity="warning")
            return
        if not self.pipe.snapshot.classifier_ready:
            self.notify("No classifier is running: there is no verdict to restart.",
                        severity="warning")
            return
        t = new_session()
        if t is None:
            self.notify("The stream has ended: no new session.", severity="warning")
            return
        self.notify(f"New session at {t:.2f} s: the verdict starts afresh", title="Session")

    def action_help(self) -> None:
        """Open the help screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def on_waveform_view_gain_step(self, message: WaveformView.GainStep) -> None:
        """Mouse wheel over the waveform."""
        self.action_gain(message.step)

    def on_waveform_view_clicked(self) -> None:
        """Click on the waveform."""
        self.action_toggle_pause()


def snapshot_age_s(snap: Snapshot) -> float:
    """Seconds since ``snap`` was published, from its ``published_monotonic`` stamp (0 when the
    snapshot carries no stamp, e.g. one built by a test)."""
    stamp = snap.published_monotonic
    return max(time.monotonic() - stamp, 0.0) if stamp else 0.0


def ui_fps() -> float:
    """The poll rate [Hz]: ``STETHO_RT_UI_FPS`` when it is a number in (0, 240], else
    :data:`~stetho_rt.config.UI_FPS`."""
    try:
        fps = float(os.environ.get("STETHO_RT_UI_FPS", ""))
    except ValueError:
        return float(UI_FPS)
    return fps if 0.0 < fps <= 240.0 else float(UI_FPS)  # also rejects nan and inf


def make_app(pipe: PipelineLike, duration: float | None = None) -> StethoApp:
    """The dashboard over ``pipe`` (a :class:`~stetho_rt.pipeline.Pipeline` or a test fake),
    polling at :func:`ui_fps`."""
    return StethoApp(pipe, duration=duration, fps=ui_fps())


def run_app(pipe: PipelineLike, duration: float | None = None) -> int:
    """Run the dashboard until quit (or ``duration`` s of stream time); 0, or 1 if the pipeline
    failed internally (its one line printed by :func:`~stetho_rt.errors.report_run_failure`).

    An exception from ``pipe.start()`` closes the dashboard at once and is re-raised after the
    screen is restored, so the CLI reports it like any other (one line, exit code 2 for bad
    input); so are bad input found mid-stream and what the run did not deliver
    (``pipe.raise_end_problems()``).
    """
    from stetho_rt.ui.stderr_guard import divert_stderr

    app = make_app(pipe, duration)
    # SIGTERM quits like q: the terminal is restored (alternate screen, mouse, cursor)
    previous = signal.signal(signal.SIGTERM, lambda *_: app.exit())
    try:
        with divert_stderr():
            app.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.stop_pipeline()
    if app.start_error is not None:
        raise app.start_error
    if report_run_failure(pipe.error) or app.return_code:
        return EXIT_INTERNAL
    pipe.raise_end_problems()
    return EXIT_OK
