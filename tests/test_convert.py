"""Conversion of a consolidated VAD step model: Keras rebuild, int8 TFLite, ONNX, verification."""

import numpy as np
import pytest
import torch

from convert.keras_vad import build_keras_step, core_model, keras_step, model_inputs, torch_state_to_keras
from convert.tflite_export import export_onnx, export_tflite, onnx_max_abs_diff
from convert.tflite_ir import read_tflite
from convert.tflite_run import StepRunner, io_map
from convert.verify import compare_interpreters, compare_macs, verify
from train.vad_model import VADArch, VADNet


def _model(seed=0, mels=10, channels=(12, 8, 8), kappa=(0.7, 0.75, 0.5, 1.0)):
    torch.manual_seed(seed)
    arch = VADArch(n_mels=mels, channels=list(channels), first_kernel=3, kernel=3, dilations=[1, 2])
    net = VADNet(arch)
    with torch.no_grad():
        for w, k in zip(net.all_widths(), kappa, strict=True):
            if hasattr(w, "kappa"):
                w.kappa.fill_(k)
        net.set_normalization(torch.randn(mels), torch.rand(mels) + 0.5)
        net.set_ema_init(torch.randn(mels))
    return net.eval().consolidate()


def _feats(model, n=3, t=120, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = rng.normal(size=(t, model.n_inputs)).astype(np.float32)
        f = np.cumsum(f, axis=0) * 0.2  # smooth, speech-like correlation over time
        lab = (rng.random(t) < 0.5).astype(np.uint8)
        out.append((f, lab))
    return out


@pytest.fixture(scope="module")
def converted():
    m = _model()
    clips = _feats(m)
    i8, f32 = export_tflite(m, [f for f, _ in clips], n_samples=200)
    return m, clips, i8, f32


def test_keras_step_equals_torch_step():
    m = _model(seed=3)
    assert m.ema_alpha > 0  # the float input stage is exercised
    k = build_keras_step(m)
    feats = _feats(m, n=1, t=40)[0][0]
    d = model_inputs(m, feats)
    st_t = m.init_state(1)
    st_k = torch_state_to_keras(core_model(m).init_state(1))
    for t in range(feats.shape[0]):
        p_t, st_t = m.step(torch.from_numpy(feats[t : t + 1]), st_t)
        p_k, st_k = keras_step(k, d[t], st_k)
        assert np.max(np.abs(p_k - p_t.detach().numpy())) < 1e-5


def test_int8_graph_ops_and_state_quantization(converted):
    m, _, i8, _ = converted
    ir = read_tflite(i8)
    names = ir.op_names()
    assert set(names) <= {"MUL", "ADD", "RESHAPE", "CONCATENATION", "STRIDED_SLICE", "CONV_2D",
                          "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "LOGISTIC"}
    io = io_map(i8)
    assert len(io.states_in) == len(core_model(m).init_state(1)) == len(io.states_out)
    for pi, po in zip(io.states_in, io.states_out, strict=True):
        ti, to = ir.tensors[ir.inputs[pi]], ir.tensors[ir.outputs[po]]
        assert ti.dtype == np.int8 and to.dtype == np.int8
        assert ti.shape == to.shape
        # state out must be feedable as state in, bit for bit
        assert float(ti.quantization.scale[0]) == float(to.quantization.scale[0])
        assert int(ti.quantization.zero_point[0]) == int(to.quantization.zero_point[0])


def test_analytic_macs_equal_tflite_macs_op_for_op(converted):
    m, _, i8, _ = converted
    res = compare_macs(m, i8)
    assert res["equal"], res
    from train.vad_model import step_cost

    assert res["tflite_total"] == step_cost(m)["macs_per_hop"]


def test_onnx_matches_torch():
    m = _model(seed=5)
    feats = _feats(m, n=1, t=60)[0][0]
    assert onnx_max_abs_diff(m, export_onnx(m), feats) <= 1e-4


def test_litert_vs_tflm_whole_clip_and_per_op(converted):
    _, clips, i8, _ = converted
    m = converted[0]
    res = compare_interpreters(i8, [model_inputs(m, f) for f, _ in clips[:2]], op_steps=40)
    # Conv-only graphs agree bit for bit; FC may differ by a few LSB (reported per op, never hidden)
    for s in res["per_op"]:
        if s["op"] != "FULLY_CONNECTED":
            assert s["elements_differing"] == 0, s
        assert s["max_lsb"] <= 2, s
    assert res["op_steps"] == 40 and len(res["per_op"]) == len(read_tflite(i8).operators)


def test_int8_stream_tracks_float(converted):
    m, clips, i8, f32 = converted
    feats = clips[0][0]
    d = model_inputs(m, feats)
    p8 = StepRunner(i8, "tflm").run_clip(d)[1]
    pf = StepRunner(f32, "litert").run_clip(d)[1]
    with torch.no_grad():
        pt = torch.sigmoid(m(torch.from_numpy(feats)[None]))[0].numpy()
    assert np.max(np.abs(pf - pt)) < 1e-4
    assert np.max(np.abs(p8 - pt)) < 0.1


def test_verify_report(converted):
    m, clips, i8, f32 = converted
    rep = verify(m, i8, f32, export_onnx(m), clips, interp_clips=1)
    assert rep["onnx_ok"] and rep["macs"]["equal"]
    assert rep["auc"]["frames"] == sum(len(lab) for _, lab in clips)
