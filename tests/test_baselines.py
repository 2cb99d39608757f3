"""Baselines (train.baselines): surgery is exact, every baseline lands within the budget as a StreamingVAD."""

from __future__ import annotations

import pytest
import torch

from tests.vad_tiny_corpus import make_tiny_corpus
from train.baselines import METHODS, run_baseline
from train.baselines.methods import expected_macs, l1_prune, l1_scores, torchprune_prune
from train.baselines.surgery import (
    GatedVAD,
    InputNorm,
    fold_gates,
    fold_static_input,
    macs,
    new_model,
    prune,
    select_global,
    uniform_counts,
    widths,
)
from train.vad_model import StreamingVAD, VADArch, step_cost
from train.vad_train import TrainSettings

ARCH = VADArch(n_mels=40, channels=[12, 10, 8], dilations=[1, 2], ema_alpha=0.05)


def _model(seed: int = 0) -> StreamingVAD:
    g = torch.Generator().manual_seed(seed)
    norm = InputNorm(torch.randn(40, generator=g), torch.randn(40, generator=g), 0.5 + torch.rand(40, generator=g))
    m = new_model(ARCH, list(ARCH.channels), norm, seed=seed)
    with torch.no_grad():  # non-zero biases everywhere (the depthwise biases of removed channels must be folded)
        for c in m.convs:
            c.bias.copy_(0.3 * torch.randn(c.bias.shape, generator=g))
    return m


def _feats(t: int = 60, seed: int = 1) -> torch.Tensor:
    return torch.randn(2, t, 40, generator=torch.Generator().manual_seed(seed)) * 2.0


