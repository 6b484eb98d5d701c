"""The command line: analyze schema and bad input, headless live modes, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stetho_rt.cli import main
from stetho_rt.io.demo import DemoHeart

RECORD_KEYS = {"file", "sample_rate", "duration_s", "dropped_samples", "sounds", "beats",
               "heart_rate_bpm", "windows", "verdict", "timing"}


def _demo_file(path: Path, rate: int, seconds: float = 6.0, channels: int = 1) -> Path:
    x = DemoHeart(rate=rate, seed=3).read(int(seconds * rate))
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    sf.write(path, x, rate)
    return path


def _damage_middle(path: Path, seed: int) -> Path:
    """Overwrite 2000 bytes in the middle of ``path`` with seeded random bytes; return it."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 2000] = np.random.default_rng(seed).bytes(2000)
    path.write_bytes(bytes(data))
    return path


def test_analyze_writes_one_record_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    files = [_demo_file(tmp_path / f"d{r}.wav", r) for r in (4000, 44100)]
    assert main(["analyze", "--no-progress", *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line, path, rate in zip(lines, files, (4000, 44100), strict=True):
        rec = json.loads(line)
        assert rec.keys() >= RECORD_KEYS
        assert rec["file"] == str(path) and rec["sample_rate"] == rate
        assert rec["duration_s"] == pytest.approx(6.0, abs=1e-3)
        assert rec["dropped_samples"] == 0
        t = rec["timing"]
        assert t["wall_s"] > 0 and t["cpu_s"] > 0
        assert t["realtime_factor"] == pytest.approx(rec["duration_s"] / t["wall_s"], rel=0.05)


def test_bad_files_in_a_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _demo_file(tmp_path / "good.wav", 4000)
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(4000, np.nan, np.float32), 4000, subtype="FLOAT")
    low = tmp_path / "low.wav"
    sf.write(low, np.zeros(1000, np.float32), 500)
    missing = tmp_path / "missing.wav"
    files = [missing, text, good, empty, nan, low]
    assert main(["analyze", "--no-progress", *map(str, files)]) == 2
    cap = capsys.readouterr()
    recs = [json.loads(line) for line in cap.out.strip().splitlines()]
    assert [r["file"] for r in recs] == [str(f) for f in files]
    assert "error" not in recs[2] and recs[2]["duration_s"] > 0
    errors = {Path(r["file"]).name: r["error"] for r in recs if "error" in r}
    assert set(errors) == {"missing.wav", "notes.wav", "empty.flac", "nan.wav", "low.wav"}
    assert "no such file" in errors["missing.wav"]
    assert "not an audio file" in errors["notes.wav"]
    assert "empty" in errors["empty.flac"]
    assert "finite" in errors["nan.wav"]
    assert "500 Hz" in errors["low.wav"]
    # one line per problem on stderr, each naming its file, no traceback
    err_lines = cap.err.strip().splitlines()
    assert len(err_lines) == 5
    assert all(any(n in line for n in errors) for line in err_lines)
    assert "Traceback" not in cap.err


def test_jobs_give_same_records(tmp_path: Path) -> None:
    files = [str(_demo_file(tmp_path / f"f{i}.wav", 4000 + 1000 * i)) for i in range(3)]
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.jsonl"
        assert main(["analyze", "--no-progress", "--jobs", jobs, "--out", str(out), *files]) == 0
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        for r in recs:
            r.pop("timing")
        outs.append(recs)
    assert outs[0] == outs[1]


def test_multichannel_downmix_and_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    f = _demo_file(tmp_path / "st.wav", 8000, channels=2)
    assert main(["analyze", "--no-progress", "--channel", "1", str(f)]) == 0
    assert json.loads(capsys.readouterr().out)["sample_rate"] == 8000
    assert main(["analyze", "--no-progress", "--channel", "2", str(f)]) == 2
    assert "channel 2" in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--jobs", "0", "x.wav"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["analyze"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2  # ours + argparse's one line


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stetho_rt", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_monitor_headless_demo_prints_status_lines() -> None:
    proc = _run("monitor", "--headless", "--demo", "--duration", "2.5")
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("t=")]
    assert len(lines) >= 2
    assert "dropped=0" in lines[-1] and "dBFS" in lines[-1]
    assert "overflows=0 underflows=0 late_sounds=0" in lines[-1]
    # it stops at the duration, not at the next status line after it (it ran to 3.0 s)
    assert 2.5 <= float(lines[-1].split("s ")[0][2:]) <= 2.8


