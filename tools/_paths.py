"""Paths the tools share: the repository and the real recordings (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository's root folder."""


def data_dir() -> Path:
    """Folder of the real recordings, absolute: ``$STETHO_RT_DATA``, default ``../shared/data``
    beside the repository (the tests' default too). Absolute, so a child process started in
    another folder (``bench_trees``) reads the same recordings."""
    return Path(os.environ.get("STETHO_RT_DATA", REPO.parent / "shared" / "data")).resolve()
