"""Bit-exactness of the KERNELS-A int8 C kernels against the TFLite Micro interpreter.

Each kernel has a :class:`KernelSpec` (registered in ``tests.kernel_harness.REGISTRY`` so
benchmarks/fuzz_kernels.py can soak them): a random one-op Keras model spec, converted to int8,
run on random int8 inputs through TFLM and through our C kernel (compiled host driver).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convert import quant
from tests import kernel_harness as kh
from tests.kernel_harness import CCase, KernelSpec, ParsedOp, dims4, i32, scale, zp

# ----------------------------------------------------------------------------------------------
# random spec helpers


def _ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi, endpoint=True))


def _range(rng: np.random.Generator) -> tuple[float, float]:
    kind = rng.integers(0, 4)
    hi = float(10 ** rng.uniform(-1.5, 1.0))
    if kind == 0:
        return 0.0, hi  # non-negative (e.g. after ReLU)
    if kind == 1:
        return -hi, hi
    return -float(10 ** rng.uniform(-1.5, 1.0)), hi


def _act(rng: np.random.Generator) -> str | None:
    return [None, "relu", "relu6"][int(rng.integers(0, 3))]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _weights(seed: int, shape: tuple[int, ...], channel_axis: int) -> np.ndarray:
    """Weights with per-output-channel magnitudes spread over two decades (varied per-channel scales)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape)
    mags = 10 ** rng.uniform(-2.0, 0.3, size=shape[channel_axis])
    bshape = [1] * len(shape)
    bshape[channel_axis] = shape[channel_axis]
    w = w * mags.reshape(bshape)
    if rng.random() < 0.2:  # occasionally an all-zero channel
        idx = [slice(None)] * len(shape)
        idx[channel_axis] = int(rng.integers(0, shape[channel_axis]))
        w[tuple(idx)] = 0.0
    return w.astype(np.float32)


def _bias(seed: int, n: int) -> np.ndarray:
    return (np.random.default_rng(seed + 1).normal(size=n) * 0.5).astype(np.float32)


def _keras():
    import keras

    return keras


def _conv_geometry(rng: np.random.Generator, allow_dilation: bool = True) -> dict:
    kh_, kw_ = _ri(rng, 1, 5), _ri(rng, 1, 5)
    if rng.random() < 0.25:
        kh_ = 1  # 1xN
    dil = [1, 1]
    stride = [_ri(rng, 1, 3), _ri(rng, 1, 3)]
    if allow_dilation and rng.random() < 0.3:
        dil = [_ri(rng, 1, 3), _ri(rng, 1, 3)]
        stride = [1, 1]  # TF requires stride 1 with dilation
    padding = "same" if rng.random() < 0.5 else "valid"
    eff_h, eff_w = (kh_ - 1) * dil[0] + 1, (kw_ - 1) * dil[1] + 1
    h = _ri(rng, eff_h if padding == "valid" else 1, eff_h + 9)
    w = _ri(rng, eff_w if padding == "valid" else 1, eff_w + 9)
    return {"h": h, "w": w, "k": [kh_, kw_], "stride": stride, "dilation": dil, "padding": padding}


