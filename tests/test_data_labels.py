"""Label derivation (10 ms grid, noise-floor-aware threshold, gap filling) and the mixing arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.data.labels import drop_islands, fill_gaps, segments_to_frames, speech_labels
from train.data.mix import band_limit, render_clip
from train.errors import DataError

SR = 16000


def _clip(segments_s, total_s=4.0, floor_db=-60.0, level_db=-12.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(total_s * SR)
    x = rng.standard_normal(n) * 10 ** (floor_db / 20)
    t = np.arange(n) / SR
    for s, e in segments_s:
        a, b = int(s * SR), int(e * SR)
        x[a:b] += np.sin(2 * np.pi * 220 * t[a:b]) * 10 ** (level_db / 20) * np.sqrt(2)
    return x.astype(np.float32)


@pytest.mark.parametrize("floor_db", [-90.0, -60.0, -40.0])
def test_labels_match_known_segments(floor_db):
    segs = [(0.5, 1.2), (2.0, 2.6), (3.1, 3.5)]
    lab = speech_labels(_clip(segs, floor_db=floor_db))
    ref = segments_to_frames(segs, len(lab))
    assert lab.dtype == np.uint8 and lab.shape == (4 * SR // 160,)
    assert np.sum(lab != ref) <= 2 * len(segs)  # at most one frame off at each edge


def test_short_gaps_are_filled_long_gaps_kept():
    segs = [(0.5, 1.0), (1.1, 1.5), (2.5, 3.0)]  # 100 ms gap (filled), 1 s gap (kept)
    lab = speech_labels(_clip(segs))
    assert lab[105] == 1  # frame at 1.05 s lies in the short gap
    assert lab[200] == 0  # 2.0 s is in the long gap


def test_quiet_speech_is_found_above_a_loud_floor_relative_threshold():
    # speech 15 dB above a noisy floor, still well labelled
    segs = [(1.0, 2.0)]
    lab = speech_labels(_clip(segs, floor_db=-30.0, level_db=-12.0))
    ref = segments_to_frames(segs, len(lab))
    assert np.sum(lab != ref) <= 2


def test_low_dynamic_range_is_rejected():
    rng = np.random.default_rng(1)
    with pytest.raises(DataError, match="dynamic range"):
        speech_labels(rng.standard_normal(SR).astype(np.float32), name="flat.wav")
    with pytest.raises(DataError, match="frame"):
        speech_labels(np.zeros(10, np.float32), name="tiny.wav")


def test_fill_gaps_and_drop_islands():
    lab = np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0], dtype=np.uint8)
    assert fill_gaps(lab, 2).tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0]
    assert drop_islands(lab, 2).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 2)), max_size=6))
def test_segments_to_frames_marks_centres_inside(segs):
    segs = [(s, s + d) for s, d in segs]
    lab = segments_to_frames(segs, 600)
    centres = (np.arange(600) + 0.5) * 0.01
    want = np.zeros(600, bool)
    for s, e in segs:
        want |= (centres >= s) & (centres < e)
    assert lab.tolist() == want.astype(np.uint8).tolist()


def _store(tmp_path, name, x, lab=None):
    arrays = {"audio": np.round(x * 32767).astype(np.int16), "native_sr": np.array(16000)}
    if lab is not None:
        arrays["labels"] = lab
    p = tmp_path / f"{name}.npz"
    np.savez(p, **arrays)
    return str(p)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 12.5, 20.0])
def test_render_sets_snr_over_speech_frames_and_peak_gain(tmp_path, snr):
    x = _clip([(0.2, 1.0)], total_s=1.2, floor_db=-90)
    lab = speech_labels(x)
    plan = {"n": 3 * SR, "seed": [1, 2, 3], "negative": False, "band_hz": [0.0, 8000.0], "reverb": None,
            "snr_db": snr, "gain_dbfs": -6.0, "speech": [["s", 8000, 0.0]],
            "noise": {"kind": "pink", "items": [], "bed": None, "bed_db": 0.0},
            "paths": {"s": _store(tmp_path, "s", x, lab)}}
    audio, labels, facts = render_clip(plan)
    assert labels.shape == (3 * SR // 160,) and labels[50:55].sum() == 0 and labels.sum() == lab.sum()
    assert abs(facts["snr_measured_db"] - snr) < 1e-3
    assert abs(20 * np.log10(np.abs(audio).max()) - (-6.0 + 20 * np.log10(0.999))) < 1e-3


def test_band_limit_removes_energy_above_cutoff():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR).astype(np.float32)
    y = band_limit(x, 100.0, 3400.0)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    assert spec[f > 4500].sum() < 1e-4 * spec[(f > 300) & (f < 3000)].sum()
