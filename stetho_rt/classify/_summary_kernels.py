"""Numba kernels of the classifier window summary (:mod:`stetho_rt.classify.windows`).

Two passes over the window's frames (:func:`prep_kernel`, then a numpy row sort, then
:func:`summary_kernel`) replace the dozens of small numpy calls of the original implementation
(kept as ``tests/classify/reference_window.py``). The arithmetic mirrors numpy's where it decides
bits (16-element row sums in numpy's 8-accumulator pairwise order, percentiles with the same
interpolation, ``np.convolve``'s order); other sums are sequential (~1e-15 relative).

Output layout of :func:`summary_kernel` (``n_mels = M``), as ``window_feature_names``:
``p10[M] p50[M] p90[M] quiet_minus_loud[M] sys_minus_peak[M] dia_minus_peak[M] sys_minus_dia[M]``,
``level_p90_p10 level_p50_p10 level_std``, ``(p10 p50 p90 quiet)`` of zcr / centroid / bandwidth,
``flux_mean flux_p90``, ``env_periodicity env_period_s`` (left for the caller), ``env_peak_share
quiet_frames_share``, ``peaks_per_s interval_cv short_long_ratio sys_level dia_level``, band
periodicities (left for the caller, :func:`band_autocorr_kernel`).
"""

from __future__ import annotations

import math

import numpy as np

from stetho_rt.dsp._jit import kernel

_EPS = 1e-10


@kernel
def sorted_quantile(a, q):  # pragma: no cover - compiled
    """numpy's default (linear) ``quantile`` of the sorted 1-D ``a`` at ``q`` in 0-1, to the bit."""
    pos = q * (a.shape[0] - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, a.shape[0] - 1)
    t = pos - lo
    d = a[hi] - a[lo]
    if t >= 0.5:
        return a[hi] - d * (1.0 - t)
    return a[lo] + d * t


@kernel
def _pairwise16(row):  # pragma: no cover - compiled
    """Sum of 16 values in numpy's pairwise order (8 accumulators, then a tree)."""
    r0 = row[0] + row[8]
    r1 = row[1] + row[9]
    r2 = row[2] + row[10]
    r3 = row[3] + row[11]
    r4 = row[4] + row[12]
    r5 = row[5] + row[13]
    r6 = row[6] + row[14]
    r7 = row[7] + row[15]
    return ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))


@kernel
def _median_int(d, k):  # pragma: no cover - compiled
    """``np.median`` of the first ``k`` integers of ``d``."""
    s = np.sort(d[:k])
    h = k // 2
    if k % 2 == 1:
        return float(s[h])
    return (float(s[h - 1]) + float(s[h])) / 2.0


@kernel
def _spct(row, n, q):  # pragma: no cover - compiled
    """``_sorted_pct`` of the original: percentile ``q`` of the sorted ``row[:n]``, as 2 parts.

    Returns ``(v_lo, v_hi, frac)``; the percentile is ``v_lo * (1 - frac) + v_hi * frac`` (the
    caller transforms ``v_lo``, ``v_hi`` first where the original sorted transformed values).
    """
    pos = q / 100.0 * (n - 1)
    lo = int(pos)  # pos >= 0: floor
    hi = min(lo + 1, n - 1)
    return row[lo], row[hi], pos - lo


