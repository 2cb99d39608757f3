"""Generation-time parameters for the KERNELS-B int8 C kernels, computed exactly as TFLite Micro's
``Prepare`` computes them, so the C kernels (firmware_templates/kernels/nb_*.c) do integer work only
and stay bit-exact to the TFLM reference kernels.

One function per op; each returns a small frozen dataclass whose fields are, in order, the fields of
the matching C params struct (``nb_<op>_params_t``). ``params.c_initializer()`` renders a C99
designated initializer for the generated code; ``params.as_list()`` the values in struct order.

- :func:`add_params`  ADD (``CalculateOpDataAdd``): left_shift 20, per-input multipliers
  ``s_i / (2 max(s1, s2))`` and output multiplier ``2 max(s1, s2) / (2^20 s_out)``, all via
  ``QuantizeMultiplierSmallerThanOneExp``; fused activation range; 4-D broadcast layout.
- :func:`mul_params`  MUL (``CalculateOpDataMul``): ``QuantizeMultiplier(s1 s2 / s_out)``.
- :func:`softmax_params`  SOFTMAX int8 (``PreprocessSoftmaxScaling`` with 5 integer bits,
  ``diff_min = -CalculateInputRadius(5, left_shift)``); output must be scale 1/256, zp -128.
- :func:`logistic_params` / :func:`tanh_params`  (``frexp(s_in * 2^27)``, radius
  ``CalculateInputRadius(4, shift, 31)``).
- :func:`quantize_params` (float -> int8), :func:`requantize_params` (int8 -> int8,
  ``QuantizeMultiplier(s_in / s_out)``), :func:`dequantize_params` (int8 -> float).
- :func:`logistic_lut` / :func:`tanh_lut` / :func:`requantize_lut`: int8[256] tables for nb_lut_i8
  (a bit-exact Python port of the TFLM integer pipelines evaluated for every input byte), the fast
  alternative to nb_logistic / nb_tanh / nb_requantize_i8 on the MCU.

Scales are rounded to float32 first (TFLite stores them as float) and then combined in double, in
TFLM's order of operations. Shapes are plain sequences of ints; activation names are the TFLite
``fused_activation_function`` names ("NONE", "RELU", "RELU6", "RELU_N1_TO_1") or None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import numpy as np

from convert.quant import activation_range, quantize_multiplier, round_half_away
from train.errors import ConversionError

ADD_LEFT_SHIFT_INT8 = 20
SOFTMAX_DIFF_INTEGER_BITS = 5
ACTIVATION_INPUT_INTEGER_BITS = 4
MAX_SOFTMAX_DEPTH = 256


def _f32(x: float) -> float:
    return float(np.float32(x))


def _c_value(v: object) -> str:
    if isinstance(v, float):
        return f"{np.float32(v).item()!r}f" if math.isfinite(v) else "0.0f"
    if isinstance(v, tuple):
        return "{" + ", ".join(_c_value(x) for x in v) + "}"
    return str(int(v))  # type: ignore[call-overload]


class _CParams:
    """Mixin: struct-ordered values and a C99 designated initializer."""

    def as_list(self) -> list:
        return list(astuple(self))  # type: ignore[call-overload]

    def c_initializer(self) -> str:
        parts = [f".{f.name} = {_c_value(getattr(self, f.name))}" for f in fields(self)]  # type: ignore[arg-type]
        return "{" + ", ".join(parts) + "}"


# ----------------------------------------------------------------------------------------------
# multipliers


def quantize_multiplier_smaller_than_one_exp(real: float, what: str = "multiplier") -> tuple[int, int]:
    """TFLite ``QuantizeMultiplierSmallerThanOneExp``: 0 < real < 1, returns (multiplier, shift <= 0)."""
    if not 0.0 < real < 1.0:
        raise ConversionError(f"{what}: real multiplier {real!r} must be in (0, 1) (check the tensor scales)")
    m, shift = quantize_multiplier(real)
    if shift > 0:  # pragma: no cover - impossible for real < 1
        raise ConversionError(f"{what}: shift {shift} > 0 for multiplier {real!r}")
    return m, shift


def quantize_multiplier_greater_than_one(real: float, what: str = "multiplier") -> tuple[int, int]:
    """TFLite ``QuantizeMultiplierGreaterThanOne``: real > 1, returns (multiplier, left_shift >= 0)."""
    if not real > 1.0:
        raise ConversionError(f"{what}: real multiplier {real!r} must be > 1 (check the input scale)")
    m, shift = quantize_multiplier(real)
    if shift < 0:  # pragma: no cover - impossible for real > 1
        raise ConversionError(f"{what}: shift {shift} < 0 for multiplier {real!r}")
    return m, shift


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLite ``CalculateInputRadius``."""
    if input_left_shift < 0 or input_left_shift > 62:
        raise ConversionError(f"input radius: left shift {input_left_shift} out of range "
                              "(input scale too small)")
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1)
                          * float(1 << (total_signed_bits - input_integer_bits))
                          / float(1 << input_left_shift))
    return int(math.floor(max_input_rescaled))


