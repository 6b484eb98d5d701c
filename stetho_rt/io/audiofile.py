"""Audio files: validation up front, then streaming in blocks (ARCHITECTURE.md §1, §6).

:func:`open_audio` checks everything that can be checked before the stream starts and raises
:class:`~stetho_rt.errors.InputError` with one line naming the file and the problem:

- ``<file>: no such file``, ``<file>: not a regular file``, ``<file>: cannot read (<reason>)``,
  ``<file>: a loop of symbolic links``, ``<file>: a symbolic link to a missing file``,
  ``-: standard input is not read; give an audio file``
- ``<file>: empty file (0 bytes)``
- ``<file>: not an audio file (unknown format)``
- ``<file>: truncated or corrupt header (<libsndfile message>)``
- ``<file>: truncated: the header declares N frames (x.xxx s) but only M are present (y.yyy s)``
  (WAV, RF64, W64, AIFF/AIFC and AU: fewer samples than the header declares)
- ``<file>: truncated: the header declares N bytes of audio data but only M are present (x.x %)``
  (the same containers, any encoding: the data chunk ends past the end of the file; this is
  what shows a cut in a compressed encoding whose header counts no frames, such as ADPCM/GSM
  W64, G.72x AU or IMA4 AIFC)
- ``<file>: truncated: the last Ogg page is incomplete`` / ``...lacks the end-of-stream mark``
- ``<file>: truncated or corrupt: the last samples of the declared N frames cannot be read``
  (FLAC, MP3 and others: a read near the declared end fails or comes back short)
- ``<file>: no samples (zero-length signal)``
- ``<file>: corrupt audio data near x.xxx s (<libsndfile message>)`` (a file whose header gives
  no length, such as a FLAC written to a pipe, is decoded to its end to count its frames)
- ``<file>: sample rate 500 Hz is outside 1000-192000 Hz``
- ``<file>: channel 3 out of range (the file has 2 channels, numbered 0-1)``
- ``<file>: no finite samples (all NaN or infinite)`` (float files only; others cannot hold NaN)
- ``<file>: samples reach 1e+20 times full scale; float audio is expected within about ±1
  (rescale the file)`` (float files beyond :data:`MAX_FLOAT_PEAK`)

While streaming, :meth:`AudioFile.blocks` raises ``<file>: truncated: only M of N frames could
be read`` or ``<file>: corrupt audio data near x.xxx s (<libsndfile message>)`` instead of ending
early.

**Truncated files are rejected, not trimmed.** libsndfile quietly shortens a WAV, RF64, W64,
AIFF or AU file whose data is cut and an Ogg stream that lost its last pages, and reads a
variable-bitrate MP3 without a Xing/Info/VBRI tag only as far as its first frame's bitrate
suggests (``<file>: an MP3 without a length (Xing/Info) tag: it holds about x s, but libsndfile
would read only y s; ...``); replaying the readable part would look like a complete
recording. The pipeline must never silently lose data, so a file whose samples stop before its
header says they do is an error; the message gives the readable length, so the user can repair
the file (e.g. rewrite it with ``sox``) knowingly.

Data checks that need the samples (silence, clipping, partial NaN) are not errors here: the
pipeline's :class:`~stetho_rt.dsp.level.BlockMeter` replaces non-finite samples of the delivered
channel by 0 and counts them, and counts clipped samples, as the audio streams through.

Channels are numbered from 0. With ``channel=None`` a multichannel file is downmixed by the mean
of each frame's finite channels: a NaN or infinite sample in one channel is left out of its frame's
mean; a frame with no finite channel stays NaN and is counted (and zeroed) downstream. What the
mean would hide, a non-finite or a clipped channel in a frame whose mean is neither, is counted
in :attr:`AudioFile.hidden` and added to the pipeline's counts.
"""

from __future__ import annotations

import contextlib
import errno
import math
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from stetho_rt.config import CLIP_LEVEL, check_input_rate
from stetho_rt.errors import ConfigError, InputError
from stetho_rt.io.devices import quiet_stderr

