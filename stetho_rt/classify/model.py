"""The ONNX Runtime classifier: model + JSON sidecar, validated on load (:class:`OnnxClassifier`).

A model is two files: ``<name>.onnx`` and ``<name>.json`` (the sidecar). The sidecar says what the
graph expects and returns, and how its inputs were made::

    {"format": "stetho-rt-classifier/1",
     "labels": ["normal", "murmur", "artifact"],
     "input": {"name": "input", "n_features": 257, "dtype": "float32"},
     "output": {"name": "probabilities"},
     "features": {"frame": [...20 names...], "window": [...257 names...]},
     "internal_rate_hz": 2000, "stft_window": 64, "stft_hop": 16, "mel_bands": 16,
     "window_s": 4.0, "hop_s": 1.0,
     "verdict": {...VerdictRules...},
     "session": {"file": "<name>_session.onnx", "onnx_sha256": "...",
                 "input": {"name": "input", "n_features": 515}, "output": {"name": "probabilities"},
                 "features": [...window names + "_median"..., ...window names + "_iqr"...,
                              "session_quality_mean"]},
     "onnx_sha256": "...", "provenance": {...}}

The optional ``session`` head maps the session summary (:mod:`stetho_rt.classify.session`: the
median and inter-quartile range of the window vectors and the mean quality) to class
probabilities; the verdict blends them with the windows' (``verdict.session_weight``). A sidecar
without it gives a windows-only verdict.

:meth:`OnnxClassifier.load` raises :class:`~stetho_rt.errors.ModelError` with one line naming the
file and the problem when either file is missing or unreadable, a key is missing, the labels, the
feature names, the rates or the window geometry differ from what the pipeline computes, the ONNX
file's hash differs from the sidecar's, or the graph's input/output shapes disagree with it (the
same checks for the session head's file, named relative to the sidecar).

Inference runs with one intra-op and one inter-op thread (ARCHITECTURE.md §1.4).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stetho_rt.classify.labels import CLASS_LABELS, SIDECAR_FORMAT, SIDECAR_REQUIRED
from stetho_rt.classify.session import session_feature_names
from stetho_rt.classify.verdict import VerdictRules
from stetho_rt.classify.windows import window_feature_names
from stetho_rt.config import CLASSIFIER_HOP_S, CLASSIFIER_WINDOW_S, DspConfig
from stetho_rt.dsp.features import feature_names
from stetho_rt.errors import ModelError

MODEL_ENV = "STETHO_RT_MODEL"
"""Environment variable naming the model (``.onnx``) to load by default."""
DEFAULT_MODEL_NAME = "classifier.onnx"
"""File name of the shipped model in the repository's ``models/`` folder."""


