"""Online S1/S2 detector and heart rate: MLP emissions + fixed-lag online HSMM.

Design
------
1. The frame-feature module named by the model (``feature_set``; the shipped model uses
   :mod:`~stetho_rt.detect.features_v2`) turns the band-passed 2 kHz stream into 18
   level-normalised features per 10 ms frame (total and six sub-band log-energies, short and wide
   centred smoothing, running peak/floor distances; 40 ms look-ahead).
2. A one-hidden-layer MLP (:mod:`~stetho_rt.detect.emission`, weights from
   ``models/detector.json``) reads the features at 11 frame offsets (400 ms of past, 20 ms of
   future) and gives ``P(state | context)`` for S1, systole, S2, diastole; the HSMM emission score
   is ``EMISSION_SCALE * (log P(j | x) - log P(j))`` (Springer 2016; the scale < 1 accounts for the
   overlapping contexts of neighbouring frames).
3. Every 0.25 s the autocorrelations of the sound-probability track ``P(S1) + P(S2)`` and of the
   S1/S2 contrast track ``P(S1) - P(S2)`` over the last 8 s
   (:func:`~stetho_rt.detect.heart_rate._autocorr_period`) re-estimate the heart period
   (30-220 bpm):
   the contrast track is anti-correlated at half the period, which removes the halving of a plain
   envelope autocorrelation in children (systole ~ diastole). The period sets the HSMM duration
   model; the peak is the periodicity quality. The autocorrelations are also summed over the
   session.
4. An explicit-duration Viterbi recursion runs forward frame by frame
   (:mod:`~stetho_rt.detect.hsmm`); a segment is committed, and an S1/S2 emitted, once it ended
   ``lag`` frames ago on the best current path (``lag`` = :data:`DECISION_FRAMES` minus one,
   the feature and context look-ahead and the frame the model's time shift may take: 29 - 1 - 4 -
   2 - 1 = 21 frames with the shipped model); the path is then clamped through it, so sounds are
   never revised or duplicated. Runs of digital silence (:data:`~stetho_rt.detect.features_v2.
   SILENCE_RESTART_FRAMES` frames or more below ``SILENCE_DBFS``) carry no information: no sound
   probability, uninformative emissions, no period estimate and no rate; at the run's end the
   detector starts afresh as after a gap (open path start, default duration model, period
   estimated from the new context only, no beat interval across the run) and the features'
   level statistics restart. A sound whose every frame is silent is not emitted
   (:attr:`silent_sounds`).
5. :class:`~stetho_rt.detect.heart_rate.BeatTracker` turns S1s into beats; the session heart rate
   is the summed autocorrelation's period (or half/double it when clearly more S1-S1 intervals
   agree, unless the summed S1/S2 contrast autocorrelation shows S1 recurring at the period: at
   220 bpm every other S1 is missed, and not the half while the intervals near it alternate short
   and long: S2s taken for S1s), refined by the median of the detected S1-S1 intervals near it
   (at 40 bpm and slower, pairs split by an S2 taken for an S1 merged).
   The running rate is shown once the window spans the 30 bpm lag range (3.3 s).

Latency: a sound is committed once the best path has kept it for the HSMM's fixed lag, 0.27 s
after the end of its last frame with the shipped model (0.28 s after its reported offset, which
the S1 time shift moves 6 ms earlier), plus the upstream latency. When the path settles a sound
later (1.3 % of CirCor's sounds, 0.55 % of PhysioNet's, up to 1.4 s), it is dropped and counted
(:attr:`late_sounds`) once past the 0.3 s look-ahead bound: no sound is reported later than
:attr:`latency_s` (0.30 s) after its offset. CPU: about
10 k multiply-adds per frame (``tools/bench.py`` section 1 times it in 10 ms blocks).

Times: the detector counts input samples at 2 kHz from the stream start; ``time_offset_s`` (the
upstream latency) is subtracted from event times so they refer to the input. ``decided_s`` is the
stream time of the sample that completed the decision (so it does not depend on the block size; in
the live path the event is emitted at most one block later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stetho_rt.config import (
    DETECTOR_LOOKAHEAD_S,
    INTERNAL_RATE_HZ,
    MAX_HEART_RATE_BPM,
    MIN_HEART_RATE_BPM,
    DspConfig,
    PipelineConfig,
)
from stetho_rt.detect import hsmm
from stetho_rt.detect.emission import FEATURE_SETS, EmissionModel, mlp_logpost
from stetho_rt.detect.features_v2 import (
    FRAME_RATE_HZ,
    HOP_SAMPLES,
    SILENCE_NEPERS,
    SILENCE_RESTART_FRAMES,
)
from stetho_rt.detect.heart_rate import (
    LAG_MARGIN,
    BeatTracker,
    _autocorr_period,
    lag_range,
    period_from_acc,
)
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.envelope import EnvelopeStage
from stetho_rt.errors import ConfigError, ModelError
from stetho_rt.events import Beat, HeartSound

BOUND_FRAMES = round(DETECTOR_LOOKAHEAD_S * FRAME_RATE_HZ)
"""The look-ahead bound in frames (30 at 100 frames/s): no sound is emitted later than this after
its reported offset."""
DECISION_FRAMES = BOUND_FRAMES - 1
"""Frame budget of the usual decision, from the end of a sound's last frame (feature and emission
look-ahead, the S1 time shift and the HSMM's fixed lag): the lag is what is left of it; a frame
of the bound is kept for paths that settle a frame late."""
HR_STEP_FRAMES = 25
"""Heart-period re-estimation interval [frames]."""
HR_WINDOW_FRAMES = 800
"""Autocorrelation window [frames] (8 s at 100 frames/s)."""
HR_MIN_FRAMES = 150
"""Context needed before the first period estimate [frames]."""
HR_SHOW_FRAMES = int(np.ceil(60.0 / MIN_HEART_RATE_BPM * FRAME_RATE_HZ * LAG_MARGIN * 1.5))
"""Context before the running rate is reported [frames] (3.3 s): the lag search reaches 2/3 of the
window, so before this a 30 bpm period cannot be found yet and the estimate (which still sets the
duration model) may be a multiple of the rate (at 30 bpm the S1-S2 interval reads as 122 bpm)."""
QUALITY_MIN = 0.25
"""Autocorrelation peak below which the signal counts as not periodic (no sounds, no rate)."""
EMIT_QUALITY_MIN = 0.12
"""Periodicity quality below which decided sounds are not emitted (tuned by patient-disjoint CV)."""
CONF_MIN = 0.15
"""Sounds whose mean sound probability is below this are not emitted (inserted cycles)."""
EMISSION_SCALE = 0.25
"""Weight of the emission log-likelihoods against the duration model: the MLP reads a 420 ms
context, so neighbouring frames' posteriors are far from independent and their summed
log-likelihoods overcount the evidence (chosen by patient-disjoint CV: 0.25 beats 1.0 by ~3 F1
points)."""
DEFAULT_PERIOD_S = 0.8
REC_QUALITY_MIN = 0.12
"""Mean autocorrelation peak below which the session has no heart rate (noise, silence)."""
HR_REFINE_TOL = 0.3
"""Detected S1-S1 intervals within this fraction of the period refine it (wide: sinus arrhythmia
in children spreads the intervals by ±20 %; missed and extra sounds give 2x and 0.5x)."""
HR_SWITCH = 1.3
"""Half or double the autocorrelation period is taken when this many times more intervals fit."""
MIN_REFINE_RR = 4
"""Intervals needed for that refinement."""
SHOWN_HALF_CONTRAST = 0.15
"""Running S1/S2 contrast autocorrelation at half the running period above which the shown rate
takes the half (:meth:`S1S2Detector._shown_period_s`). At :data:`CONTRAST_KEEP` (0.1) noisy,
variable demo hearts (70, 100 and 130 bpm, -15 dB noise, 15 % variability, 4 seeds) were shown
above 1.5 times their rate at 0.17 % of instants (2 % for one of them); at 0.15 at none, and the
gain on real recordings stays
(``tools/eval_rate_tracking.py``, 120 recordings each: CirCor MAE 2.43 bpm against 2.39 at 0.1
and 3.03 without the check; PhysioNet 1.31, 1.20, 1.79)."""
CONTRAST_KEEP = 0.1
"""Session S1/S2 contrast autocorrelation at the period above which S1 recurs at the period (at
half a wrong double period S1 meets S2 and the contrast is negative): a period in 30-220 bpm is
then neither doubled, even when more S1-S1 intervals fit the double, nor refined (at 220 bpm the
detector misses every other S1, so the double interval is the common one and the few intervals
near the period are the irregular ones). No change on the dev recordings (CV)."""
HALF_ALTERNATION_MAX = 0.1
"""Largest median ``|a - b| / (a + b)`` over consecutive S1-S1 intervals ``a, b`` near half the
autocorrelation period for the session rate to take the half (:func:`_alternation`). When the
detector takes S2s for S1s, the intervals alternate systole / diastole (0.33 / 0.45 s at 75 bpm:
0.15) and crowd around the half, which then wins the interval count; a regular rhythm at the half
gives little. On the dev recordings (the detector's own intervals, README's detector section):
the 11 annotated halves that were right have 0.000-0.039; two PASCAL recordings reported at 160
and 179 bpm (annotated 70 and 78) 0.135 and 0.150; but an irregular rhythm reaches the same
values as a milder alternation: two unannotated PhysioNet recordings whose intervals sit at the
half (``c0008``, ``f0089``, about 90 bpm) give 0.064 and 0.089, and two annotated ones doubled
to 148 bpm (``50295_AV``, ``f0046``) 0.063 and 0.080. A limit of 0.05 would fix those two and
halve the other two (45 and 50 bpm), so the limit stays above the irregular rhythms: only the
clear alternation is refused."""
MERGE_MIN_PERIOD_S = 1.5
"""From this period up (40 bpm and slower) two consecutive S1-S1 intervals, one short of the
period, whose sum fits it are merged before the refinement: the systole (0.5 s at 30 bpm) then
exceeds the emission context, the S2 after it passes for an S1 and the intervals alternate between
0.25 and 0.75 periods. No change on the dev recordings (CV)."""
KERNEL_FRAMES = 200
"""Most feature rows [frames] one kernel call is fed (2 s): a block's rows go in slices of this."""
MAX_EVENTS = 64
"""Most events one kernel call writes: :data:`KERNEL_FRAMES` rows hold about 15 sounds at
220 bpm, so the event buffer never fills."""
EVENT_COLUMNS = 9
"""Columns of a kernel event row: kind (0 = S1, 1 = S2), first and last frame, confidence, decoded
frame, quality, period_s, loudest frame energy [nepers], first frame of its context (see
:func:`_detect_kernel`)."""