#: Frames read by the up-front checks (tail read, finite-sample scan) per request [samples].
_CHECK_FRAMES = 4096
_SCAN_BLOCK = 65536
#: Frame counts from here up are libsndfile's "unknown length" (SF_COUNT_MAX, 2**63 - 1).
_UNKNOWN_FRAMES = 2**62
#: Largest Ogg page: 27-byte header, 255 lacing values, 255 segments of 255 bytes [bytes].
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
#: Largest float sample accepted [full scale]: 120 dB over; far beyond, a level squared overflows
#: float32 and the analysis would be garbage (1e20 gave a confident verdict from nothing).
MAX_FLOAT_PEAK = 1e6
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
@dataclass(slots=True)
class HiddenByDownmix:
    """Samples of a multichannel file that the downmix would hide, counted as it streams.

    The pipeline counts non-finite and clipped samples of the one channel it receives; a
    downmix leaves a NaN channel out of its frame's mean and averages a clipped channel down,
    so these are counted here, per frame: ``nonfinite`` frames with a non-finite channel whose
    mean is finite, ``clipped`` frames with a channel at full scale (:data:`CLIP_LEVEL`) whose
    mean is not. The pipeline adds them to its own counts."""

    nonfinite: int = 0
    clipped: int = 0


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
    given_name: str | None = None
    """The path as the caller gave it (``./a.wav`` stays so), for messages."""
    hidden: HiddenByDownmix = field(default_factory=HiddenByDownmix)
    """What the downmix hides so far (``channel`` None, several channels)."""

    @property
    def duration_s(self) -> float:
        """Duration [s]."""
        return self.frames / self.rate

    @property
    def name(self) -> str:
        """The path as given, for messages."""
        return self.given_name if self.given_name is not None else str(self.path)

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
            f = sf.SoundFile(os.fsencode(self.path))
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
                    self.hidden.nonfinite += int(np.isfinite(mono[bad]).sum())
                # a finite channel at full scale (inf is counted as non-finite, not as clipped)
                loud = (np.isfinite(frames2d) & (np.abs(frames2d) >= CLIP_LEVEL)).any(axis=1)
                if loud.any():
                    self.hidden.clipped += int((loud & ~(np.abs(mono) >= CLIP_LEVEL)).sum())
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
        if name == "-":
            raise InputError("-: standard input is not read; give an audio file")
        if p.is_symlink():  # exists() follows it: a dangling link or a loop of links
            try:
                os.stat(p)  # follows the link; says which it is on every Python version
            except FileNotFoundError:
                raise InputError(f"{name}: a symbolic link to a missing file") from None
            except OSError as e:
                what = ("a loop of symbolic links" if e.errno == errno.ELOOP
                        else f"cannot read ({e.strerror or e})")
                raise InputError(f"{name}: {what}") from None
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

    # libmpg123 prints its own warnings (a cut stream, a seek) on stderr: the message below
    # says what matters, in one line
    mpeg = head.startswith(b"ID3") or _looks_like_mpeg(head)
    with quiet_stderr() if mpeg else contextlib.nullcontext():
        rate, channels, frames, subtype, fmt = _checked_header(p, name, head, size)
    if frames <= 0:
        raise InputError(f"{name}: no samples (zero-length signal)")

    if channel is not None and not 0 <= channel < channels:
        plural = "channel, numbered 0" if channels == 1 else f"channels, numbered 0-{channels - 1}"
        raise InputError(
            f"{name}: channel {channel} out of range (the file has {channels} {plural})"
        )

    af = AudioFile(p, rate, channels, frames, subtype, fmt, channel, given_name=name)
    if subtype in _FLOAT_SUBTYPES and (problem := _float_problem(af)) is not None:
        raise InputError(f"{name}: {problem}")
    return af