def default_model_path() -> Path:
    """The model to use when none is given.

    ``$STETHO_RT_MODEL`` if set, else ``<repo>/models/classifier.onnx``.
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "models" / DEFAULT_MODEL_NAME


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """The sidecar of a model: same name, ``.json`` suffix."""
    return Path(model_path).with_suffix(".json")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class OnnxClassifier:
    """A validated ONNX model that maps window vectors to class probabilities.

    Use :meth:`load`; the constructor takes an already validated session and sidecar.

    Attributes
    ----------
    path : Path
        The ``.onnx`` file.
    meta : dict
        The sidecar.
    labels : tuple of str
        Output classes (= :data:`~stetho_rt.events.CLASS_LABELS`).
    n_features : int
        Window vector length the model expects.
    rules : VerdictRules
        Aggregation thresholds chosen at training time.
    session : OnnxHead or None
        The session head (input: :meth:`~stetho_rt.classify.session.SessionSummary.vector`),
        None when the sidecar has none.
    """

    def __init__(self, path: Path, ort_session: Any, meta: dict[str, Any], rules: VerdictRules,
                 session_head: OnnxHead | None = None) -> None:
        self.path = path
        self.meta = meta
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.rules = rules
        self.window = OnnxHead(path, ort_session, meta)
        self.n_features = self.window.n_features
        self.session = session_head

    # -------------------------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        dsp: DspConfig | None = None,
        window_s: float = CLASSIFIER_WINDOW_S,
        hop_s: float = CLASSIFIER_HOP_S,
    ) -> OnnxClassifier:
        """Load and validate a model and its sidecar against the pipeline's configuration.

        Parameters
        ----------
        path : path-like, optional
            The ``.onnx`` file (default :func:`default_model_path`).
        dsp : DspConfig, optional
            Internal rate, STFT geometry and mel bands the pipeline runs with.
        window_s, hop_s : float
            Classifier window length and hop the pipeline cuts [s].

        Raises
        ------
        ModelError
            Missing/unreadable files or any mismatch (one line naming the file and the problem).
        """
        dsp = dsp or DspConfig()
        if path is not None and not str(path):
            raise ModelError("--model: empty path (give a .onnx file)")
        p = Path(path) if path is not None else default_model_path()
        side = sidecar_path(p)
        if p.is_dir():
            raise ModelError(f"{p}: is a folder, not a model file (give a .onnx file)")
        if not p.is_file():
            raise ModelError(f"{p}: model file not found")
        if not side.is_file():
            raise ModelError(f"{side}: model sidecar not found (expected beside {p.name})")
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{side}: unreadable sidecar ({exc})") from None
        if not isinstance(meta, dict):
            raise ModelError(f"{side}: sidecar is not a JSON object")
        rules = _check_meta(side, meta, dsp, window_s, hop_s)
        head = _load_session_head(side, meta, dsp) if meta.get("session") is not None else None
        clf = cls(p, _open_graph(p, meta), meta, rules, head)
        clf.warm_up()  # validates each head's output, and is its first run
        return clf

    # -------------------------------------------------------------------------------- inference
    def run(self, x: np.ndarray) -> npt.NDArray[np.float32]:
        """Class probabilities of window vectors (:meth:`OnnxHead.run` of the window head)."""
        return self.window.run(x)

    def warm_up(self) -> None:
        """One inference per head on zeros (:meth:`OnnxHead.probe`: ONNX Runtime's buffers are
        allocated, and the output is checked). :meth:`load` runs it (about 0.1 ms for the two
        shipped heads)."""
        for head in (self.window, self.session):
            if head is not None:
                head.probe()


class OnnxHead:
    """One validated ONNX graph: ``(n, n_features)`` float32 in, ``(n, 3)`` probabilities out.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file (named in errors).
    session : onnxruntime.InferenceSession
        The loaded graph.
    spec : dict
        ``{"input": {"name", "n_features"}, "output": {"name"}}`` (validated by the loader).
    """

    def __init__(self, path: Path, session: Any, spec: dict[str, Any]) -> None:
        self.path = path
        self.n_features = int(spec["input"]["n_features"])
        self._session = session
        self._input = spec["input"]["name"]
        self._output = spec["output"]["name"]

    def run(self, x: np.ndarray) -> npt.NDArray[np.float32]:
        """Class probabilities.

        Parameters
        ----------
        x : ndarray, shape (n, n_features) or (n_features,)
            Input vectors.

        Returns
        -------
        ndarray of float32, shape (n, 3)
            Probabilities in :data:`~stetho_rt.events.CLASS_LABELS` order, rows summing to 1.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ModelError(
                f"{self.path}: input has {x.shape[-1]} features, the model expects "
                f"{self.n_features}"
            )
        if x.shape[0] == 0:
            return np.zeros((0, len(CLASS_LABELS)), np.float32)
        (p,) = self._session.run([self._output], {self._input: x})
        return np.asarray(p, dtype=np.float32)

    def probe(self) -> None:
        """Run one zero vector: the output must be one row of 3 finite probabilities summing
        to 1 (raises :class:`~stetho_rt.errors.ModelError` otherwise)."""
        try:
            p = self.run(np.zeros((1, self.n_features), np.float32))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(
                f"{self.path}: the graph fails on a test input ({_first_line(exc)})"
            ) from None
        if p.shape != (1, len(CLASS_LABELS)) or not np.isfinite(p).all() \
                or abs(float(p.sum()) - 1.0) > 1e-3:
            raise ModelError(f"{self.path}: the graph does not return 3 class probabilities "
                             f"(got {np.array2string(p, precision=3)}, shape {p.shape})")


def _load_session_head(side: Path, meta: dict[str, Any], dsp: DspConfig) -> OnnxHead:
    """The sidecar's ``session`` head, validated (file beside the sidecar, hash, names, graph)."""
    spec = meta["session"]
    if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
        raise ModelError(f"{side}: session head spec incomplete (needs a file name)")
    p = side.parent / spec["file"]
    if not p.is_file():
        raise ModelError(f"{p}: session head file not found (named by {side.name})")
    names = session_feature_names(window_feature_names(dsp.mel_bands))
    feats = spec.get("features")
    if not isinstance(feats, list) or tuple(feats) != names:
        raise ModelError(f"{side}: session feature names differ from the pipeline's")
    _check_io(side, spec, len(names), "session head")
    return OnnxHead(p, _open_graph(p, spec), spec)


