"""Bit-exactness of the KERNELS-B int8 C kernels (ADD, MUL, SOFTMAX, LOGISTIC, TANH, QUANTIZE,
DEQUANTIZE) against the TFLite Micro interpreter.

ADD/MUL/SOFTMAX/LOGISTIC/TANH: one-op Keras models converted to int8 by TFLiteConverter (via
tests/kernel_harness.py), registered in ``kernel_harness.REGISTRY`` for benchmarks/fuzz_kernels.py.
QUANTIZE (float -> int8, int8 -> int8) and DEQUANTIZE cannot be one-op models of an int8-io conversion,
so they are checked on one-op flatbuffers written with the TFLite schema bindings (random scales and
zero points) and, end to end, on a float-io converted ADD model (QUANTIZE -> ADD -> DEQUANTIZE).
Those, plus harness kernels on models with randomly patched scales/zero points (``*_QPARAMS``) and the
256-entry LUT variants (``*_LUT``, nb_lut.c), are in :data:`CUSTOM`; soak them with
``.venv/bin/python -m tests.test_kernels_b --cases 10000``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convert import quant_ops
from tests import kernel_harness as kh
from tests.kernel_harness import CCase, CheckResult, KernelSpec, ParsedOp, i32, scale, zp
from train.errors import ConversionError

# ----------------------------------------------------------------------------------------------
# random helpers


def _ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi, endpoint=True))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _range(rng: np.random.Generator, lo_exp: float = -1.5, hi_exp: float = 1.0) -> tuple[float, float]:
    kind = int(rng.integers(0, 4))
    hi = float(10 ** rng.uniform(lo_exp, hi_exp))
    if kind == 0:
        return 0.0, hi
    if kind == 1:
        return -hi, hi
    return -float(10 ** rng.uniform(lo_exp, hi_exp)), hi


def _act(rng: np.random.Generator) -> str | None:
    return [None, None, "relu", "relu6"][int(rng.integers(0, 4))]


def _keras():
    import keras

    return keras


def _apply_act(keras, x, act: str | None):
    if act == "relu":
        return keras.ops.relu(x)
    if act == "relu6":
        return keras.ops.relu6(x)
    return x


def _act_name(op: ParsedOp) -> str:
    return str(op.options.get("fused_activation_function", "NONE"))


# ----------------------------------------------------------------------------------------------
# ADD / MUL


def binary_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    out = [1] + [_ri(rng, 1, 6) for _ in range(rank - 1)]
    mode = int(rng.integers(0, 4))  # 0 same shape, 1 broadcast dims, 2 lower-rank input2, 3 const input2
    s1, s2 = list(out), list(out)
    if mode in (1, 3):
        for s in (s1, s2):
            for k in range(1, rank):
                if rng.random() < 0.35:
                    s[k] = 1
    if rank == 3:
        # TF's converter crashes ("tf.Transpose ... rank 3 ... rank 4") on rank-3 operands ending in 1.
        out[-1] = s1[-1] = s2[-1] = max(out[-1], 2)
    if mode == 2:
        s2 = [1, out[-1]] if rng.random() < 0.7 else [1, 1]
    swap = bool(rng.random() < 0.3 and mode != 3)
    act = _act(rng)
    r1, r2 = _range(rng), _range(rng)
    if act is not None:
        # Keep each range at least half positive: if every calibration sample of a fused-ReLU output
        # is <= 0 the converter picks a ~1e-8 output scale and TFLM's ADD Prepare aborts the process
        # (TFLITE_CHECK in QuantizeMultiplierSmallerThanOneExp).
        r1, r2 = (max(r1[0], -r1[1]), r1[1]), (max(r2[0], -r2[1]), r2[1])
    return {"s1": s1, "s2": s2, "const2": mode == 3, "swap": swap, "act": act, "r1": r1, "r2": r2,
            "seed": _seed(rng)}


def _binary_build(fn_name: str) -> Callable[[dict], tuple]:
    def build(spec: dict):
        keras = _keras()
        fn = getattr(keras.ops, fn_name)
        # Named inputs: the converter orders signature inputs by name, convert_keras by model.inputs.
        a = keras.Input(tuple(spec["s1"][1:]), batch_size=1, name="in0")
        if spec["const2"]:
            lo, hi = spec["r2"]
            c = np.random.default_rng(spec["seed"]).uniform(lo, hi, size=spec["s2"]).astype(np.float32)
            out = fn(a, c)
            return keras.Model(a, _apply_act(keras, out, spec["act"])), [tuple(spec["r1"])]
        b = keras.Input(tuple(spec["s2"][1:]), batch_size=1, name="in1")
        out = fn(b, a) if spec["swap"] else fn(a, b)
        ranges = [tuple(spec["r1"]), tuple(spec["r2"])]
        return keras.Model([a, b], _apply_act(keras, out, spec["act"])), ranges

    return build


def _binary_operands(op: ParsedOp, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    it = iter(inputs)
    arrs = [t.data if t.data is not None else next(it) for t in op.inputs[:2]]
    return arrs[0].astype(np.int8).reshape(-1), arrs[1].astype(np.int8).reshape(-1)


def _binary_args(op: ParsedOp) -> tuple:
    t1, t2, o = op.inputs[0], op.inputs[1], op.outputs[0]
    return (scale(t1), zp(t1), t1.shape, scale(t2), zp(t2), t2.shape, scale(o), zp(o), _act_name(op))


def add_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    p = quant_ops.add_params(*_binary_args(op))
    x1, x2 = _binary_operands(op, inputs)
    return CCase([i32(*p.as_list()), x1, x2], op.outputs[0].size)


def mul_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    p = quant_ops.mul_params(*_binary_args(op))
    x1, x2 = _binary_operands(op, inputs)
    return CCase([i32(*p.as_list()), x1, x2], op.outputs[0].size)


_BCAST_UNPACK = r"""
    p.size = q[0]; p.broadcast = q[1];
    for (k = 0; k < 4; ++k) {
        p.out_shape[k] = q[2 + k]; p.in1_strides[k] = q[6 + k]; p.in2_strides[k] = q[10 + k];
    }
