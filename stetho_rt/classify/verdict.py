"""Recording / session verdict: windows aggregated, ``artifact`` when too little is clean.

A window is **clean** when its signal-quality index is at least ``min_quality`` and the model's
artifact probability is below ``artifact_threshold``. The verdict is:

- ``artifact`` when fewer than ``min_clean_windows`` windows, or less than ``min_clean_share`` of
  them, are clean: too little usable signal to say normal or murmur (no guess);
- otherwise ``murmur`` when the murmur share ``m`` reaches ``murmur_threshold``, else ``normal``.

The murmur share blends two views of the session: the windows' own,
``m_w = mean(p_murmur / (p_murmur + p_normal))`` over clean windows, and the model's session head
(:mod:`stetho_rt.classify.session`: the median window vector of the session and its spread),
``m_s = s_murmur / (s_murmur + s_normal)``: ``m = (1 - w) m_w + w m_s`` with
``w = session_weight`` (``m = m_w`` without a session head).

Probabilities: ``artifact`` = mean over all windows of ``max(p_artifact, 1 - quality)`` (a noisy or
aperiodic window counts as artifact whatever the model says); ``murmur`` = ``(1 - artifact) * m``;
``normal`` = ``(1 - artifact) * (1 - m)``; they sum to 1. With no clean window ``m`` is the
same ratio over all windows. With no window at all (a recording shorter than one window of
frames: 4 s plus about 30 ms the resampler and the STFT hold back at the end) the verdict is
``artifact`` with probability 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from stetho_rt.events import CLASS_LABELS, Window

_N, _M, _A = (CLASS_LABELS.index(k) for k in ("normal", "murmur", "artifact"))


@dataclass(frozen=True)
class VerdictRules:
    """Aggregation thresholds (stored in the model sidecar's ``verdict`` key).

    Attributes
    ----------
    min_quality : float
        Quality index (0-1) a window needs to count as clean.
    artifact_threshold : float
        Window artifact probability at or above which it is not clean.
    min_clean_windows : int
        Clean windows needed for a normal/murmur verdict.
    min_clean_share : float
        Share of clean windows (0-1) needed for a normal/murmur verdict.
    murmur_threshold : float
        Murmur share (0-1) at or above which the verdict is murmur.
    session_weight : float
        Weight (0-1) of the session head's murmur share in the blend (used only when session
        probabilities are given).
    """

    min_quality: float = 0.3
    artifact_threshold: float = 0.5
    min_clean_windows: int = 2
    min_clean_share: float = 0.25
    murmur_threshold: float = 0.5
    session_weight: float = 0.0

    def __post_init__(self) -> None:
        """Reject values outside their ranges (a sidecar is external input)."""
        for name in ("min_quality", "artifact_threshold", "min_clean_share", "murmur_threshold",
                     "session_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v!r} must be a number in 0-1")
        n = self.min_clean_windows
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"min_clean_windows={n!r} must be an integer >= 1")

    def to_json(self) -> dict[str, Any]:
        """Dict for the sidecar."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> VerdictRules:
        """From a sidecar dict (unknown keys rejected by the constructor)."""
        return cls(**d)


class VerdictAccumulator:
    """Running sums of a session's windows, so the verdict costs the same after an hour as after
    a minute (a live session adds one window per hop; :func:`aggregate` is one batch of them).

    Sums are added one window at a time in window order, so adding windows one by one or all at
    once gives the same floating-point result.

    Parameters
    ----------
    rules : VerdictRules, optional
        Thresholds (defaults if None).
    """

    def __init__(self, rules: VerdictRules | None = None) -> None:
        self.rules = rules or VerdictRules()
        self.reset()

    def reset(self) -> None:
        """Forget every window (a new session)."""
        self.n = 0
        self.n_clean = 0
        self._art = 0.0  # sum of max(p_artifact, 1 - quality) over all windows
        self._ratio_clean = 0.0  # sum of p_murmur / (p_murmur + p_normal) over clean windows
        self._ratio_all = 0.0  # the same over all windows

    def add(self, probs: np.ndarray, quality: np.ndarray) -> None:
        """Add windows: ``probs`` shape (n_windows, 3) in CLASS_LABELS order, ``quality`` shape
        (n_windows,) in 0-1 (as :func:`aggregate` takes them)."""
        p = np.asarray(probs, dtype=np.float64).reshape(-1, len(CLASS_LABELS))
        q = np.asarray(quality, dtype=np.float64).reshape(-1)
        if p.shape[0] != q.shape[0]:
            raise ValueError(f"{p.shape[0]} probability rows for {q.shape[0]} qualities")
        if p.shape[0] == 0:
            return
        clean, ratio, art = window_terms(p, q, self.rules)
        self.n += p.shape[0]
        self.n_clean += int(clean.sum())
        for a, r, c in zip(art.tolist(), ratio.tolist(), clean.tolist(), strict=True):
            self._art += a
            self._ratio_all += r
            if c:
                self._ratio_clean += r

    def add_windows(self, windows: Sequence[Window]) -> None:
        """:meth:`add` of :class:`~stetho_rt.events.Window` events."""
        p = np.array([[w.probs[k] for k in CLASS_LABELS] for w in windows], dtype=np.float64)
        q = np.array([w.quality.index for w in windows], dtype=np.float64)
        self.add(p.reshape(-1, len(CLASS_LABELS)), q)

    def result(self, session: np.ndarray | None = None) -> dict[str, Any]:
        """The verdict of the windows added so far (see :func:`aggregate`).

        Parameters
        ----------
        session : ndarray, shape (3,), optional
            The session head's probabilities for the same windows (CLASS_LABELS order).
        """
        n, n_clean = self.n, self.n_clean
        if n == 0:
            return _result("artifact", 0.0, 1.0, 0, 0, self.rules.murmur_threshold)
        window_share = self._ratio_clean / n_clean if n_clean else self._ratio_all / n
        return decide(window_share, self._art / n, n, n_clean, self.rules, session)


