"""Scoring of S1/S2 detections and heart rate against annotations (ARCHITECTURE.md §7).

Pure functions, no audio: the evaluation tool (``tools/eval_segmentation.py``) and the tests share
them, so every published figure is computed by the same few lines.

- A sound's centre is ``(onset_s + offset_s) / 2``.
- Detections and annotations of the same kind are matched one-to-one, nearest first, when their
  centres lie within a tolerance [s] (0.030, 0.060, 0.100 are reported).
- Only annotated spans count: a sound (detected or annotated) whose centre falls outside every
  annotated span (CirCor/PhysioNet ``.tsv`` state 0, or outside the rows) is ignored, and so is any
  sound centred in the first :data:`WARMUP_S` seconds.
- Heart-rate reference = 60 / median of annotated S1-to-S1 intervals (pairs of consecutive S1 in one
  annotated span).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WARMUP_S = 2.0
"""Sounds centred before this stream time [s] are ignored on both sides."""
TOLERANCES_S: tuple[float, ...] = (0.030, 0.060, 0.100)
"""Centre-matching tolerances reported [s]."""
KINDS: tuple[str, ...] = ("S1", "S2")
PASCAL_SPAN_MARGIN_S = 0.1
"""PASCAL A gives only centres: its annotated span is [first - margin, last + margin] [s]."""


@dataclass
class Annotation:
    """Reference of one recording.

    Attributes
    ----------
    centres : dict of str to ndarray
        Annotated centres [s] per kind (``"S1"``, ``"S2"``), sorted.
    spans : ndarray, shape (n, 2)
        Annotated (scored) time spans [s], sorted and merged.
    """

    centres: dict[str, np.ndarray]
    spans: np.ndarray
    s1_groups: list[np.ndarray] = field(default_factory=list)
    """S1 centres [s] per contiguous annotated span (for the heart-rate reference)."""

    def hr_reference_bpm(self) -> float | None:
        """Reference heart rate [bpm]: 60 / median S1-S1 interval, or None with < 2 S1."""
        return median_rate_bpm(self.s1_groups)


def median_rate_bpm(
    groups: Sequence[np.ndarray], rr_range_s: tuple[float, float] = (0.0, np.inf)
) -> float | None:
    """60 / median interval [bpm] between consecutive times of each group (times [s], sorted).

    Intervals never span two groups (annotated spans); only those with ``lo < rr <= hi``
    (``rr_range_s`` [s]) count. None without any.
    """
    lo, hi = rr_range_s
    rr = np.concatenate([np.diff(np.asarray(g, dtype=float)) for g in groups]) if groups else []
    rr = np.asarray(rr, dtype=float)
    rr = rr[(rr > lo) & (rr <= hi)]
    return float(60.0 / np.median(rr)) if rr.size else None


def group_by_span(t: np.ndarray, spans: np.ndarray) -> list[np.ndarray]:
    """The sorted times ``t`` [s] inside each span of ``spans`` (shape (n, 2)), one array each."""
    t = np.sort(np.asarray(t, dtype=float))
    return [t[(t >= a) & (t <= b)] for a, b in spans]


def _merge(spans: list[tuple[float, float]]) -> np.ndarray:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1e-9:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.asarray(out, dtype=float).reshape(-1, 2)


def read_tsv(path: str | Path) -> Annotation:
    """Read a CirCor/PhysioNet state file (``start_s end_s state``; 1 = S1, 3 = S2, 0 = none).

    Parameters
    ----------
    path : str or Path
        The ``.tsv`` file.

    Returns
    -------
    Annotation
    """
    rows = np.loadtxt(path, delimiter="\t", ndmin=2)
    centres: dict[str, list[float]] = {"S1": [], "S2": []}
    spans: list[tuple[float, float]] = []
    groups: list[list[float]] = [[]]
    for start, end, state in rows:
        st = int(state)
        if st == 0:
            if groups[-1]:
                groups.append([])
            continue
        spans.append((float(start), float(end)))
        if st in (1, 3):
            c = 0.5 * (start + end)
            centres["S1" if st == 1 else "S2"].append(c)
            if st == 1:
                groups[-1].append(c)
    merged = _merge(spans)
    # A new span (gap in the rows) also breaks the S1 sequence.
    s1_groups = []
    for g in groups:
        g_arr = np.asarray(g)
        if g_arr.size:
            idx = np.searchsorted(merged[:, 0], g_arr, side="right")
            for k in np.unique(idx):
                s1_groups.append(g_arr[idx == k])
    return Annotation({k: np.sort(np.asarray(v)) for k, v in centres.items()}, merged, s1_groups)


def read_pascal_centres(csv_path: str | Path) -> dict[str, Annotation]:
    """Read PASCAL A ``segmentation_centres.csv`` (``file,kind,centre_s``), by file name."""
    by_file: dict[str, dict[str, list[float]]] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            d = by_file.setdefault(row["file"], {"S1": [], "S2": []})
            d[row["kind"]].append(float(row["centre_s"]))
    out: dict[str, Annotation] = {}
    for name, d in by_file.items():
        allc = d["S1"] + d["S2"]
        span = _merge([(min(allc) - PASCAL_SPAN_MARGIN_S, max(allc) + PASCAL_SPAN_MARGIN_S)])
        s1 = np.sort(np.asarray(d["S1"]))
        out[name] = Annotation({k: np.sort(np.asarray(v)) for k, v in d.items()}, span, [s1])
    return out


def in_spans(t: np.ndarray, spans: np.ndarray, warmup_s: float = WARMUP_S) -> np.ndarray:
    """Mask of times [s] inside an annotated span and not before ``warmup_s``."""
    t = np.asarray(t, dtype=float)
    if spans.shape[0] == 0:
        return np.zeros(t.shape, dtype=bool)
    idx = np.searchsorted(spans[:, 0], t, side="right") - 1
    ok = idx >= 0
    ok[ok] = t[ok] <= spans[idx[ok], 1]
    return ok & (t >= warmup_s)


def match_count(det: np.ndarray, ref: np.ndarray, tol_s: float) -> int:
    """Number of one-to-one matches between centres [s], nearest pairs first, within ``tol_s``.

    Parameters
    ----------
    det, ref : ndarray, shape (n,), (m,)
        Detected and reference centres [s].
    tol_s : float
        Largest centre distance of a match [s] (inclusive).

    Returns
    -------
    int
    """
    det = np.sort(np.asarray(det, dtype=float))
    ref = np.sort(np.asarray(ref, dtype=float))
    if det.size == 0 or ref.size == 0:
        return 0
    pairs: list[tuple[float, int, int]] = []
    lo = 0
    for i, d in enumerate(det):
        while lo < ref.size and ref[lo] < d - tol_s - 1e-12:
            lo += 1
        j = lo
        while j < ref.size and ref[j] <= d + tol_s + 1e-12:
            pairs.append((abs(ref[j] - d), i, j))
            j += 1
    pairs.sort()
    used_d = np.zeros(det.size, dtype=bool)
    used_r = np.zeros(ref.size, dtype=bool)
    n = 0
    for _, i, j in pairs:
        if not used_d[i] and not used_r[j]:
            used_d[i] = used_r[j] = True
            n += 1
    return n


@dataclass
class Counts:
    """True positives, detections and references, summed over recordings."""

    tp: int = 0
    n_det: int = 0
    n_ref: int = 0

    def add(self, other: Counts) -> None:
        """Accumulate ``other`` into this."""
        self.tp += other.tp
        self.n_det += other.n_det
        self.n_ref += other.n_ref

    @property
    def precision(self) -> float:
        """tp / detections (1.0 with no detection)."""
        return self.tp / self.n_det if self.n_det else 1.0

    @property
    def recall(self) -> float:
        """tp / references (1.0 with no reference)."""
        return self.tp / self.n_ref if self.n_ref else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (2 tp / (det + ref))."""
        tot = self.n_det + self.n_ref
        return 2.0 * self.tp / tot if tot else 1.0


