#!/usr/bin/env python
"""S1/S2 detection, heart rate and verdicts on real recordings heard through another stethoscope's
frequency response.

Usage::

    .venv/bin/python tools/eval_response.py [DATA_DIR] [--limit 120]
        [--responses none bell diaphragm ...] [--datasets circor2022 physionet2016]
        [--model models/classifier.onnx]

Held-out recordings come from other devices, whose chest pieces and microphones shape the
spectrum differently from the dev split's. Each recording (``--limit`` spread over each dataset)
is filtered by one of :data:`RESPONSES` (a Butterworth filter, applied forwards only, like a
device) and rescaled to the original's peak level (the level normalisation is not what is
probed; many dev recordings peak near full scale, so a rescaling to the original RMS clipped most
CirCor recordings after the diaphragm's high-pass: 112 of 120, ``s27_probe_clip.log``), then
written as a float WAV at the file's own rate, analysed by the pipeline of ``stetho-rt analyze``
with the shipped classifier (or ``--model``) and scored as in
``tools/eval_segmentation.py`` (ARCHITECTURE.md §7; :func:`_robustness.score_changed`).

Printed per dataset and response: pooled F1 at 60 ms, heart-rate MAE, share within 5 bpm and share
of recordings given a rate, the verdict counts, the mean window quality and how many filtered
recordings had to be clipped (none: the peak is kept) and, for each response, how many verdicts it
changed from the recordings' own (``none`` always runs first, as that reference).
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
from scipy import signal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import _robustness as rb  # noqa: E402

from stetho_rt.analysis import analysis_config  # noqa: E402

RESPONSES: dict[str, tuple[int, float, str] | None] = {
    "none": None,
    "bell": (2, 150.0, "lowpass"),
    "diaphragm": (2, 150.0, "highpass"),
    "rumble-filter": (4, 60.0, "highpass"),
    "tilt-down": (1, 40.0, "lowpass"),
    "tilt-up": (1, 300.0, "highpass"),
}
"""Responses probed: (Butterworth order, corner [Hz], kind), or None for the recording as it is.

- ``bell``: 2nd-order low-pass at 150 Hz (a bell chest piece: low sounds, gallops, rumbles);
- ``diaphragm``: 2nd-order high-pass at 150 Hz (a diaphragm: S1/S2 and murmurs, the low end
  20-25 dB down at 40 Hz);
- ``rumble-filter``: 4th-order high-pass at 60 Hz (a device that cuts handling noise steeply);
- ``tilt-down`` / ``tilt-up``: first-order, -6 dB per octave above 40 Hz / +6 dB per octave
  below 300 Hz (a microphone's gentle slope either way).
"""


def with_response(x: np.ndarray, rate: int, response: str) -> np.ndarray:
    """``x`` (1-D, full scale) through ``response`` (a key of :data:`RESPONSES`), rescaled to
    its peak absolute value."""
    spec = RESPONSES[response]
    if spec is None:
        return x
    order, corner_hz, kind = spec
    sos = signal.butter(order, corner_hz, kind, fs=rate, output="sos")
    y = signal.sosfilt(sos, x)
    peak_x, peak_y = np.max(np.abs(x)), np.max(np.abs(y))
    if peak_y == 0:
        return y
    # the clip only takes back a rounding step past the original's peak (a full-scale sample)
    return np.clip(y * (peak_x / peak_y), -peak_x, peak_x)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = rb.probe_arguments(__doc__)
    ap.add_argument("--responses", nargs="+", default=list(RESPONSES), choices=list(RESPONSES))
    args = ap.parse_args(argv)
    found = rb.probe_recordings(args)
    if found is None:
        return 2
    cfg = analysis_config()
    clf = rb.probe_classifier(args, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in found.items():
            reference: dict[str, str] | None = None
            for response in ["none", *(r for r in args.responses if r != "none")]:
                change = partial(with_response, response=response)
                line, labels = rb.score_changed(items, cfg, clf, change, Path(tmp), reference)
                if reference is None:
                    reference = labels
                print(f"{name} ({len(items)}) {response}: {line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
