"""All benchmark figures of the README, measured side by side in one run on this machine.

Usage::

    .venv/bin/python tools/bench.py [--seconds 30]

Sections:

1. our whole DSP chain (resample -> band-pass -> STFT/features -> detector) fed 10 ms blocks:
   cost per block and real-time factor, per stage, from 44.1 kHz and 4 kHz input
   (``stetho_rt.benchmark``, also ``stetho-rt bench``);
2. our resampler vs ``soxr.ResampleStream`` (HQ): CPU time ratio, stop-band rejection, output
   latency and burst size (``tools/bench_resample.py``);
3. our band-pass vs per-block ``scipy.signal.sosfilt`` with carried state, and the envelope stage
   (``tools/bench_filters.py``);
4. our spectral stage vs librosa (``tools/bench_stft.py``);
5. batch ``analyze`` (detector and classifier) real-time factor on real recordings when
   ``STETHO_RT_DATA`` is present;
6. cold start: process start to the first processed block, warm numba cache.

Sections 1-4 report minima over repeats (these machines are noisy); section 5 is one pass over
the files after one warm-up file, wall clock per file and CPU time. Ratios compare runs made
seconds apart in this same process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from _paths import data_dir  # noqa: E402

from stetho_rt.benchmark import format_costs, measure_chain, measure_cold_start  # noqa: E402


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _print_dict(d: dict[str, float]) -> None:
    for k, v in d.items():
        print(f"  {k:<48} {v:>12.4g}")


def _analyze_real(limit: int = 20) -> None:
    from stetho_rt.analysis import analysis_config, analyze_file
    from stetho_rt.classify.model import OnnxClassifier

    cfg = analysis_config()
    clf = OnnxClassifier.load(None, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s)

    data = data_dir()
    if not data.exists():
        print(f"  (skipped: no data at {data})")
        return
    for sub in ("physionet2016", "circor2022", "pascal_a"):
        files = sorted((data / sub).glob("*.flac"))[:limit]
        if not files:
            continue
        analyze_file(files[0], cfg, classifier=clf)  # warm
        audio_s = wall = cpu = 0.0
        for f in files:
            rec = analyze_file(f, cfg, classifier=clf)
            if "error" in rec:
                continue
            audio_s += rec["duration_s"]
            wall += rec["timing"]["wall_s"]
            cpu += rec["timing"]["cpu_s"]
        print(f"  {sub:<14} {len(files)} files {audio_s:7.1f} s audio: "
              f"{audio_s / wall:7.0f}x real time (wall), {cpu / audio_s * 1000:6.2f} ms CPU "
              f"per s of audio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    _section("1. whole chain, 10 ms blocks, one thread")
    for rate in (44100, 4000):
        print(format_costs(rate, measure_chain(rate, args.seconds)), flush=True)

    import bench_filters
    import bench_resample
    import bench_stft

    _section("2. resampler vs soxr.ResampleStream (HQ), 10 ms blocks")
    bench_resample.main()
    _section("3. band-pass vs scipy.signal.sosfilt per 10 ms block, carried state")
    _print_dict(bench_filters.bench())
    _section("4. spectral stage vs librosa")
    _print_dict(bench_stft.bench())
    _section("5. batch analyze with the classifier, real recordings (first 20 per dataset)")
    _analyze_real()
    _section("6. cold start")
    print(f"  process start -> first processed block (warm cache): {measure_cold_start():.2f} s")
    print(f"\n(benchmark took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