# float state layout: heart period [s], systolic interval [s], periodicity quality, 1 once a
# period was estimated, digital-silence frames in a row up to the current frame, first frame of
# the current context (0, or the first sound frame after a run of digital silence)
F_PERIOD, F_SYSTOLE, F_QUALITY, F_HAVE_HR, F_SILENT_RUN, F_START = 0, 1, 2, 3, 4, 5
N_FSTATE = 6


@kernel
def _restart_context(t, ist, fst, dmax, logdur, logsurv):  # pragma: no cover - numba
    """Start a new context at local frame ``t``, as after a gap: an open path start (any state,
    no duration cost, nothing before ``t`` revisited), no heart period (the default duration
    model) and no periodicity until the autocorrelation has :data:`HR_MIN_FRAMES` of it."""
    ist[hsmm.I_CEND] = t - 1
    ist[hsmm.I_CSTATE] = -1
    fst[F_PERIOD] = DEFAULT_PERIOD_S
    fst[F_SYSTOLE] = hsmm.systolic_interval(DEFAULT_PERIOD_S)
    fst[F_QUALITY] = 0.0
    fst[F_HAVE_HR] = 0.0
    fst[F_START] = t
    hsmm.durations(DEFAULT_PERIOD_S, fst[F_SYSTOLE], FRAME_RATE_HZ, dmax, logdur, logsurv)


