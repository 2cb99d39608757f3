import json

import pytest
import torch

from noisebudget.cli import main
from train.consolidate import consolidate
from train.cost import exact_macs
from train.errors import UsageError
from train.synthetic import (
    NoiseMLP,
    SynthConfig,
    apply_overrides,
    format_table,
    load_result,
    make_task,
    mlp_macs,
    posthoc_widths,
    prune_l1,
    run_and_report,
    train_noise_width,
    train_wide,
    validate,
)


def test_task_has_known_informative_features():
    cfg = SynthConfig(n_train=512, n_test=256)
    t = make_task(cfg, 1)
    assert len(t.informative) == 8 and len(set(t.informative)) == 8
    # labels depend on the informative features only: permuting a distractor changes nothing
    assert t.x_train.shape == (512, 64) and t.y_test.shape == (256, 1)
    assert make_task(cfg, 1).informative == t.informative
    assert make_task(cfg, 2).informative != t.informative


def test_posthoc_pruning_fits_budget_and_keeps_weights():
    cfg = SynthConfig(n_train=512, n_test=256, steps=50)
    t = make_task(cfg, 0)
    wide = train_wide(t, cfg, 0)
    for budget in (50, 300, 1200):
        w = posthoc_widths(budget, cfg)
        assert mlp_macs(*w) <= budget
        m, cols = prune_l1(wide, w)
        assert exact_macs(m, t.x_test[:1, cols]) == mlp_macs(*w)
    m, cols = prune_l1(wide, (64, 64, 32))  # keeping everything reproduces the wide model
    with torch.no_grad():
        assert torch.allclose(m(t.x_test[:, cols]), wide(t.x_test), atol=1e-5)


