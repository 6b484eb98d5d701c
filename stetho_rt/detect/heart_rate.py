"""Heart rate: a running envelope autocorrelation (drives the HSMM) and the beat tracker.

:func:`_autocorr_period` (a numba kernel called from the detector's frame loop) estimates the heart
period and the systolic interval from the autocorrelation of the sound-probability track over the
last few seconds, after Springer et al. (2016) / Schmidt et al. (2010), with the lag range widened
to 30-220 bpm; its peak height is the periodicity quality. It adds the autocorrelation of the S1/S2
contrast track ``P(S1) - P(S2)``, anti-correlated at half the period, so children's recordings with
systole ~ diastole no longer halve the rate; it also sums the autocorrelation, and the contrast
autocorrelation alone, over the session (:func:`period_from_acc` reads the session period from the
first sum; the detector checks half/double-period switches against the second).

:class:`BeatTracker` turns the detector's S1 events into :class:`~stetho_rt.events.Beat` events:
an S1-S1 interval counts when it is plausible (30-220 bpm and, when a running estimate exists,
within ±30 % of it: a missed S1 gives a double interval, an extra sound a short one, and both are
left out) or when it ends a regular run of :data:`NEW_RHYTHM_N` intervals away from the estimate
(a new rate; not twice or half the period, which is what every other S1 missed looks like); a
beat's rate is the median of the last :data:`BEAT_MEDIAN_N` accepted intervals. The running rate
shown live is the autocorrelation's, or such a new rhythm until the 8 s autocorrelation catches up
(:meth:`BeatTracker.display_period_s`): a step change shows within about 3 beats, where the
autocorrelation alone took 5-13. It also keeps the plausible intervals, accepted or not
(:attr:`BeatTracker.raw_intervals`, the last :data:`RAW_INTERVALS_KEPT`), from which
:meth:`~stetho_rt.detect.s1s2.S1S2Detector.recording_heart_rate_bpm` refines the session rate.
"""

from __future__ import annotations

import statistics
from collections import deque

import numpy as np

from stetho_rt.config import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM
from stetho_rt.dsp._jit import kernel
from stetho_rt.events import Beat

RAW_INTERVALS_KEPT = 20_000
"""Most S1-S1 intervals kept for the session rate: 2.8 h at 120 bpm, far beyond any recording."""
BEAT_MEDIAN_N = 5
"""Accepted RR intervals in a beat's running median."""
NEW_RHYTHM_N = 3
"""Consecutive intervals that, agreeing with each other but not with the running period (nor with
twice or half of it), are taken as a new rate (the running period, from an 8 s autocorrelation,
catches up later)."""
NEW_RHYTHM_TOL = 0.1
"""Largest relative departure of those intervals from their median."""
NEW_RHYTHM_DEPART = 0.15
"""Relative departure of a regular run from the autocorrelation's period from which the running
rate shows the run (:meth:`BeatTracker.display_period_s`). At 0.15 a 20 % step shows within 3
beats (0.3 left it to the autocorrelation: 5-6 beats), and the shown rate's error on real
recordings is no worse than the autocorrelation's alone (``tools/eval_rate_tracking.py``, 120
recordings each: CirCor MAE 3.03 vs 3.17 bpm against the annotated rate of the last 6 s,
PhysioNet 1.79 vs 1.79)."""
RUN_HANDBACK = 0.05
"""... and back to the autocorrelation's once they agree within this (hysteresis: the 8 s window
catches up gradually)."""
RUN_FRESH_PERIODS = 2.5
"""A run is shown while its last S1 is at most this many of its periods old."""
LAG_MARGIN = 1.1
"""The autocorrelation peak search reaches this factor past the slowest rate, so a period at the
30 bpm end (with beat-to-beat variation) is still a local maximum; the result is clamped."""
RR_TOLERANCE = 0.3
"""Largest relative departure of an accepted RR interval from the running estimate."""


def _near_multiple(rr_s: float, period_s: float, multiples: tuple[float, ...]) -> bool:
    """True when ``rr_s`` is within :data:`NEW_RHYTHM_TOL` of ``k * period_s`` [s] for a ``k`` in
    ``multiples``."""
    return any(abs(rr_s - k * period_s) <= NEW_RHYTHM_TOL * k * period_s for k in multiples)


