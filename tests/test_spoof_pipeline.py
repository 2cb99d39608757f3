"""`--task spoof` end to end on a tiny synthetic spoof corpus: training lands in [0.9, 1.0] x the budget,
the run folder, resume == uninterrupted, conversion (MACs, EER float/int8, LiteRT vs TFLM, ONNX), the generated
firmware bit-exact to TFLM (host build), QEMU measurement and the budget gate, the stage cache, CLI and errors."""

from __future__ import annotations

import json

import pytest
import torch

from noisebudget.cli import main
from noisebudget.spoof_pipeline import (
    SpoofRunConfig,
    build_spoof_config,
    load_spoof_config,
    run_spoof_pipeline,
    spoof_config_from_dict,
    train_spoof_run,
)
from tests.spoof_tiny_corpus import make_tiny_spoof_corpus
from tests.vad_tiny_corpus import make_tiny_corpus
from train.errors import DataError, UsageError

BUDGET = 60_000  # MACs per utterance second (the tiny family's full size is ~3x that)


def _cfg(corpus, **train):
    return spoof_config_from_dict({
        "corpus": {"dir": str(corpus)},
        "model": {"window_frames": 61, "stem_channels": 12, "channels": [12, 16], "blocks": [1, 1],
                  "strides": [2, 2]},
        "train": {"epochs": 6, "batch_size": 8, "windows_per_epoch": 0, **train},
        "budget": {"macs": BUDGET, "cpu_load": 0.5},
    })


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("spoof")
    corpus = make_tiny_spoof_corpus(root / "corpus")
    return root, corpus


@pytest.fixture(scope="module")
def pipeline_run(work):
    root, corpus = work
    mp = pytest.MonkeyPatch()
    mp.chdir(root)  # feature cache under ./.cache
    log: list[str] = []
    try:
        code = run_spoof_pipeline(_cfg(corpus), root / "run", progress=False,
                                  log=lambda *a, **k: log.append(" ".join(map(str, a))))
    finally:
        mp.undo()
    return root / "run", code, log


def test_pipeline_writes_every_artifact_within_budget(pipeline_run):
    run, code, log = pipeline_run
    assert code == 0, "\n".join(log)
    for rel in ("model/arch.json", "model/weights.pt", "widths.json", "cost.json", "metrics.json", "history.json",
                "config.toml", "model.tflite", "model_float.tflite", "model.onnx", "spoof_io.json", "verify.json",
                "firmware/project.json", "firmware/bit_exact.json", "firmware/measure.json", "check.json",
                "report/report.md", "report/training.png"):
        assert (run / rel).is_file(), rel
    assert not (run / "model_io.json").exists()  # that file would make the code generator build a VAD
    cost = json.loads((run / "cost.json").read_text())
    assert 0.90 <= cost["budget_ratio"] <= 1.0, cost
    assert cost["macs_per_second"] <= BUDGET * 1.0 + 1
    m = json.loads((run / "metrics.json").read_text())
    for split in ("dev", "test"):
        assert {"pooled", "seen", "unseen", "per_attack"} <= set(m[split])
    assert set(m["test"]["per_attack"]) == {"buzz", "lowpass", "flat"}
    assert m["test"]["unseen"] is not None  # "flat" is held out of training


def test_conversion_is_verified_and_firmware_is_bit_exact(pipeline_run):
    run, _, _ = pipeline_run
    v = json.loads((run / "verify.json").read_text())
    cost = json.loads((run / "cost.json").read_text())
    assert v["macs"]["equal"] and v["macs"]["tflite_total"] == cost["macs_per_window"]
    assert v["onnx_ok"] and v["litert_vs_tflm"]["ops_bit_exact"]
    for k in ("torch_float", "tflite_float", "tflite_int8"):
        assert {"pooled", "unseen", "per_attack"} <= set(v["eer"][k])
    assert json.loads((run / "firmware" / "bit_exact.json").read_text())["bit_exact"]
    # again under AddressSanitizer/UBSan, on random windows
    from noisebudget.spoof_pipeline import example_windows, firmware_bit_exact

    inputs = example_windows(run, None, 3)  # quantized with the model's input parameters
    from convert.codegen import Options, generate

    generate(run, run / "fw_asan", Options(test_inputs=inputs, tflm_arena=False))
    be = firmware_bit_exact(run / "fw_asan", (run / "model.tflite").read_bytes(), inputs, sanitize=True)
    assert be["bit_exact"] and be["invokes"] == 3
    # no --hop-rate given: the invoke rate comes from spoof_io.json (one invoke per window), run folder or .tflite
    from convert.codegen import resolve_source

    assert json.loads((run / "fw_asan" / "project.json").read_text())["hop_rate_hz"] == pytest.approx(1 / 0.61)
    assert resolve_source(run / "model.tflite").hop_rate_hz == pytest.approx(1 / 0.61)
    fw = json.loads((run / "firmware" / "firmware.json").read_text())
    assert fw["kind"] == "model" and fw["macs_total"] == cost["macs_per_window"]
    meas = json.loads((run / "firmware" / "measure.json").read_text())
    assert meas["hop_rate_hz"] == pytest.approx(1 / 0.61)  # one invoke per window
    io = json.loads((run / "spoof_io.json").read_text())
    assert io["window"]["shape"] == [1, 61, len(io["mel_bands"])]
    assert io["frontend"]["n_mels"] == io["n_mels_full"] and io["frontend"]["mel_scale"] == "htk"