def _checked_header(p: Path, name: str, head: bytes,
                    size: int) -> tuple[int, int, int, str, str]:
    """(rate, channels, frames, subtype, format) of an existing, non-empty file, after the
    checks that need only the header and the last samples (InputError otherwise)."""
    try:
        with sf.SoundFile(os.fsencode(p)) as f:
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
    if frames >= _UNKNOWN_FRAMES:  # no length in the header (a FLAC written to a pipe): count
        frames = _count_frames(p, name, rate)

    problem = _header_truncation(p, head, size, rate, frames)
    if problem is None and fmt == "MP3":
        problem = _mpeg_length_problem(p, frames, rate)
    if problem is None and frames > 0:
        problem = _tail_problem(p, frames)
    if problem is not None:
        raise InputError(f"{name}: {problem}")
    return rate, channels, frames, subtype, fmt


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


def _header_truncation(p: Path, head: bytes, size: int, rate: int, frames: int) -> str | None:
    """Container-level truncation that libsndfile hides: it trims WAV, RF64, W64, AIFF, AU
    and Ogg quietly to what is present (``frames``, the count it reports).

    Two checks from the header: the frame count it declares (plain encodings, and the
    compressed ones that store it), then, for every encoding, where its audio data chunk
    ends: a compressed block holds many frames, so only the bytes show a cut there."""
    try:
        if head[:4] == b"OggS":
            return _ogg_truncation(p, size)
        declared = _declared_length(p, head, size)
    except OSError as e:
        return f"cannot read ({e})"
    if declared.frames is not None and declared.frames > frames:
        return (
            f"truncated: the header declares {declared.frames} frames "
            f"({declared.frames / rate:.3f} s) but only {frames} are present "
            f"({frames / rate:.3f} s)"
        )
    if declared.data_end is None or declared.data_start is None:
        return None
    short = declared.data_end - size
    if short <= 0 or (declared.frame_bytes is not None and short < declared.frame_bytes):
        return None  # all there, or less than one frame of a length not a whole frame count
    want = declared.data_end - declared.data_start
    if want <= 0 or declared.data_start >= size:
        return (f"truncated: the audio data starts at byte {declared.data_start}, past the end "
                f"of the file ({size} bytes)")
    have = size - declared.data_start
    return (
        f"truncated: the header declares {want} bytes of audio data but only {have} are "
        f"present ({math.floor(1000.0 * have / want) / 10.0:.1f} %)"
    )


#: WAVE format tags whose block is one frame: PCM, IEEE float, A-law, u-law, extensible.
_WAV_PLAIN_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE})
#: GUIDs of the Sony Wave64 chunks we read (the first 4 bytes are the RIFF-style name).
_W64_FMT = b"fmt \xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"
_W64_DATA = b"data\xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"
_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
#: Bytes per sample of the Sun/NeXT AU encodings with a fixed size (1 u-law, 2-7 PCM/float,
#: 27 A-law).
_AU_SAMPLE_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


@dataclass(frozen=True)
class _Declared:
    """What a container's header declares about its audio; None where it does not say (a
    length left open by a streaming writer, an unknown container).

    Attributes
    ----------
    frames : int or None
        Frame count (None also for a compressed encoding that does not store it).
    data_start, data_end : int or None
        Byte offsets of the audio data's first byte and one past its declared last byte.
    frame_bytes : int or None
        Bytes per frame of a plain encoding (None for a compressed one): a data length short of
        the file by less than this loses no frame (a length that is not a whole frame count).
    """

    frames: int | None = None
    data_start: int | None = None
    data_end: int | None = None
    frame_bytes: int | None = None


_UNDECLARED = _Declared()