"""

ADD_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_add_params_t p;
    int k;
""" + _BCAST_UNPACK + r"""
    p.left_shift = q[14];
    p.input1_offset = q[15]; p.input1_multiplier = q[16]; p.input1_shift = q[17];
    p.input2_offset = q[18]; p.input2_multiplier = q[19]; p.input2_shift = q[20];
    p.output_offset = q[21]; p.output_multiplier = q[22]; p.output_shift = q[23];
    p.act_min = q[24]; p.act_max = q[25];
    if ((uint32_t)p.size != out_nbytes) return 1;
    nb_add(&p, ARG_I8(1), ARG_I8(2), (int8_t *)out);
    return 0;
"""

MUL_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_mul_params_t p;
    int k;
""" + _BCAST_UNPACK + r"""
    p.input1_offset = q[14]; p.input2_offset = q[15]; p.output_offset = q[16];
    p.output_multiplier = q[17]; p.output_shift = q[18];
    p.act_min = q[19]; p.act_max = q[20];
    if ((uint32_t)p.size != out_nbytes) return 1;
    nb_mul(&p, ARG_I8(1), ARG_I8(2), (int8_t *)out);
    return 0;
"""

ADD = kh.register(KernelSpec("ADD", binary_random_spec, _binary_build("add"), add_case, ADD_BODY,
                             ("nb_add.c",), ("nb_add.h",)))
MUL = kh.register(KernelSpec("MUL", binary_random_spec, _binary_build("multiply"), mul_case, MUL_BODY,
                             ("nb_mul.c",), ("nb_mul.h",)))

# ----------------------------------------------------------------------------------------------
# SOFTMAX


def softmax_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = [1] + [_ri(rng, 1, 4) for _ in range(rank - 2)] + [_ri(rng, 1, 40) if rng.random() < 0.8
                                                               else _ri(rng, 41, 256)]
    return {"shape": shape, "range": _range(rng, -1.0, 1.7), "seed": _seed(rng)}


def softmax_build(spec: dict):
    # The converter keeps beta = 1 (x * beta stays a MUL); other betas are tested by patching the
    # flatbuffer (test_softmax_beta_matches_tflm).
    keras = _keras()
    x = keras.Input(tuple(spec["shape"][1:]), batch_size=1)
    return keras.Model(x, keras.ops.softmax(x, axis=-1)), [tuple(spec["range"])]


def with_softmax_beta(buf: bytes, beta: float) -> bytes:
    """The same one-op SOFTMAX model with its ``beta`` option replaced."""
    import flatbuffers

    s = kh._schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    m.subgraphs[0].operators[0].builtinOptions.beta = float(beta)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def softmax_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, o = op.inputs[0], op.outputs[0]
    p = quant_ops.softmax_params(scale(x), x.shape, float(op.options.get("beta", 1.0)), scale(o), zp(o))
    return CCase([i32(*p.as_list()), inputs[0].reshape(-1)], o.size)


SOFTMAX_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_softmax_params_t p;
    p.outer_size = q[0]; p.depth = q[1]; p.input_multiplier = q[2]; p.input_left_shift = q[3];
    p.diff_min = q[4];
    if ((uint32_t)(p.outer_size * p.depth) != out_nbytes) return 1;
    nb_softmax(&p, ARG_I8(1), (int8_t *)out);
    return 0;
"""

SOFTMAX = kh.register(KernelSpec("SOFTMAX", softmax_random_spec, softmax_build, softmax_case, SOFTMAX_BODY,
                                 ("nb_softmax.c",), ("nb_softmax.h",)))

# ----------------------------------------------------------------------------------------------
# LOGISTIC / TANH


def unary_random_spec(rng: np.random.Generator) -> dict:
    rank = _ri(rng, 2, 4)
    shape = [1] + [_ri(rng, 1, 8) for _ in range(rank - 1)]
    return {"shape": shape, "range": _range(rng, -1.5, 1.5), "seed": _seed(rng)}


def _unary_build(fn_name: str) -> Callable[[dict], tuple]:
    def build(spec: dict):
        keras = _keras()
        x = keras.Input(tuple(spec["shape"][1:]), batch_size=1)
        return keras.Model(x, getattr(keras.ops, fn_name)(x)), [tuple(spec["range"])]

    return build


def logistic_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, o = op.inputs[0], op.outputs[0]
    p = quant_ops.logistic_params(scale(x), zp(x), x.size, zp(o))
    return CCase([i32(*p.as_list()), inputs[0].reshape(-1)], o.size)


def tanh_case(op: ParsedOp, inputs: list[np.ndarray]) -> CCase:
    x, o = op.inputs[0], op.outputs[0]
    p = quant_ops.tanh_params(scale(x), zp(x), x.size)
    return CCase([i32(*p.as_list()), inputs[0].reshape(-1)], o.size)


