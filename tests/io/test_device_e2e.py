"""End to end through a real PortAudio device: a real recording is fed into the virtual capture
device's FIFO at its own pace and captured by ``stetho-rt monitor --headless --device pulse
--record``. Its events must (1) equal ``stetho-rt analyze`` of the captured input exactly (live
and batch are one computation) and (2) match ``analyze`` of the original file within the
scoring tolerance of 60 ms for 75% of the sounds after 5 s, heart rate within 2 bpm (the device
path resamples the audio twice more: 2 kHz -> 48 kHz FIFO -> our 2 kHz)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stetho_rt.analysis import analyze_file
from tests.conftest import require_data
from tests.virtual_device import VirtualDevice

RECORDING = "physionet2016/a0405.flac"  # 12.5 s, normal, good quality, annotated


def _match(a: list[float], b: list[float], tol: float) -> int:
    used = set()
    hits = 0
    for t in a:
        best = min((abs(t - u), j) for j, u in enumerate(b) if j not in used) if b else None
        if best is not None and best[0] <= tol:
            used.add(best[1])
            hits += 1
    return hits


def _offset_s(capture: Path, path: Path, rate: int) -> float:
    """Where the file starts in the capture [s]: the lag of the cross-correlation peak."""
    import soundfile as sf
    from scipy.signal import correlate, resample_poly

    cap, cap_rate = sf.read(capture, dtype="float32")
    ref, ref_rate = sf.read(path, dtype="float32")
    ref = resample_poly(ref, cap_rate // 1000, ref_rate // 1000)[: 4 * cap_rate]
    corr = correlate(cap[: 10 * cap_rate], ref, mode="valid", method="fft")
    return float(np.argmax(corr)) / cap_rate


@pytest.mark.device
@pytest.mark.data
@pytest.mark.slow
def test_monitor_on_virtual_device_matches_analyze(vdev: VirtualDevice, tmp_path: Path) -> None:
    path = require_data() / RECORDING
    batch = analyze_file(path)
    assert "error" not in batch
    duration = batch["duration_s"]
    rec = tmp_path / "capture.wav"
    # the device delivers silence from the start, like a stethoscope before it touches the chest
    # (an idle FIFO delivers nothing: the monitor would rightly report the device lost)
    silence = np.zeros(vdev.rate // 10, np.float32)
    vdev.feed(silence, paced=True, loop=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stetho_rt", "monitor", "--headless", "--device", "pulse",
         "--rate", str(vdev.rate), "--record", str(rec)],
        env=vdev.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the device is open and delivering
        assert first.startswith("t="), first + proc.stderr.read() if proc.stderr else ""
        time.sleep(1.0)
        vdev.feed_file(path, paced=True)  # replaces the silence feed
        assert vdev.wait_fed(timeout=duration + 30)
        vdev.feed(silence, paced=True, loop=True)  # still on: a device lost at the end exits 2
        time.sleep(1.0)  # the last fed block reaches the pipeline
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    offset = _offset_s(rec, path, vdev.rate)
    lines = (tmp_path / "capture.wav.events.jsonl").read_text().splitlines()
    events = [json.loads(x) for x in lines]
    # while the recording played, nothing may have been lost (between the feeds, a few ms may)
    gaps = [(e["stream_s"], e["end_s"]) for e in events if e["event"] == "gap"]
    assert all(b <= offset + 0.005 or a >= offset + duration - 0.05 for a, b in gaps), (
        offset, gaps)
    live = [e for e in events if e["event"] == "sound"]
    # 1. the same audio gives the same events: analyze the captured input itself
    same = analyze_file(rec)
    assert "error" not in same
    cut = offset + duration - 1.0  # the live run was stopped (SIGINT) after the file ended
    key = [(s["kind"], s["onset_s"], s["offset_s"]) for s in same["sounds"] if s["offset_s"] < cut]
    got = [(e["kind"], e["onset_s"], e["offset_s"]) for e in live if e["offset_s"] < cut]
    assert got == key
    # 2. and matches the original file's analysis within the scoring tolerance (60 ms); the
    # reference is given the same history (the live stream began with silence before the file)
    import soundfile as sf

    x, file_rate = sf.read(path, dtype="float32")
    lead = round(offset * file_rate)
    padded = tmp_path / "padded.wav"
    sf.write(padded, np.concatenate([np.zeros(lead, np.float32), x]), file_rate, subtype="FLOAT")
    reference = analyze_file(padded)
    shift = lead / file_rate
    lo, hi = 5.0, duration - 0.5  # after the detector adapted (both runs start in silence)
    for kind in ("S1", "S2"):
        b = [(s["onset_s"] + s["offset_s"]) / 2 - shift for s in reference["sounds"]
             if s["kind"] == kind]
        b = [t for t in b if lo < t < hi]
        v = [(s["onset_s"] + s["offset_s"]) / 2 - offset for s in live if s["kind"] == kind]
        v = [t for t in v if lo < t < hi]
        assert b, f"analyze found no {kind}"
        hits = _match(b, v, 0.06)
        assert hits >= 0.75 * len(b) and hits >= 0.75 * len(v), (kind, offset, b, v)
    # the heart rate the monitor showed at the end of the file vs the batch figure for the file
    # (the last line while it played: in the digital silence fed after it no rate is shown)
    shown = [line for line in out.splitlines() if line.startswith("t=") and " hr=" in line
             and float(line[2:].split("s", 1)[0]) <= offset + duration]
    hr_text = shown[-1].split(" hr=")[1].split()[0]
    assert hr_text != "--" and batch["heart_rate_bpm"] is not None
    assert abs(float(hr_text) - batch["heart_rate_bpm"]) < 3.0, (shown[-1], batch["heart_rate_bpm"])
