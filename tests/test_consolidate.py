import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from train.consolidate import consolidate, rounded_widths
from train.cost import CostModel, exact_macs
from train.layers import InputNoise, PConv1d, PConv2d, PDepthwiseConv1d, PDepthwiseConv2d, PLinear
from train.noise import NoiseApply, NoiseWidth, noise_widths
from train.random_nets import ChainSpec, random_chain


def _assert_plain(m: nn.Module) -> None:
    for sub in m.modules():
        assert not isinstance(sub, (NoiseWidth, PLinear, PConv1d, PConv2d, InputNoise, NoiseApply)), sub


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["conv1d", "conv2d", "dense"]), n_layers=st.integers(1, 3),
       seed=st.integers(0, 10_000), input_noise=st.booleans(), residual=st.booleans(),
       integer=st.booleans())
def test_consolidated_outputs_equal(kind, n_layers, seed, input_noise, residual, integer):
    model, x = random_chain(ChainSpec(kind, n_layers, seed, input_noise, residual, integer))
    plain = consolidate(model)
    _assert_plain(plain)
    with torch.no_grad():
        assert (model(x) - plain(x)).abs().max() <= 1e-5
    n_params = sum(p.numel() for p in plain.parameters())
    assert n_params <= sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cls", [PDepthwiseConv1d, PDepthwiseConv2d])
def test_depthwise_block_alone(cls):
    torch.manual_seed(3)
    w = NoiseWidth(12)
    dw = cls(12, 3, width=w, causal=True, padding=1, bn=True, act="relu6")
    x = torch.randn(4, 12, 9) if cls is PDepthwiseConv1d else torch.randn(4, 12, 9, 7)
    dw.train()
    dw(x)
    with torch.no_grad():
        w.kappa.fill_(0.55)
    dw.eval()
    plain = consolidate(dw)
    keep = w.kept_index()
    with torch.no_grad():
        assert (dw(x)[:, keep] - plain(x[:, keep])).abs().max() <= 1e-5


def test_residual_tie_drops_same_channels():
    torch.manual_seed(4)
    model, x = random_chain(ChainSpec("conv1d", 2, 7, True, True, False))
    res = model[-2]
    k = res.width.kept()
    assert 0 < k < res.width.n
    plain = consolidate(model)
    a, b = plain[-2].a, plain[-2].b
    assert a[0].out_channels == k and b[0].in_channels == k and b[0].out_channels == k
    with torch.no_grad():
        assert (model(x) - plain(x)).abs().max() <= 1e-5


def test_round_to_multiple_is_exact_and_respects_budget():
    torch.manual_seed(5)
    inp = InputNoise(16, dim=-1, mode="ordered")
    l1 = PLinear(16, 30, in_width=inp.width, out_width=True)
    l2 = PLinear(30, 2, in_width=l1.out_width, act=None)
    model = nn.Sequential(inp, l1, l2)
    x = torch.randn(32, 16)
    model.train()
    model(x)
    with torch.no_grad():
        inp.width.kappa.fill_(9.5 / 16)
        l1.out_width.kappa.fill_(13.2 / 30)
    model.eval()
    r4 = consolidate(model, round_to=4)
    with torch.no_grad():
        assert (model(x) - r4(x)).abs().max() <= 1e-5
    assert r4[1][0].in_features == 12 and r4[1][0].out_features == 16
    assert exact_macs(r4, x[:1]) == 12 * 16 + 16 * 2
    # a budget too small for rounding up rounds down instead (never exceeds)
    budget = CostModel(model, x[:1]).hard_macs()
    rb = consolidate(model, round_to=4, budget=budget, example_input=x[:1])
    assert exact_macs(rb, x[:1]) <= budget
    ks = rounded_widths(model, 4, budget, x[:1])
    assert all(v % 4 == 0 for v in ks.values())


def test_noise_widths_are_deduplicated():
    model, _ = random_chain(ChainSpec("conv1d", 3, 11, True, True, False))
    ws = noise_widths(model)
    assert len({id(w) for w in ws.values()}) == len(ws)
