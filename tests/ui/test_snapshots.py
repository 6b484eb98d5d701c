"""Look of the dashboard: SVG snapshots on a deterministic fake pipeline.

Regenerate after an intended change with ``pytest tests/ui/test_snapshots.py --snapshot-update``
and review the SVGs under ``tests/ui/__snapshots__/`` before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from stetho_rt.ui.app import make_app
from tests.ui.fakes import FakePipeline

pytestmark = pytest.mark.ui


def test_dashboard_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Every panel at the reference size: S1 vermilion, S2 blue, viridis spectrogram."""
    assert snap_compare(make_app(FakePipeline()), terminal_size=(120, 40))


def test_dashboard_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The envelope is hidden first; the spectrogram stays."""
    assert snap_compare(make_app(FakePipeline()), terminal_size=(80, 24))


def test_dashboard_60x20_murmur(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Small terminal: waveform and numbers only; the classifier says murmur."""
    assert snap_compare(make_app(FakePipeline(murmur=True)), terminal_size=(60, 20))


def test_waiting_for_detector_and_classifier(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Detector not ready, no classifier: plain trace, the waiting note, "classifier off", no
    events."""
    pipe = FakePipeline(detector_ready=False, classifier_ready=False)
    assert snap_compare(make_app(pipe), terminal_size=(100, 30))


def test_paused_raw_gain_clipping(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Paused, raw trace (baseline wander visible), more gain, clipping input."""
    pipe = FakePipeline(input_gain=3.0)
    assert snap_compare(make_app(pipe), press=["space", "f", "+"], terminal_size=(100, 30))


def test_help_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The help screen over the dashboard."""
    assert snap_compare(make_app(FakePipeline()), press=["question_mark"], terminal_size=(80, 24))


def test_light_theme(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Readable on a light theme too (the spectrogram paints its own cells)."""

    async def light(pilot: Pilot) -> None:  # type: ignore[type-arg]
        pilot.app.theme = "textual-light"
        await pilot.pause()

    assert snap_compare(make_app(FakePipeline()), run_before=light, terminal_size=(80, 24))


def test_no_color(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """NO_COLOR: monochrome; S1/S2 still told apart by their labels."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(FakePipeline()), terminal_size=(80, 24))


def test_pipeline_failed(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """A failed pipeline: status bar and an error notification."""
    pipe = FakePipeline()
    pipe.fail("ValueError: block of 0 samples")
    assert snap_compare(make_app(pipe), terminal_size=(80, 24))