def _unary_body(name: str) -> str:
    return rf"""
    const int32_t *q = ARG_I32(0);
    nb_{name}_params_t p;
    p.size = q[0]; p.input_zero_point = q[1]; p.input_range_radius = q[2];
    p.input_multiplier = q[3]; p.input_left_shift = q[4];
    if ((uint32_t)p.size != out_nbytes) return 1;
    nb_{name}(&p, ARG_I8(1), (int8_t *)out);
    return 0;
"""


LOGISTIC = kh.register(KernelSpec("LOGISTIC", unary_random_spec, _unary_build("sigmoid"), logistic_case,
                                  _unary_body("logistic"), ("nb_logistic.c",), ("nb_logistic.h",)))
TANH = kh.register(KernelSpec("TANH", unary_random_spec, _unary_build("tanh"), tanh_case, _unary_body("tanh"),
                              ("nb_tanh.c",), ("nb_tanh.h",)))

HARNESS_KERNELS = [ADD, MUL, SOFTMAX, LOGISTIC, TANH]

# ----------------------------------------------------------------------------------------------
# QUANTIZE / DEQUANTIZE: one-op flatbuffers written with the schema bindings


def one_op_model(op_name: str, in_type: str, out_type: str, shape: list[int],
                 in_q: tuple[float, int] | None, out_q: tuple[float, int] | None) -> bytes:
    """A one-operator .tflite (subgraph input -> op -> output) for QUANTIZE / DEQUANTIZE."""
    import flatbuffers

    s = kh._schema()
    code = getattr(s.BuiltinOperator, op_name)
    oc = s.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1

    def tensor(name: str, ttype: str, q: tuple[float, int] | None, buf: int):
        t = s.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = getattr(s.TensorType, ttype)
        t.buffer = buf
        if q is not None:
            qp = s.QuantizationParametersT()
            qp.scale = [float(np.float32(q[0]))]
            qp.zeroPoint = [int(q[1])]
            t.quantization = qp
        return t

    sg = s.SubGraphT()
    sg.tensors = [tensor("input", in_type, in_q, 1), tensor("output", out_type, out_q, 2)]
    sg.inputs, sg.outputs = [0], [1]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    sg.operators = [op]
    m = s.ModelT()
    m.version = 3
    m.description = "noisebudget one-op test model"
    m.operatorCodes = [oc]
    m.subgraphs = [sg]
    m.buffers = [s.BufferT() for _ in range(3)]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _rand_scale(rng: np.random.Generator) -> float:
    return float(np.float32(10 ** rng.uniform(-4.0, 1.0)))


def _rand_shape(rng: np.random.Generator) -> list[int]:
    return [1] + [_ri(rng, 1, 6) for _ in range(_ri(rng, 1, 3))]


def _float_inputs(rng: np.random.Generator, shape: list[int], s: float, z: int) -> np.ndarray:
    """Floats around the int8 grid of (s, z): uniform, exact ties (k + 1/2) * s, grid points, out of range."""
    n = int(np.prod(shape))
    k = rng.integers(-200, 200, size=n) - z
    kind = rng.integers(0, 4, size=n)
    v = np.where(kind == 0, rng.uniform(-140, 140, size=n) * s,
                 np.where(kind == 1, (k + 0.5) * s, np.where(kind == 2, k * s, rng.normal(size=n) * 1e4 * s)))
    return v.astype(np.float32).reshape(shape)


@dataclass(frozen=True)
class CustomKernel:
    """A kernel checked on hand-written or patched one-op models:
    ``make(rng) -> (model bytes, input maker rng -> list of the model's inputs)``."""

    name: str
    make: Callable[[np.random.Generator], tuple[bytes, Callable[[np.random.Generator], np.ndarray]]]
    c_case: Callable[[ParsedOp, list[np.ndarray]], CCase]
    c_body: str
    c_sources: tuple[str, ...]
    c_includes: tuple[str, ...]


def _quantize_make(rng: np.random.Generator):
    shape, s, z = _rand_shape(rng), _rand_scale(rng), _ri(rng, -128, 127)
    buf = one_op_model("QUANTIZE", "FLOAT32", "INT8", shape, None, (s, z))
    return buf, lambda r: [_float_inputs(r, shape, s, z)]


def _quantize_case(op: ParsedOp, xs: list[np.ndarray]) -> CCase:
    o, x = op.outputs[0], xs[0]
    p = quant_ops.quantize_params(scale(o), zp(o), o.size)
    return CCase([np.asarray([p.scale], np.float32), i32(p.size, p.zero_point), x.reshape(-1)], o.size)


QUANTIZE_BODY = r"""
    nb_quantize_params_t p;
    p.scale = ARG_F32(0)[0]; p.size = ARG_I32(1)[0]; p.zero_point = ARG_I32(1)[1];
    if ((uint32_t)p.size != out_nbytes) return 1;
    nb_quantize_f32(&p, ARG_F32(2), (int8_t *)out);
    return 0;
"""


def _int8_inputs(shape: list[int]) -> Callable[[np.random.Generator], list[np.ndarray]]:
    return lambda r: [r.integers(-128, 127, size=shape, endpoint=True).astype(np.int8)]


def _requantize_make(rng: np.random.Generator):
    shape, si, zi, zo = _rand_shape(rng), _rand_scale(rng), _ri(rng, -128, 127), _ri(rng, -128, 127)
    so = float(np.float32(si * 10 ** rng.uniform(-1.5, 1.5)))
    buf = one_op_model("QUANTIZE", "INT8", "INT8", shape, (si, zi), (so, zo))
    return buf, _int8_inputs(shape)


