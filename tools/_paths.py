"""Paths the tools share: the repository and the real recordings (never inside the repository)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository's root folder."""


def data_dir() -> Path:
    """Folder of the real recordings, absolute: ``$STETHO_RT_DATA``, default ``../shared/data``
    beside the repository (the tests' default too). Absolute, so a child process started in
    another folder (``bench_trees``) reads the same recordings."""
    return Path(os.environ.get("STETHO_RT_DATA", REPO.parent / "shared" / "data")).resolve()


def code_hash(paths: tuple[str, ...], root: Path = REPO) -> str:
    """Short hash of the source files ``paths`` (relative to ``root``; missing files hash as
    absent) that key a tool's cache of computed features: a model JSON's ``cv`` key (its
    published figures, refreshed by ``train_detector.py --score-only``) is left out, since it
    does not shape a feature."""
    h = hashlib.sha256()
    for p in paths:
        f = root / p
        h.update(p.encode())
        if not f.exists():
            h.update(b"<missing>")
        elif f.suffix == ".json":
            model = json.loads(f.read_bytes())
            model.pop("cv", None)
            h.update(json.dumps(model, sort_keys=True).encode())
        else:
            h.update(f.read_bytes())
    return h.hexdigest()[:12]
