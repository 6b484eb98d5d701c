"""Audio files: validation up front, then streaming in blocks (ARCHITECTURE.md §1, §6).

:func:`open_audio` checks everything that can be checked before the stream starts and raises
:class:`~stetho_rt.errors.InputError` with one line naming the file and the problem:

- ``<file>: no such file``, ``<file>: not a regular file``, ``<file>: cannot read (<reason>)``
- ``<file>: empty file (0 bytes)``
- ``<file>: not an audio file (unknown format)``
- ``<file>: truncated or corrupt header (<libsndfile message>)``
- ``<file>: truncated: the header declares N frames (x.xxx s) but only M are present (y.yyy s)``
  (RIFF/WAVE data chunk shorter than declared)
- ``<file>: truncated: the last Ogg page is incomplete`` / ``...lacks the end-of-stream mark``
- ``<file>: truncated or corrupt: the last samples of the declared N frames cannot be read``
  (FLAC, MP3 and others: a read near the declared end fails or comes back short)
- ``<file>: no samples (zero-length signal)``
- ``<file>: sample rate 500 Hz is outside 1000-192000 Hz``
- ``<file>: channel 3 out of range (the file has 2 channels, numbered 0-1)``
- ``<file>: no finite samples (all NaN or infinite)`` (float files only; others cannot hold NaN)

While streaming, :meth:`AudioFile.blocks` raises ``<file>: truncated: only M of N frames could
be read`` or ``<file>: corrupt audio data near x.xxx s (<libsndfile message>)`` instead of ending
early.

**Truncated files are rejected, not trimmed.** libsndfile quietly shortens a WAV whose data chunk
is cut and an Ogg stream that lost its last pages; replaying the readable part would look like a
complete recording. The pipeline must never silently lose data, so a file whose samples stop
before its header says they do is an error; the message gives the readable length, so the user
can repair the file (e.g. rewrite it with ``sox``) knowingly.

Data checks that need the samples (silence, clipping, partial NaN) are not errors here: the
pipeline's :class:`~stetho_rt.dsp.level.BlockMeter` replaces non-finite samples by 0 and counts
them, and counts clipped samples, as the audio streams through.

Channels are numbered from 0. With ``channel=None`` a multichannel file is downmixed by the mean.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from stetho_rt.config import check_input_rate
from stetho_rt.errors import ConfigError, InputError

#: Frames read by the up-front checks (tail read, finite-sample scan) per request [samples].
_CHECK_FRAMES = 4096
_SCAN_BLOCK = 65536
#: Largest Ogg page: 27-byte header, 255 lacing values, 255 segments of 255 bytes [bytes].
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
#: Subtypes that can hold NaN or infinity.
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
#: libsndfile codes whose text misleads for an existing file (2 "System error", 7 "not a regular
#: file" which the MP3 reader returns for a cut header).
_MISLEADING_CODES = frozenset({2, 7})
#: Leading bytes of audio containers: a file starting so is audio, even if it cannot be opened.
_AUDIO_MAGIC = (
    b"RIFF", b"RIFX", b"RF64", b"riff", b"FORM", b"fLaC", b"OggS", b"ID3", b"caff", b".snd",
    b"NIST", b"Creative",
)  # fmt: skip

Float32Array = npt.NDArray[np.float32]


# ------------------------------------------------------------------------------ the file
@dataclass(frozen=True, slots=True)
class AudioFile:
    """A validated audio file, read in blocks; build it with :func:`open_audio`.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    rate : int
        Sample rate [Hz].
    channels : int
        Channels in the file (the output is always one channel).
    frames : int
        Samples per channel [samples].
    subtype : str
        libsndfile subtype, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``, ``"MPEG_LAYER_III"``.
    format : str
        libsndfile container, e.g. ``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``.
    channel : int or None
        Channel delivered (from 0), or None for the mean of all channels.
    """

    path: Path
    rate: int
    channels: int
    frames: int
    subtype: str
    format: str
    channel: int | None = None

    @property
    def duration_s(self) -> float:
        """Duration [s]."""
        return self.frames / self.rate

    @property
    def name(self) -> str:
        """The path as given, for messages."""
        return str(self.path)

    def describe(self) -> str:
        """One line: name, format, rate, channels and the channel choice."""
        which = "downmixed" if self.channel is None else f"channel {self.channel}"
        if self.channels == 1:
            which = "mono"
        return (
            f"{self.path.name} ({self.format}/{self.subtype}, {self.rate} Hz, "
            f"{self.channels} ch {which}, {self.duration_s:.1f} s)"
        )

    def blocks(self, block_size: int) -> Iterator[Float32Array]:
        """Stream the file as one-channel blocks, without loading it whole.

        Parameters
        ----------
        block_size : int
            Samples per block [samples at ``rate``].

        Yields
        ------
        numpy.ndarray
            Contiguous 1-D float32 blocks of ``block_size`` samples [full scale]; the last one
            may be shorter. Each block is a new array the caller may keep.

        Raises
        ------
        InputError
            If the file cannot be reopened, a read fails, or it ends before ``frames`` samples.
        """
        if block_size < 1:
            raise ConfigError(f"block_size={block_size} must be a positive integer")
        bs = int(block_size)
        try:
            f = sf.SoundFile(self.path)
        except (sf.LibsndfileError, OSError) as e:
            raise InputError(f"{self.name}: cannot reopen ({_lib_msg(e)})") from e
        with f:
            buf = np.empty((bs, f.channels), dtype=np.float32)
            done = 0
            while done < self.frames:
                want = min(bs, self.frames - done)
                try:
                    n = _read_frames(f, buf[:want])
                except (sf.LibsndfileError, ValueError) as e:  # ValueError: a damaged MP3
                    raise InputError(
                        f"{self.name}: corrupt audio data near {done / self.rate:.3f} s "
                        f"({_lib_msg(e)})"
                    ) from e
                if n == 0:
                    raise InputError(
                        f"{self.name}: truncated: only {done} of {self.frames} frames could be read"
                    )
                yield self._mono(buf[:n])
                done += n

    def read_all(self) -> Float32Array:
        """Read the whole file as one 1-D float32 array [full scale] (small files, tests)."""
        out = np.empty(self.frames, dtype=np.float32)
        pos = 0
        for b in self.blocks(_SCAN_BLOCK):
            out[pos : pos + b.shape[0]] = b
            pos += b.shape[0]
        return out

    def _mono(self, frames2d: Float32Array) -> Float32Array:
        if frames2d.shape[1] == 1:
            return frames2d[:, 0].copy()
        if self.channel is None:
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: counted later
                mono = np.ascontiguousarray(frames2d.mean(axis=1, dtype=np.float32))
                bad = ~np.isfinite(mono)
                if bad.any():  # one non-finite channel must not wipe out the others' samples
                    mono[bad] = _finite_mean(frames2d[bad])
            return mono
        return frames2d[:, self.channel].copy()  # a copy: never a view into the read buffer


def _finite_mean(frames2d: Float32Array) -> Float32Array:
    """Mean of each row's finite samples, shape (n_frames,); NaN where none is finite (the
    non-finite count and the zeroing happen downstream, :mod:`stetho_rt.dsp.level`)."""
    finite = np.isfinite(frames2d)
    n = finite.sum(axis=1)
    total = np.where(finite, frames2d, 0.0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan).astype(np.float32)


def open_audio(path: str | os.PathLike[str], channel: int | None = None) -> AudioFile:
    """Open and validate an audio file (WAV, FLAC, OGG, MP3 and whatever libsndfile reads).

    Parameters
    ----------
    path : str or os.PathLike
        The file; messages name it as given.
    channel : int or None
        Channel to deliver (from 0), or None to downmix all channels by their mean (of the
        finite ones, where a channel has NaN or inf).

    Returns
    -------
    AudioFile
        Validated header data; stream it with :meth:`AudioFile.blocks`.

    Raises
    ------
    InputError
        One line ``"<file>: <problem>"``: missing, empty, not audio, truncated or corrupt,
        no samples, sample rate outside 1000-192000 Hz, channel out of range, or no finite
        sample (see the module docstring for the exact wording).
    """
    p = Path(path)
    name = str(path)
    try:  # a name too long or a permission problem is bad input too, not an internal error
        exists, regular = p.exists(), p.is_file()
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e.strerror or e})") from e
    if not exists:
        raise InputError(f"{name}: no such file")
    if not regular:
        raise InputError(f"{name}: not a regular file")
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(12)
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e.strerror or e})") from e
    if size == 0:
        raise InputError(f"{name}: empty file (0 bytes)")

    try:
        with sf.SoundFile(p) as f:
            rate_raw, channels, frames = f.samplerate, f.channels, f.frames
            subtype, fmt = f.subtype, f.format
    except sf.LibsndfileError as e:
        known = head.startswith(_AUDIO_MAGIC) or _looks_like_mpeg(head)
        if not known:
            raise InputError(f"{name}: not an audio file (unknown format)") from e
        raise InputError(f"{name}: truncated or corrupt header ({_lib_msg(e)})") from e
    except TypeError as e:  # headerless RAW needs rate/channels/subtype we do not have
        raise InputError(f"{name}: not an audio file (unknown format)") from e
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e})") from e

    try:
        rate = check_input_rate(rate_raw, "sample")
    except ConfigError as e:
        raise InputError(f"{name}: {e}") from e

    problem = _header_truncation(p, head, size, rate)
    if problem is None and frames > 0:
        problem = _tail_problem(p, frames)
    if problem is not None:
        raise InputError(f"{name}: {problem}")
    if frames <= 0:
        raise InputError(f"{name}: no samples (zero-length signal)")

    if channel is not None and not 0 <= channel < channels:
        plural = "channel, numbered 0" if channels == 1 else f"channels, numbered 0-{channels - 1}"
        raise InputError(
            f"{name}: channel {channel} out of range (the file has {channels} {plural})"
        )

    af = AudioFile(p, rate, channels, frames, subtype, fmt, channel)
    if subtype in _FLOAT_SUBTYPES and not _has_finite(af):
        raise InputError(f"{name}: no finite samples (all NaN or infinite)")
    return af


# ------------------------------------------------------------------------------ reading
def _read_frames(f: sf.SoundFile, out: Float32Array) -> int:
    """Read ``len(out)`` frames into the C-contiguous ``(frames, channels)`` float32 ``out``.

    ``SoundFile.read`` ends every call with ``seek(position)`` to keep its own position; for MP3,
    libsndfile 1.2.2 turns that seek into an mpg123 seek which loses the bit reservoir, so
    block-wise reads come back with corrupt frames (zeros and "part2_3_length too large" on
    stderr). Calling ``sf_readf_float`` directly reads sequentially without seeking; if
    soundfile's internals ever move, fall back to ``SoundFile.read``.
    """
    if _RAW_READ:
        ffi, lib = sf._ffi, sf._snd  # type: ignore[attr-defined]
        ptr = ffi.cast("float *", ffi.from_buffer(out))
        n = int(lib.sf_readf_float(f._file, ptr, out.shape[0]))  # type: ignore[attr-defined]
        err = int(lib.sf_error(f._file))  # type: ignore[attr-defined]
        if err:
            raise sf.LibsndfileError(err)
        return n
    return int(f.read(out.shape[0], dtype="float32", always_2d=True, out=out).shape[0])


_RAW_READ = all(hasattr(sf, a) for a in ("_ffi", "_snd")) and hasattr(sf._snd, "sf_readf_float")


# ------------------------------------------------------------------------------ checks
def _lib_msg(e: BaseException) -> str:
    if isinstance(e, sf.LibsndfileError):
        if e.code in _MISLEADING_CODES:
            return f"libsndfile error {e.code}"
        return str(e.error_string).strip().rstrip(".")
    return str(e)


def _looks_like_mpeg(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0


def _header_truncation(p: Path, head: bytes, size: int, rate: int) -> str | None:
    """Container-level truncation that libsndfile hides (it trims WAV and Ogg quietly)."""
    try:
        if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
            return _riff_truncation(p, head[:4] == b"RIFF", size, rate)
        if head[:4] == b"OggS":
            return _ogg_truncation(p, size)
    except OSError as e:
        return f"cannot read ({e})"
    return None


def _riff_truncation(p: Path, little: bool, size: int, rate: int) -> str | None:
    end = "<" if little else ">"
    block_align = 0
    with open(p, "rb") as fh:
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            ck = fh.read(8)
            cid = ck[:4]
            (clen,) = struct.unpack(end + "I", ck[4:8])
            if cid == b"fmt " and clen >= 14:
                fmt = fh.read(14)
                if len(fmt) == 14:
                    (block_align,) = struct.unpack(end + "H", fmt[12:14])
            elif cid == b"data":
                if clen in (0, 0xFFFFFFFF):  # length unknown (written while streaming)
                    return None
                avail = size - (pos + 8)
                if clen <= avail:
                    return None
                ba = max(block_align, 1)
                declared, present = clen // ba, avail // ba
                return (
                    f"truncated: the header declares {declared} frames ({declared / rate:.3f} s) "
                    f"but only {present} are present ({present / rate:.3f} s)"
                )
            pos += 8 + clen + (clen & 1)
    return None


def _ogg_truncation(p: Path, size: int) -> str | None:
    """Check that the last Ogg page is complete and carries the end-of-stream flag."""
    span = min(size, _OGG_MAX_PAGE + 4)
    with open(p, "rb") as fh:
        fh.seek(size - span)
        tail = fh.read(span)
    i = tail.rfind(b"OggS")
    while i >= 0:
        if i + 27 <= len(tail) and tail[i + 4] == 0:
            nseg = tail[i + 26]
            if i + 27 + nseg <= len(tail):
                body = sum(tail[i + 27 : i + 27 + nseg])
                if i + 27 + nseg + body == len(tail):
                    if tail[i + 5] & 0x04:
                        return None
                    return "truncated: the last Ogg page lacks the end-of-stream mark"
        i = tail.rfind(b"OggS", 0, i)
    return "truncated: the last Ogg page is incomplete"


def _tail_problem(p: Path, frames: int) -> str | None:
    """Read the last samples the header promises; a failure or short read means truncation."""
    k = min(frames, _CHECK_FRAMES)
    msg = f"truncated or corrupt: the last samples of the declared {frames} frames cannot be read"
    try:
        with sf.SoundFile(p) as f:
            f.seek(frames - k)
            got = f.read(k, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:  # ValueError: a damaged MP3
        return f"{msg} ({_lib_msg(e)})"
    if got.shape[0] < k:
        return msg
    return None


def _has_finite(af: AudioFile) -> bool:
    """True once a finite sample of the delivered channel is seen (usually the first block)."""
    return any(bool(np.isfinite(b).any()) for b in af.blocks(_SCAN_BLOCK))
