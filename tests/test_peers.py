"""Peer VADs: one score per 10 ms frame, causal (prefix property), grid holding, cost accounting, errors."""

from __future__ import annotations

import importlib.util
import sys
from importlib import resources

import numpy as np
import pytest

from tests.vad_tiny_corpus import make_clip
from train.errors import UsageError
from train.peers import make_peer, parse_peer_list
from train.peers.base import Scorer, hold_to_grid, onnx_conv_gemm_macs

PEERS = ["silero", "webrtc2", "webrtc3", "webrtc3-10", "webrtc2-20", "pulsevad", "pulsevad-100", "energy"]
if importlib.util.find_spec("ten_vad") is not None:  # optional peer (ten-vad wheel + libc++1)
    PEERS.append("ten")


@pytest.fixture(scope="module")
def clip():
    audio, labels = make_clip(np.random.default_rng(7), 4.0, 10.0, False)
    n = 16000 * 4 - 77
    return audio[:n], labels[: n // 160]  # not a multiple of 160, 512 or 1600 samples


@pytest.mark.parametrize("name", PEERS)
def test_peer_scores_one_per_10ms_and_is_causal(name, clip):
    audio, _ = clip
    p = make_peer(name)
    assert isinstance(p, Scorer) and p.name == name
    s = p.score_clip(audio)
    assert s.shape == (audio.size // 160,) and np.isfinite(s).all()
    assert s.std() > 0  # reacts to the speech bursts
    m = 16000 * 2 + 333
    pre = p.score_clip(audio[:m])  # scores of a prefix = prefix of the scores (no look-ahead)
    np.testing.assert_allclose(pre, s[: m // 160], rtol=0, atol=1e-6)
    assert p.score_clip(audio[:100]).shape == (0,)


def test_peers_separate_speech_from_noise(clip):
    audio, labels = clip
    for name in ("silero", "energy"):
        s = make_peer(name).score_clip(audio)
        assert s[labels == 1].mean() > s[labels == 0].mean(), name


def test_hold_to_grid_by_hand():
    # decisions available at samples 512 and 1024 (e.g. two silero chunks); grid ends 160, 320, ..., 1120
    out = hold_to_grid(np.array([512, 1024]), np.array([0.3, 0.7]), 1200, initial=-1.0)
    np.testing.assert_array_equal(out, [-1, -1, -1, 0.3, 0.3, 0.3, 0.7])
    np.testing.assert_array_equal(hold_to_grid(np.array([160, 320]), np.array([1, 2]), 320), [1, 2])


def test_costs():
    silero = make_peer("silero").cost
    path = str(resources.files("silero_vad.data").joinpath("silero_vad_16k_op15.onnx"))
    import onnx

    n_init = sum(int(np.prod(t.dims)) for t in onnx.load(path).graph.initializer)
    assert silero.params == n_init == 309_633  # hand count of the 16 kHz branch matches the ONNX file
    assert silero.macs_per_10ms == pytest.approx(679_552 * 160 / 512)
    pv = make_peer("pulsevad")
    assert pv.cost.params == 2042 and "model 40,924 MACs" in pv.cost.note
    assert make_peer("energy").cost.macs_per_10ms == 160
    assert make_peer("webrtc3").cost.macs_per_10ms is None and "n/a" in make_peer("webrtc3").cost.note


def test_onnx_mac_counter_on_a_tiny_graph(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Conv1d(4, 6, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv1d(6, 6, 5, groups=6, padding=2), torch.nn.Flatten(),
                              torch.nn.Linear(6 * 10, 2))
    path = tmp_path / "n.onnx"
    torch.onnx.export(net, (torch.zeros(1, 4, 10),), str(path), input_names=["x"], dynamo=False)
    macs, params = onnx_conv_gemm_macs(str(path), {"x": [1, 4, 10]})
    assert macs == 3 * 4 * 6 * 10 + 5 * 6 * 10 + 60 * 2
    assert params == sum(p.numel() for p in net.parameters())


def test_unknown_and_unavailable_peers(monkeypatch):
    with pytest.raises(UsageError, match="unknown peer 'vad9000'"):
        make_peer("vad9000")
    with pytest.raises(UsageError, match="unknown peer 'webrtc4'"):
        make_peer("webrtc4")
    monkeypatch.setitem(sys.modules, "ten_vad", None)  # as if the wheel were not installed
    with pytest.raises(UsageError, match="'ten-vad'"):
        make_peer("ten")
    with pytest.raises(UsageError, match="duplicate"):
        parse_peer_list("silero,energy,silero")
    with pytest.raises(UsageError, match="empty"):
        parse_peer_list(" , ")
