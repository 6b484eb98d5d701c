"""Classifier verdict, per-class probability bars and the window's signal quality."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from stetho_rt.events import CLASS_LABELS, Window
from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.palette import BAD_COLOR, CLASS_COLORS, GOOD_COLOR, WARN_COLOR
from stetho_rt.ui.render import hbar

#: Style of each class's bar and label.
CLASS_STYLES = dict(CLASS_COLORS)


def verdict_of(snap: Snapshot) -> tuple[str, dict[str, float]] | None:
    """The label and probabilities to show: the session verdict, else the latest window's; None
    while there is neither (at the start, or after a new session)."""
    if snap.verdict is not None:  # verdict.aggregate's dict: always a label and probabilities
        probs = snap.verdict["probs"]
        return str(snap.verdict["label"]), {str(k): float(v) for k, v in probs.items()}
    if snap.windows:
        w = snap.windows[-1]
        return w.label, dict(w.probs)
    return None


def _share_text(verdict: dict | None) -> Text:
    """`` 34%≥22%``: the murmur share that decided a normal/murmur verdict, and the threshold
    (the bars are probabilities; the label is the share against the model's operating point)."""
    label = verdict.get("label") if verdict else None
    if label not in ("normal", "murmur"):  # no verdict yet, or artifact (no share decided it)
        return Text("")
    share, thr = float(verdict["murmur_share"]), float(verdict["murmur_threshold"])
    sign = "≥" if label == "murmur" else "<"  # the label's own comparison (share unrounded)
    return Text(f" {share * 100:.0f}%{sign}{thr * 100:.0f}%", style="dim")


def quality_text(window: Window | None) -> Text:
    """Signal quality of ``window`` (index 0-1 and its flags), or "--"."""
    if window is None:
        return Text("quality  --", style="dim")
    q = window.quality
    style = GOOD_COLOR if q.index >= 0.7 else (WARN_COLOR if q.index >= 0.4 else BAD_COLOR)
    text = Text("quality  ").append(f"{q.index:.2f}", style=style)
    flags = [name for name, on in (("clipped", q.clipped), ("too quiet", q.too_quiet),
                                   ("input repaired", q.repaired)) if on]
    if flags:
        text.append("  " + ", ".join(flags), style=f"bold {BAD_COLOR}")
    return text


class ClassifierPanel(Widget):
    """Verdict line, one bar per class, quality line; "waiting for classifier" until it runs."""

    DEFAULT_CSS = """
    ClassifierPanel {
        height: 5;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Classifier"
        self._key: tuple[object, ...] = ()
        self.snapshot: Snapshot | None = None
        """The snapshot shown (replaced only when its classifier part changed)."""

    def update_from(self, snap: Snapshot) -> None:
        """Take ``snap`` if its readiness, verdict or latest window changed."""
        last = snap.windows[-1] if snap.windows else None
        # without a classifier, "waiting" turns "off" once the stream runs
        key = (snap.classifier_ready, snap.classifier_off, repr(snap.verdict), last)
        if key != self._key:
            self._key = key
            self.snapshot = snap
            self.refresh()

    def render(self) -> Text:
        """The panel text at the current width."""
        snap = self.snapshot
        if snap is not None and snap.classifier_off:
            return Text("classifier off (--no-classifier)", style="italic dim")
        if snap is None or not snap.classifier_ready:
            return Text("waiting for classifier", style="italic dim")
        found = verdict_of(snap)
        window = snap.windows[-1] if snap.windows else None
        label, probs = found if found is not None else ("--", {})  # no window yet
        out = Text("verdict  ").append(label, style=f"bold {CLASS_STYLES.get(label, '')}".strip())
        share = _share_text(snap.verdict)
        if out.cell_len + share.cell_len <= self.size.width:  # never wraps the panel's lines
            out.append_text(share)
        bar_w = max(self.size.width - 14, 3)
        for name in CLASS_LABELS:
            p = probs.get(name)
            out.append(f"\n{name:<9}")
            if p is None:
                out.append(" " * bar_w + "   --", style="dim")
                continue
            out.append(hbar(p, bar_w), style=CLASS_STYLES[name])
            out.append(f"{p * 100:4.0f}%")
        out.append("\n").append_text(quality_text(window))
        return out