def test_noise_mlp_consolidates():
    cfg = SynthConfig()
    model = NoiseMLP(cfg)
    x = torch.randn(16, 64)
    model.train()
    model(x)
    with torch.no_grad():
        model.inp.width.theta[::3] = 0.0
        model.l1.out_width.kappa.fill_(0.4)
    model.eval()
    plain = consolidate(model)
    with torch.no_grad():
        assert (model(x) - plain(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("argv", [
    ["synthetic", "--budget", "0"],
    ["synthetic", "--budget", "-5"],
    ["synthetic", "--budget", "2"],  # below the smallest possible model (3 MACs)
    ["synthetic", "--budget", "100000"],  # does not constrain the model
    ["synthetic", "--seeds", "0"],
    ["synthetic", "--budget", "abc"],
    ["synthetic", "--set", "no_such_field=1"],
    ["synthetic", "--set", "steps=many"],
])
def test_cli_bad_arguments_exit_2(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    assert "error" in capsys.readouterr().err


def test_validate_messages():
    with pytest.raises(UsageError, match="smallest possible model"):
        validate(SynthConfig(budgets=(2,)))


def test_micro_case_study_writes_table_plot_and_json(tmp_path):
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=256, n_test=256,
                      steps=60, batch=32, budgets=(40,), seeds=1, oracle_in=(3,), oracle_h1=(4,),
                      oracle_h2=(2,), timing_steps=5)
    lines = []
    res = run_and_report(cfg, tmp_path, log=lines.append)
    assert (tmp_path / "error_vs_macs.png").stat().st_size > 1000
    data = json.loads((tmp_path / "results.json").read_text())
    assert {r["method"] for r in data["runs"]} == {"noise-width", "post-hoc L1"}
    assert all(r["macs"] <= 40 for r in data["runs"])
    assert "training overhead" in lines[0] and res.overhead["ratio"] > 0
    assert format_table(load_result(tmp_path / "results.json")) == lines[0]  # re-rendered from the JSON
    assert "vs oracle" in lines[0].splitlines()[0]


@pytest.mark.parametrize("extra", [{"warmup_frac": 0.3}, {"input_width_lr": None}, {"equal_unit_speed": False},
                                   {"hidden_temperature": 4.0, "dual_kp": 0.5},
                                   {"dense_phase": "reinit", "value_prune_every": 0}])
def test_noise_width_options_fit_the_budget(extra):
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=256, n_test=256,
                      steps=80, batch=32, **extra)
    r = train_noise_width(make_task(cfg, 0), cfg, 40, 0)
    assert r.macs <= 40 and r.macs == mlp_macs(*r.widths)
    # the noise-off fine-tuning after the snap keeps the snapped widths and MACs
    assert tuple(r.history["snapped_widths"]) == tuple(r.widths) and r.history["snapped_macs"] == r.macs
    assert r.history["soft_macs"] and 0 <= r.inputs_correct <= 3
    if extra.get("warmup_frac"):  # no penalty during the warm-up: the first recorded update is after it
        assert len(r.history["soft_macs"]) <= 0.7 * 40 / 10 + 1


def test_apply_overrides_types_and_errors():
    cfg = apply_overrides(SynthConfig(), ["hidden_temperature=4", "dense_phase=noise", "steps=10",
                                          "input_width_lr=0.003", "equal_unit_speed=false"])
    assert (cfg.hidden_temperature, cfg.dense_phase, cfg.steps, cfg.input_width_lr, cfg.equal_unit_speed) == (
        4.0, "noise", 10, 0.003, False)
    assert apply_overrides(cfg, ["input_width_lr=none"]).input_width_lr is None
    for bad in (["nope=1"], ["steps"], ["steps=x"], ["budgets=1"]):
        with pytest.raises(UsageError):
            apply_overrides(cfg, bad)


def test_value_snap_drops_useless_inputs_and_stays_within_budget():
    from train.budget import snap_to_budget
    from train.cost import CostModel
    from train.synthetic import prune_inputs_by_value

    torch.manual_seed(0)
    model = NoiseMLP(SynthConfig(n_inputs=8, hidden=(8, 4)))
    cm = CostModel(model, torch.zeros(1, 8))
    budget = 60
    snap_to_budget(model, cm, budget)  # all 8 inputs kept (lam = 1), hidden widths cut to fit
    x = torch.randn(512, 8)
    with torch.no_grad():
        model.l1.weight[:, 4:] = 0.0  # inputs 4..7 are never used
        k1, k2 = model.widths()[1:]
        model.l2.weight[:, k1 - 1] = 0.0  # the last kept unit of each hidden width is worth nothing
        model.out.weight[:, k2 - 1] = 0.0
        y = model.eval()(x)  # the snapped model is its own teacher
    before = model.widths()
    assert before[0] == 8
    dropped = prune_inputs_by_value(model, cm, budget, x, y)
    assert dropped == [4, 5, 6, 7]
    assert model.inp.width.kept_index().tolist() == [0, 1, 2, 3]
    assert cm.hard_macs() <= budget
    assert model.widths()[1] >= before[1] and model.widths()[1:] != before[1:]  # freed MACs regrow hidden widths


def test_mid_phase_input_drop_keeps_budget_and_drops_only_live_inputs():
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=512, n_test=256,
                      steps=120, batch=32, value_prune_mid=True)
    r = train_noise_width(make_task(cfg, 0), cfg, 40, 0)
    assert r.macs <= 40 and r.macs == mlp_macs(*r.widths)
    assert "inputs_dropped_mid" in r.history
    assert set(r.history["inputs_dropped_mid"]).isdisjoint(set(r.history.get("inputs_dropped", [])))


@pytest.mark.parametrize("phase", ["keep", "reinit", "noise"])
def test_dense_phase_preserves_snapped_widths_and_budget(phase):
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=512, n_test=256,
                      steps=80, batch=32, dense_phase=phase)
    task = make_task(cfg, 0)
    r = train_noise_width(task, cfg, 40, 0)
    assert tuple(r.history["snapped_widths"]) == tuple(r.widths) and r.history["snapped_macs"] == r.macs
    assert r.macs <= 40 and r.macs == mlp_macs(*r.widths)
    assert r.error > 0


