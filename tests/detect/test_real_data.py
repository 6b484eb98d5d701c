"""End-to-end on a handful of real recordings: resample -> band-pass -> detector, scored (§7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stetho_rt.config import DspConfig
from stetho_rt.detect.s1s2 import S1S2Detector
from stetho_rt.detect.scoring import Counts, read_tsv, score_recording
from stetho_rt.dsp.resample import band_passed
from stetho_rt.events import HeartSound
from stetho_rt.io.audiofile import open_audio
from tests.conftest import require_data

# pooled F1@60ms floors a bit below what these six recordings per dataset give (in-sample for
# the shipped model: a regression guard, the CV figures are in models/detector.md)
CASES = {"physionet2016": 0.94, "circor2022": 0.94}  # measured 0.958, 0.959
N_FILES = 6


def _bandpassed(path: Path) -> tuple[np.ndarray, float]:
    """The recording as the detector's input (2 kHz, band-passed, float32) and the two stages'
    latency [s]."""
    audio = open_audio(path)
    return band_passed(audio.read_all(), audio.rate, DspConfig())


def _feed(det: S1S2Detector, z: np.ndarray, block: int) -> list[HeartSound]:
    """Every sound ``det`` emits for ``z`` fed in blocks of ``block`` samples, then flushed."""
    sounds = []
    for i in range(0, z.shape[0], block):
        sounds += det.process(z[i : i + block]).sounds
    return sounds + det.flush().sounds


def _run(path: Path) -> list[tuple[str, float]]:
    z, latency_s = _bandpassed(path)
    det = S1S2Detector(DspConfig(), max_block=4096, time_offset_s=latency_s)
    return [(s.kind, s.centre_s) for s in _feed(det, z, 20)]


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("dataset", sorted(CASES))
def test_real_recordings_f1(dataset: str) -> None:
    folder = require_data(dataset)
    tsvs = sorted(folder.glob("*.tsv"))
    picks = [tsvs[i] for i in np.linspace(0, len(tsvs) - 1, N_FILES).round().astype(int)]
    total = Counts()
    for tsv in picks:
        sc = score_recording(_run(tsv.with_suffix(".flac")), read_tsv(tsv))
        total.add(sc[("all", 0.06)])
    assert total.f1 >= CASES[dataset], f"{dataset}: pooled F1@60ms {total.f1:.3f}"


@pytest.mark.data
@pytest.mark.slow
def test_beats_do_not_depend_on_the_block_size() -> None:
    """A beat is checked against the heart period of the moment its S1 was decided, not the
    period at the end of the block that decided it (this recording's rate changes enough that
    the end-of-block period gave 23 to 25 beats depending on the blocks)."""
    from stetho_rt.config import PipelineConfig
    from stetho_rt.graph import DspGraph

    audio = open_audio(require_data("circor2022") / "49994_PV.flac")
    x = audio.read_all()

    def beats(block: int) -> list:
        g = DspGraph(audio.rate, PipelineConfig(), max_block=block, classifier=None, live=False)
        out = [b for i in range(0, x.shape[0], block) for b in g.process(x[i : i + block]).beats]
        return out + g.flush().beats

    ref = beats(x.shape[0])
    assert len(ref) > 15
    for block in (37, 250, 1000, 4001):
        assert beats(block) == ref


@pytest.mark.data
def test_no_sound_is_decided_after_the_look_ahead_bound() -> None:
    """The best path settles a few sounds long after they end (up to 1.4 s on the dev split);
    they are dropped and counted instead of reported late: every sound of a recording that has
    such sounds (50007_TV: 4) is decided within 300 ms of its reported offset, whatever the
    block size."""
    from stetho_rt.config import DETECTOR_LOOKAHEAD_S, PipelineConfig

    z, _ = _bandpassed(require_data("circor2022") / "50007_TV.flac")
    outputs = []
    for block in (20, 4096):
        det = S1S2Detector(PipelineConfig(), max_block=4096)
        sounds = _feed(det, z, block)
        assert len(sounds) > 20 and det.late_sounds == 4
        assert max(s.decided_s - s.offset_s for s in sounds) <= DETECTOR_LOOKAHEAD_S
        outputs.append(sounds)
    assert outputs[0] == outputs[1]


@pytest.mark.data
def test_analyze_reports_the_late_sounds_it_dropped() -> None:
    """``analyze`` (the pipeline, 250 ms blocks) drops the same 4 late sounds of 50007_TV and
    says so in its record, so no sound goes missing silently."""
    from stetho_rt.analysis import analyze_file

    rec = analyze_file(require_data("circor2022") / "50007_TV.flac")
    assert rec["late_sounds"] == 4 and len(rec["sounds"]) > 20


@pytest.mark.data
@pytest.mark.slow
def test_session_rate_not_doubled_by_s2_taken_for_s1() -> None:
    """Two PASCAL recordings where the detector takes S2s for S1s: their intervals alternate
    systole / diastole around half the period, and the session rate used to take that half
    (160 and 179 bpm against annotated 70 and 78). It stays on the heart's rate now."""
    from stetho_rt.analysis import analyze_file
    from stetho_rt.detect.scoring import read_pascal_centres

    folder = require_data("pascal_a")
    refs = read_pascal_centres(folder / "segmentation_centres.csv")
    for name in ("normal__201103151912.flac", "normal__201105151450.flac"):
        ref = refs[name].hr_reference_bpm()
        rec = analyze_file(folder / name, classifier=None)
        assert ref is not None and rec["heart_rate_bpm"] is not None
        assert abs(rec["heart_rate_bpm"] - ref) <= 5.0, (name, rec["heart_rate_bpm"], ref)
