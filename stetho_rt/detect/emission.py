"""Emission model of the HSMM: a small MLP of the state given frame features in a context window.

``log b_j(t) = log P(j | x_t) - log P(j)`` (Springer et al. 2016: the posterior of a discriminative
model divided by the state prior is proportional to the likelihood). The input ``x_t`` stacks the
frame features (:mod:`~stetho_rt.detect.features_v2`) at the frame offsets ``offsets`` around
``t`` (past context and at most ``max(offsets)`` frames of look-ahead); one ReLU hidden layer;
softmax over S1, systole, S2, diastole. Input standardisation is folded into the first layer.

The model file names its frame-feature module (``feature_set``, see :data:`FEATURE_SETS`).

The numbers live in ``models/detector.json`` (written by ``tools/train_detector.py``); a missing
file is a :class:`~stetho_rt.errors.ModelError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stetho_rt.detect import features_v2, hsmm
from stetho_rt.dsp._jit import kernel
from stetho_rt.errors import ModelError

FEATURE_SETS = {"v2": features_v2}
"""Frame-feature modules by the name a model file declares in ``feature_set``."""

MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "detector.json"
"""Default emission-model file."""


_LOADED: dict[tuple[str, int], EmissionModel] = {}
"""Parsed models by (path, mtime): see :meth:`EmissionModel.load`."""

@dataclass(frozen=True)
class EmissionModel:
    """Weights of the emission MLP.

    Attributes
    ----------
    offsets : ndarray, shape (K,), int64
        Context frame offsets (relative to the decoded frame) [frames at 100 Hz].
    w1 : ndarray, shape (H, K * n_features)
        First layer (standardisation folded in); input order: offset-major.
    b1 : ndarray, shape (H,)
    w2 : ndarray, shape (4, H)
    b2 : ndarray, shape (4,)
    log_prior : ndarray, shape (4,)
        Log state priors of the training frames.
    time_shift_s : ndarray, shape (2,)
        Constant shift added to detected S1 and S2 times [s] (annotation convention).
    feature_set : str
        Name of the frame-feature module (:data:`FEATURE_SETS`).
    path : Path or None
        The file it was read from (named in errors).
    """

    offsets: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    log_prior: np.ndarray
    time_shift_s: np.ndarray
    feature_set: str = "v2"
    path: Path | None = None

    @property
    def n_features(self) -> int:
        """Features per frame of the model's feature set."""
        return int(FEATURE_SETS[self.feature_set].N_FEATURES)

    @property
    def lookahead(self) -> int:
        """Frames of look-ahead the context needs."""
        return max(int(self.offsets.max()), 0)

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmissionModel:
        """Load from JSON (``MODEL_PATH`` by default).

        Parsed once per process and file version (the detector never writes to the weights),
        so batch analysis does not re-read the JSON for every recording.

        Raises
        ------
        ModelError
            The file is missing (no silent stand-in model: a detector without its trained
            emissions would report plausible-looking but meaningless sounds).
        """
        p = Path(path) if path is not None else MODEL_PATH
        if not p.is_file():
            raise ModelError(f"{p}: detector model not found (reinstall, or retrain with "
                             "tools/train_detector.py)")
        key = (str(p.resolve()), p.stat().st_mtime_ns)
        if key not in _LOADED:
            _LOADED[key] = cls._parse(p)
        return _LOADED[key]

    @classmethod
    def _parse(cls, p: Path) -> EmissionModel:
        """Read and check a model file; anything malformed is a :class:`ModelError`."""
        try:
            d = json.loads(p.read_text())
            if not isinstance(d, dict):
                raise TypeError("top level is not an object")
            fset = str(d.get("feature_set"))
            arrays = {k: np.asarray(d[k], dtype=float)
                      for k in ("offsets", "w1", "b1", "w2", "b2", "prior")}
            shift = np.asarray(d.get("time_shift_s", [0.0, 0.0]), dtype=float)
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as e:
            raise ModelError(f"{p}: not a detector model ({e})") from None
        except KeyError as e:
            raise ModelError(f"{p}: not a detector model (no {e.args[0]!r})") from None
        if "w3" in d or "b3" in d:
            raise ModelError(f"{p}: a second hidden layer (w3/b3) is not supported; retrain "
                             "with tools/train_detector.py")
        if fset not in FEATURE_SETS:
            raise ModelError(f"{p}: unknown feature_set {fset!r} (known: {sorted(FEATURE_SETS)})")
        for name, a in (*arrays.items(), ("time_shift_s", shift)):
            if not np.all(np.isfinite(a)):
                raise ModelError(f"{p}: {name} has non-finite values")
        off, w1, b1, w2, b2, prior = arrays.values()
        if off.ndim != 1 or off.size == 0 or np.any(off != np.round(off)):
            raise ModelError(f"{p}: offsets must be a non-empty list of whole frame offsets")
        offsets = off.astype(np.int64)
        # the decoder scores frame t = newest - look-ahead from its last hsmm.RING feature rows
        span = max(int(offsets.max()), 0) - int(offsets.min())
        if span >= hsmm.RING:
            raise ModelError(f"{p}: offsets {offsets.min()}..{offsets.max()} span {span} frames "
                             f"back from the newest; the decoder keeps {hsmm.RING}")
        nf = FEATURE_SETS[fset].N_FEATURES
        if w1.ndim != 2 or w1.shape[1] != offsets.size * nf:
            raise ModelError(f"{p}: w1 has shape {w1.shape}, expected (H, {offsets.size * nf})")
        # the kernel reads these unchecked (numba): one hidden layer of H units, 4 outputs and
        # 4 state priors
        if b1.shape != (w1.shape[0],) or w2.shape != (4, w1.shape[0]) or b2.shape != (4,) \
                or prior.shape != (4,):
            raise ModelError(f"{p}: layer shapes w1 {w1.shape}, b1 {b1.shape}, w2 {w2.shape}, "
                             f"b2 {b2.shape}, prior {prior.shape} are not one hidden layer with "
                             "4 outputs and 4 priors")
        if np.any(prior <= 0.0):
            raise ModelError(f"{p}: state priors {prior.tolist()} must be positive")
        if shift.shape != (2,):
            raise ModelError(f"{p}: time_shift_s has shape {shift.shape}, expected (2,)")
        return cls(offsets, w1, b1, w2, b2, np.log(prior), shift, fset, p)


