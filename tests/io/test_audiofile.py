"""Audio file reading: formats round-trip, bad inputs give one-line InputErrors, streaming."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stetho_rt.config import CLIP_LEVEL
from stetho_rt.dsp.level import BlockMeter
from stetho_rt.errors import ConfigError, InputError
from stetho_rt.io.audiofile import mpeg_audio_start, open_audio

RATES = (1000, 4000, 11025, 44100, 192000)
#: MP3 (MPEG 1/2/2.5) cannot encode 1000, 4000 or 192000 Hz at all: libsndfile refuses to write
#: them, so only the legal rates of the list (plus 8000 and 48000) are tested.
MP3_RATES = (8000, 11025, 44100, 48000)
WAV_SUBTYPES = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
#: Largest round-trip error per subtype [full scale] (quantization step, float32 rounding).
TOLERANCE = {
    "PCM_U8": 1.01 / 128,
    "PCM_16": 1.01 / 2**15,
    "PCM_24": 1.01 / 2**23,
    "PCM_32": 2e-7,
    "FLOAT": 2e-7,
    "DOUBLE": 2e-7,
}
AMP = 0.4
DUR_S = 0.25


def _tones(rate: int, channels: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Left tone at rate/20, right at rate/8 (at most 1 and 3 kHz: codecs cut the top band) [Hz].

    Returns the samples, shape (frames, channels), and the two frequencies [Hz].
    """
    n = int(rate * DUR_S)
    t = np.arange(n) / rate
    f = (min(rate / 20, 1000.0), min(rate / 8, 3000.0))
    cols = [AMP * np.sin(2 * np.pi * f[c] * t) for c in range(channels)]
    return np.stack(cols, axis=1), f


def _dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


def _check_blocks(af, block_size: int = 333) -> np.ndarray:
    blocks = list(af.blocks(block_size))
    for b in blocks:
        assert b.dtype == np.float32 and b.ndim == 1 and b.flags.c_contiguous
    assert all(len(b) == block_size for b in blocks[:-1])
    assert 1 <= len(blocks[-1]) <= block_size
    joined = np.concatenate(blocks)
    np.testing.assert_array_equal(joined, af.read_all())
    return joined


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [("WAV", s) for s in WAV_SUBTYPES] + [("FLAC", "PCM_16"), ("FLAC", "PCM_24")],
)
def test_lossless_round_trip(tmp_path: Path, fmt: str, subtype: str, rate: int, channels: int):
    x, _ = _tones(rate, channels)
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    tol = TOLERANCE[subtype]

    af = open_audio(path)
    assert (af.rate, af.channels, af.frames) == (rate, channels, len(x))
    assert isinstance(af.rate, int)
    assert af.duration_s == pytest.approx(DUR_S, abs=1 / rate)
    assert (af.format, af.subtype) == (fmt, subtype)
    mix = _check_blocks(af)
    np.testing.assert_allclose(mix, x.mean(axis=1), atol=tol, rtol=0)

    for c in range(channels):
        one = open_audio(path, channel=c)
        np.testing.assert_allclose(_check_blocks(one), x[:, c], atol=tol, rtol=0)


