"""Integer requantization parameters computed exactly as TFLite Micro computes them.

These functions reproduce TFLM's ``Prepare`` arithmetic so our C kernels (firmware_templates/kernels)
can be fed constants that make them bit-exact to the TFLM reference kernels:

- :func:`quantize_multiplier` = ``tflite::QuantizeMultiplier`` (double-rounding build): ``frexp``,
  round half away from zero of ``q * 2**31``, ``2**31`` folded into the exponent, shifts below -31
  flushed to ``(0, 0)``. ``shift > 0`` means a left shift (see ``nb_multiply_by_quantized_multiplier``).
- :func:`conv_multipliers` = ``PopulateConvolutionQuantizationParams`` / FC per-tensor
  ``GetQuantizedConvolutionMultipler``: ``double(input_scale) * double(w_scale[c]) / double(output_scale)``
  with every scale first rounded to float32 (TFLite stores scales as float).
- :func:`activation_range` = ``CalculateActivationRangeQuantized`` (float32 ``f / scale``, rounded half
  away from zero, added to the zero point, clamped to the int8 range).
- :func:`mean_multiplier` = the MEAN ``Prepare`` multiplier ``double(in_scale) / double(out_scale)``.
- :func:`conv_output_size` / :func:`conv_padding` = TFLite's ``ComputeOutSize`` /
  ``ComputePaddingHeightWidth`` (top/left padding used by the reference kernels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

INT8_MIN = -128
INT8_MAX = 127

ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")


def _f32(x: float) -> float:
    """Round a Python float to float32 and back (TFLite tensors hold float32 scales)."""
    return float(np.float32(x))


def round_half_away(x: float) -> int:
    """``std::round``: round to nearest, ties away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Return ``(multiplier, shift)`` with ``real ~= multiplier * 2**(shift - 31)`` as TFLite does.

    ``multiplier`` is an int32 in ``[2**30, 2**31 - 1]`` (or 0), ``shift`` the exponent: positive =
    left shift before the fixed-point multiply, negative = rounding right shift after it.
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed > (1 << 31):
        raise ValueError(f"quantize_multiplier: {real!r} gave q_fixed={q_fixed} > 2^31")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if q_fixed > 2**31 - 1:
        raise ValueError(f"quantize_multiplier: {real!r} does not fit an int32 multiplier")
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def effective_scales(input_scale: float, weight_scales: Sequence[float] | np.ndarray,
                     output_scale: float) -> list[float]:
    """Per-channel effective scale ``input_scale * weight_scale[c] / output_scale`` (double math
    on float32-rounded scales, exactly TFLM's order of operations)."""
    s_in = _f32(input_scale)
    s_out = _f32(output_scale)
    return [s_in * _f32(w) / s_out for w in np.atleast_1d(np.asarray(weight_scales, dtype=np.float64))]


def conv_multipliers(input_scale: float, weight_scales: Sequence[float] | np.ndarray, output_scale: float,
                     n_channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) int32 arrays for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.

    A per-tensor weight scale (one value) is broadcast to ``n_channels`` if given (TFLM does this for
    convolutions); FULLY_CONNECTED per-tensor uses element 0 of the result."""
    scales = effective_scales(input_scale, weight_scales, output_scale)
    if n_channels is not None and len(scales) == 1:
        scales = scales * n_channels
    pairs = [quantize_multiplier(s) for s in scales]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def quantize_value(f: float, scale: float, zero_point: int) -> int:
    """TFLite ``Quantize`` lambda of CalculateActivationRangeQuantized: zp + round(float32(f / scale))."""
    q = np.float32(f) / np.float32(scale)
    return int(zero_point) + round_half_away(float(q))


def activation_range(activation: str | None, output_scale: float, output_zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """(act_min, act_max) for a fused activation on an int8 output, as TFLM computes it."""
    act = (activation or "NONE").upper()
    if act == "NONE":
        return qmin, qmax
    if act == "RELU":
        return max(qmin, quantize_value(0.0, output_scale, output_zero_point)), qmax
    if act == "RELU6":
        return (max(qmin, quantize_value(0.0, output_scale, output_zero_point)),
                min(qmax, quantize_value(6.0, output_scale, output_zero_point)))
    if act == "RELU_N1_TO_1":
        return (max(qmin, quantize_value(-1.0, output_scale, output_zero_point)),
                min(qmax, quantize_value(1.0, output_scale, output_zero_point)))
    raise ValueError(f"activation_range: unsupported fused activation {activation!r}")


def mean_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """(multiplier, shift) of MEAN's Prepare: QuantizeMultiplier(double(in_scale) / double(out_scale))."""
    return quantize_multiplier(_f32(input_scale) / _f32(output_scale))


