"""Front end: numpy reference vs torch, causal/streaming framing, band pruning, HTK mel, spec errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from train.errors import UsageError
from train.frontend import (
    FrontEndSpec,
    StreamingFrontEnd,
    TorchFrontEnd,
    features_numpy,
    filterbank_ranges,
    frame_signal,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
)

SPEC = FrontEndSpec()


def _audio(seed: int, n: int, log_scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0**log_scale
    if n > 10:  # some digital silence and a tone, for dynamic range
        x[: n // 5] = 0.0
        x += 0.3 * np.sin(2 * np.pi * rng.uniform(50, 7900) * np.arange(n) / 16000)
    return np.clip(x, -1, 1).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 5000), log_scale=st.floats(-5, 0),
       n_bands=st.integers(1, 40))
def test_numpy_and_torch_agree(seed, n, log_scale, n_bands):
    a = _audio(seed, n, log_scale)
    ref = features_numpy(a, SPEC, n_bands)
    got = TorchFrontEnd(SPEC, n_bands)(torch.from_numpy(a)).numpy()
    assert ref.shape == got.shape == (n // 160, n_bands)
    assert ref.dtype == got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_torch_batch_matches_rows():
    a = np.stack([_audio(s, 3210, -1) for s in range(3)])
    got = TorchFrontEnd(SPEC)(torch.from_numpy(a)).numpy()
    assert got.shape == (3, 20, 40)
    for i in range(3):
        np.testing.assert_allclose(got[i], features_numpy(a[i], SPEC), atol=1e-5, rtol=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 4000), cut=st.integers(0, 4000))
def test_prefix_features_are_feature_prefix(seed, n, cut):
    """Causality: features of audio[:m] equal the first m//160 frames of the features of the whole clip,
    whatever comes after."""
    a = _audio(seed, n, -1)
    m = min(cut, n)
    full = features_numpy(a, SPEC)
    pre = features_numpy(a[:m], SPEC)
    assert pre.shape[0] == m // 160
    np.testing.assert_array_equal(pre, full[: m // 160])
    b = a.copy()
    b[m:] = 0.9  # changing the future changes nothing in the past
    np.testing.assert_array_equal(features_numpy(b, SPEC)[: m // 160], pre)


def test_frame_t_covers_the_samples_ending_at_hop_boundary():
    a = np.arange(1, 801, dtype=np.float64)
    fr = frame_signal(a, SPEC)
    assert fr.shape == (5, 400)
    np.testing.assert_array_equal(fr[0], np.r_[np.zeros(240), a[:160]])  # zeros before the clip start
    np.testing.assert_array_equal(fr[4], a[400:800])  # frame t ends at sample (t+1)*160


def test_streaming_hop_by_hop_matches_batch():
    a = _audio(3, 160 * 37, -1)
    for k in (40, 7):
        s = StreamingFrontEnd(SPEC, n_bands=k)
        got = np.stack([s.push(a[i * 160 : (i + 1) * 160]) for i in range(37)])
        np.testing.assert_allclose(got, features_numpy(a, SPEC, k), atol=1e-5, rtol=0)


def test_first_k_bands_are_prefix_of_full():
    a = _audio(4, 4000, -1)
    full = features_numpy(a, SPEC)
    for k in (1, 13, 40):
        np.testing.assert_array_equal(features_numpy(a, SPEC, k), full[:, :k])
        np.testing.assert_array_equal(mel_filterbank(SPEC, k), mel_filterbank(SPEC)[:k])


def test_htk_mel_and_filterbank_shape():
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.05)
    f = np.array([0.0, 123.0, 4000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
    fb = mel_filterbank(SPEC)
    assert fb.shape == (40, 257)
    assert fb.max() <= 1.0 and fb.min() >= 0.0
    edges = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(8000.0), 42))
    bins = np.arange(257) * 16000 / 512
    for m in (0, 10, 39):  # triangles: rising from edge m to m+1, falling to m+2, zero outside
        inside = (bins > edges[m]) & (bins < edges[m + 2])
        assert np.all(fb[m][~inside] == 0) and np.all(fb[m][inside] > 0)
        k = int(np.flatnonzero(inside)[0])
        assert fb[m, k] == pytest.approx(min((bins[k] - edges[m]) / (edges[m + 1] - edges[m]),
                                             (edges[m + 2] - bins[k]) / (edges[m + 2] - edges[m + 1])))
    for (start, w), row in zip(filterbank_ranges(SPEC), fb, strict=True):
        np.testing.assert_array_equal(row[start : start + w.size], w)
        assert row.sum() == pytest.approx(w.sum())


def test_sine_peaks_in_its_band_and_silence_hits_the_floor():
    t = np.arange(16000) / 16000
    fb = mel_filterbank(SPEC)
    centres = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(8000.0), 42))[1:-1]
    for band in (5, 20, 35):
        f0 = centres[band]
        feats = features_numpy((0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), SPEC)
        assert int(np.argmax(feats[50])) in (band - 1, band, band + 1)
    assert fb.shape[0] == 40
    np.testing.assert_array_equal(features_numpy(np.zeros(1600, np.float32), SPEC),
                                  np.float32(np.log(SPEC.log_floor)))


def test_spec_round_trip_and_errors():
    assert FrontEndSpec.from_dict(SPEC.to_dict()) == SPEC
    assert FrontEndSpec(n_mels=32).digest() != SPEC.digest()
    with pytest.raises(UsageError, match="unknown key"):
        FrontEndSpec.from_dict({"n_mel": 40})
    with pytest.raises(UsageError, match="window"):
        FrontEndSpec(window="hamming")
    with pytest.raises(UsageError, match="fmax"):
        FrontEndSpec(fmax=9000)
    with pytest.raises(UsageError, match="no FFT bin"):
        mel_filterbank(FrontEndSpec(n_mels=200))
    with pytest.raises(UsageError, match="n_bands"):
        features_numpy(np.zeros(320, np.float32), SPEC, 41)
    with pytest.raises(UsageError, match="1-D"):
        features_numpy(np.zeros((2, 320), np.float32), SPEC)