def _requantize_case(op: ParsedOp, xs: list[np.ndarray]) -> CCase:
    t, o, x = op.inputs[0], op.outputs[0], xs[0]
    p = quant_ops.requantize_params(scale(t), zp(t), scale(o), zp(o), o.size)
    return CCase([i32(*p.as_list()), x.reshape(-1)], o.size)


REQUANTIZE_BODY = r"""
    const int32_t *q = ARG_I32(0);
    nb_requantize_params_t p;
    p.size = q[0]; p.input_zero_point = q[1]; p.output_zero_point = q[2]; p.multiplier = q[3]; p.shift = q[4];
    if ((uint32_t)p.size != out_nbytes) return 1;
    nb_requantize_i8(&p, ARG_I8(1), (int8_t *)out);
    return 0;
"""


def _dequantize_make(rng: np.random.Generator):
    shape, s, z = _rand_shape(rng), _rand_scale(rng), _ri(rng, -128, 127)
    buf = one_op_model("DEQUANTIZE", "INT8", "FLOAT32", shape, (s, z), None)
    return buf, _int8_inputs(shape)


def _dequantize_case(op: ParsedOp, xs: list[np.ndarray]) -> CCase:
    t, o, x = op.inputs[0], op.outputs[0], xs[0]
    p = quant_ops.dequantize_params(scale(t), zp(t), o.size)
    return CCase([np.asarray([p.scale], np.float32), i32(p.size, p.zero_point), x.reshape(-1)], 4 * o.size)


DEQUANTIZE_BODY = r"""
    nb_dequantize_params_t p;
    p.scale = ARG_F32(0)[0]; p.size = ARG_I32(1)[0]; p.zero_point = ARG_I32(1)[1];
    if ((uint32_t)p.size * 4u != out_nbytes) return 1;
    nb_dequantize(&p, ARG_I8(2), (float *)out);
    return 0;
"""

def with_quant(buf: bytes, new_q: dict[int, tuple[float, int]]) -> bytes:
    """The same model with the (scale, zero point) of some tensors (by index) replaced."""
    import flatbuffers

    s = kh._schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    for ti, (sc, z) in new_q.items():
        q = m.subgraphs[0].tensors[ti].quantization
        q.scale, q.zeroPoint = [float(np.float32(sc))], [int(z)]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _patched_make(kspec: KernelSpec) -> Callable:
    """Random converted model of ``kspec`` with random scales / zero points patched into its
    non-constant tensors (wider than the converter's calibrated choices), within TFLM's constraints:
    SOFTMAX output stays 1/256, -128; LOGISTIC output zero point -128; ADD output scale keeps the
    output multiplier < 1."""

    def make(rng: np.random.Generator):
        buf = None
        while buf is None:
            buf = kh.model_for(kspec, kspec.random_spec(rng))
        pm = kh.parse_model_cached(buf)
        op = pm.ops[0]
        new_q: dict[int, tuple[float, int]] = {}
        for t in op.inputs:
            if t is not None and t.data is None:
                new_q[t.index] = (float(10 ** rng.uniform(-3.0, 0.7)), _ri(rng, -128, 127))
        o = op.outputs[0]
        in_max = max(sc for sc, _ in new_q.values())
        if kspec.key in ("ADD", "MUL"):
            new_q[o.index] = (float(in_max * 10 ** rng.uniform(-1.5, 1.5)), _ri(rng, -128, 127))
        elif kspec.key == "TANH":
            new_q[o.index] = (float(10 ** rng.uniform(-3.0, 0.0)), _ri(rng, -128, 127))
        elif kspec.key == "LOGISTIC":
            new_q[o.index] = (float(10 ** rng.uniform(-3.0, 0.0)), -128)
        patched = with_quant(buf, new_q)
        shapes = [t.shape for t in pm.inputs]
        return patched, lambda r: [r.integers(-128, 127, size=sh, endpoint=True).astype(np.int8) for sh in shapes]

    return make


LUT_BODY = r"""
    nb_lut_params_t p;
    p.size = ARG_I32(0)[0];
    p.table = ARG_I8(1);
    if (ARG_N(1) != 256 || (uint32_t)p.size != out_nbytes) return 1;
    nb_lut_i8(&p, ARG_I8(2), (int8_t *)out);
    return 0;
"""


def _lut_case(table_fn: Callable[[ParsedOp], np.ndarray]) -> Callable[[ParsedOp, list[np.ndarray]], CCase]:
    def case(op: ParsedOp, xs: list[np.ndarray]) -> CCase:
        return CCase([i32(op.outputs[0].size), table_fn(op), xs[0].reshape(-1)], op.outputs[0].size)

    return case


def _logistic_table(op: ParsedOp) -> np.ndarray:
    x, o = op.inputs[0], op.outputs[0]
    return quant_ops.logistic_lut(quant_ops.logistic_params(scale(x), zp(x), x.size, zp(o)))


def _tanh_table(op: ParsedOp) -> np.ndarray:
    x = op.inputs[0]
    return quant_ops.tanh_lut(quant_ops.tanh_params(scale(x), zp(x), x.size))


def _requantize_table(op: ParsedOp) -> np.ndarray:
    t, o = op.inputs[0], op.outputs[0]
    return quant_ops.requantize_lut(quant_ops.requantize_params(scale(t), zp(t), scale(o), zp(o), o.size))


