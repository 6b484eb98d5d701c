"""Input level meter (RMS bar with a peak tick) and the clipping warning."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from stetho_rt.snapshot import Level
from stetho_rt.ui.palette import BAD_COLOR, GOOD_COLOR, WARN_COLOR
from stetho_rt.ui.render import text_strip

#: Meter range [dBFS].
FLOOR_DBFS = -60.0
#: Zone edges [dBFS]: green below WARN, yellow up to HOT, red above.
WARN_DBFS = -12.0
HOT_DBFS = -3.0


def _zone(db: float) -> str:
    return GOOD_COLOR if db < WARN_DBFS else (WARN_COLOR if db < HOT_DBFS else BAD_COLOR)


def meter_text(level: Level, width: int) -> Text:
    """Two lines: a zoned bar of the RMS with a ``│`` at the peak, then numbers or CLIPPING."""
    width = max(width, 4)
    frac = (level.rms_dbfs - FLOOR_DBFS) / -FLOOR_DBFS
    filled = min(max(round(frac * width), 0), width)
    peak_col = round((level.peak_dbfs - FLOOR_DBFS) / -FLOOR_DBFS * width)
    peak_col = min(max(peak_col, 0), width - 1) if level.peak_dbfs > FLOOR_DBFS else -1
    zones = [_zone(FLOOR_DBFS + (col + 0.5) / width * -FLOOR_DBFS) for col in range(width)]
    cells = ["│" if c == peak_col else ("█" if c < filled else "·") for c in range(width)]
    styles = [
        f"bold {zones[c]}" if c == peak_col else (zones[c] if c < filled else "dim")
        for c in range(width)
    ]
    out = Text()
    start = 0
    for col in range(1, width + 1):  # one span per run of equal style
        if col == width or styles[col] != styles[start]:
            out.append("".join(cells[start:col]), style=styles[start])
            start = col
    out.append("\n")
    if level.clipping:
        out.append(" CLIPPING ", style=f"bold #ffffff on {BAD_COLOR}")
        out.append(f" {level.clipped_samples} samples", style=f"bold {BAD_COLOR}")
    else:
        line = f"rms {level.rms_dbfs:5.1f}  peak {level.peak_dbfs:5.1f} dBFS"
        if len(line) > width:  # the unit is never the part cut off (80x24)
            line = f"rms {level.rms_dbfs:.1f} pk {level.peak_dbfs:.1f} dBFS"
        out.append(line)
    return out


class LevelMeter(Widget):
    """RMS level bar from -60 to 0 dBFS with a peak tick; a red CLIPPING line when clipping."""

    DEFAULT_CSS = """
    LevelMeter {
        height: 2;
    }
    """

    level: reactive[Level] = reactive(Level)
    """The input level shown."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Input level"
        self._lines: tuple[Level, int, list[Strip]] | None = None

    def notify_style_update(self) -> None:
        """Styles changed (theme, CSS): rebuild the cached line(s)."""
        super().notify_style_update()
        self._lines = None

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the meter (both lines built once per level and width)."""
        width = self.size.width
        base = self.rich_style
        cached = self._lines
        if cached is None or cached[0] != self.level or cached[1] != width:
            console = self.app.console
            lines = meter_text(self.level, width).split("\n")
            strips = [text_strip(line, width, base, console) for line in lines]
            self._lines = cached = (self.level, width, strips)
        strips = cached[2]
        return strips[y] if y < len(strips) else Strip.blank(width, base)
