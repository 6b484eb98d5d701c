"""Cardiac-phase features of a classifier window, from the detector's S1/S2 segmentation.

A murmur is sound *between* the heart sounds, in the same phase of every beat: a systolic murmur
fills systole (S1 offset to S2 onset), a diastolic one early diastole. The S1/S2 detector
(:mod:`stetho_rt.detect.s1s2`) already knows where those phases are, so the window summary adds,
for every complete cardiac cycle ``S1 -> S2 -> S1`` inside the window:

- per mel band [dB]: mean level of mid-systole (the systole's inner 80 %) minus mean level of
  early-mid diastole (10-60 % of the diastole), ``sys_minus_dia``;
- per mel band [dB]: mid-systole mean minus the S1 peak and minus the S2 peak, early diastole
  minus the S2 peak, and mid-systole maximum minus the diastole mean;
- the broadband level difference systole - diastole [dB] and the systolic fraction of the cycle.

Every band statistic is a difference of two levels of the *same* mel band, so a stethoscope's fixed
frequency response (gain per band) cancels. The window's features are the medians over its
cycles, the 25th and 75th percentiles of ``sys_minus_dia``, the share of cycles-and-bands
(bands 3-8, about 190-560 Hz) where systole is more than 3 dB above diastole, and the number of
complete cycles per second. A window without a complete cycle gets zeros and a count of 0.

Times: the sounds are given relative to the window's first frame; frame ``k`` of the window is
centred ``(k * hop + n_fft / 2) / rate`` seconds after it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stetho_rt.classify._summary_kernels import sorted_quantile
from stetho_rt.dsp._jit import kernel

SYS_MIN_S, SYS_MAX_S = 0.05, 0.6
"""Accepted systole duration (S1 offset to S2 onset) [s]."""
DIA_MIN_S, DIA_MAX_S = 0.05, 1.6
"""Accepted diastole duration (S2 offset to next S1 onset) [s]."""
SYS_MARGIN = 0.1
"""Share of the systole skipped at each end (sound tails) [1]."""
DIA_FROM, DIA_TO = 0.1, 0.6
"""Part of the diastole averaged (early-mid diastole, where diastolic murmurs are) [1]."""
EXCESS_BANDS = (3, 9)
"""Mel bands [first, last) of the systolic-excess share (about 190-560 Hz with 16 bands)."""
EXCESS_DB = 3.0
"""Systole minus diastole above which a cycle-band counts as systolic excess [dB]."""
MAX_CYCLES = 64
"""Most cycles summarised per window (220 bpm for 4 s is 15)."""

_PER_BAND = ("sys_minus_dia", "sys_minus_s1", "sys_minus_s2", "dia_minus_s2", "sysmax_minus_dia")
_N_SCALAR = 2  # level_sys_minus_dia, sys_fraction


def phase_feature_names(n_mels: int) -> tuple[str, ...]:
    """Names of the components of :func:`phase_features`, in order (``7 * n_mels + 4``)."""
    names = [f"ph_mel{m:02d}_{k}" for k in _PER_BAND for m in range(n_mels)]
    names += ["ph_level_sys_minus_dia", "ph_sys_fraction"]
    names += [f"ph_mel{m:02d}_sys_minus_dia_p25" for m in range(n_mels)]
    names += [f"ph_mel{m:02d}_sys_minus_dia_p75" for m in range(n_mels)]
    names += ["ph_sys_excess_share", "ph_cycles_per_s"]
    return tuple(names)


@kernel
def _cycle_rows(mel, level, sounds, frame_rate, centre_s, rows):  # pragma: no cover - numba
    """One row per complete S1 -> S2 -> S1 cycle of ``sounds`` inside the frames; returns the count.

    ``mel``: (n, n_mels) dB; ``level``: (n,) frame level [dB]; ``sounds``: (m, 3) [kind (1 = S1,
    2 = S2), onset_s, offset_s] sorted by onset, seconds from the window's first frame; ``rows``:
    (MAX_CYCLES, 5 * n_mels + 2) out.
    """
    n, nm = mel.shape
    m = sounds.shape[0]
    count = 0
    spans = np.empty((4, 2), np.int64)
    for i in range(m - 2):
        if count >= rows.shape[0]:
            break
        if sounds[i, 0] != 1.0 or sounds[i + 1, 0] != 2.0 or sounds[i + 2, 0] != 1.0:
            continue
        s1_on, s1_off = sounds[i, 1], sounds[i, 2]
        s2_on, s2_off = sounds[i + 1, 1], sounds[i + 1, 2]
        n1_on = sounds[i + 2, 1]
        sys_len = s2_on - s1_off
        dia_len = n1_on - s2_off
        if sys_len < SYS_MIN_S or sys_len > SYS_MAX_S or dia_len < DIA_MIN_S or dia_len > DIA_MAX_S:
            continue
        lims = (
            (s1_off + SYS_MARGIN * sys_len, s2_on - SYS_MARGIN * sys_len),
            (s2_off + DIA_FROM * dia_len, s2_off + DIA_TO * dia_len),
            (s1_on, s1_off),
            (s2_on, s2_off),
        )
        ok = True
        for j in range(4):
            a = int(np.ceil((lims[j][0] - centre_s) * frame_rate))
            b = int(np.floor((lims[j][1] - centre_s) * frame_rate))
            if a < 0 or b > n - 1 or b < a:
                ok = False
                break
            spans[j, 0] = a
            spans[j, 1] = b
        if not ok:
            continue
        lvl_sys = 0.0
        lvl_dia = 0.0
        for band in range(nm):
            sys_sum = 0.0
            sys_max = -1e300
            for k in range(spans[0, 0], spans[0, 1] + 1):
                v = mel[k, band]
                sys_sum += v
                if v > sys_max:
                    sys_max = v
            sys_mean = sys_sum / (spans[0, 1] - spans[0, 0] + 1)
            dia_sum = 0.0
            for k in range(spans[1, 0], spans[1, 1] + 1):
                dia_sum += mel[k, band]
            dia_mean = dia_sum / (spans[1, 1] - spans[1, 0] + 1)
            s1_max = -1e300
            for k in range(spans[2, 0], spans[2, 1] + 1):
                if mel[k, band] > s1_max:
                    s1_max = mel[k, band]
            s2_max = -1e300
            for k in range(spans[3, 0], spans[3, 1] + 1):
                if mel[k, band] > s2_max:
                    s2_max = mel[k, band]
            rows[count, band] = sys_mean - dia_mean
            rows[count, nm + band] = sys_mean - s1_max
            rows[count, 2 * nm + band] = sys_mean - s2_max
            rows[count, 3 * nm + band] = dia_mean - s2_max
            rows[count, 4 * nm + band] = sys_max - dia_mean
        # broadband frame level, mean over the phase [dB]
        for j in range(2):
            acc = 0.0
            for k in range(spans[j, 0], spans[j, 1] + 1):
                acc += level[k]
            acc /= spans[j, 1] - spans[j, 0] + 1
            if j == 0:
                lvl_sys = acc
            else:
                lvl_dia = acc
        rows[count, 5 * nm] = lvl_sys - lvl_dia
        rows[count, 5 * nm + 1] = sys_len / (sys_len + dia_len)
        count += 1
    return count


@kernel
def _aggregate(rows, count, nm, excess_lo, excess_hi, excess_db, out):  # pragma: no cover
    """Window features from ``rows[:count]`` into ``out`` (layout of :func:`phase_feature_names`,
    without the cycle rate): column medians, ``sys_minus_dia`` 25th/75th percentiles, and the
    share of cycle-bands in ``[excess_lo, excess_hi)`` above ``excess_db``."""
    k = rows.shape[1]
    col = np.empty(count)
    for c in range(k):
        for i in range(count):
            col[i] = rows[i, c]
        col.sort()
        h = count // 2
        out[c] = col[h] if count % 2 else 0.5 * (col[h - 1] + col[h])
        if c < nm:
            out[k + c] = sorted_quantile(col, 0.25)
            out[k + nm + c] = sorted_quantile(col, 0.75)
    hits = 0
    for i in range(count):
        for b in range(excess_lo, excess_hi):
            if rows[i, b] > excess_db:
                hits += 1
    out[k + 2 * nm] = hits / (count * (excess_hi - excess_lo))


def phase_features(
    mel: np.ndarray,
    level: np.ndarray,
    sounds: np.ndarray | None,
    frame_rate: float,
    centre_s: float,
    window_s: float,
    out: np.ndarray | None = None,
) -> npt.NDArray[np.float64]:
    """Cardiac-phase features of one window (see the module docstring).

    Parameters
    ----------
    mel : ndarray of float64, shape (n_frames, n_mels)
        Log-mel band levels of the window's frames [dB] (a strided view is fine).
    level : ndarray of float64, shape (n_frames,)
        Broadband level of each frame [dB] (the window summary's frame level).
    sounds : ndarray, shape (m, 3), or None
        ``[kind, onset_s, offset_s]`` of the detected sounds overlapping the window (kind 1 = S1,
        2 = S2), seconds from the window's first frame, sorted by onset; None: no sounds.
    frame_rate : float
        Frames per second [Hz].
    centre_s : float
        Centre of frame 0 after the window's first sample [s] (``n_fft / 2 / rate``).
    window_s : float
        Window length [s] (for the cycle rate).
    out : ndarray of float64, shape (7 * n_mels + 4,), optional
        Where to write the features (a new array if None).

    Returns
    -------
    ndarray of float64, shape (7 * n_mels + 4,)
        ``out``, in the order of :func:`phase_feature_names`.
    """
    nm = mel.shape[1]
    if out is None:
        out = np.empty(7 * nm + 4)
    out[:] = 0.0
    if sounds is None or len(sounds) == 0:
        return out
    rows = np.empty((MAX_CYCLES, 5 * nm + _N_SCALAR))
    s = np.ascontiguousarray(sounds, dtype=np.float64).reshape(-1, 3)
    count = _cycle_rows(mel, level, s, float(frame_rate), float(centre_s), rows)
    out[-1] = count / window_s
    if count:
        _aggregate(rows, count, nm, EXCESS_BANDS[0], EXCESS_BANDS[1], EXCESS_DB, out)
    return out
