"""Slow reference: the original numpy window summary (before the kernel rewrite).

``window_vector`` and ``window_quality`` below are the implementation the shipped model
(``models/classifier.onnx``) was trained on, but for one later rule in ``window_quality``: a
window more than ``OVERDRIVEN_SHARE`` clipped gets quality 0 (stop 25; 39 of 39 891 dev windows,
no verdict changed); ``tests/classify/test_window_reference.py`` checks the fast implementation
in :mod:`stetho_rt.classify.windows` against them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stetho_rt.classify.windows import (
    BAND_GROUPS,
    CLIP_RMS,
    CLIP_SHARE,
    DIGITAL_SILENCE_RMS,
    ENVELOPE_BANDS,
    OVERDRIVEN_SHARE,
    PERIODICITY_FULL,
    QUIET_RMS,
    SILENT_SHARE,
)
from stetho_rt.config import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM
from stetho_rt.events import Quality

_EPS = 1e-10
_PCTS = (10.0, 50.0, 90.0)


def _autocorr(env: np.ndarray) -> np.ndarray:
    """Normalised, unbiased autocorrelation of each column of ``env`` (zero for constant ones).

    Parameters
    ----------
    env : ndarray, shape (n,) or (n, k)
        Envelopes, one per column.

    Returns
    -------
    ndarray, shape (n, k)
        ``ac[lag, j]``, 1 at lag 0 (for non-constant columns).
    """
    e = env.reshape(env.shape[0], -1)
    n = e.shape[0]
    e = e - e.mean(axis=0)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(e, nfft, axis=0)
    ac = np.fft.irfft(spec * np.conj(spec), nfft, axis=0)[:n]
    ok = ac[0] > _EPS
    ac = ac / np.where(ok, ac[0], 1.0) * (n / (n - np.arange(n)))[:, None]
    ac[:, ~ok] = 0.0
    return ac


def _envelope_periodicity(env: np.ndarray, frame_rate: float) -> tuple[float, float]:
    """Highest normalised autocorrelation of ``env`` at heart-rate lags, and that lag [s]."""
    n = env.shape[0]
    ac = _autocorr(env)[:, 0]
    if ac[0] == 0.0:
        return 0.0, 0.0
    lo = int(np.floor(frame_rate * 60.0 / MAX_HEART_RATE_BPM))
    hi = min(int(np.ceil(frame_rate * 60.0 / MIN_HEART_RATE_BPM)), n // 2)
    if hi <= lo + 2:
        return 0.0, 0.0
    seg = ac[lo:hi]
    # local maxima only (a monotone decay from lag 0 is not periodicity)
    peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
    if peaks.size == 0:
        return 0.0, 0.0
    k = int(peaks[np.argmax(seg[peaks])])
    return float(min(max(seg[k], 0.0), 1.0)), float((lo + k) / frame_rate)


def _sorted_pct(srt: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Percentiles (linear interpolation, as ``np.percentile``) of columns already sorted."""
    n = srt.shape[0]
    pos = np.asarray(qs) / 100.0 * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo)[:, None]
    return srt[lo] * (1.0 - frac) + srt[hi] * frac


