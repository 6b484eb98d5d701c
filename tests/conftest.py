"""Shared fixtures: seeded RNG, the real-data folder, and a self-describing report header."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder of the real recordings (``STETHO_RT_DATA``, default ``../shared/data``)."""
    return Path(os.environ.get("STETHO_RT_DATA", REPO.parent / "shared" / "data")).resolve()


def require_data(sub: str = "") -> Path:
    """Return ``data_dir()/sub`` or skip (fail when ``STETHO_RT_REQUIRE_DATA=1``) if missing."""
    path = data_dir() / sub
    if not path.exists():
        reason = f"real recordings not found at {path} (set STETHO_RT_DATA)"
        if os.environ.get("STETHO_RT_REQUIRE_DATA") == "1":
            pytest.fail(reason + "; STETHO_RT_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(reason)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, fresh per test."""
    return np.random.default_rng(20261121)


@pytest.fixture
def data_root() -> Path:
    """The real-data folder, or skip/fail as :func:`require_data` says."""
    return require_data()


def pytest_report_header(config: pytest.Config) -> list[str]:
    import numba
    import onnxruntime
    import scipy

    return [
        f"stetho-rt: numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
        f"onnxruntime {onnxruntime.__version__}",
        f"data: {data_dir()} ({'present' if data_dir().exists() else 'missing'})",
    ]