def _check_io(side: Path, spec: dict[str, Any], n_names: int, what: str) -> None:
    """The ``input``/``output`` spec of a head is complete and takes ``n_names`` features."""
    try:
        n_in = int(spec["input"]["n_features"])
        io_names = spec["input"]["name"], spec["output"]["name"]
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{side}: {what} input/output spec incomplete") from None
    if not all(isinstance(n, str) for n in io_names):
        raise ModelError(f"{side}: {what} input/output names must be strings")
    if n_in != n_names:
        raise ModelError(
            f"{side}: {what} input has {n_in} features, the pipeline computes {n_names}"
        )


def _open_graph(p: Path, spec: dict[str, Any]) -> Any:
    """The ONNX session of ``p`` after its hash and its graph's shapes are checked vs ``spec``."""
    digest = spec.get("onnx_sha256")
    if digest is not None and digest != file_sha256(p):
        raise ModelError(f"{p}: file does not match its sidecar (onnx_sha256 differs)")
    session = onnx_session(p)
    _check_graph(p, session, spec)
    return session


def onnx_session(p: Path) -> Any:
    """An ONNX Runtime session of ``p`` as the runtime runs it (one intra-op and one inter-op
    thread, sequential, CPU); :class:`~stetho_rt.errors.ModelError` if it does not load."""
    from stetho_rt.io.devices import quiet_stderr

    with quiet_stderr():  # its import printed a coloured telemetry warning when $HOME is not
        import onnxruntime as ort  # writable (an import error still raises)

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{p}: not a loadable ONNX model ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_meta(
    side: Path, meta: dict[str, Any], dsp: DspConfig, window_s: float, hop_s: float
) -> VerdictRules:
    """Check the sidecar against the pipeline's configuration; return its verdict rules."""
    missing = [k for k in SIDECAR_REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"{side}: sidecar lacks {', '.join(missing)}")
    if meta["format"] != SIDECAR_FORMAT:
        raise ModelError(f"{side}: format {meta['format']!r}, expected {SIDECAR_FORMAT!r}")
    if tuple(meta["labels"]) != CLASS_LABELS:
        raise ModelError(f"{side}: labels {meta['labels']}, expected {list(CLASS_LABELS)}")
    expected_frame = feature_names(dsp.mel_bands)
    feats = meta["features"]
    if not isinstance(feats, dict) or tuple(feats.get("frame", ())) != expected_frame:
        raise ModelError(f"{side}: per-frame feature names differ from the pipeline's")
    names = window_feature_names(dsp.mel_bands)
    if tuple(feats.get("window", ())) != names:
        raise ModelError(f"{side}: window feature names differ from the pipeline's")
    _check_io(side, meta, len(names), "model")
    geometry = {
        "internal_rate_hz": (meta["internal_rate_hz"], dsp.internal_rate),
        "stft_window": (meta.get("stft_window", dsp.stft_window), dsp.stft_window),
        "stft_hop": (meta.get("stft_hop", dsp.stft_hop), dsp.stft_hop),
        "mel_bands": (meta.get("mel_bands", dsp.mel_bands), dsp.mel_bands),
        "window_s": (meta["window_s"], window_s),
        "hop_s": (meta["hop_s"], hop_s),
    }
    for key, (got, want) in geometry.items():
        if not isinstance(got, int | float) or abs(float(got) - float(want)) > 1e-9:
            raise ModelError(f"{side}: {key}={got} but the pipeline uses {want}")
    try:
        rules = VerdictRules.from_json(meta["verdict"])
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{side}: bad verdict rules ({exc})") from None
    if rules.session_weight > 0.0 and meta.get("session") is None:
        raise ModelError(
            f"{side}: verdict blends a session head (session_weight={rules.session_weight}) "
            "but the sidecar names none"
        )
    return rules


def _check_graph(p: Path, session: Any, meta: dict[str, Any]) -> None:
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != meta["input"]["name"]:
        names = [i.name for i in inputs]
        raise ModelError(f"{p}: graph inputs {names}, sidecar says {meta['input']['name']!r}")
    shape = inputs[0].shape
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != meta["input"]["n_features"]):
        raise ModelError(
            f"{p}: graph input shape {shape}, sidecar says (n, {meta['input']['n_features']})"
        )
    outs = {o.name: o for o in session.get_outputs()}
    out = outs.get(meta["output"]["name"])
    if out is None:
        raise ModelError(f"{p}: graph has no output {meta['output']['name']!r}")
    if not out.shape or len(out.shape) != 2:
        raise ModelError(f"{p}: graph output {out.name!r} has shape {out.shape}, expected (n, 3)")
    n_out = out.shape[-1]
    if isinstance(n_out, int) and n_out != len(CLASS_LABELS):
        raise ModelError(f"{p}: graph outputs {n_out} classes, sidecar labels {len(CLASS_LABELS)}")