@kernel
def _detect_kernel(
    feats,
    energy,
    fring,
    ering,
    offsets,
    w1t,
    b1,
    w2,
    b2,
    log_prior,
    hid,
    lp,
    lookahead,
    lag,
    escale,
    logb,
    psound,
    pdiff,
    delta,
    psi,
    ist,
    fst,
    dmax,
    logdur,
    logsurv,
    seg,
    ac_work,
    ac_r,
    ac_rd,
    ac_acc,
    ac_out,
    events,
):  # pragma: no cover - numba
    """Run the HSMM over feature rows (``energy``: their absolute frame energies [nepers]);
    write events ``[kind, start, end, conf, t, quality, period_s, loudest, context]``
    (``period_s``: the heart period when the sound was decided, 0 without one; ``loudest``: the
    sound's highest frame energy; ``context``: the first frame of the context that decided it).

    A frame in a run of digital silence (``SILENCE_RESTART_FRAMES`` frames or more below
    ``SILENCE_NEPERS``) carries no information: no sound probability, uninformative emissions
    (the duration model alone carries the path through it), no period estimate and no
    periodicity. The first sound frame after such a run starts a new context
    (:func:`_restart_context`), as a gap does."""
    n_ev = 0
    ring = hsmm.RING
    for r in range(feats.shape[0]):
        nf = ist[hsmm.I_NEXT]
        for c in range(feats.shape[1]):
            fring[nf % ring, c] = feats[r, c]
        ering[nf % ring] = energy[r]
        ist[hsmm.I_NEXT] = nf + 1
        t = nf - lookahead
        if t < 0:
            continue
        slot = t % ring
        if ering[slot] < SILENCE_NEPERS:
            fst[F_SILENT_RUN] += 1.0
        else:
            if fst[F_SILENT_RUN] >= SILENCE_RESTART_FRAMES:
                _restart_context(t, ist, fst, dmax, logdur, logsurv)
            fst[F_SILENT_RUN] = 0.0
        in_silent_run = fst[F_SILENT_RUN] >= SILENCE_RESTART_FRAMES
        if in_silent_run:
            psound[slot] = 0.0
            pdiff[slot] = 0.0
            for j in range(4):
                logb[slot, j] = 0.0
        else:  # emissions: log P(j|x) - log P(j)
            psound[slot] = mlp_logpost(
                fring, ring, t, nf, offsets, w1t, b1, w2, b2, hid, lp
            )
            pdiff[slot] = np.exp(lp[0]) - np.exp(lp[2])
            for j in range(4):
                logb[slot, j] = escale * (lp[j] - log_prior[j])
        # heart period from the autocorrelation of the sound probability (this context's frames)
        in_context = t + 1 - int(fst[F_START])
        if in_silent_run:
            fst[F_QUALITY] = 0.0
        elif in_context % HR_STEP_FRAMES == 0 and in_context >= HR_MIN_FRAMES:
            n = min(in_context, HR_WINDOW_FRAMES)
            ok = _autocorr_period(
                psound,
                pdiff,
                n,
                t + 1 - n,
                ring,
                FRAME_RATE_HZ,
                MIN_HEART_RATE_BPM,
                MAX_HEART_RATE_BPM,
                ac_work,
                ac_r,
                ac_rd,
                ac_acc,
                ac_out,
            )
            if ok:
                fst[F_PERIOD] = ac_out[0]
                fst[F_SYSTOLE] = hsmm.systolic_interval(ac_out[0])
                fst[F_QUALITY] = ac_out[1]
                fst[F_HAVE_HR] = 1.0
                hsmm.durations(ac_out[0], fst[F_SYSTOLE], FRAME_RATE_HZ, dmax, logdur, logsurv)
            else:
                fst[F_QUALITY] = 0.0
        hsmm.viterbi_step(t, logb, delta, psi, ist, dmax, logdur)
        ns = hsmm.current_path(t, logb, delta, psi, ist, dmax, logsurv, seg)
        last = -1
        for i in range(ns - 1):
            if seg[i, 2] <= t - lag:
                last = i
        for i in range(last + 1):
            k = seg[i, 0]
            if (k == hsmm.S1 or k == hsmm.S2) and n_ev < events.shape[0]:
                a = seg[i, 1]
                b = seg[i, 2]
                conf = 0.0
                loudest = -np.inf
                for u in range(a, b + 1):
                    conf += psound[u % ring]
                    loudest = max(loudest, ering[u % ring])
                events[n_ev, 0] = 0.0 if k == hsmm.S1 else 1.0
                events[n_ev, 1] = a
                events[n_ev, 2] = b
                events[n_ev, 3] = conf / (b - a + 1)
                events[n_ev, 4] = t
                events[n_ev, 5] = fst[F_QUALITY]
                events[n_ev, 6] = fst[F_PERIOD] if fst[F_HAVE_HR] != 0.0 else 0.0
                events[n_ev, 7] = loudest
                events[n_ev, 8] = fst[F_START]
                n_ev += 1
        if last >= 0:
            hsmm.commit(seg[last, 0], seg[last, 2], t, logb, delta, psi, ist, dmax, logdur)
        ist[hsmm.I_T] = t + 1
    return n_ev