def _harmonic(rr_s: float, period_s: float) -> bool:
    """True when ``rr_s`` is about twice or half ``period_s`` [s]: every other S1 missed, or S2s
    taken for S1s, look like that; the autocorrelation (with its S1/S2 contrast track) settles
    those, not a run of beats."""
    return _near_multiple(rr_s, period_s, (0.5, 2.0))


@kernel
def _decimate_centre(x, start, ring_len, m, work):  # pragma: no cover - numba
    """Average pairs of ring ``x`` from ``start`` (2:1 decimation) into ``work[:m]``, remove the
    mean; return the energy of the result."""
    mean = 0.0
    for i in range(m):
        a = start + 2 * i
        v = 0.5 * (x[a % ring_len] + x[(a + 1) % ring_len])
        work[i] = v
        mean += v
    mean /= m
    e0 = 0.0
    for i in range(m):
        work[i] -= mean
        e0 += work[i] * work[i]
    return e0


class BeatTracker:
    """Beats from S1 times (Python side, a few events per second); the session rate is
    :meth:`~stetho_rt.detect.s1s2.S1S2Detector.recording_heart_rate_bpm`, from the intervals
    kept in :attr:`raw_intervals`.

    Parameters
    ----------
    min_bpm, max_bpm : float
        Plausible heart-rate range [bpm].
    """

    def __init__(
        self, min_bpm: float = MIN_HEART_RATE_BPM, max_bpm: float = MAX_HEART_RATE_BPM
    ) -> None:
        self.min_rr_s = 60.0 / max_bpm
        self.max_rr_s = 60.0 / min_bpm
        self._last_s1: float | None = None
        self._recent: list[float] = []
        self._run: list[float] = []  # the last consecutive plausible intervals, accepted or not
        self._shown_run: float | None = None  # the new rhythm followed [s] (:meth:`_follow`)
        self.last_s1_decided_s = -np.inf
        """Decision time of the last S1 [s] (-inf before the first or after a break)."""
        self.last_interval_decided_s = -np.inf
        """Decision time of the last S1 that closed a plausible S1-S1 interval [s] (-inf before
        any, and after a break): no running rate is shown unless one was heard
        (:meth:`heard_since`)."""
        self.raw_intervals: deque[float] = deque(maxlen=RAW_INTERVALS_KEPT)
        """Every S1-S1 interval in 30-220 bpm, accepted or not (the session rate's refinement;
        the last :data:`RAW_INTERVALS_KEPT`, so a live session's memory stays flat)."""

    def break_sequence(self) -> None:
        """Forget the last S1 and the last interval heard (after a gap or reset of the detector's
        context: the autocorrelation starts over, and an interval from before the gap must not
        vouch for it); :attr:`raw_intervals` stay for the session rate."""
        self._last_s1 = None
        self._recent.clear()
        self._run.clear()
        self._shown_run = None
        self.last_s1_decided_s = -np.inf
        self.last_interval_decided_s = -np.inf

    def run_period_s(self, period_s: float | None = None) -> float | None:
        """Median [s] of the last :data:`NEW_RHYTHM_N` consecutive intervals when they agree with
        it within :data:`NEW_RHYTHM_TOL` (a steady rhythm: not a missed or extra sound, nor an S2
        taken for an S1) and, given the running period ``period_s`` [s], are not twice or half
        it; else None."""
        if len(self._run) < NEW_RHYTHM_N:
            return None
        m = statistics.median(self._run)
        if not all(_near_multiple(r, m, (1.0,)) for r in self._run):
            return None
        return None if period_s is not None and _harmonic(m, period_s) else m

    def display_period_s(self, period_s: float, now_s: float) -> float:
        """The running period to show at stream time ``now_s`` [s]: the run the last S1 decided
        to follow (:meth:`_follow`) while its last S1 is at most :data:`RUN_FRESH_PERIODS` of
        its periods old, else the autocorrelation's ``period_s`` [s]. No side effects: the
        answer depends only on the samples processed, not on when or how often it is asked."""
        run = self._shown_run
        if run is not None and now_s - self.last_s1_decided_s <= RUN_FRESH_PERIODS * run:
            return run
        return period_s

    def _follow(self, period_s: float | None) -> None:
        """At each S1, with the period its decision saw: follow a regular run of recent intervals
        that departs from ``period_s`` by more than :data:`NEW_RHYTHM_DEPART` (a step change of
        the rate) until the two agree within :data:`RUN_HANDBACK` again. A run twice or half the
        period is not taken up (every other S1 missed looks like that), but one already followed
        is kept when the autocorrelation passes through a multiple of it (its 8 s window then
        holds both rates). While followed, the rhythm survives a missed S1 (an interval of about
        twice its period) and the intervals after it; any other departure from it (an extra
        sound, an irregular rhythm) ends it."""
        if period_s is None:
            self._shown_run = None
            return
        shown = self._shown_run
        if shown is None:
            run = self.run_period_s(period_s)
            if run is not None and abs(run / period_s - 1.0) > NEW_RHYTHM_DEPART:
                self._shown_run = run
            return
        run = self.run_period_s(None)
        if run is None:
            run = shown if self._continues(shown) else None
        keep = run is not None and abs(run / period_s - 1.0) > RUN_HANDBACK
        self._shown_run = run if keep else None

    def _continues(self, rhythm_s: float) -> bool:
        """Whether the last interval fits the rhythm of period ``rhythm_s`` [s]: about one
        period, or two (a missed S1)."""
        return bool(self._run) and _near_multiple(self._run[-1], rhythm_s, (1.0, 2.0))

    def heard_since(self, since_s: float) -> bool:
        """Whether an S1-S1 interval was heard (its closing S1 decided) at or after ``since_s``
        [s, finite] since the last break: the running rate needs one, whatever the
        autocorrelation says (a zeroed burst in a hum leaves it a peak with no heart sound)."""
        return self.last_interval_decided_s >= since_s

    def reset(self) -> None:
        """Forget everything."""
        self.break_sequence()
        self.raw_intervals.clear()

    def add_s1(self, s1_s: float, decided_s: float, period_s: float | None) -> Beat | None:
        """Register an S1 [s]; return its Beat when the interval before it is accepted.

        Parameters
        ----------
        s1_s : float
            Centre of the S1 [s, stream time].
        decided_s : float
            Decision time of the S1 [s].
        period_s : float or None
            Running heart period from the autocorrelation when the S1 was decided [s], if any.
        """
        beat = self._interval(s1_s, decided_s, period_s)
        self._follow(period_s)
        return beat

    def _interval(self, s1_s: float, decided_s: float, period_s: float | None) -> Beat | None:
        prev, self._last_s1 = self._last_s1, s1_s
        self.last_s1_decided_s = decided_s
        if prev is None:
            return None
        rr = s1_s - prev
        if not self.min_rr_s <= rr <= self.max_rr_s:
            self._run.clear()  # the run of consecutive intervals is broken
            return None
        self.raw_intervals.append(rr)
        self.last_interval_decided_s = decided_s
        self._run.append(rr)
        del self._run[:-NEW_RHYTHM_N]
        # judged against the new rhythm while one is followed: the 8 s autocorrelation then
        # holds both rates and passes through multiples of the new period
        ref = self._shown_run if self._shown_run is not None else period_s
        if ref is not None and abs(rr - ref) > RR_TOLERANCE * ref:
            if self.run_period_s(period_s) is None:  # off the period, and no new rhythm
                return None
            self._recent[:] = self._run  # the rate changed: forget the old rhythm's intervals
        else:
            self._recent.append(rr)
            del self._recent[:-BEAT_MEDIAN_N]
        hr = 60.0 / statistics.median(self._recent)
        return Beat(s1_s=s1_s, rr_s=rr, hr_bpm=hr, decided_s=decided_s)


