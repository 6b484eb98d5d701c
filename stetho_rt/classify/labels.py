"""Class labels, the model sidecar schema, and the dataset label mapping used for training.

The sidecar (``models/<name>.json``) describes what the ONNX graph expects and returns; the runtime
(:mod:`stetho_rt.classify.model`) refuses a model whose sidecar disagrees with the pipeline.
"""

from __future__ import annotations

from stetho_rt.events import CLASS_LABELS

__all__ = [
    "CLASS_LABELS",
    "SIDECAR_FORMAT",
    "SIDECAR_REQUIRED",
    "circor_label",
    "circor_scored",
    "pascal_label",
    "physionet_label",
]

SIDECAR_FORMAT = "stetho-rt-classifier/1"
"""Value of the sidecar's ``format`` key."""

SIDECAR_REQUIRED: tuple[str, ...] = (
    "format",
    "labels",
    "input",
    "output",
    "features",
    "internal_rate_hz",
    "window_s",
    "hop_s",
    "verdict",
    "provenance",
)
"""Keys every sidecar must have."""


def circor_label(patient_murmur: str, recording_murmur: str) -> str | None:
    """Training class of a CirCor recording, None when it is not used for training.

    Parameters
    ----------
    patient_murmur : str
        ``Present``, ``Absent`` or ``Unknown`` (patient level).
    recording_murmur : str
        ``Present`` when the murmur was heard at this recording's location.

    Returns
    -------
    str or None
        ``murmur`` (heard here), ``normal`` (patient without murmur), ``artifact`` for an
        ``Unknown`` patient (the annotator could not tell from these recordings whether a murmur
        is there: the project's "poor signal", and ARCHITECTURE.md section 7 counts a patient
        whose recordings are all artifact as Unknown); None for a murmur patient's other
        locations (a murmur may be faintly there).

    The §7 recording-level murmur metrics score only ``murmur`` and ``normal`` recordings
    (:func:`circor_scored`); Unknown patients count in the patient-level weighted accuracy.
    """
    if patient_murmur == "Absent":
        return "normal"
    if patient_murmur == "Present":
        return "murmur" if recording_murmur == "Present" else None
    if patient_murmur == "Unknown":
        return "artifact"
    return None


def circor_scored(patient_murmur: str, recording_murmur: str) -> bool | None:
    """§7 recording-level murmur truth of a CirCor recording: True (murmur heard at this
    location), False (murmur-free patient), None (not scored at recording level: a murmur
    patient's other locations, Unknown patients)."""
    target = circor_label(patient_murmur, recording_murmur)
    return None if target not in ("murmur", "normal") else target == "murmur"


def physionet_label(label: str, signal_quality: str) -> str:
    """Training class of a PhysioNet 2016 recording.

    ``unsure`` quality -> ``artifact``; else ``abnormal`` -> ``murmur`` (the project's reading of
    an abnormal heart as "murmur or artifact"), ``normal`` -> ``normal``.
    """
    if signal_quality == "unsure":
        return "artifact"
    return "murmur" if label == "abnormal" else "normal"


def pascal_label(label: str) -> str | None:
    """Training class of a PASCAL A file; ``extrahls`` (extra heart sound) is not used (None)."""
    return label if label in CLASS_LABELS else None