@pytest.mark.parametrize("speed", ["1", "15", "200"])
def test_replay_duration_is_stream_time_at_any_speed(tmp_path: Path, speed: str) -> None:
    """At 15x the stream outran the once-a-second check (a 2 s duration replayed 10 s). The
    pipeline ends the stream at the duration itself, flushed: exactly 2.0 s at any speed, and
    the last line does not say "(end)" (the file has more)."""
    f = _demo_file(tmp_path / "long.wav", 4000, seconds=20.0)
    proc = _run("replay", "--headless", "--speed", speed, "--duration", "2", str(f))
    assert proc.returncode == 0, proc.stderr
    last = [x for x in proc.stdout.splitlines() if x.startswith("t=")][-1]
    assert last.startswith("t=    2.0s ") and not last.endswith("(end)"), last


def test_headless_status_line_counts_every_loss_and_repair() -> None:
    from stetho_rt.commands.live import status_line
    from stetho_rt.snapshot import Level, Snapshot

    line = status_line(Snapshot(input_overflows=1, input_underflows=4, dropped_samples=80,
                                late_sounds=2, nonfinite_samples=7,
                                level=Level(clipped_samples=3)))
    assert "dropped=80 overflows=1 underflows=4 late_sounds=2 nonfinite=7 clipped=3" in line
    assert "rec_dropped" not in line and "device_losses" not in line  # only when they apply
    assert "hum=" not in line
    assert status_line(Snapshot(hum_lines_hz=(50, 150))).endswith(" hum=50/150Hz")
    line = status_line(Snapshot(source_lost_count=2, recording_path="r.wav", recording_dropped=5,
                                recording_error="System error"))
    assert "device_losses=2 rec_dropped=5 REC_FAILED=(System error)" in line


@pytest.mark.parametrize(("name", "holder"), [("rec.wav", "rec.wav"),
                                              ("rec.flac", "rec.flac.partial.wav")])