@kernel
def mlp_logpost(
    fring, ring_len, t, newest, offsets, w1t, b1, w2, b2, hid, out
):  # pragma: no cover
    """Log posteriors of the 4 states at frame ``t`` into ``out``; features read from ``fring``.

    ``w1t`` is the first layer transposed, shape (K * n_features, H), C-contiguous: the loop runs
    over the inputs and updates every hidden unit, so the inner loop (over units) vectorises while
    each unit still adds its terms in input order (the same float result as a per-unit dot
    product, without fastmath). Frames before 0 or after ``newest`` are clamped to those ends.
    Returns the sound probability ``P(S1) + P(S2)``.
    """
    nf = fring.shape[1]
    n_hid = w1t.shape[1]
    for h in range(n_hid):
        hid[h] = b1[h]
    for k in range(offsets.shape[0]):
        u = t + offsets[k]
        if u < 0:
            u = 0
        if u > newest:
            u = newest
        row = u % ring_len
        base = k * nf
        for c in range(nf):
            x = fring[row, c]
            wrow = w1t[base + c]
            for h in range(n_hid):
                hid[h] += wrow[h] * x
    for h in range(n_hid):
        if not hid[h] > 0.0:
            hid[h] = 0.0
    mx = -np.inf
    for j in range(4):
        acc = b2[j]
        for h in range(w2.shape[1]):
            acc += w2[j, h] * hid[h]
        out[j] = acc
        if acc > mx:
            mx = acc
    se = 0.0
    for j in range(4):
        se += np.exp(out[j] - mx)
    lse = mx + np.log(se)
    for j in range(4):
        out[j] -= lse
    return np.exp(out[0]) + np.exp(out[2])
