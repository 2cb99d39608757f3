"""The streaming VAD family: streaming == whole sequence, consolidation == noise-off training model,
analytic per-hop MACs == exact count over one step, trimming/growing to a budget, description round trip."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from train.cost import exact_macs
from train.vad_model import FAMILY, StepModule, StreamingVAD, VADArch, VADNet, macs_per_hop, step_cost
from train.vad_train import grow_to_budget, snap_indices


def _random_widths(model: VADNet, g: torch.Generator) -> None:
    """Put every width somewhere inside its range (fractional lam on the boundary unit, some per-unit zeros)."""
    with torch.no_grad():
        for w in model.all_widths():
            if w.mode == "ordered":
                w.kappa.fill_(float(torch.empty(()).uniform_(w.kappa_min, 1.0, generator=g)))
            else:
                w.theta.copy_(torch.rand(w.n, generator=g) * 1.6 - 0.3)
                w.theta[0] = 1.0  # keep at least one unit


def _trained_like(arch: VADArch, seed: int, input_mode: str = "ordered", width_mode: str = "ordered") -> VADNet:
    torch.manual_seed(seed)
    m = VADNet(arch, kappa_min=0.1, input_width_mode=input_mode, width_mode=width_mode)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 0 and p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
        m.set_normalization(torch.randn(arch.n_mels, generator=g), torch.rand(arch.n_mels, generator=g) + 0.5)
        m.set_ema_init(torch.randn(arch.n_mels, generator=g))
    _random_widths(m, g)
    m.train()
    m(torch.randn(2, 40, arch.n_mels))  # fill the running std buffers
    return m.eval()


ARCHS = [
    VADArch(n_mels=10, channels=[12, 12, 12], first_kernel=3, kernel=3, dilations=[1, 4]),
    VADArch(n_mels=16, channels=[8, 20, 6, 10], first_kernel=5, kernel=2, dilations=[2, 1, 8]),
    VADArch(n_mels=6, channels=[4], first_kernel=1, kernel=3, dilations=[], ema_alpha=0.0),
    VADArch(n_mels=8, channels=[6, 6], first_kernel=2, kernel=3, dilations=[3], ema_alpha=0.2),
]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("modes", [("ordered", "ordered"), ("per_unit", "ordered"), ("per_unit", "per_unit")])
def test_consolidated_equals_noise_off_model_and_streaming_equals_sequence(arch, modes):
    m = _trained_like(arch, seed=len(arch.channels), input_mode=modes[0], width_mode=modes[1])
    x = torch.randn(3, 90, arch.n_mels) * 2 + 1
    inputs = torch.stack([torch.from_numpy(m.input_transform(xb.numpy())) for xb in x])
    with torch.no_grad():
        ref = m(inputs)
    c = m.consolidate()
    assert isinstance(c, StreamingVAD)
    with torch.no_grad():
        out = c(c.select_bands(x))
    assert (out - ref).abs().max() <= 1e-5
    # streaming, one hop at a time from a zero state, equals the whole-sequence causal forward
    for b in range(x.shape[0]):
        s = c.stream(c.select_bands(x[b]))
        assert (s - torch.sigmoid(out[b])).abs().max() <= 1e-5


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), arch_i=st.integers(0, len(ARCHS) - 1))
def test_soft_macs_equal_exact_step_macs_at_integer_widths(seed, arch_i):
    arch = ARCHS[arch_i]
    m = _trained_like(arch, seed)
    # integer widths: the fractional boundary unit makes soft < hard; fix them to integers
    g = torch.Generator().manual_seed(seed)
    for w in m.all_widths():
        k = int(torch.randint(1, w.n + 1, (1,), generator=g))
        w.fix_width(k)
    c = m.consolidate()
    exact = exact_macs(StepModule(c), torch.zeros(1, c.n_inputs))
    assert exact == m.hard_macs() == round(float(m.soft_macs()))
    mel, ch = m.kept_counts()
    assert exact == macs_per_hop(arch, mel, ch) == step_cost(c)["macs_per_hop"]


def test_exact_counter_sees_the_streaming_step_not_a_window():
    arch = ARCHS[0]
    c = _trained_like(arch, 1).consolidate()
    # whole-sequence forward over T frames costs T times one step: per-hop cost is incremental
    t = 37
    assert exact_macs(c, torch.zeros(1, t, c.n_inputs)) == t * step_cost(c)["macs_per_hop"]


@pytest.mark.parametrize("budget", [60, 150, 400, 900])
def test_snap_fits_the_budget_and_fills_it(budget):
    arch = VADArch(n_mels=10, channels=[12, 12, 12], dilations=[1, 4])
    m = _trained_like(arch, 3)
    ix = snap_indices(m, budget)
    counts = [len(i) for i in ix]
    macs = macs_per_hop(arch, counts[0], counts[1:])
    assert macs <= budget
    # no single unit can be added without breaking the budget
    for d in range(len(counts)):
        full = arch.n_mels if d == 0 else arch.channels[d - 1]
        if counts[d] < full:
            more = list(counts)
            more[d] += 1
            assert macs_per_hop(arch, more[0], more[1:]) > budget
    c = m.consolidate(ix)
    assert step_cost(c)["macs_per_hop"] == macs


def test_trim_removes_weakest_units_first_and_round_to():
    arch = VADArch(n_mels=8, channels=[16, 16], dilations=[1])
    m = VADNet(arch, kappa_min=0.0625)
    with torch.no_grad():
        m.widths[0].kappa.fill_(10.5 / 16)  # 11 kept, unit 10 at lam 0.5
        m.widths[1].kappa.fill_(1.0)
    ix = m.trimmed_indices(None, round_to=4)
    assert [len(i) for i in ix] == [8, 8, 16]
    ix = m.trimmed_indices(macs_per_hop(arch, 8, [11, 16]) - 1)
    assert [len(i) for i in ix] == [8, 10, 16]  # the half-on unit goes first
    grown = grow_to_budget(m, ix, macs_per_hop(arch, 8, [16, 16]))
    assert [len(i) for i in grown] == [8, 16, 16]


def test_min_and_max_macs():
    arch = VADArch(n_mels=40, channels=[16, 16, 16], dilations=[1, 2])
    m = VADNet(arch, kappa_min=0.0625)
    assert m.max_macs() == macs_per_hop(arch, 40, [16, 16, 16])
    assert m.min_macs() == macs_per_hop(arch, 3, [1, 1, 1]) == 18


def test_description_round_trip_without_training_code():
    arch = ARCHS[1]
    c = _trained_like(arch, 5, input_mode="per_unit").consolidate(extra={"frontend": {"n_mels": 16}})
    desc = json.loads(json.dumps(c.description()))
    assert desc["family"] == FAMILY and desc["frontend"] == {"n_mels": 16}
    assert [s["state_frames"] for s in desc["layers"]] == [4, 2, 0, 1, 0, 8, 0, 0]
    sd = {k: v.clone() for k, v in c.state_dict().items()}
    r = StreamingVAD.from_description(desc, sd)
    x = torch.randn(2, 30, r.n_inputs)
    with torch.no_grad():
        assert torch.equal(r(x), c(x))
    # only plain ops that map to TFLite builtins: 1-D convs (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED)
    kinds = {type(mod) for mod in r.modules()} - {StreamingVAD, nn.ModuleList}
    assert kinds == {nn.Conv1d}


def test_state_shapes_are_channels_last_and_update_by_shift():
    c = _trained_like(ARCHS[0], 2).consolidate()
    state = c.init_state()
    assert torch.equal(state[0], c.ema_init[None])  # the EMA level starts at the training-set mean
    frames = torch.randn(5, c.n_inputs)
    for t in range(5):
        _, new = c.step(frames[t : t + 1], state)
        assert torch.allclose(new[0], state[0] + 0.01 * (frames[t] - state[0]))
        for old, nw in zip(state[1:], new[1:], strict=True):
            assert nw.shape == old.shape and nw.shape[0] == 1
            assert torch.equal(nw[:, :-1], old[:, 1:])  # shift by one frame, newest last
        state = new
