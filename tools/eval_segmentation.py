"""Score S1/S2 detection and heart rate on the real recordings (ARCHITECTURE.md §7).

Usage::

    python tools/eval_segmentation.py DATA_DIR... [--jsonl FILE] [--limit N]
        [--datasets circor2022 physionet2016 pascal_a] [--chain local|pipeline] [--per-file OUT]

``DATA_DIR`` is the data root (holding ``circor2022/``, ``physionet2016/``, ``pascal_a/``) or one of
those folders. Each recording is run through the pipeline (``stetho_rt.analysis.analyze_file``; with
``--chain local``, the same stage objects called directly: open_audio -> ResampleStage ->
BandpassStage -> S1S2Detector in 10 ms blocks, which also times the detector alone). With
``--jsonl`` the sounds, beats and heart rate of an ``analyze`` output file are scored instead.

Prints per dataset: S1, S2 and pooled precision/recall/F1 at 30/60/100 ms, heart-rate MAE and share
within 5 bpm (ARCHITECTURE.md §7: the reported recording rate against the annotated spans'
S1-S1 median), the same by the share of the recording the annotation covers and, as a
diagnostic, the detector's rate over the annotated spans only and both rates split by whether
the detector matches the annotation inside its spans (in-span F1@60 >= :data:`MATCHED_F1`, with
the count not within 5 bpm); decision latency (``decided_s - offset_s``) p50/p95, maximum and
the share over :data:`LATE_S`; CPU milliseconds per second of audio.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stetho_rt.config import DETECTOR_LOOKAHEAD_S, MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM
from stetho_rt.detect.scoring import (
    TOLERANCES_S,
    Annotation,
    Counts,
    group_by_span,
    hr_summary,
    median_rate_bpm,
    read_pascal_centres,
    read_tsv,
    score_recording,
)
from stetho_rt.dsp.resample import band_passed

DATASETS = ("physionet2016", "circor2022", "pascal_a")
LATE_S = DETECTOR_LOOKAHEAD_S + 0.01
"""Decision latency counted as late [s]: the 300 ms look-ahead bound plus the upstream stages'
latency (resampler and band-pass, about 10 ms)."""
BLOCK_S = 0.01


def find_recordings(
    roots: list[Path], datasets: tuple[str, ...]
) -> dict[str, list[tuple[Path, Annotation]]]:
    """Recordings with annotations per dataset folder name."""
    out: dict[str, list[tuple[Path, Annotation]]] = {}
    for root in roots:
        folders = [root / d for d in datasets if (root / d).is_dir()]
        if not folders and root.name in datasets:
            folders = [root]
        for folder in folders:
            items = out.setdefault(folder.name, [])
            if folder.name == "pascal_a":
                centres = folder / "segmentation_centres.csv"
                if centres.exists():
                    for name, ann in sorted(read_pascal_centres(centres).items()):
                        if (folder / name).exists():
                            items.append((folder / name, ann))
            else:
                for tsv in sorted(folder.glob("*.tsv")):
                    audio = tsv.with_suffix(".flac")
                    if audio.exists():
                        items.append((audio, read_tsv(tsv)))
    return out


def subset(items: list[Any], limit: int | None) -> list[Any]:
    """Evenly spaced ``limit`` items (deterministic), or all."""
    if not limit or limit >= len(items):
        return items
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in idx]


class LocalChain:
    """open_audio -> resample -> band-pass -> detector (the stage objects), in 10 ms blocks."""

    def __init__(self, model: Path | None = None) -> None:
        self._model = model

    def run(self, path: Path) -> dict[str, Any]:
        """Analyse one file; return an analyze-like record with ``detector_cpu_s``."""
        from stetho_rt.config import DspConfig
        from stetho_rt.detect.s1s2 import S1S2Detector
        from stetho_rt.io.audiofile import open_audio

        audio = open_audio(path)
        x = audio.read_all()
        cfg = DspConfig()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        bp, offset = band_passed(x, audio.rate, cfg)
        det = S1S2Detector(cfg, max_block=4096, time_offset_s=offset, model_path=self._model)
        blk = round(BLOCK_S * cfg.internal_rate)
        sounds, beats = [], []
        dcpu0 = time.process_time()
        for i in range(0, bp.shape[0], blk):
            o = det.process(bp[i : i + blk])
            sounds += o.sounds
            beats += o.beats
        o = det.flush()
        sounds += o.sounds
        beats += o.beats
        dcpu = time.process_time() - dcpu0
        hr = det.recording_heart_rate_bpm()
        return {
            "file": str(path),
            "duration_s": audio.duration_s,
            "sounds": [s.to_json() for s in sounds],
            "beats": [b.to_json() for b in beats],
            "heart_rate_bpm": hr,
            "timing": {
                "wall_s": time.perf_counter() - wall0,
                "cpu_s": time.process_time() - cpu0,
            },
            "detector_cpu_s": dcpu,
        }


def records_from_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    """Analyze records keyed by file name (basename)."""
    out = {}
    with open(path) as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                out[Path(rec["file"]).name] = rec
    return out


class Tally:
    """Accumulates the figures of one dataset."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, float], Counts] = {}
        self.hr_err: list[float | None] = []
        self.hr_span_err: list[float | None] = []
        self.annotated_share: list[float] = []
        self.span_f1: list[float] = []  # pooled F1 at 60 ms inside the annotated spans
        self.latency: list[float] = []
        self.cpu_s = 0.0
        self.det_cpu_s = 0.0
        self.audio_s = 0.0
        self.n = 0
        self.errors = 0

    def add(self, rec: dict[str, Any], ann: Annotation) -> dict[str, Any]:
        """Score one record; return its per-file summary."""
        self.n += 1
        if "error" in rec:
            self.errors += 1
            return {"file": rec["file"], "error": rec["error"]}
        sounds = rec.get("sounds", [])
        pairs = [(s["kind"], 0.5 * (s["onset_s"] + s["offset_s"])) for s in sounds]
        sc = score_recording(pairs, ann)
        for key, c in sc.items():
            self.counts.setdefault(key, Counts()).add(c)
        self.latency += [s["decided_s"] - s["offset_s"] for s in sounds]
        ref = ann.hr_reference_bpm()
        hr = rec.get("heart_rate_bpm")
        err = None
        dur = float(rec.get("duration_s", 0.0))
        if ref is not None:
            err = None if hr is None else abs(float(hr) - ref)
            self.hr_err.append(err)
            span_hr = span_matched_hr_bpm(pairs, ann)
            self.hr_span_err.append(None if span_hr is None else abs(span_hr - ref))
            spans = ann.spans
            covered = float((spans[:, 1] - spans[:, 0]).sum()) if spans.size else 0.0
            self.annotated_share.append(min(covered / dur, 1.0) if dur > 0 else float("nan"))
            self.span_f1.append(sc[("all", 0.060)].f1)
        self.audio_s += dur
        self.cpu_s += float(rec.get("timing", {}).get("cpu_s", 0.0))
        self.det_cpu_s += float(rec.get("detector_cpu_s", float("nan")))
        return {
            "file": Path(rec["file"]).name,
            "f1_60": round(sc[("all", 0.060)].f1, 4),
            "tp": sc[("all", 0.060)].tp,
            "n_det": sc[("all", 0.060)].n_det,
            "n_ref": sc[("all", 0.060)].n_ref,
            "hr": hr,
            "hr_ref": ref,
        }

    def _hr_diagnostics(self) -> list[str]:
        """Heart-rate error by the share of the recording the reference covers, the
        span-matched rate, and both where the detector matches the annotation
        (:data:`MATCHED_F1`): there what remains is the rate changing along the recording, not
        detection (diagnostics; the §7 figure is the line above them)."""
        if not self.hr_err:
            return []
        parts = []
        for lo, hi in ((0.0, 0.3), (0.3, 0.6), (0.6, 1.01)):
            sel = [e for e, s in zip(self.hr_err, self.annotated_share, strict=True)
                   if lo <= s < hi]
            if sel:
                hs = hr_summary(sel)
                parts.append(f"{lo * 100:.0f}-{min(hi, 1.0) * 100:.0f} %: MAE {hs['mae']:.2f}, "
                             f"{hs['within5'] * 100:.1f} % (n={int(hs['n'])})")
        sp = hr_summary(self.hr_span_err)
        return [
            "   HR by annotated share of the recording: " + "; ".join(parts),
            f"   HR span-matched (detected S1-S1 median inside the annotated spans): "
            f"MAE {sp['mae']:.2f} bpm, within 5 bpm {sp['within5'] * 100:.1f} %",
            *self._hr_where_detection_matches(),
        ]

    def _hr_where_detection_matches(self) -> list[str]:
        """The §7 rate and the span-matched rate, split by whether the detector matches the
        annotation inside its spans; ``misses`` counts recordings not within 5 bpm (no estimate
        included)."""
        lines = []
        for label, want in (("matches", True), ("does not match", False)):
            sel = [(f >= MATCHED_F1) == want for f in self.span_f1]
            errs = [e for e, m in zip(self.hr_err, sel, strict=True) if m]
            if not errs:
                continue
            rep = hr_summary(errs)
            spn = hr_summary([e for e, m in zip(self.hr_span_err, sel, strict=True) if m])
            misses = sum(1 for e in errs if e is None or e > 5.0)
            lines.append(
                f"   HR where detection {label} the annotation (F1@60 "
                f"{'>=' if want else '<'} {MATCHED_F1} in the spans, n={len(errs)}): reported "
                f"MAE {rep['mae']:.2f}, {rep['within5'] * 100:.1f} % ({misses} not within 5 bpm); "
                f"span-matched MAE {spn['mae']:.2f}, {spn['within5'] * 100:.1f} %"
            )
        return lines

    def report(self, name: str) -> str:
        """Formatted block of figures."""
        lines = [
            f"== {name}: {self.n} recordings ({self.errors} errors), {self.audio_s / 60:.1f} min"
        ]
        if self.n == 0:  # e.g. an analyze file without this dataset's recordings: no figures
            return lines[0]
        lines.append("   kind  tol_ms  precision  recall   F1")
        for kind in ("S1", "S2", "all"):
            for tol in TOLERANCES_S:
                c = self.counts.get((kind, tol), Counts())
                lines.append(
                    f"   {kind:4s}  {tol * 1000:5.0f}   {c.precision:8.4f}  {c.recall:7.4f}  "
                    f"{c.f1:6.4f}"
                )
        hs = hr_summary(self.hr_err)
        lines.append(
            f"   HR: MAE {hs['mae']:.2f} bpm, within 5 bpm {hs['within5'] * 100:.1f} %, "
            f"estimate given {hs['coverage'] * 100:.1f} % (n={int(hs['n'])})"
        )
        lines += self._hr_diagnostics()
        if self.latency:
            lat = np.asarray(self.latency)
            p50, p95 = np.percentile(lat, [50, 95])
            late = int(np.count_nonzero(lat > LATE_S))
            lines.append(f"   decision latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                         f"max {lat.max() * 1000:.0f} ms; over {LATE_S * 1000:.0f} ms: {late} of "
                         f"{lat.size} ({100 * late / lat.size:.2f} %)")
        if self.audio_s:
            det = self.det_cpu_s / self.audio_s * 1000
            det_text = (f"{det:.2f} ms per s" if np.isfinite(det)
                        else "n/a (timed only by --chain local)")
            lines.append(
                f"   CPU {self.cpu_s / self.audio_s * 1000:.2f} ms per s of audio (chain); "
                f"detector {det_text}"
            )
        return "\n".join(lines)


