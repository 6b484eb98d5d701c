"""Online hidden semi-Markov model of the cardiac cycle: duration model and fixed-lag Viterbi.

States cycle S1 (0) -> systole (1) -> S2 (2) -> diastole (3) -> S1. The explicit-duration Viterbi
recursion is run forward one frame at a time::

    delta[t, j] = max_d  delta[t - d, prev(j)] + log p_j(d) + sum_{u = t-d+1..t} log b_j(u)

(the best path whose segment in state ``j`` ends exactly at frame ``t``), at cost
``sum_j dmax_j`` per frame. At each frame the best *current* path (the segment in progress scored
with
the duration survival function) is traced back to the last committed frame; every segment that ended
at least ``lag`` frames ago is committed, i.e. the path is clamped through it (``delta`` restarts
from
0 at its end and nothing may start before it) and the frames after it are re-scored. Committed
segments are never revised, so each sound is emitted exactly once, ``lag`` frames after its end.

The first segment after the start (or a reset) may have begun earlier, so it pays no duration cost.

Duration model (after Springer et al. 2016, 100 frames/s): S1 122 ± 22 ms, S2 94 ± 22 ms, systole =
systolic interval - S1 ± 25 ms with the systolic interval a linear function of the period
(:func:`systolic_interval`, more reliable than Springer's autocorrelation estimate in children),
diastole = period - systolic interval - S2 ± (7 % + 6 ms); each
Gaussian is mixed with a small uniform floor so that a missed or extra sound costs, but never
deadlocks, the path.

References
----------
D. B. Springer, L. Tarassenko, G. D. Clifford, "Logistic regression-HSMM-based heart sound
segmentation", IEEE Trans. Biomed. Eng. 63(4), 2016.
"""

from __future__ import annotations

import numpy as np

from stetho_rt.dsp._jit import kernel

N_STATES = 4
S1, SYS, S2, DIA = 0, 1, 2, 3
DMAX = 220
"""Longest segment of any state [frames at 100 Hz] (diastole at 30 bpm with margin)."""
RING = 1024
"""History kept for back-tracking and re-scoring [frames]; must exceed DMAX + lag + a cycle."""
DURATION_FLOOR = 0.02
"""Weight of the uniform component mixed into each duration pmf."""

# integer state vector layout
I_T, I_CEND, I_CSTATE, I_NEXT = 0, 1, 2, 3
N_ISTATE = 4


SYSTOLE_A_S = 0.11
SYSTOLE_B = 0.22
"""S1-onset to S2-onset interval = A + B * period [s] (fitted on the dev annotations: S1-S2 centre
interval 0.12 + 0.22 T in both CirCor and PhysioNet, residual SD 20-30 ms)."""


@kernel
def systolic_interval(period_s):  # pragma: no cover - numba
    """Expected S1-onset to S2-onset interval [s] for a heart period [s] (at most 45 % of it)."""
    return min(SYSTOLE_A_S + SYSTOLE_B * period_s, 0.45 * period_s)


@kernel
def durations(period_s, systole_s, rate, dmax, logdur, logsurv):  # pragma: no cover - numba
    """Fill log duration pmf and log survival tables (shape (4, DMAX + 1)) for a heart period.

    Parameters are in seconds and frames per second; ``dmax`` (4,) receives the longest duration of
    each state [frames].
    """
    means = np.empty(4)
    stds = np.empty(4)
    # sounds shorten at very fast rates (a quarter / a fifth of the period at most)
    means[0] = min(0.122, 0.25 * period_s) * rate
    stds[0] = 0.022 * rate
    means[2] = min(0.094, 0.2 * period_s) * rate
    stds[2] = 0.022 * rate
    means[1] = max(systole_s * rate - means[0], 0.04 * rate)
    stds[1] = 0.025 * rate
    means[3] = max(period_s * rate - systole_s * rate - means[2], 0.05 * rate)
    stds[3] = 0.07 * means[3] + 0.006 * rate
    for j in range(4):
        hi = int(np.ceil(means[j] + 4.0 * stds[j])) + 1
        if j == 3:
            hi = int(np.ceil(means[j] * 1.6 + 4.0 * stds[j])) + 1
        if hi > DMAX:
            hi = DMAX
        if hi < 3:
            hi = 3
        dmax[j] = hi
        tot = 0.0
        for d in range(1, hi + 1):
            z = (d - means[j]) / stds[j]
            p = np.exp(-0.5 * z * z) / (stds[j] * 2.5066282746310002)
            logdur[j, d] = p
            tot += p
        for d in range(1, hi + 1):
            logdur[j, d] = (1.0 - DURATION_FLOOR) * logdur[j, d] / tot + DURATION_FLOOR / hi
        s = 0.0
        for d in range(hi, 0, -1):
            s += logdur[j, d]
            logsurv[j, d] = np.log(s)
        for d in range(1, hi + 1):
            logdur[j, d] = np.log(logdur[j, d])