def test_second_run_is_cached_and_check_gates(pipeline_run, work):
    run, _, _ = pipeline_run
    root, corpus = work
    log: list[str] = []
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        assert run_spoof_pipeline(_cfg(corpus), run, progress=False, log=lambda *a, **k: log.append(str(a[0]))) == 0
    finally:
        mp.undo()
    for stage in ("train", "convert", "firmware", "measure"):
        assert f"[{stage}] up to date" in log, log
    assert main(["check", str(run)]) == 0
    assert main(["check", str(run), "--cpu-load", "0.00001"]) == 1


def test_resume_equals_uninterrupted(work, monkeypatch):
    root, corpus = work
    monkeypatch.chdir(root)
    cfg = _cfg(corpus, epochs=4)
    quiet = lambda *a, **k: None  # noqa: E731
    full, _, _ = train_spoof_run(cfg, root / "full", progress=False, log=quiet)
    part, _, _ = train_spoof_run(cfg, root / "part", progress=False, stop_after_epoch=3, log=quiet)
    assert part.interrupted and not (root / "part" / "model").exists()
    res, _, _ = train_spoof_run(cfg, root / "part", progress=False, resume=True, log=quiet)
    a, b = full.model.state_dict(), res.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert res.history == full.history


def test_train_cli_and_convert_cli_detect_the_task(work, monkeypatch, capsys):
    root, corpus = work
    monkeypatch.chdir(root)
    cfgfile = root / "spoof_small.toml"
    cfgfile.write_text('task = "spoof"\n[model]\nwindow_frames = 41\nstem_channels = 8\nchannels = [8]\n'
                       'blocks = [1]\nstrides = [2]\n[train]\nepochs = 2\nbatch_size = 8\nwindows_per_epoch = 0\n')
    out = root / "cli_run"
    assert main(["train", "--config", str(cfgfile), "--corpus", str(corpus), "--budget-macs", "30000",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "MACs/s" in printed and "unseen" in printed
    assert main(["convert", str(out), "--eval-clips", "8"]) in (0, 1)  # 1 only if the int8 EER drop is large
    assert "LiteRT vs TFLM" in capsys.readouterr().out
    assert json.loads((out / "verify.json").read_text())["macs"]["equal"]


def test_error_paths(work, monkeypatch, capsys, tmp_path):
    root, corpus = work
    monkeypatch.chdir(tmp_path)
    vad = make_tiny_corpus(tmp_path / "vadcorpus")
    assert main(["train", "--task", "spoof", "--corpus", str(vad), "--budget-macs", "60000", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(vad) in err and "not a spoof corpus" in err
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "asr"])
    assert e.value.code == 2
    with pytest.raises(UsageError, match="'task'"):
        spoof_config_from_dict({"task": "vad"})
    with pytest.raises(UsageError, match="model.channels"):
        spoof_config_from_dict({"model": {"channels": [8, 8], "blocks": [1]}})
    with pytest.raises(UsageError, match="unknown key 'model.dilations'"):
        spoof_config_from_dict({"model": {"dilations": [1]}})
    with pytest.raises(UsageError, match="below the smallest model"):
        train_spoof_run(build_spoof_config(None, {"corpus.dir": str(corpus), "budget.macs": 10}), tmp_path / "x",
                        progress=False, log=lambda *a: None)
    with pytest.raises(DataError, match="no such folder"):
        train_spoof_run(build_spoof_config(None, {"corpus.dir": str(tmp_path / "nope"), "budget.macs": 500_000}),
                        tmp_path / "y", progress=False, log=lambda *a: None)


def test_builtin_config_file_equals_the_defaults():
    from noisebudget.spoof_pipeline import DEFAULT_SPOOF_CONFIG

    assert load_spoof_config(DEFAULT_SPOOF_CONFIG) == SpoofRunConfig()


def test_l1_baseline_prunes_by_filter_norm_to_the_budget(work, monkeypatch):
    import dataclasses

    from noisebudget.spoof_pipeline import settings_from_spoof_config
    from train.spoof_train import l1_prune, train_spoof

    root, corpus = work
    monkeypatch.chdir(root)
    s = dataclasses.replace(settings_from_spoof_config(_cfg(corpus, epochs=3)), method="l1")
    res = train_spoof(s, corpus, root / "l1", budget_macs_per_s=BUDGET, progress=False, log=lambda *a: None)
    assert res.cost["macs_per_window"] <= BUDGET * res.cost["window_seconds"]
    # the pruning itself: one keep ratio, the units with the largest filter L1 norms
    from train.spoof_train import build_model

    torch.manual_seed(0)
    m = build_model(s)
    cm = m.cost_model()
    with torch.no_grad():
        m.stem.weight.mul_(torch.linspace(0.1, 1.0, m.stem.weight.shape[0])[:, None, None])
    k = l1_prune(m, cm, int(BUDGET * m.window_seconds))
    assert cm.hard_macs() <= BUDGET * m.window_seconds
    assert m.stem.out_width.kept_index().tolist() == list(range(12 - k["stem.out_width"], 12))
    full = {name: w.n for name, w in m.widths().items()}
    ratios = {name: k[name] / full[name] for name in k}
    assert max(ratios.values()) - min(ratios.values()) <= 1 / min(full.values()) + 1e-9
    with pytest.raises(UsageError, match="unknown method"):
        train_spoof(dataclasses.replace(s, method="magic"), corpus, root / "x", budget_macs_per_s=BUDGET,
                    progress=False, log=lambda *a: None)
