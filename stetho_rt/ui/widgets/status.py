"""One-line status bar: state, heart rate as text, source and position, rate, drops, latency, load.

The heart rate appears here as plain text ("72 bpm") so logs, screen readers and tests can read
it; :attr:`StatusBar.plain` is the current line without styles.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from stetho_rt.io.demo import DEMO_PREFIX
from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.palette import BAD_COLOR, GOOD_COLOR, WARN_COLOR
from stetho_rt.ui.render import text_strip

SEP = " │ "


@dataclass(frozen=True, slots=True, eq=False)
class StatusState:
    """What the status bar shows besides the snapshot."""

    snap: Snapshot | None = None
    """The snapshot on screen (frozen while paused)."""
    paused: bool = False
    """View frozen by the user."""
    recording: str | None = None
    """Path being recorded to, None when not recording."""
    recording_error: str | None = None
    """Why that recording stopped writing, None while it writes (live, not frozen with ``snap``)."""
    lifecycle: str = "starting"
    """"starting", "running", "ended", "failed: ...", or the source's status ("device lost")."""
    age_s: float = 0.0
    """How old the snapshot was when the UI took it [s] (0 when unknown)."""


def lifecycle_of(snap: Snapshot) -> str:
    """The stream's state as one word or phrase: running, ended, failed: ..., device lost, ..."""
    if snap.error:
        return f"failed: {snap.error}"
    if snap.finished:
        return "ended"
    return snap.source_status or "running"


def hr_status(snap: Snapshot) -> str:
    """Heart rate as text: "72 bpm", "-- bpm" (no estimate) or "hr waiting for detector"."""
    if not snap.detector_ready:
        return "hr waiting for detector"
    if snap.heart_rate_bpm is None:
        return "-- bpm"
    return f"{snap.heart_rate_bpm:.0f} bpm"