def test_a_recording_that_stops_writing_is_shown_and_exits_2(
        tmp_path: Path, name: str, holder: str) -> None:
    """The disk fills (here: a file-size limit) mid-recording: the status line says so, and the
    run ends with one line and exit 2 (it ended 0 with the recording silently cut). The line
    names the file that holds the audio: a FLAC's partial WAV is not encoded after a failure
    (the line named the .flac, which did not exist)."""
    import resource

    from stetho_rt.io.demo import DemoHeart
    from stetho_rt.warmup import warm_all

    warm_all()  # the limit binds every file the child writes: a cold numba cache would fail first
    limit_bytes = 16_000
    rec = tmp_path / name

    def limit() -> None:  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    proc = subprocess.run(
        [sys.executable, "-m", "stetho_rt", "monitor", "--headless", "--demo", "--duration",
         "2.5", "--no-classifier", "--record", str(rec)],
        capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and f"recording {rec} stopped writing" in err[0], proc.stderr
    held_s = float(err[0].split(f"{tmp_path / holder} holds the first ")[1].split(" s")[0])
    assert (tmp_path / holder).is_file()
    assert held_s <= limit_bytes / 4 / DemoHeart().rate  # float32 samples
    assert "REC_FAILED=(" in proc.stdout.strip().splitlines()[-1]


def test_replay_headless_runs_to_the_end(tmp_path: Path) -> None:
    f = _demo_file(tmp_path / "r.flac", 4000, seconds=4.0)
    proc = _run("replay", "--headless", "--speed", "8", str(f))
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.endswith("(end)")
    assert "t=    4.0s" in last


def test_a_path_the_system_refuses_is_bad_input_and_the_batch_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A name too long for the file system raised OSError outside the per-file handling and
    stopped the batch with an internal error."""
    good = _demo_file(tmp_path / "good.wav", 4000, seconds=3.0)
    long_name = str(tmp_path / ("x" * 300 + ".wav"))
    assert main(["analyze", "--no-progress", long_name, str(good)]) == 2
    cap = capsys.readouterr()
    recs = [json.loads(line) for line in cap.out.strip().splitlines()]
    assert "cannot read" in recs[0]["error"] and "error" not in recs[1]
    assert len(cap.err.strip().splitlines()) == 1 and "Traceback" not in cap.err


def test_an_internal_failure_of_one_file_does_not_stop_the_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """A bug hit by one file is that file's error record and exit code 1, not the end of the
    run (a real failure cannot be provoked on purpose, so the analysis raises here)."""
    import stetho_rt.analysis as analysis

    files = [_demo_file(tmp_path / f"{n}.wav", 4000, seconds=3.0) for n in ("a", "b", "c")]
    real = analysis.analyze_file

    def flaky(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).name == "b.wav":
            raise ZeroDivisionError("a bug")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(analysis, "analyze_file", flaky)
    assert main(["analyze", "--no-progress", "--no-classifier", *map(str, files)]) == 1
    cap = capsys.readouterr()
    recs = [json.loads(line) for line in cap.out.strip().splitlines()]
    assert [("error" in r) for r in recs] == [False, True, False]
    assert recs[1]["error"].endswith("b.wav: internal error: ZeroDivisionError: a bug")
    assert "Traceback" not in cap.err


def test_out_is_checked_before_any_file_is_read(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` naming an input would have emptied that recording; an unwritable ``--out`` was
    an internal error (exit 1)."""
    victim = _demo_file(tmp_path / "victim.wav", 4000, seconds=3.0)
    size = victim.stat().st_size
    assert main(["analyze", "--no-progress", "-o", str(victim), str(victim)]) == 2
    err = capsys.readouterr().err
    assert "is also an input file" in err and len(err.strip().splitlines()) == 1
    assert victim.stat().st_size == size
    for bad in (tmp_path / "no" / "dir" / "out.jsonl", tmp_path):
        assert main(["analyze", "--no-progress", "-o", str(bad), str(victim)]) == 2
        err = capsys.readouterr().err
        assert "cannot write" in err and len(err.strip().splitlines()) == 1


def test_a_bad_model_leaves_an_existing_out_file_alone(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` was opened (emptied) before ``--model`` was checked."""
    wav = _demo_file(tmp_path / "a.wav", 4000, seconds=3.0)
    out = tmp_path / "res.jsonl"
    out.write_text('{"file": "earlier"}\n')
    assert main(["analyze", "--no-progress", "--model", str(tmp_path / "nope.onnx"), "-o",
                 str(out), str(wav)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert out.read_text() == '{"file": "earlier"}\n'


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_under_out_is_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    """The failed write raised a one-line error, then closing the file tried the same write and
    its OSError replaced it: 'internal error', exit 1."""
    wav = _demo_file(tmp_path / "a.wav", 4000, seconds=3.0)
    assert main(["analyze", "--no-progress", "--no-classifier", "-o", "/dev/full", str(wav)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/dev/full: cannot write" in err[0], err


def test_bad_input_found_mid_stream_is_one_line_exit_2(tmp_path: Path) -> None:
    """A FLAC whose header and end read fine but whose middle is damaged fails during the replay:
    that is bad input (exit 2, one line), not an internal error."""
    f = _damage_middle(_demo_file(tmp_path / "damaged.flac", 4000, seconds=10.0), seed=0)
    proc = _run("replay", "--headless", "--speed", "50", str(f))
    assert proc.returncode == 2, proc.stderr
    err = [x for x in proc.stderr.splitlines() if x.startswith("stetho-rt:")]
    assert len(err) == 1 and "damaged.flac: corrupt audio data near" in err[0]
    assert "Traceback" not in proc.stderr
    # the final status line still gives the counts up to the failure (it was skipped)
    assert proc.stdout.strip().splitlines()[-1].startswith("t=")


def test_a_damaged_mp3_is_bad_input_and_the_batch_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """soundfile raises ValueError (not LibsndfileError) on a damaged MP3: it stopped the batch."""
    # seed 4 damages frames that make soundfile raise ValueError
    mp3 = _damage_middle(_demo_file(tmp_path / "damaged.mp3", 8000, seconds=10.0), seed=4)
    import soundfile as sf

    with pytest.raises(ValueError), sf.SoundFile(mp3) as f:  # the case this test is about
        f.seek(f.frames - 4096)
        f.read(4096)
    good = _demo_file(tmp_path / "good.wav", 4000, seconds=3.0)
    assert main(["analyze", "--no-progress", "--no-classifier", str(mp3), str(good)]) == 2
    cap = capsys.readouterr()
    recs = [json.loads(line) for line in cap.out.strip().splitlines()]
    assert "truncated or corrupt" in recs[0]["error"] and "error" not in recs[1]
    assert "Traceback" not in cap.err and "internal error" not in cap.err


def test_replay_bad_file_one_line_exit_2(tmp_path: Path) -> None:
    proc = _run("replay", "--headless", str(tmp_path / "nope.wav"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope.wav" in proc.stderr


@pytest.mark.data
def test_analyze_real_recordings_each_dataset(data_root: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    files = [data_root / "physionet2016" / "a0003.flac",
             data_root / "circor2022" / "13918_AV.flac",
             sorted((data_root / "pascal_a").glob("normal__*.flac"))[0]]
    assert main(["analyze", "--no-progress", *map(str, files)]) == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["sample_rate"] for r in recs] == [2000, 4000, 44100]
    for r in recs:
        assert r["dropped_samples"] == 0
        assert r["timing"]["realtime_factor"] > 1


NO_PORTAUDIO = (
    "import sys; sys.modules['sounddevice'] = None\n"  # as if PortAudio could not load
    "from stetho_rt.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def test_analyze_and_replay_work_without_portaudio(tmp_path: Path) -> None:
    f = _demo_file(tmp_path / "p.wav", 4000, seconds=3.0)
    for args in (["analyze", "--no-progress", str(f)],
                 ["replay", "--headless", "--speed", "10", str(f)],
                 ["monitor", "--headless", "--duration", "1"]):
        proc = subprocess.run([sys.executable, "-c", NO_PORTAUDIO, *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (args, proc.stderr)
    # monitor without a device falls back to the demo signal and says so
    assert "demo" in proc.stderr


def test_an_unwritable_home_prints_nothing(tmp_path: Path) -> None:
    """onnxruntime's import printed a coloured telemetry warning on stderr when $HOME could not
    be written (/proc here); a clean analysis prints nothing there."""
    import os

    f = _demo_file(tmp_path / "h.wav", 4000, seconds=6.0)
    proc = subprocess.run([sys.executable, "-m", "stetho_rt", "analyze", "--no-progress", str(f)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": "/proc"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["verdict"]["windows"] > 0  # the classifier ran


def test_devices_without_portaudio_is_one_line_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-c", NO_PORTAUDIO, "devices"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "PortAudio" in proc.stderr


def test_missing_model_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    f = _demo_file(tmp_path / "m.wav", 4000, seconds=2.0)
    assert main(["analyze", "--model", str(tmp_path / "none.onnx"), str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none.onnx" in err and "not found" in err


def test_analyze_fills_windows_and_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    f = _demo_file(tmp_path / "w.wav", 4000, seconds=8.0)
    assert main(["analyze", str(f)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert len(rec["windows"]) >= 4
    w = rec["windows"][0]
    assert set(w["probs"]) == {"normal", "murmur", "artifact"}
    assert abs(sum(w["probs"].values()) - 1.0) < 1e-3 and 0.0 <= w["quality"] <= 1.0
    assert rec["verdict"]["label"] in {"normal", "murmur", "artifact"}


def test_bare_options_mean_monitor() -> None:
    proc = _run("--headless", "--demo", "--duration", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("t=")


def test_no_heart_sounds_no_heart_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """A 50 Hz hum with a burst of NaN (counted, zeroed): no S1 is heard, so there is no heart
    rate, even though the zeroed burst left a peak in the session autocorrelation (it reported
    145 bpm)."""
    t = np.arange(40000) / 4000
    x = (0.1 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    x[1000:1100] = np.nan
    path = tmp_path / "hum.wav"
    sf.write(path, x, 4000, subtype="FLOAT")
    assert main(["analyze", "--no-progress", str(path)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["nonfinite_samples"] == 100 and not rec["sounds"]
    assert rec["heart_rate_bpm"] is None


@pytest.mark.parametrize(("args", "says"), [
    (["replay", "--headless", "--duration", "-1", "F"], "--duration -1.0: must be a positive"),
    (["replay", "--headless", "--duration", "0", "F"], "--duration 0.0: must be a positive"),
    (["replay", "--headless", "--duration", "nan", "F"], "--duration nan: must be a positive"),
    (["replay", "--headless", "--speed", "1e-300", "F"], "--speed 1e-300: must be between"),
    (["replay", "--headless", "--speed", "inf", "F"], "--speed inf: must be between"),
    (["bench", "--seconds", "0"], "--seconds 0.0: must be between 1 and 3600"),
    (["bench", "--seconds", "nan"], "--seconds nan: must be between"),
    (["monitor", "--headless", "--demo", "--demo-hr", "25"], "--demo-hr 25.0: must be between 30"),
    (["monitor", "--headless", "--demo", "--rate", "100"], "--rate applies to an input device"),
    (["monitor", "--headless", "--demo", "--channel", "5"], "--channel applies to an input"),
    (["analyze", "--model", "", "F"], "--model: empty path"),
    (["analyze", "--model", "DIR", "F"], "is a folder, not a model file"),
    (["analyze", "--out", "", "F"], "--out: empty path"),
    (["monitor", "--headless", "--demo", "--record", ""], "--record: empty path"),
    (["monitor", "--headless", "--rate", "0"], "--rate 0: must be a sample rate of 1000-192000"),
    (["monitor", "--headless", "--rate", "-44100"], "--rate -44100: must be a sample rate"),
    (["monitor", "--headless", "--rate", "500"], "--rate 500: must be a sample rate"),
    (["monitor", "--headless", "--channel", "-5"], "--channel -5: must be 0 or more"),
    (["replay", "--headless", "--channel", "-1", "F"], "--channel -1: must be 0 or more"),
    (["monitor", "--headless", "--demo", "--record", "DIR/" + "c" * 240 + ".wav"],
     "File name too long"),
])
def test_option_values_no_run_can_honour_are_one_line_exit_2(
        args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each was an internal error (OverflowError, ZeroDivisionError, a --record name too long
    for the file system with its partial's suffix...), was silently accepted (a negative or NaN
    duration, the demo's ignored rate, a rate of 0 or a negative channel when no device was
    there to use them, an empty --out or --record, which wrote to stdout or recorded nothing)
    or named an internal parameter."""
    f = _demo_file(tmp_path / "d.wav", 4000, seconds=2.0)
    args = [str(f) if a == "F" else str(tmp_path) if a == "DIR"
            else a.replace("DIR/", f"{tmp_path}/") for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_record_never_overwrites_a_recording(tmp_path: Path) -> None:
    """--record to an existing file emptied it, and its events file, without a word."""
    kept = _demo_file(tmp_path / "keep.wav", 4000, seconds=2.0)
    before = kept.read_bytes()
    proc = _run("monitor", "--headless", "--demo", "--duration", "1", "--no-classifier",
                "--record", str(kept))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"stetho-rt: --record {kept}: {kept} exists already; a "
                                   "recording is never overwritten (choose another name)")
    assert kept.read_bytes() == before
    events = tmp_path / "new.wav.events.jsonl"  # an events file alone is a recording too
    events.write_text("{}\n")
    proc = _run("monitor", "--headless", "--demo", "--duration", "1", "--no-classifier",
                "--record", str(tmp_path / "new.wav"))
    assert proc.returncode == 2 and "new.wav.events.jsonl exists already" in proc.stderr
    assert events.read_text() == "{}\n" and not (tmp_path / "new.wav").exists()


def test_file_names_are_reported_as_given(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``./a.wav`` came out as ``a.wav``: a script joining records to its inputs broke."""
    _demo_file(tmp_path / "a.wav", 4000, seconds=3.0)
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "--no-progress", "--no-classifier", "./a.wav", "a.wav"]) == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in recs] == ["./a.wav", "a.wav"]


def test_a_file_name_that_is_not_utf8_is_analysed(tmp_path: Path) -> None:
    """A Latin-1 name (old USB sticks) was an internal error: soundfile encodes str as UTF-8."""
    good = _demo_file(tmp_path / "good.wav", 4000, seconds=3.0)
    latin1 = os.path.join(os.fsencode(tmp_path), b"m\xfcller.wav")
    os.link(os.fsencode(good), latin1)
    name = os.fsdecode(latin1)
    proc = _run("analyze", "--no-progress", "--no-classifier", name)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert rec["file"] == name and rec["duration_s"] == pytest.approx(3.0)
    rec_path = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"r\xfc.wav"))
    proc = _run("monitor", "--headless", "--demo", "--duration", "1", "--no-classifier",
                "--record", rec_path)
    assert proc.returncode == 0, proc.stderr
    assert sf.info(os.fsencode(rec_path)).frames > 0


def test_a_valid_mp3_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """libmpg123 printed 'error: part2_3_length ... too large' for a valid MP3 (the tail check's
    seek) although the file was read correctly."""
    mp3 = _demo_file(tmp_path / "g.mp3", 8000, seconds=6.0)
    proc = _run("analyze", "--no-progress", "--no-classifier", str(mp3))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["duration_s"] == pytest.approx(6.0, abs=0.1)


def _batch(tmp_path: Path, n: int) -> list[str]:
    first = _demo_file(tmp_path / "b0.wav", 4000, seconds=20.0)
    names = [str(first)]
    for i in range(1, n):
        names.append(str(tmp_path / f"b{i}.wav"))
        os.link(first, names[-1])
    return names


def _children(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids]


def _start_batch(tmp_path: Path, names: list[str]) -> subprocess.Popen[str]:
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "stetho_rt", "analyze", "--no-progress",
                             "--no-classifier", "-j", "2", "-o", str(out), *names],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_text().count("\n") >= 2):  # workers are running
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc


def test_a_worker_that_dies_does_not_end_the_batch(tmp_path: Path) -> None:
    """A worker killed mid-batch (out of memory, kill -9) ended the whole run with an internal
    error (BrokenProcessPool) and no record for the files left."""
    names = _batch(tmp_path, 60)
    proc = _start_batch(tmp_path, names)
    workers = [k for k in _children(proc.pid)
               if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["file"] for r in recs] == names
    assert proc.returncode == 0 and all("error" not in r for r in recs), err


def test_sigterm_stops_the_batch_and_its_workers(tmp_path: Path) -> None:
    """SIGTERM to the parent left both spawn workers running on, orphaned, for minutes."""
    names = _batch(tmp_path, 200)
    proc = _start_batch(tmp_path, names)
    kids = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert all(json.loads(x)["file"] in names for x in lines)  # whole records only
    assert err.strip() == (f"stetho-rt: interrupted after {len(lines)} of 200 files "
                           "(their records are written)")
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{k}").exists() and "Z" not in _state(k) for k in kids):
        assert time.monotonic() < deadline, "a worker outlived the batch"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _dies_on_kill(path: str) -> tuple[dict[str, object], bool]:
    """A pool worker's job for the test below: "kill*" ends its process, "slow*" takes 1 s."""
    name = Path(path).name
    if name.startswith("kill"):
        os._exit(3)
    if name.startswith("flaky"):  # kills its worker on its first two runs only
        runs = len(list(Path(path).parent.glob(name + ".run*")))
        Path(f"{path}.run{runs}").touch()
        if runs < 2:
            os._exit(3)
    if name.startswith("slow"):
        time.sleep(1.0)
    if name.startswith("diesafter"):  # its worker dies just after it returned, while idle
        import threading

        threading.Timer(0.1, os._exit, (3,)).start()
    return {"file": path}, False


def test_only_the_file_that_kills_its_worker_is_blamed() -> None:
    """The first unfinished file in input order was blamed for a break: a healthy slow file
    running beside the killer got the error record and exit code 1."""
    from stetho_rt.commands.analyze import _records

    files = ["slow1.wav", "kill.wav", "ok1.wav", "slow2.wav", "ok2.wav"]
    out = list(_records(files, 2, _dies_on_kill))
    assert [r["file"] for r, _ in out] == files
    assert [bool(crashed) for _, crashed in out] == [False, True, False, False, False]
    assert "ended unexpectedly" in str(out[1][0]["error"])


def test_a_mid_stream_error_names_the_file_as_given(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The record kept ``./mid.flac`` but its error said ``mid.flac``."""
    flac = _damage_middle(_demo_file(tmp_path / "mid.flac", 4000, seconds=20.0), seed=1)
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "--no-progress", "--no-classifier", "./mid.flac"]) == 2
    rec = json.loads(capsys.readouterr().out)
    assert flac.exists() and rec["file"] == "./mid.flac"
    assert rec["error"].startswith("./mid.flac: "), rec["error"]


def test_a_file_that_kills_twice_then_runs_is_not_blamed(tmp_path: Path) -> None:
    """Two breaks send the batch into one-at-a-time runs; a file that then runs alone is not
    blamed, and after ``jobs + 2`` quiet files the batch returns to a full pool."""
    from stetho_rt.commands.analyze import _records

    files = [str(tmp_path / "flaky.wav"), *(f"ok{k}.wav" for k in range(8))]
    out = list(_records(files, 2, _dies_on_kill))
    assert [r["file"] for r, _ in out] == files
    assert not any(crashed for _, crashed in out)
    assert len(list(tmp_path.glob("flaky.wav.run*"))) == 3


def test_an_idle_worker_that_dies_between_files_does_not_end_the_batch(tmp_path: Path) -> None:
    """One at a time, the next file went to the idle worker outside the guard: a worker killed
    between two files (out of memory, a kill) raised BrokenProcessPool out of the batch."""
    from stetho_rt.commands.analyze import _records

    files = [str(tmp_path / "flaky.wav"), "diesafter.wav", "ok1.wav", "ok2.wav", "ok3.wav"]
    out = []
    for record in _records(files, 2, _dies_on_kill):  # two breaks: one at a time from here
        out.append(record)
        if record[0]["file"] == "diesafter.wav":
            time.sleep(0.6)  # its worker is gone before the next file is sent
    assert [r["file"] for r, _ in out] == files
    assert not any(crashed for _, crashed in out)


def test_an_interrupt_outside_the_batch_loop_says_so(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C before the batch's own handler runs (while modules load) ended with exit 130 and
    no word; it now says it was interrupted, in one line."""
    import stetho_rt.commands.analyze as analyze

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(analyze, "run_analyze", interrupted)
    assert main(["analyze", "x.wav"]) == 130
    assert capsys.readouterr().err == "stetho-rt: interrupted\n"


def test_a_file_name_with_a_newline_still_gives_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The error echoed the name as given, and a name holding a newline (or an escape
    sequence) broke the one-line error in two; control characters are shown escaped now."""
    name = str(tmp_path / "nl\nname\x1b[2J.wav")
    assert main(["analyze", "--no-progress", name]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "nl\\nname\\x1b[2J.wav" in err, err


def test_an_interrupt_a_library_swallowed_is_still_an_interrupt(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while numba compiled (llvmlite's callback prints the KeyboardInterrupt and drops
    it) or while onnxruntime initialised came out as "internal error: RuntimeError: no
    compiled object yet..." or "ImportError: initialization failed", exit 1. The interrupt is
    noted when it arrives, so the error it turned into is reported as the interrupt, exit 130;
    the handler is Python's own again afterwards."""
    import contextlib
    import signal

    import stetho_rt.commands.analyze as analyze

    def swallowed(args: object) -> int:
        with contextlib.suppress(KeyboardInterrupt):  # what the library did
            signal.raise_signal(signal.SIGINT)
        raise RuntimeError("no compiled object yet for <Library 'sos_sample'>")

    monkeypatch.setattr(analyze, "run_analyze", swallowed)
    # Python's own handler, as in a terminal (a job started in the background of a script,
    # like CI, inherits SIGINT ignored: then nothing is wrapped, and nothing needs to be)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["analyze", "x.wav"]) == 130
        assert capsys.readouterr().err == "stetho-rt: interrupted\n"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)

    def failing(args: object) -> int:  # without an interrupt it is the internal error it is
        raise RuntimeError("boom")

    monkeypatch.setattr(analyze, "run_analyze", failing)
    assert main(["analyze", "x.wav"]) == 1
    assert "internal error: RuntimeError: boom" in capsys.readouterr().err


def test_the_dashboard_without_a_terminal_is_one_line_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Started with standard error (where Textual draws) or input redirected, the dashboard
    wrote escape codes into the file and never ended; it is refused, before any source opens.
    Standard output may be redirected (nothing is drawn there)."""
    import stetho_rt.commands.live as live

    f = _demo_file(tmp_path / "d.wav", 4000, seconds=2.0)
    for ttys in ({1, 2}, {0, 1}):  # stdin redirected; stderr redirected
        monkeypatch.setattr(live.os, "isatty", lambda fd, ttys=ttys: fd in ttys)
        assert main(["replay", str(f)]) == 2
        err = capsys.readouterr().err
        assert err == ("stetho-rt: the dashboard needs a terminal (standard input and error are "
                       "not one); use --headless for a status line per second\n")


def test_argument_errors_and_messages_stay_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse echoed an unknown option with its newline, and a message holding a Unicode line
    separator or a C1 control read as two lines; they are shown escaped."""
    from stetho_rt.errors import one_line, say

    with pytest.raises(SystemExit) as exit_:
        main(["analyze", "a.wav", "--bo\ngus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--bo\\ngus" in err, err
    say("a\u2028b\x85c\x9b[2Jd é ü 名前")
    err = capsys.readouterr().err
    assert err == "stetho-rt: a\\u2028b\\x85c\\x9b[2Jd é ü 名前\n"
    assert one_line("tab\tkept") == "tab\tkept"


def test_an_interrupt_while_the_command_line_loads_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The console script imported ``stetho_rt.cli`` (and parsed the arguments) outside any
    handler: a Ctrl-C in those first tens of milliseconds printed a KeyboardInterrupt traceback
    (28 of 60 interrupts sent 0-118 ms after start). The entry point imports and runs it inside
    a guard: one line, exit 130."""
    import stetho_rt.cli as cli
    from stetho_rt.errors import EXIT_INTERRUPTED
    from stetho_rt.launch import EXIT_INTERRUPTED as launch_exit
    from stetho_rt.launch import main as launch_main

    assert launch_exit == EXIT_INTERRUPTED

    def interrupted_while_parsing() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", interrupted_while_parsing)
    assert launch_main() == 130
    assert capsys.readouterr().err == "stetho-rt: interrupted\n"
    monkeypatch.setattr(cli, "main", lambda: 7)  # otherwise the command line's own code
    assert launch_main() == 7


def test_the_console_script_enters_through_the_guard() -> None:
    """``stetho-rt`` and ``python -m stetho_rt`` both start at :func:`stetho_rt.launch.main`."""
    import tomllib

    repo = Path(__file__).resolve().parent.parent
    scripts = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"stetho-rt": "stetho_rt.launch:main"}
    assert "from stetho_rt.launch import main" in (repo / "stetho_rt" / "__main__.py").read_text()


def test_signals_inside_a_record_write_are_deferred_to_its_end() -> None:
    """SIGINT or SIGTERM arriving while a record is written and counted is raised only after
    it; a signal mask did not hold with the pool's threads alive (the kernel handed the signal
    to one of them and CPython ran the handler in the main thread inside the section)."""
    import signal
    import threading

    from stetho_rt.commands.analyze import _signals_held

    alive = threading.Event()
    helper = threading.Thread(target=alive.wait, daemon=True)  # a thread besides main, as -j
    helper.start()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            before = signal.getsignal(sig)
            reached_end = False
            with pytest.raises(KeyboardInterrupt), _signals_held(True):
                signal.raise_signal(sig)
                reached_end = True
            assert reached_end and signal.getsignal(sig) is before
    finally:
        alive.set()
        helper.join()
