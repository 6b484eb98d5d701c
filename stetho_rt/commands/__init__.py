"""One module per CLI subcommand; each exposes ``run_<name>(args) -> exit code``."""

from __future__ import annotations

import argparse
from typing import Any

from stetho_rt.config import PipelineConfig

_LOADED: dict[str | None, Any] = {}


def load_classifier(args: argparse.Namespace, cfg: PipelineConfig) -> Any | None:
    """The classifier asked for by ``--model``/``--no-classifier`` (loaded once per process).

    Raises :class:`~stetho_rt.errors.ModelError` (exit code 2) for a missing or mismatched model.
    """
    if getattr(args, "no_classifier", False):
        return None
    path = getattr(args, "model", None)
    if path not in _LOADED:
        from stetho_rt.classify.model import OnnxClassifier

        _LOADED[path] = OnnxClassifier.load(
            path, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s
        )
    return _LOADED[path]
