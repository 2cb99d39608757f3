"""VAD training: tiny runs on a tiny manifest corpus built here. Budget landing, run folder round trip,
resume equivalence (bit for bit), data-parallel (torchrun, gloo, 2 processes) == single process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from noisebudget.cli import main
from train.run_dir import load_run

TINY_TOML = """
[model]
channels = [16, 16, 16]
dilations = [1, 2]
[train]
epochs = 3
batch_size = 8
crop_seconds = 1.0
patience = 5
threads = 1
"""


def make_tiny_corpus(out: Path, *, n_per_split=(12, 4, 4), seconds=3.0, seed=0) -> Path:
    """Manifest-format corpus (CONTRACTS.md B): pitched 'syllables' (labelled speech) over coloured noise;
    every fourth clip is a pure negative."""
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sr, hop = 16000, 160
    n = int(seconds * sr)
    rows = []
    for split, count in zip(("train", "dev", "test"), n_per_split, strict=True):
        for i in range(count):
            cid = f"{split}{i:03d}"
            noise = np.convolve(rng.standard_normal(n), np.ones(int(rng.integers(1, 6))) / 3, mode="same") * 0.05
            negative = i % 4 == 3
            speech = np.zeros(n)
            lab = np.zeros(n // hop, np.uint8)
            pos = int(rng.integers(0, sr // 2))
            while not negative and pos < n - sr // 2:
                dur = int(rng.integers(sr // 8, sr // 3))
                seg = np.arange(dur) / sr
                f0 = rng.uniform(100, 250)
                tone = sum(np.sin(2 * np.pi * f0 * h * seg) / h for h in range(1, 8))
                speech[pos : pos + dur] += 0.2 * np.sin(np.pi * seg / seg[-1]) ** 2 * tone
                lab[pos // hop : (pos + dur) // hop] = 1
                pos += dur + int(rng.integers(sr // 10, sr // 2))
            sf.write(out / "audio" / f"{cid}.wav", np.clip(speech + noise, -1, 1), sr, subtype="PCM_16")
            np.save(out / "labels" / f"{cid}.npy", lab)
            rows.append(
                {
                    "id": cid,
                    "split": split,
                    "audio": f"audio/{cid}.wav",
                    "labels": f"labels/{cid}.npy",
                    "speech_sources": [],
                    "noise_sources": ["synthetic"],
                    "speakers": [],
                    "languages": [],
                    "snr_db": None,
                    "condition": "synthetic",
                    "gain_dbfs": 0.0,
                    "reverb": False,
                    "band_hz": [0, 8000],
                    "negative": negative,
                    "duration_s": seconds,
                }
            )
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "corpus.json").write_text(json.dumps({"seed": seed, "minutes": 0}))
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("vadtrain")
    corpus = make_tiny_corpus(d / "corpus")
    cfg = d / "tiny.toml"
    cfg.write_text(TINY_TOML)
    return d, corpus, cfg


@pytest.fixture
def in_workdir(work, monkeypatch):
    monkeypatch.chdir(work[0])  # the feature cache goes to ./.cache/features
    return work


def _train(cfg, corpus, out, *extra):
    return main(
        [
            "train",
            "--config",
            str(cfg),
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            "--no-progress",
            "--budget-macs",
            "1500",
            *extra,
        ]
    )


def _ckpt_weights(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]


def test_train_writes_a_run_folder_within_budget(in_workdir, capsys):
    d, corpus, cfg = in_workdir
    out = d / "run_a"
    assert _train(cfg, corpus, out) == 0
    printed = capsys.readouterr().out
    assert "MACs/hop" in printed and "test" in printed
    run = load_run(out)
    assert 0.9 * 1500 <= run.cost["macs_per_hop"] <= 1500
    assert run.cost["budget_macs"] == 1500
    # the model rebuilt from arch.json + weights.pt (no training code) has the widths and cost recorded
    assert run.widths["mel_bands"] == len(run.description["mel_bands"])
    assert run.widths["channels"] == run.description["channels"]
    from train.vad_model import step_cost

    assert step_cost(run.model)["macs_per_hop"] == run.cost["macs_per_hop"]
    m = run.metrics
    for key in ("dev_auc", "test_auc", "test_f1", "test_fa_neg"):
        assert key in m["summary"]
    assert 0.5 < m["summary"]["test_auc"] <= 1.0
    assert m["train_wall_time_s"] > 0 and len(run.history) == m["epochs_run"]
    assert "[train]" in run.config_text and "epochs = 3" in run.config_text


def test_resume_after_kill_equals_uninterrupted(in_workdir):
    from noisebudget.pipeline import build_config, train_run

    d, corpus, cfg = in_workdir
    conf = build_config(cfg, {"corpus.dir": str(corpus), "budget.macs": 1500})
    full, _, _ = train_run(conf, d / "full", progress=False, log=lambda *a: None)
    part, _, _ = train_run(conf, d / "part", progress=False, stop_after_epoch=1, log=lambda *a: None)
    assert part.interrupted and not (d / "part" / "model").exists()
    assert json.loads(json.dumps(len(part.history))) == 1
    resumed, _, _ = train_run(conf, d / "part", resume=True, progress=False, log=lambda *a: None)
    a, b = _ckpt_weights(d / "full"), _ckpt_weights(d / "part")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert full.metrics["summary"] == resumed.metrics["summary"]


def test_resume_needs_a_checkpoint(in_workdir, capsys):
    d, corpus, cfg = in_workdir
    assert _train(cfg, corpus, d / "never", "--resume") == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_ddp_two_processes_equal_single_process(in_workdir):
    d, corpus, cfg = in_workdir
    single, ddp = d / "single", d / "ddp"
    assert _train(cfg, corpus, single) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "noisebudget",
            "train",
            "--config",
            str(cfg),
            "--corpus",
            str(corpus),
            "--out",
            str(ddp),
            "--no-progress",
            "--budget-macs",
            "1500",
        ],
        cwd=d,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _ckpt_weights(single), _ckpt_weights(ddp)
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), atol=1e-5, rtol=0), k
    ra, rb = load_run(single), load_run(ddp)
    assert ra.description["channels"] == rb.description["channels"]
    assert ra.description["mel_bands"] == rb.description["mel_bands"]
    for k, v in ra.model.state_dict().items():
        assert torch.allclose(v, rb.model.state_dict()[k], atol=1e-5), k


def test_run_command_runs_the_pipeline_and_prints_the_summary(in_workdir, capsys):
    d, corpus, cfg = in_workdir
    out = d / "run_cmd"
    rc = main(
        [
            "run",
            "--config",
            str(cfg),
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            "--budget-macs",
            "900",
            "--epochs",
            "2",
            "--no-progress",
        ]
    )
    import json

    check = json.loads((out / "check.json").read_text())  # `run` goes on to the budget gate
    assert rc == (0 if check["ok"] else 1), check
    printed = capsys.readouterr().out
    assert "of budget" in printed and "mel bands" in printed and "AUC" in printed and "verdict" in printed
    run = load_run(out)
    assert 0.9 * 900 <= run.cost["macs_per_hop"] <= 900 and run.metrics["epochs_run"] == 2


def test_floor_multiplier_rises_below_the_band_and_falls_above():
    """`dual_floor` (opt-in lower side of the budget band): the multiplier grows while the soft cost is below
    floor * aim * budget, unwinds faster above it, never goes negative."""
    from train.budget import BudgetConstraint
    from train.vad_train import TrainSettings, _floor_step

    assert TrainSettings().dual_floor == 0.0  # off by default: the default recipe is unchanged
    c = BudgetConstraint(1000.0, dual_lr=0.05, target=0.97)
    m = 0.0
    for _ in range(10):
        m = _floor_step(m, c, 300.0, 0.9, 4.0)
    assert m > 0.2
    up = m
    m = _floor_step(m, c, 950.0, 0.9, 4.0)
    assert up - m > 4 * 0.05 * 0.05  # above the floor it falls `down` times faster
    for _ in range(100):
        m = _floor_step(m, c, 2000.0, 0.9, 4.0)
    assert m == 0.0


def test_equal_unit_speed_config_reaches_the_width_optimizer(in_workdir, monkeypatch):
    """`train.equal_unit_speed = true` gives every ordered width (mel bands 40, channels 16) its own Adam rate
    scaled to move the same units per step; the run still lands within its budget."""
    import train.budget

    d, corpus, _ = in_workdir
    cfg = d / "eus.toml"
    cfg.write_text(TINY_TOML.replace("[train]\n", "[train]\nequal_unit_speed = true\n"))
    seen = []
    real = train.budget.make_optimizer

    def spy(model, **kw):
        opt = real(model, **kw)
        seen.append((kw, opt))
        return opt

    monkeypatch.setattr(train.budget, "make_optimizer", spy)
    out = d / "run_eus"
    assert _train(cfg, corpus, out) == 0
    kw, opt = seen[0]
    assert kw["equal_unit_speed"] is True
    width_rates = sorted(g["lr"] for g in opt.param_groups[1:])
    assert width_rates[0] == pytest.approx(kw["width_lr"] * 16 / 40) and width_rates[-1] == kw["width_lr"]
    run = load_run(out)
    assert run.cost["macs_per_hop"] <= 1500
