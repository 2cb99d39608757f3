"""TFLite IR operator -> the C call of our int8 kernel: params struct initializer, constant arrays, call.

Every value is computed with convert/quant.py (KERNELS-A) and convert/quant_ops.py (KERNELS-B) exactly as
the kernel tests (tests/test_kernels_a.py, tests/test_kernels_b.py) compute the driver arguments, so a
generated model is bit-exact to TFLite Micro whenever each kernel is.

    p = op_params(subgraph, op)        # -> OpParams
    p.kernel, p.ctype, p.init          # "nb_conv2d", "nb_conv2d_params_t", "{.in = {...}, ...}"
    p.arrays                           # per-op constant arrays (multipliers, shifts, ...) named "{P}_mult" ...
    p.call                             # C statement with placeholders: {P} the params object name,
                                       # {T<i>} the pointer to tensor i (NULL for i = -1)
    p.tensors                          # tensor indices the call reads or writes (constants among them are
                                       # emitted by the code generator as const arrays)

The placeholders are replaced by convert/codegen.py, which owns names and memory placement. Ops outside
the kernel set (RELU / RELU6 standalone ops, float ops) raise ConversionError naming the op.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from convert import quant, quant_ops
from convert.tflite_ir import Operator, Subgraph, Tensor
from train.errors import ConversionError


@dataclass(frozen=True)
class CArray:
    """A per-op constant array; `name` is a suffix appended to the op's params name."""

    suffix: str
    ctype: str  # "int32_t", "int8_t", "float"
    values: tuple


@dataclass
class OpParams:
    index: int
    op: str
    kernel: str  # source stem in firmware_templates/kernels ("nb_conv2d")
    ctype: str | None  # params struct type, None when the call needs none
    init: str  # C99 initializer of the params struct ("" when ctype is None)
    call: str  # C statement(s) with {P} and {T<i>} placeholders
    tensors: list[int] = field(default_factory=list)
    arrays: list[CArray] = field(default_factory=list)
    returns_status: bool = False  # the call is an int expression (0 = ok)


# kernel stem -> extra kernel stems it needs (headers included by its header)
KERNEL_DEPS: dict[str, tuple[str, ...]] = {
    "nb_max_pool2d": ("nb_avg_pool2d",),
}
KERNEL_HEADERS_ONLY = ("nb_common.h", "nb_fixedpoint.h")


def _where(op: Operator) -> str:
    return f"op {op.index} {op.name}"


def _t(sg: Subgraph, op: Operator, pos: int, *, out: bool = False) -> Tensor:
    idx = op.outputs if out else op.inputs
    if pos >= len(idx) or idx[pos] < 0:
        raise ConversionError(f"{_where(op)}: missing {'output' if out else 'input'} {pos}")
    return sg.tensors[idx[pos]]


def _scale(t: Tensor) -> float:
    q = t.quantization
    if q is None or not q.is_quantized:
        raise ConversionError(f"tensor '{t.name}' has no quantization parameters")
    return float(q.scale[0])


def _zp(t: Tensor) -> int:
    q = t.quantization
    return int(q.zero_point[0]) if q is not None and q.zero_point.size else 0


def _act(op: Operator) -> str | None:
    v = op.options.get("fused_activation_function")
    return None if v is None else str(v)


def _dims4(shape: Sequence[int]) -> list[int]:
    shape = [int(s) for s in shape]
    if len(shape) > 4:
        raise ConversionError(f"shape {shape} has more than 4 dims (kernels support 4)")
    return [1] * (4 - len(shape)) + shape


def _c_dims(d: Sequence[int]) -> str:
    return "{" + ", ".join(str(int(x)) for x in d) + "}"


def _c_arr(vals: Sequence[int]) -> str:
    return "{" + ", ".join(str(int(v)) for v in vals) + "}"


def _const(t: Tensor, what: str, op: Operator) -> np.ndarray:
    if t.data is None:
        raise ConversionError(f"{_where(op)}: {what} '{t.name}' must be a constant tensor")
    return np.asarray(t.data)