CUSTOM: dict[str, CustomKernel] = {
    k.name: k for k in (
        CustomKernel("QUANTIZE", _quantize_make, _quantize_case, QUANTIZE_BODY, ("nb_quantize.c",),
                     ("nb_quantize.h",)),
        CustomKernel("REQUANTIZE", _requantize_make, _requantize_case, REQUANTIZE_BODY, ("nb_quantize.c",),
                     ("nb_quantize.h",)),
        CustomKernel("DEQUANTIZE", _dequantize_make, _dequantize_case, DEQUANTIZE_BODY, ("nb_dequantize.c",),
                     ("nb_dequantize.h",)),
        *(CustomKernel(f"{k.key}_QPARAMS", _patched_make(k), k.c_case, k.c_body, k.c_sources, k.c_includes)
          for k in HARNESS_KERNELS),
        CustomKernel("LOGISTIC_LUT", _patched_make(LOGISTIC), _lut_case(_logistic_table), LUT_BODY, ("nb_lut.c",),
                     ("nb_lut.h",)),
        CustomKernel("TANH_LUT", _patched_make(TANH), _lut_case(_tanh_table), LUT_BODY, ("nb_lut.c",),
                     ("nb_lut.h",)),
        CustomKernel("REQUANTIZE_LUT", _requantize_make, _lut_case(_requantize_table), LUT_BODY, ("nb_lut.c",),
                     ("nb_lut.h",)),
    )
}


def check_custom(kern: CustomKernel, rng: np.random.Generator, n_models: int, n_inputs: int, *,
                 sanitize: bool = False) -> CheckResult:
    """``n_models`` random one-op models x ``n_inputs`` random inputs, TFLM vs C (bit patterns)."""
    drv = kh.build_driver(kern.c_body, kern.c_sources, kern.c_includes, sanitize=sanitize)
    res = CheckResult()
    cases, expected = [], []
    for _ in range(n_models):
        buf, make_input = kern.make(rng)
        pm = kh.parse_model_cached(buf)
        op = pm.ops[0]
        for _ in range(n_inputs):
            xs = make_input(rng)
            expected.append(kh.run_tflm(buf, xs)[0])
            cases.append(kern.c_case(op, kh.op_inputs(pm, op, xs)))
    got = drv.run(cases)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        eb = np.ascontiguousarray(e).reshape(-1)
        gb = np.frombuffer(g, dtype=eb.dtype)
        res.cases += 1
        if gb.shape != eb.shape or gb.tobytes() != eb.tobytes():
            res.mismatches += 1
            if not res.first_failure:
                res.first_failure = f"{kern.name} case {i}: expected {eb[:8].tolist()} got {gb[:8].tolist()}"
    return res


# ----------------------------------------------------------------------------------------------
# tests: harness kernels


def _assert_ok(res: CheckResult) -> None:
    assert res.mismatches == 0, res.first_failure


