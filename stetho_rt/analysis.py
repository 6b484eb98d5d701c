"""Batch analysis: a file through the live path, free-running, to one JSON record (§6).

:func:`analyze_file` opens the file, replays it with a free-running producer thread into the same
ring and DSP thread the dashboard uses, waits for the end and summarises. Timing is measured here,
inside the worker process: wall clock and process CPU time (all threads).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from stetho_rt.config import MAINS_HZ, DspConfig, PipelineConfig, StreamConfig
from stetho_rt.errors import InputError, StethoError
from stetho_rt.io.audiofile import open_audio
from stetho_rt.io.source import ReplaySource
from stetho_rt.pipeline import Pipeline

ANALYZE_BLOCK_SECONDS = 0.25
"""Replay block in batch mode [s]. Stages are block-size invariant, so bigger blocks than the live
10 ms give the same events with less per-call overhead (tests pin batch == live)."""
ANALYZE_TIMEOUT_FACTOR = 10.0
"""A file must finish within this many times its duration (plus 60 s) or it is an error."""


def analysis_config(mains_hz: tuple[float, ...] = MAINS_HZ) -> PipelineConfig:
    """Default configuration of batch analysis: live defaults with 250 ms replay blocks; hum of
    the ``mains_hz`` frequencies [Hz] removed where heard (``()``: none)."""
    return PipelineConfig(
        dsp=DspConfig(mains_hz=mains_hz),
        stream=StreamConfig(block_seconds=ANALYZE_BLOCK_SECONDS, ring_seconds=10.0),
    )


def analyze_file(
    path: str | Path,
    cfg: PipelineConfig | None = None,
    channel: int | None = None,
    classifier: Any | None = None,
) -> dict[str, Any]:
    """Analyse one recording; return the JSON record (``{"file", "error"}`` on bad input).

    Parameters
    ----------
    path : str or Path
        Audio file (WAV, FLAC, OGG, MP3), any rate from 1 kHz to 192 kHz.
    cfg : PipelineConfig, optional
        Stage parameters (defaults from :mod:`stetho_rt.config`).
    channel : int, optional
        Channel to analyse; None downmixes multichannel files.
    """
    name = str(path)
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    pipe: Pipeline | None = None
    try:
        audio = open_audio(path, channel=channel)
        cfg = cfg or analysis_config()
        source = ReplaySource.from_file(audio, cfg.stream, free_run=True)
        pipe = Pipeline(source, cfg, live=False, classifier=classifier)
        pipe.start()
        done = pipe.wait(timeout=audio.duration_s * ANALYZE_TIMEOUT_FACTOR + 60.0)
        if pipe.error is not None:
            raise pipe.error
        if not done:
            raise InputError(f"{name}: analysis did not finish in time")
        _check_signal(name, pipe)
    except StethoError as exc:
        return {"file": name, "error": str(exc)}
    finally:  # whatever failed (bad input or a bug), no thread runs on behind this file
        if pipe is not None:
            pipe.stop()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return _record(name, audio.rate, audio.duration_s, pipe, wall, cpu)


def _check_signal(name: str, pipe: Pipeline) -> None:
    if pipe.samples_in and pipe.meter.nonfinite_samples >= pipe.samples_in:
        raise InputError(f"{name}: no finite samples (all NaN or inf)")


def _hum_record(pipe: Pipeline) -> dict[str, Any] | None:
    """The mains lines notched out somewhere in the file [Hz] and for how long [s] in all (any
    line), or None when none was heard."""
    hum = pipe.graph.hum
    if not hum.lines_removed_hz:
        return None
    return {"lines_hz": sorted(hum.lines_removed_hz),
            "removed_s": round(hum.removed_samples / hum.out_rate, 3)}


def _record(
    name: str, rate: int, duration_s: float, pipe: Pipeline, wall: float, cpu: float
) -> dict[str, Any]:
    ev = pipe.events
    hr = pipe.graph.recording_heart_rate_bpm()
    return {
        "file": name,
        "sample_rate": rate,
        "duration_s": round(duration_s, 3),
        "dropped_samples": pipe.ring.dropped_samples,
        "nonfinite_samples": pipe.nonfinite_samples,
        "clipped_samples": pipe.clipped_samples,
        "late_sounds": pipe.graph.detector.late_sounds,
        "hum": _hum_record(pipe),
        "sounds": [s.to_json() for s in ev.sounds],
        "beats": [b.to_json() for b in ev.beats],
        "heart_rate_bpm": None if hr is None else round(hr, 1),
        "windows": [w.to_json() for w in ev.windows],
        "verdict": pipe.graph.verdict(),
        "timing": {
            "wall_s": round(wall, 4),
            "cpu_s": round(cpu, 4),
            "realtime_factor": round(duration_s / wall, 1) if wall > 0 else None,
        },
    }
