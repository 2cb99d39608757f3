"""Consolidated anti-spoofing CNN (`train.spoof_model.SpoofCNN`) -> Keras -> float / int8 TFLite, ONNX, verified.

The int8 model scores one window: input `window` [1, T, K] int8 (the normalised log-mel of the kept bands,
i.e. `SpoofCNN.normalize`: optional per-band mean removal over the window ("cmn"), then a fixed per-band affine
map; the float input stage that runs next to the front end), output the int8 bona fide
logit [1, 1]. Graph (TFLite Micro builtins only): RESHAPE -> CONV_2D (stem, fused RELU) -> per residual block
CONV_2D (k x 1, stride, RELU), CONV_2D (k x 1), [CONV_2D 1x1 projection], ADD (fused RELU) -> MEAN over time ->
FULLY_CONNECTED. Time is the H axis, W = 1, mel bands / channels are C (channels-last). Where PyTorch's
symmetric padding is not TFLite's SAME padding for the layer's input length, an explicit PAD + VALID is used.

Artifacts written by `convert_spoof_run(run_dir)` (atomically):
    model.tflite (int8, per-channel weights, int8 in/out, calibrated on training windows), model_float.tflite,
    model.onnx (float core model, checked with onnxruntime), spoof_io.json (kept bands, input stage,
    window, quantization of input/output), verify.json:
    - MACs: analytic (the training cost model's exact count) vs the .tflite op for op (as a sorted multiset)
    - EER (pooled / seen / unseen) of torch float, TFLite float and TFLite int8 (TFLM) on the eval split
    - LiteRT vs TFLM on the int8 model: whole-model outputs and every op output (with_all_outputs)
    - ONNX vs torch max |logit difference|
No model_io.json is written: that file marks a streaming VAD for the code generator, while a spoof model is a
plain int8 model (`nb_model_invoke` on one window).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train.errors import ConversionError
from train.spoof_model import SpoofCNN

INT8 = "model.tflite"
FLOAT = "model_float.tflite"
ONNX = "model.onnx"
IO = "spoof_io.json"
VERIFY = "verify.json"
ONNX_TOL = 1e-4
EER_DROP_TOL = 0.02
TFLM_ARENA = 1 << 22


def _same_matches(length: int, k: int, s: int, p: int) -> bool:
    out_t = (length + 2 * p - k) // s + 1
    out_s = -(-length // s)
    total = max((out_s - 1) * s + k - length, 0)
    return out_t == out_s and total // 2 == p and total - total // 2 == p


def _check_plain(model: SpoofCNN) -> None:
    for i, b in enumerate(model.blocks):
        if not bool(torch.all(b.post_scale == 1)):
            raise ConversionError(f"spoof model block {i}: residual output scale != 1 (widths not snapped to "
                                  "integers); export needs a trained (snapped) model")


def build_keras(model: SpoofCNN):  # -> tf.keras.Model
    """Keras model of `SpoofCNN.core` (normalised window -> logit), batch 1, channels-last."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    _check_plain(model)
    T, K = model.window_frames, model.n_inputs
    inp = tf.keras.Input((T, K), batch_size=1, name="window")
    x = tf.keras.layers.Reshape((T, 1, K), name="to_nhwc")(inp)
    length = T

    def conv(x, mod: torch.nn.Conv1d, name: str, act: str | None, scale_in: np.ndarray | None = None):
        nonlocal length
        k, s, p = mod.kernel_size[0], mod.stride[0], mod.padding[0]
        w = mod.weight.detach().numpy().astype(np.float32)  # [out, in, k]
        if scale_in is not None:
            w = w * scale_in[None, :, None]
        b = mod.bias.detach().numpy().astype(np.float32)
        pad = "same" if _same_matches(length, k, s, p) else "valid"
        if pad == "valid" and p > 0:
            x = tf.keras.layers.ZeroPadding2D(((p, p), (0, 0)), name=f"{name}_pad")(x)
        layer = tf.keras.layers.Conv2D(w.shape[0], (k, 1), strides=(s, 1), padding=pad, activation=act, name=name)
        y = layer(x)
        layer.set_weights([np.transpose(w, (2, 1, 0))[:, None, :, :], b])  # [k, 1, in, out]
        return y, (length + 2 * p - k) // s + 1

    in_scale = model.in_scale.detach().numpy().astype(np.float32)
    x, length = conv(x, model.stem, "stem", "relu", None if np.all(in_scale == 1) else in_scale)
    for i, blk in enumerate(model.blocks):
        l0 = length
        h, l1 = conv(x, blk.conv1, f"b{i}_conv1", "relu")
        length = l1
        h, _ = conv(h, blk.conv2, f"b{i}_conv2", None)
        if blk.proj is not None:
            length = l0
            sc, _ = conv(x, blk.proj, f"b{i}_proj", None)
        else:
            sc = x
        length = l1
        x = tf.keras.layers.Add(name=f"b{i}_add")([h, sc])
        x = tf.keras.layers.ReLU(name=f"b{i}_relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    dense = tf.keras.layers.Dense(1, name="logit")
    y = dense(x)
    dense.set_weights([model.head.weight.detach().numpy().T.astype(np.float32),
                       model.head.bias.detach().numpy().astype(np.float32)])
    return tf.keras.Model(inp, y, name="noisebudget_spoof")


def to_tflite(kmodel, samples: np.ndarray | None) -> bytes:
    """float32 TFLite, or full-integer int8 (per-channel, int8 in/out) calibrated on `samples` [N, T, K]."""
    from convert.tflite_export import to_tflite as convert_keras

    reps = None if samples is None else [[s[None].astype(np.float32)] for s in samples]
    return convert_keras(kmodel, reps)


class _Core(torch.nn.Module):
    def __init__(self, model: SpoofCNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.core(x)[:, None]


def export_onnx(model: SpoofCNN) -> bytes:
    buf = io.BytesIO()
    x = torch.zeros(1, model.window_frames, model.n_inputs)
    torch.onnx.export(_Core(model.eval()), (x,), buf, dynamo=False, opset_version=17, input_names=["window"],
                      output_names=["logit"])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ running
class Runner:
    """One interpreter (TFLM or LiteRT reference kernels) of a one-input, one-output window model."""

    def __init__(self, model_bytes: bytes, backend: str = "tflm", *, all_outputs: bool = False) -> None:
        from convert.tflite_ir import read_tflite

        self.backend = backend
        self.bytes = model_bytes
        m = read_tflite(model_bytes)
        self.inp = m.tensors[m.inputs[0]]
        self.out = m.tensors[m.outputs[0]]
        self.n_out = len(m.outputs)
        if backend == "tflm":
            from tflite_micro.python.tflite_micro import runtime

            self._it = runtime.Interpreter.from_bytes(model_bytes, arena_size=TFLM_ARENA)
        elif backend == "litert":
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            self._it = Interpreter(model_content=model_bytes, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            self._it.allocate_tensors()
            self._in_idx = self._it.get_input_details()[0]["index"]
            self._out_idx = [d["index"] for d in self._it.get_output_details()]
        else:
            raise ValueError(f"unknown backend {backend!r}")

    def quantize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(self.inp.shape)
        if self.inp.dtype == np.float32:
            return x
        s, z = float(self.inp.quantization.scale[0]), int(self.inp.quantization.zero_point[0])
        return np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if self.out.dtype == np.float32:
            return np.asarray(q, np.float32)
        s, z = float(self.out.quantization.scale[0]), int(self.out.quantization.zero_point[0])
        return (np.asarray(q, np.float32) - z) * s

    def invoke_raw(self, xq: np.ndarray) -> list[np.ndarray]:
        it = self._it
        if self.backend == "tflm":
            it.set_input(np.ascontiguousarray(xq), 0)
            it.invoke()
            return [np.array(it.get_output(i)) for i in range(self.n_out)]
        it.set_tensor(self._in_idx, np.ascontiguousarray(xq))
        it.invoke()
        return [np.array(it.get_tensor(i)) for i in self._out_idx]

    def scores(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw outputs [N], dequantized logits [N]) of normalised windows [N, T, K]."""
        raw = np.array([self.invoke_raw(self.quantize(w))[0].reshape(-1)[0] for w in windows])
        return raw, self.dequantize(raw).astype(np.float64)


# ---------------------------------------------------------------------------------------- verification
def compare_macs(model: SpoofCNN, int8_bytes: bytes) -> dict[str, Any]:
    from convert.verify import tflite_macs_by_op
    from train.spoof_model import window_cost

    ana_layers = _traced_layer_macs(model)
    ana_layers.append({"layer": "head", "macs": int(model.head.in_features * model.head.out_features)})
    tfl = tflite_macs_by_op(int8_bytes)
    exact = window_cost(model)["macs_per_window"]
    a_sorted, t_sorted = sorted(r["macs"] for r in ana_layers), sorted(r["macs"] for r in tfl)
    return {"equal": a_sorted == t_sorted and exact == sum(t_sorted), "analytic_total": sum(a_sorted),
            "exact_total": exact, "tflite_total": sum(t_sorted), "analytic_per_layer": ana_layers,
            "tflite_per_op": tfl}


@torch.no_grad()
def _traced_layer_macs(model: SpoofCNN) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(mod, inp, out):
        rows.append({"layer": names[mod], "macs": int(mod.kernel_size[0] * mod.in_channels * out.shape[1]
                                                     * out.shape[2])})

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    try:
        model.core(torch.zeros(1, model.window_frames, model.n_inputs))
    finally:
        for h in hs:
            h.remove()
    return rows


def onnx_max_abs_diff(model: SpoofCNN, onnx_bytes: bytes, windows: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.no_grad():
        for w in windows:
            ref = model.core(torch.from_numpy(w[None].astype(np.float32))).numpy()
            got = sess.run(None, {"window": w[None].astype(np.float32)})[0].reshape(-1)
            worst = max(worst, float(np.max(np.abs(got - ref))))
    return worst


def compare_interpreters(int8_bytes: bytes, windows: np.ndarray, *, op_windows: int = 4) -> dict[str, Any]:
    """LiteRT vs TFLM (ground truth) on the int8 model: the logit of every window, and every op's output on
    the first `op_windows` windows."""
    from convert.tflite_ir import read_tflite
    from convert.tflite_run import with_all_outputs

    mic, lit = Runner(int8_bytes, "tflm"), Runner(int8_bytes, "litert")
    a = mic.scores(windows)[0].astype(np.int32)
    b = lit.scores(windows)[0].astype(np.int32)
    d = np.abs(a - b)
    whole = {"windows": int(len(windows)), "differing": int(np.count_nonzero(d)), "max_lsb": int(d.max(initial=0))}
    aug, extra = with_all_outputs(int8_bytes)
    m = read_tflite(int8_bytes)
    producer = {t: (i, op.name) for i, op in enumerate(m.main.operators) for t in op.outputs}
    mic_a, lit_a = Runner(aug, "tflm"), Runner(aug, "litert")
    stats: dict[int, dict[str, Any]] = {}
    pos = list(m.outputs) + extra
    for w in windows[:op_windows]:
        xq = mic_a.quantize(w)
        om, ol = mic_a.invoke_raw(xq), lit_a.invoke_raw(xq)
        for j, t in enumerate(pos):
            i, name = producer[t]
            dd = np.abs(om[j].astype(np.int64) - ol[j].astype(np.int64))
            s = stats.setdefault(i, {"index": i, "op": name, "tensor": m.tensors[t].name, "size": int(om[j].size),
                                     "elements_differing": 0, "max_lsb": 0})
            s["elements_differing"] += int(np.count_nonzero(dd))
            s["max_lsb"] = max(s["max_lsb"], int(dd.max(initial=0)))
    per_op = [stats[k] for k in sorted(stats)]
    return {"whole": whole, "whole_bit_exact": whole["differing"] == 0, "op_windows": min(op_windows, len(windows)),
            "per_op": per_op, "ops_bit_exact": all(s["elements_differing"] == 0 for s in per_op),
            "note": "TFLM is the ground truth (double rounding); LiteRT reference kernels may use single rounding "
                    "on FULLY_CONNECTED and differ by a few LSB."}


def compare_eer(model: SpoofCNN, int8_bytes: bytes, float_bytes: bytes, windows: np.ndarray,
                utts: list[Any]) -> dict[str, Any]:
    """EER summaries (`train.spoof_metrics.summarize`) of torch float, TFLite float and TFLite int8 (TFLM)
    on normalised windows [N, T, K]."""
    from train.spoof_metrics import summarize

    with torch.no_grad():
        s_torch = model.core(torch.from_numpy(windows)).numpy().astype(np.float64)
    s_float = Runner(float_bytes, "litert").scores(windows)[1]
    s_int8 = Runner(int8_bytes, "tflm").scores(windows)[1]
    out: dict[str, Any] = {"windows": int(len(windows))}
    for name, s in (("torch_float", s_torch), ("tflite_float", s_float), ("tflite_int8", s_int8)):
        out[name] = summarize(s, utts)
    out["max_abs_diff_torch_vs_tflite_float"] = float(np.max(np.abs(s_torch - s_float))) if len(s_torch) else 0.0
    out["eer_drop_int8"] = out["tflite_int8"]["pooled"] - out["torch_float"]["pooled"]
    out["eer_drop_ok"] = bool(not out["eer_drop_int8"] > EER_DROP_TOL)
    return out


def io_description(model: SpoofCNN, int8_bytes: bytes) -> dict[str, Any]:
    from convert.tflite_ir import read_tflite

    m = read_tflite(int8_bytes)

    def q(t) -> dict[str, Any]:
        return {"tensor": t.index, "name": t.name, "shape": list(t.shape), "dtype": str(np.dtype(t.dtype)),
                "scale": float(t.quantization.scale[0]), "zero_point": int(t.quantization.zero_point[0])}

    return {"task": "spoof", "window": q(m.tensors[m.inputs[0]]), "logit": q(m.tensors[m.outputs[0]]),
            "window_frames": model.window_frames, "window_seconds": model.window_seconds,
            "mel_bands": list(model.desc["mel_bands"]), "n_mels_full": int(model.desc["n_mels_full"]),
            "frontend": dict(model.desc.get("frontend") or {}),  # train.frontend.FrontEndSpec of the features
            "input_stage": {"level": model.input_norm, "norm_mean": [float(v) for v in model.norm_mean],
                            "norm_scale": [float(v) for v in model.norm_scale]},
            "score": "logit, higher = more bona fide"}


def convert_spoof(model: SpoofCNN, calib: np.ndarray, eval_windows: np.ndarray, eval_utts: list[Any],
                  out_dir: str | Path, *, interp_windows: int = 16) -> dict[str, Any]:
    """Convert, verify, write the artifacts. `calib`, `eval_windows`: normalised windows [N, T, K]."""
    from train.atomic import atomic_write_bytes, atomic_write_json

    out = Path(out_dir)
    t0 = time.perf_counter()
    kmodel = build_keras(model)
    int8_bytes = to_tflite(kmodel, np.asarray(calib, np.float32))
    float_bytes = to_tflite(kmodel, None)
    onnx_bytes = export_onnx(model)
    t_conv = time.perf_counter() - t0
    onnx_diff = onnx_max_abs_diff(model, onnx_bytes, eval_windows[:4])
    rep: dict[str, Any] = {
        "task": "spoof",
        "onnx_max_abs_diff": onnx_diff,
        "onnx_ok": bool(onnx_diff <= ONNX_TOL),
        "macs": compare_macs(model, int8_bytes),
        "eer": compare_eer(model, int8_bytes, float_bytes, eval_windows, eval_utts),
        "litert_vs_tflm": compare_interpreters(int8_bytes, eval_windows[:interp_windows]),
    }
    rep["ok"] = bool(rep["onnx_ok"] and rep["macs"]["equal"] and rep["eer"]["eer_drop_ok"])
    rep["seconds_convert"] = t_conv
    rep["seconds_total"] = time.perf_counter() - t0
    atomic_write_bytes(out / INT8, int8_bytes)
    atomic_write_bytes(out / FLOAT, float_bytes)
    atomic_write_bytes(out / ONNX, onnx_bytes)
    atomic_write_json(out / IO, io_description(model, int8_bytes))
    atomic_write_json(out / VERIFY, _finite(rep))
    return rep


def _finite(obj: Any) -> Any:
    from train.run_dir import _finite as f

    return f(obj)


def format_report(rep: dict[str, Any]) -> str:
    m, e, li = rep["macs"], rep["eer"], rep["litert_vs_tflm"]

    def eers(d: dict) -> str:
        return f"pooled {d['pooled']:.4f} seen {d['seen']:.4f} unseen {d['unseen']:.4f}"

    bad = [f"op {s['index']} {s['op']} ({s['size']} elems): {s['elements_differing']} differ, max {s['max_lsb']} LSB"
           for s in li["per_op"] if s["elements_differing"]]
    return "\n".join([
        f"MACs per window: analytic {m['analytic_total']:,} | exact {m['exact_total']:,} | TFLite "
        f"{m['tflite_total']:,} | op for op equal: {m['equal']}",
        f"EER ({e['windows']} windows): torch float {eers(e['torch_float'])}",
        f"                      TFLite float {eers(e['tflite_float'])}",
        f"                      TFLite int8  {eers(e['tflite_int8'])}  (drop {e['eer_drop_int8']:+.4f}, "
        f"{'ok' if e['eer_drop_ok'] else 'TOO LARGE'})",
        f"ONNX vs torch max |diff|: {rep['onnx_max_abs_diff']:.2e} ({'ok' if rep['onnx_ok'] else 'FAIL'})",
        f"LiteRT vs TFLM: {li['whole']['differing']}/{li['whole']['windows']} logits differ (max "
        f"{li['whole']['max_lsb']} LSB); op by op over {li['op_windows']} windows: "
        + ("bit-exact" if li["ops_bit_exact"] else "; ".join(bad)),
        f"conversion {rep['seconds_convert']:.1f} s, with verification {rep['seconds_total']:.1f} s",
    ])