@kernel
def prep_kernel(f, pw, env_bands, band_groups, rows, level, sm, env, bands):  # pragma: no cover
    """First pass: frame level, envelopes, flux and the rows to sort.

    Parameters
    ----------
    f : float64 (n, 4 + M)
        Frames.
    pw : float64 (n, M)
        Mel band powers ``10 ** (mel / 10)``, computed by numpy (numba's ``pow`` is slower and
        not bit-identical): ``np.power`` for the envelope bands (an ulp there flips the envelope
        period of near-constant windows such as 50 Hz hum), SIMD ``exp`` for the others.
    env_bands : int
        Mel bands summed into the heart-sound envelope.
    band_groups : int64 (G, 2)
        Mel band ranges of the band envelopes.
    rows : float64 (M + 7, n)
        Out, to be sorted row-wise by the caller: mel bands, zcr, centroid, bandwidth, frame
        level, flux (n - 1 values, then +inf), smoothed envelope [dB], squared envelope.
    level, sm, env : float64 (n,)
        Out: frame level [dB], smoothed low-band envelope [dB], low-band envelope (linear).
    bands : float64 (n, G)
        Out: band envelopes (linear).
    """
    n = f.shape[0]
    n_mels = pw.shape[1]
    r_lev = n_mels + 3
    r_flux = n_mels + 4
    r_sm = n_mels + 5
    r_e2 = n_mels + 6
    n_groups = band_groups.shape[0]
    env_db = np.empty(n)
    for i in range(n):
        if n_mels == 16:
            level[i] = 10.0 * np.log10(_pairwise16(pw[i]) + _EPS)
        else:
            t = 0.0
            for m in range(n_mels):
                t += pw[i, m]
            level[i] = 10.0 * np.log10(t + _EPS)
        t = 0.0
        for m in range(env_bands):
            t += pw[i, m]
        e = math.sqrt(t)
        env[i] = e
        env_db[i] = 20.0 * np.log10(e + 1e-5)
        for g in range(n_groups):
            t = 0.0
            for m in range(band_groups[g, 0], band_groups[g, 1]):
                t += pw[i, m]
            bands[i, g] = math.sqrt(t)
        rows[r_lev, i] = level[i]
        rows[r_e2, i] = e * e
    for c in range(n_mels + 3):
        for i in range(n):
            rows[c, i] = f[i, 4 + c] if c < n_mels else f[i, c - n_mels + 1]
    w = 1.0 / 3.0
    for i in range(n):
        t = 0.0
        if i > 0:
            t += env_db[i - 1] * w
        t += env_db[i] * w
        if i + 1 < n:
            t += env_db[i + 1] * w
        sm[i] = t
        rows[r_sm, i] = t
    dd = np.empty(n_mels)
    for i in range(n - 1):
        for m in range(n_mels):
            x = (f[i + 1, 4 + m] - level[i + 1]) - (f[i, 4 + m] - level[i])
            dd[m] = x * x
        if n_mels == 16:
            t = _pairwise16(dd)
        else:
            t = 0.0
            for m in range(n_mels):
                t += dd[m]
        rows[r_flux, i] = math.sqrt(t / n_mels)
    rows[r_flux, n - 1] = np.inf


