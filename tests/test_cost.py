import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from train.consolidate import consolidate
from train.cost import CostModel, exact_macs, exact_params, exact_peak_activation_bytes
from train.layers import PConv1d, PConv2d, PDepthwiseConv2d, PLinear
from train.noise import NoiseWidth
from train.random_nets import ChainSpec, random_chain


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["conv1d", "conv2d", "dense"]), n_layers=st.integers(1, 3),
       seed=st.integers(0, 10_000), input_noise=st.booleans(), residual=st.booleans(),
       integer=st.booleans())
def test_cost_model_equals_exact_count(kind, n_layers, seed, input_noise, residual, integer):
    model, x = random_chain(ChainSpec(kind, n_layers, seed, input_noise, residual, integer))
    cm = CostModel(model, x[:1])
    plain = consolidate(model)
    assert cm.hard_macs() == exact_macs(plain, x[:1])
    assert cm.hard_params() == exact_params(plain)
    assert cm.hard_peak_activation_bytes() == exact_peak_activation_bytes(plain, x[:1])
    if integer:  # integer widths: soft == hard
        assert float(cm.macs()) == pytest.approx(cm.hard_macs(), rel=1e-6)
        assert float(cm.params()) == pytest.approx(cm.hard_params(), rel=1e-6)
    assert cm.min_macs() <= cm.hard_macs() <= cm.max_macs()


def test_conv_mac_formula_and_gradient():
    w_in, w_out = NoiseWidth(8), NoiseWidth(6)
    conv = PConv2d(8, 6, (3, 5), stride=(1, 2), padding=(1, 2), in_width=w_in, out_width=w_out)
    x = torch.randn(1, 8, 10, 16)
    cm = CostModel(conv, x)
    assert cm.hard_macs() == 3 * 5 * 8 * 6 * (10 * 8)
    with torch.no_grad():
        w_in.kappa.fill_(0.5)
        w_out.kappa.fill_(0.75)
    macs = cm.macs()
    assert float(macs.detach()) == pytest.approx(15 * 4 * 4.5 * 80)
    macs.backward()
    assert w_in.kappa.grad > 0 and w_out.kappa.grad > 0
    # depthwise: k * c * positions, c = shared width
    dw = PDepthwiseConv2d(6, 3, width=w_out, padding=1)
    assert CostModel(dw, torch.randn(1, 6, 10, 8)).hard_macs() == 9 * w_out.kept() * 80


def test_causal_dilated_conv1d_and_dense_positions():
    conv = PConv1d(4, 5, 3, causal=True, dilation=4, stride=2, out_width=True)
    x = torch.randn(1, 4, 33)
    assert conv(x).shape[-1] == 17
    assert CostModel(conv, x).hard_macs() == 3 * 4 * 5 * 17
    lin = PLinear(7, 3, out_width=None)
    assert CostModel(lin, torch.randn(1, 11, 7)).hard_macs() == 7 * 3 * 11  # per frame over [B, T, C]


def test_cost_model_rejects_plain_model():
    with pytest.raises(ValueError):
        CostModel(torch.nn.Linear(3, 3), torch.randn(1, 3))
