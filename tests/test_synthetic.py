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


@pytest.mark.parametrize("extra", [{"warmup_frac": 0.3}, {"input_width_lr": None}])
def test_noise_width_options_fit_the_budget(extra):
    cfg = SynthConfig(n_inputs=16, n_informative=3, teacher_hidden=4, hidden=(8, 4), n_train=256, n_test=256,
                      steps=80, batch=32, **extra)
    r = train_noise_width(make_task(cfg, 0), cfg, 40, 0)
    assert r.macs <= 40 and r.macs == mlp_macs(*r.widths)
    assert r.history["soft_macs"] and 0 <= r.inputs_correct <= 3
    if extra.get("warmup_frac"):  # no penalty during the warm-up: the first recorded update is after it
        assert len(r.history["soft_macs"]) <= 0.7 * 40 / 10 + 1
