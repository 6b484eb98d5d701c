"""Dashboard cost and latency on this machine: frame cost, CPU share, sample-to-screen latency.

Usage::

    .venv/bin/python tools/measure_ui.py [--json] [--fps 30] [--bursts 10]

prints a table (to stderr with ``--json``, which writes the figures as JSON to stdout).

About 2 minutes. Sections:

1. **Frame render cost** at 120x40 and 80x24: :func:`stetho_rt.ui.bench.bench_render` (thread CPU
   time per frame: our drawing, and the full frame with Textual's composite + encode).
2. **CPU share** of the whole process at ``--fps`` (``STETHO_RT_UI_FPS``): the real console script
   ``stetho-rt replay <recording> --loop`` in a 120x40 tmux terminal, utime+stime of the process
   (all threads) from ``/proc/<pid>/stat`` over a 10 s window after a 5 s warm-up, in % of one
   core; the same for ``--headless`` (pipeline only) and for the tmux server (the terminal).
3. **Latency**, sample written to the FIFO -> on screen, through a real PortAudio device: the
   virtual capture device (``tests/virtual_device.py``: private PulseAudio, FIFO pipe-source,
   48 kHz) is run by a child process (its feeder thread must not share our GIL) that feeds one
   looped signal: 1.5 s silence, a real recording, 1.5 s silence, then ``--bursts`` loud 200 ms
   tone bursts 1.2 s apart, then silence; it logs when each FIFO write happened (monotonic clock,
   shared between processes). In this process the dashboard runs headless (``App.run_test``,
   120x40) on a :class:`~stetho_rt.io.device.DeviceSource` (``pulse``, 48 kHz), with probes:
   the ring's ``write`` (PortAudio callback), the level meter (DSP thread), ``_publish``
   (snapshot), ``poll`` (UI) and ``_display`` (screen update; headless Textual skips the terminal
   encoding, so the probe performs it, ``render_segments``, before stamping: only the write to
   the tty is missing). Per burst: FIFO -> callback -> DSP -> publish -> poll -> drawn -> screen.
   S1/S2 marks: the detector's decision latency (``decided_s - offset_s``) on the recording, added
   to the level latency; and measured directly: the FIFO write time of each sound's last sample
   (stream sample -> FIFO frame through the bursts' offset) to the frame that first shows it.

The machine may be shared: the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from _paths import data_dir  # noqa: E402

CONSOLE = ROOT / ".venv" / "bin" / "stetho-rt"
RECORDING = "physionet2016/a0405.flac"
SIZE = (120, 40)
RATE = 48000
WARMUP_S = 5.0
WINDOW_S = 10.0
BURST_S = 0.2
BURST_PERIOD_S = 1.2
BURST_AMP = 0.5
LEAD_SILENCE_S = 1.5
LOUD_DBFS = -20.0
LOUD_AMP = 10 ** (LOUD_DBFS / 20)


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def stats_ms(seconds: list[float]) -> dict[str, Any]:
    ms = [1000.0 * s for s in seconds]
    p50, p95 = pct(ms, 50), pct(ms, 95)
    return {"p50": None if p50 is None else round(p50, 1),
            "p95": None if p95 is None else round(p95, 1), "n": len(ms)}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------------------- 1. frame cost
def measure_frames(frames: int) -> dict[str, Any]:
    from stetho_rt.ui.bench import bench_render

    return bench_render(frames=frames)


# ---------------------------------------------------------------------------- 2. CPU share
def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads) [s]."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat.rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pids: dict[str, int], warmup: float, window: float) -> dict[str, float]:
    """% of one core each process used over ``window`` s, after ``warmup`` s."""
    time.sleep(warmup)
    t0 = time.monotonic()
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    time.sleep(window)
    c1 = {k: cpu_seconds(p) for k, p in pids.items()}
    dt = time.monotonic() - t0
    return {k: round(100.0 * (c1[k] - c0[k]) / dt, 1) for k in pids}


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def measure_cpu(recording: Path, fps: float) -> dict[str, Any]:
    from tests.ui.tmux import Tmux

    out: dict[str, Any] = {"fps": fps, "warmup_s": WARMUP_S, "window_s": WINDOW_S,
                           "size": f"{SIZE[0]}x{SIZE[1]}"}
    cmd = [str(CONSOLE), "replay", str(recording), "--loop"]
    with Tmux(cmd, width=SIZE[0], height=SIZE[1], env={"STETHO_RT_UI_FPS": f"{fps:g}"},
              cwd=ROOT) as tm:
        tm.wait_for(r"▶ LIVE │", timeout=90, interval=0.2)
        pane = int(tm._tmux("display-message", "-p", "-t", tm.target, "#{pane_pid}").stdout)
        server = int(tm._tmux("display-message", "-p", "#{pid}").stdout)
        app_pid = next(p for p in _children(pane)
                       if "stetho-rt" in Path(f"/proc/{p}/cmdline").read_text())
        share = cpu_share({"app": app_pid, "tmux": server}, WARMUP_S, WINDOW_S)
        screen = tm.capture()
        tm.send_keys("q")
        with contextlib.suppress(TimeoutError):
            tm.wait_for(r"\[exit \d+\]", timeout=15)
    out["dashboard_pct"] = share["app"]
    out["tmux_server_pct"] = share["tmux"]
    out["live_on_screen"] = "▶ LIVE" in screen
    proc = subprocess.Popen([*cmd, "--headless"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first status line: the pipeline runs
        if not first.startswith("t="):
            raise RuntimeError(f"headless replay did not start: {first!r}")
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        out["headless_pct"] = cpu_share({"p": proc.pid}, WARMUP_S, WINDOW_S)["p"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    out["ui_pct"] = round(out["dashboard_pct"] - out["headless_pct"], 1)
    return out


# ---------------------------------------------------------------------------- 3. latency
def build_feed(recording: Path, bursts: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The fed signal at :data:`RATE` and where its parts start [FIFO frames]."""
    from fractions import Fraction

    import soundfile as sf
    from scipy.signal import resample_poly

    x, file_rate = sf.read(str(recording), dtype="float32", always_2d=True)
    mono = x.mean(axis=1)
    if file_rate != RATE:
        ratio = Fraction(RATE, int(file_rate))
        mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
    lead = np.zeros(int(LEAD_SILENCE_S * RATE), np.float32)
    period = int(BURST_PERIOD_S * RATE)
    n_burst = int(BURST_S * RATE)
    t = np.arange(n_burst) / RATE
    tone = (BURST_AMP * np.cos(2 * np.pi * 220.0 * t)).astype(np.float32)  # loud from sample 0
    train = np.zeros(bursts * period, np.float32)
    for k in range(bursts):
        train[k * period : k * period + n_burst] = tone
    parts = [lead, mono, lead, train, lead]
    rec_start = lead.shape[0]
    burst0 = rec_start + mono.shape[0] + lead.shape[0]
    plan = {
        "recording_start": rec_start,
        "recording_frames": int(mono.shape[0]),
        "bursts": [burst0 + k * period for k in range(bursts)],
        "total": int(sum(p.shape[0] for p in parts)),
    }
    return np.concatenate(parts), plan