@kernel
def lag_range(fr, min_bpm, max_bpm):  # pragma: no cover - numba
    """(kmin, kmax): the autocorrelation lags [frames at ``fr`` Hz] searched for a heart period
    in ``min_bpm``-``max_bpm``, reaching :data:`LAG_MARGIN` past the slowest rate."""
    kmin = int(np.floor(60.0 / max_bpm * fr))
    kmax = int(np.ceil(60.0 / min_bpm * fr * LAG_MARGIN))
    return kmin, kmax


@kernel
def _autocorr_period(
    xs, xd, n, start, ring_len, rate, min_bpm, max_bpm, work, r, rd, racc, out
):  # pragma: no cover
    """Heart period from the sound-probability track ``xs`` and the S1-S2 contrast track ``xd``.

    Both tracks (last ``n`` values of the rings, averaged in pairs to ``rate / 2``) are
    autocorrelated; the score ``r(k) + rd(k)`` has its highest local maximum at the heart period:
    at half the period (S1 over S2, systole ~ diastole in children) the contrast track is
    anti-correlated, which removes the halving of the plain envelope autocorrelation. The score is
    also added to ``racc[0]`` and the contrast autocorrelation alone to ``racc[1]`` (the
    recording's summed autocorrelations, shape (2, len(r)); column 0 counts the estimates). On
    return ``r`` holds the score and ``rd`` the contrast autocorrelation. Writes ``out =
    [period_s, peak]`` (:func:`_lag_peak`) and returns True when a period was found.
    """
    m = n // 2
    if m < 8:
        return False
    fr = rate / 2.0
    kmin, kmax = lag_range(fr, min_bpm, max_bpm)
    if kmax > (2 * m) // 3:
        kmax = (2 * m) // 3
    if kmax > r.shape[0] - 2:
        kmax = r.shape[0] - 2
    if kmax <= kmin + 2:
        return False
    for pass_ in range(2):
        x = xs if pass_ == 0 else xd
        rr = r if pass_ == 0 else rd
        e0 = _decimate_centre(x, start, ring_len, m, work)
        if e0 <= 1e-12:
            for k in range(kmax + 2):
                rr[k] = 0.0
            continue
        for k in range(1, kmax + 2):
            acc = 0.0
            for i in range(m - k):
                acc += work[i] * work[i + k]
            rr[k] = acc / e0
    for k in range(1, kmax + 2):
        r[k] = 0.5 * (r[k] + rd[k])
    if not _lag_peak(r, kmin, kmax, fr, 60.0 / min_bpm, out):
        return False
    if out[1] > 0.0:
        for k in range(1, kmax + 2):
            racc[0, k] += r[k]
            racc[1, k] += rd[k]
        racc[0, 0] += 1.0
        racc[1, 0] += 1.0
    return True


