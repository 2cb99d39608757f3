"""The one table of supported TFLite ops: MAC / param accounting, C kernel names, int8 checks.

Used by `noisebudget inspect`, the code generator and the measurement, so they all agree.

MAC convention (TFLite's, the same as train.cost): per output element the multiply-accumulates of
its dot product, bias adds and activations excluded:
    CONV_2D            n*out_h*out_w*c_out * k_h*k_w*(c_in/groups)  (filter [c_out, k_h, k_w, c_in/groups])
    DEPTHWISE_CONV_2D  n*out_h*out_w*c_out * k_h*k_w                 (filter [1, k_h, k_w, c_out])
    FULLY_CONNECTED    rows*out*in                         (weights [out, in], rows = input size / in)
everything else has 0 MACs; its arithmetic is counted separately as `elementwise_ops`
(ADD/MUL/activations/(de)quantize: output elements; pools: output elements * window; MEAN: input
elements). Params are the elements of an op's learned constants (filter + bias, or a constant
operand of ADD/MUL); `weight_bytes` their stored bytes.

API: `OP_TABLE[name] -> OpSpec`; `op_cost(sg, op) -> OpCost`; `check_model(model, require_int8=True)`
raises ConversionError for ops outside the table or float/int16 activations where int8 is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from convert.tflite_ir import Model, Operator, Subgraph, Tensor
from train.errors import ConversionError


@dataclass(frozen=True)
class OpSpec:
    name: str  # TFLite builtin op name
    kernel: str  # C kernel: firmware_templates/kernels/<kernel>.c
    kind: str  # "conv" | "fc" | "elementwise" | "pool" | "reduce" | "activation" | "shape" | "quant"
    data_inputs: tuple[int, ...] | None  # input positions carrying int8 activations (None = all)
    param_inputs: tuple[int, ...] = ()  # input positions holding learned constants (weights, bias)
    weight_input: int | None = None  # position of the int8 filter/weights (must be a constant)
    macs: Callable[[Subgraph, Operator], int] | None = None
    elementwise: Callable[[Subgraph, Operator], int] | None = None
    fused_activation: bool = False  # has a fused_activation_function option


@dataclass(frozen=True)
class OpCost:
    macs: int
    elementwise_ops: int
    params: int
    weight_bytes: int
    param_tensors: tuple[int, ...]  # tensor indices counted in params (for de-duplicating totals)


def _where(sg: Subgraph, op: Operator) -> str:
    return f"op {op.index} {op.name}" + (f" (subgraph {sg.index})" if sg.index else "")


def _t(sg: Subgraph, op: Operator, pos: int, *, outputs: bool = False) -> Tensor:
    idx = op.outputs if outputs else op.inputs
    if pos >= len(idx) or idx[pos] < 0:
        kind = "output" if outputs else "input"
        raise ConversionError(f"{_where(sg, op)}: missing {kind} {pos}")
    return sg.tensors[idx[pos]]


def _rank(sg: Subgraph, op: Operator, t: Tensor, rank: int, what: str) -> tuple[int, ...]:
    if len(t.shape) != rank:
        raise ConversionError(f"{_where(sg, op)}: {what} '{t.name}' has shape {list(t.shape)}, expected rank {rank}")
    return t.shape


def _conv_macs(sg: Subgraph, op: Operator) -> int:
    n, oh, ow, co = _rank(sg, op, _t(sg, op, 0, outputs=True), 4, "output")
    fco, kh, kw, ci_g = _rank(sg, op, _t(sg, op, 1), 4, "filter")
    if fco != co:
        raise ConversionError(f"{_where(sg, op)}: filter has {fco} output channels, output has {co}")
    return n * oh * ow * co * kh * kw * ci_g


def _dw_macs(sg: Subgraph, op: Operator) -> int:
    n, oh, ow, co = _rank(sg, op, _t(sg, op, 0, outputs=True), 4, "output")
    one, kh, kw, fco = _rank(sg, op, _t(sg, op, 1), 4, "filter")
    if fco != co:
        raise ConversionError(f"{_where(sg, op)}: depthwise filter has {fco} channels, output has {co}")
    return n * oh * ow * co * kh * kw


def _fc_macs(sg: Subgraph, op: Operator) -> int:
    w = _t(sg, op, 1)
    out_f, in_f = _rank(sg, op, w, 2, "weights")
    x = _t(sg, op, 0)
    if in_f == 0 or x.size % in_f:
        raise ConversionError(
            f"{_where(sg, op)}: input '{x.name}' of shape {list(x.shape)} is not a whole number of rows of {in_f}"
        )
    return (x.size // in_f) * out_f * in_f


def _out_elems(sg: Subgraph, op: Operator) -> int:
    return _t(sg, op, 0, outputs=True).size


def _in_elems(sg: Subgraph, op: Operator) -> int:
    return _t(sg, op, 0).size


def _pool_ops(sg: Subgraph, op: Operator) -> int:
    o = op.options
    return _out_elems(sg, op) * int(o.get("filter_height", 1)) * int(o.get("filter_width", 1))


def _none(sg: Subgraph, op: Operator) -> int:
    return 0


def _spec(name: str, kind: str, data_inputs=(0,), **kw) -> OpSpec:
    return OpSpec(name=name, kernel="nb_" + name.lower(), kind=kind, data_inputs=data_inputs, **kw)


_SPECS = [
    _spec("CONV_2D", "conv", param_inputs=(1, 2), weight_input=1, macs=_conv_macs, fused_activation=True),
    _spec("DEPTHWISE_CONV_2D", "conv", param_inputs=(1, 2), weight_input=1, macs=_dw_macs, fused_activation=True),
    _spec("FULLY_CONNECTED", "fc", param_inputs=(1, 2), weight_input=1, macs=_fc_macs, fused_activation=True),
    _spec("ADD", "elementwise", (0, 1), param_inputs=(0, 1), elementwise=_out_elems, fused_activation=True),
    _spec("MUL", "elementwise", (0, 1), param_inputs=(0, 1), elementwise=_out_elems, fused_activation=True),
    _spec("AVERAGE_POOL_2D", "pool", elementwise=_pool_ops, fused_activation=True),
    _spec("MAX_POOL_2D", "pool", elementwise=_pool_ops, fused_activation=True),
    _spec("MEAN", "reduce", elementwise=_in_elems),
    _spec("RESHAPE", "shape", elementwise=_none),
    _spec("SOFTMAX", "activation", elementwise=_out_elems),
    _spec("LOGISTIC", "activation", elementwise=_out_elems),
    _spec("TANH", "activation", elementwise=_out_elems),
    _spec("RELU", "activation", elementwise=_out_elems),
    _spec("RELU6", "activation", elementwise=_out_elems),
    _spec("CONCATENATION", "shape", None, elementwise=_none, fused_activation=True),
    _spec("PAD", "shape", elementwise=_none),
    _spec("STRIDED_SLICE", "shape", elementwise=_none),
    _spec("QUANTIZE", "quant", (), elementwise=_out_elems),
    _spec("DEQUANTIZE", "quant", elementwise=_out_elems),
]

OP_TABLE: dict[str, OpSpec] = {s.name: s for s in _SPECS}


def spec_for(sg: Subgraph, op: Operator, source: str = "") -> OpSpec:
    spec = OP_TABLE.get(op.name)
    if spec is None:
        what = op.name if op.name != "CUSTOM" else f"CUSTOM ({op.custom_code})"
        raise ConversionError(
            f"{source + ': ' if source else ''}{_where(sg, op).replace(op.name, what)}: "
            f"unsupported op {what}; "
            f"supported: {', '.join(sorted(OP_TABLE))}"
        )
    return spec


def op_cost(sg: Subgraph, op: Operator) -> OpCost:
    """MACs, elementwise ops, params and weight bytes of one operator (must be in OP_TABLE)."""
    spec = spec_for(sg, op)
    macs = spec.macs(sg, op) if spec.macs else 0
    elem = spec.elementwise(sg, op) if spec.elementwise else 0
    params = wbytes = 0
    counted = []
    for pos in spec.param_inputs:
        if pos < len(op.inputs) and op.inputs[pos] >= 0:
            t = sg.tensors[op.inputs[pos]]
            if t.is_constant:
                params += t.size
                wbytes += t.nbytes
                counted.append(t.index)
    return OpCost(macs=macs, elementwise_ops=elem, params=params, weight_bytes=wbytes, param_tensors=tuple(counted))


def fused_activation(op: Operator) -> str | None:
    v = op.options.get("fused_activation_function")
    return None if v is None else str(v)


def check_model(model: Model, *, require_int8: bool = True) -> None:
    """Raise ConversionError naming the op and the file if the model has an op outside OP_TABLE, or
    (require_int8) float / int16 activations or non-int8 weights where our int8 kernels need int8."""
    src = model.source
    for sg in model.subgraphs:
        for op in sg.operators:
            spec = spec_for(sg, op, src)
            if not require_int8:
                continue
            where = f"{src}: {_where(sg, op)}"
            positions = range(len(op.inputs)) if spec.data_inputs is None else spec.data_inputs
            for pos in positions:
                if pos >= len(op.inputs) or op.inputs[pos] < 0:
                    continue
                t = sg.tensors[op.inputs[pos]]
                _need_int8(t, where, f"input {pos}")
            if op.name == "DEQUANTIZE":
                continue
            for pos, ti in enumerate(op.outputs):
                if ti >= 0:
                    _need_int8(sg.tensors[ti], where, f"output {pos}")
            if spec.weight_input is not None:
                w = _t(sg, op, spec.weight_input)
                if not w.is_constant:
                    raise ConversionError(f"{where}: weights '{w.name}' are not constant")
                _need_int8(w, where, "weights")
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    b = sg.tensors[op.inputs[2]]
                    if b.type_name != "INT32":
                        raise ConversionError(
                            f"{where}: bias '{b.name}' is {b.type_name}, int8 kernels need INT32 bias"
                        )


def _need_int8(t: Tensor, where: str, what: str) -> None:
    if t.type_name != "INT8":
        hint = " (a float model: convert with full-integer int8 quantization)" if "FLOAT" in t.type_name else ""
        raise ConversionError(f"{where}: {what} '{t.name}' is {t.type_name}, int8 required{hint}")
    q = t.quantization
    if q is None or not q.is_quantized:
        raise ConversionError(f"{where}: {what} '{t.name}' is INT8 without quantization parameters")
