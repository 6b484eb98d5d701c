"""Streaming per-frame features of the STFT frames: :class:`FeatureStage`, :class:`SpectralStage`.

Both stages use the framer and the DFT kernel of :mod:`stetho_rt.dsp.stft` (same frames: periodic
Hann window ``N = cfg.stft_window`` = 64, hop ``H = cfg.stft_hop`` = 16 at 2000 Hz,
``center=False``, 125 frames/s, same latency and :func:`~stetho_rt.dsp.stft.frame_times`).
Features per frame, in the order of :data:`FEATURE_NAMES`, each defined as librosa computes it on
the same frames:

- ``rms`` [full scale]: ``sqrt(mean(x**2))`` of the raw, unwindowed frame
  (``feature.rms(y, frame_length=N, hop_length=H, center=False)``);
- ``zcr`` [1]: sign changes between consecutive samples of the raw frame, divided by ``N``
  (``N - 1`` pairs); samples with ``|x| <= 1e-10`` count as 0, i.e. positive
  (``feature.zero_crossing_rate(y, frame_length=N, hop_length=H, center=False)``);
- ``centroid_hz`` [Hz]: ``sum(f * S) / sum(S)`` with ``S = |X|`` and bin frequencies ``f``
  (``feature.spectral_centroid(S=|X|)``; an all-zero frame gives 0);
- ``bandwidth_hz`` [Hz]: ``sqrt(sum(S * (f - centroid)**2) / sum(S))``
  (``feature.spectral_bandwidth(S=|X|)``, p = 2, normalised);
- ``mel_00`` .. ``mel_15`` [dB]: ``10*log10(max(M @ |X|**2, 1e-10))`` with ``M`` =
  ``filters.mel(sr=2000, n_fft=N, n_mels=cfg.mel_bands, fmin=0, fmax=1000)`` (Slaney scale and
  norm), i.e. ``power_to_db(melspectrogram(S=|X|**2, ...), ref=1, amin=1e-10, top_db=None)``.

:class:`SpectralStage` gives the pipeline both outputs from one framing and one DFT per frame: a
``(n_frames, n_bins + n_features)`` float32 array whose first ``n_bins`` (33) columns are the
:class:`~stetho_rt.dsp.stft.StftStage` dB spectrum and the rest the features
(:attr:`SpectralStage.db_columns`, :attr:`SpectralStage.feature_columns`,
:meth:`SpectralStage.split`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stetho_rt.config import DspConfig
from stetho_rt.dsp.designs import cached_design
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK, Float32Array, batch_max_block, run_batch
from stetho_rt.dsp.stft import SpectralFramer

_DEFAULT_CFG = DspConfig()

SCALAR_FEATURES: tuple[str, ...] = ("rms", "zcr", "centroid_hz", "bandwidth_hz")
"""Features ahead of the mel bands, in column order."""


def feature_names(n_mels: int) -> tuple[str, ...]:
    """Column names of the features for ``n_mels`` mel bands: scalars then ``mel_00`` ..."""
    return SCALAR_FEATURES + tuple(f"mel_{m:02d}" for m in range(n_mels))


FEATURE_NAMES: tuple[str, ...] = feature_names(_DEFAULT_CFG.mel_bands)
"""Feature columns with the default configuration (4 scalars + 16 log-mel bands = 20)."""


def mel_filterbank(cfg: DspConfig = _DEFAULT_CFG) -> npt.NDArray[np.float64]:
    """librosa's mel filterbank for the STFT bins, 0 Hz to Nyquist.

    Parameters
    ----------
    cfg : DspConfig
        ``internal_rate``, ``stft_window`` and ``mel_bands``.

    Returns
    -------
    ndarray of float64, shape (cfg.mel_bands, cfg.stft_window//2 + 1)
        ``librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2)`` (Slaney mel scale, Slaney
        area normalisation, computed by librosa in float32), widened to float64. Read from the
        design cache (:func:`~stetho_rt.dsp.designs.cached_design`) when present, so librosa is
        imported only when it is not.
    """
    rate, n_fft, n_mels = cfg.internal_rate, cfg.stft_window, cfg.mel_bands
    design = cached_design("mel", (rate, n_fft, n_mels), lambda: _compute_mel(rate, n_fft, n_mels))
    return design["mel"]


def _compute_mel(rate: int, n_fft: int, n_mels: int) -> dict[str, np.ndarray]:
    """The uncached path of :func:`mel_filterbank`."""
    import librosa  # heavy import, only when the filterbank is not cached

    mel = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=rate / 2.0)
    return {"mel": np.ascontiguousarray(mel, dtype=np.float64)}


class FeatureStage(SpectralFramer):
    """Streaming per-frame features (see the module table).

    Parameters
    ----------
    cfg : DspConfig
        Window, hop and ``mel_bands``.
    max_block : int
        Largest input block per call [samples at 2000 Hz]; sizes the output buffer.

    Notes
    -----
    ``process(x)`` takes 1-D float32 samples at 2000 Hz and returns a float32 view of shape
    ``(n_frames, len(feature_names))`` = ``(n, 20)``; columns named by :attr:`feature_names`.
    Framing, rate, latency, :meth:`frame_times`, ``nonfinite_samples`` and ``flush()`` (returns no
    frame) are those of :class:`~stetho_rt.dsp.stft.StftStage`.
    """

    def __init__(self, cfg: DspConfig = _DEFAULT_CFG, max_block: int = DEFAULT_MAX_BLOCK) -> None:
        self.feature_names = feature_names(cfg.mel_bands)
        """Output column names."""
        super().__init__(
            cfg,
            max_block,
            n_cols=len(self.feature_names),
            db_col=-1,
            feat_col=0,
            mel=mel_filterbank(cfg),
        )


class SpectralStage(SpectralFramer):
    """dB spectrum and features of each frame from one framing and one DFT.

    Parameters
    ----------
    cfg : DspConfig
        Window, hop and ``mel_bands``.
    max_block : int
        Largest input block per call [samples at 2000 Hz]; sizes the output buffer.

    Notes
    -----
    ``process(x)`` returns a float32 view of shape ``(n_frames, n_bins + n_features)`` =
    ``(n, 33 + 20)``: columns :attr:`db_columns` hold the log power [dB] of
    :class:`~stetho_rt.dsp.stft.StftStage` (bit-identical), columns :attr:`feature_columns` the
    features of :class:`FeatureStage` (bit-identical), named by :attr:`feature_names`.
    :meth:`split` returns both as views.
    """

    def __init__(self, cfg: DspConfig = _DEFAULT_CFG, max_block: int = DEFAULT_MAX_BLOCK) -> None:
        self.feature_names = feature_names(cfg.mel_bands)
        """Names of the feature columns (``feature_columns``), in order."""
        n_bins = cfg.stft_window // 2 + 1
        self.db_columns = slice(0, n_bins)
        """Columns of the dB spectrum: bin ``b`` at ``b * 2000 / N`` Hz."""
        self.feature_columns = slice(n_bins, n_bins + len(self.feature_names))
        """Columns of the features."""
        super().__init__(
            cfg,
            max_block,
            n_cols=n_bins + len(self.feature_names),
            db_col=0,
            feat_col=n_bins,
            mel=mel_filterbank(cfg),
        )

    def split(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(db, features)`` of an output array, shapes (n, n_bins) and (n, n_features)."""
        return frames[:, self.db_columns], frames[:, self.feature_columns]


def frame_features(x: np.ndarray, cfg: DspConfig = _DEFAULT_CFG) -> Float32Array:
    """Batch features of a whole signal, built on :class:`FeatureStage`.

    Parameters
    ----------
    x : array_like, shape (n,)
        Samples at 2000 Hz (converted to float32).
    cfg : DspConfig
        Window, hop and mel bands.

    Returns
    -------
    ndarray of float32, shape (n_frames, len(feature_names(cfg.mel_bands)))
        ``n_frames = floor((n - N)/H) + 1`` (0 if ``n < N``); columns as :data:`FEATURE_NAMES`.
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    return run_batch(FeatureStage(cfg, max_block=batch_max_block(x)), x)


def spectral_frames(x: np.ndarray, cfg: DspConfig = _DEFAULT_CFG) -> Float32Array:
    """Batch form of :class:`SpectralStage`: shape (n_frames, n_bins + n_features), float32."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    return run_batch(SpectralStage(cfg, max_block=batch_max_block(x)), x)