def _requant(op: Operator, x: Tensor, w: Tensor, out: Tensor, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    mult, shift = quant.conv_multipliers(_scale(x), w.quantization.scale, _scale(out), n_channels=n)
    amin, amax = quant.activation_range(_act(op), _scale(out), _zp(out))
    return mult, shift, amin, amax


def _mult_arrays(mult: np.ndarray, shift: np.ndarray) -> list[CArray]:
    return [CArray("mult", "int32_t", tuple(int(v) for v in mult)),
            CArray("shift", "int32_t", tuple(int(v) for v in shift))]


def _conv(sg: Subgraph, op: Operator, depthwise: bool) -> OpParams:
    x, w, out = _t(sg, op, 0), _t(sg, op, 1), _t(sg, op, 0, out=True)
    bias = op.inputs[2] if len(op.inputs) > 2 else -1
    o = op.options
    if depthwise:
        _, kh, kw, cout = w.shape
    else:
        cout, kh, kw, _ = w.shape
    mult, shift, amin, amax = _requant(op, x, w, out, cout)
    _, ih, iw, cin = x.shape
    _, oh, ow, _ = out.shape
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
    fields = [
        f".in = {_c_dims(x.shape)}",
        f".filter = {_c_dims(w.shape)}",
        f".out = {_c_dims(out.shape)}",
    ]
    if depthwise:
        fields.append(f".depth_multiplier = {cout // cin}")
    fields += [
        f".stride_h = {sh}", f".stride_w = {sw}", f".dilation_h = {dh}", f".dilation_w = {dw}",
        f".pad_h = {quant.conv_padding(ih, kh, sh, dh, oh)}", f".pad_w = {quant.conv_padding(iw, kw, sw, dw, ow)}",
        f".input_zero_point = {_zp(x)}", f".output_zero_point = {_zp(out)}",
        ".out_multiplier = {P}_mult", ".out_shift = {P}_shift",
        f".act_min = {amin}", f".act_max = {amax}",
    ]
    kernel = "nb_depthwise_conv2d" if depthwise else "nb_conv2d"
    ctype = f"{kernel}_params_t"
    ins = [op.inputs[0], op.inputs[1], bias]
    return OpParams(
        op.index, op.name, kernel, ctype, "{" + ", ".join(fields) + "}",
        f"{kernel}(&{{P}}, {{T{ins[0]}}}, {{T{ins[1]}}}, {{T{ins[2]}}}, {{T{op.outputs[0]}}});",
        [i for i in ins if i >= 0] + [op.outputs[0]],
        _mult_arrays(mult, shift),
    )


def _fc(sg: Subgraph, op: Operator) -> OpParams:
    x, w, out = _t(sg, op, 0), _t(sg, op, 1), _t(sg, op, 0, out=True)
    bias = op.inputs[2] if len(op.inputs) > 2 else -1
    if len(w.shape) != 2:
        raise ConversionError(f"{_where(op)}: weights must be 2-D, got {list(w.shape)}")
    n_out, depth = w.shape
    per_channel = w.quantization.scale.size > 1
    mult, shift, amin, amax = _requant(op, x, w, out, n_out if per_channel else 1)
    if x.size % depth:
        raise ConversionError(f"{_where(op)}: input size {x.size} is not a multiple of {depth}")
    fields = [
        f".batches = {x.size // depth}", f".accum_depth = {depth}", f".out_depth = {n_out}",
        f".input_zero_point = {_zp(x)}", f".filter_zero_point = {_zp(w)}", f".output_zero_point = {_zp(out)}",
        f".per_channel = {int(per_channel)}", ".out_multiplier = {P}_mult", ".out_shift = {P}_shift",
        f".act_min = {amin}", f".act_max = {amax}",
    ]
    return OpParams(
        op.index, op.name, "nb_fully_connected", "nb_fully_connected_params_t", "{" + ", ".join(fields) + "}",
        f"nb_fully_connected(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.inputs[1]}}}, {{T{bias}}}, {{T{op.outputs[0]}}});",
        [i for i in (op.inputs[0], op.inputs[1], bias) if i >= 0] + [op.outputs[0]],
        _mult_arrays(mult, shift),
    )


def _pool(sg: Subgraph, op: Operator) -> OpParams:
    x, out = _t(sg, op, 0), _t(sg, op, 0, out=True)
    o = op.options
    amin, amax = quant.activation_range(_act(op), _scale(out), _zp(out))
    fh, fw, sh, sw = (int(o[k]) for k in ("filter_height", "filter_width", "stride_h", "stride_w"))
    _, ih, iw, _ = x.shape
    _, oh, ow, _ = out.shape
    fields = [
        f".in = {_c_dims(x.shape)}", f".out = {_c_dims(out.shape)}", f".filter_h = {fh}", f".filter_w = {fw}",
        f".stride_h = {sh}", f".stride_w = {sw}", f".pad_h = {quant.conv_padding(ih, fh, sh, 1, oh)}",
        f".pad_w = {quant.conv_padding(iw, fw, sw, 1, ow)}", f".act_min = {amin}", f".act_max = {amax}",
    ]
    avg = op.name == "AVERAGE_POOL_2D"
    kernel = "nb_avg_pool2d" if avg else "nb_max_pool2d"
    call = f"{kernel}(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}})"
    return OpParams(op.index, op.name, kernel, "nb_pool2d_params_t", "{" + ", ".join(fields) + "}",
                    call if avg else call + ";", [op.inputs[0], op.outputs[0]], returns_status=avg)


def _mean(sg: Subgraph, op: Operator) -> OpParams:
    x, axes_t, out = _t(sg, op, 0), _t(sg, op, 1), _t(sg, op, 0, out=True)
    axes = [int(a) for a in _const(axes_t, "axes", op).reshape(-1)]
    method, mult, shift = quant.mean_params(_scale(x), _zp(x), _scale(out), _zp(out), x.shape, axes,
                                            bool(op.options.get("keep_dims", False)))
    rank = len(x.shape)
    resolved = {a + rank if a < 0 else a for a in axes}
    reduce = [0] * (4 - rank) + [int(d in resolved) for d in range(rank)]
    fields = [f".in_shape = {_c_dims(_dims4(x.shape))}", f".reduce = {_c_arr(reduce)}", f".method = {method}",
              f".input_zero_point = {_zp(x)}", f".output_zero_point = {_zp(out)}", f".multiplier = {mult}",
              f".shift = {shift}"]
    return OpParams(op.index, op.name, "nb_mean", "nb_mean_params_t", "{" + ", ".join(fields) + "}",
                    f"nb_mean(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}});", [op.inputs[0], op.outputs[0]])


def _pad(sg: Subgraph, op: Operator) -> OpParams:
    x, pads_t, out = _t(sg, op, 0), _t(sg, op, 1), _t(sg, op, 0, out=True)
    pads = _const(pads_t, "paddings", op).reshape(-1, 2).astype(int).tolist()
    pads = [[0, 0]] * (4 - len(pads)) + pads
    pad_value = _zp(out)
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        pad_value = int(_const(sg.tensors[op.inputs[2]], "constant value", op).reshape(-1)[0])
    fields = [f".in_shape = {_c_dims(_dims4(x.shape))}", f".pad_before = {_c_arr([p[0] for p in pads])}",
              f".pad_after = {_c_arr([p[1] for p in pads])}", f".pad_value = {pad_value}"]
    return OpParams(op.index, op.name, "nb_pad", "nb_pad_params_t", "{" + ", ".join(fields) + "}",
                    f"nb_pad(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}});", [op.inputs[0], op.outputs[0]])


def _reshape(sg: Subgraph, op: Operator) -> OpParams:
    out = _t(sg, op, 0, out=True)
    return OpParams(op.index, op.name, "nb_reshape", None, "",
                    f"nb_reshape({{T{op.inputs[0]}}}, {{T{op.outputs[0]}}}, {out.size});",
                    [op.inputs[0], op.outputs[0]])


def _concat(sg: Subgraph, op: Operator) -> OpParams:
    out = _t(sg, op, 0, out=True)
    axis = int(op.options.get("axis", 0))
    rank = len(out.shape)
    axis = axis + rank if axis < 0 else axis
    outer = int(np.prod(out.shape[:axis])) if axis else 1
    inner = int(np.prod(out.shape[axis + 1:])) if axis + 1 < rank else 1
    ins = [i for i in op.inputs if i >= 0]
    sizes = [int(sg.tensors[i].shape[axis]) for i in ins]
    amin, amax = quant.activation_range(_act(op), _scale(out), _zp(out))
    if (amin, amax) != (quant.INT8_MIN, quant.INT8_MAX):
        raise ConversionError(f"{_where(op)}: fused activation {_act(op)} on CONCATENATION is not supported")
    for i in ins:
        t = sg.tensors[i]
        if _scale(t) != _scale(out) or _zp(t) != _zp(out):
            raise ConversionError(f"{_where(op)}: input '{t.name}' quantization differs from the output's "
                                  "(TFLM int8 CONCATENATION requires equal scales and zero points)")
    fields = [f".num_inputs = {len(ins)}", ".axis_sizes = {P}_sizes", f".outer_size = {outer}",
              f".inner_size = {inner}"]
    lines = ["{", f"    const int8_t *ins[{len(ins)}];"]
    lines += [f"    ins[{k}] = {{T{i}}};" for k, i in enumerate(ins)]
    lines += [f"    nb_concatenation(&{{P}}, ins, {{T{op.outputs[0]}}});", "}"]
    return OpParams(op.index, op.name, "nb_concatenation", "nb_concatenation_params_t",
                    "{" + ", ".join(fields) + "}", "\n".join(lines), [*ins, op.outputs[0]],
                    [CArray("sizes", "int32_t", tuple(sizes))])


def _slice(sg: Subgraph, op: Operator) -> OpParams:
    x = _t(sg, op, 0)
    begin, end, strides = (_const(_t(sg, op, k), "begin/end/strides", op).reshape(-1).tolist() for k in (1, 2, 3))
    o = op.options
    try:
        starts, stops, steps = quant.strided_slice_params(
            x.shape, begin, end, strides, int(o.get("begin_mask", 0)), int(o.get("end_mask", 0)),
            int(o.get("shrink_axis_mask", 0)), int(o.get("ellipsis_mask", 0)), int(o.get("new_axis_mask", 0)),
            bool(o.get("offset", False)))
    except ValueError as e:
        raise ConversionError(f"{_where(op)}: {e}") from None
    pad = 4 - len(x.shape)
    fields = [f".in_shape = {_c_dims(_dims4(x.shape))}", f".start = {_c_arr([0] * pad + starts)}",
              f".stop = {_c_arr([1] * pad + stops)}", f".stride = {_c_arr([1] * pad + steps)}"]
    return OpParams(op.index, op.name, "nb_strided_slice", "nb_strided_slice_params_t",
                    "{" + ", ".join(fields) + "}",
                    f"nb_strided_slice(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}});",
                    [op.inputs[0], op.outputs[0]])


def _binary(sg: Subgraph, op: Operator) -> OpParams:
    t1, t2, o = _t(sg, op, 0), _t(sg, op, 1), _t(sg, op, 0, out=True)
    args = (_scale(t1), _zp(t1), t1.shape, _scale(t2), _zp(t2), t2.shape, _scale(o), _zp(o), _act(op))
    if op.name == "ADD":
        p = quant_ops.add_params(*args)
        kernel = "nb_add"
    else:
        p = quant_ops.mul_params(*args)
        kernel = "nb_mul"
    return OpParams(op.index, op.name, kernel, f"{kernel}_params_t", p.c_initializer(),
                    f"{kernel}(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.inputs[1]}}}, {{T{op.outputs[0]}}});",
                    [op.inputs[0], op.inputs[1], op.outputs[0]])


def _softmax(sg: Subgraph, op: Operator) -> OpParams:
    x, o = _t(sg, op, 0), _t(sg, op, 0, out=True)
    p = quant_ops.softmax_params(_scale(x), x.shape, float(op.options.get("beta", 1.0)), _scale(o), _zp(o))
    return OpParams(op.index, op.name, "nb_softmax", "nb_softmax_params_t", p.c_initializer(),
                    f"nb_softmax(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}});", [op.inputs[0], op.outputs[0]])


def _logistic_tanh(sg: Subgraph, op: Operator) -> OpParams:
    x, o = _t(sg, op, 0), _t(sg, op, 0, out=True)
    if op.name == "LOGISTIC":
        p = quant_ops.logistic_params(_scale(x), _zp(x), x.size, _zp(o))
        kernel = "nb_logistic"
    else:
        p = quant_ops.tanh_params(_scale(x), _zp(x), x.size)
        kernel = "nb_tanh"
    return OpParams(op.index, op.name, kernel, f"{kernel}_params_t", p.c_initializer(),
                    f"{kernel}(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}});", [op.inputs[0], op.outputs[0]])


def _quantize(sg: Subgraph, op: Operator) -> OpParams:
    x, o = _t(sg, op, 0), _t(sg, op, 0, out=True)
    if x.type_name == "FLOAT32":
        p = quant_ops.quantize_params(_scale(o), _zp(o), o.size)
        return OpParams(op.index, op.name, "nb_quantize", "nb_quantize_params_t", p.c_initializer(),
                        f"nb_quantize_f32(&{{P}}, {{F{op.inputs[0]}}}, {{T{op.outputs[0]}}});",
                        [op.inputs[0], op.outputs[0]])
    if x.type_name != "INT8" or o.type_name != "INT8":
        raise ConversionError(f"{_where(op)}: QUANTIZE {x.type_name} -> {o.type_name} is not supported "
                              "(float32 -> int8 and int8 -> int8 are)")
    p = quant_ops.requantize_params(_scale(x), _zp(x), _scale(o), _zp(o), o.size)
    return OpParams(op.index, op.name, "nb_quantize", "nb_requantize_params_t", p.c_initializer(),
                    f"nb_requantize_i8(&{{P}}, {{T{op.inputs[0]}}}, {{T{op.outputs[0]}}});",
                    [op.inputs[0], op.outputs[0]])


def _dequantize(sg: Subgraph, op: Operator) -> OpParams:
    x, o = _t(sg, op, 0), _t(sg, op, 0, out=True)
    if x.type_name != "INT8" or o.type_name != "FLOAT32":
        raise ConversionError(f"{_where(op)}: DEQUANTIZE {x.type_name} -> {o.type_name} is not supported")
    p = quant_ops.dequantize_params(_scale(x), _zp(x), o.size)
    return OpParams(op.index, op.name, "nb_dequantize", "nb_dequantize_params_t", p.c_initializer(),
                    f"nb_dequantize(&{{P}}, {{T{op.inputs[0]}}}, {{F{op.outputs[0]}}});",
                    [op.inputs[0], op.outputs[0]])


_BUILDERS = {
    "CONV_2D": lambda sg, op: _conv(sg, op, False),
    "DEPTHWISE_CONV_2D": lambda sg, op: _conv(sg, op, True),
    "FULLY_CONNECTED": _fc,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "MEAN": _mean,
    "PAD": _pad,
    "PADV2": _pad,
    "RESHAPE": _reshape,
    "CONCATENATION": _concat,
    "STRIDED_SLICE": _slice,
    "ADD": _binary,
    "MUL": _binary,
    "SOFTMAX": _softmax,
    "LOGISTIC": _logistic_tanh,
    "TANH": _logistic_tanh,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
}

SUPPORTED_OPS = tuple(sorted(_BUILDERS))


def op_params(sg: Subgraph, op: Operator, source: str = "") -> OpParams:
    """The C call for one operator (module doc). Raises ConversionError for unsupported ops/parameters."""
    b = _BUILDERS.get(op.name)
    if b is None:
        raise ConversionError(f"{source + ': ' if source else ''}{_where(op)}: no C kernel for {op.name} "
                              f"(the code generator supports {', '.join(SUPPORTED_OPS)})")
    try:
        return b(sg, op)
    except ConversionError as e:
        msg = str(e)
        raise ConversionError(msg if msg.startswith(source or "\0") else f"{source + ': ' if source else ''}{msg}"
                              ) from None
    except (KeyError, ValueError) as e:
        raise ConversionError(f"{source + ': ' if source else ''}{_where(op)}: cannot compute kernel "
                              f"parameters ({type(e).__name__}: {e})") from None


_PLACEHOLDER = re.compile(r"\{([TF])(-?\d+)\}")


def substitute(text: str, pname: str, tensor_expr) -> str:
    """Replace {P} by `pname` and {T<i>}/{F<i>} by tensor_expr(i, 'int8'|'float') (NULL for -1)."""
    def rep(m: re.Match) -> str:
        i = int(m.group(2))
        if i < 0:
            return "NULL"
        return tensor_expr(i, "float" if m.group(1) == "F" else "int8")

    return _PLACEHOLDER.sub(rep, text.replace("{P}", pname))


def kernel_files(kernels: set[str]) -> list[str]:
    """Kernel file names (in firmware_templates/kernels) for the given kernel stems, with deps and headers."""
    stems = set(kernels)
    for k in list(stems):
        stems.update(KERNEL_DEPS.get(k, ()))
    files = [f"{s}.{ext}" for s in sorted(stems) for ext in ("c", "h")]
    return [*KERNEL_HEADERS_ONLY, *files]