def _check_lossy(path: Path, x: np.ndarray, f: tuple[float, float], rate: int) -> None:
    channels = x.shape[1]
    af = open_audio(path)
    assert (af.rate, af.channels) == (rate, channels)
    assert abs(af.frames - len(x)) <= 2304  # at most two MP3 frames of padding
    mix = _check_blocks(af, 1000)
    core = slice(len(mix) // 8, len(mix) - len(mix) // 8)  # away from codec edge effects
    bin_hz = rate / (len(mix[core]))
    expected_rms = AMP / np.sqrt(2) / channels * np.sqrt(channels)  # mean of uncorrelated tones
    assert 20 * np.log10(np.sqrt(np.mean(mix[core] ** 2)) / expected_rms) == pytest.approx(0, abs=2)
    for c in range(channels):
        y = open_audio(path, channel=c).read_all()[core]
        assert abs(_dominant_hz(y, rate) - f[c]) <= 2 * bin_hz
        rms = np.sqrt(np.mean(y**2))
        assert 20 * np.log10(rms / (AMP / np.sqrt(2))) == pytest.approx(0, abs=2)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", RATES)
def test_ogg_vorbis_round_trip(tmp_path: Path, rate: int, channels: int):
    x, f = _tones(rate, channels)
    path = tmp_path / "tone.ogg"
    sf.write(path, x, rate, format="OGG", subtype="VORBIS")
    _check_lossy(path, x, f, rate)
    assert open_audio(path).subtype == "VORBIS"


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", MP3_RATES)
def test_mp3_round_trip(tmp_path: Path, rate: int, channels: int):
    x, f = _tones(rate, channels)
    path = tmp_path / "tone.mp3"
    sf.write(path, x, rate, format="MP3", subtype="MPEG_LAYER_III")
    _check_lossy(path, x, f, rate)
    assert open_audio(path).format == "MP3"


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("k.wav", {"subtype": "PCM_16"}),
        ("k.flac", {}),
        ("k.ogg", {"format": "OGG", "subtype": "VORBIS"}),
        ("k.mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    ],
)
def test_block_size_does_not_change_the_samples(
    tmp_path: Path, rng: np.random.Generator, name: str, kw: dict
):
    """Any block size gives the same samples, and kept blocks are never overwritten.

    MP3 guards against a libsndfile 1.2.2 pitfall: ``SoundFile.read`` seeks after every call,
    which resets mpg123's bit reservoir and corrupts block-wise decoding.
    """
    path = tmp_path / name
    sf.write(path, 0.3 * rng.standard_normal((8000, 2)), 8000, **kw)
    for channel in (None, 0, 1):
        af = open_audio(path, channel=channel)
        whole = af.read_all()
        assert whole.shape == (af.frames,)
        for bs in (1, 2, 7, 1152, 5000, 100_000):
            np.testing.assert_array_equal(np.concatenate(list(af.blocks(bs))), whole)


def test_multichannel_downmix_and_choice(tmp_path: Path, rng: np.random.Generator):
    x = rng.uniform(-0.5, 0.5, (3000, 4)).astype(np.float32)
    path = tmp_path / "four.wav"
    sf.write(path, x, 4000, subtype="FLOAT")
    np.testing.assert_allclose(open_audio(path).read_all(), x.mean(axis=1), atol=1e-7)
    for c in range(4):
        np.testing.assert_array_equal(open_audio(path, channel=c).read_all(), x[:, c])
    assert "4 ch" in open_audio(path).describe()


def test_blocks_stream_without_loading_the_file(tmp_path: Path, rng: np.random.Generator):
    rate, secs = 44100, 60  # 2.6 M stereo frames = 21 MB as float32
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", rate, 2, "PCM_16") as f:
        chunk = (0.1 * rng.standard_normal((rate, 2))).astype(np.float32)
        for _ in range(secs):
            f.write(chunk)
    af = open_audio(path)
    tracemalloc.start()
    try:
        total = sum(len(b) for b in af.blocks(441))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == rate * secs
    assert peak < 2_000_000, f"peak {peak} bytes: the file was not streamed"
    with pytest.raises(ConfigError):
        next(af.blocks(0))


# ---------------------------------------------------------------------------- bad inputs
def _input_error(path: Path, **kw) -> str:
    with pytest.raises(InputError) as ei:
        open_audio(path, **kw)
    msg = str(ei.value)
    assert path.name in msg and "\n" not in msg, msg
    return msg


def _valid(tmp_path: Path, name: str, rng: np.random.Generator, **kw) -> Path:
    path = tmp_path / name
    x = (0.3 * rng.standard_normal((8000, 2))).astype(np.float32)
    sf.write(path, x, 8000, **kw)
    return path


def test_missing_file(tmp_path: Path):
    assert "no such file" in _input_error(tmp_path / "nothere.wav")


def test_links_that_lead_nowhere_and_standard_input_say_what_they_are(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A loop of symbolic links, a link to a missing file and ``-`` all read "no such file",
    which sent the user looking for a file that was there."""
    (tmp_path / "a.wav").symlink_to(tmp_path / "b.wav")
    (tmp_path / "b.wav").symlink_to(tmp_path / "a.wav")
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    assert _input_error(tmp_path / "a.wav").endswith("a.wav: a loop of symbolic links")
    assert _input_error(tmp_path / "dangling.wav").endswith(
        "dangling.wav: a symbolic link to a missing file")
    monkeypatch.chdir(tmp_path)
    assert _input_error(Path("-")) == "-: standard input is not read; give an audio file"


def test_directory(tmp_path: Path):
    (tmp_path / "dir.wav").mkdir()
    assert "not a regular file" in _input_error(tmp_path / "dir.wav")


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty file (0 bytes)" in _input_error(path)


@pytest.mark.parametrize("name", ["notes.wav", "notes.flac", "notes.mp3", "notes.raw"])
def test_text_file_is_not_audio(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text("systolic murmur grade 2/6, left sternal border\n" * 20)
    assert "not an audio file (unknown format)" in _input_error(path)


@pytest.mark.parametrize("keep", [0.5, 0.9])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_truncated_wav_says_truncated_with_lengths(
    tmp_path: Path, rng: np.random.Generator, subtype: str, keep: float
):
    path = _valid(tmp_path, "cut.wav", rng, subtype=subtype)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    msg = _input_error(path)
    assert "truncated" in msg and "declares 8000 frames" in msg


def test_wav_missing_its_last_byte_is_truncated(tmp_path: Path, rng: np.random.Generator):
    path = _valid(tmp_path, "cut1.wav", rng, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:-1])
    assert "only 7999 are present" in _input_error(path)


@pytest.mark.parametrize("keep_bytes", [8, 30, 44])
def test_wav_cut_in_its_header(tmp_path: Path, rng: np.random.Generator, keep_bytes: int):
    path = _valid(tmp_path, "hdr.wav", rng, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:keep_bytes])
    msg = _input_error(path)
    assert "truncated" in msg or "no samples" in msg


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("cut.flac", {"format": "FLAC", "subtype": "PCM_16"}),
        ("cut.ogg", {"format": "OGG", "subtype": "VORBIS"}),
        ("cut.mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    ],
)
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_compressed_files(
    tmp_path: Path, rng: np.random.Generator, name: str, kw: dict, keep: float
):
    path = _valid(tmp_path, name, rng, **kw)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    assert "truncated" in _input_error(path)


def test_file_cut_after_validation_fails_while_streaming(tmp_path: Path, rng: np.random.Generator):
    path = _valid(tmp_path, "shrinks.wav", rng, subtype="PCM_16")
    af = open_audio(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"shrinks\.wav: truncated: only \d+ of 8000 frames"):
        for _ in af.blocks(512):
            pass


def test_rate_too_low(tmp_path: Path):
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(500, np.float32) + 0.1, 500)
    assert "sample rate 500 Hz is outside 1000-192000 Hz" in _input_error(path)


def test_rate_too_high(tmp_path: Path):
    path = tmp_path / "fast.wav"
    sf.write(path, np.full(1000, 0.1, np.float32), 384000)
    assert "384000 Hz" in _input_error(path)


def test_channel_out_of_range(tmp_path: Path, rng: np.random.Generator):
    path = _valid(tmp_path, "stereo.wav", rng)
    msg = _input_error(path, channel=3)
    assert "channel 3 out of range" in msg and "2 channels" in msg
    assert "channel -1" in _input_error(path, channel=-1)
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.full(100, 0.1, np.float32), 4000)
    assert "1 channel," in _input_error(mono, channel=1)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_no_finite_samples(tmp_path: Path, subtype: str, bad: float):
    path = tmp_path / "nan.wav"
    x = np.full((4000, 2), bad, np.float32)
    x[::2, 1] = -bad
    sf.write(path, x, 4000, subtype=subtype)
    assert "no finite samples" in _input_error(path)


def test_nan_only_in_the_chosen_channel(tmp_path: Path):
    path = tmp_path / "halfnan.wav"
    x = np.full((1000, 2), 0.1, np.float32)
    x[:, 1] = np.nan
    sf.write(path, x, 4000, subtype="FLOAT")
    assert open_audio(path, channel=0).frames == 1000
    assert "no finite samples" in _input_error(path, channel=1)
    # the downmix leaves the NaN channel out (it was refused: the mean of NaN and 0.1 is NaN)
    np.testing.assert_array_equal(open_audio(path).read_all(), np.full(1000, 0.1, np.float32))


def test_partial_nan_and_silence_open_fine(tmp_path: Path, rng: np.random.Generator):
    path = tmp_path / "someNaN.wav"
    x = (0.2 * rng.standard_normal(4000)).astype(np.float32)
    x[100:150] = np.nan
    sf.write(path, x, 4000, subtype="FLOAT")
    x = open_audio(path).read_all()
    assert x.shape[0] == 4000
    meter = BlockMeter()  # what the pipeline runs on every block
    meter.process(x)
    assert meter.nonfinite_samples == 50 and np.isfinite(x).all()
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(4000, np.float32), 4000, subtype="PCM_16")
    meter = BlockMeter()
    meter.process(open_audio(quiet).read_all())
    assert meter.peak == 0.0


def test_zero_length(tmp_path: Path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 4000)
    assert "no samples (zero-length signal)" in _input_error(path)


def test_downmix_leaves_a_non_finite_channel_out(tmp_path: Path, rng: np.random.Generator):
    """A NaN or inf in one channel made the whole frame NaN (then zeroed), so a file whose first
    channel was all NaN was refused as having no finite sample although the second was clean.
    The downmix now averages each frame's finite channels; a frame with none stays NaN (counted
    and zeroed downstream)."""
    clean = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    other = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    x = np.stack([np.full(4000, np.nan, np.float32), clean, other], axis=1)
    x[:1000, 0] = 0.1  # the first channel finite in the first quarter
    x[2000, 1] = np.inf
    x[3000, :] = np.nan  # no finite channel at all
    path = tmp_path / "nan_channel.wav"
    sf.write(path, x, 4000, subtype="FLOAT")
    got = np.concatenate(list(open_audio(path).blocks(333)))
    expect = (clean + other) / 2
    expect[:1000] = (0.1 + clean[:1000] + other[:1000]) / 3
    expect[2000] = other[2000]
    assert np.isnan(got[3000]) and np.isfinite(np.delete(got, 3000)).all()
    np.testing.assert_allclose(np.delete(got, 3000), np.delete(expect, 3000), rtol=1e-6,
                               atol=1e-7)


# ---------------------------------------------------------------------------- level meter
def test_block_meter_counts_and_sanitises(rng: np.random.Generator):
    """The pipeline's meter: non-finite samples replaced by 0 and counted, clipping counted,
    peak and RMS of the finite samples; any block split gives the same counts."""
    x = (0.3 * rng.standard_normal(10000)).astype(np.float32)
    x[:7] = [np.nan, np.inf, -np.inf, 1.0, -1.0, CLIP_LEVEL, -0.5]
    finite = x[np.isfinite(x)]
    whole = BlockMeter()
    y = x.copy()
    whole.process(y)
    assert whole.nonfinite_samples == 3 and np.isfinite(y).all() and (y[:3] == 0).all()
    assert whole.peak == pytest.approx(np.abs(finite).max())
    assert whole.clipped_samples == int(np.count_nonzero(np.abs(finite) >= CLIP_LEVEL)) >= 3
    assert whole.rms == pytest.approx(np.sqrt(np.sum(finite.astype(np.float64) ** 2) / 10000),
                                      rel=1e-9)
    split = BlockMeter()
    for part in (x[:3333].copy(), x[3333:].copy(), x[:0].copy()):
        split.process(part)
    assert (split.nonfinite_samples, split.clipped_samples) == (3, whole.clipped_samples)
    nan_only = BlockMeter()
    nan_only.process(np.full(5, np.nan, np.float32))
    assert (nan_only.nonfinite_samples, nan_only.peak, nan_only.rms) == (5, 0.0, 0.0)


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("cut.aiff", {"format": "AIFF", "subtype": "PCM_16"}),
        ("cut.aifc", {"format": "AIFF", "subtype": "FLOAT"}),
        ("cut.aifc", {"format": "AIFF", "subtype": "ULAW"}),
        ("cut.au", {"format": "AU", "subtype": "PCM_16"}),
        ("cut.au", {"format": "AU", "subtype": "ULAW"}),
        ("cut.w64", {"format": "W64", "subtype": "PCM_24"}),
        ("cut.rf64", {"format": "RF64", "subtype": "PCM_16"}),
        ("cut.wav", {"format": "WAVEX", "subtype": "FLOAT"}),
    ],
)
@pytest.mark.parametrize("keep", [0.5, -1])
def test_truncated_containers_say_truncated_with_lengths(
    tmp_path: Path, rng: np.random.Generator, name: str, kw: dict, keep: float
):
    """libsndfile trims these quietly to the samples present; the header's count says more."""
    path = _valid(tmp_path, name, rng, **kw)
    assert open_audio(path).frames == 8000  # intact: opens
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:-1])
    msg = _input_error(path)
    assert "truncated: the header declares 8000 frames" in msg


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("c.w64", {"format": "W64", "subtype": "IMA_ADPCM"}),
        ("c.w64", {"format": "W64", "subtype": "MS_ADPCM"}),
        ("c.w64", {"format": "W64", "subtype": "GSM610"}),
        ("c.au", {"format": "AU", "subtype": "G721_32"}),
        ("c.au", {"format": "AU", "subtype": "G723_24"}),
        ("c.aifc", {"format": "AIFF", "subtype": "IMA_ADPCM"}),
        ("c.wav", {"format": "WAV", "subtype": "IMA_ADPCM"}),
    ],
)
@pytest.mark.parametrize("keep", [0.5, 0.97, -1])
def test_compressed_containers_cut_anywhere_are_truncated(
    tmp_path: Path, rng: np.random.Generator, name: str, kw: dict, keep: float
):
    """These headers count no frames (W64 and AU) or count packets of many frames (IMA4 AIFC),
    and libsndfile reads a cut one short (or pads its last block) without a word; the data
    chunk's declared length in bytes still shows the cut, down to its last byte."""
    path = tmp_path / name
    sf.write(path, (0.3 * rng.standard_normal(8000)).astype(np.float32), 4000, **kw)
    af = open_audio(path)  # intact: opens and reads whole
    assert af.read_all().shape[0] == af.frames >= 8000
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:-1])
    msg = _input_error(path)
    assert "truncated: the header declares" in msg, msg
    if "bytes of audio data" in msg:
        assert "100.0 %" not in msg, msg  # 1 byte short never reads as whole


