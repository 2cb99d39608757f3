"""`noisebudget run` end to end on a tiny corpus and model: every stage, the budget gate both ways, the report,
and the stage cache (a second run recomputes nothing)."""

from __future__ import annotations

import json

import pytest

from noisebudget.cli import main
from noisebudget.config import config_from_dict
from noisebudget.run_pipeline import run_pipeline
from tests.vad_tiny_corpus import make_tiny_corpus


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    corpus = make_tiny_corpus(root / "corpus")
    cfg = config_from_dict({
        "corpus": {"dir": str(corpus)},
        "model": {"channels": [12, 12, 12], "dilations": [1, 2]},
        "train": {"epochs": 2, "batch_size": 2, "crop_seconds": 1.0},
        "budget": {"macs": 1200, "cpu_load": 0.9},
    })
    log: list[str] = []
    code = run_pipeline(cfg, root / "run", progress=False, log=lambda *a, **k: log.append(" ".join(map(str, a))))
    return cfg, root / "run", code, log


def test_every_stage_writes_its_artifacts(pipeline_run):
    _, run, code, log = pipeline_run
    assert code == 0, "\n".join(log)
    for rel in ("model/weights.pt", "metrics.json", "model.tflite", "model.onnx", "verify.json", "model_io.json",
                "firmware/project.json", "firmware/measure.json", "check.json", "check.junit.xml",
                "report/report.md", "report/roc.png", "report/cycles_per_stage.png", "report/budget.png",
                "report/widths.png"):
        assert (run / rel).is_file(), rel
    verify = json.loads((run / "verify.json").read_text())
    assert verify["macs"]["equal"]  # analytic MACs == TFLite MACs, op for op
    m = json.loads((run / "firmware" / "measure.json").read_text())
    assert {"frontend", "quantize", "postproc"} <= {s["name"] for s in m["stages"]}
    assert "WITHIN" in log[-1]


def test_second_run_is_cached(pipeline_run):
    cfg, run, _, _ = pipeline_run
    log: list[str] = []
    code = run_pipeline(cfg, run, progress=False, log=lambda *a, **k: log.append(" ".join(map(str, a))))
    assert code == 0
    for stage in ("train", "convert", "firmware", "measure"):
        assert f"[{stage}] up to date" in log, log


def test_check_cli_on_the_run_folder(pipeline_run, capsys):
    _, run, _, _ = pipeline_run
    assert main(["check", str(run)]) == 0  # the run's own budget (cpu_load 0.9)
    assert main(["check", str(run), "--cpu-load", "0.001", "--junit", str(run / "over.xml")]) == 1
    assert "failure" in (run / "over.xml").read_text()
    assert main(["check", str(run / "nope")]) == 2


def test_eval_scores_the_int8_model_like_the_firmware(pipeline_run):
    """`noisebudget eval --model RUN/model.tflite`: numpy front end -> float input stage -> TFLM step model."""
    import numpy as np

    from convert.keras_vad import model_inputs
    from convert.tflite_run import StepRunner
    from convert.tflite_scorer import tflite_scorer
    from train.data.corpus import load_manifest, read_clip
    from train.frontend import features_numpy
    from train.run_dir import load_model

    cfg, run, _, _ = pipeline_run
    corpus = cfg.corpus.dir
    clip = next(c for c in load_manifest(corpus) if c.split == "test")
    audio, _ = read_clip(corpus, clip)
    scorer = tflite_scorer(run / "model.tflite")
    got = scorer.score_clip(audio)
    model = load_model(run)
    feats = features_numpy(audio)[:, model.desc["mel_bands"]]
    want = StepRunner((run / "model.tflite").read_bytes(), "tflm").run_clip(model_inputs(model, feats))[1]
    assert np.array_equal(got, want.astype(np.float64))
    assert scorer.model_cost.macs_per_10ms == json.loads((run / "verify.json").read_text())["macs"]["tflite_total"]
    assert main(["eval", "--corpus", corpus, "--peers", "none", "--model", str(run / "model.tflite"),
                 "--out", str(run / "eval"), "--no-progress"]) == 0
    assert (run / "eval" / "roc.png").is_file()
    assert main(["eval", "--corpus", corpus, "--peers", "none", "--model", str(run / "model.onnx"),
                 "--out", str(run / "eval2")]) == 2  # no loader for .onnx: a clear usage error