# ----------------------------------------------------------------------------------------------
# broadcasting


def broadcast_layout(shape1: Sequence[int], shape2: Sequence[int], op: str = "ADD"
                     ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], bool]:
    """(out_shape4, in1_strides4, in2_strides4, broadcast) for TFLite's 4-D slow broadcast.

    Shapes are right-aligned (numpy rules); ``broadcast`` is False when both shapes are equal after
    padding with leading 1s (TFLM then runs the elementwise path)."""
    s1, s2 = [int(d) for d in shape1], [int(d) for d in shape2]
    n = max(len(s1), len(s2))
    e1, e2 = [1] * (n - len(s1)) + s1, [1] * (n - len(s2)) + s2
    if e1 == e2:
        out = e1
        size = int(np.prod(out)) if out else 1
        return (1, 1, 1, size), (0, 0, 0, 1), (0, 0, 0, 1), False
    if n > 4:
        raise ConversionError(f"{op}: broadcasting {s1} with {s2} needs more than 4 dims (TFLM supports 4)")
    e1, e2 = [1] * (4 - n) + e1, [1] * (4 - n) + e2
    out: list[int] = []
    for a, b in zip(e1, e2, strict=True):
        if a != b and a != 1 and b != 1:
            raise ConversionError(f"{op}: shapes {s1} and {s2} are not broadcastable")
        out.append(max(a, b))

    def strides(e: list[int]) -> tuple[int, ...]:
        st = [0, 0, 0, 0]
        acc = 1
        for k in range(3, -1, -1):
            st[k] = acc if e[k] != 1 else 0
            acc *= e[k]
        return tuple(st)

    return tuple(out), strides(e1), strides(e2), True


# ----------------------------------------------------------------------------------------------
# ADD / MUL


@dataclass(frozen=True)
class AddParams(_CParams):
    size: int
    broadcast: int
    out_shape: tuple[int, ...]
    in1_strides: tuple[int, ...]
    in2_strides: tuple[int, ...]
    left_shift: int
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def add_params(input1_scale: float, input1_zero_point: int, input1_shape: Sequence[int],
               input2_scale: float, input2_zero_point: int, input2_shape: Sequence[int],
               output_scale: float, output_zero_point: int, activation: str | None = None) -> AddParams:
    """int8 ADD parameters (TFLM ``CalculateOpDataAdd``)."""
    s1, s2, so = _f32(input1_scale), _f32(input2_scale), _f32(output_scale)
    if min(s1, s2, so) <= 0.0:
        raise ConversionError(f"ADD: scales must be positive (got {s1}, {s2}, {so})")
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(s1 / twice_max, "ADD input1")
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(s2 / twice_max, "ADD input2")
    mo, sho = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << ADD_LEFT_SHIFT_INT8) * so),
                                                       "ADD output")
    amin, amax = activation_range(activation, so, int(output_zero_point))
    out_shape, st1, st2, bc = broadcast_layout(input1_shape, input2_shape, "ADD")
    return AddParams(int(np.prod(out_shape)), int(bc), out_shape, st1, st2, ADD_LEFT_SHIFT_INT8,
                     -int(input1_zero_point), m1, sh1, -int(input2_zero_point), m2, sh2,
                     int(output_zero_point), mo, sho, amin, amax)


