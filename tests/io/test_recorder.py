"""Recorder: lossless round trip, true timeline (gaps zero-filled and marked), events beside the
audio, a queue that never blocks, and files that survive SIGKILL."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stetho_rt.errors import ConfigError
from stetho_rt.events import Beat, HeartSound, Quality, Window
from stetho_rt.io.recorder import (
    Recorder,
    events_path_for,
    finish_partial,
    partial_path_for,
    read_events,
)
from tests.conftest import REPO

RATE = 4000


def _pcm24(rng: np.random.Generator, n: int) -> np.ndarray:
    """Samples on the 24-bit grid (what a 24-bit converter delivers): exact in PCM_24 and FLOAT."""
    return (rng.integers(-(2**22), 2**22, n) / 2**23).astype(np.float32)


def _feed(rec: Recorder, x: np.ndarray, start: int = 0, block: int = 40) -> None:
    for i in range(0, x.shape[0], block):
        assert rec.submit_audio(x[i : i + block], start + i)


@pytest.mark.parametrize(("name", "subtype"), [("a.wav", "FLOAT"), ("a.flac", "PCM_24"),
                                               ("a.wav", "PCM_24")])
def test_round_trip_is_lossless(tmp_path: Path, rng: np.random.Generator, name: str,
                                subtype: str) -> None:
    x = _pcm24(rng, 3 * RATE)
    if subtype == "FLOAT":
        x = rng.standard_normal(3 * RATE).astype(np.float32) * 0.3  # any float32 is kept
    rec = Recorder(tmp_path / name, RATE, subtype=subtype if name.endswith("wav") else None)
    rec.start()
    _feed(rec, x)
    assert rec.close(10)
    y, r = sf.read(tmp_path / name, dtype="float32")
    assert r == RATE and sf.info(tmp_path / name).subtype == subtype
    np.testing.assert_array_equal(y, x)
    assert not partial_path_for(tmp_path / name).exists()
    ev = read_events(events_path_for(tmp_path / name))
    assert [e["event"] for e in ev] == ["start", "end"]
    assert ev[-1]["samples"] == x.shape[0]


def test_gaps_are_zero_filled_and_marked(tmp_path: Path, rng: np.random.Generator) -> None:
    x = _pcm24(rng, 2000)
    rec = Recorder(tmp_path / "g.wav", RATE)
    rec.start()
    _feed(rec, x[:1000], start=400)  # the recording starts mid-stream, at sample 400
    assert rec.submit_gap(1400, 600)  # the ring dropped 600 samples
    _feed(rec, x[1000:], start=2000)
    assert rec.submit_audio(x[:100], 3200)  # an unreported jump of 200
    rec.mark("cough", 0.5)
    assert rec.close(5)
    y, _ = sf.read(tmp_path / "g.wav", dtype="float32")
    expect = np.concatenate([x[:1000], np.zeros(600, np.float32), x[1000:],
                             np.zeros(200, np.float32), x[:100]])
    np.testing.assert_array_equal(y, expect)
    ev = read_events(tmp_path / "g.wav.events.jsonl")
    start = ev[0]
    assert start["event"] == "start" and start["origin_s"] == 0.1 and start["rate"] == RATE
    gaps = [e for e in ev if e["event"] == "gap"]
    assert [(g["position"], g["length"], g["detail"]) for g in gaps] == [
        (1400, 600, "input"), (3000, 200, "recorder")]
    assert gaps[0]["stream_s"] == 0.35 and gaps[0]["end_s"] == 0.5
    assert {"event": "mark", "stream_s": 0.5, "label": "cough"} in ev
    assert ev[-1]["event"] == "end" and ev[-1]["samples"] == expect.shape[0]


def test_gaps_in_a_row_are_one_event(tmp_path: Path, rng: np.random.Generator) -> None:
    """A lost device's time arrives as a gap every 0.1 s: one event for the whole loss."""
    x = _pcm24(rng, 400)
    rec = Recorder(tmp_path / "l.wav", RATE)
    rec.start()
    _feed(rec, x[:200])
    for k in range(30):
        assert rec.submit_gap(200 + 400 * k, 400)
        if k % 10 == 9:  # the classifier's windows and the user's marks go on during a loss
            assert rec.submit_events(windows=_events()[2])
            assert rec.mark("cough", (200 + 400 * k) / RATE)
    _feed(rec, x[200:], start=200 + 30 * 400)
    assert rec.submit_gap(12400, 50)  # a gap to the end of the recording is written too
    assert rec.close(5)
    gaps = [e for e in read_events(tmp_path / "l.wav.events.jsonl") if e["event"] == "gap"]
    assert [(g["position"], g["length"]) for g in gaps] == [(200, 12000), (12400, 50)]
    assert sf.info(tmp_path / "l.wav").frames == 12450


def _events() -> tuple[list[HeartSound], list[Beat], list[Window]]:
    sounds = [HeartSound("S1", 1.0, 1.1, 0.9, 1.4), HeartSound("S2", 1.3, 1.38, 0.8, 1.6)]
    beats = [Beat(1.05, 0.8, 75.0, 1.4)]
    windows = [Window(0.0, 4.0, {"normal": 0.9, "murmur": 0.06, "artifact": 0.04}, "normal", 4.1,
                      Quality(0.87))]
    return sounds, beats, windows