def feeder_main(recording: Path, bursts: int) -> int:
    """Child process: run the virtual device, feed on "go", log FIFO write times, stop on EOF."""
    from tests.virtual_device import VirtualDevice, pulseaudio_available

    reason = pulseaudio_available()
    if reason is not None:
        print(json.dumps({"error": reason}), flush=True)
        return 1
    feed, plan = build_feed(recording, bursts)
    vd = VirtualDevice()
    try:
        vd.start(RATE, 1)
        print(json.dumps({"env": vd.env, "plan": plan}), flush=True)
        if sys.stdin.readline().strip() == "go":
            vd.drain()
            vd.feed(feed, paced=True, loop=True)
            log: list[tuple[float, int]] = []
            last = -1
            deadline = time.monotonic() + plan["total"] / RATE + 20.0
            while time.monotonic() < deadline:
                f = vd.fed_frames
                if f != last:
                    log.append((time.monotonic(), f))
                    last = f
                    if f >= plan["total"]:
                        break
                time.sleep(0.0005)
            print(json.dumps({"log": log}), flush=True)
            sys.stdin.readline()  # "quit" or EOF: keep feeding silence until the parent is done
    finally:
        vd.stop()
    return 0


class Probe:
    """Time stamps (time.monotonic) of the probes, one list per stage."""

    def __init__(self) -> None:
        self.callback: list[tuple[float, int]] = []  # (time, stream index of 1st loud sample)
        self.dsp: list[float] = []
        self.publish: list[tuple[float, float]] = []  # (time, snapshot.latency_s)
        self.poll: list[tuple[float, float]] = []  # (poll start, poll end)
        self.screen: list[float] = []
        self.sounds: dict[tuple[str, float], dict[str, float]] = {}