def _strip_first_mpeg_frame(data: bytes) -> bytes:
    """An MP3 without its first frame (where LAME puts the Xing/Info length tag)."""
    start = mpeg_audio_start(data)
    nxt = start + 4
    while not (data[nxt] == 0xFF and data[nxt + 1] & 0xE0 == 0xE0):
        nxt += 1
    return data[:start] + data[nxt:]


def test_vbr_mp3_without_a_length_tag_is_refused(tmp_path: Path, rng: np.random.Generator):
    """libsndfile estimates such a file's length from its first frame and stops there (10 s
    read as 3.4 s); the same file with its tag reads whole."""
    t = np.arange(10 * 8000) / 8000
    tone = 0.3 * np.sin(2 * np.pi * 100 * t) * (t % 2 < 1)
    x = (tone + 0.2 * rng.standard_normal(t.size) * (t % 2 >= 1)).astype(np.float32)
    vbr = tmp_path / "vbr.mp3"
    sf.write(vbr, x, 8000, format="MP3", subtype="MPEG_LAYER_III", bitrate_mode="VARIABLE",
             compression_level=0.5)
    assert abs(open_audio(vbr).frames - x.size) < 1152
    untagged = tmp_path / "untagged.mp3"
    untagged.write_bytes(_strip_first_mpeg_frame(vbr.read_bytes()))
    msg = _input_error(untagged)
    assert "without a length (Xing/Info) tag" in msg and "about 10.2 s" in msg, msg