def score_recording(
    sounds: Iterable[tuple[str, float]],
    ann: Annotation,
    tolerances: Sequence[float] = TOLERANCES_S,
) -> dict[tuple[str, float], Counts]:
    """Count matches of one recording.

    Parameters
    ----------
    sounds : iterable of (kind, centre_s)
        Detected sounds: kind ``"S1"``/``"S2"`` and centre [s].
    ann : Annotation
        The reference.
    tolerances : sequence of float
        Tolerances [s].

    Returns
    -------
    dict
        ``(kind, tol) -> Counts`` for kinds ``"S1"``, ``"S2"`` and ``"all"`` (pooled).
    """
    det: dict[str, list[float]] = {k: [] for k in KINDS}
    for kind, c in sounds:
        if kind in det:
            det[kind].append(float(c))
    out: dict[tuple[str, float], Counts] = {}
    for tol in tolerances:
        pooled = Counts()
        for k in KINDS:
            d = np.asarray(det[k], dtype=float)
            d = d[in_spans(d, ann.spans)]
            r = ann.centres[k]
            r = r[in_spans(r, ann.spans)]
            c = Counts(match_count(d, r, tol), int(d.size), int(r.size))
            out[(k, tol)] = c
            pooled.add(c)
        out[("all", tol)] = pooled
    return out


def hr_summary(errors: Sequence[float | None]) -> dict[str, float]:
    """Heart-rate figures from per-recording absolute errors [bpm] (None = no estimate).

    Returns
    -------
    dict
        ``mae`` over recordings with an estimate [bpm], ``within5`` share of all scored recordings
        within 5 bpm (no estimate counts as a miss), ``coverage`` share with an estimate, ``n``.
    """
    n = len(errors)
    have = np.asarray([e for e in errors if e is not None], dtype=float)
    return {
        "mae": float(have.mean()) if have.size else float("nan"),
        "within5": float((have <= 5.0).sum() / n) if n else float("nan"),
        "coverage": float(have.size / n) if n else float("nan"),
        "n": float(n),
    }