def _random_keep(model: StreamingVAD, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in widths(model):
        k = int(torch.randint(1, n + 1, (1,), generator=g))
        out.append(torch.sort(torch.randperm(n, generator=g)[:k]).values)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prune_equals_zeroed_units(seed):
    """prune(model, keep) == the full model with the removed units' activations set to zero."""
    m = _model(seed)
    keep = _random_keep(m, seed + 10)
    ref = GatedVAD(m, "mask").eval()
    for d, k in enumerate(keep):
        mask = torch.zeros(widths(m)[d])
        mask[k] = 1
        getattr(ref, f"mask{d}").copy_(mask)
    x = _feats()
    pruned = prune(m, keep)
    assert widths(pruned) == [len(k) for k in keep]
    assert pruned.desc["mel_bands"] == keep[0].tolist()
    with torch.no_grad():
        want = ref(x, raw=True)
        got = pruned(x[..., keep[0]])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # and the streaming step of the pruned model agrees with its whole-sequence forward
    with torch.no_grad():
        s = pruned.stream(x[0, :, keep[0]])
    torch.testing.assert_close(s, torch.sigmoid(got[0]), atol=1e-5, rtol=1e-5)


def test_l1_pruning_removes_dead_units_exactly():
    """Units whose filters are all zero (dead after ReLU) have the lowest L1 norms: L1 selection at the budget
    that removes exactly them picks them, and the pruned model's outputs equal the unpruned model's."""
    m = _model(3)
    dead = {0: [1, 5], 1: [0, 3], 2: [2, 4], 3: [7, 6]}  # per dimension: mel bands, C0, C1, C2
    with torch.no_grad():
        m.convs[0].weight[:, dead[0], :] = 0.0  # bands the stem ignores
        for c, conv_ix in ((1, 0), (2, 2), (3, 4)):
            m.convs[conv_ix].weight[dead[c]] = 0.0
            m.convs[conv_ix].bias[dead[c]] = -1.0  # ReLU output exactly 0
    keep = [torch.tensor([j for j in range(n) if j not in dead[d]]) for d, n in enumerate(widths(m))]
    budget = macs(ARCH, [len(k) for k in keep])
    sel = select_global(l1_scores(m), ARCH, budget)
    assert [k.tolist() for k in sel] == [k.tolist() for k in keep]
    pruned = prune(m, sel)
    x = _feats()
    with torch.no_grad():
        torch.testing.assert_close(pruned(x[..., keep[0]]), m(x), atol=1e-5, rtol=1e-5)
    assert step_cost(pruned)["macs_per_hop"] == budget
    u = l1_prune(m, budget)  # the uniform-ratio variant also fits
    assert step_cost(u)["macs_per_hop"] <= budget


def test_fold_gates_and_static_input_are_exact():
    m = _model(4)
    g = GatedVAD(m, "scale")
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in g.gates:
            p.copy_(torch.randn(p.shape, generator=gen) * 0.7)
    x = _feats()
    with torch.no_grad():
        torch.testing.assert_close(fold_gates(m, g.eval_gates())(x), g(x, raw=True), atol=1e-5, rtol=1e-5)
    m0 = _model(5)
    m0.ema_alpha = 0.0
    m0.desc["input_norm"] = dict(m0.desc["input_norm"], ema_alpha=0.0)
    f = fold_static_input(m0)
    assert not f.ema_init.any()
    with torch.no_grad():
        torch.testing.assert_close(f(x), m0(x), atol=1e-5, rtol=1e-5)


def test_selection_fits_budget_and_matches_exact_count():
    m = _model(6)
    g = torch.Generator().manual_seed(0)
    for budget in [300, 900, 2500] + [300] * 40:  # tight budgets drive dimensions down to the rounding floor
        scores = [torch.rand(n, generator=g) for n in widths(m)]
        keep = select_global(scores, ARCH, budget, round_to=2)
        p = prune(m, keep)
        assert step_cost(p)["macs_per_hop"] == macs(ARCH, widths(p)) <= budget
        assert all(c % 2 == 0 for c in widths(p)[1:])
        c = uniform_counts(ARCH, budget, scale_mels=False)
        assert c[0] == 40 and macs(ARCH, c) <= budget
        if c[1:] != ARCH.channels:  # the factor is the largest that fits
            assert macs(ARCH, [c[0]] + [x + 1 for x in c[1:]]) > budget


def test_torchprune_maps_back_to_streaming_vad():
    m = _model(7)
    p = torchprune_prune(m, 1500, round_to=2)
    assert isinstance(p, StreamingVAD)
    assert step_cost(p)["macs_per_hop"] <= 1500
    assert len(p.desc["mel_bands"]) == 40
    x = _feats()
    with torch.no_grad():
        assert torch.isfinite(p(x)).all()
    p2 = StreamingVAD.from_description(p.description(), p.state_dict())  # the description rebuilds it
    with torch.no_grad():
        torch.testing.assert_close(p2(x), p(x))


def test_expected_macs_of_l0_gates():
    m = _model(8)
    g = GatedVAD(m, "l0")
    with torch.no_grad():
        for hc in g.gates:
            hc.log_alpha.fill_(20.0)
    assert float(expected_macs(g).detach()) == pytest.approx(macs(ARCH, widths(m)), rel=1e-4)
    with torch.no_grad():
        g.gates[0].log_alpha[:10] = -20.0
    assert float(expected_macs(g).detach()) == pytest.approx(macs(ARCH, [30, *widths(m)[1:]]), rel=1e-3)
    g.eval()
    for v in g.eval_gates():
        assert ((v >= 0) & (v <= 1)).all()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from train.frontend import FrontEndSpec
    from train.vad_train import load_splits

    root = make_tiny_corpus(tmp_path_factory.mktemp("bl") / "corpus", seed=0)
    return load_splits(root, FrontEndSpec(), progress=False)


@pytest.mark.parametrize("method", METHODS)
def test_each_baseline_within_budget(tiny, method, tmp_path):
    s = TrainSettings(arch=VADArch(n_mels=40, channels=[16, 16, 16], dilations=[1, 2]), epochs=3, batch_size=4,
                      crop_seconds=1.0, crops_per_epoch=8, patience=2, seed=0)
    budget = 1800
    r = run_baseline(method, s, tiny, budget, cache_dir=tmp_path)
    assert isinstance(r.model, StreamingVAD)
    assert step_cost(r.model)["macs_per_hop"] <= budget
    assert r.model.desc["method"] == method and r.model.desc["budget_macs"] == budget
    assert r.epochs_first + r.epochs_finetune == s.epochs  # equal total epochs
    rebuilt = StreamingVAD.from_description(r.model.description(), r.model.state_dict())
    x = torch.from_numpy(tiny["test"].feats[0][None, :, r.model.desc["mel_bands"]])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), r.model(x))
    with pytest.raises(Exception, match="below the smallest"):
        run_baseline(method, s, tiny, 10, cache_dir=tmp_path)