@pytest.mark.parametrize("subtype", ["GSM610", "IMA_ADPCM", "MS_ADPCM"])
def test_compressed_wav_reads_whole_and_a_cut_one_is_truncated(
        tmp_path: Path, rng: np.random.Generator, subtype: str):
    """A block of these holds many frames (the ``fact`` chunk counts them); GSM 6.10 cannot be
    seeked, so its tail check reads it through (it was refused as unreadable)."""
    path = tmp_path / "c.wav"
    sf.write(path, (0.3 * rng.standard_normal(16000)).astype(np.float32), 8000, subtype=subtype)
    af = open_audio(path)
    assert af.read_all().shape[0] == af.frames >= 16000
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    msg = _input_error(path)
    assert f"truncated: the header declares {af.frames} frames" in msg, msg


def _aiff_chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of an AIFF file, whole (id, length, body), by id."""
    out, pos = {}, 12
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        out[data[pos : pos + 4]] = data[pos : pos + 8 + n + (n & 1)]
        pos += 8 + n + (n & 1)
    return out


def _form(kind: bytes, *chunks: bytes) -> bytes:
    body = b"".join(chunks)
    return b"FORM" + struct.pack(">I", 4 + len(body)) + kind + body


def test_aiff_header_edge_cases(tmp_path: Path, rng: np.random.Generator):
    """Chunks in any order, an SSND length left open, a frame count above the data (also for
    little-endian PCM AIFC), and an SSND that starts past the end: each one line, no crash."""
    x = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    src = tmp_path / "a.aiff"
    sf.write(src, x, 4000, format="AIFF", subtype="PCM_16")
    ck = _aiff_chunks(src.read_bytes())
    comm, ssnd = ck[b"COMM"], ck[b"SSND"]
    big = bytearray(comm)
    struct.pack_into(">I", big, 10, 5000)  # COMM frame count 5000 over 4000 frames of data
    open_ended = ssnd[:4] + struct.pack(">I", 0xFFFFFFFF) + ssnd[8:]
    empty_ssnd = b"SSND" + struct.pack(">III", 8, 0, 0)
    zero = bytearray(comm)
    struct.pack_into(">I", zero, 10, 0)
    cases = {
        "ssnd_first.aiff": (_form(b"AIFF", ssnd, comm), None),
        "open_length.aiff": (_form(b"AIFF", comm, open_ended), None),
        "ssnd_first_overcount.aiff": (_form(b"AIFF", ssnd, bytes(big)), "declares 5000 frames"),
        "empty_cut.aiff": (_form(b"AIFF", bytes(zero), empty_ssnd)[:-4], "truncated"),
    }
    for name, (data, problem) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        if problem is None:
            assert open_audio(path).frames == 4000, name
        else:
            assert problem in _input_error(path), name
    le = tmp_path / "le.aifc"  # PCM_24 little-endian: AIFC '42n1', its COMM counts frames
    sf.write(le, x, 4000, format="AIFF", subtype="PCM_24", endian="LITTLE")
    data = bytearray(le.read_bytes())
    i = data.index(b"COMM")
    struct.pack_into(">I", data, i + 10, 5000)
    le.write_bytes(bytes(data))
    assert "declares 5000 frames" in _input_error(le)


@pytest.mark.parametrize("fmt", ["WAV", "AU"])
def test_a_length_not_a_whole_frame_count_is_not_a_cut(
    tmp_path: Path, rng: np.random.Generator, fmt: str
):
    """A PCM data length one byte over the file's whole frames loses no sample: it opens."""
    path = tmp_path / f"odd.{fmt.lower()}"
    sf.write(path, (0.3 * rng.standard_normal(4000)).astype(np.float32), 4000, format=fmt,
             subtype="PCM_16")
    data = bytearray(path.read_bytes())
    if fmt == "WAV":
        i = data.index(b"data")
        struct.pack_into("<I", data, i + 4, 8001)
    else:
        struct.pack_into(">I", data, 8, 8001)
    path.write_bytes(bytes(data))
    assert open_audio(path).frames == 4000


