"""Base of the signal panels: render a snapshot into cached strips, serve them line by line."""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.view import ViewState


class PlotWidget(Widget):
    """A panel drawn from numpy arrays with the line API.

    :meth:`show` renders the whole panel once per new snapshot (``draw`` in the subclass, numpy
    into Strips); :meth:`render_line` then only returns cached lines, so Textual's repaints of an
    unchanged panel cost nothing.
    """

    DEFAULT_CSS = """
    PlotWidget {
        height: 1fr;
        min-height: 3;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._snap: Snapshot | None = None
        self._view = ViewState()
        self._strips: list[Strip] = []
        self._style_cache: dict[str, Style] = {}

    def show(self, snap: Snapshot, view: ViewState) -> None:
        """Render ``snap`` with ``view`` and schedule a repaint of the lines that changed."""
        self._snap, self._view = snap, view
        old = self._strips
        self._redraw()
        new = self._strips
        if len(old) != len(new):
            self.refresh()
            return
        width = self.size.width
        pairs = enumerate(zip(old, new, strict=True))
        changed = [Region(0, y, width, 1) for y, (a, b) in pairs if a != b]
        if changed:
            self.refresh(*changed)

    def on_resize(self) -> None:
        """Redraw the last snapshot at the new size."""
        self._redraw()

    def _redraw(self) -> None:
        width, height = self.size
        if self._snap is None or width <= 0 or height <= 0 or not self.display:
            self._strips = []
            return
        self._strips = self.draw(self._snap, self._view, width, height)

    def draw(self, snap: Snapshot, view: ViewState, width: int, height: int) -> list[Strip]:
        """The panel's lines for ``snap`` at ``width`` x ``height`` cells (override)."""
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the last drawing (blank before the first snapshot)."""
        width = self.size.width
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def styled(self, component: str) -> Style:
        """The widget's base style plus a component class's colour (cached until restyled)."""
        style = self._style_cache.get(component)
        if style is None:
            base = self.rich_style
            style = base if not component else base + self.get_component_rich_style(
                component, partial=True
            )
            self._style_cache[component] = style
        return style

    def notify_style_update(self) -> None:
        """Styles changed (theme, CSS): redraw once every style (components too) is updated."""
        super().notify_style_update()
        self._style_cache.clear()
        if self.is_mounted:
            self.call_after_refresh(self._restyle)

    def _restyle(self) -> None:
        self._style_cache.clear()
        if self._snap is not None:
            self._redraw()
            self.refresh()
