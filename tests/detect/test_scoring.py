"""Scoring math of ARCHITECTURE.md §7 on hand-made cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stetho_rt.detect.scoring import (
    Counts,
    hr_summary,
    in_spans,
    match_count,
    read_pascal_centres,
    read_tsv,
    score_recording,
)


def test_match_one_to_one_nearest_first() -> None:
    # detection 1.00 is nearest to ref 1.02; detection 1.05 may not reuse it
    assert match_count(np.array([1.00, 1.05]), np.array([1.02]), 0.06) == 1
    # nearest pairs first: 1.04-1.05 (0.01) beats 1.00-1.05 (0.05), then 1.00-0.98
    assert match_count(np.array([1.00, 1.04]), np.array([0.98, 1.05]), 0.06) == 2
    assert match_count(np.array([1.0]), np.array([1.0601]), 0.06) == 0
    assert match_count(np.array([1.0]), np.array([1.06]), 0.06) == 1
    assert match_count(np.array([]), np.array([1.0]), 0.06) == 0


def test_greedy_nearest_first_can_leave_one_unmatched() -> None:
    # ref 1.00 and 1.10, det 1.05 and 1.16 with tol 0.06: nearest pair 1.10-1.05? no: 1.10-1.16 is
    # 0.06, 1.05-1.00 and 1.05-1.10 are 0.05 -> 1.05 takes one of them, 1.16 takes 1.10 if free
    n = match_count(np.array([1.05, 1.16]), np.array([1.00, 1.10]), 0.06)
    assert n in (1, 2)


def test_counts_prf() -> None:
    c = Counts(tp=8, n_det=10, n_ref=16)
    assert c.precision == pytest.approx(0.8)
    assert c.recall == pytest.approx(0.5)
    assert c.f1 == pytest.approx(2 * 8 / 26)
    assert Counts().f1 == 1.0


def test_spans_and_warmup() -> None:
    spans = np.array([[0.0, 5.0], [7.0, 9.0]])
    t = np.array([1.0, 2.5, 5.5, 7.5, 9.5])
    assert in_spans(t, spans).tolist() == [False, True, False, True, False]


def _tsv(tmp_path: Path) -> Path:
    rows = [
        (0.0, 1.0, 0),
        (1.0, 1.1, 1),
        (1.1, 1.4, 2),
        (1.4, 1.5, 3),
        (1.5, 2.0, 4),
        (2.0, 2.1, 1),
        (2.1, 2.4, 2),
        (2.4, 2.5, 3),
        (2.5, 3.0, 4),
        (3.0, 3.1, 1),
        (3.1, 3.4, 2),
        (3.4, 3.5, 3),
        (3.5, 4.0, 4),
        (4.0, 6.0, 0),
        (6.0, 6.1, 1),
        (6.1, 6.4, 2),
        (6.4, 6.5, 3),
        (6.5, 7.0, 4),
        (7.0, 7.1, 1),
    ]
    p = tmp_path / "r.tsv"
    p.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows))
    return p


def test_read_tsv_and_hr_reference(tmp_path: Path) -> None:
    ann = read_tsv(_tsv(tmp_path))
    assert ann.centres["S1"].tolist() == pytest.approx([1.05, 2.05, 3.05, 6.05, 7.05])
    assert ann.spans.tolist() == [[1.0, 4.0], [6.0, 7.1]]
    # intervals 1.0, 1.0 (span 1) and 1.0 (span 2); the 3.05 -> 6.05 jump crosses state 0
    assert ann.hr_reference_bpm() == pytest.approx(60.0)


def test_score_recording_ignores_warmup_and_unannotated(tmp_path: Path) -> None:
    ann = read_tsv(_tsv(tmp_path))
    det = [
        ("S1", 1.05),  # warm-up: ignored
        ("S1", 2.07),  # match
        ("S2", 2.45),  # match
        ("S1", 3.20),  # too far at 60 ms, match at 100 ms? 0.15: no
        ("S2", 5.0),  # in state 0: ignored
        ("S1", 6.03),
        ("S2", 6.5),  # 0.05 from 6.45: match
    ]
    sc = score_recording(det, ann)
    s1 = sc[("S1", 0.06)]
    assert (s1.tp, s1.n_det, s1.n_ref) == (2, 3, 4)  # refs 2.05, 3.05, 6.05, 7.05
    s2 = sc[("S2", 0.06)]
    assert (s2.tp, s2.n_det, s2.n_ref) == (2, 2, 3)  # refs 2.45, 3.45, 6.45
    pooled = sc[("all", 0.06)]
    assert (pooled.tp, pooled.n_det, pooled.n_ref) == (4, 5, 7)
    assert sc[("S2", 0.03)].tp == 1


def test_pascal_centres(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("file,kind,centre_s\na.flac,S1,1.0\na.flac,S2,1.3\na.flac,S1,2.0\na.flac,S2,2.3\n")
    ann = read_pascal_centres(p)["a.flac"]
    assert ann.hr_reference_bpm() == pytest.approx(60.0)
    assert np.allclose(ann.spans, [[0.9, 2.4]])


def test_hr_summary() -> None:
    s = hr_summary([1.0, 3.0, 7.0, None])
    assert s["mae"] == pytest.approx(11 / 3)
    assert s["within5"] == pytest.approx(0.5)
    assert s["coverage"] == pytest.approx(0.75)