def period_from_acc(
    racc: np.ndarray, rate: float, min_bpm: float, max_bpm: float
) -> tuple[float, float] | None:
    """(period_s, mean peak) of the session's summed autocorrelation ``racc`` (``racc[0]``: count).

    Springer-style peak search: the highest local maximum in the 30-220 bpm lag range.
    """
    cnt = float(racc[0])
    if cnt < 1.0:
        return None
    r = racc / cnt
    fr = rate / 2.0
    kmin, kmax = lag_range(fr, min_bpm, max_bpm)
    kmin, kmax = max(kmin, 1), min(kmax, r.shape[0] - 2)
    out = np.zeros(2)
    if not _lag_peak(r, kmin, kmax, fr, 60.0 / min_bpm, out):
        return None
    return float(out[0]), float(out[1])


@kernel
def _lag_peak(r, kmin, kmax, fr, max_period_s, out):  # pragma: no cover
    """Highest local maximum of the autocorrelation ``r`` over lags ``kmin..kmax`` [frames at
    ``fr`` Hz], refined by a parabola through its neighbours. Writes ``out[0]`` = period [s]
    (at most ``max_period_s``) and ``out[1]`` = the peak value; False when there is no peak."""
    best_k = -1
    best_r = -1e9
    for k in range(kmin, kmax + 1):
        if r[k] >= r[k - 1] and r[k] >= r[k + 1] and r[k] > best_r:
            best_r = r[k]
            best_k = k
    if best_k < 0:
        return False
    den = r[best_k - 1] - 2.0 * r[best_k] + r[best_k + 1]
    shift = 0.0
    if den < 0.0:
        shift = 0.5 * (r[best_k - 1] - r[best_k + 1]) / den
    out[0] = min((best_k + shift) / fr, max_period_s)
    out[1] = best_r
    return True
