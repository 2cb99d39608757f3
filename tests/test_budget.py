import pytest
import torch

from train.budget import BudgetConstraint, make_optimizer, snap_to_budget
from train.cost import CostModel
from train.synthetic import NoiseMLP, SynthConfig, make_task, train_noise_width


def test_dual_multiplier_rises_over_budget_and_stays_nonnegative():
    c = BudgetConstraint(100.0, dual_lr=0.1, target=1.0)
    for _ in range(5):
        c.update(200.0)
    assert c.multiplier == pytest.approx(0.25)  # violation clipped to +0.5 per step
    for _ in range(50):
        c.update(10.0)
    assert c.multiplier == 0.0
    cost = torch.tensor(150.0, requires_grad=True)
    c2 = BudgetConstraint(100.0, mode="fixed", weight=2.0)
    c2.penalty(cost).backward()
    assert float(cost.grad) == pytest.approx(0.02)
    c2.update(1e9)
    assert c2.multiplier == 2.0


def test_state_dict_round_trip_and_anneal():
    c = BudgetConstraint(100.0, anneal_steps=10, start_cost=1000.0)
    assert c.current_budget() == pytest.approx(1000.0)
    for _ in range(5):
        c.update(500.0)
    assert c.current_budget() == pytest.approx(100 * 10**0.5)
    d = BudgetConstraint(1.0)
    d.load_state_dict(c.state_dict())
    assert d.state_dict() == c.state_dict()
    for _ in range(10):
        d.update(50.0)
    assert d.current_budget() == 100.0


def test_bad_constraint_arguments():
    with pytest.raises(ValueError):
        BudgetConstraint(0)
    with pytest.raises(ValueError):
        BudgetConstraint(10, mode="soft")


def test_snap_never_exceeds_budget_and_fills_it():
    torch.manual_seed(0)
    cfg = SynthConfig(n_inputs=16, hidden=(16, 8))
    for budget in (20, 60, 150):
        model = NoiseMLP(cfg)
        cm = CostModel(model, torch.zeros(1, 16))
        with torch.no_grad():
            model.inp.width.theta.uniform_(0, 1)
            model.l1.out_width.kappa.fill_(0.3)
        ks = snap_to_budget(model, cm, budget)
        assert cm.hard_macs() <= budget
        assert cm.hard_macs() >= 0.8 * budget
        assert set(model.inp.width.lam().tolist()) <= {0.0, 1.0}
        assert sorted(ks.values()) == sorted(w for w in model.widths())


def test_dual_ascent_lands_at_budget_on_toy():
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(16, 8), n_train=1024,
                      n_test=512, steps=500, batch=64, lr=5e-3, width_lr=2e-2, dual_lr=0.05,
                      hidden_temperature=1.0, input_width_lr=None, value_snap=False, anneal_frac=0.5)
    task = make_task(cfg, 0)
    full = 16 * 16 + 16 * 8 + 8
    for budget in (40, 120):
        r = train_noise_width(task, cfg, budget, seed=0)
        assert 0.9 * budget <= r.macs <= budget, (budget, r.macs, r.widths)
        assert r.macs < full
        hist = r.history["soft_macs"]
        assert max(hist[-5:]) <= 1.1 * budget  # the soft cost itself settled near the budget


def test_make_optimizer_groups():
    model = NoiseMLP(SynthConfig(n_inputs=8, hidden=(4, 4)))
    opt = make_optimizer(model, lr=1e-3, width_lr=1e-2)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-2]
    assert len(opt.param_groups[1]["params"]) == 3


def test_make_optimizer_equal_unit_speed_and_overrides():
    model = NoiseMLP(SynthConfig(n_inputs=8, hidden=(16, 4)))
    inp, h1, h2 = model.inp.width, model.l1.out_width, model.l2.out_width
    opt = make_optimizer(model, lr=1e-3, width_lr=1e-2, equal_unit_speed=True, width_lr_of={inp: 5e-4})
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(h2.kappa)] == pytest.approx(1e-2)  # the narrowest ordered width keeps width_lr
    assert lr_of[id(h1.kappa)] == pytest.approx(1e-2 * 4 / 16)
    assert lr_of[id(inp.theta)] == 5e-4
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    assert all(g["weight_decay"] == 0.0 for g in opt.param_groups[1:])


def test_proportional_term_damps_and_round_trips():
    c = BudgetConstraint(100.0, dual_lr=0.1, target=1.0, kp=1.0)
    c.update(150.0)  # v = +0.5: integral 0.05, proportional 0.5
    assert c.multiplier == pytest.approx(0.55)
    c.update(50.0)  # v = -0.5: integral 0.0, proportional -0.5 -> clipped at 0
    assert c.multiplier == 0.0
    c.update(120.0)
    d = BudgetConstraint(1.0)
    d.load_state_dict(c.state_dict())
    assert d.multiplier == pytest.approx(c.multiplier) and d.kp == 1.0
    assert BudgetConstraint(100.0).state_dict()["kp"] == 0.0  # default: pure integral (old behaviour)
    with pytest.raises(ValueError):
        BudgetConstraint(100.0, kp=-1.0)


def test_make_optimizer_foreach_matches_default():
    torch.manual_seed(0)
    cfg = SynthConfig(n_inputs=8, hidden=(4, 4))
    outs = []
    for foreach in (None, True):
        torch.manual_seed(0)
        model = NoiseMLP(cfg)
        opt = make_optimizer(model, lr=1e-2, width_lr=1e-2, foreach=foreach)
        x = torch.randn(16, 8)
        for _ in range(3):
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        outs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
