"""Events the pipeline emits, stamped in stream seconds (ARCHITECTURE.md §4-5).

Times count from the first sample of the stream; ``decided_s`` is the stream time at which the event
was emitted, so ``decided_s - offset_s`` is the decision latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CLASS_LABELS: tuple[str, ...] = ("normal", "murmur", "artifact")


@dataclass(frozen=True, slots=True)
class HeartSound:
    """One S1 or S2: onset and offset [s], confidence in 0-1, decision time [s]."""

    kind: Literal["S1", "S2"]
    onset_s: float
    offset_s: float
    confidence: float
    decided_s: float

    @property
    def centre_s(self) -> float:
        """Midpoint of the sound [s]."""
        return 0.5 * (self.onset_s + self.offset_s)

    def to_json(self) -> dict[str, Any]:
        """Dict for the analyze JSON Lines output, rounded to 1 ms / 3 digits (written out, not
        ``dataclasses.asdict``, which deep-copies every field: 2.2 against 8.6 µs a sound in a
        one-off ``timeit``, about 20 µs CPU per second of audio at CirCor's 3.2 sounds/s)."""
        return {
            "kind": self.kind,
            "onset_s": round(self.onset_s, 3),
            "offset_s": round(self.offset_s, 3),
            "confidence": round(self.confidence, 3),
            "decided_s": round(self.decided_s, 3),
        }


@dataclass(frozen=True, slots=True)
class Beat:
    """One beat: its S1 time [s], the RR interval before it [s], heart rate [bpm]."""

    s1_s: float
    rr_s: float
    hr_bpm: float
    decided_s: float

    def to_json(self) -> dict[str, Any]:
        """Dict for the analyze JSON Lines output."""
        return {
            "s1_s": round(self.s1_s, 3),
            "rr_s": round(self.rr_s, 3),
            "hr_bpm": round(self.hr_bpm, 1),
            "decided_s": round(self.decided_s, 3),
        }


@dataclass(frozen=True, slots=True)
class Quality:
    """Signal quality of one window: index in 0-1, clipping and level flags."""

    index: float
    clipped: bool = False
    too_quiet: bool = False
    repaired: bool = False
    """The window holds input the pipeline replaced by zeros (dropped samples, NaN/inf): its
    index is 0, so it is not clean and stays out of the verdict and the session summary."""

    @property
    def heard(self) -> bool:
        """False when the window's vector describes no heart sound: input replaced by zeros
        (``repaired``) or digital silence (``too_quiet``). Such a window stays out of the session
        summary (it still counts in the summary's mean quality)."""
        return not (self.repaired or self.too_quiet)


@dataclass(frozen=True, slots=True)
class Window:
    """Classifier output for one feature window [s]: class probabilities and the top label."""

    start_s: float
    end_s: float
    probs: dict[str, float]
    label: str
    decided_s: float
    quality: Quality = field(default_factory=lambda: Quality(1.0))

    def to_json(self) -> dict[str, Any]:
        """Dict for the analyze JSON Lines output."""
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
            "label": self.label,
            "quality": round(self.quality.index, 3),
            "decided_s": round(self.decided_s, 3),
        }


@dataclass(frozen=True, slots=True)
class Gap:
    """Samples lost between producer and consumer: stream position and length [samples]."""

    position: int
    length: int
