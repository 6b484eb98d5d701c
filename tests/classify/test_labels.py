"""Dataset label mapping (training classes) and the §7 CirCor scoring that must not follow it."""

from __future__ import annotations

import sys

import pytest

from stetho_rt.classify.labels import circor_label, circor_scored, physionet_label
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "tools"))


@pytest.mark.parametrize(
    ("patient", "recording", "target", "scored"),
    [
        ("Absent", "Absent", "normal", False),
        ("Present", "Present", "murmur", True),
        ("Present", "Absent", None, None),  # a murmur patient's other location: unused
        ("Unknown", "Unknown", "artifact", None),  # undecidable: taught as poor signal
        ("Unknown", "Absent", "artifact", None),
        ("", "", None, None),
    ],
)
def test_circor_training_class_and_section7_truth(patient, recording, target, scored) -> None:
    assert circor_label(patient, recording) == target
    assert circor_scored(patient, recording) is scored


def test_physionet_quality_wins_over_the_diagnosis() -> None:
    assert physionet_label("abnormal", "unsure") == "artifact"
    assert physionet_label("abnormal", "good") == "murmur"
    assert physionet_label("normal", "good") == "normal"


def _row(pid: str, patient: str, recording: str, label: str, p_murmur: float) -> dict:
    return {"meta": {"patient_id": pid, "patient_murmur": patient, "recording_murmur": recording},
            "verdict": {"label": label, "probs": {"murmur": p_murmur}}}


def test_score_circor_keeps_unknown_recordings_out_of_recording_metrics() -> None:
    """Unknown patients are trained as artifact but scored as §7 says: not in the recording-level
    sensitivity / specificity / AUROC, and right at patient level only when all-artifact."""
    from eval_classifier import score_circor

    rows = [
        _row("p1", "Present", "Present", "murmur", 0.9),  # found: weight 5
        _row("p1", "Present", "Absent", "normal", 0.1),  # other location: not scored
        _row("p2", "Present", "Present", "normal", 0.3),  # missed: 0 of 5
        _row("a1", "Absent", "Absent", "normal", 0.2),  # right: 1
        _row("a1", "Absent", "Absent", "normal", 0.1),
        _row("a2", "Absent", "Absent", "murmur", 0.8),  # flagged: 0 of 1
        _row("u1", "Unknown", "Unknown", "artifact", 0.95),  # all artifact: 3 of 3
        _row("u1", "Unknown", "Unknown", "artifact", 0.99),
        _row("u2", "Unknown", "Unknown", "artifact", 0.0),  # one normal: 0 of 3
        _row("u2", "Unknown", "Unknown", "normal", 0.0),
    ]
    s = score_circor(rows)
    assert (s["n_pos"], s["n_neg"]) == (2, 3)  # Unknown and other-location recordings left out
    assert s["sens"] == 0.5 and s["spec"] == pytest.approx(2 / 3)
    # positives 0.9, 0.3; negatives 0.2, 0.1, 0.8: 0.9 beats all 3, 0.3 beats 2
    assert s["auroc"] == pytest.approx(5 / 6)
    assert s["patient_wacc"] == pytest.approx((5 + 1 + 3) / (5 + 5 + 1 + 1 + 3 + 3))
    assert (s["patients_present"], s["patients_present_right"]) == (2, 1)
    assert (s["patients_absent"], s["patients_absent_right"], s["patients_absent_flagged"]) == (
        2, 1, 1)
    assert (s["patients_unknown"], s["patients_unknown_right"]) == (2, 1)