def install_pipeline_probes(pipe: Any, probe: Probe) -> None:
    """Wrap the ring's write (PortAudio thread), the level meter (DSP thread), and _publish."""
    ring = pipe.ring
    orig_write = ring.write
    ctr = ring._ctr
    state = {"cb": False, "dsp": False, "pub": False}

    def write(block: np.ndarray) -> int:
        t = time.monotonic()
        pos = int(ctr[0]) + int(ctr[2])
        loud = block.shape[0] > 0 and max(float(block.max()), -float(block.min())) > LOUD_AMP
        if loud and not state["cb"]:
            first = int(np.argmax(np.abs(block) > LOUD_AMP))
            probe.callback.append((t, pos + first))
        state["cb"] = loud
        return orig_write(block)

    ring.write = write  # read by DeviceSource when it opens the stream (pipe.start)
    meter = pipe.meter
    orig_process = meter.process

    def process(x: np.ndarray) -> np.ndarray | None:
        bad = orig_process(x)  # the pipeline marks the zeroed samples from it
        loud = meter.peak > LOUD_AMP
        if loud and not state["dsp"]:
            probe.dsp.append(time.monotonic())
        state["dsp"] = loud
        return bad

    meter.process = process
    orig_publish = pipe._publish

    def publish(**kw: Any) -> None:
        orig_publish(**kw)
        snap = pipe._snapshot
        loud = snap.level.peak_dbfs > LOUD_DBFS
        if loud and not state["pub"]:
            probe.publish.append((snap.published_monotonic, snap.latency_s))
        state["pub"] = loud

    pipe._publish = publish


def probe_app_class() -> type:
    from textual._compositor import CompositorUpdate

    from stetho_rt.ui.app import StethoApp

    class ProbeApp(StethoApp):
        """The dashboard, stamping when a loud level / a new S1-S2 reaches the screen."""

        CSS_PATH = str(ROOT / "stetho_rt" / "ui" / StethoApp.CSS_PATH)  # not relative to tools/

        def __init__(self, pipe: Any, probe: Probe, fps: float) -> None:
            super().__init__(pipe, fps=fps)
            self.probe = probe
            self._loud = False
            self._pending_level = False
            self._pending_sounds: list[tuple[str, float]] = []

        def poll(self) -> None:
            t0 = time.monotonic()
            before = self.shown
            super().poll()
            snap = self.shown
            if snap is None or snap is before:
                return
            t1 = time.monotonic()
            loud = snap.level.peak_dbfs > LOUD_DBFS
            if loud and not self._loud:
                self.probe.poll.append((t0, t1))
                self._pending_level = True
            self._loud = loud
            for s in snap.sounds:
                key = (s.kind, round(s.onset_s, 4))
                if key not in self.probe.sounds:
                    self.probe.sounds[key] = {"offset_s": s.offset_s, "decided_s": s.decided_s,
                                              "poll": t1}
                    self._pending_sounds.append(key)

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is None or not (self._pending_level or self._pending_sounds):
                return
            if isinstance(renderable, CompositorUpdate) and self.is_headless:
                renderable.render_segments(self.console)  # what a real terminal run encodes
            t = time.monotonic()
            if self._pending_level:
                self.probe.screen.append(t)
                self._pending_level = False
            for key in self._pending_sounds:
                self.probe.sounds[key]["screen"] = t
            self._pending_sounds.clear()

    return ProbeApp


def _first_after(times: list[float], t: float, limit: float) -> float | None:
    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) and times[i] < limit else None


def measure_latency(recording: Path, bursts: int, fps: float) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--_feeder", "--recording", str(recording),
         "--bursts", str(bursts)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in child.stdout], daemon=True).start()
    try:
        hello = json.loads(lines.get(timeout=30))
        if "error" in hello:
            return {"error": f"virtual device unavailable: {hello['error']}"}
        for k, v in hello["env"].items():
            os.environ[k] = v
        if "sounddevice" in sys.modules:  # PortAudio lists devices once: list them again
            from tests.virtual_device import reinit_portaudio

            reinit_portaudio()
        return asyncio.run(_latency_run(child, lines, hello["plan"], fps))
    finally:
        with contextlib.suppress(OSError):
            child.stdin.write("quit\n")
            child.stdin.close()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