_SETTINGS = settings(max_examples=6, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("kspec", HARNESS_KERNELS, ids=lambda k: k.key)
@_SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_kernel_matches_tflm(kspec: KernelSpec, seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = kspec.random_spec(rng)
    res = kh.check_spec(kspec, spec, n_inputs=6, seed=seed)
    _assert_ok(res)


_FIXED_SPECS = {
    "ADD": {"s1": [1, 3, 4, 5], "s2": [1, 1, 4, 1], "const2": False, "swap": False, "act": "relu",
            "r1": [-2.0, 3.0], "r2": [-0.5, 0.25], "seed": 1},
    "MUL": {"s1": [1, 3, 5], "s2": [1, 5], "const2": False, "swap": True, "act": "relu6",
            "r1": [-4.0, 4.0], "r2": [0.0, 2.0], "seed": 2},
    "SOFTMAX": {"shape": [1, 3, 17], "range": [-8.0, 8.0], "seed": 3},
    "LOGISTIC": {"shape": [1, 4, 8], "range": [-9.0, 7.0], "seed": 4},
    "TANH": {"shape": [1, 4, 8], "range": [-5.0, 3.0], "seed": 5},
}


@pytest.mark.parametrize("kspec", HARNESS_KERNELS, ids=lambda k: k.key)
def test_fixed_model_converts_and_sanitizer_clean(kspec: KernelSpec) -> None:
    """A fixed spec must convert to exactly one op (so the random tests cannot all be vacuous) and
    match TFLM under AddressSanitizer + UBSan."""
    spec = _FIXED_SPECS[kspec.key]
    buf = kh.model_for(kspec, spec)
    assert buf is not None, f"{kspec.key}: converter did not give a one-op model"
    res = kh.check_model(kspec, buf, 24, np.random.default_rng(0), sanitize=True)
    assert res.cases == 24
    _assert_ok(res)


@pytest.mark.parametrize("kspec", [SOFTMAX, LOGISTIC, TANH], ids=lambda k: k.key)
def test_every_int8_input_value(kspec: KernelSpec) -> None:
    """All 256 int8 values through LOGISTIC/TANH, and softmax rows holding every value."""
    spec = dict(_FIXED_SPECS[kspec.key])
    spec["shape"] = [1, 4, 64] if kspec.key == "SOFTMAX" else [1, 256]
    spec["range"] = [-3.0, 20.0] if kspec.key == "SOFTMAX" else [-10.0, 6.0]
    buf = kh.model_for(kspec, spec)
    assert buf is not None
    x = np.arange(-128, 128, dtype=np.int8).reshape(spec["shape"])
    if kspec.key == "SOFTMAX":
        x = np.random.default_rng(0).permutation(x.reshape(-1)).reshape(spec["shape"]).astype(np.int8)
    op = kh.parse_model_cached(buf).ops[0]
    expected = kh.run_tflm(buf, [x])[0].reshape(-1)
    drv = kh.build_driver(kspec.c_body, kspec.c_sources, kspec.c_includes)
    got = np.frombuffer(drv.run([kspec.c_case(op, [x])])[0], dtype=np.int8)
    np.testing.assert_array_equal(got, expected)


@_SETTINGS
@given(beta=st.floats(0.05, 8.0), seed=st.integers(0, 2**31 - 1))
def test_softmax_beta_matches_tflm(beta: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    buf = None
    while buf is None:
        buf = kh.model_for(SOFTMAX, softmax_random_spec(rng))
    patched = with_softmax_beta(buf, beta)
    assert kh.parse_model_cached(patched).ops[0].options["beta"] == pytest.approx(beta, rel=1e-6)
    _assert_ok(kh.check_model(SOFTMAX, patched, 6, rng))


# ----------------------------------------------------------------------------------------------
# tests: QUANTIZE / DEQUANTIZE


_CONVERTING = sorted(k for k in CUSTOM if k.endswith("_QPARAMS") or k in ("LOGISTIC_LUT", "TANH_LUT"))
_WRITTEN = sorted(set(CUSTOM) - set(_CONVERTING))


@pytest.mark.parametrize("name", _WRITTEN)
@_SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_custom_kernel_matches_tflm(name: str, seed: int) -> None:
    res = check_custom(CUSTOM[name], np.random.default_rng(seed), n_models=4, n_inputs=4)
    assert res.cases == 16
    _assert_ok(res)


@pytest.mark.parametrize("name", _CONVERTING)
@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_patched_model_kernel_matches_tflm(name: str, seed: int) -> None:
    """Converted models with random scales / zero points patched in (one conversion per example)."""
    res = check_custom(CUSTOM[name], np.random.default_rng(seed), n_models=1, n_inputs=8)
    assert res.cases == 8
    _assert_ok(res)


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_custom_kernel_sanitizer_clean(name: str) -> None:
    n_models = 2 if name in _CONVERTING else 6
    res = check_custom(CUSTOM[name], np.random.default_rng(7), n_models=n_models, n_inputs=3, sanitize=True)
    assert res.cases == 3 * n_models
    _assert_ok(res)


def test_float_model_pipeline_matches_tflm() -> None:
    """A float-io converted ADD model (QUANTIZE -> ADD -> DEQUANTIZE, converter-chosen params): our
    three C kernels chained give TFLM's float output bits."""
    import tensorflow as tf

    keras = _keras()
    keras.utils.set_random_seed(0)
    a = keras.Input((3, 5), batch_size=1)
    b = keras.Input((3, 5), batch_size=1)
    model = keras.Model([a, b], keras.ops.add(a, b))
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(16):
            yield [rng.uniform(-2, 3, size=(1, 3, 5)).astype(np.float32),
                   rng.uniform(-1, 1, size=(1, 3, 5)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    buf = conv.convert()
    pm = kh.parse_model(buf)
    names = [o.name for o in pm.ops]
    assert sorted(names) == ["ADD", "DEQUANTIZE", "QUANTIZE", "QUANTIZE"], names
    add_op = next(o for o in pm.ops if o.name == "ADD")
    q_ops = {o.outputs[0].index: o for o in pm.ops if o.name == "QUANTIZE"}
    deq = next(o for o in pm.ops if o.name == "DEQUANTIZE")

    qdrv = kh.build_driver(QUANTIZE_BODY, ("nb_quantize.c",), ("nb_quantize.h",))
    adrv = kh.build_driver(ADD_BODY, ("nb_add.c",), ("nb_add.h",))
    ddrv = kh.build_driver(DEQUANTIZE_BODY, ("nb_dequantize.c",), ("nb_dequantize.h",))
    for _ in range(8):
        xs = [rng.uniform(-3, 4, size=t.shape).astype(np.float32) for t in pm.inputs]
        expected = kh.run_tflm(buf, xs)[0].reshape(-1)
        feed = {t.index: x for t, x in zip(pm.inputs, xs, strict=True)}
        q_in = []
        for t in add_op.inputs:
            qop = q_ops[t.index]
            x = feed[qop.inputs[0].index]
            q_in.append(np.frombuffer(qdrv.run([_quantize_case(qop, [x])])[0], np.int8))
        s = add_op.outputs[0].size
        p = quant_ops.add_params(*_binary_args(add_op))
        y = np.frombuffer(adrv.run([CCase([i32(*p.as_list()), q_in[0], q_in[1]], s)])[0], np.int8)
        got = np.frombuffer(ddrv.run([_dequantize_case(deq, [y])])[0], np.float32)
        assert got.tobytes() == expected.astype(np.float32).tobytes()


# ----------------------------------------------------------------------------------------------
# tests: parameter computation


def test_add_params_known_values() -> None:
    p = quant_ops.add_params(0.5, 3, [1, 2, 3], 0.25, -4, [3], 0.1, -128, "RELU")
    assert p.left_shift == 20 and p.input1_offset == -3 and p.input2_offset == 4
    assert (p.input1_multiplier, p.input1_shift) == (1 << 30, 0)   # 0.5 / 1.0 = 0.5
    assert (p.input2_multiplier, p.input2_shift) == (1 << 30, -1)  # 0.25
    assert p.broadcast == 1 and p.out_shape == (1, 1, 2, 3)
    assert p.in1_strides == (0, 0, 3, 1) and p.in2_strides == (0, 0, 0, 1)
    assert (p.act_min, p.act_max) == (-128, 127)
    init = p.c_initializer()
    assert init.startswith("{.size = 6, .broadcast = 1, .out_shape = {1, 1, 2, 3}")
    assert init.endswith(".act_min = -128, .act_max = 127}")


def test_broadcast_layout_rules() -> None:
    assert quant_ops.broadcast_layout([1, 4, 5], [1, 4, 5])[3] is False
    out, s1, s2, bc = quant_ops.broadcast_layout([2, 1, 5], [3, 1])
    assert bc and out == (1, 2, 3, 5) and s1 == (0, 5, 0, 1) and s2 == (0, 0, 1, 0)
    with pytest.raises(ConversionError, match="not broadcastable"):
        quant_ops.broadcast_layout([2, 3], [4, 3])
    with pytest.raises(ConversionError, match="4 dims"):
        quant_ops.broadcast_layout([2, 1, 1, 1, 3], [1, 3])


def test_param_error_paths() -> None:
    with pytest.raises(ConversionError, match="SOFTMAX"):
        quant_ops.softmax_params(0.1, [1, 10], output_scale=1 / 128, output_zero_point=0)
    with pytest.raises(ConversionError, match="last dimension"):
        quant_ops.softmax_params(0.1, [1, 300])
    with pytest.raises(ConversionError, match="LOGISTIC"):
        quant_ops.logistic_params(0.1, 0, 10, output_zero_point=0)
    with pytest.raises(ConversionError, match="ADD output"):
        quant_ops.add_params(1.0, 0, [4], 1.0, 0, [4], 1e-9, 0)
    with pytest.raises(ConversionError, match="QUANTIZE"):
        quant_ops.quantize_params(0.0, 0, 4)


def test_softmax_and_activation_params_known_values() -> None:
    p = quant_ops.softmax_params(1.0 / 16, [1, 2, 10])
    # beta * scale * 2^26 = 2^22 -> multiplier 2^30, left shift 23; radius floor(31 * 2^26 / 2^23) = 248
    assert p.as_list() == [2, 10, 1 << 30, 23, -248]
    a = quant_ops.logistic_params(1.0 / 8, 5, 7)
    # 2^-3 * 2^27 = 2^24 = 0.5 * 2^25 -> multiplier 2^30, shift 25; radius floor(15 * 2^27 / 2^25) = 60
    assert a.as_list() == [7, 5, 60, 1 << 30, 25]
    assert quant_ops.tanh_params(1.0 / 8, 5, 7) == a


def test_lut_tables_equal_c_kernels() -> None:
    """The Python port behind logistic_lut / tanh_lut / requantize_lut equals the C kernels on all 256
    inputs for 300 random quantization parameter sets each (no TFLM needed: the C kernels are checked
    against TFLM above)."""
    rng = np.random.default_rng(11)
    x = np.arange(-128, 128, dtype=np.int8)
    todo = {"logistic": [], "tanh": [], "requantize": []}
    for _ in range(300):
        s_in, z_in = float(np.float32(10 ** rng.uniform(-3.5, 0.9))), _ri(rng, -128, 127)
        lp = quant_ops.logistic_params(s_in, z_in, 256)
        todo["logistic"].append((CCase([i32(*lp.as_list()), x], 256), quant_ops.logistic_lut(lp)))
        tp = quant_ops.tanh_params(s_in, z_in, 256)
        todo["tanh"].append((CCase([i32(*tp.as_list()), x], 256), quant_ops.tanh_lut(tp)))
        rp = quant_ops.requantize_params(s_in, z_in, float(s_in * 10 ** rng.uniform(-2, 2)), _ri(rng, -128, 127),
                                         256)
        todo["requantize"].append((CCase([i32(*rp.as_list()), x], 256), quant_ops.requantize_lut(rp)))
    bodies = {"logistic": (_unary_body("logistic"), ("nb_logistic.c",), ("nb_logistic.h",)),
              "tanh": (_unary_body("tanh"), ("nb_tanh.c",), ("nb_tanh.h",)),
              "requantize": (REQUANTIZE_BODY, ("nb_quantize.c",), ("nb_quantize.h",))}
    for name, items in todo.items():
        drv = kh.build_driver(*bodies[name])
        got = drv.run([c for c, _ in items])
        for g, (_, table) in zip(got, items, strict=True):
            np.testing.assert_array_equal(np.frombuffer(g, np.int8), table, err_msg=name)


def test_c_initializers_are_valid_c(tmp_path) -> None:
    """Every params dataclass renders an initializer that gcc accepts for its C struct (field names
    and order match), and a float scale survives the round trip."""
    import subprocess

    inits = {
        "nb_add_params_t": quant_ops.add_params(0.02, 3, [1, 2, 1, 4], 0.05, -7, [4], 0.04, 1, "RELU6"),
        "nb_mul_params_t": quant_ops.mul_params(0.02, 3, [1, 2, 4], 0.05, -7, [1, 2, 4], 0.001, -2, None),
        "nb_softmax_params_t": quant_ops.softmax_params(0.1, [1, 3, 7]),
        "nb_logistic_params_t": quant_ops.logistic_params(0.05, 4, 12),
        "nb_tanh_params_t": quant_ops.tanh_params(0.05, 4, 12),
        "nb_quantize_params_t": quant_ops.quantize_params(0.1, -3, 5),
        "nb_requantize_params_t": quant_ops.requantize_params(0.1, -3, 0.07, 9, 5),
        "nb_dequantize_params_t": quant_ops.dequantize_params(0.1, -3, 5),
    }
    headers = ["nb_add.h", "nb_mul.h", "nb_softmax.h", "nb_logistic.h", "nb_tanh.h", "nb_quantize.h",
               "nb_dequantize.h"]
    src = "".join(f'#include "{h}"\n' for h in headers) + "#include <stdio.h>\n"
    src += "".join(f"static const {t} p{i} = {p.c_initializer()};\n" for i, (t, p) in enumerate(inits.items()))
    src += "int main(void) {\n"
    src += "".join(f"    (void)p{i};\n" for i in range(len(inits)))
    src += '    printf("%.9g %d %d\\n", (double)p5.scale, (int)p0.in2_strides[3], (int)p0.act_max);\n'
    src += "    return 0;\n}\n"
    (tmp_path / "init.c").write_text(src)
    kh.compile_c([tmp_path / "init.c"], tmp_path / "init")
    out = subprocess.run([str(tmp_path / "init")], capture_output=True, text=True, check=True).stdout.split()
    assert np.float32(out[0]) == np.float32(0.1)
    assert out[1:] == ["1", str(inits["nb_add_params_t"].act_max)]


def test_c_kernels_compile_for_cortex_m4(tmp_path) -> None:
    """-Wall -Wextra -Werror clean for the M4 target (the firmware build)."""
    import shutil
    import subprocess

    cc = shutil.which("arm-none-eabi-gcc")
    assert cc is not None, "arm-none-eabi-gcc missing (scripts/setup.sh installs gcc-arm-none-eabi)"
    for name in ("nb_add", "nb_mul", "nb_softmax", "nb_logistic", "nb_tanh", "nb_quantize", "nb_dequantize",
                 "nb_lut"):
        cmd = [cc, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-O2",
               "-Wall", "-Wextra", "-Werror", f"-I{kh.KERNELS_DIR}", "-c", str(kh.KERNELS_DIR / f"{name}.c"),
               "-o", str(tmp_path / f"{name}.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr



# ----------------------------------------------------------------------------------------------
# LiteRT vs TFLM (a measurement helper for the report, not a test)


def _run_litert(buf: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=buf)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs, strict=True):
        it.set_tensor(d["index"], x)
    it.invoke()
    return np.array(it.get_tensor(it.get_output_details()[0]["index"]))


def litert_vs_tflm(key: str, n_models: int = 20, inputs_per_model: int = 5, seed: int = 0) -> dict:
    """Compare LiteRT and TFLM outputs on random one-op models of kernel ``key`` (harness or CUSTOM).
    Returns cases, differing cases/elements, the max |difference| (int8 LSB, or float32 ULP for
    DEQUANTIZE) and the largest tensor size seen."""
    rng = np.random.default_rng(seed)
    out = {"op": key, "cases": 0, "diff_cases": 0, "diff_elems": 0, "elems": 0, "max_diff": 0, "max_size": 0}
    for _ in range(n_models):
        if key in CUSTOM:
            buf, make_input = CUSTOM[key].make(rng)
            xs_list = [make_input(rng) for _ in range(inputs_per_model)]
        else:
            buf = kh.model_for(kh.REGISTRY[key], kh.REGISTRY[key].random_spec(rng))
            if buf is None:
                continue
            xs_list = [kh.random_inputs(buf, rng) for _ in range(inputs_per_model)]
        for xs in xs_list:
            e = kh.run_tflm(buf, xs)[0].reshape(-1)
            g = _run_litert(buf, xs).reshape(-1)
            if e.dtype == np.float32:
                d = np.abs(e.view(np.int32).astype(np.int64) - g.view(np.int32).astype(np.int64))
            else:
                d = np.abs(e.astype(np.int64) - g.astype(np.int64))
            out["cases"] += 1
            out["elems"] += int(d.size)
            out["max_size"] = max(out["max_size"], int(d.size))
            out["diff_elems"] += int(np.count_nonzero(d))
            out["diff_cases"] += int(np.any(d))
            out["max_diff"] = max(out["max_diff"], int(d.max()) if d.size else 0)
    return out


def main(argv: list[str] | None = None) -> int:
    """Soak the CUSTOM kernels (the harness ones go through benchmarks/fuzz_kernels.py):
    ``.venv/bin/python -m tests.test_kernels_b --cases 10000 [--kernels QUANTIZE,DEQUANTIZE] [--sanitize]``."""
    import argparse
    import time

    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--kernels", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inputs-per-model", type=int, default=50)
    ap.add_argument("--sanitize", action="store_true", help="ASan/UBSan driver builds")
    args = ap.parse_args(argv)
    names = [k for k in args.kernels.split(",") if k] or list(CUSTOM)
    rows = []
    for name in names:
        t0 = time.perf_counter()
        rng = np.random.default_rng([args.seed, sum(name.encode())])
        res = CheckResult()
        with tqdm(total=args.cases, desc=name, unit="case", dynamic_ncols=True) as bar:
            while res.cases < args.cases:
                n_in = min(args.inputs_per_model, args.cases - res.cases)
                r = check_custom(CUSTOM[name], rng, 1, n_in, sanitize=args.sanitize)
                res.add(r)
                bar.update(r.cases)
        rows.append((name, res, time.perf_counter() - t0))
    print(f"{'kernel':<18}{'cases':>8}{'mismatches':>12}{'s':>8}")
    for name, res, sec in rows:
        print(f"{name:<18}{res.cases:>8}{res.mismatches:>12}{sec:>8.1f}")
        if res.first_failure:
            print("   ", res.first_failure)
    return 1 if any(r.mismatches for _, r, _ in rows) else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