def _declared_length(p: Path, head: bytes, size: int) -> _Declared:
    """What the container's header declares (:class:`_Declared`)."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return _riff_declared(p, head[:4] != b"RIFX", size)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _aiff_declared(p, head[8:12] == b"AIFC", size)
    if head[:4] in (b".snd", b"dns."):  # big- / little-endian
        return _au_declared(p, head[:4] == b"dns.")
    if head[:4] == b"riff":
        return _w64_declared(p, size)
    return _UNDECLARED


def _riff_declared(p: Path, little: bool, size: int) -> _Declared:
    """WAV (RIFF/RIFX) and RF64: the data chunk's length (RF64: from ``ds64``) / block align;
    compressed WAV (GSM 6.10, ADPCM: a block holds many frames) the ``fact`` chunk's count."""
    end = "<" if little else ">"
    block_align = 0
    fmt_tag = 1
    fact_frames = None
    ds64_data = None
    with open(p, "rb") as fh:
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            ck = fh.read(8)
            cid = ck[:4]
            (clen,) = struct.unpack(end + "I", ck[4:8])
            if cid == b"ds64" and clen >= 16:
                body = fh.read(16)
                if len(body) == 16:
                    (ds64_data,) = struct.unpack("<Q", body[8:16])
            elif cid == b"fmt " and clen >= 14:
                fmt = fh.read(14)
                if len(fmt) == 14:
                    (fmt_tag,) = struct.unpack(end + "H", fmt[0:2])
                    (block_align,) = struct.unpack(end + "H", fmt[12:14])
            elif cid == b"fact" and clen >= 4:
                body = fh.read(4)
                if len(body) == 4:
                    (fact_frames,) = struct.unpack(end + "I", body)
            elif cid == b"data":
                if clen == 0xFFFFFFFF and ds64_data is not None:
                    clen = ds64_data
                if clen in (0, 0xFFFFFFFF):  # length unknown (written while streaming)
                    return _Declared(fact_frames if fmt_tag not in _WAV_PLAIN_TAGS else None)
                if fmt_tag in _WAV_PLAIN_TAGS:
                    frame_bytes = max(block_align, 1)
                    return _Declared(clen // frame_bytes, pos + 8, pos + 8 + clen, frame_bytes)
                return _Declared(fact_frames, pos + 8, pos + 8 + clen)  # blocks are not frames
            pos += 8 + clen + (clen & 1)
    return _UNDECLARED


def _w64_declared(p: Path, size: int) -> _Declared:
    """Sony Wave64: 16-byte GUID chunk names, 64-bit lengths that include the 24-byte chunk
    header, chunks aligned to 8 bytes. Frames only for the plain encodings (libsndfile writes no
    ``fact`` count into a compressed W64)."""
    block_align = 0
    fmt_tag = 1
    with open(p, "rb") as fh:
        if fh.read(16) != _W64_RIFF:
            return _UNDECLARED
        pos = 40  # riff GUID, size, wave GUID
        while pos + 24 <= size:
            fh.seek(pos)
            ck = fh.read(24)
            (clen,) = struct.unpack("<Q", ck[16:24])
            if ck[:16] == _W64_FMT and clen >= 24 + 14:
                fmt = fh.read(14)
                if len(fmt) == 14:
                    (fmt_tag,) = struct.unpack("<H", fmt[0:2])
                    (block_align,) = struct.unpack("<H", fmt[12:14])
            elif ck[:16] == _W64_DATA:
                if clen <= 24:
                    return _UNDECLARED
                if fmt_tag in _WAV_PLAIN_TAGS:
                    frame_bytes = max(block_align, 1)
                    return _Declared((clen - 24) // frame_bytes, pos + 24, pos + clen, frame_bytes)
                return _Declared(None, pos + 24, pos + clen)
            if clen < 24:
                return _UNDECLARED
            pos += (clen + 7) // 8 * 8
    return _UNDECLARED


#: AIFC compression types whose COMM count is of packets of many frames, not of frames.
_AIFC_PACKET_COUNTED = frozenset({b"ima4", b"Qclp", b"MAC3", b"MAC6"})
#: AIFC compression types that store plain integer PCM (big- or little-endian).
_AIFC_PLAIN_PCM = frozenset({b"NONE", b"twos", b"sowt"})


def _aiff_declared(p: Path, aifc: bool, size: int) -> _Declared:
    """AIFF/AIFC: the COMM chunk's frame count (not for the compression types that count
    packets) and the SSND chunk's extent (its data starts after the chunk's offset field; a
    length of 0xFFFFFFFF is "unknown"), in whatever order the chunks come."""
    frames = frame_bytes = None
    extent: tuple[int, int] | None = None  # of the SSND data, when its length is known
    seen_comm = seen_ssnd = False
    with open(p, "rb") as fh:
        pos = 12
        while pos + 8 <= size and not (seen_comm and seen_ssnd):
            fh.seek(pos)
            ck = fh.read(8)
            (clen,) = struct.unpack(">I", ck[4:8])
            if ck[:4] == b"COMM" and clen >= 8:
                body = fh.read(min(clen, 22))
                if len(body) >= 8:
                    seen_comm = True
                    channels, count, bits = struct.unpack(">HIH", body[0:8])
                    kind = body[18:22] if aifc and len(body) >= 22 else b"NONE"
                    frames = None if kind in _AIFC_PACKET_COUNTED else count
                    if kind in _AIFC_PLAIN_PCM and channels > 0:
                        frame_bytes = (bits + 7) // 8 * channels
            elif ck[:4] == b"SSND" and clen >= 8:
                seen_ssnd = True
                if clen != 0xFFFFFFFF:  # 0xFFFFFFFF: length unknown, no byte check
                    off = fh.read(4)
                    skip = struct.unpack(">I", off)[0] if len(off) == 4 else 0
                    extent = (pos + 16 + skip, pos + 8 + clen)
            pos += 8 + clen + (clen & 1)
    if extent is None:
        return _Declared(frames)
    return _Declared(frames, extent[0], extent[1], frame_bytes)


def _au_declared(p: Path, little: bool) -> _Declared:
    """Sun/NeXT AU (``little``: the little-endian ``dns.`` variant): data size / (channels x
    bytes per sample) frames for the fixed-size encodings; the data's extent from the header
    for all (0xFFFFFFFF is "unknown")."""
    with open(p, "rb") as fh:
        hdr = fh.read(24)
    if len(hdr) < 24:
        return _UNDECLARED
    _, offset, data_size, encoding, _, channels = struct.unpack(("<" if little else ">") + "6I",
                                                                hdr)
    if data_size == 0xFFFFFFFF or channels < 1:
        return _UNDECLARED
    width = _AU_SAMPLE_BYTES.get(encoding)
    if width is None:
        return _Declared(None, offset, offset + data_size)
    return _Declared(data_size // (width * channels), offset, offset + data_size,
                     width * channels)


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


#: MPEG audio bitrates [kbit/s] by (MPEG-1?, layer) and the header's 4-bit index (1-14).
_MPEG_KBPS = {
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
#: Sample rates [Hz] by MPEG version bits (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5) and index.
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
#: Tags that give an MP3's exact length in its first frame (libsndfile then reads it all).
_MPEG_LENGTH_TAGS = (b"Xing", b"Info", b"VBRI")


def _mpeg_frames(data: bytes | mmap.mmap, start: int) -> tuple[int, bool]:
    """Walk MPEG audio frame headers from ``start``: (samples they hold, first frame carries a
    length tag). Stops at the first byte run that is not a frame (a tag, junk, the end)."""
    pos, samples, tagged, first = start, 0, False, True
    while pos + 4 <= len(data):
        b1, b2 = data[pos + 1], data[pos + 2]
        if data[pos] != 0xFF or b1 & 0xE0 != 0xE0:
            break
        version, layer = (b1 >> 3) & 3, 4 - ((b1 >> 1) & 3)
        kbps_i, rate_i, pad = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
        if version == 1 or layer == 4 or not 1 <= kbps_i <= 14 or rate_i == 3:
            break
        mpeg1 = version == 3
        bitrate = _MPEG_KBPS[(mpeg1, layer)][kbps_i - 1] * 1000
        rate = _MPEG_RATES[version][rate_i]
        if layer == 1:
            size, spf = (12 * bitrate // rate + pad) * 4, 384
        else:
            spf = 1152 if (layer == 2 or mpeg1) else 576
            size = spf // 8 * bitrate // rate + pad
        if first:
            tagged = any(t in data[pos : pos + size] for t in _MPEG_LENGTH_TAGS)
            first = False
        samples += spf
        pos += size
    return samples, tagged


def mpeg_audio_start(data: bytes | mmap.mmap) -> int:
    """Offset of an MP3's first frame [bytes]: after its ID3v2 tag, if any (10-byte header
    and a 28-bit "synchsafe" size)."""
    if data[:3] == b"ID3" and len(data) >= 10:
        return 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    return 0


def _mpeg_length_problem(p: Path, frames: int, rate: int) -> str | None:
    """An MP3 without a length tag whose frames hold more audio than libsndfile will read.

    libsndfile (1.2) estimates such a file's length from its size and first frame's bitrate and
    stops reading there: a variable-bitrate MP3 without a Xing/Info/VBRI tag would be cut short
    without a word. The frame headers give the true length (give or take the encoder's delay
    and padding, under two frames)."""
    try:
        with open(p, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            samples, tagged = _mpeg_frames(data, mpeg_audio_start(data))
    except (OSError, ValueError) as e:  # ValueError: mmap of an empty file (checked before)
        return f"cannot read ({e})"
    if tagged or samples <= frames + 2 * 1152:
        return None
    return (
        f"an MP3 without a length (Xing/Info) tag: it holds about {samples / rate:.1f} s, but "
        f"libsndfile would read only {frames / rate:.1f} s; convert it (for example to FLAC) "
        "first"
    )


def _tail_problem(p: Path, frames: int) -> str | None:
    """Read the last samples the header promises; a failure or short read means truncation.

    Formats libsndfile cannot seek in are read through to the end instead: GSM 6.10 WAV (not
    seekable) and DWVW AIFF (claims to be, but its seek fails)."""
    k = min(frames, _CHECK_FRAMES)
    msg = f"truncated or corrupt: the last samples of the declared {frames} frames cannot be read"
    try:
        with sf.SoundFile(os.fsencode(p)) as f:
            if not f.seekable():
                return _read_through_problem(f, frames, msg)
            try:
                f.seek(frames - k)
            except sf.LibsndfileError:
                # the failed seek leaves no usable position
                with sf.SoundFile(os.fsencode(p)) as again:
                    return _read_through_problem(again, frames, msg)
            # read without soundfile's seek after the read (it fails where the seek above did)
            got = _read_frames(f, np.empty((k, f.channels), dtype=np.float32))
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:  # ValueError: a damaged MP3
        return f"{msg} ({_lib_msg(e)})"
    if got < k:
        return msg
    return None


def _count_frames(p: Path, name: str, rate: int) -> int:
    """Frames of a file whose header gives no length, by decoding it to its end."""
    total = 0
    try:
        with sf.SoundFile(os.fsencode(p)) as f:
            buf = np.empty((_CHECK_FRAMES, f.channels), dtype=np.float32)
            while n := _read_frames(f, buf):
                total += n
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise InputError(f"{name}: corrupt audio data near {total / rate:.3f} s "
                         f"({_lib_msg(e)})") from e
    return total


def _read_through_problem(f: sf.SoundFile, frames: int, msg: str) -> str | None:
    """Decode an unseekable file to its end: fewer than ``frames`` samples is ``msg``."""
    buf = np.empty((_SCAN_BLOCK, f.channels), dtype=np.float32)
    done = 0
    while done < frames:
        n = _read_frames(f, buf[: min(_SCAN_BLOCK, frames - done)])
        if n == 0:
            return msg
        done += n
    return None


def _float_problem(af: AudioFile) -> str | None:
    """Scan a float file's delivered channel(s) in float64: no finite sample at all, or samples
    so far beyond full scale that they overflow the pipeline's float32 arithmetic (a level
    squared; a DOUBLE file past float32's range would turn to inf), is a problem."""
    peak = -1.0
    try:
        with sf.SoundFile(os.fsencode(af.path)) as f:
            for b in f.blocks(blocksize=_SCAN_BLOCK, dtype="float64", always_2d=True):
                x = b if af.channel is None else b[:, af.channel]
                finite = x[np.isfinite(x)]
                if finite.size:
                    peak = max(peak, float(np.abs(finite).max()))
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        return f"cannot read ({_lib_msg(e)})"
    if peak < 0.0:
        return "no finite samples (all NaN or infinite)"
    if peak > MAX_FLOAT_PEAK:
        return (f"samples reach {peak:.3g} times full scale; float audio is expected within "
                "about ±1 (rescale the file)")
    return None