async def _latency_run(child: subprocess.Popen[str], lines: queue.Queue[str],
                       plan: dict[str, Any], fps: float) -> dict[str, Any]:
    from stetho_rt.config import PipelineConfig
    from stetho_rt.io.device import open_device_source
    from stetho_rt.pipeline import Pipeline

    cfg = PipelineConfig()
    src = open_device_source(
        argparse.Namespace(device="pulse", rate=RATE, channel=None, record=None), cfg)
    pipe = Pipeline(src, cfg, live=True)
    probe = Probe()
    install_pipeline_probes(pipe, probe)
    app = probe_app_class()(pipe, probe, fps)
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 60
        while src.status != "running" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if src.status != "running":
            return {"error": f"device did not open: {src.status} {src.problem}"}
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        loop = asyncio.get_running_loop()
        msg = await loop.run_in_executor(None, lambda: lines.get(timeout=plan["total"] / RATE + 40))
        await asyncio.sleep(1.0)  # the last burst reaches the screen
        await pilot.pause()
        snap = pipe.snapshot
        gaps, dropped = pipe.gaps, snap.dropped_samples
    log = json.loads(msg)["log"]
    log_t = [t for t, _ in log]
    log_f = [f for _, f in log]

    def written_at(frame: int) -> float | None:
        """When FIFO frame ``frame`` (0-based) had been written."""
        i = bisect.bisect_right(log_f, frame)
        return log_t[i] if i < len(log_t) else None

    cb_t = [t for t, _ in probe.callback]
    pub_t = [t for t, _ in probe.publish]
    poll_t = [t for t, _ in probe.poll]
    stages: dict[str, list[float]] = {k: [] for k in (
        "fifo_to_callback", "callback_to_dsp", "dsp_to_publish", "publish_to_screen",
        "publish_to_poll", "poll_draw", "composite_encode", "total", "app_estimate")}
    offsets = []
    for k, frame in enumerate(plan["bursts"]):
        w = written_at(frame)
        if w is None:
            continue
        limit = w + BURST_PERIOD_S
        cb = _first_after(cb_t, w, limit)
        dsp = _first_after(probe.dsp, cb or w, limit)
        pub = _first_after(pub_t, dsp or w, limit)
        pol = _first_after(poll_t, pub or w, limit)
        scr = _first_after(probe.screen, pol or w, limit)
        if None in (cb, dsp, pub, pol, scr):
            print(f"burst {k}: incomplete trace", file=sys.stderr)
            continue
        offsets.append(probe.callback[cb_t.index(cb)][1] - frame)
        poll_end = probe.poll[poll_t.index(pol)][1]
        stages["fifo_to_callback"].append(cb - w)
        stages["callback_to_dsp"].append(dsp - cb)
        stages["dsp_to_publish"].append(pub - dsp)
        stages["publish_to_screen"].append(scr - pub)
        stages["publish_to_poll"].append(pol - pub)
        stages["poll_draw"].append(poll_end - pol)
        stages["composite_encode"].append(scr - poll_end)
        stages["total"].append(scr - w)
        stages["app_estimate"].append(probe.publish[pub_t.index(pub)][1])
    out: dict[str, Any] = {"fps": fps, "bursts": len(plan["bursts"]),
                           "stages_ms": {k: stats_ms(v) for k, v in stages.items()},
                           "gaps": gaps, "dropped_samples": dropped}
    if offsets:
        out["stream_minus_fifo_frames"] = {"median": int(np.median(offsets)),
                                           "spread": int(max(offsets) - min(offsets))}
    # S1/S2 on the recording: decision latency, and sample -> mark on screen measured directly
    decision, direct = [], []
    if offsets:
        off = int(np.median(offsets))
        lo = plan["recording_start"] + off
        hi = lo + plan["recording_frames"]
        for s in probe.sounds.values():
            end = round(s["offset_s"] * RATE)
            if not lo <= end < hi:
                continue
            decision.append(s["decided_s"] - s["offset_s"])
            w = written_at(end - off)
            if w is not None and "screen" in s:
                direct.append(s["screen"] - w)
    out["decision_ms"] = stats_ms(decision)
    out["mark_direct_ms"] = stats_ms(direct)
    lvl, dec = out["stages_ms"]["total"], out["decision_ms"]
    out["mark_sum_ms"] = {q: (None if lvl[q] is None or dec[q] is None else
                              round(lvl[q] + dec[q], 1)) for q in ("p50", "p95")}
    return out


# ---------------------------------------------------------------------------- report
def fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)