@kernel
def summary_kernel(f, srt, level, sm, frame_rate, out):  # pragma: no cover - compiled
    """Second pass: everything of the window vector except the autocorrelation features.

    Parameters
    ----------
    f : float64 (n, 4 + M)
        Frames.
    srt : float64 (M + 7, n)
        ``rows`` of :func:`prep_kernel`, each sorted.
    level, sm : float64 (n,)
        From :func:`prep_kernel`.
    frame_rate : float
    out : float64 (7 M + 26 + G,)
        Filled except ``env_periodicity``, ``env_period_s`` and the band periodicities.
    """
    n = f.shape[0]
    n_mels = f.shape[1] - 4
    r_lev = n_mels + 3
    r_flux = n_mels + 4
    r_sm = n_mels + 5
    r_e2 = n_mels + 6
    lv = np.empty(4)
    for k in range(4):
        q = 10.0 if k == 0 else (50.0 if k == 1 else (75.0 if k == 2 else 90.0))
        v_lo, v_hi, frac = _spct(srt[r_lev], n, q)
        lv[k] = v_lo * (1.0 - frac) + v_hi * frac
    l10, l50, l75, l90 = lv[0], lv[1], lv[2], lv[3]
    # per mel band percentiles of the level-relative band level
    for m in range(n_mels):
        for k in range(3):
            q = 10.0 if k == 0 else (50.0 if k == 1 else 90.0)
            v_lo, v_hi, frac = _spct(srt[m], n, q)
            out[k * n_mels + m] = (v_lo - l50) * (1.0 - frac) + (v_hi - l50) * frac
    # quiet / loud frames
    quiet = np.empty(n, dtype=np.bool_)
    loud = np.empty(n, dtype=np.bool_)
    nq = 0
    nl = 0
    for i in range(n):
        quiet[i] = level[i] < l50
        loud[i] = level[i] > l75
        nq += quiet[i]
        nl += loud[i]
    if nq == 0:
        for i in range(n):
            quiet[i] = level[i] <= l50
            nq += quiet[i]
    if nl == 0:
        for i in range(n):
            loud[i] = level[i] >= l75
            nl += loud[i]
    o = 3 * n_mels
    qml = out[o : o + n_mels]
    loud_sum = np.zeros(n_mels)
    quiet_sum = np.zeros(n_mels)
    for i in range(n):
        if loud[i]:
            for m in range(n_mels):
                loud_sum[m] += f[i, 4 + m] - l50
    for i in range(n):
        if quiet[i]:
            for m in range(n_mels):
                quiet_sum[m] += f[i, 4 + m] - l50
    for m in range(n_mels):
        qml[m] = quiet_sum[m] / nq - loud_sum[m] / nl
    # crude heart-sound segmentation from the smoothed low-band envelope [dB]: peaks are local
    # maxima within +-100 ms above its 60th percentile (the first of a plateau); the intervals
    # between consecutive peaks are split into the shorter half ("systolic") and the longer half
    # ("diastolic"), and the middle half of each interval (away from the sounds) is marked
    half = max(round(0.1 * frame_rate), 1)
    thr = sorted_quantile(srt[r_sm], 0.6)  # np.percentile(sm, 60)
    cand = np.empty(n, dtype=np.int64)
    nc = 0
    for i in range(n):
        if not sm[i] > thr:
            continue
        lo = max(i - half, 0)
        hi = min(i + half + 1, n)
        is_max = True
        for k in range(lo, hi):
            if sm[k] > sm[i]:
                is_max = False
                break
        if is_max:
            cand[nc] = i
            nc += 1
    peaks = np.empty(max(nc, 1), dtype=np.int64)
    npk = 0
    for c in range(nc):
        if c == 0 or cand[c] - cand[c - 1] > half:
            peaks[npk] = cand[c]
            npk += 1
    sys_m = np.zeros(n, dtype=np.bool_)
    dia_m = np.zeros(n, dtype=np.bool_)
    d = np.empty(max(npk - 1, 1), dtype=np.int64)
    med = 0.0
    if npk >= 3:
        for i in range(npk - 1):
            d[i] = peaks[i + 1] - peaks[i]
        med = _median_int(d, npk - 1)
        for i in range(npk - 1):
            a = peaks[i] + d[i] // 4
            b = peaks[i] + (3 * d[i]) // 4
            if d[i] <= med:
                sys_m[a:b] = True
            else:
                dia_m[a:b] = True
    ns = 0
    nda = 0
    for i in range(n):
        ns += sys_m[i]
        nda += dia_m[i]
    o_smp = 4 * n_mels
    o_dmp = 5 * n_mels
    o_smd = 6 * n_mels
    if npk >= 3 and ns > 0 and nda > 0:
        peak_sum = np.zeros(n_mels)
        for p in range(npk):
            for m in range(n_mels):
                peak_sum[m] += f[peaks[p], 4 + m] - l50
        sys_sum = np.zeros(n_mels)
        dia_sum = np.zeros(n_mels)
        lev_sys = 0.0
        lev_dia = 0.0
        for i in range(n):
            if sys_m[i]:
                lev_sys += level[i]
                for m in range(n_mels):
                    sys_sum[m] += f[i, 4 + m] - l50
            if dia_m[i]:
                lev_dia += level[i]
                for m in range(n_mels):
                    dia_sum[m] += f[i, 4 + m] - l50
        for m in range(n_mels):
            pm = peak_sum[m] / npk
            out[o_smp + m] = sys_sum[m] / ns - pm
            out[o_dmp + m] = dia_sum[m] / nda - pm
        nint = npk - 1
        s_short = 0.0
        n_short = 0
        s_long = 0.0
        n_long = 0
        s_all = 0.0
        for i in range(nint):
            x = float(d[i])
            s_all += x
            if x <= med:
                s_short += x
                n_short += 1
            else:
                s_long += x
                n_long += 1
        ratio = (s_short / n_short) / (s_long / n_long) if n_long > 0 else 1.0
        d_mean = s_all / nint
        ss = 0.0
        for i in range(nint):
            x = float(d[i]) - d_mean
            ss += x * x
        cv = math.sqrt(ss / nint) / d_mean
        lev_pk = 0.0
        for p in range(npk):
            lev_pk += level[peaks[p]]
        lev_pk = lev_pk / npk
        sys_level = lev_sys / ns - lev_pk
        dia_level = lev_dia / nda - lev_pk
    else:
        for m in range(n_mels):
            out[o_smp + m] = qml[m]
            out[o_dmp + m] = qml[m]
        ratio = 1.0
        cv = 1.0
        sys_level = l10 - l90
        dia_level = sys_level
    for m in range(n_mels):
        out[o_smd + m] = out[o_smp + m] - out[o_dmp + m]
    # frame level spread
    o = 7 * n_mels
    s = 0.0
    for i in range(n):
        s += level[i]
    mean = s / n
    ss = 0.0
    for i in range(n):
        x = level[i] - mean
        ss += x * x
    out[o] = l90 - l10
    out[o + 1] = l50 - l10
    out[o + 2] = math.sqrt(ss / n)
    o += 3
    # zcr, centroid [kHz], bandwidth [kHz]: percentiles and mean of quiet frames
    for j in range(3):
        r = n_mels + j
        qs = 0.0
        if j == 0:
            for i in range(n):
                if quiet[i]:
                    qs += f[i, 1]
            for k in range(3):
                q = 10.0 if k == 0 else (50.0 if k == 1 else 90.0)
                v_lo, v_hi, frac = _spct(srt[r], n, q)
                out[o + k] = v_lo * (1.0 - frac) + v_hi * frac
        else:
            for i in range(n):
                if quiet[i]:
                    qs += f[i, 1 + j] / 1000.0
            for k in range(3):
                q = 10.0 if k == 0 else (50.0 if k == 1 else 90.0)
                v_lo, v_hi, frac = _spct(srt[r], n, q)
                out[o + k] = (v_lo / 1000.0) * (1.0 - frac) + (v_hi / 1000.0) * frac
        out[o + 3] = qs / nq
        o += 4
    # spectral flux of the level-normalised mel spectrum
    if n > 1:
        nf = n - 1
        fsum = 0.0
        for i in range(nf):
            fsum += srt[r_flux, i]
        out[o] = fsum / nf
        v_lo, v_hi, frac = _spct(srt[r_flux], nf, 90.0)
        out[o + 1] = v_lo * (1.0 - frac) + v_hi * frac
    else:
        out[o] = 0.0
        out[o + 1] = 0.0
    o += 2
    # envelope: share of the power in the loudest 20 % of frames
    e2sum = 0.0
    for i in range(n):
        e2sum += srt[r_e2, i]
    top = 0.0
    for i in range(int(0.8 * n), n):
        top += srt[r_e2, i]
    out[o + 2] = top / (e2sum + _EPS)
    out[o + 3] = nq / n
    o += 4
    out[o] = npk * frame_rate / n
    out[o + 1] = cv
    out[o + 2] = ratio
    out[o + 3] = sys_level
    out[o + 4] = dia_level


