"""Fake pipelines for the dashboard tests: deterministic synthetic snapshots, recorded calls."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.synthetic import SyntheticPipeline


class FakePipeline(SyntheticPipeline):
    """Synthetic pipeline that also records ``toggle_recording`` and ``mark`` calls."""

    def __init__(self, t0: float = 12.0, **kwargs: Any) -> None:
        super().__init__(t0, **kwargs)
        self.toggles = 0
        """Calls of :meth:`toggle_recording`."""
        self.marks: list[tuple[str, float]] = []
        """(label, stream time) of each :meth:`mark` call."""
        self.recording_path: Path | None = None

    def toggle_recording(self) -> Path | None:
        """Start (returns the path) or stop (returns None) a pretend recording."""
        self.toggles += 1
        self.recording_path = None if self.recording_path else Path("/tmp/stetho-rec-1.flac")
        return self.recording_path

    def mark(self, label: str) -> None:
        """Remember the mark."""
        self.marks.append((label, self.t))

    def new_session(self) -> float:
        """Remember the request (as a mark, like the real pipeline); return the stream time."""
        self.mark("new session")
        return self.t

    @property
    def snapshot(self) -> Snapshot:
        """Like the real pipeline, the snapshot carries the recording in progress."""
        snap = super().snapshot
        path = None if self.recording_path is None else str(self.recording_path)
        return dataclasses.replace(snap, recording_path=path)


class BarePipeline(SyntheticPipeline):
    """A pipeline without recording, marking or new-session support."""


class FailingStartPipeline(SyntheticPipeline):
    """A pipeline whose ``start`` raises (e.g. the device cannot be opened)."""

    def start(self) -> None:
        """Refuse to start."""
        raise OSError("no such device: 'Stethoscope USB'")