def print_table(res: dict[str, Any], file: Any = None) -> None:
    out = functools.partial(print, file=file or sys.stdout)
    out(f"stetho-rt UI measurements  ({os.cpu_count()} cores; load average "
          f"{res['load_start']} at start, {res['load_end']} at end; {res['elapsed_s']:.0f} s)")
    fr = res.get("frames")
    if fr:
        out(f"\n1. Frame render cost, CPU ms/frame (bench_render, {fr['frames']} frames, "
              f"calibration {fr['calibration_us']} µs)")
        out(f"   {'size':8} {'draw p50':>9} {'draw p95':>9} {'frame p50':>10} {'frame p95':>10}"
              "   (frame = draw + Textual composite + encode)")
        for size in ("120x40", "80x24"):
            d, f = fr[size]["draw_ms"], fr[size]["frame_ms"]
            out(f"   {size:8} {d['median']:9.2f} {d['p95']:9.2f} {f['median']:10.2f} "
                  f"{f['p95']:10.2f}")
    cpu = res.get("cpu")
    if cpu:
        out(f"\n2. CPU, % of one core (utime+stime, all threads, {cpu['window_s']:.0f} s after "
              f"{cpu['warmup_s']:.0f} s warm-up; replay --loop, {cpu['size']} tmux, "
              f"{cpu['fps']:g} fps)")
        out(f"   dashboard {cpu['dashboard_pct']:5.1f}   headless {cpu['headless_pct']:5.1f}"
              f"   UI share {cpu['ui_pct']:5.1f}   (tmux server {cpu['tmux_server_pct']:.1f})")
    lat = res.get("latency")
    if lat and "error" in lat:
        out(f"\n3. Latency: {lat['error']}")
    elif lat:
        st = lat["stages_ms"]
        out(f"\n3. Latency, ms (virtual device 48 kHz -> PortAudio 'pulse' -> dashboard "
              f"{SIZE[0]}x{SIZE[1]} at {lat['fps']:g} fps; {st['total']['n']}/{lat['bursts']} "
              f"bursts; gaps {lat['gaps']}, dropped {lat['dropped_samples']})")
        rows = [
            ("FIFO write -> PortAudio callback", "fifo_to_callback"),
            ("callback -> DSP (ring)", "callback_to_dsp"),
            ("DSP -> snapshot published", "dsp_to_publish"),
            ("snapshot -> screen", "publish_to_screen"),
            ("  publish -> UI poll", "publish_to_poll"),
            ("  poll: draw", "poll_draw"),
            ("  composite + encode", "composite_encode"),
            ("sample -> level on screen", "total"),
            ("(app's own latency_s estimate)", "app_estimate"),
        ]
        out(f"   {'stage':40} {'p50':>7} {'p95':>7}")
        for label, key in rows:
            v = st[key]
            out(f"   {label:40} {fmt(v['p50']):>7} {fmt(v['p95']):>7}")
        d, m, s = lat["decision_ms"], lat["mark_direct_ms"], lat["mark_sum_ms"]
        out(f"   {'S1/S2 decision (decided_s - offset_s)':40} {fmt(d['p50']):>7} "
              f"{fmt(d['p95']):>7}   n={d['n']}")
        out(f"   {'sample -> S1/S2 mark = level + decision':40} {fmt(s['p50']):>7} "
              f"{fmt(s['p95']):>7}")
        out(f"   {'sample -> S1/S2 mark, measured':40} {fmt(m['p50']):>7} {fmt(m['p95']):>7}"
              f"   n={m['n']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--fps", type=float, default=30.0, help="UI poll rate (default 30)")
    ap.add_argument("--bursts", type=int, default=10, help="latency bursts (default 10)")
    ap.add_argument("--frames", type=int, default=100, help="frames per bench_render figure")
    ap.add_argument("--recording", default=None,
                    help=f"recording (default $STETHO_RT_DATA or ../shared/data/{RECORDING})")
    ap.add_argument("--skip", action="append", default=[], choices=["frames", "cpu", "latency"])
    ap.add_argument("--_feeder", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    recording = Path(args.recording) if args.recording else data_dir() / RECORDING
    if args._feeder:
        return feeder_main(recording, args.bursts)
    if not recording.exists():
        print(f"recording not found: {recording} (set STETHO_RT_DATA)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    res: dict[str, Any] = {"load_start": loadavg(), "cpus": os.cpu_count(),
                           "recording": str(recording)}
    if "frames" not in args.skip:
        res["frames"] = measure_frames(args.frames)
    if "cpu" not in args.skip:
        res["cpu"] = measure_cpu(recording, args.fps)
    if "latency" not in args.skip:
        res["latency"] = measure_latency(recording, args.bursts, args.fps)
    res["load_end"] = loadavg()
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    print_table(res, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
