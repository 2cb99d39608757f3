"""Generated VAD firmware: streaming bit-exactness of the C library (host, sanitizers) against the TFLite Micro
step interpreter (raw int8 probability and every state, per hop), post-processing, the audio path (C float32
front end vs numpy), end-to-end on QEMU mps2-an386 (Cortex-M4), cross builds and measurement."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from convert.codegen import Options, generate
from convert.keras_vad import model_inputs
from convert.tflite_run import StepRunner
from tests.firmware_fixtures import cached_vad_run, clip_features, vad_clip
from train.postproc import PostProcConfig, decisions, quantized_threshold
from train.run_dir import load_model


@pytest.fixture(scope="module")
def vad_run(tmp_path_factory):
    return cached_vad_run(tmp_path_factory.mktemp("vadrun") / "run")


def _make(out: Path, *targets: str, defs: str = "") -> None:
    cmd = ["make", "-s", "-B", "-C", str(out), *targets]
    if defs:
        cmd.append(f"APP_DEFS={defs}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stderr.lower(), r.stderr


def _parse(text: str) -> dict:
    hops, frames, states = [], [], {}
    for line in text.splitlines():
        p = line.split()
        if p[:1] == ["H"]:
            hops.append((int(p[1]), int(p[2]), int(p[3]), int(p[4])))
        elif p[:1] == ["F"]:
            frames.append(np.frombuffer(bytes.fromhex(p[2]), np.int8))
        elif p[:1] == ["S"]:
            states[(int(p[1]), int(p[2]))] = np.frombuffer(bytes.fromhex(p[3]), np.int8)
    return {"hops": hops, "frames": frames, "states": states, "q": np.array([h[1] for h in hops]),
            "dec": np.array([h[3] for h in hops], np.uint8)}


def _model_bytes(run: Path) -> bytes:
    return (run / "model.tflite").read_bytes()


def _replay(runner: StepRunner, frames: list[np.ndarray]) -> tuple[list[int], list[list[np.ndarray]]]:
    st = runner.init_state()
    qs, states = [], []
    for f in frames:
        q, st, _ = runner.step_raw(f.reshape(1, -1), st)
        qs.append(int(np.asarray(q).reshape(-1)[0]))
        states.append([np.asarray(s).reshape(-1) for s in st])
    return qs, states


def test_vad_host_stream_bit_exact_to_tflm_with_states_and_postproc(vad_run, tmp_path):
    cfg = PostProcConfig(threshold=0.37, onset_hops=2, hangover_hops=5)
    clip = vad_clip(3.0, seed=4)
    out = tmp_path / "fw"
    info = generate(vad_run, out, Options(clip=clip, threshold=cfg.threshold, onset_hops=cfg.onset_hops,
                                          hangover_hops=cfg.hangover_hops, tflm_arena=False))
    _make(out, "host", defs="-DNB_APP_PRINT_FRAMES=1 -DNB_APP_PRINT_STATE=1")
    r = subprocess.run([str(out / "build/host/app")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    got = _parse(r.stdout)
    n = len(clip) // 160
    assert len(got["hops"]) == len(got["frames"]) == n
    runner = StepRunner(_model_bytes(vad_run), "tflm")
    qs, states = _replay(runner, got["frames"])
    assert got["q"].tolist() == qs  # raw int8 probability, every hop
    for t in range(n):
        for k, s in enumerate(states[t]):
            assert np.array_equal(got["states"][(t, k)], s), (t, k)
    q_on = quantized_threshold(cfg.threshold, info["vad"]["prob_scale"], info["vad"]["prob_zero_point"])
    assert info["vad"]["q_on"] == q_on
    assert np.array_equal(got["dec"], decisions(got["q"], q_on, cfg))
    assert 0 < got["dec"].sum() < n  # both decisions occur
    probs = np.array([h[2] for h in got["hops"]]) / 1e6
    assert np.allclose(probs, runner.dequantize_prob(got["q"]), atol=1e-6)


def test_vad_config_threshold_quantization_in_c(vad_run, tmp_path):
    out = tmp_path / "fw"
    info = generate(vad_run, out, Options(clip_seconds=0.1, tflm_arena=False))
    thresholds = [0.01, 0.1, 0.25, 0.37, 0.5, 0.5001, 0.7, 0.9, 0.99]
    (out / "app" / "main.c").write_text(
        '#include <stdio.h>\n#include "nb_vad.h"\nint main(void) {\n    nb_vad_config_t c;\n'
        f"    static const double th[{len(thresholds)}] = {{{', '.join(map(repr, thresholds))}}};\n"
        "    unsigned i;\n    nb_vad_default_config(&c);\n    c.threshold = 1.5;\n"
        '    printf("bad %d\\n", nb_vad_init(&c));\n'
        f"    for (i = 0; i < {len(thresholds)}u; ++i) {{\n        nb_vad_default_config(&c);\n"
        "        c.threshold = th[i];\n        if (nb_vad_init(&c) != 0) return 1;\n"
        '        printf("%d\\n", (int)nb_vad_q_on());\n    }\n    return 0;\n}\n')
    _make(out, "host")
    r = subprocess.run([str(out / "build/host/app")], capture_output=True, text=True, check=True)
    lines = r.stdout.split()
    assert lines[:2] == ["bad", "-1"]
    v = info["vad"]
    assert [int(x) for x in lines[2:]] == [quantized_threshold(t, v["prob_scale"], v["prob_zero_point"])
                                           for t in thresholds]


def test_vad_qemu_m4_end_to_end_and_audio_path(vad_run, tmp_path):
    clip = vad_clip(2.0, seed=0)
    out = tmp_path / "fw"
    info = generate(vad_run, out, Options(clip=clip, tflm_arena=False))
    _make(out, "m4", defs="-DNB_APP_PRINT_FRAMES=1")
    r = subprocess.run(["make", "-s", "-C", str(out), "run-qemu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = _parse(r.stdout)
    n = len(clip) // 160
    assert len(got["hops"]) == n and f"NB_DONE {n}" in r.stdout
    assert r.stdout.count("NB_CYCLES hop=") == n
    runner = StepRunner(_model_bytes(vad_run), "tflm")
    # exactness: the model given the firmware's own int8 frames
    qs, _ = _replay(runner, got["frames"])
    assert got["q"].tolist() == qs
    cfg = PostProcConfig()
    q_on = info["vad"]["q_on"]
    assert np.array_equal(got["dec"], decisions(got["q"], q_on, cfg))
    # audio path: C float32 front end + C quantization vs numpy front end + StepRunner quantization
    feats = model_inputs(load_model(vad_run), clip_features(clip))  # the float input stage, as in C
    ref_frames = np.stack([runner.quantize_frame(feats[t]).reshape(-1) for t in range(n)]).astype(int)
    diff = np.abs(np.stack(got["frames"]).astype(int) - ref_frames)
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.01, (diff.max(), (diff > 0).mean())
    ref_q, _ = runner.run_clip(feats)
    ref_dec = decisions(ref_q, q_on, cfg)
    assert (ref_dec == got["dec"]).mean() >= 0.99


def test_vad_cross_builds_and_measurement(vad_run, tmp_path):
    out = tmp_path / "fw"
    generate(vad_run, out, Options(clip_seconds=0.3, target="cortex-m55", tflm_arena=False))
    _make(out, "m4", "m7", "m55")
    from convert.measure import build_project, load_project, measure_elf

    proj = load_project(out)
    assert proj.board == "mps3-an547"
    elf = build_project(proj, proj.board)
    m = measure_elf(elf, board=proj.board, table="cortex-m55", stage_names=proj.stages, warmup=1)
    names = {s.name for s in m.stages}
    assert {"frontend", "quantize", "state", "postproc", "op0_reshape"} <= names
    assert m.hops_total == 30
    fe = next(s for s in m.stages if s.name == "frontend")
    assert fe.insns_per_hop_mean > 1000