@kernel
def _segment_score(t, j, d, logb, delta, cend, cstate, logdur_jd):  # pragma: no cover - numba
    """Score of a segment of state ``j`` covering frames ``t-d+1 .. t`` (excluding emissions)."""
    s = t - d
    p = (j + 3) % 4
    if s == cend:
        if cstate < 0:
            return 0.0  # open start: any state, no duration cost
        if cstate == p:
            return logdur_jd
        return -np.inf
    return delta[s % RING, p] + logdur_jd


@kernel
def viterbi_step(t, logb, delta, psi, ist, dmax, logdur):  # pragma: no cover - numba
    """Compute ``delta[t, :]`` and ``psi[t, :]`` (frame ``t`` needs its emissions in ``logb``)."""
    cend = ist[I_CEND]
    cstate = ist[I_CSTATE]
    for j in range(4):
        best = -np.inf
        best_d = 1
        em = 0.0
        for d in range(1, dmax[j] + 1):
            s = t - d
            if s < cend:
                break
            em += logb[(s + 1) % RING, j]
            v = _segment_score(t, j, d, logb, delta, cend, cstate, logdur[j, d]) + em
            if v > best:
                best = v
                best_d = d
        delta[t % RING, j] = best
        psi[t % RING, j] = best_d


@kernel
def current_path(t, logb, delta, psi, ist, dmax, logsurv, seg):  # pragma: no cover - numba
    """Trace the best path ending at ``t`` back to the committed frame.

    Writes segments oldest first into ``seg`` rows ``[state, start, end]`` and returns their count
    (the last one is the segment still in progress).
    """
    cend = ist[I_CEND]
    cstate = ist[I_CSTATE]
    best = -np.inf
    bj = -1
    bd = 1
    for j in range(4):
        em = 0.0
        for d in range(1, dmax[j] + 1):
            s = t - d
            if s < cend:
                break
            em += logb[(s + 1) % RING, j]
            v = _segment_score(t, j, d, logb, delta, cend, cstate, logsurv[j, d]) + em
            if v > best:
                best = v
                bj = j
                bd = d
    if bj < 0:
        return 0
    n = 0
    j = bj
    end = t
    d = bd
    while True:
        seg[n, 0] = j
        seg[n, 1] = end - d + 1
        seg[n, 2] = end
        n += 1
        end = end - d
        if end <= cend or n >= seg.shape[0]:
            break
        j = (j + 3) % 4
        d = psi[end % RING, j]
    # reverse to oldest first
    for i in range(n // 2):
        for c in range(3):
            tmp = seg[i, c]
            seg[i, c] = seg[n - 1 - i, c]
            seg[n - 1 - i, c] = tmp
    return n


@kernel
def commit(state, end, t, logb, delta, psi, ist, dmax, logdur):  # pragma: no cover - numba
    """Clamp the path through a segment of ``state`` ending at frame ``end``; re-score to ``t``."""
    ist[I_CEND] = end
    ist[I_CSTATE] = state
    for u in range(end + 1, t + 1):
        viterbi_step(u, logb, delta, psi, ist, dmax, logdur)