@dataclass
class DetectorOutput:
    """Events decided during one call."""

    sounds: list[HeartSound] = field(default_factory=list)
    beats: list[Beat] = field(default_factory=list)


def _at_lag(r: np.ndarray, lag_s: float) -> float:
    """An autocorrelation ``r`` over lags in frames at ``FRAME_RATE_HZ / 2`` (the decimated rate
    of :func:`~stetho_rt.detect.heart_rate._autocorr_period`), linearly interpolated at
    ``lag_s`` [s]; 0 off its lag range."""
    k = lag_s * FRAME_RATE_HZ / 2.0
    if not 1.0 <= k <= r.shape[0] - 2:
        return 0.0
    i = int(k)
    return float(r[i] + (k - i) * (r[i + 1] - r[i]))


class S1S2Detector:
    """Online S1/S2 detector and heart-rate tracker (an event stage, ARCHITECTURE.md §3).

    Parameters
    ----------
    cfg : PipelineConfig or DspConfig, optional
        Configuration; only the 2 kHz internal rate is supported.
    max_block : int
        Largest block per call [samples at 2 kHz]; longer blocks are split internally.
    time_offset_s : float
        Summed latency of the upstream stages [s], subtracted from event times.
    model_path : str or Path, optional
        Emission-model JSON (default ``models/detector.json``).
    display_envelope : bool
        Compute the Hilbert and homomorphic envelopes for display (:attr:`last_envelope`).
        Nothing the detector decides depends on them; batch analysis, which shows nothing,
        passes False (they were about 8 % of its DSP thread's time under cProfile).

    Notes
    -----
    ``process(bp)`` takes band-passed float32 samples at 2000 Hz in blocks of any length and returns
    the events decided meanwhile. Decision latency is ``latency_s`` after a sound's offset.
    """

    in_rate: float = float(INTERNAL_RATE_HZ)

    def __init__(
        self,
        cfg: PipelineConfig | DspConfig | None = None,
        max_block: int = 8192,
        time_offset_s: float = 0.0,
        model_path: str | Path | None = None,
        *,
        display_envelope: bool = True,
    ) -> None:
        dsp = cfg.dsp if isinstance(cfg, PipelineConfig) else (cfg or DspConfig())
        if dsp.internal_rate != INTERNAL_RATE_HZ:
            raise ConfigError(
                f"detector needs {INTERNAL_RATE_HZ} Hz input, got {dsp.internal_rate}"
            )
        if max_block < 1:
            raise ConfigError(f"max_block={max_block} must be a positive integer")
        self.max_block = int(max_block)
        self.time_offset_s = float(time_offset_s)
        self.model = EmissionModel.load(model_path)
        m = self.model
        fmod = FEATURE_SETS[m.feature_set]
        self._feat_lookahead = int(fmod.LOOKAHEAD_FRAMES)
        self._feat = fmod.FrameFeatures(max_block=self.max_block)
        shift_frames = int(np.ceil(max(0.0, -float(m.time_shift_s.min())) * FRAME_RATE_HZ))
        self._lag = DECISION_FRAMES - 1 - self._feat_lookahead - m.lookahead - shift_frames
        if self._lag < 0:
            raise ModelError(
                f"{m.path}: the emission look-ahead ({m.lookahead}), the features' "
                f"({self._feat_lookahead}) and the time shift ({shift_frames}) [frames] leave no "
                f"room for a decision within {DECISION_FRAMES} frames"
            )
        self._score_delay = self._feat_lookahead + m.lookahead + 1
        """Frames from a frame to the frame whose arrival scores it [frames at 100 Hz] (the
        features' and the emission model's look-ahead); a sound is decided :attr:`_lag` frames
        after its frames are scored."""
        self._deadline = BOUND_FRAMES - self._score_delay + 1 - shift_frames
        """Latest frame, counted from a sound's last frame, at which it may be committed
        (decision at most :data:`~stetho_rt.config.DETECTOR_LOOKAHEAD_S` after its reported
        offset); a sound the best path settles later is dropped and counted in
        :attr:`late_sounds`."""
        self.late_sounds = 0
        """Sounds dropped because the path settled them after the look-ahead bound."""
        self._w = tuple(
            np.ascontiguousarray(a)
            for a in (m.offsets, m.w1.T, m.b1, m.w2, m.b2, m.log_prior)
        )
        self._hid = np.zeros(m.w1.shape[0])
        self._lp = np.zeros(4)
        self._fring = np.zeros((hsmm.RING, m.n_features))
        self._ering = np.zeros(hsmm.RING)  # absolute frame energies [nepers], as fring
        self._lookahead = m.lookahead
        r = hsmm.RING
        self._logb = np.zeros((r, 4))
        self._psound = np.zeros(r)
        self._pdiff = np.zeros(r)
        self._delta = np.zeros((r, 4))
        self._psi = np.ones((r, 4), dtype=np.int64)
        self._ist = np.zeros(hsmm.N_ISTATE, dtype=np.int64)
        self._fst = np.zeros(N_FSTATE)
        self._dmax = np.zeros(4, dtype=np.int64)
        self._logdur = np.full((4, hsmm.DMAX + 1), -np.inf)
        self._logsurv = np.full((4, hsmm.DMAX + 1), -np.inf)
        self._seg = np.zeros((256, 3), dtype=np.int64)
        self._ac_work = np.zeros(HR_WINDOW_FRAMES // 2 + 1)
        # lags 0 .. kmax + 2 at half the frame rate (the autocorrelation's), as the kernel reads
        kmax = lag_range(FRAME_RATE_HZ / 2.0, MIN_HEART_RATE_BPM, MAX_HEART_RATE_BPM)[1]
        self._ac_r = np.zeros(kmax + 3)
        self._ac_rd = np.zeros_like(self._ac_r)
        self._ac_acc = np.zeros((2, self._ac_r.shape[0]))
        self._ac_out = np.zeros(2)
        self._events = np.zeros((MAX_EVENTS, EVENT_COLUMNS))
        self._display_envelope = bool(display_envelope)
        self._envstage = EnvelopeStage(dsp, max_block=self.max_block)
        n_env = self.max_block // HOP_SAMPLES + 64
        self._env = np.zeros((n_env, 2), dtype=np.float32)
        self._n_env = 0
        self.beats = BeatTracker()
        self.silent_sounds = 0
        """Sounds the path decided in digital silence (below
        :data:`~stetho_rt.detect.features_v2.SILENCE_DBFS`), not emitted."""
        self._base = 0  # stream sample index of local sample 0 (moves on skip)
        self._seen = 0  # samples seen since the stream start
        self._reset_local()

    # ------------------------------------------------------------------ protocol
    @property
    def latency_s(self) -> float:
        """Longest time from a sound's reported offset to its decision, excluding upstream
        latency [s]: the look-ahead bound (a sound settled later is dropped, :attr:`late_sounds`);
        most are decided 0.27-0.28 s after their offset."""
        return BOUND_FRAMES / FRAME_RATE_HZ

    @property
    def display_envelope(self) -> bool:
        """True when :attr:`last_envelope` is computed (display); False leaves it empty. Fixed
        at construction: the envelope stage's delay lines must see the whole stream."""
        return self._display_envelope

    @property
    def last_envelope(self) -> np.ndarray:
        """Envelope frames of the last call, shape (n, 2) float32 at 100 Hz (a view).

        From :class:`stetho_rt.dsp.envelope.EnvelopeStage` (column 0 Hilbert, column 1 homomorphic;
        its ``latency`` in :attr:`envelope_latency`). The detector's own features (lower latency)
        are computed alongside; the envelope is for display, and empty (shape (0, 2)) when
        :attr:`display_envelope` is False.
        """
        return self._env[: self._n_env]

    @property
    def envelope_latency(self) -> int:
        """Latency of :attr:`last_envelope` [frames at 100 Hz]."""
        return int(self._envstage.latency)

    def process(self, bp: np.ndarray) -> DetectorOutput:
        """Feed band-passed samples (1-D float32 at 2000 Hz, any length); return decided events."""
        if not isinstance(bp, np.ndarray) or bp.dtype != np.float32 or bp.ndim != 1:
            raise TypeError("detector input must be a 1-D float32 numpy array")
        bp = np.ascontiguousarray(bp)
        out = DetectorOutput()
        self._n_env = 0
        self._env_room(bp.shape[0])
        for i in range(0, max(bp.shape[0], 1), self.max_block):
            self._process_block(bp[i : i + self.max_block], out)
        return out

    def flush(self) -> DetectorOutput:
        """End of stream: run the look-ahead out with silence and emit what remains."""
        out = DetectorOutput()
        self._n_env = 0
        pad_frames = self._lag + self._score_delay + 1
        pad = np.zeros(pad_frames * HOP_SAMPLES, dtype=np.float32)
        seen = self._seen
        for i in range(0, pad.shape[0], self.max_block):  # in blocks, as the features need
            self._process_block(pad[i : i + self.max_block], out, decide_at=seen)
        self._seen = seen
        return out

    def skip(self, n_samples: int) -> None:
        """A gap of ``n_samples`` at 2 kHz: drop the local context, keep the time base."""
        self._seen += int(n_samples)
        self._base = self._seen
        self._reset_local()

    def reset(self) -> None:
        """Back to the state of a new stream (no reallocation)."""
        self._seen = 0
        self._base = 0
        self._reset_local()
        self.beats.reset()
        self._ac_acc[:] = 0.0
        self.late_sounds = 0
        self.silent_sounds = 0

    def warm_up(self) -> None:
        """Compile the kernels (or load them from the cache), then reset. The envelope stage is
        warmed even when not displayed: a process's graphs share the compiled kernels, and a
        live graph may follow a batch one."""
        self._envstage.warm_up()
        self.process(np.zeros(4000, dtype=np.float32))
        self.flush()
        self.reset()

    # ------------------------------------------------------------------ heart rate
    @property
    def heart_rate_bpm(self) -> float | None:
        """Current heart rate [bpm], None when the signal is not periodic.

        The autocorrelation's rate over the last 8 s (robust to missed and extra sounds; twice
        it when the running S1/S2 contrast shows S1 recurring at half its period,
        :meth:`_shown_period_s`), except
        while the last S1-S1 intervals form a regular new rhythm away from it: then the new
        rhythm's, until the autocorrelation catches up (:meth:`BeatTracker.display_period_s`).

        None in a run of digital silence and during the first :data:`HR_SHOW_FRAMES` frames
        after the start, a gap or such a run, until the
        autocorrelation window spans the slowest period's lag range, and while no S1-S1 interval
        was heard within that window (:meth:`BeatTracker.heard_since`).
        """
        if self._fst[F_HAVE_HR] == 0.0 or self._fst[F_QUALITY] < QUALITY_MIN:
            return None
        if self._ist[hsmm.I_T] - self._fst[F_START] < HR_SHOW_FRAMES:
            return None
        now_s = self._seen / float(INTERNAL_RATE_HZ)
        if not self.beats.heard_since(now_s - HR_WINDOW_FRAMES / FRAME_RATE_HZ):
            return None
        return 60.0 / self.beats.display_period_s(self._shown_period_s(), now_s)

    def _shown_period_s(self) -> float:
        """The running period to show [s]: the autocorrelation's, or half of it when the last
        running S1/S2 contrast autocorrelation shows S1 recurring at half (the 8 s window took
        the double lag: at 200-210 bpm the shown rate was half the heart's for 16-17 % of the
        time). At half of a right period S1 meets S2 and the contrast is negative; a noisy,
        variable rhythm can still lift it a little, hence a threshold above the session rate's
        (:data:`SHOWN_HALF_CONTRAST`). Display only: the detector's own period is unchanged."""
        period = float(self._fst[F_PERIOD])
        half = 0.5 * period
        if half >= 0.9 * self.beats.min_rr_s and self._running_contrast(half) > SHOWN_HALF_CONTRAST:
            return half
        return period

    def _running_contrast(self, lag_s: float) -> float:
        """The last running S1/S2 contrast autocorrelation at ``lag_s`` [s] (0 off its range)."""
        return _at_lag(self._ac_rd, lag_s)

    def recording_heart_rate_bpm(self) -> float | None:
        """Session heart rate [bpm], None when the stream was not periodic.

        The period is the highest peak of the session's summed autocorrelation (S1/S2 contrast and
        sound tracks, robust to halving and doubling); it is refined by the median of the detected
        S1-S1 intervals within ±:data:`HR_REFINE_TOL` of it (the annotated reference is a median of
        S1-S1 intervals; at slow rates pairs split by an S2 taken for an S1 are merged,
        :data:`MERGE_MIN_PERIOD_S`); half or double the period wins when clearly more intervals fit
        it, except that a period at which the session S1/S2 contrast autocorrelation shows S1
        recurring is kept as it is (:data:`CONTRAST_KEEP`), and that the half is not taken when
        the intervals near it alternate short and long (:data:`HALF_ALTERNATION_MAX`).
        """
        pk = period_from_acc(self._ac_acc[0], FRAME_RATE_HZ, MIN_HEART_RATE_BPM, MAX_HEART_RATE_BPM)
        if pk is None or pk[1] < REC_QUALITY_MIN:
            return None
        period = pk[0]
        if not self.beats.raw_intervals:  # periodic, but no S1-S1 interval was heard
            return None
        rr = np.asarray(self.beats.raw_intervals, dtype=float)
        s1_recurs = period >= self.beats.min_rr_s and self._contrast_acc(period) > CONTRAST_KEEP
        return 60.0 / session_period_s(
            rr, period, self.beats.min_rr_s, self.beats.max_rr_s, s1_recurs=s1_recurs
        )

    def _contrast_acc(self, lag_s: float) -> float:
        """Session-mean S1/S2 contrast autocorrelation at ``lag_s`` (0 without estimates)."""
        acc = self._ac_acc[1]  # acc[0] counts the estimates summed
        return _at_lag(acc, lag_s) / float(acc[0]) if acc[0] >= 1.0 else 0.0

    # ------------------------------------------------------------------ internals
    def _reset_local(self) -> None:
        self._feat.reset()
        self._ering[:] = 0.0
        self._envstage.reset()
        self._logb[:] = 0.0
        self._psound[:] = 0.0
        self._pdiff[:] = 0.0
        self._fring[:] = 0.0
        self._delta[:] = -np.inf
        self._psi[:] = 1
        self._ist[:] = 0
        self._fst[:] = 0.0
        # the same context start as after a run of digital silence, at local frame 0
        _restart_context(0, self._ist, self._fst, self._dmax, self._logdur, self._logsurv)
        self.beats.break_sequence()
        self._context = 0.0  # first frame of the context of the last emitted event

    def _process_block(self, x: np.ndarray, out: DetectorOutput, decide_at: int = -1) -> None:
        feats = self._feat.process(x)
        self._seen += x.shape[0]
        if decide_at < 0 and self._display_envelope:  # the flush's padding has none to show
            self._store_envelope(x)
        if feats.shape[0] == 0:
            return
        energy = self._feat.last_energy
        # at most MAX_EVENTS per kernel call: feed rows in slices of KERNEL_FRAMES
        for i in range(0, feats.shape[0], KERNEL_FRAMES):
            n = _detect_kernel(
                feats[i : i + KERNEL_FRAMES],
                energy[i : i + KERNEL_FRAMES],
                self._fring,
                self._ering,
                *self._w,
                self._hid,
                self._lp,
                self._lookahead,
                self._lag,
                EMISSION_SCALE,
                self._logb,
                self._psound,
                self._pdiff,
                self._delta,
                self._psi,
                self._ist,
                self._fst,
                self._dmax,
                self._logdur,
                self._logsurv,
                self._seg,
                self._ac_work,
                self._ac_r,
                self._ac_rd,
                self._ac_acc,
                self._ac_out,
                self._events,
            )
            self._emit(self._events[:n], out, decide_at)

    def _env_room(self, n_samples: int) -> None:
        """Make :attr:`last_envelope` able to hold the frames of a call of ``n_samples`` [2 kHz
        samples]. Every block the graph feeds fits the buffer made at construction
        (``max_block``); only a direct call longer than that (the detector used alone, in batch)
        grows it."""
        need = n_samples // HOP_SAMPLES + 64
        if need > self._env.shape[0]:
            self._env = np.zeros((need, 2), dtype=np.float32)

    def _store_envelope(self, x: np.ndarray) -> None:
        env = self._envstage.process(x)
        n = env.shape[0]
        self._env[self._n_env : self._n_env + n] = env
        self._n_env += n

    def _emit(self, ev: np.ndarray, out: DetectorOutput, decide_at: int) -> None:
        rate = float(INTERNAL_RATE_HZ)
        shift = self.model.time_shift_s
        for kind_f, a, b, conf, t, q, period_s, loudest, context in ev:
            if context != self._context:  # after a run of digital silence: no interval across it
                self._context = context
                self.beats.break_sequence()
            if q < EMIT_QUALITY_MIN or conf < CONF_MIN:
                continue
            if t - b > self._deadline:  # settled too late: a bounded look-ahead drops it
                self.late_sounds += 1
                continue
            if loudest < SILENCE_NEPERS:  # the duration model's rhythm through digital silence
                self.silent_sounds += 1
                continue
            kind = "S1" if kind_f == 0.0 else "S2"
            sh = shift[0] if kind == "S1" else shift[1]
            onset = (self._base + HOP_SAMPLES * a) / rate - self.time_offset_s + sh
            offset = (self._base + HOP_SAMPLES * (b + 1)) / rate - self.time_offset_s + sh
            dec_samples = self._base + HOP_SAMPLES * (int(t) + self._score_delay)
            if decide_at >= 0:
                dec_samples = min(dec_samples, decide_at)
            decided = dec_samples / rate
            hs = HeartSound(kind, float(onset), float(offset), float(conf), float(decided))
            out.sounds.append(hs)
            if kind == "S1":  # the period when this sound was decided (not at the block's end)
                period = float(period_s) if period_s > 0.0 else None
                beat = self.beats.add_s1(hs.centre_s, decided, period)
                if beat is not None:
                    out.beats.append(beat)


def _near(rr: np.ndarray, period: float, tol: float = HR_REFINE_TOL) -> np.ndarray:
    """Mask of the intervals ``rr`` [s] within ``tol`` (a fraction) of ``period`` [s]."""
    return np.abs(rr - period) <= tol * period


def session_period_s(
    rr: np.ndarray, period: float, min_rr_s: float, max_rr_s: float, *, s1_recurs: bool
) -> float:
    """The session's heart period [s] from the autocorrelation's ``period`` [s] and the detected
    S1-S1 intervals ``rr`` [s] (:meth:`S1S2Detector.recording_heart_rate_bpm`).

    Half or double ``period`` is taken when :data:`HR_SWITCH` times more intervals lie within
    :data:`HR_REFINE_TOL` of it; never the double while ``s1_recurs`` (the S1/S2 contrast shows
    S1 recurring at ``period``: then ``period`` itself, unrefined), never the half while the
    intervals near it alternate short and long (:data:`HALF_ALTERNATION_MAX`). The chosen period
    is then refined by the median of the intervals near it (at least :data:`MIN_REFINE_RR`; at
    :data:`MERGE_MIN_PERIOD_S` and slower, pairs split by an S2 taken for an S1 merged first).
    ``min_rr_s`` and ``max_rr_s`` [s] bound the plausible period.
    """
    def support(h: float) -> int:
        return int(np.count_nonzero(_near(rr, h)))

    best, n_best = period, support(period)
    for h in (0.5 * period, 2.0 * period):
        in_range = 0.9 * min_rr_s <= h <= 1.1 * max_rr_s
        if in_range and support(h) > HR_SWITCH * n_best:
            if h > period and s1_recurs:
                return best
            if h < period and _alternation(rr, h, HR_REFINE_TOL) > HALF_ALTERNATION_MAX:
                continue  # systole and diastole alternating: S2s taken for S1s
            best, n_best = h, support(h)
    if best == period and best >= MERGE_MIN_PERIOD_S:
        rr = _merge_split_intervals(rr, best, HR_REFINE_TOL)
    sel = rr[_near(rr, best)]
    return float(np.median(sel)) if sel.size >= MIN_REFINE_RR else best


def _alternation(rr: np.ndarray, period: float, tol: float) -> float:
    """Median of ``|a - b| / (a + b)`` over consecutive intervals ``a, b`` of ``rr`` [s] that are
    both within ``tol`` of ``period`` [s]; 0 with fewer than 3 such pairs (no evidence).

    Near 0 for a regular rhythm at ``period``; (diastole - systole) / (diastole + systole) when
    the intervals are S1-S2 and S2-S1 of a rhythm at twice ``period``. ``rr`` are the detector's
    kept intervals in order (:attr:`BeatTracker.raw_intervals`): neighbours there are usually
    adjacent beats, but an implausible interval or a gap between them is not marked (the median
    rides over the few such pairs). :func:`_merge_split_intervals` handles the same confusion at
    slow rates, where the split parts are far from half the period.
    """
    near = _near(rr, period, tol)
    pair = near[:-1] & near[1:]
    if np.count_nonzero(pair) < 3:
        return 0.0
    a, b = rr[:-1][pair], rr[1:][pair]
    return float(np.median(np.abs(a - b) / (a + b)))


def _merge_split_intervals(rr: np.ndarray, period: float, tol: float) -> np.ndarray:
    """Consecutive S1-S1 intervals with one short of the period and a sum nearer to it, merged.

    An extra sound labelled S1 splits an interval in two (at 30 bpm the S2, after 0.5 s of
    silence, passes for an S1: the intervals alternate 0.25 / 0.75 periods and the longer part
    alone would be within the refinement tolerance). At rest the parts crowd around half the
    period instead; :func:`_alternation` keeps the rate from taking that half.
    """
    lo = (1.0 - tol) * period
    out = []
    i = 0
    while i < rr.size:
        if i + 1 < rr.size and min(rr[i], rr[i + 1]) < lo:
            both = rr[i] + rr[i + 1]
            err = abs(both - period)
            if err <= tol * period and err < abs(max(rr[i], rr[i + 1]) - period):
                out.append(both)
                i += 2
                continue
        out.append(rr[i])
        i += 1
    return np.asarray(out, dtype=float)


def detect(
    bp: np.ndarray, time_offset_s: float = 0.0, model_path: str | Path | None = None
) -> tuple[DetectorOutput, float | None]:
    """Batch form: run a new detector over band-passed 2 kHz samples.

    Returns
    -------
    (DetectorOutput, float or None)
        All events and the session heart rate [bpm].
    """
    det = S1S2Detector(time_offset_s=time_offset_s, model_path=model_path)
    x = np.ascontiguousarray(bp, dtype=np.float32)
    a = det.process(x)
    b = det.flush()
    return DetectorOutput(a.sounds + b.sounds, a.beats + b.beats), det.recording_heart_rate_bpm()


__all__ = ["DetectorOutput", "S1S2Detector", "detect"]