@dataclass(frozen=True)
class MulParams(_CParams):
    size: int
    broadcast: int
    out_shape: tuple[int, ...]
    in1_strides: tuple[int, ...]
    in2_strides: tuple[int, ...]
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def mul_params(input1_scale: float, input1_zero_point: int, input1_shape: Sequence[int],
               input2_scale: float, input2_zero_point: int, input2_shape: Sequence[int],
               output_scale: float, output_zero_point: int, activation: str | None = None) -> MulParams:
    """int8 MUL parameters (TFLM ``CalculateOpDataMul``)."""
    s1, s2, so = _f32(input1_scale), _f32(input2_scale), _f32(output_scale)
    if min(s1, s2, so) <= 0.0:
        raise ConversionError(f"MUL: scales must be positive (got {s1}, {s2}, {so})")
    m, shift = quantize_multiplier(s1 * s2 / so)
    amin, amax = activation_range(activation, so, int(output_zero_point))
    out_shape, st1, st2, bc = broadcast_layout(input1_shape, input2_shape, "MUL")
    return MulParams(int(np.prod(out_shape)), int(bc), out_shape, st1, st2, -int(input1_zero_point),
                     -int(input2_zero_point), int(output_zero_point), m, shift, amin, amax)


# ----------------------------------------------------------------------------------------------
# SOFTMAX / LOGISTIC / TANH


@dataclass(frozen=True)
class SoftmaxParams(_CParams):
    outer_size: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(input_scale: float, input_shape: Sequence[int], beta: float = 1.0,
                   output_scale: float = 1.0 / 256, output_zero_point: int = -128) -> SoftmaxParams:
    """int8 -> int8 SOFTMAX parameters (TFLM ``CalculateSoftmaxParams``), softmax over the last dim."""
    if output_zero_point != -128 or _f32(output_scale) != _f32(1.0 / 256):
        raise ConversionError(f"SOFTMAX: int8 output must have scale 1/256 and zero point -128 "
                              f"(got {output_scale}, {output_zero_point})")
    shape = [int(d) for d in input_shape]
    if not shape:
        raise ConversionError("SOFTMAX: input must have at least one dimension")
    depth = shape[-1]
    if not 1 <= depth <= MAX_SOFTMAX_DEPTH:
        raise ConversionError(f"SOFTMAX: last dimension {depth} not in [1, {MAX_SOFTMAX_DEPTH}]")
    real = min(float(np.float32(beta)) * _f32(input_scale) * float(1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)),
               float((1 << 31) - 1))
    mult, left_shift = quantize_multiplier_greater_than_one(real, "SOFTMAX input")
    diff_min = -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift)
    outer = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return SoftmaxParams(outer, depth, mult, left_shift, diff_min)


