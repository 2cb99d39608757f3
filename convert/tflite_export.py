"""Consolidated StreamingVAD -> Keras step model -> TFLite (float and full-integer int8) and ONNX.

int8: per-channel weights, int8 input and output, representative data = (frame, state) pairs taken
from streaming the float model over clips of the training split, so every state tensor is calibrated
on the values it really holds.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from convert.keras_vad import FRAME, build_keras_step, core_model, model_inputs, state_name, torch_state_to_keras
from train.errors import ConversionError
from train.vad_model import StreamingVAD


@torch.no_grad()
def calibration_samples(
    model: StreamingVAD, feats: list[np.ndarray], *, n_samples: int = 400, crop: int = 400, seed: int = 0
) -> list[dict[str, np.ndarray]]:
    """(frame, state) pairs from streaming the float core model over crops of `feats` ([T, K] log-mel each):
    frames are the input-stage deltas d, states the conv buffers they lead to."""
    if not feats:
        raise ConversionError("no representative data: the training split has no clips")
    rng = np.random.default_rng(seed)
    crops = []
    for f in feats:
        d = model_inputs(model, np.asarray(f, np.float32))
        if d.shape[0] > crop:
            s = int(rng.integers(0, d.shape[0] - crop + 1))
            d = d[s : s + crop]
        crops.append(d)
    length = max(c.shape[0] for c in crops)
    batch = np.stack([np.pad(c, ((0, length - c.shape[0]), (0, 0)), mode="edge") for c in crops])
    x = torch.from_numpy(batch)
    model = core_model(model)
    state = model.init_state(x.shape[0])
    per_t = max(1, int(np.ceil(n_samples / length)))
    samples: list[dict[str, np.ndarray]] = []
    for t in range(length):
        frame = x[:, t]
        pick = rng.choice(x.shape[0], size=min(per_t, x.shape[0]), replace=False)
        ks = torch_state_to_keras(state)
        for b in pick:
            d = {FRAME: frame[b : b + 1].numpy().astype(np.float32)}
            for i, s in enumerate(ks):
                d[state_name(i)] = s[b : b + 1]
            samples.append(d)
        _, state = model.step(frame, state)
    idx = rng.permutation(len(samples))[:n_samples]
    return [samples[i] for i in sorted(idx)]


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def to_tflite(kmodel, samples: list[Any] | None) -> bytes:
    """Convert a Keras model: int8 full-integer (per-channel, int8 in/out) calibrated on `samples` (each one
    representative-dataset item: a dict by input name or a list of input arrays) when given, else float32."""
    _quiet_tf()
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(kmodel)
    if samples is not None:

        def rep() -> Iterator[Any]:
            yield from samples

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    try:
        return bytes(conv.convert())
    except Exception as e:  # the converter raises many types; name the stage
        raise ConversionError(f"TFLiteConverter failed: {e}") from e


def export_tflite(model: StreamingVAD, calib_feats: list[np.ndarray], *, seed: int = 0,
                  n_samples: int = 400) -> tuple[bytes, bytes]:
    """(int8 model bytes, float model bytes) of the streaming step."""
    kmodel = build_keras_step(model)
    samples = calibration_samples(model, calib_feats, n_samples=n_samples, seed=seed)
    return to_tflite(kmodel, samples), to_tflite(kmodel, None)


class _OnnxStep(torch.nn.Module):
    def __init__(self, model: StreamingVAD) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, *state: torch.Tensor):
        prob, new = self.model.step(frame, list(state))
        return (prob, *new)


def export_onnx(model: StreamingVAD) -> bytes:
    """Float ONNX of the streaming step (including the input stage): inputs frame [1, K] (log-mel), state_i
    ([1, K] running level if the model has one, then [1, F_i, C_i] conv buffers); outputs prob, new states."""
    model = model.eval()
    frame = torch.zeros(1, model.n_inputs)
    state = model.init_state(1)
    n = len(state)
    buf = io.BytesIO()
    torch.onnx.export(
        _OnnxStep(model), (frame, *state), buf, dynamo=False, opset_version=17,
        input_names=["frame", *[f"state{i}" for i in range(n)]],
        output_names=["prob", *[f"new_state{i}" for i in range(n)]],
    )
    return buf.getvalue()


def onnx_max_abs_diff(model: StreamingVAD, onnx_bytes: bytes, feats: np.ndarray) -> float:
    """Stream `feats` [T, K] through torch and onnxruntime; max |prob difference|."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    state_t = model.init_state(1)
    state_o = [s.numpy() for s in state_t]
    worst = 0.0
    with torch.no_grad():
        for t in range(feats.shape[0]):
            fr = torch.from_numpy(np.asarray(feats[t : t + 1], np.float32))
            p_t, state_t = model.step(fr, state_t)
            feed = {"frame": fr.numpy(), **{f"state{i}": s for i, s in enumerate(state_o)}}
            out = sess.run(None, feed)
            state_o = out[1:]
            worst = max(worst, float(np.max(np.abs(out[0] - p_t.numpy()))))
    return worst