@pytest.mark.parametrize("subtype", ["PCM_16", "G721_32"])
def test_little_endian_au_cut_is_truncated(
    tmp_path: Path, rng: np.random.Generator, subtype: str
):
    """libsndfile writes little-endian AU as ``dns.``: its header is read the same way."""
    path = tmp_path / "le.au"
    sf.write(path, (0.3 * rng.standard_normal(8000)).astype(np.float32), 4000, format="AU",
             subtype=subtype, endian="LITTLE")
    assert path.read_bytes()[:4] == b"dns."
    assert open_audio(path).frames >= 8000
    path.write_bytes(path.read_bytes()[:-1])
    assert "truncated" in _input_error(path)


@pytest.mark.parametrize("subtype", ["DWVW_16", "DWVW_24"])
def test_dwvw_aiff_opens_whole_and_a_cut_one_is_truncated(
    tmp_path: Path, rng: np.random.Generator, subtype: str
):
    """libsndfile says it can seek in DWVW AIFF, but the seek fails (so does soundfile's read,
    which seeks after reading): the tail check reads such a file through instead of refusing
    it."""
    x = (0.1 * rng.standard_normal(9000)).clip(-0.9, 0.9).astype(np.float32)  # no clipping
    path = tmp_path / "d.aiff"
    sf.write(path, x, 4000, format="AIFF", subtype=subtype)
    af = open_audio(path)
    y = af.read_all()
    assert y.shape[0] == af.frames == 9000
    np.testing.assert_allclose(y.reshape(-1), x, atol=TOLERANCE["PCM_16"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "truncated" in _input_error(path)


def test_a_flac_without_a_length_is_read_whole(tmp_path: Path) -> None:
    """A FLAC written to a pipe has total samples 0 in STREAMINFO; libsndfile reports 2**63 - 1
    frames and the tail check called the valid file truncated."""
    x = (0.3 * np.sin(np.arange(41152) * 0.05)).astype(np.float32)
    path = tmp_path / "stream.flac"
    sf.write(path, x, 4000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    (word,) = struct.unpack(">Q", data[18:26])  # rate, channels, bits, 36-bit total samples
    data[18:26] = struct.pack(">Q", word & ~((1 << 36) - 1))
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames > 2**62  # the case this test is about
    af = open_audio(path)
    assert af.frames == x.size
    np.testing.assert_allclose(af.read_all(), x, atol=1 / 2**15)
    path.write_bytes(bytes(data[: len(data) // 2]))  # cut mid-frame: the decoder says so
    with pytest.raises(InputError, match=r"stream\.flac: corrupt audio data near [1-9]\.\d{3} s"):
        open_audio(path)


def test_what_a_downmix_hides_is_counted(tmp_path: Path) -> None:
    """A clipped channel averaged down and a NaN channel left out of the mean were counted
    nowhere: a stereo file with one channel clipped reported 0 clipped samples."""
    from stetho_rt.analysis import analyze_file

    n = 8000
    x = (0.2 * np.sin(np.arange(n) * 0.05)).astype(np.float32)
    left = x.copy()
    left[1000:1300] = 1.0  # 300 clipped frames, the mean 0.6: hidden
    right = x.copy()
    right[3000:3050] = np.nan  # 50 frames, the mean finite (the left channel): hidden
    both = np.stack([left, right], axis=1)
    both[5000:5010] = 1.0  # 10 frames clipped in both: the mean clips, the pipeline counts them
    path = tmp_path / "st.wav"
    sf.write(path, both, 4000, subtype="FLOAT")
    af = open_audio(path)
    assert (af.hidden.nonfinite, af.hidden.clipped) == (0, 0)  # the open's own scan: no count
    af.read_all()
    assert (af.hidden.nonfinite, af.hidden.clipped) == (50, 300)
    rec = analyze_file(path)
    assert rec["nonfinite_samples"] == 50 and rec["clipped_samples"] == 310
    assert analyze_file(path, channel=1)["nonfinite_samples"] == 50  # one channel: the meter's


def test_a_float_file_far_beyond_full_scale_is_refused(tmp_path: Path) -> None:
    """At 1e20 times full scale (finite float32) the level's square overflowed: no sound, no
    rate, and a confident murmur verdict from nothing, with exit 0. Up to 120 dB over full scale
    (a float file written at int16 scale, 32768) still opens."""
    x = (0.3 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    sf.write(tmp_path / "int16scale.wav", x * 32768, 4000, subtype="FLOAT")
    assert open_audio(tmp_path / "int16scale.wav").frames == 8000
    sf.write(tmp_path / "huge.wav", x * 1e20, 4000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"huge\.wav: samples reach 3e\+19 times full scale"):
        open_audio(tmp_path / "huge.wav")


def test_downmix_counts_a_clip_beside_nan_and_no_inf_as_clipped(tmp_path: Path) -> None:
    """A frame [1.0, NaN, 0.0] hid its clipped channel (the max of a row with NaN is NaN), and
    an inf channel was counted as clipped as well as non-finite (a mono file: non-finite only)."""
    x = np.zeros((1000, 3), np.float32)
    x[:300] = [1.0, np.nan, 0.0]
    x[500:600, 0] = np.inf
    sf.write(tmp_path / "c3.wav", x, 4000, subtype="FLOAT")
    af = open_audio(tmp_path / "c3.wav")
    af.read_all()
    assert (af.hidden.nonfinite, af.hidden.clipped) == (400, 300)


def test_a_double_file_beyond_float32_is_refused_not_zeroed(tmp_path: Path) -> None:
    """DOUBLE samples at 1e40 turned to inf in the float32 scan: ten were silently zeroed and
    called NaN/inf, and a file of ±1e300 was 'no finite samples'."""
    x = 0.1 * np.sin(np.arange(8000) * 0.05)
    x[100:110] = 1e40
    sf.write(tmp_path / "d.wav", x, 4000, subtype="DOUBLE")
    with pytest.raises(InputError, match=r"samples reach 1e\+40 times full scale"):
        open_audio(tmp_path / "d.wav")
