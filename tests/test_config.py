"""Run config: defaults == built-in default.toml, strict keys, types, CLI overrides and exit codes."""

import dataclasses

import pytest

from noisebudget.cli import main
from noisebudget.config import (
    DEFAULT_CONFIG_PATH,
    RunConfig,
    config_from_dict,
    default_config,
    dump_config,
    load_config,
    set_value,
)
from train.errors import UsageError


def test_default_toml_equals_dataclass_defaults():
    assert load_config(DEFAULT_CONFIG_PATH) == default_config()
    assert default_config().budget.target == "cortex-m4"


def test_frontend_section_mirrors_frontend_spec():
    from train.frontend import FrontEndSpec

    cfg = default_config()
    spec = FrontEndSpec.from_dict(dataclasses.asdict(cfg.frontend))
    assert spec == FrontEndSpec()


def test_partial_file_keeps_defaults(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[train]\nepochs = 3\n[model]\nchannels = [8, 8]\ndilations = [2]\n")
    cfg = load_config(p)
    assert cfg.train.epochs == 3 and cfg.model.channels == [8, 8] and cfg.model.dilations == [2]
    assert cfg.train.batch_size == default_config().train.batch_size


@pytest.mark.parametrize(
    "text, key",
    [
        ("[train]\nepoch = 3\n", "train.epoch"),
        ("[budgett]\nmacs = 3\n", "budgett"),
        ("[model]\nchanels = [4]\n", "model.chanels"),
        ("top = 1\n", "top"),
    ],
)
def test_unknown_keys_are_rejected_with_the_key_named(tmp_path, text, key):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(UsageError, match=f"unknown key '{key}'"):
        load_config(p)


@pytest.mark.parametrize(
    "data, key",
    [
        ({"train": {"epochs": "3"}}, "train.epochs"),
        ({"train": {"epochs": True}}, "train.epochs"),
        ({"model": {"channels": [8, "x"]}}, "model.channels[1]"),
        ({"budget": {"mode": "lagrange"}}, "budget.mode"),
        ({"model": {"channels": [8, 8, 8]}}, "model.channels"),  # does not match the 5 dilations
        ({"budget": {"cpu_load": 1.5}}, "budget.cpu_load"),
        ({"train": 3}, "train"),
    ],
)
def test_bad_values_name_the_key(data, key):
    with pytest.raises(UsageError) as e:
        config_from_dict(data)
    assert f"'{key}'" in str(e.value)


def test_int_is_accepted_for_float():
    cfg = config_from_dict({"train": {"lr": 1}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


def test_dump_load_round_trip(tmp_path):
    cfg = default_config()
    set_value(cfg, "budget.macs", 5000)
    set_value(cfg, "train.epochs", 2)
    p = tmp_path / "c.toml"
    p.write_text(dump_config(cfg))
    assert load_config(p) == cfg
    with pytest.raises(UsageError, match="'train.nope'"):
        set_value(cfg, "train.nope", 1)


def test_cli_rejects_unknown_key_with_exit_2(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text("[train]\nepochz = 3\n")
    assert main(["train", "--config", str(p), "--budget-macs", "5000"]) == 2
    err = capsys.readouterr().err
    assert "train.epochz" in err and str(p) in err


def test_cli_missing_config_file_exit_2(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_budget_below_smallest_model_fails_fast(tmp_path, capsys):
    p = tmp_path / "tiny.toml"
    p.write_text("[model]\nchannels = [16, 16, 16]\ndilations = [1, 2]\n")
    # no corpus exists: the budget check must come first
    rc = main(["train", "--config", str(p), "--budget-macs", "5", "--corpus", str(tmp_path / "none")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "budget 5 MACs per hop is below the smallest model" in err and "18 MACs per hop" in err


def test_budget_flags_conflict(capsys):
    assert main(["train", "--budget-macs", "5000", "--target", "cortex-m4"]) == 2
    assert "either --budget-macs or --target" in capsys.readouterr().err


def test_budget_from_target_profile(monkeypatch):
    from noisebudget import pipeline
    from noisebudget.target_profiles import TargetProfile

    profile = TargetProfile(
        name="t",
        description="",
        cpu="cortex-m4",
        clock_hz=80_000_000,
        flash_bytes=1,
        ram_bytes=1,
        qemu_board="",
        timing_table="",
        hop_rate_hz=100.0,
        frontend_cycles_per_hop=20_000,
        cycles_per_mac={"default": 2.0},
    )
    monkeypatch.setattr(pipeline, "load_target", lambda name: profile)
    cfg = RunConfig()
    set_value(cfg, "budget.cpu_load", 0.1)
    b = pipeline.resolve_budget(cfg)
    assert b.source == "target"
    assert b.macs == (80_000_000 * 0.1 / 100 - 20_000) // 2  # 30000
    set_value(cfg, "budget.cpu_load", 0.02)  # 16000 cycles/hop: less than the front end
    with pytest.raises(UsageError, match="leaves no cycles for the model"):
        pipeline.resolve_budget(cfg)
    set_value(cfg, "budget.macs", 1234)
    assert pipeline.resolve_budget(cfg).macs == 1234


def test_default_budget_is_derived_from_the_cortex_m4_profile():
    from noisebudget.pipeline import resolve_budget

    b = resolve_budget(default_config())
    assert b.source == "target" and b.detail["clock_hz"] == 80e6
    assert 2000 <= b.macs <= 20000


def test_unknown_target_is_a_usage_error(capsys):
    assert main(["train", "--target", "no-such-cpu", "--cpu-load", "0.1"]) == 2
    assert "no-such-cpu" in capsys.readouterr().err