def test_dense_model_keep_equals_noise_model_and_reinit_has_same_widths():
    from train.budget import snap_to_budget
    from train.cost import CostModel
    from train.synthetic import dense_model

    torch.manual_seed(0)
    model = NoiseMLP(SynthConfig(n_inputs=16, hidden=(8, 4)))
    x = torch.randn(64, 16)
    model.train()
    model(x)  # running std estimates
    with torch.no_grad():
        model.inp.width.theta[::3] = 0.0  # drop some inputs
    cm = CostModel(model, torch.zeros(1, 16))
    snap_to_budget(model, cm, 60)
    model.eval()
    with torch.no_grad():
        ref = model(x)
    net, cols = dense_model(model, 0, reinit=False)
    assert cols is None and all(p.requires_grad for p in net.parameters())
    with torch.no_grad():
        assert (net(x) - ref).abs().max() <= 1e-5
    assert exact_macs(net, x[:1]) == cm.hard_macs() <= 60
    fresh, cols = dense_model(model, 0, reinit=True)
    assert cols == model.inp.width.kept_index().tolist() and 0 not in cols and 3 not in cols
    assert exact_macs(fresh, x[:1, cols]) == cm.hard_macs()
    with torch.no_grad():  # a fresh initialisation, not the trained weights
        assert not torch.allclose(fresh(x[:, cols]), ref, atol=1e-3)
    with pytest.raises(ValueError, match="dense_phase"):
        train_noise_width(make_task(SynthConfig(n_train=256, n_test=64), 0),
                          SynthConfig(n_train=256, n_test=64, steps=4, dense_phase="bogus"), 300, 0)


def test_value_z_drops_junk_inputs_with_a_chance_gain_even_under_a_loose_budget():
    from train.budget import snap_to_budget
    from train.cost import CostModel
    from train.synthetic import prune_inputs_by_value

    def setup():
        torch.manual_seed(0)
        model = NoiseMLP(SynthConfig(n_inputs=8, hidden=(8, 4)))
        cm = CostModel(model, torch.zeros(1, 8))
        snap_to_budget(model, cm, 10_000)  # loose: everything kept
        g = torch.Generator().manual_seed(1)
        x = torch.randn(512, 8, generator=g)
        with torch.no_grad():
            model.l1.weight[:, 4:] *= 0.01  # inputs 4..7: tiny, real but insignificant contributions
            k1, k2 = model.widths()[1:]
            model.l2.weight[:, k1 - 1] = 0.0  # marginal hidden units worth nothing
            model.out.weight[:, k2 - 1] = 0.0
            f = model.eval()(x)
            y = f + 0.1 * f.std() * torch.randn(512, 1, generator=g)  # noisy labels
        return model, cm, x, y

    model, cm, x, y = setup()
    assert model.widths()[0] == 8
    dropped = prune_inputs_by_value(model, cm, 10_000, x, y, z=3.0)
    assert dropped == [4, 5, 6, 7]
    assert model.inp.width.kept_index().tolist() == [0, 1, 2, 3] and cm.hard_macs() <= 10_000
    model, cm, x, y = setup()
    dropped0 = prune_inputs_by_value(model, cm, 10_000, x, y, z=0.0)
    assert set(dropped0) <= {4, 5, 6, 7}  # without the test, strong inputs stay too; junk may survive
    assert len(dropped0) < 4


def test_acceptance_lines_report_each_criterion(tmp_path):
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=256, n_test=256,
                      steps=60, batch=32, budgets=(40,), seeds=1, first_seed=5, oracle_in=(3,), oracle_h1=(4,),
                      oracle_h2=(2,), timing_steps=5)
    from train.synthetic import acceptance, run_case_study

    res = run_case_study(cfg)
    assert {r.seed for r in res.runs} == {5}
    (a,) = acceptance(res)
    nw = next(r for r in res.runs if r.method == "noise-width")
    assert a["macs_ok"] == (0.9 * 40 <= nw.macs <= 40)
    assert a["inputs_ok"] == (abs(nw.widths[0] - 3) <= 1)
    assert a["posthoc_ok"] == (a["err"] <= a["posthoc_err"])
    assert "acceptance @40:" in format_table(res)


