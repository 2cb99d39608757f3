"""Anti-spoofing CNN (train.spoof_model): cost model == exact count, consolidation equivalence, rebuild from the
description, windows, and the TFLite export (MACs op for op, float TFLite == torch, explicit PAD path)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train.consolidate import consolidate
from train.cost import exact_macs
from train.noise import noise_widths
from train.spoof_model import SpoofArch, SpoofCNN, SpoofNet, window_cost
from train.spoof_train import window

ARCHS = [
    SpoofArch(n_mels=12, window_frames=41, stem_channels=8, channels=[8, 12], blocks=[2, 1], strides=[2, 2]),
    SpoofArch(n_mels=10, window_frames=30, stem_channels=6, channels=[6, 10, 12], blocks=[1, 2, 1],
              strides=[2, 1, 2], kernel=5, stem_kernel=5),
]


def _random_widths(model: SpoofNet, seed: int, *, snap: bool = False) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for w in noise_widths(model).values():
            if snap:
                k = int(torch.randint(1, w.n + 1, (1,), generator=g))
                if w.mode == "per_unit":
                    m = torch.zeros(w.n, dtype=torch.bool)
                    m[torch.randperm(w.n, generator=g)[:k]] = True
                    w.fix_mask(m)
                else:
                    w.fix_width(k)
            elif w.mode == "ordered":
                w.kappa.fill_(float(0.2 + 0.8 * torch.rand((), generator=g)))
            else:
                w.theta.copy_(torch.rand(w.n, generator=g) * 1.4 - 0.2)


def _trained(arch: SpoofArch, seed: int = 0, *, snap: bool = False) -> SpoofNet:
    torch.manual_seed(seed)
    m = SpoofNet(arch)
    m.set_normalization(torch.randn(arch.n_mels), torch.rand(arch.n_mels) + 0.5)
    m.train()
    x = torch.randn(6, arch.window_frames, arch.n_mels)
    for _ in range(3):  # running BN statistics and noise std
        m(x)
    _random_widths(m, seed, snap=snap)
    return m.eval()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cost_model_equals_exact_count(arch, seed):
    m = _trained(arch, seed)
    cons = m.consolidate()
    x = torch.zeros(1, arch.window_frames, len(cons.desc["mel_bands"]))
    cm = m.cost_model()
    assert cm.hard_macs() == exact_macs(cons, x) == window_cost(cons)["macs_per_window"]
    assert cm.max_macs() > cm.hard_macs() >= cm.min_macs() or cm.hard_macs() == cm.max_macs()
    # the soft cost at integer widths is the hard cost
    _random_widths(m, seed + 10, snap=True)
    assert float(cm.macs()) == pytest.approx(cm.hard_macs(), rel=1e-6)
    assert cm.hard_macs() == exact_macs(m.consolidate(), torch.zeros(1, arch.window_frames,
                                                                     m.in_noise.width.kept()))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("seed", [0, 3])
def test_consolidation_equivalence(arch, seed):
    m = _trained(arch, seed)
    x = torch.randn(5, arch.window_frames, arch.n_mels) * 2
    with torch.no_grad():
        ref = m(x)
        cons = m.consolidate()
        got = cons(x[:, :, cons.desc["mel_bands"]])
        generic = consolidate(m)(x)
    assert torch.max(torch.abs(ref - got)) <= 1e-5
    assert torch.max(torch.abs(ref - generic)) <= 1e-5
    # rebuilt from the JSON description + state dict (no training code)
    again = SpoofCNN.from_description(cons.description(), cons.state_dict())
    with torch.no_grad():
        assert torch.equal(again(x[:, :, cons.desc["mel_bands"]]), got)
    assert len(cons.desc["mel_bands"]) == m.in_noise.width.kept()


def test_training_mode_injects_noise_and_eval_is_deterministic():
    arch = ARCHS[0]
    m = _trained(arch, 0)
    x = torch.randn(2, arch.window_frames, arch.n_mels)
    with torch.no_grad():
        assert torch.equal(m.eval()(x), m(x))
        m.train()
        assert not torch.equal(m(x), m(x))


def test_windows_loop_short_and_centre_long():
    f = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    w = window(f, 25)
    assert w.shape == (25, 3) and np.array_equal(w[:, 0], np.arange(25) % 10)
    assert np.array_equal(window(f, 25, 7)[:, 0], (np.arange(25) + 7) % 10)
    g = np.arange(100, dtype=np.float32)[:, None]
    assert window(g, 20)[0, 0] == 40 and window(g, 20, 95)[0, 0] == 80


def test_bad_architecture_is_rejected():
    with pytest.raises(ValueError, match="one entry per residual stack"):
        SpoofArch(channels=[8, 8], blocks=[1], strides=[2, 2])
    with pytest.raises(ValueError, match="odd"):
        SpoofArch(kernel=4)
    with pytest.raises(ValueError, match="not a noisebudget-spoof-resnet"):
        SpoofCNN({"family": "noisebudget-vad-tcn"})


@pytest.mark.parametrize("frames", [41, 40])  # 41: SAME padding everywhere; 40: explicit PAD before strided convs
def test_tflite_export_matches_torch_and_counts_the_same_macs(frames):
    from convert.spoof_export import Runner, build_keras, compare_macs, to_tflite
    from convert.tflite_ir import read_tflite

    arch = SpoofArch(n_mels=12, window_frames=frames, stem_channels=8, channels=[8, 12], blocks=[2, 1],
                     strides=[2, 2])
    m = _trained(arch, 5, snap=True)
    cons = m.consolidate()
    k = len(cons.desc["mel_bands"])
    xs = np.random.default_rng(0).standard_normal((6, frames, k)).astype(np.float32)
    kmodel = build_keras(cons)
    fl = to_tflite(kmodel, None)
    with torch.no_grad():
        ref = cons.core(torch.from_numpy(xs)).numpy()
    got = Runner(fl, "litert").scores(xs)[1]
    assert np.max(np.abs(got - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref))))
    q = to_tflite(kmodel, xs)
    macs = compare_macs(cons, q)
    assert macs["equal"] and macs["tflite_total"] == m.cost_model().hard_macs()
    ops = {op.name for op in read_tflite(q).main.operators}
    assert ("PAD" in ops) == (frames % 2 == 0)
    assert ops - {"PAD"} == {"RESHAPE", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"}


# ------------------------------------------------------------------ linear-frequency front end (spoof features)
def test_linear_filterbank_has_equally_spaced_triangles_and_htk_is_unchanged():
    from train.errors import UsageError
    from train.frontend import FrontEndSpec, mel_filterbank

    spec = FrontEndSpec(n_mels=80, mel_scale="linear", fmin=0.0)
    fb = mel_filterbank(spec)
    freqs = np.arange(spec.n_bins) * spec.sample_rate / spec.n_fft
    centres = (fb * freqs).sum(1) / fb.sum(1)  # symmetric triangles: centroid = centre (up to bin sampling)
    step = 8000.0 / 81
    assert np.allclose(np.diff(centres), step, atol=0.1 * step)
    assert np.allclose(fb.max(1), 1.0, atol=0.25) and (fb >= 0).all()
    # the VAD default is untouched: HTK mel bands get wider with frequency
    widths = (mel_filterbank(FrontEndSpec()) > 0).sum(1)
    assert widths[-1] > 4 * widths[0]
    assert FrontEndSpec().digest() != FrontEndSpec(mel_scale="linear").digest()
    with pytest.raises(UsageError, match="mel_scale"):
        FrontEndSpec(mel_scale="bark")


def test_c_frontend_computes_the_linear_filterbank_like_numpy(tmp_path):
    from tests.test_frontend_c import TOL_ABS, _speechlike, build, run
    from train.frontend import FrontEndSpec, features_numpy

    spec = FrontEndSpec(n_mels=64, mel_scale="linear")
    exe = build(tmp_path, spec, 64)
    rng = np.random.default_rng(5)
    pcm = np.concatenate([_speechlike(6000, 4), np.clip(rng.normal(size=2000) * 6000, -32768, 32767)]).astype(np.int16)
    c = run(exe, pcm, 64)
    ref = features_numpy(pcm.astype(np.float64) / 32768.0, spec)
    assert c.shape == ref.shape
    assert np.max(np.abs(c - ref)) < TOL_ABS


def test_corpus_digest_follows_content_not_path(tmp_path):
    import shutil

    from tests.spoof_tiny_corpus import make_tiny_spoof_corpus
    from train.spoof_train import corpus_digest

    a = make_tiny_spoof_corpus(tmp_path / "a", per_split={"train": 4, "dev": 2, "test": 2})
    d0 = corpus_digest(a)
    assert corpus_digest(a) == d0
    shutil.rmtree(a)  # rebuilt at the same path with other content: a new digest (the benchmark's jobs rerun)
    make_tiny_spoof_corpus(a, seed=1, per_split={"train": 4, "dev": 2, "test": 2})
    assert corpus_digest(a) != d0
