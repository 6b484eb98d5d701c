"""Frame cost of the dashboard: ``bench_render()`` (or ``python -m stetho_rt.ui.bench``).

For each terminal size the dashboard runs headless over a :class:`SyntheticPipeline`, then,
outside the event loop so nothing else interleaves, it times every frame of a sequence of
distinct snapshots (precomputed, so making them is not counted):

Times are thread CPU time (other processes on a shared machine do not count); ``calibration_us``
gives this machine's speed for scaling.

- ``draw_ms``: the dashboard's own work for one new snapshot: numpy to braille/half-block Strips
  for the three signal panels, heart-rate, classifier, level and status updates;
- ``frame_ms``: ``draw_ms`` plus Textual's share of a frame: compositing the dirty widgets
  (borders, styles, the text widgets' render) and turning the update into terminal escape codes
  (writing them to the terminal is not included).

Also ``mem_growth_kib``: Python heap growth (tracemalloc) over ``frames`` frames with a new
snapshot every frame, after as many frames of warm-up; flat means no growth with stream time.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from stetho_rt.snapshot import Snapshot
from stetho_rt.ui.app import StethoApp
from stetho_rt.ui.synthetic import SyntheticPipeline, synthetic_snapshot

SIZES: tuple[tuple[int, int], ...] = ((120, 40), (80, 24))


def _frame(app: StethoApp, snap: Snapshot, composite: bool) -> float:
    """CPU time of one frame of ``snap`` [s] (draw, and optionally composite + encode).

    Thread CPU time, not wall time, so other processes on a shared machine do not count.
    """
    t0 = time.thread_time()
    app.shown = snap
    app._draw(snap)
    app._update_status()
    if composite:
        # what the next idle does: repaint the widgets that asked for it, composite, encode
        screen = app.screen
        dirty = {w for w in screen.walk_children() if w._repaint_required}
        for widget in dirty:
            widget._repaint_required = False
        screen._compositor.update_widgets(dirty)
        update = screen._compositor.render_update(full=False)
        if update is not None:
            update.render_segments(app.console)  # type: ignore[attr-defined]
    return time.thread_time() - t0


def _calibration_us() -> float:
    """CPU time of ``sum(range(1000))`` [µs], best of 200: about 8 on a typical 2024 core."""
    best = float("inf")
    for _ in range(200):
        t0 = time.thread_time_ns()
        sum(range(1000))
        best = min(best, time.thread_time_ns() - t0)
    return round(best / 1000.0, 1)


def _stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in seconds)
    return {
        "median": round(statistics.median(ms), 3),
        "p95": round(ms[int(0.95 * (len(ms) - 1))], 3),
        "max": round(ms[-1], 3),
    }


async def _bench_size(size: tuple[int, int], snaps: list[Snapshot], frames: int) -> dict[str, Any]:
    app = StethoApp(SyntheticPipeline(t0=snaps[0].stream_time_s), fps=1.0)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for snap in snaps[:5]:  # warm caches (styles, colour tables)
            _frame(app, snap, True)
        draw = [_frame(app, snaps[i % len(snaps)], False) for i in range(frames)]
        frame = [_frame(app, snaps[i % len(snaps)], True) for i in range(frames)]
        tracemalloc.start()
        for i in range(2 * frames):  # the first half fills Textual's and rich's bounded caches
            if i == frames:
                gc.collect()
                base = tracemalloc.get_traced_memory()[0]
            _frame(app, snaps[i % len(snaps)], True)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        visible = [p.id for p in app._plots if p.display]
    return {
        "draw_ms": _stats(draw),
        "frame_ms": _stats(frame),
        "mem_growth_kib": round(growth / 1024, 1),
        "panels": visible,
    }


def bench_render(
    sizes: Sequence[tuple[int, int]] = SIZES, frames: int = 200, distinct: int = 50
) -> dict[str, Any]:
    """Per-frame render cost of the dashboard at each terminal size.

    Parameters
    ----------
    sizes : sequence of (width, height)
        Terminal sizes in cells.
    frames : int
        Frames timed per measurement.
    distinct : int
        Distinct snapshots cycled through (40 ms of stream time apart, like 25 fps).

    Returns
    -------
    dict
        ``{"WxH": {"draw_ms": {...}, "frame_ms": {...}, "mem_growth_kib": float,
        "panels": [...]}, "frames": int}`` with median, p95 and max per frame in ms.
    """
    snaps = [synthetic_snapshot(12.0 + 0.04 * i) for i in range(distinct)]
    out: dict[str, Any] = {"frames": frames, "calibration_us": _calibration_us()}
    for size in sizes:
        out[f"{size[0]}x{size[1]}"] = asyncio.run(_bench_size(size, snaps, frames))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(bench_render(), indent=2))