def window_terms(
    p: np.ndarray, q: np.ndarray, rules: VerdictRules
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window terms of the verdict from probabilities ``p`` (n, 3) and qualities ``q`` (n,):
    (clean mask, murmur share p_murmur / (p_murmur + p_normal), artifact term
    max(p_artifact, 1 - quality)), each shape (n,)."""
    clean = (q >= rules.min_quality) & (p[:, _A] < rules.artifact_threshold)
    share = p[:, _M] / np.maximum(p[:, _M] + p[:, _N], 1e-12)
    return clean, share, np.maximum(p[:, _A], 1.0 - q)


def decide(
    window_share: float,
    artifact: float,
    n: int,
    n_clean: int,
    rules: VerdictRules,
    session: np.ndarray | None = None,
) -> dict[str, Any]:
    """The verdict of ``n >= 1`` windows, ``n_clean`` of them clean, from their pooled murmur
    share ``window_share`` (p_murmur / (p_murmur + p_normal), 0-1) and mean artifact probability
    ``artifact`` (0-1): blended with the session head's share (``session``, shape (3,), if
    given), then the artifact gate and the murmur threshold of ``rules``. Returns the dict of
    :func:`aggregate`."""
    m = window_share
    if session is not None and rules.session_weight > 0.0:
        s = np.asarray(session, dtype=np.float64).reshape(-1)
        m_s = float(s[_M] / max(s[_M] + s[_N], 1e-12))
        m = (1.0 - rules.session_weight) * m + rules.session_weight * m_s
    if n_clean < rules.min_clean_windows or n_clean < rules.min_clean_share * n:
        label = "artifact"
    else:
        label = "murmur" if m >= rules.murmur_threshold else "normal"
    return _result(label, m, artifact, n, n_clean, rules.murmur_threshold)


def aggregate(
    probs: np.ndarray,
    quality: np.ndarray,
    rules: VerdictRules | None = None,
    session: np.ndarray | None = None,
) -> dict[str, Any]:
    """Verdict of a recording from its window probabilities and qualities.

    Parameters
    ----------
    probs : ndarray, shape (n_windows, 3)
        Window probabilities in :data:`~stetho_rt.events.CLASS_LABELS` order.
    quality : ndarray, shape (n_windows,)
        Window quality indices in 0-1.
    rules : VerdictRules, optional
        Thresholds (defaults if None).
    session : ndarray, shape (3,), optional
        The session head's probabilities for the same windows (CLASS_LABELS order).

    Returns
    -------
    dict
        ``{"label", "probs": {normal, murmur, artifact}, "murmur_share", "murmur_threshold",
        "windows", "clean_windows"}`` (JSON-ready, probabilities rounded to 4 digits):
        ``murmur_share`` is ``m``, which decides the label against ``murmur_threshold``.
    """
    acc = VerdictAccumulator(rules)
    acc.add(probs, quality)
    return acc.result(session)


def _result(label: str, m: float, art: float, n: int, n_clean: int,
            threshold: float) -> dict[str, Any]:
    probs = {"normal": (1.0 - art) * (1.0 - m), "murmur": (1.0 - art) * m, "artifact": art}
    return {
        "label": label,
        "probs": {k: round(probs[k], 4) for k in CLASS_LABELS},
        "murmur_share": round(m, 4),
        "murmur_threshold": threshold,
        "windows": n,
        "clean_windows": n_clean,
    }


def aggregate_windows(
    windows: Sequence[Window],
    rules: VerdictRules | None = None,
    session: np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`aggregate` of :class:`~stetho_rt.events.Window` events (and the session head's
    probabilities for them, if any)."""
    acc = VerdictAccumulator(rules)
    acc.add_windows(windows)
    return acc.result(session)
