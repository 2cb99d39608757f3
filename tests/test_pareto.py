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
