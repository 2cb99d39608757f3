"""Rebuild a consolidated `StreamingVAD` as a one-hop Keras model (batch 1, channels-last) with its weights.

The Keras model is the streaming step with the state as explicit inputs and outputs:

    inputs : frame [1, K] (the float input stage's output, see `model_inputs`), state_i [1, F_i, 1, C_i] for
             every conv with F_i > 0
    outputs: prob [1, 1], new_state_i [1, F_i, 1, C_i] (same order as the state inputs)

Ops (all TFLite Micro builtins): RESHAPE, per stateful conv
CONCATENATION (past frames + this frame, time axis) + STRIDED_SLICE (the new state) + CONV_2D /
DEPTHWISE_CONV_2D (VALID over time, dilation on the time axis, one output position), 1x1 CONV_2D for
pointwise convs, FULLY_CONNECTED + LOGISTIC for the head. Time is the H axis, W = 1.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from train.vad_model import StreamingVAD, ema_deltas

FRAME = "frame"


def core_model(model: StreamingVAD) -> StreamingVAD:
    """The model without its float input stage: the per-band running level (`ema_deltas`) and the per-band
    affine normalisation.

    The input stage runs in float next to the front end (in C: nb_vad.c): an int8 running mean with a small
    alpha would get stuck (alpha * d is below one LSB), and a normalised input uses the int8 range well and
    costs two flops per band instead of two int8 elementwise ops. `core_model(m).step(model_inputs(m, x)[t],
    conv_state)` equals `m.step(x[t], [ema] + conv_state)`."""
    core = copy.deepcopy(model).eval()
    core.ema_alpha = 0.0
    core.ema_init.zero_()
    core.norm_mean.zero_()
    core.norm_scale.fill_(1.0)
    return core


def model_inputs(model: StreamingVAD, feats: np.ndarray) -> np.ndarray:
    """Log-mel of the kept bands [T, K] -> the int8 model's float frames [T, K]: x = (d - mean) * scale with
    d from `ema_deltas` (float32, the same operations in the same order as `StreamingVAD.step`)."""
    return apply_input_stage(input_stage(model), feats)


def apply_input_stage(stage: dict[str, Any], feats: np.ndarray) -> np.ndarray:
    """The float input stage from its parameters (`input_stage`, as stored in model_io.json)."""
    k = feats.shape[1]
    d = ema_deltas(feats, np.asarray(stage.get("ema_init", [0.0] * k), np.float32), float(stage.get("ema_alpha", 0)))
    mean = np.asarray(stage.get("norm_mean", [0.0] * k), np.float32)
    scale = np.asarray(stage.get("norm_scale", [1.0] * k), np.float32)
    return ((d - mean) * scale).astype(np.float32)


def input_stage(model: StreamingVAD) -> dict[str, Any]:
    """Parameters of the float input stage, for model_io.json and the C code."""
    vals = lambda t: [float(v) for v in t.detach().numpy()]  # noqa: E731
    return {"ema_alpha": float(model.ema_alpha), "ema_init": vals(model.ema_init),
            "norm_mean": vals(model.norm_mean), "norm_scale": vals(model.norm_scale)}


def state_name(i: int) -> str:
    return f"state{i}"


def state_shapes(model: StreamingVAD) -> list[tuple[int, int, int, int]]:
    """Shapes [1, F, 1, C] of the state tensors, in input order."""
    return [(1, s["state_frames"], 1, s["in"]) for s in model.specs if s["state_frames"] > 0]


def torch_state_to_keras(state: list[Any]) -> list[np.ndarray]:
    """torch step state ([B, F, C] each) -> Keras/TFLite state arrays ([B, F, 1, C] float32)."""
    return [np.asarray(s.detach().cpu().numpy() if hasattr(s, "detach") else s, np.float32)[:, :, None, :]
            for s in state]


def build_keras_step(model: StreamingVAD):  # -> tf.keras.Model
    """Keras step of the core model (input: d, see `core_model`)."""
    import tensorflow as tf

    model = core_model(model)
    k = model.n_inputs
    frame = tf.keras.Input((k,), batch_size=1, name=FRAME)
    states, new_states = [], []
    x = tf.keras.layers.Reshape((1, 1, k), name="to_nhwc")(frame)
    si = 0
    for conv, spec in zip(model.convs, model.specs, strict=True):
        w = conv.weight.detach().numpy().astype(np.float32)  # [out, in/groups, k]
        b = conv.bias.detach().numpy().astype(np.float32)
        f, kk, d = spec["state_frames"], spec["kernel"], spec["dilation"]
        act = "relu" if spec["activation"] == "relu" else None
        name = spec["name"].replace(".", "_")
        if spec["op"] == "fully_connected":
            flat = tf.keras.layers.Reshape((spec["in"],), name=f"{name}_flat")(x)
            dense = tf.keras.layers.Dense(spec["out"], name=name)
            x = dense(flat)
            dense.set_weights([w[:, :, 0].T, b])
            if spec["activation"] == "logistic":
                x = tf.keras.layers.Activation("sigmoid", name="prob")(x)
            continue
        if f > 0:
            st = tf.keras.Input((f, 1, spec["in"]), batch_size=1, name=state_name(si))
            si += 1
            states.append(st)
            buf = tf.keras.layers.Concatenate(axis=1, name=f"{name}_buf")([st, x])
            new_states.append(buf[:, 1:])
            x = buf
        if spec["op"] == "depthwise_conv":
            layer = tf.keras.layers.DepthwiseConv2D((kk, 1), dilation_rate=(d, 1), padding="valid",
                                                    activation=act, name=name)
            x = layer(x)
            layer.set_weights([np.transpose(w, (2, 0, 1))[:, None, :, :], b])  # [k, 1, C, 1]
        else:
            layer = tf.keras.layers.Conv2D(spec["out"], (kk, 1), dilation_rate=(d, 1), padding="valid",
                                           activation=act, name=name)
            x = layer(x)
            layer.set_weights([np.transpose(w, (2, 1, 0))[:, None, :, :], b])  # [k, 1, in, out]
    return tf.keras.Model([frame, *states], [x, *new_states], name="noisebudget_vad_step")


def keras_step(kmodel, frame: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run the Keras step model once (float reference of the TFLite graph)."""
    out = kmodel([frame[None, :].astype(np.float32) if frame.ndim == 1 else frame, *state], training=False)
    out = [np.asarray(o) for o in out]
    return out[0], out[1:]