def position(snap: Snapshot) -> str:
    """Stream position, with the total when the source has a known duration."""
    if snap.duration_s:
        if snap.stream_time_s > snap.duration_s:  # --loop: position in the file, and the pass
            passes = int(snap.stream_time_s // snap.duration_s) + 1
            pos = snap.stream_time_s % snap.duration_s
            return f"{pos:.1f}/{snap.duration_s:.1f} s (pass {passes})"
        return f"{snap.stream_time_s:.1f}/{snap.duration_s:.1f} s"
    return f"{snap.stream_time_s:.1f} s"


def _state_item(state: StatusState) -> tuple[str, str]:
    """The stream's state; a paused view says so together with the state behind it (ended,
    device lost...), so a frozen view never reads as the end of the file."""
    life = state.lifecycle
    if life.startswith("failed"):
        return "✖ FAILED", f"bold #ffffff on {BAD_COLOR}"
    paused = "⏸ PAUSED · " if state.paused else ""
    if life == "ended":
        return f"{paused}■ ENDED", f"bold #000000 on {WARN_COLOR}" if paused else "bold"
    if life == "starting":
        return f"{paused}… starting", "italic"
    if life != "running":
        return f"{paused}⚠ {life}", f"bold #000000 on {WARN_COLOR}"
    if state.paused:
        return "⏸ PAUSED", f"bold #000000 on {WARN_COLOR}"
    return "▶ LIVE", f"bold {GOOD_COLOR}"


def _rare_counts(snap: Snapshot) -> tuple[tuple[int, str, str, str], ...]:
    """(count, label, short label, colour) of what the bar shows only once it happened: times
    the input device was lost, device input PortAudio padded with zeros, NaN/inf input replaced
    by zeros, full-scale input samples (the level meter flags only the recent ones), and sounds
    the detector dropped as settled past its look-ahead bound."""
    return (
        (snap.source_lost_count, "device losses", "lost", BAD_COLOR),
        (snap.input_underflows, "underflows", "udf", BAD_COLOR),
        (snap.nonfinite_samples, "non-finite", "nan", BAD_COLOR),
        (snap.level.clipped_samples, "clipped", "clip", WARN_COLOR),
        (snap.late_sounds, "late sounds", "late", WARN_COLOR),
        (snap.recording_dropped, "rec dropped", "rdrop", BAD_COLOR),
    )


def status_items(state: StatusState, short: bool) -> list[tuple[str, str]]:
    """(text, style) items in priority order; ``short`` uses abbreviated labels."""
    items = [_state_item(state)]
    if state.snap is not None and state.snap.source.startswith(DEMO_PREFIX):
        items.append(("DEMO" if short else "DEMO signal", f"bold #000000 on {WARN_COLOR}"))
    if state.recording:
        items.append(("✖ REC FAILED" if state.recording_error else "● REC", f"bold {BAD_COLOR}"))
    snap = state.snap
    if snap is None:
        return items
    items.append((hr_status(snap), "bold"))
    items.append((f"{'t' if short else 'pos'} {position(snap)}", ""))
    drops = f"{'drop' if short else 'dropped'} {snap.dropped_samples}"
    ovf = f"{'ovf' if short else 'overflows'} {snap.input_overflows}"
    items.append((drops, f"bold {BAD_COLOR}" if snap.dropped_samples else ""))
    items.append((ovf, f"bold {BAD_COLOR}" if snap.input_overflows else ""))
    for count, long_label, short_label, color in _rare_counts(snap):  # shown once non-zero
        if count:
            items.append((f"{short_label if short else long_label} {count}", f"bold {color}"))
    if snap.hum_lines_hz:  # mains lines being notched out: say so, and which
        lines = "/".join(map(str, snap.hum_lines_hz))
        items.append((f"hum {len(snap.hum_lines_hz)}" if short else f"hum removed {lines} Hz",
                      f"bold {WARN_COLOR}"))
    # a snapshot ages on screen while the stream runs; an ended stream's last one does not
    ended = state.lifecycle == "ended" or state.lifecycle.startswith("failed")
    age_s = 0.0 if ended else state.age_s
    latency_ms = (snap.latency_s + age_s) * 1000
    items.append((f"{'lat' if short else 'latency'} {latency_ms:.0f} ms", ""))
    load_style = f"bold {BAD_COLOR}" if snap.dsp_load > 0.8 else ""
    items.append((f"{'DSP' if short else 'DSP load'} {snap.dsp_load * 100:.0f}%", load_style))
    items.append((f"{snap.source_rate} Hz", ""))
    if snap.source:
        items.append((snap.source, "dim"))
    return items


def status_text(state: StatusState, width: int) -> Text:
    """The status line fitted to ``width`` cells: long labels, else short, then fewer items."""
    items = status_items(state, short=False)
    # the source (last) may be truncated; switch to short labels only if the rest does not fit
    fixed = items[:-1] if state.snap is not None and state.snap.source else items
    if sum(len(t) for t, _ in fixed) + len(SEP) * len(fixed) > width:
        items = status_items(state, short=True)
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (item, style) in enumerate(items):
        room = width - text.cell_len - (len(SEP) if i else 0)
        if room < min(len(item), 8):
            break
        if i:
            text.append(SEP, style="dim")
        text.append(item[:room] if len(item) <= room else item[: room - 1] + "…", style=style)
    return text


class StatusBar(Widget):
    """The bottom status line; :attr:`plain` gives it as text."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 1fr;
    }
    """

    state: reactive[StatusState] = reactive(StatusState)
    """Everything the line shows."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._line: tuple[StatusState, int, Strip] | None = None

    def notify_style_update(self) -> None:
        """Styles changed (theme, CSS): rebuild the cached line(s)."""
        super().notify_style_update()
        self._line = None

    def render_line(self, y: int) -> Strip:
        """The status line (built once per state and width)."""
        width = self.size.width
        base = self.rich_style
        if y != 0:
            return Strip.blank(width, base)
        cached = self._line
        if cached is None or cached[0] is not self.state or cached[1] != width:
            strip = text_strip(status_text(self.state, width), width, base, self.app.console)
            self._line = cached = (self.state, width, strip)
        return cached[2]

    @property
    def plain(self) -> str:
        """The status line as plain text (what screen readers and tests read)."""
        return status_text(self.state, max(self.size.width, 1)).plain
