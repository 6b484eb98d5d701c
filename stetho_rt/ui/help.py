"""The help screen: what the panels show and what the keys do."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("space", "pause / resume the view (the stream keeps running and recording); over this "
              "help it closes the help"),
    ("r", "start / stop recording"),
    ("+ / -", "waveform gain (also the mouse wheel over the waveform)"),
    ("f", "waveform: band-passed (25-400 Hz) / raw"),
    ("m", "mark an event in the recording"),
    ("n", "new session: the verdict starts afresh (the chest piece moved to another site)"),
    ("?", "this help (escape, ? or space closes it; q quits)"),
    ("q", "quit"),
)

PANELS = (
    "Waveform: the last seconds, S1 and S2 coloured and labelled below the trace. "
    "Envelope: the detector's envelope. Spectrogram: 0-500 Hz, brighter is louder, "
    "50 dB range below the visible maximum. Heart rate: bpm, its trend, and beat-to-beat "
    "variability (SDNN, RMSSD of recent RR intervals). Classifier: the session's verdict "
    "with the murmur share that decided it against the model's threshold (for example "
    "34%≥22%: murmur; "
    "the bars are probabilities, so a murmur verdict can have the shorter murmur bar), class "
    "probabilities and the window's signal quality. Status bar: state, ● REC while recording "
    "(✖ REC FAILED when the file stopped taking writes), heart rate, position, dropped "
    "samples, input overflows (and, once any: device losses, underflows, non-finite input "
    "samples replaced by zeros, clipped samples, late sounds, recording drops), end-to-end "
    "latency, DSP load, input rate, source."
)


def keys_table() -> Table:
    """The key bindings as a two-column table."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and panels; escape, ?, space or a click closes it, q quits."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 80%;
        max-width: 90;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,space", "dismiss", "Close", show=True),
        Binding("q", "app.quit", "Quit"),  # the footer's keys work here too
    ]

    def compose(self) -> ComposeResult:
        """Keys table and panel notes."""
        with VerticalScroll() as box:
            box.border_title = "stetho-rt help"
            yield Static(keys_table(), id="help-keys")
            yield Static("\n" + PANELS, id="help-panels")

    def on_click(self) -> None:
        """A click anywhere closes the help."""
        self.dismiss()