def _requant_params(op: ParsedOp, n_channels: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    mult, shift = quant.conv_multipliers(scale(x), w.scale, scale(out), n_channels=n_channels)
    act_min, act_max = quant.activation_range(
        op.options.get("fused_activation_function"), scale(out), zp(out)
    )
    return mult, shift, act_min, act_max


def _bias_arr(op: ParsedOp) -> np.ndarray:
    b = op.inputs[2] if len(op.inputs) > 2 else None
    return np.zeros(0, np.int32) if b is None else b.data.astype(np.int32).reshape(-1)


def _pad(in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    return quant.conv_padding(in_size, k, stride, dil, out_size)


# ----------------------------------------------------------------------------------------------
# CONV_2D


def conv_random_spec(rng: np.random.Generator) -> dict:
    g = _conv_geometry(rng)
    groups = _ri(rng, 2, 3) if rng.random() < 0.15 else 1
    g.update(
        groups=groups,
        cin=groups * _ri(rng, 1, 8 // groups),
        cout=groups * _ri(rng, 1, 8 // groups),
        act=_act(rng),
        bias=bool(rng.random() < 0.8),
        range=_range(rng),
        seed=_seed(rng),
    )
    return g


def conv_build(spec: dict):
    keras = _keras()
    inp = keras.Input((spec["h"], spec["w"], spec["cin"]), batch_size=1)
    layer = keras.layers.Conv2D(
        spec["cout"],
        tuple(spec["k"]),
        strides=tuple(spec["stride"]),
        padding=spec["padding"],
        dilation_rate=tuple(spec["dilation"]),
        use_bias=spec["bias"],
        activation=spec["act"],
        groups=spec.get("groups", 1),
    )
    out = layer(inp)
    wts = [_weights(spec["seed"], (*spec["k"], spec["cin"] // spec.get("groups", 1), spec["cout"]), 3)]
    if spec["bias"]:
        wts.append(_bias(spec["seed"], spec["cout"]))
    layer.set_weights(wts)
    return keras.Model(inp, out), [tuple(spec["range"])]


def conv_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    o = op.options
    cout, kh_, kw_, _ = w.shape
    mult, shift, amin, amax = _requant_params(op, cout)
    _, ih, iw, _ = x.shape
    _, oh, ow, _ = out.shape
    sh, sw, dh, dw = o["stride_h"], o["stride_w"], o["dilation_h_factor"], o["dilation_w_factor"]
    q = i32(
        x.shape,
        w.shape,
        out.shape,
        sh,
        sw,
        dh,
        dw,
        _pad(ih, kh_, sh, dh, oh),
        _pad(iw, kw_, sw, dw, ow),
        zp(x),
        zp(out),
        amin,
        amax,
    )
    return CCase([q, mult, shift, inputs[0], w.data, _bias_arr(op)], out.size)


CONV_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_conv2d_params_t p;
    p.in = nb_arg_dims4(q);
    p.filter = nb_arg_dims4(q + 4);
    p.out = nb_arg_dims4(q + 8);
    p.stride_h = q[12]; p.stride_w = q[13];
    p.dilation_h = q[14]; p.dilation_w = q[15];
    p.pad_h = q[16]; p.pad_w = q[17];
    p.input_zero_point = q[18]; p.output_zero_point = q[19];
    p.act_min = q[20]; p.act_max = q[21];
    p.out_multiplier = ARG_I32(1);
    p.out_shift = ARG_I32(2);
    p.prepared = NULL;
    nb_conv2d(&p, ARG_I8(3), ARG_I8(4), ARG_I32(5), (int8_t *)out);
    return 0;
"""

CONV = kh.register(
    KernelSpec(
        "CONV_2D", conv_random_spec, conv_build, conv_case, CONV_BODY, ("nb_conv2d.c",), ("nb_conv2d.h",)
    )
)

# ----------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D


def dw_random_spec(rng: np.random.Generator) -> dict:
    g = _conv_geometry(rng)
    g.update(
        cin=_ri(rng, 1, 8),
        dm=[1, 1, 2, 3][_ri(rng, 0, 3)],
        act=_act(rng),
        bias=bool(rng.random() < 0.8),
        range=_range(rng),
        seed=_seed(rng),
    )
    return g


def dw_build(spec: dict):
    keras = _keras()
    inp = keras.Input((spec["h"], spec["w"], spec["cin"]), batch_size=1)
    layer = keras.layers.DepthwiseConv2D(
        tuple(spec["k"]),
        strides=tuple(spec["stride"]),
        padding=spec["padding"],
        depth_multiplier=spec["dm"],
        dilation_rate=tuple(spec["dilation"]),
        use_bias=spec["bias"],
        activation=spec["act"],
    )
    out = layer(inp)
    wts = [_weights(spec["seed"], (*spec["k"], spec["cin"], spec["dm"]), 2)]
    if spec["bias"]:
        wts.append(_bias(spec["seed"], spec["cin"] * spec["dm"]))
    layer.set_weights(wts)
    return keras.Model(inp, out), [tuple(spec["range"])]


def dw_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    o = op.options
    _, kh_, kw_, cout = w.shape
    mult, shift, amin, amax = _requant_params(op, cout)
    _, ih, iw, cin = x.shape
    _, oh, ow, _ = out.shape
    sh, sw, dh, dw = o["stride_h"], o["stride_w"], o["dilation_h_factor"], o["dilation_w_factor"]
    q = i32(
        x.shape,
        w.shape,
        out.shape,
        cout // cin,
        sh,
        sw,
        dh,
        dw,
        _pad(ih, kh_, sh, dh, oh),
        _pad(iw, kw_, sw, dw, ow),
        zp(x),
        zp(out),
        amin,
        amax,
    )
    return CCase([q, mult, shift, inputs[0], w.data, _bias_arr(op)], out.size)


DW_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_depthwise_conv2d_params_t p;
    p.in = nb_arg_dims4(q);
    p.filter = nb_arg_dims4(q + 4);
    p.out = nb_arg_dims4(q + 8);
    p.depth_multiplier = q[12];
    p.stride_h = q[13]; p.stride_w = q[14];
    p.dilation_h = q[15]; p.dilation_w = q[16];
    p.pad_h = q[17]; p.pad_w = q[18];
    p.input_zero_point = q[19]; p.output_zero_point = q[20];
    p.act_min = q[21]; p.act_max = q[22];
    p.out_multiplier = ARG_I32(1);
    p.out_shift = ARG_I32(2);
    nb_depthwise_conv2d(&p, ARG_I8(3), ARG_I8(4), ARG_I32(5), (int8_t *)out);
    return 0;
"""

DEPTHWISE = kh.register(
    KernelSpec(
        "DEPTHWISE_CONV_2D",
        dw_random_spec,
        dw_build,
        dw_case,
        DW_BODY,
        ("nb_depthwise_conv2d.c",),
        ("nb_depthwise_conv2d.h",),
    )
)

# ----------------------------------------------------------------------------------------------
# FULLY_CONNECTED


def fc_random_spec(rng: np.random.Generator) -> dict:
    per_tensor = bool(rng.random() < 0.5)
    return {
        "t": _ri(rng, 2, 4) if rng.random() < 0.25 else 0,  # rank-3 input: batches > 1, keep_num_dims
        "converter_flags": {"_experimental_disable_per_channel_quantization_for_dense_layers": per_tensor},
        "n_in": _ri(rng, 1, 64),
        "n_out": _ri(rng, 1, 32),
        "act": _act(rng),
        "bias": bool(rng.random() < 0.8),
        "range": _range(rng),
        "seed": _seed(rng),
    }


def fc_build(spec: dict):
    keras = _keras()
    shape = (spec["t"], spec["n_in"]) if spec.get("t") else (spec["n_in"],)
    inp = keras.Input(shape, batch_size=1)
    layer = keras.layers.Dense(spec["n_out"], use_bias=spec["bias"], activation=spec["act"])
    out = layer(inp)
    wts = [_weights(spec["seed"], (spec["n_in"], spec["n_out"]), 1)]
    if spec["bias"]:
        wts.append(_bias(spec["seed"], spec["n_out"]))
    layer.set_weights(wts)
    return keras.Model(inp, out), [tuple(spec["range"])]


def fc_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    n_out, depth = w.shape
    per_channel = w.scale.size > 1
    mult, shift, amin, amax = _requant_params(op, n_out if per_channel else 1)
    batches = x.size // depth
    q = i32(batches, depth, n_out, zp(x), zp(w), zp(out), int(per_channel), amin, amax)
    return CCase([q, mult, shift, inputs[0], w.data, _bias_arr(op)], out.size)


FC_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_fully_connected_params_t p;
    p.batches = q[0]; p.accum_depth = q[1]; p.out_depth = q[2];
    p.input_zero_point = q[3]; p.filter_zero_point = q[4]; p.output_zero_point = q[5];
    p.per_channel = q[6]; p.act_min = q[7]; p.act_max = q[8];
    p.out_multiplier = ARG_I32(1);
    p.out_shift = ARG_I32(2);
    nb_fully_connected(&p, ARG_I8(3), ARG_I8(4), ARG_I32(5), (int8_t *)out);
    return 0;
"""

FC = kh.register(
    KernelSpec(
        "FULLY_CONNECTED",
        fc_random_spec,
        fc_build,
        fc_case,
        FC_BODY,
        ("nb_fully_connected.c",),
        ("nb_fully_connected.h",),
    )
)

# ----------------------------------------------------------------------------------------------
# AVERAGE_POOL_2D / MAX_POOL_2D


def pool_random_spec(rng: np.random.Generator) -> dict:
    k = [_ri(rng, 1, 4), _ri(rng, 1, 4)]
    padding = "same" if rng.random() < 0.5 else "valid"
    stride = [_ri(rng, 1, 3), _ri(rng, 1, 3)]
    return {
        "h": _ri(rng, k[0], k[0] + 9),
        "w": _ri(rng, k[1], k[1] + 9),
        "c": _ri(rng, 1, 8),
        "k": k,
        "stride": stride,
        "padding": padding,
        "act": [None, None, "relu", "relu6"][_ri(rng, 0, 3)],
        "range": _range(rng),
        "seed": _seed(rng),
    }


def _pool_build(spec: dict, cls_name: str):
    keras = _keras()
    inp = keras.Input((spec["h"], spec["w"], spec["c"]), batch_size=1)
    out = getattr(keras.layers, cls_name)(
        tuple(spec["k"]), strides=tuple(spec["stride"]), padding=spec["padding"]
    )(inp)
    if spec.get("act"):
        out = keras.layers.Activation(spec["act"])(out)  # fused into the pool by the converter
    return keras.Model(inp, out), [tuple(spec["range"])]


def avg_pool_build(spec: dict):
    return _pool_build(spec, "AveragePooling2D")


def max_pool_build(spec: dict):
    return _pool_build(spec, "MaxPooling2D")


def pool_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, out = op.inputs[0], op.outputs[0]
    o = op.options
    amin, amax = quant.activation_range(o.get("fused_activation_function"), scale(out), zp(out))
    fh, fw, sh, sw = o["filter_height"], o["filter_width"], o["stride_h"], o["stride_w"]
    _, ih, iw, _ = x.shape
    _, oh, ow, _ = out.shape
    q = i32(x.shape, out.shape, fh, fw, sh, sw, _pad(ih, fh, sh, 1, oh), _pad(iw, fw, sw, 1, ow), amin, amax)
    return CCase([q, inputs[0]], out.size)


POOL_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_pool2d_params_t p;
    p.in = nb_arg_dims4(q);
    p.out = nb_arg_dims4(q + 4);
    p.filter_h = q[8]; p.filter_w = q[9];
    p.stride_h = q[10]; p.stride_w = q[11];
    p.pad_h = q[12]; p.pad_w = q[13];
    p.act_min = q[14]; p.act_max = q[15];
    @CALL@
"""

AVG_POOL = kh.register(
    KernelSpec(
        "AVERAGE_POOL_2D",
        pool_random_spec,
        avg_pool_build,
        pool_case,
        POOL_BODY.replace("@CALL@", "return nb_avg_pool2d(&p, ARG_I8(1), (int8_t *)out);"),
        ("nb_avg_pool2d.c",),
        ("nb_avg_pool2d.h",),
    )
)
MAX_POOL = kh.register(
    KernelSpec(
        "MAX_POOL_2D",
        pool_random_spec,
        max_pool_build,
        pool_case,
        POOL_BODY.replace("@CALL@", "nb_max_pool2d(&p, ARG_I8(1), (int8_t *)out);\n    return 0;"),
        ("nb_max_pool2d.c",),
        ("nb_max_pool2d.h",),
    )
)

# ----------------------------------------------------------------------------------------------
# MEAN


def _shape(rng: np.random.Generator, rank: int, max_dim: int = 7) -> list[int]:
    return [_ri(rng, 1, max_dim) for _ in range(rank - 1)]  # without the batch dim


def mean_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = _shape(rng, rank)
    if rank == 4 and rng.random() < 0.6:
        axes = [1, 2]
    else:
        n_ax = _ri(rng, 1, rank - 1)
        axes = sorted(int(a) for a in rng.choice(np.arange(1, rank), size=n_ax, replace=False))
    return {
        "shape": shape,
        "axes": axes,
        "keepdims": bool(rng.random() < 0.5),
        "range": _range(rng),
        "seed": _seed(rng),
    }


def mean_build(spec: dict):
    keras = _keras()
    inp = keras.Input(tuple(spec["shape"]), batch_size=1)
    out = keras.layers.Lambda(
        lambda t: keras.ops.mean(t, axis=tuple(spec["axes"]), keepdims=spec["keepdims"])
    )(inp)
    return keras.Model(inp, out), [tuple(spec["range"])]


def mean_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, axes_t, out = op.inputs[0], op.inputs[1], op.outputs[0]
    axes = [int(a) for a in axes_t.data.reshape(-1)]
    method, mult, shift = quant.mean_params(
        scale(x), zp(x), scale(out), zp(out), x.shape, axes, bool(op.options.get("keep_dims", False))
    )
    rank = len(x.shape)
    resolved = {a + rank if a < 0 else a for a in axes}
    reduce = [0] * (4 - rank) + [int(d in resolved) for d in range(rank)]
    q = i32(dims4(x.shape), reduce, method, zp(x), zp(out), mult, shift)
    return CCase([q, inputs[0]], out.size)


MEAN_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_mean_params_t p;
    int k;
    for (k = 0; k < 4; ++k) {
        p.in_shape[k] = q[k];
        p.reduce[k] = (uint8_t)q[4 + k];
    }
    p.method = q[8]; p.input_zero_point = q[9]; p.output_zero_point = q[10];
    p.multiplier = q[11]; p.shift = q[12];
    nb_mean(&p, ARG_I8(1), (int8_t *)out);
    return 0;
"""

MEAN = kh.register(
    KernelSpec("MEAN", mean_random_spec, mean_build, mean_case, MEAN_BODY, ("nb_mean.c",), ("nb_mean.h",))
)

# ----------------------------------------------------------------------------------------------
# PAD


def pad_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = _shape(rng, rank)
    pads = [[0, 0]] + [[_ri(rng, 0, 3), _ri(rng, 0, 3)] for _ in shape]
    if all(p == [0, 0] for p in pads):
        pads[-1] = [1, 0]
    return {"shape": shape, "pads": pads, "range": _range(rng), "seed": _seed(rng)}


def pad_build(spec: dict):
    keras = _keras()
    inp = keras.Input(tuple(spec["shape"]), batch_size=1)
    value = float(spec.get("value", 0.0))
    out = keras.layers.Lambda(lambda t: keras.ops.pad(t, spec["pads"], constant_values=value))(inp)
    return keras.Model(inp, out), [tuple(spec["range"])]


def padv2_random_spec(rng: np.random.Generator) -> dict:
    spec = pad_random_spec(rng)
    lo, hi = spec["range"]
    spec["value"] = float(rng.uniform(lo, hi)) if rng.random() < 0.8 else float(hi) * 1.5
    if spec["value"] == 0.0:
        spec["value"] = 0.5
    return spec


def pad_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, pads_t, out = op.inputs[0], op.inputs[1], op.outputs[0]
    pads = pads_t.data.reshape(-1, 2).astype(int).tolist()
    pads = [[0, 0]] * (4 - len(pads)) + pads
    pad_value = zp(out)
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] is not None:
        pad_value = int(op.inputs[2].data.reshape(-1)[0])
    q = i32(dims4(x.shape), [p[0] for p in pads], [p[1] for p in pads], pad_value)
    return CCase([q, inputs[0]], out.size)


PAD_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_pad_params_t p;
    int k;
    for (k = 0; k < 4; ++k) {
        p.in_shape[k] = q[k];
        p.pad_before[k] = q[4 + k];
        p.pad_after[k] = q[8 + k];
    }
    p.pad_value = q[12];
    nb_pad(&p, ARG_I8(1), (int8_t *)out);
    return 0;
"""

PAD = kh.register(
    KernelSpec("PAD", pad_random_spec, pad_build, pad_case, PAD_BODY, ("nb_pad.c",), ("nb_pad.h",))
)

PADV2 = kh.register(
    KernelSpec("PADV2", padv2_random_spec, pad_build, pad_case, PAD_BODY, ("nb_pad.c",), ("nb_pad.h",))
)

# ----------------------------------------------------------------------------------------------
# RESHAPE


def reshape_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = _shape(rng, rank)
    n = int(np.prod(shape))
    kind = _ri(rng, 0, 2)
    if kind == 0:
        target = [n]
    elif kind == 1:
        divs = [d for d in range(1, n + 1) if n % d == 0]
        d = divs[_ri(rng, 0, len(divs) - 1)]
        target = [d, n // d]
    else:
        target = [1, n, 1]
    if target == shape:
        target = [*shape, 1]
    return {"shape": shape, "target": target, "range": _range(rng), "seed": _seed(rng)}


def reshape_build(spec: dict):
    keras = _keras()
    inp = keras.Input(tuple(spec["shape"]), batch_size=1)
    out = keras.layers.Reshape(tuple(spec["target"]))(inp)
    return keras.Model(inp, out), [tuple(spec["range"])]


def reshape_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    out = op.outputs[0]
    return CCase([i32(out.size), inputs[0]], out.size)


RESHAPE_BODY = r"""
    nb_reshape(ARG_I8(1), (int8_t *)out, ARG_I32(0)[0]);
    return 0;
"""

RESHAPE = kh.register(
    KernelSpec(
        "RESHAPE",
        reshape_random_spec,
        reshape_build,
        reshape_case,
        RESHAPE_BODY,
        ("nb_reshape.c",),
        ("nb_reshape.h",),
    )
)

# ----------------------------------------------------------------------------------------------
# CONCATENATION


def concat_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = _shape(rng, rank)
    axis = _ri(rng, 1, rank - 1)
    n_in = _ri(rng, 2, 3)
    sizes = [_ri(rng, 1, 5) for _ in range(n_in)]
    return {"shape": shape, "axis": axis, "sizes": sizes, "range": _range(rng), "seed": _seed(rng)}


def concat_build(spec: dict):
    keras = _keras()
    inps = []
    for s in spec["sizes"]:
        shape = list(spec["shape"])
        shape[spec["axis"] - 1] = s
        inps.append(keras.Input(tuple(shape), batch_size=1))
    out = keras.layers.Concatenate(axis=spec["axis"])(inps)
    return keras.Model(inps, out), [tuple(spec["range"])] * len(inps)


def concat_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    out = op.outputs[0]
    axis = int(op.options.get("axis", 0))
    rank = len(out.shape)
    axis = axis + rank if axis < 0 else axis
    outer = int(np.prod(out.shape[:axis]))
    inner = int(np.prod(out.shape[axis + 1 :]))
    sizes = [t.shape[axis] for t in op.inputs]
    return CCase([i32(len(inputs), outer, inner, sizes), *inputs], out.size)


CONCAT_BODY = r"""
    const int32_t *q = ARG_I32(0);
    const int8_t *ins[16];
    nb_concatenation_params_t p;
    int k;
    p.num_inputs = q[0]; p.outer_size = q[1]; p.inner_size = q[2];
    p.axis_sizes = q + 3;
    for (k = 0; k < p.num_inputs && k < 16; ++k) {
        ins[k] = ARG_I8(1 + k);
    }
    nb_concatenation(&p, ins, (int8_t *)out);
    return 0;
"""

CONCAT = kh.register(
    KernelSpec(
        "CONCATENATION",
        concat_random_spec,
        concat_build,
        concat_case,
        CONCAT_BODY,
        ("nb_concatenation.c",),
        ("nb_concatenation.h",),
    )
)

# ----------------------------------------------------------------------------------------------
# STRIDED_SLICE


def slice_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = [1, *_shape(rng, rank, 9)]
    begin, end, strides = [0], [1], [1]
    begin_mask = end_mask = shrink = 0
    for axis, n in enumerate(shape[1:], start=1):
        stride = int(rng.choice([1, 1, 2, 3, -1, -2]))
        b = _ri(rng, -n, n)
        e = _ri(rng, -n - 1, n + 1)
        if rng.random() < 0.2:
            begin_mask |= 1 << axis
        if rng.random() < 0.2:
            end_mask |= 1 << axis
        if rng.random() < 0.1 and axis < rank - 1:
            shrink |= 1 << axis
            b = _ri(rng, -n, n - 1)
            stride = 1
            begin_mask &= ~(1 << axis)
        begin.append(b)
        end.append(e)
        strides.append(stride)
    starts, stops, steps = quant.strided_slice_params(
        shape, begin, end, strides, begin_mask, end_mask, shrink
    )
    for s0, s1, st_ in zip(starts, stops, steps, strict=True):  # keep slices non-empty
        if (st_ > 0 and s1 <= s0) or (st_ < 0 and s1 >= s0):
            return slice_random_spec(rng)
    return {
        "shape": shape[1:],
        "begin": begin,
        "end": end,
        "strides": strides,
        "begin_mask": begin_mask,
        "end_mask": end_mask,
        "shrink": shrink,
        "range": _range(rng),
        "seed": _seed(rng),
    }


def slice_build(spec: dict):
    import tensorflow as tf

    keras = _keras()
    inp = keras.Input(tuple(spec["shape"]), batch_size=1)
    out = keras.layers.Lambda(
        lambda t: tf.strided_slice(
            t,
            spec["begin"],
            spec["end"],
            spec["strides"],
            begin_mask=spec["begin_mask"],
            end_mask=spec["end_mask"],
            shrink_axis_mask=spec["shrink"],
        )
    )(inp)
    return keras.Model(inp, out), [tuple(spec["range"])]


def slice_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, out = op.inputs[0], op.outputs[0]
    begin, end, strides = (op.inputs[k].data.reshape(-1).tolist() for k in (1, 2, 3))
    o = op.options
    starts, stops, steps = quant.strided_slice_params(
        x.shape,
        begin,
        end,
        strides,
        o.get("begin_mask", 0),
        o.get("end_mask", 0),
        o.get("shrink_axis_mask", 0),
        o.get("ellipsis_mask", 0),
        o.get("new_axis_mask", 0),
        bool(o.get("offset", False)),
    )
    pad = 4 - len(x.shape)
    q = i32(dims4(x.shape), [0] * pad + starts, [1] * pad + stops, [1] * pad + steps)
    return CCase([q, inputs[0]], out.size)


SLICE_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_strided_slice_params_t p;
    int k;
    for (k = 0; k < 4; ++k) {
        p.in_shape[k] = q[k];
        p.start[k] = q[4 + k];
        p.stop[k] = q[8 + k];
        p.stride[k] = q[12 + k];
    }
    nb_strided_slice(&p, ARG_I8(1), (int8_t *)out);
    return 0;
"""

STRIDED_SLICE = kh.register(
    KernelSpec(
        "STRIDED_SLICE",
        slice_random_spec,
        slice_build,
        slice_case,
        SLICE_BODY,
        ("nb_strided_slice.c",),
        ("nb_strided_slice.h",),
    )
)

KERNELS_A = [CONV, DEPTHWISE, FC, AVG_POOL, MAX_POOL, MEAN, PAD, PADV2, RESHAPE, CONCAT, STRIDED_SLICE]


# ==============================================================================================
# Tests

_SETTINGS = settings(
    max_examples=10,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
N_INPUTS = 24  # random inputs per converted model


@pytest.mark.parametrize("kspec", KERNELS_A, ids=lambda k: k.key)
@_SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_kernel_bit_exact_vs_tflm(kspec: KernelSpec, seed: int):
    from hypothesis import assume, note

    spec = kspec.random_spec(np.random.default_rng(seed))
    note(f"spec={spec}")
    res = kh.check_spec(kspec, spec, N_INPUTS, seed=seed)
    assume(res.rejected == 0)
    assert res.cases == N_INPUTS
    assert res.mismatches == 0, res.first_failure


# Hand-picked geometries that random draws may miss.
_EDGE_SPECS = [
    (
        CONV,
        {
            "h": 7,
            "w": 5,
            "k": [1, 1],
            "stride": [1, 1],
            "dilation": [1, 1],
            "padding": "valid",
            "cin": 8,
            "cout": 6,
            "act": "relu6",
            "bias": True,
            "range": (-3.0, 3.0),
            "seed": 11,
        },
    ),
    (
        CONV,
        {
            "h": 9,
            "w": 11,
            "k": [1, 5],
            "stride": [1, 1],
            "dilation": [1, 2],
            "padding": "same",
            "cin": 3,
            "cout": 4,
            "act": None,
            "bias": False,
            "range": (0.0, 2.0),
            "seed": 12,
        },
    ),
    (
        CONV,
        {
            "h": 10,
            "w": 4,
            "k": [4, 3],
            "stride": [2, 2],
            "dilation": [1, 1],
            "padding": "same",
            "cin": 1,
            "cout": 5,
            "act": "relu",
            "bias": True,
            "range": (-0.1, 0.4),
            "seed": 13,
        },
    ),
    (
        DEPTHWISE,
        {
            "h": 8,
            "w": 8,
            "k": [3, 3],
            "stride": [2, 2],
            "dilation": [1, 1],
            "padding": "same",
            "cin": 4,
            "dm": 3,
            "act": "relu6",
            "bias": True,
            "range": (-6.0, 6.0),
            "seed": 14,
        },
    ),
    (
        DEPTHWISE,
        {
            "h": 9,
            "w": 9,
            "k": [3, 2],
            "stride": [1, 1],
            "dilation": [2, 3],
            "padding": "valid",
            "cin": 5,
            "dm": 2,
            "act": None,
            "bias": False,
            "range": (0.0, 1.0),
            "seed": 15,
        },
    ),
    (
        AVG_POOL,
        {
            "h": 7,
            "w": 5,
            "c": 3,
            "k": [3, 3],
            "stride": [2, 2],
            "padding": "same",
            "range": (-2.0, 2.0),
            "seed": 16,
        },
    ),
    (
        MAX_POOL,
        {
            "h": 6,
            "w": 7,
            "c": 2,
            "k": [2, 3],
            "stride": [2, 1],
            "padding": "same",
            "range": (-1.0, 3.0),
            "seed": 17,
        },
    ),
    (MEAN, {"shape": [5, 4, 6], "axes": [1, 2], "keepdims": True, "range": (-1.0, 4.0), "seed": 18}),
    (MEAN, {"shape": [5, 4, 6], "axes": [1, 2], "keepdims": False, "range": (0.0, 4.0), "seed": 19}),
    (MEAN, {"shape": [7, 3], "axes": [2], "keepdims": False, "range": (-2.0, 1.0), "seed": 20}),
]


@pytest.mark.parametrize(
    "kspec,spec", _EDGE_SPECS, ids=[f"{k.key}-{i}" for i, (k, _) in enumerate(_EDGE_SPECS)]
)
def test_kernel_edge_geometries(kspec: KernelSpec, spec: dict):
    res = kh.check_spec(kspec, spec, 32, seed=spec["seed"])
    assert res.rejected == 0
    assert res.mismatches == 0, res.first_failure


@pytest.mark.parametrize("kspec", KERNELS_A, ids=lambda k: k.key)
def test_kernel_sanitizer_clean(kspec: KernelSpec):
    """ASan/UBSan build (-fno-sanitize-recover): any out-of-bounds access or UB aborts the driver."""
    rng = np.random.default_rng(1234)
    checked = 0
    for _ in range(4):
        spec = kspec.random_spec(rng)
        res = kh.check_spec(kspec, spec, 6, seed=7, sanitize=True)
        assert res.mismatches == 0, res.first_failure
        checked += res.cases
    assert checked > 0


def test_harness_detects_mismatch():
    """A perturbed requantization (output zero point + 1) must be reported as a mismatch."""
    spec = CONV.random_spec(np.random.default_rng(5))
    buf = kh.model_for(CONV, spec)
    assert buf is not None

    def bad_case(op, inputs):
        case = conv_case(op, inputs)
        case.args[0] = case.args[0].copy()
        case.args[0][19] += 1  # output zero point
        case.args[0][20] = -128  # no activation clamp hides it
        case.args[0][21] = 127
        return case

    bad = KernelSpec(
        "CONV_2D",
        conv_random_spec,
        conv_build,
        bad_case,
        CONV_BODY,
        ("nb_conv2d.c",),
        ("nb_conv2d.h",),
        name="CONV_2D_bad",
    )
    res = kh.check_model(bad, buf, 8, np.random.default_rng(0))
    assert res.mismatches > 0


# ----------------------------------------------------------------------------------------------
# convert/quant.py


def test_quantize_multiplier_known_values():
    assert quant.quantize_multiplier(0.0) == (0, 0)
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(1.0) == (1 << 30, 1)
    assert quant.quantize_multiplier(0.75) == (3 << 29, 0)
    assert quant.quantize_multiplier(0.25) == (1 << 30, -1)
    # q * 2^31 rounding up to 2^31 is folded into the exponent
    assert quant.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    # below 2^-32 everything would be shifted out: flushed to zero
    assert quant.quantize_multiplier(1e-12) == (0, 0)
    assert quant.quantize_multiplier(3.0) == (3 << 29, 2)


@given(st.floats(min_value=2.0**-31, max_value=2.0**20, allow_nan=False))
@settings(max_examples=300, deadline=None)
def test_quantize_multiplier_reconstructs(real: float):
    m, s = quant.quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    approx = m * 2.0 ** (s - 31)
    assert abs(approx - real) <= real * 2.0**-30


def test_activation_range():
    assert quant.activation_range(None, 0.1, 3) == (-128, 127)
    assert quant.activation_range("RELU", 0.1, -20) == (-20, 127)
    assert quant.activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert quant.activation_range("RELU6", 0.01, -128) == (-128, 127)
    assert quant.activation_range("RELU_N1_TO_1", 0.1, 0) == (-10, 10)
    with pytest.raises(ValueError, match="unsupported"):
        quant.activation_range("GELU", 0.1, 0)


def test_conv_multipliers_broadcast_per_tensor():
    m, s = quant.conv_multipliers(0.02, [0.003], 0.05, n_channels=4)
    assert m.shape == (4,) and len(set(m.tolist())) == 1
    assert (int(m[0]), int(s[0])) == quant.quantize_multiplier(
        float(np.float32(0.02)) * float(np.float32(0.003)) / float(np.float32(0.05))
    )


def test_strided_slice_params_masks():
    # x[:, 1:, ::-1, 2] on a (1, 4, 5, 6) tensor
    starts, stops, steps = quant.strided_slice_params(
        [1, 4, 5, 6],
        [0, 1, 0, 2],
        [1, 0, 0, 3],
        [1, 1, -1, 1],
        begin_mask=0b0100,
        end_mask=0b0110,
        shrink_axis_mask=0b1000,
    )
    assert starts == [0, 1, 4, 2] and stops == [1, 4, -1, 3] and steps == [1, 1, -1, 1]
    with pytest.raises(ValueError):
        quant.strided_slice_params([2], [0], [1], [1], ellipsis_mask=1)


# ----------------------------------------------------------------------------------------------
# nb_common.h fixed point vs. a Python model of gemmlowp / TFLM


def _py_srdhm(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    q = abs(num) // (1 << 31)
    return q if num >= 0 else -q


def _py_rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def _wrap32(x: int) -> int:
    return ((x + 2**31) % 2**32) - 2**31


def _py_mbqm(x: int, m: int, shift: int) -> int:
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return _py_rdbpot(_py_srdhm(_wrap32(x * (1 << left)), m), right)


FIXED_BODY = r"""
    const int32_t *x = ARG_I32(0);
    const int32_t *m = ARG_I32(1);
    const int32_t *s = ARG_I32(2);
    int32_t *o = (int32_t *)out;
    int32_t i;
    for (i = 0; i < ARG_N(0); ++i) {
        o[4 * i] = nb_sat_rounding_doubling_high_mul(x[i], m[i]);
        o[4 * i + 1] = nb_rounding_divide_by_pot(x[i], (int)(s[i] < 0 ? -s[i] : s[i]) % 32);
        o[4 * i + 2] = nb_multiply_by_quantized_multiplier(x[i], m[i], (int)s[i]);
        o[4 * i + 3] = nb_clamp_i32(x[i], -128, 127);
    }
    return 0;
"""

_i32 = st.integers(-(2**31), 2**31 - 1)


@pytest.mark.parametrize("sanitize", [False, True], ids=["O1", "asan-ubsan"])
@settings(max_examples=5, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            _i32, st.one_of(_i32, st.integers(1 << 30, 2**31 - 1), st.just(-(2**31))), st.integers(-31, 30)
        ),
        min_size=1,
        max_size=400,
    )
)
def test_fixed_point_helpers_match_reference(sanitize: bool, data):
    data = [*data, (-(2**31), -(2**31), 0), (2**31 - 1, 2**31 - 1, -31), (-5, 1 << 30, -1), (5, 1 << 30, -1)]
    x = np.array([d[0] for d in data], np.int32)
    m = np.array([d[1] for d in data], np.int32)
    s = np.array([d[2] for d in data], np.int32)
    drv = kh.build_driver(FIXED_BODY, (), (), sanitize=sanitize)
    (raw,) = drv.run([CCase([x, m, s], 16 * len(data))])
    got = np.frombuffer(raw, np.int32).reshape(-1, 4)
    for i, (xi, mi, si) in enumerate(data):
        exp = [_py_srdhm(xi, mi), _py_rdbpot(xi, abs(si) % 32), _py_mbqm(xi, mi, si), max(-128, min(127, xi))]
        assert got[i].tolist() == exp, (xi, mi, si)


# ----------------------------------------------------------------------------------------------
# Portability: the Cortex-M4 cross compiler


def test_kernels_compile_for_cortex_m4(tmp_path):
    import subprocess

    srcs = sorted(kh.KERNELS_DIR.glob("nb_*.c"))
    assert len(srcs) >= len(KERNELS_A)
    for src in srcs:
        cmd = [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv4-sp-d16",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{kh.KERNELS_DIR}",
            "-c",
            str(src),
            "-o",
            str(tmp_path / (src.stem + ".o")),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{src.name}: {proc.stderr}"


# ----------------------------------------------------------------------------------------------
# Whole model: the MLPerf Tiny DS-CNN, op by op through our kernels


KWS_MODEL = kh.ROOT.parent / "shared" / "models" / "kws_ref_model.tflite"


def _kws_model_path():
    for p in (
        kh.ROOT / "shared" / "models" / "kws_ref_model.tflite",
        KWS_MODEL,
        kh.Path("/work/shared/models/kws_ref_model.tflite"),
    ):
        if p.exists():
            return p
    raise FileNotFoundError("kws_ref_model.tflite not found (expected under shared/models/)")


def _load_kernels_b() -> None:
    """Register KERNELS-B's kernels (e.g. SOFTMAX) when their test module exists."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("tests.test_kernels_b") is not None:
        importlib.import_module("tests.test_kernels_b")


@pytest.mark.parametrize("sanitize", [False, True], ids=["O1", "asan-ubsan"])
def test_kws_model_op_by_op_bit_exact(sanitize: bool):
    """DS-CNN through our kernels op by op: the FC logits (all KERNELS-A ops) and, when KERNELS-B's
    SOFTMAX is registered, the full model output equal TFLM's bit for bit."""
    _load_kernels_b()
    buf = _kws_model_path().read_bytes()
    pm = kh.parse_model(buf)
    names = [o.name for o in pm.ops]
    n_fc = names.index("FULLY_CONNECTED") + 1
    n_ops = next((i for i, n in enumerate(names) if n not in kh.REGISTRY), len(names))
    assert n_ops >= n_fc, f"missing kernels for {names[n_ops:]}"
    rng = np.random.default_rng(2024)
    inputs = [kh.random_inputs(buf, rng) for _ in range(2 if sanitize else 6)]
    for n in sorted({n_fc, n_ops}):
        ref = buf if n == len(names) else kh.truncate_model(buf, n)
        got = kh.run_model_with_kernels(buf, inputs, n_ops=n, sanitize=sanitize)
        for x, g in zip(inputs, got, strict=True):
            exp = kh.run_tflm(ref, x)[0]
            assert exp.shape == g.shape
            assert np.array_equal(exp, g), f"ops {names[:n]}: expected {exp.tolist()} got {g.tolist()}"


@pytest.mark.parametrize("method", [quant.MEAN_SAME_QUANT, quant.MEAN_HW_KEEPDIMS])
def test_mean_other_paths_match_reference_formulas(method: int):
    """The MEAN paths random Keras models rarely/never reach in current TFLM, checked against the
    reference formulas (reference_ops::Mean truncating division; legacy reference_integer_ops::Mean)."""
    rng = np.random.default_rng(method)
    cases, expected = [], []
    for _ in range(40):
        shape = [1, _ri(rng, 1, 6), _ri(rng, 1, 6), _ri(rng, 1, 5)]
        x = rng.integers(-128, 128, size=shape).astype(np.int8)
        in_zp, out_zp = _ri(rng, -128, 127), _ri(rng, -128, 127)
        m, s = quant.mean_multiplier(float(10 ** rng.uniform(-2, 0)), float(10 ** rng.uniform(-2, 0)))
        n = shape[1] * shape[2]
        sums = x.astype(np.int64).sum(axis=(1, 2)).reshape(-1)
        if method == quant.MEAN_SAME_QUANT:
            exp = [int(np.trunc(v / n)) for v in sums]
        else:
            exp = []
            for v in sums:
                acc = _py_mbqm(int(v) - in_zp * n, m, s)
                acc = int((acc + n // 2) / n) if acc > 0 else -int((-acc + n // 2) / n)
                exp.append(max(-128, min(127, acc + out_zp)))
        cases.append(CCase([i32(shape, [0, 1, 1, 0], method, in_zp, out_zp, m, s), x], shape[3]))
        expected.append(np.array(exp, np.int8))
    drv = kh.build_driver(MEAN_BODY, MEAN.c_sources, MEAN.c_includes)
    for e, g in zip(expected, drv.run(cases), strict=True):
        assert np.frombuffer(g, np.int8).tolist() == e.tolist()