def _segments(env_db: np.ndarray, frame_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crude heart-sound segmentation of one window from its low-band envelope [dB].

    Peaks are local maxima within +-100 ms above the envelope's 60th percentile; the intervals
    between consecutive peaks are split into the shorter half ("systolic") and the longer half
    ("diastolic"), and the middle half of each interval (away from the sounds) is marked.

    Returns
    -------
    peaks : ndarray of intp
        Frame indices of the peaks.
    sys_mask, dia_mask : ndarray of bool, shape (n_frames,)
        Interior frames of the short and the long intervals.
    """
    from scipy.ndimage import maximum_filter1d

    n = env_db.shape[0]
    sm = np.convolve(env_db, np.full(3, 1.0 / 3.0), mode="same")
    half = max(round(0.1 * frame_rate), 1)
    mx = maximum_filter1d(sm, 2 * half + 1, mode="nearest")
    thr = np.percentile(sm, 60.0)
    peaks = np.flatnonzero((sm == mx) & (sm > thr))
    if peaks.size > 1:  # plateaus: keep the first frame of equal neighbours
        peaks = peaks[np.concatenate(([True], np.diff(peaks) > half))]
    sys_mask = np.zeros(n, dtype=bool)
    dia_mask = np.zeros(n, dtype=bool)
    if peaks.size >= 3:
        d = np.diff(peaks)
        med = np.median(d)
        for i in range(d.shape[0]):
            a = peaks[i] + d[i] // 4
            b = peaks[i] + (3 * d[i]) // 4
            if d[i] <= med:
                sys_mask[a:b] = True
            else:
                dia_mask[a:b] = True
    return peaks, sys_mask, dia_mask


def window_vector(frames: np.ndarray, frame_rate: float) -> tuple[npt.NDArray[np.float32], float]:
    """Summary vector of one window of per-frame features.

    Parameters
    ----------
    frames : ndarray, shape (n_frames, 4 + n_mels)
        Per-frame features in :data:`~stetho_rt.dsp.features.FEATURE_NAMES` order (rms [full
        scale], zcr [1], centroid and bandwidth [Hz], log-mel [dB]).
    frame_rate : float
        Frames per second [Hz] (125 with the defaults).

    Returns
    -------
    vector : ndarray of float32, shape (len(window_feature_names(n_mels)),)
        Window features; dB differences, Hz / 1000 and ratios, no absolute level.
    periodicity : float
        Envelope periodicity in 0-1 (input of :func:`window_quality`).
    """
    f = np.asarray(frames, dtype=np.float64)
    n = f.shape[0]
    n_mels = f.shape[1] - 4
    mel = f[:, 4:]
    pw = np.power(10.0, mel / 10.0)
    level = 10.0 * np.log10(pw.sum(axis=1) + _EPS)  # frame level [dB]
    srt_level = np.sort(level)
    l10, l50, l75, l90 = _sorted_pct(srt_level[:, None], (10.0, 50.0, 75.0, 90.0))[:, 0]
    rel = mel - l50
    cols = np.column_stack([rel, f[:, 1], f[:, 2] / 1000.0, f[:, 3] / 1000.0])
    pct = _sorted_pct(np.sort(cols, axis=0), _PCTS)  # (3, n_mels + 3)
    quiet = level < l50
    loud = level > l75
    if not quiet.any():
        quiet = level <= l50
    if not loud.any():
        loud = level >= l75
    loud_mean = rel[loud].mean(axis=0)
    quiet_minus_loud = rel[quiet].mean(axis=0) - loud_mean
    # segmentation-based: interior of short/long intervals relative to the peaks' spectrum
    env = np.sqrt(pw[:, :ENVELOPE_BANDS].sum(axis=1))
    env_db = 20.0 * np.log10(env + 1e-5)
    peaks, sys_m, dia_m = _segments(env_db, frame_rate)
    if peaks.size >= 3 and sys_m.any() and dia_m.any():
        peak_mean = rel[peaks].mean(axis=0)
        sys_minus_peak = rel[sys_m].mean(axis=0) - peak_mean
        dia_minus_peak = rel[dia_m].mean(axis=0) - peak_mean
        d = np.diff(peaks).astype(np.float64)
        med = np.median(d)
        short, long_ = d[d <= med], d[d > med]
        ratio = short.mean() / long_.mean() if long_.size else 1.0
        cv = d.std() / d.mean()
        sys_level = level[sys_m].mean() - level[peaks].mean()
        dia_level = level[dia_m].mean() - level[peaks].mean()
    else:
        sys_minus_peak = quiet_minus_loud
        dia_minus_peak = quiet_minus_loud
        ratio, cv = 1.0, 1.0
        sys_level = dia_level = float(l10 - l90)
    sys_minus_dia = sys_minus_peak - dia_minus_peak
    parts: list[np.ndarray] = [
        pct[:, :n_mels].reshape(-1),
        quiet_minus_loud,
        sys_minus_peak,
        dia_minus_peak,
        sys_minus_dia,
        np.array([l90 - l10, l50 - l10, level.std()]),
    ]
    for j in range(3):
        parts.append(pct[:, n_mels + j])
        parts.append(np.array([cols[quiet, n_mels + j].mean()]))
    shape = mel - level[:, None]
    flux = np.sqrt(np.mean(np.diff(shape, axis=0) ** 2, axis=1)) if n > 1 else np.zeros(1)
    srt_flux = np.sort(flux)
    parts.append(np.array([flux.mean(), _sorted_pct(srt_flux[:, None], (90.0,))[0, 0]]))
    periodicity, period_s = _envelope_periodicity(env, frame_rate)
    e2 = env * env
    top = np.sort(e2)[int(0.8 * n) :]
    peak_share = top.sum() / (e2.sum() + _EPS)
    parts.append(np.array([periodicity, period_s, peak_share, quiet.mean()]))
    parts.append(np.array([peaks.size * frame_rate / n, cv, ratio, sys_level, dia_level]))
    lag = round(period_s * frame_rate)
    if 0 < lag < n:
        bands = np.column_stack([np.sqrt(pw[:, a:b].sum(axis=1)) for a, b in BAND_GROUPS])
        parts.append(np.clip(_autocorr(bands)[lag], -1.0, 1.0))
    else:
        parts.append(np.zeros(len(BAND_GROUPS)))
    vec = np.concatenate(parts).astype(np.float32)
    return vec, periodicity


def window_quality(frames: np.ndarray, periodicity: float) -> Quality:
    """Signal-quality index of one window from its frames and envelope periodicity.

    Parameters
    ----------
    frames : ndarray, shape (n_frames, 4 + n_mels)
        Per-frame features (column 0 is the frame RMS [full scale]).
    periodicity : float
        Envelope autocorrelation peak in 0-1 (from :func:`window_vector`).

    Returns
    -------
    Quality
        ``index`` in 0-1: periodicity / :data:`PERIODICITY_FULL` capped at 1, times 0 when the
        window is too quiet (median RMS < :data:`QUIET_RMS`, or more than :data:`SILENT_SHARE`
        of its frames below :data:`DIGITAL_SILENCE_RMS`), times 0.5 when more than
        :data:`CLIP_SHARE` of its frames are clipped (RMS >= :data:`CLIP_RMS`), times 0 when more
        than :data:`OVERDRIVEN_SHARE` are.
    """
    rms = np.asarray(frames[:, 0], dtype=np.float64)
    silent = np.mean(rms < DIGITAL_SILENCE_RMS) if rms.size else 0.0
    too_quiet = bool(np.median(rms) < QUIET_RMS or silent > SILENT_SHARE)
    clipped_share = float(np.mean(rms >= CLIP_RMS)) if rms.size else 0.0
    clipped = clipped_share > CLIP_SHARE
    index = min(periodicity / PERIODICITY_FULL, 1.0)
    if too_quiet:
        index = 0.0
    if clipped_share > OVERDRIVEN_SHARE:
        index = 0.0
    elif clipped:
        index *= 0.5
    return Quality(index=float(index), clipped=clipped, too_quiet=too_quiet)
