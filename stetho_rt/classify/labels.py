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
        ``murmur`` (heard here), ``normal`` (patient without murmur); None for a murmur patient's
        other locations and for ``Unknown`` patients (ambiguous, scored separately).
    """
    if patient_murmur == "Absent":
        return "normal"
    if patient_murmur == "Present" and recording_murmur == "Present":
        return "murmur"
    return None


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