def test_events_jsonl_and_csv(tmp_path: Path) -> None:
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"e_{fmt}.wav"
        rec = Recorder(path, RATE, events_format=fmt)
        rec.start()
        rec.submit_audio(np.zeros(100, np.float32), 0)
        assert rec.submit_events(*_events())
        rec.mark("murmur heard", 1.25)
        assert rec.close(5)
        ep = events_path_for(path, fmt)
        assert ep.name == f"e_{fmt}.wav.events.{fmt}"
        if fmt == "jsonl":
            rows = read_events(ep)
            kinds = [r["event"] for r in rows]
            assert kinds == ["start", "sound", "sound", "beat", "window", "mark", "end"]
            assert rows[1] == {"event": "sound", "kind": "S1", "onset_s": 1.0, "offset_s": 1.1,
                               "confidence": 0.9, "decided_s": 1.4}
            assert rows[4]["probs"]["normal"] == 0.9 and rows[4]["quality"] == 0.87
        else:
            with open(ep, newline="") as f:
                rows = list(csv.DictReader(f))
            assert [r["event"] for r in rows] == ["start", "sound", "sound", "beat", "window",
                                                  "mark", "end"]
            assert rows[1]["kind"] == "S1" and float(rows[1]["stream_s"]) == 1.0
            assert float(rows[3]["hr_bpm"]) == 75.0 and float(rows[3]["stream_s"]) == 1.05
            assert rows[4]["label"] == "normal" and "murmur=0.06" in rows[4]["probs"]
            assert rows[5]["label"] == "murmur heard" and float(rows[5]["stream_s"]) == 1.25


def test_full_queue_drops_without_blocking_and_keeps_time(tmp_path: Path,
                                                          rng: np.random.Generator) -> None:
    rec = Recorder(tmp_path / "q.wav", RATE, queue_items=4)
    rec.start()
    x = _pcm24(rng, 4000)
    t0 = time.monotonic()
    ok = [rec.submit_audio(x[i : i + 40], i) for i in range(0, 4000, 40)]
    assert time.monotonic() - t0 < 0.5  # never blocks the DSP thread
    assert rec.close(5)
    y, _ = sf.read(tmp_path / "q.wav", dtype="float32")
    kept = np.concatenate([x[i : i + 40] for k, i in enumerate(range(0, 4000, 40)) if ok[k]])
    last = max(i for k, i in enumerate(range(0, 4000, 40)) if ok[k])
    assert y.shape[0] == last + 40  # timeline true up to the last block kept
    assert rec.dropped_samples == 40 * ok.count(False)
    np.testing.assert_array_equal(y[y != 0], kept[kept != 0])


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"use a \.wav or \.flac"):
        Recorder(tmp_path / "a.mp3", RATE)
    with pytest.raises(ConfigError, match="does not exist"):
        Recorder(tmp_path / "nope" / "a.wav", RATE)
    with pytest.raises(ConfigError, match="subtype FLOAT"):
        Recorder(tmp_path / "a.flac", RATE, subtype="FLOAT")
    with pytest.raises(ConfigError, match="events_format"):
        Recorder(tmp_path / "a.wav", RATE, events_format="xml")


_CHILD = r"""
import sys, time
import numpy as np
from stetho_rt.io.recorder import Recorder
path, rate = sys.argv[1], int(sys.argv[2])
rec = Recorder(path, rate)
rec.start()
rng = np.random.default_rng(5)
x = (rng.integers(-(2**22), 2**22, 60 * rate) / 2**23).astype(np.float32)
block = rate // 100
t0 = time.monotonic()
for k, i in enumerate(range(0, x.shape[0], block)):
    rec.submit_audio(x[i : i + block], i)
    if k % 10 == 0:
        rec.mark("tick", i / rate)
        print(i + block, flush=True)
    time.sleep(max(t0 + (i + block) / rate - time.monotonic(), 0))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["k.wav", "k.flac"])
def test_sigkill_loses_at_most_one_second(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(RATE)],
                         stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert p.stdout is not None
    submitted = 0
    t0 = time.monotonic()
    while submitted < int(2.2 * RATE) and time.monotonic() - t0 < 30:
        line = p.stdout.readline()
        if not line:
            break
        submitted = int(line)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    assert submitted >= int(2.2 * RATE), "child did not record"
    # FLAC: the crash-safe partial WAV is the recording; finish_partial encodes it
    left = path if name.endswith(".wav") else partial_path_for(path)
    assert left.exists() and (name.endswith(".wav") or not path.exists())
    y, r = sf.read(left, dtype="float32")
    x = (np.random.default_rng(5).integers(-(2**22), 2**22, 60 * RATE) / 2**23).astype(np.float32)
    assert r == RATE
    assert submitted - RATE <= y.shape[0] <= submitted + RATE // 10
    np.testing.assert_array_equal(y, x[: y.shape[0]])
    ev = read_events(events_path_for(path))
    assert ev[0]["event"] == "start" and ev[-1]["event"] == "mark"
    assert ev[-1]["stream_s"] >= submitted / RATE - 1.2
    if name.endswith(".flac"):
        finish_partial(left)
        z, _ = sf.read(path, dtype="float32")
        np.testing.assert_array_equal(z, y)


def test_a_recording_is_never_overwritten(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's `r` names recordings by the second: two in one second overwrote the
    first, and `--record` emptied an existing file."""
    from stetho_rt import pipeline

    for existing in ("a.wav", "b.flac.partial.wav", "c.wav.events.csv"):
        (tmp_path / existing).write_bytes(b"kept")
        path = tmp_path / existing.split(".partial")[0].split(".events")[0]
        with pytest.raises(ConfigError, match=f"{existing} exists already"):
            Recorder(path, RATE)
        assert (tmp_path / existing).read_bytes() == b"kept"
    monkeypatch.setattr(pipeline.time, "strftime", lambda fmt: "20261122-010203")
    first = pipeline._free_recording_path(tmp_path / "recordings")
    assert first.name == "stetho-20261122-010203.wav"
    events_path_for(first).write_text("")
    second = pipeline._free_recording_path(tmp_path / "recordings")
    assert second.name == "stetho-20261122-010203-2.wav"
