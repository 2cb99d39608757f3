"""Verification of a converted VAD step model (`verify.json`).

- ONNX (float) vs torch, streamed over a clip: max |prob difference| (<= 1e-4 required).
- torch float vs TFLite float vs TFLite int8 streamed over whole evaluation clips: frame-level AUC;
  the int8 AUC drop vs float (<= 0.005 required for the default model).
- LiteRT vs TFLM on the int8 model: whole clips streamed through both (each feeding back its own state),
  and op by op (every operator output exposed as a subgraph output, both fed the same inputs each hop).
  TFLM is the ground truth; any difference is reported with the op, its size and the max LSB difference.
- Analytic MACs (the training cost model) vs the inspector's count of the .tflite, op for op.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convert.keras_vad import model_inputs
from convert.ops import op_cost
from convert.tflite_export import onnx_max_abs_diff
from convert.tflite_ir import read_tflite
from convert.tflite_run import StepRunner, with_all_outputs
from train.metrics import auc
from train.vad_model import StreamingVAD

ONNX_TOL = 1e-4
AUC_DROP_TOL = 0.005


def tflite_macs_by_op(model_bytes: bytes) -> list[dict[str, Any]]:
    m = read_tflite(model_bytes)
    sg = m.main
    rows = []
    for i, op in enumerate(sg.operators):
        c = op_cost(sg, op)
        if c.macs:
            rows.append({"index": i, "op": op.name, "macs": int(c.macs)})
    return rows


def analytic_macs_by_layer(model: StreamingVAD) -> list[dict[str, Any]]:
    """Per-layer MACs of one step from the layer specs (k * c_in/groups * c_out, one output position)."""
    rows = []
    for s in model.specs:
        per = s["kernel"] * (s["in"] // s["groups"]) * s["out"]
        rows.append({"layer": s["name"], "op": s["op"], "macs": int(per)})
    return rows


def compare_macs(model: StreamingVAD, model_bytes: bytes) -> dict[str, Any]:
    ana = analytic_macs_by_layer(model)
    tfl = tflite_macs_by_op(model_bytes)
    pairs = []
    for a, t in zip(ana, tfl, strict=False):
        pairs.append({"layer": a["layer"], "analytic": a["macs"], "tflite_op": t["op"], "tflite_index": t["index"],
                      "tflite": t["macs"], "equal": a["macs"] == t["macs"]})
    ok = len(ana) == len(tfl) and all(p["equal"] for p in pairs)
    return {"equal": ok, "analytic_total": sum(a["macs"] for a in ana), "tflite_total": sum(t["macs"] for t in tfl),
            "per_op": pairs}


@torch.no_grad()
def _torch_probs(model: StreamingVAD, feats: np.ndarray) -> np.ndarray:
    return torch.sigmoid(model(torch.from_numpy(np.asarray(feats, np.float32))[None]))[0].numpy()


def compare_auc(model: StreamingVAD, int8_bytes: bytes, float_bytes: bytes,
                clips: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """clips: (log-mel [T, K] of the kept bands, labels [T]). Streams each through the three models (the
    TFLite models get the float input stage's deltas, as the firmware does)."""
    f_run = StepRunner(float_bytes, "litert")
    q_run = StepRunner(int8_bytes, "litert")
    labels, s_torch, s_float, s_int8 = [], [], [], []
    for feats, lab in clips:
        labels.append(lab)
        s_torch.append(_torch_probs(model, feats))
        d = model_inputs(model, feats)
        s_float.append(f_run.run_clip(d)[1])
        s_int8.append(q_run.run_clip(d)[1])
    y = np.concatenate(labels)
    out = {
        "frames": int(y.size),
        "clips": len(clips),
        "auc_torch_float": auc(y, np.concatenate(s_torch)),
        "auc_tflite_float": auc(y, np.concatenate(s_float)),
        "auc_tflite_int8": auc(y, np.concatenate(s_int8)),
        "max_abs_diff_torch_vs_tflite_float": float(np.max(np.abs(np.concatenate(s_torch) - np.concatenate(s_float)))),
    }
    out["auc_drop_int8"] = out["auc_torch_float"] - out["auc_tflite_int8"]
    out["auc_drop_ok"] = bool(out["auc_drop_int8"] <= AUC_DROP_TOL)
    return out


def compare_interpreters(int8_bytes: bytes, clips: list[np.ndarray], *, op_steps: int = 200) -> dict[str, Any]:
    """LiteRT vs TFLM on whole clips of model frames (own state feedback) and op by op over `op_steps` hops."""
    lit, mic = StepRunner(int8_bytes, "litert"), StepRunner(int8_bytes, "tflm")
    whole = {"clips": len(clips), "frames": 0, "frames_differing": 0, "max_lsb": 0}
    for feats in clips:
        a, _ = lit.run_clip(feats)
        b, _ = mic.run_clip(feats)
        d = np.abs(a.astype(np.int32) - b.astype(np.int32))
        whole["frames"] += int(d.size)
        whole["frames_differing"] += int(np.count_nonzero(d))
        whole["max_lsb"] = max(whole["max_lsb"], int(d.max(initial=0)))
    # op by op: every op output exposed; both fed TFLM's state each hop
    aug, extra = with_all_outputs(int8_bytes)
    m = read_tflite(int8_bytes)
    producer = {}
    for i, op in enumerate(m.main.operators):
        for t in op.outputs:
            producer[t] = (i, op.name)
    lit_a, mic_a = StepRunner(aug, "litert", iomap=mic.iomap), StepRunner(aug, "tflm", iomap=mic.iomap)
    pos = {t: i for i, t in enumerate(list(m.outputs) + extra)}  # tensor -> augmented output position
    stats: dict[int, dict[str, Any]] = {}
    state = mic_a.init_state()
    feats_all = np.concatenate(clips)[:op_steps] if clips else np.zeros((0, 1), np.float32)
    for t in range(feats_all.shape[0]):
        fq = mic_a.quantize_frame(feats_all[t])
        _, new_state, outs_m = mic_a.step_raw(fq, state)
        _, _, outs_l = lit_a.step_raw(fq, state)
        for ti, j in pos.items():
            a, b = outs_l[j], outs_m[j]
            d = np.abs(a.astype(np.int64) - b.astype(np.int64))
            i, name = producer[ti]
            s = stats.setdefault(i, {"index": i, "op": name, "tensor": m.tensors[ti].name, "size": int(a.size),
                                     "elements_differing": 0, "max_lsb": 0})
            s["elements_differing"] += int(np.count_nonzero(d))
            s["max_lsb"] = max(s["max_lsb"], int(d.max(initial=0)))
        state = new_state
    per_op = [stats[k] for k in sorted(stats)]
    return {
        "whole_clips": whole,
        "whole_clips_bit_exact": whole["frames_differing"] == 0,
        "op_steps": int(feats_all.shape[0]),
        "per_op": per_op,
        "ops_bit_exact": all(s["elements_differing"] == 0 for s in per_op),
        "note": "TFLM is the ground truth (double rounding); LiteRT reference kernels may use single rounding "
                "on FULLY_CONNECTED and differ by a few LSB.",
    }


def verify(model: StreamingVAD, int8_bytes: bytes, float_bytes: bytes, onnx_bytes: bytes,
           eval_clips: list[tuple[np.ndarray, np.ndarray]], *, interp_clips: int = 3) -> dict[str, Any]:
    first = eval_clips[0][0] if eval_clips else np.zeros((50, model.n_inputs), np.float32)
    onnx_diff = onnx_max_abs_diff(model, onnx_bytes, first[:300])
    res = {
        "onnx_max_abs_diff": onnx_diff,
        "onnx_ok": bool(onnx_diff <= ONNX_TOL),
        "macs": compare_macs(model, int8_bytes),
        "auc": compare_auc(model, int8_bytes, float_bytes, eval_clips),
        "litert_vs_tflm": compare_interpreters(int8_bytes,
                                               [model_inputs(model, f) for f, _ in eval_clips[:interp_clips]]),
    }
    res["ok"] = bool(res["onnx_ok"] and res["macs"]["equal"] and res["auc"]["auc_drop_ok"])
    return res