MATCHED_F1 = 0.95
"""In-span pooled F1 at 60 ms from which a recording's detection counts as matching the annotation
(heart-rate diagnostic)."""


def span_matched_hr_bpm(pairs: list[tuple[str, float]], ann: Annotation) -> float | None:
    """60 / median interval between consecutive detected S1s inside the same annotated span.

    A diagnostic beside the §7 figure: the reference rate describes the annotated spans only
    (often a few seconds of a CirCor recording), the reported ``heart_rate_bpm`` the whole
    recording; this is the detector's own rate over the reference's time span.
    """
    s1 = np.array([t for k, t in pairs if k == "S1"])
    rr_range = (60.0 / MAX_HEART_RATE_BPM, 60.0 / MIN_HEART_RATE_BPM)
    return median_rate_bpm(group_by_span(s1, ann.spans), rr_range)


def iter_records(
    items: list[tuple[Path, Annotation]], args: argparse.Namespace, jsonl: dict[str, Any] | None
) -> Iterator[tuple[dict[str, Any], Annotation]]:
    """(record, annotation) per recording, from the JSONL file or by running the pipeline."""
    runner = None
    if jsonl is None:
        if args.chain == "pipeline":
            from stetho_rt.analysis import analyze_file

            runner = analyze_file
        else:
            runner = LocalChain(args.model).run
    for path, ann in items:
        if jsonl is not None:
            rec = jsonl.get(path.name)
            if rec is None:
                continue
        else:
            assert runner is not None
            rec = runner(path)
        yield rec, ann


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path, help="data root(s) or dataset folder(s)")
    ap.add_argument("--jsonl", type=Path, help="score this analyze output instead of running")
    ap.add_argument("--limit", type=int, default=None, help="recordings per dataset (spread)")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--chain", choices=("local", "pipeline"), default="pipeline")
    ap.add_argument("--per-file", type=Path, help="write per-recording scores (JSON Lines)")
    ap.add_argument("--model", type=Path, help="detector model JSON (--chain local)")
    args = ap.parse_args(argv)
    found = find_recordings(args.data, tuple(args.datasets))
    if not found:
        print("no annotated recordings found", file=sys.stderr)
        return 2
    jsonl = records_from_jsonl(args.jsonl) if args.jsonl else None
    per_file = open(args.per_file, "w") if args.per_file else None  # noqa: SIM115
    for name in [d for d in DATASETS if d in found]:
        tally = Tally()
        for rec, ann in iter_records(subset(found[name], args.limit), args, jsonl):
            summary = tally.add(rec, ann)
            if per_file:
                per_file.write(json.dumps({"dataset": name, **summary}) + "\n")
        print(tally.report(name), flush=True)
    if per_file:
        per_file.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