@dataclass(frozen=True)
class ActivationParams(_CParams):
    """Fields of nb_logistic_params_t and nb_tanh_params_t."""

    size: int
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def _activation_params(op: str, input_scale: float, input_zero_point: int, size: int) -> ActivationParams:
    s = _f32(input_scale)
    if s <= 0.0:
        raise ConversionError(f"{op}: input scale must be positive (got {input_scale})")
    real = s * float(1 << (31 - ACTIVATION_INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    mult = round_half_away(q * float(1 << 31))
    if mult >= 1 << 31:  # pragma: no cover - cannot happen for a float32 scale
        raise ConversionError(f"{op}: input multiplier overflow for scale {s}")
    if left_shift < 0 or left_shift > 30:
        raise ConversionError(f"{op}: input scale {s} out of the supported range")
    radius = calculate_input_radius(ACTIVATION_INPUT_INTEGER_BITS, left_shift, 31)
    return ActivationParams(int(size), int(input_zero_point), radius, int(mult), int(left_shift))


def logistic_params(input_scale: float, input_zero_point: int, size: int,
                    output_zero_point: int = -128) -> ActivationParams:
    """int8 LOGISTIC parameters (TFLM ``CalculateArithmeticOpDataLogistic``); the kernel writes
    scale 1/256 / zero point -128 values (TFLM checks the zero point)."""
    if output_zero_point != -128:
        raise ConversionError(f"LOGISTIC: int8 output zero point must be -128 (got {output_zero_point})")
    return _activation_params("LOGISTIC", input_scale, input_zero_point, size)


def tanh_params(input_scale: float, input_zero_point: int, size: int) -> ActivationParams:
    """int8 TANH parameters (TFLM tanh ``CalculateArithmeticOpData``); the kernel writes
    scale 1/128 / zero point 0 values, as TFLM does whatever the output tensor says."""
    return _activation_params("TANH", input_scale, input_zero_point, size)


# ----------------------------------------------------------------------------------------------
# QUANTIZE / DEQUANTIZE


@dataclass(frozen=True)
class QuantizeParams(_CParams):
    """nb_quantize_params_t (float -> int8) and nb_dequantize_params_t (int8 -> float)."""

    size: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class RequantizeParams(_CParams):
    size: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int


def quantize_params(output_scale: float, output_zero_point: int, size: int) -> QuantizeParams:
    """float32 -> int8 QUANTIZE (reference_ops::AffineQuantize with the float32 output scale)."""
    s = _f32(output_scale)
    if not (s > 0.0 and math.isfinite(s)):
        raise ConversionError(f"QUANTIZE: output scale must be positive and finite (got {output_scale})")
    return QuantizeParams(int(size), s, int(output_zero_point))


def requantize_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                      size: int) -> RequantizeParams:
    """int8 -> int8 QUANTIZE (TFLM: ``QuantizeMultiplier(double(s_in) / double(s_out))``)."""
    si, so = _f32(input_scale), _f32(output_scale)
    if si <= 0.0 or so <= 0.0:
        raise ConversionError(f"QUANTIZE: scales must be positive (got {input_scale}, {output_scale})")
    m, shift = quantize_multiplier(si / so)
    if shift > 30:
        raise ConversionError(f"QUANTIZE: requantize scale ratio {si / so} too large")
    return RequantizeParams(int(size), int(input_zero_point), int(output_zero_point), m, shift)


def dequantize_params(input_scale: float, input_zero_point: int, size: int) -> QuantizeParams:
    """int8 -> float32 DEQUANTIZE (reference_ops::Dequantize)."""
    s = _f32(input_scale)
    if not math.isfinite(s):
        raise ConversionError(f"DEQUANTIZE: input scale must be finite (got {input_scale})")
    return QuantizeParams(int(size), s, int(input_zero_point))


# ----------------------------------------------------------------------------------------------
# 256-entry lookup tables: the int8 LOGISTIC / TANH output depends only on the input byte, so the
# generator can evaluate TFLM's integer pipeline (ported below, bit for bit) for all 256 inputs and
# the firmware runs nb_lut_i8 (one load per element) instead of the fixed-point math.

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


def _wrap32(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul."""
    if a == b == _I32_MIN:
        return _I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) >> 31  # C division truncates toward zero
    return q if ab + nudge >= 0 else -q


def _rdbp(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _sat_mul_pot(x: int, exponent: int) -> int:
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        if x > threshold:
            return _I32_MAX
        if x < -threshold:
            return _I32_MIN
        return _wrap32(x << exponent)
    if exponent < 0:
        return _rdbp(x, -exponent)
    return x


def _mbqm(x: int, m: int, shift: int) -> int:
    """TFLM MultiplyByQuantizedMultiplier (double rounding)."""
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbp(_srdhm(_wrap32(x << left), m), right)


def _exp_interval(a: int) -> int:
    x = _wrap32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _sat_mul_pot(x4, -2)
    poly = _sat_mul_pot(_wrap32(_srdhm(_wrap32(x4_over_4 + x3), 715827883) + x2), -1)
    return _wrap32(1895147668 + _srdhm(1895147668, _wrap32(x + poly)))


_EXP_MULTIPLIERS = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _wrap32((a & (quarter - 1)) - quarter)
    result = _exp_interval(_sat_mul_pot(a_mod, integer_bits))
    remainder = _wrap32(a_mod - a)
    for k, mult in enumerate(_EXP_MULTIPLIERS):
        exponent = k - 2
        if integer_bits > exponent and remainder & (1 << (frac + exponent)):
            result = _srdhm(result, mult)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return _I32_MAX if a == 0 else result


def _newton_q2(half_den: int) -> int:
    x = _wrap32(1515870810 + _srdhm(half_den, -1010580540))
    for _ in range(3):
        one_minus = _wrap32((1 << 29) - _srdhm(half_den, x))
        x = _wrap32(x + _sat_mul_pot(_srdhm(x, one_minus), 2))
    return x


def _half_sum(a: int, b: int) -> int:
    s = a + b
    v = s + (1 if s >= 0 else -1)
    return abs(v) // 2 * (1 if v >= 0 else -1)


def _logistic_q4(a: int) -> int:
    abs_in = a if a > 0 else _wrap32(-a)
    pos = _sat_mul_pot(_newton_q2(_half_sum(_exp_on_negative_values(_wrap32(-abs_in), 4), _I32_MAX)), 1)
    if a == 0:
        return 1 << 30
    return pos if a > 0 else _wrap32(_I32_MAX - pos)


def _tanh_q4(a: int) -> int:
    n = a if a < 0 else _wrap32(-a)
    x = _newton_q2(_half_sum(_exp_on_negative_values(n, 5), _I32_MAX))
    t = _sat_mul_pot(_wrap32(x - (1 << 29)), 2)
    if a == 0:
        return 0
    return _wrap32(-t) if a < 0 else t


def _activation_lut(p: ActivationParams, fn, out_shift: int, out_offset: int) -> np.ndarray:
    table = np.empty(256, dtype=np.int8)
    for i, v in enumerate(range(-128, 128)):
        x = v - p.input_zero_point
        if x <= -p.input_range_radius:
            y = -128
        elif x >= p.input_range_radius:
            y = 127
        else:
            q4 = _mbqm(x, p.input_multiplier, p.input_left_shift)
            y = min(127, max(-128, _rdbp(fn(q4), out_shift) + out_offset))
        table[i] = y
    return table


def logistic_lut(p: ActivationParams) -> np.ndarray:
    """int8[256] table: entry ``x + 128`` = TFLM int8 LOGISTIC of input byte x (for nb_lut_i8)."""
    return _activation_lut(p, _logistic_q4, 31 - 8, -128)


def tanh_lut(p: ActivationParams) -> np.ndarray:
    """int8[256] table: entry ``x + 128`` = TFLM int8 TANH of input byte x (for nb_lut_i8)."""
    return _activation_lut(p, _tanh_q4, 31 - 7, 0)


def requantize_lut(p: RequantizeParams) -> np.ndarray:
    """int8[256] table for an int8 -> int8 QUANTIZE (for nb_lut_i8)."""
    return np.array([min(127, max(-128, _mbqm(v - p.input_zero_point, p.multiplier, p.shift)
                                  + p.output_zero_point)) for v in range(-128, 128)], dtype=np.int8)
