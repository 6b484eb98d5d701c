"""Fixtures of the dashboard tests."""

from __future__ import annotations

import pytest

from tests.ui.fakes import FakePipeline


@pytest.fixture
def fake() -> FakePipeline:
    """A fake pipeline at stream time 12 s, detector and classifier ready."""
    return FakePipeline()