@kernel
def env_periodicity_kernel(ac, n, lo, hi, frame_rate):  # pragma: no cover - compiled
    """Heart-rate peak of an envelope's raw autocorrelation ``ac`` (``irfft(|rfft|**2)[:n]``).

    The original ``_envelope_periodicity`` (normalised, unbiased autocorrelation; highest local
    maximum at lags ``lo .. hi - 1``) with the same arithmetic. Returns ``(peak in 0-1, lag [s])``.
    """
    ac0 = ac[0]
    if not ac0 > _EPS or hi <= lo + 2:
        return 0.0, 0.0
    best = -np.inf
    best_k = -1
    prev = ac[lo] / ac0 * (n / (n - lo))
    cur = ac[lo + 1] / ac0 * (n / (n - lo - 1))
    for k in range(lo + 1, hi - 1):
        nxt = ac[k + 1] / ac0 * (n / (n - k - 1))
        if cur > prev and cur >= nxt and cur > best:
            best = cur
            best_k = k
        prev = cur
        cur = nxt
    if best_k < 0:
        return 0.0, 0.0
    return min(max(best, 0.0), 1.0), (best_k) / frame_rate


@kernel
def band_autocorr_kernel(bands, lag, out):  # pragma: no cover - compiled
    """Normalised unbiased autocorrelation of each column of ``bands`` at ``lag``, in +-1."""
    n = bands.shape[0]
    for g in range(bands.shape[1]):
        s = 0.0
        for i in range(n):
            s += bands[i, g]
        mean = s / n
        a0 = 0.0
        al = 0.0
        for i in range(n):
            x = bands[i, g] - mean
            a0 += x * x
            if i + lag < n:
                al += x * (bands[i + lag, g] - mean)
        v = 0.0
        if a0 > _EPS:
            v = al / a0 * (n / (n - lag))
        out[g] = min(max(v, -1.0), 1.0)


@kernel
def rms_stats_kernel(rms, silent_rms, clip_rms):  # pragma: no cover - compiled
    """``(np.median(rms), number of rms < silent_rms, number of rms >= clip_rms)``; ``rms`` is
    sorted in place (the median is :func:`sorted_quantile` at 0.5)."""
    n_silent = 0
    n_clip = 0
    for i in range(rms.shape[0]):
        if rms[i] < silent_rms:
            n_silent += 1
        if rms[i] >= clip_rms:
            n_clip += 1
    if rms.shape[0] == 0:
        return np.nan, 0, 0
    rms.sort()
    return sorted_quantile(rms, 0.5), n_silent, n_clip


@kernel
def column_quartiles_kernel(xs, count, out):  # pragma: no cover - compiled
    """:func:`sorted_quantile` at 0.25, 0.5 and 0.75 of each column ``j`` of ``xs`` (shape (k, n),
    each column sorted ascending) over its first ``count[j]`` values, into ``out`` (shape (3, n));
    NaN for a column with ``count[j] == 0``."""
    for j in range(xs.shape[1]):
        c = count[j]
        if c == 0:
            for r in range(3):
                out[r, j] = np.nan
            continue
        col = xs[:c, j]
        out[0, j] = sorted_quantile(col, 0.25)
        out[1, j] = sorted_quantile(col, 0.5)
        out[2, j] = sorted_quantile(col, 0.75)