def conv_output_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """TFLite ComputeOutSize for padding 'SAME' or 'VALID'."""
    eff = (filter_size - 1) * dilation + 1
    if stride == 0:
        return 0
    if padding.upper() == "SAME":
        return (in_size + stride - 1) // stride
    if padding.upper() == "VALID":
        return (in_size + stride - eff) // stride
    raise ValueError(f"conv_output_size: unknown padding {padding!r}")


def conv_padding(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite ComputePadding: the top/left padding used by the reference kernels (0 for VALID)."""
    eff = (filter_size - 1) * dilation + 1
    pad = ((out_size - 1) * stride + eff - in_size) // 2
    return max(pad, 0)


MEAN_HW_KEEPDIMS = 0
MEAN_SAME_QUANT = 1
MEAN_REQUANT = 2


def mean_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                in_shape: Sequence[int], axes: Sequence[int], keep_dims: bool, *,
                legacy_hw_path: bool = False) -> tuple[int, int, int]:
    """(method, multiplier, shift) for nb_mean, choosing the int8 MEAN path TFLM takes:

    - equal zero points and float32 scales: reference_ops::Mean (MEAN_SAME_QUANT, truncating division);
    - else reference_ops::QuantizedMeanOrSum (MEAN_REQUANT): the Prepare multiplier in_scale/out_scale is
      divided by the element count (``(m << s) // n`` with ``s = min(floor(log2 n), 32, 31 + shift)``,
      shift reduced by ``s``).

    Older TFLM releases sent keep_dims 4-D means over axes {1, 2} to reference_integer_ops::Mean
    (MEAN_HW_KEEPDIMS); ``legacy_hw_path=True`` selects it. The tflite-micro package we test against
    (checked on random models, tests/test_kernels_a.py) uses QuantizedMeanOrSum for that case too.
    """
    ndim = len(in_shape)
    resolved = sorted({a + ndim if a < 0 else a for a in axes})
    mult, shift = mean_multiplier(input_scale, output_scale)
    if legacy_hw_path and keep_dims and ndim == 4 and resolved == [1, 2] and len(axes) == 2:
        return MEAN_HW_KEEPDIMS, mult, shift
    same_scale = np.float32(input_scale) == np.float32(output_scale)
    if int(input_zero_point) == int(output_zero_point) and same_scale:
        return MEAN_SAME_QUANT, 0, 0
    count = 1
    for a in resolved:
        count *= int(in_shape[a])
    s = count.bit_length() - 1
    s = min(s, 32)
    s = min(s, 31 + shift)
    mult = (mult << s) // count
    return MEAN_REQUANT, int(mult), int(shift - s)


def strided_slice_params(in_shape: Sequence[int], begin: Sequence[int], end: Sequence[int],
                         strides: Sequence[int], begin_mask: int = 0, end_mask: int = 0,
                         shrink_axis_mask: int = 0, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                         offset: bool = False) -> tuple[list[int], list[int], list[int]]:
    """Per-dimension (start, stop, stride) as TFLite's StartForAxis/StopForAxis resolve them.

    Ellipsis/new-axis masks and offset=True are not supported (our models do not produce them)."""
    if ellipsis_mask or new_axis_mask or offset:
        raise ValueError("strided_slice_params: ellipsis_mask/new_axis_mask/offset are not supported")
    int_min, int_max = -(2**31), 2**31 - 1

    def clamp(v: int, lo: int, hi: int) -> int:
        return max(lo, min(hi, v))

    starts: list[int] = []
    stops: list[int] = []
    steps: list[int] = []
    for axis, size in enumerate(in_shape):
        stride = int(strides[axis])
        if stride == 0:
            raise ValueError("strided_slice_params: zero stride")
        start = int(begin[axis])
        if begin_mask & (1 << axis):
            start = int_min if stride > 0 else int_max
        if start < 0:
            start += size
        start = clamp(start, 0, size) if stride > 0 else clamp(start, -1, size - 1)
        if shrink_axis_mask & (1 << axis):
            stop = start + 1
        else:
            stop = int(end[axis])
            if end_mask & (1 << axis):
                stop = int_max if stride > 0 else int_min
            if stop < 0:
                stop += size
            stop = clamp(stop, 0, size) if stride > 0 else clamp(stop, -1, size - 1)
        if size == 0:
            start = stop = 0
        starts.append(start)
        stops.append(stop)
        steps.append(stride)
    return starts, stops, steps
