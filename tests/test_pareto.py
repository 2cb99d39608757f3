"""benchmarks/pareto.py --quick: runs locally and on a local Ray instance, resumes without recomputing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vad_tiny_corpus import make_tiny_corpus

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "pareto.py"


def _run(*args: str) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, env=env,
                       timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("pareto") / "corpus", seed=0)


def test_quick_local_and_resume(corpus, tmp_path):
    out = tmp_path / "sweep"
    args = ("--quick", "--corpus", str(corpus), "--out", str(out), "--workers", "1", "--methods", "noise,l1")
    text = _run(*args)
    results = sorted((out / "results").glob("*.json"))
    assert [p.stem for p in results] == sorted(f"{m}-b2000-s0" for m in ("noise", "l1"))
    for p in results:
        r = json.loads(p.read_text())
        assert r.get("convert_error") is None, r.get("convert_error")
        assert r["macs_tflite"] is not None and r["macs_tflite"] <= 2000  # deployed MACs, from the .tflite
        assert r["macs_tflite"] == r["macs_torch"]
        assert 0.0 <= r["test_auc"] <= 1.0 and r["int8_auc"] is not None
        assert (out / "runs" / p.stem / "model.tflite").is_file()
    assert "noise widths (ours)" in text and "| 2,000 |" in text
    assert (out / "auc_vs_macs.png").stat().st_size > 0 and (out / "auc_vs_cycles.png").is_file()
    assert (out / "table.md").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in [*results, *(out / "pretrain").glob("*.pt")]}
    text2 = _run(*args)
    assert "0 jobs to run (0 pretraining jobs first)" in text2
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing recomputed or rewritten
    # peers next to our models (energy peer only: fast)
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--corpus", str(corpus), "--sweep",
                        str(out), "--out", str(tmp_path / "peers"), "--peers", "energy"], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "| peer: energy |" in p.stdout and "ours: noise widths (ours) | 2,000 (n=1)" in p.stdout
    assert (tmp_path / "peers" / "peers_vs_ours.md").is_file()


def test_quick_on_local_ray(corpus, tmp_path):
    out = tmp_path / "ray"
    text = _run("--quick", "--corpus", str(corpus), "--out", str(out), "--ray", "local", "--workers", "2",
                "--methods", "dense", "--no-convert")
    assert "ray=local" in text
    keys = sorted(p.stem for p in (out / "results").glob("*.json"))
    assert keys == ["dense-b2000-s0"]
    for k in keys:
        r = json.loads((out / "results" / f"{k}.json").read_text())
        assert r["macs_torch"] <= 2000 and r["macs_tflite"] is None  # --no-convert: no deployed MACs claimed


def _pareto():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pareto_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pareto_under_test"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_sweep_trains_with_the_default_recipe():
    """Every method of the sweep trains with the settings of `noisebudget train` (default.toml): input stage
    (EMA), epochs, batch, crops, lr, snap/anneal, dual ascent; only seed, device and threads are the sweep's."""
    from dataclasses import replace

    from noisebudget.config import default_config
    from noisebudget.pipeline import settings_from_config

    p = _pareto()
    want = settings_from_config(default_config())
    got = p.SweepSpec(corpus="c", out="o").settings(2)
    assert got == replace(want, seed=2, device="cpu", threads=1)
    assert got.arch.ema_alpha > 0 and got.epochs == want.epochs
    # a stated deviation applies to every method at once and is recorded in the spec
    dev = p.SweepSpec(corpus="c", out="o", epochs=8, ema_alpha=0.0).settings(0)
    assert dev.epochs == 8 and dev.arch.ema_alpha == 0.0 and dev.lr == want.lr


def test_schedule_runs_seed_by_seed_and_waits_for_pretraining():
    p = _pareto()
    pre = [("dense", 0), ("slimming", 0), ("dense", 1)]
    jobs = [(m, b, s) for s in (0, 1) for b in (2000, 5000) for m in ("noise", "l1", "slimming")]
    jobs = [j for j in jobs if not (j[0] == "slimming" and j[2] == 1)]
    order = p.schedule(pre, jobs)
    assert order[:2] == [("pre", "dense", 0), ("pre", "slimming", 0)]
    assert [it[-1] for it in order] == sorted(it[-1] for it in order)  # seed 0 completely before seed 1
    # two workers, tasks finish in submission order: no job starts before its pretraining has finished
    started, finished = [], set()

    def submit(item):
        started.append(item)
        if item[0] == "job" and item[1] in p.PRETRAIN_OF:
            assert (p.PRETRAIN_OF[item[1]], item[3]) in finished, item
        return item

    def wait_any(running):
        return [running[0]]

    def result(item):
        if item[0] == "pre":
            finished.add((item[1], item[2]))
            return f"{item[1]}-s{item[2]}"
        return {"method": item[1], "budget": item[2], "seed": item[3]}

    written = []
    p._write_result = lambda out, rec: written.append(rec)
    p._line = lambda rec, t0: "line"
    p._drive(order, 2, submit, wait_any, result, {"out": "unused"}, 0.0, lambda s: None)
    assert sorted(started) == sorted(order) and len(written) == len(jobs)