def test_periodic_input_drop_keeps_budget_and_removes_dropped_inputs_for_good():
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=512, n_test=256,
                      steps=120, batch=32, value_prune_every=10, value_prune_z=1.0)
    task = make_task(cfg, 0)
    r = train_noise_width(task, cfg, 40, 0)
    assert r.macs <= 40 and r.macs == mlp_macs(*r.widths)
    during = r.history["inputs_dropped_during"]
    assert during and len(during) == len(set(during))  # an input is dropped once and never comes back
    assert r.widths[0] <= 16 - len(during)


def test_value_snap_keeps_a_weak_informative_input_even_when_hidden_units_are_worth_more_per_mac():
    """The input test is significance only: an input with a small but real held-out gain stays even when
    removing the last hidden unit costs far more per MAC (that removal value says nothing about what a new
    unit would add; the old per-MAC rule dropped informative inputs on fresh seeds)."""
    from train.budget import snap_to_budget
    from train.cost import CostModel
    from train.synthetic import prune_inputs_by_value

    torch.manual_seed(0)
    model = NoiseMLP(SynthConfig(n_inputs=8, hidden=(8, 4)))
    cm = CostModel(model, torch.zeros(1, 8))
    snap_to_budget(model, cm, 10_000)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2048, 8, generator=g)
    with torch.no_grad():
        model.l1.weight[:, 6:] = 0.0  # inputs 6, 7: junk
        model.l1.weight[:, 5] *= 0.2  # input 5: weak but real
        k2 = model.widths()[2]
        model.out.weight[:, k2 - 1] *= 20.0  # the last h2 unit carries a lot
        f = model.eval()(x)
        y = f + 0.05 * f.std() * torch.randn(2048, 1, generator=g)
    def loss_without(nw, unit: int) -> float:
        nw.fixed_mask[unit] = False
        with torch.no_grad():
            out = float(torch.nn.functional.mse_loss(model(x), y))
        nw.fixed_mask[unit] = True
        return out

    base = loss_without(model.inp.width, 7)  # input 7 is junk: removing it changes nothing
    h2_per_mac = (loss_without(model.l2.out_width, k2 - 1) - base) / (model.widths()[1] + 1)
    in_per_mac = (loss_without(model.inp.width, 5) - base) / model.widths()[1]
    assert 0 < in_per_mac < h2_per_mac  # the old rule would have dropped input 5
    assert prune_inputs_by_value(model, cm, 10_000, x, y, z=3.0) == [6, 7]


def test_default_width_optimizer_moves_hidden_widths_at_equal_units_per_step():
    from train.budget import make_optimizer

    cfg = SynthConfig()
    model = NoiseMLP(cfg)
    opt = make_optimizer(model, lr=cfg.lr, width_lr=cfg.width_lr, equal_unit_speed=cfg.equal_unit_speed,
                         width_lr_of={model.inp.width: cfg.input_width_lr})
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    k1, k2 = model.l1.out_width, model.l2.out_width
    assert lr_of[id(k1.kappa)] * k1.n == pytest.approx(lr_of[id(k2.kappa)] * k2.n)
    assert lr_of[id(model.inp.width.theta)] == cfg.input_width_lr
    before = (float(k1.soft_width().detach()), float(k2.soft_width().detach()))
    for _ in range(3):  # a pure width-shrinking gradient: both widths lose the same number of units
        opt.zero_grad()
        (k1.soft_width() + k2.soft_width()).backward()
        opt.step()
    lost = (before[0] - float(k1.soft_width().detach()), before[1] - float(k2.soft_width().detach()))
    assert lost[0] > 0 and lost[0] == pytest.approx(lost[1], rel=1e-4)
