"""A TFLite flatbuffer read into plain Python: tensors, operators, quantization, constant data.

`read_tflite(path_or_bytes) -> Model`. The flatbuffer is decoded with the schema bindings that ship
with ai-edge-litert (or tflite-micro / tensorflow), never with a hand-written parser. Everything the
code generator, the inspector and the measurement need is copied out into small dataclasses:

- `Model.subgraphs[i]` (`Subgraph`), with `Model.tensors/.operators/.inputs/.outputs` for subgraph 0;
- `Tensor`: name, shape (+ shape_signature), numpy dtype, `Quantization` (scale, zero_point,
  quantized_dimension), constant data as a read-only numpy array (or None);
- `Operator`: op name ("CONV_2D"; the builtin code resolved as max(builtin_code,
  deprecated_builtin_code) like TFLite's schema_utils), input/output tensor indices (-1 = omitted
  optional input), builtin options as a dict with snake_case keys and enum values as names
  (padding="SAME", fused_activation_function="RELU", ...).

Buffers stored outside the flatbuffer (`Buffer.offset/size`, used by >2 GB models) and external
buffer groups (`Tensor.external_buffer`, read from the file named by the group next to the model)
are resolved. Truncated, corrupt or non-TFLite input raises `DataError` naming the file and the
problem; the decoder never loops over more elements than the file can hold.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from train.errors import DataError


def _load_schema():
    errors = []
    for mod in (
        "ai_edge_litert.schema_py_generated",
        "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
        "tensorflow.lite.python.schema_py_generated",
    ):
        try:
            import importlib

            return importlib.import_module(mod)
        except ImportError as e:  # pragma: no cover - depends on what is installed
            errors.append(f"{mod}: {e}")
    raise ImportError("no TFLite schema bindings found; install ai-edge-litert: " + "; ".join(errors))


schema = _load_schema()

FILE_IDENTIFIER = b"TFL3"


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


BUILTIN_OPS: dict[int, str] = _enum_names(schema.BuiltinOperator)
TENSOR_TYPES: dict[int, str] = _enum_names(schema.TensorType)
_OPTIONS_NAMES: dict[int, str] = _enum_names(schema.BuiltinOptions)
_OPTIONS2_NAMES: dict[int, str] = _enum_names(schema.BuiltinOptions2)
_QDETAILS_NAMES: dict[int, str] = _enum_names(schema.QuantizationDetails)
_PLACEHOLDER_FOR_GREATER_OP_CODES = 127

# TensorType name -> numpy dtype of one stored element (little endian). Types without a numpy
# equivalent (STRING, RESOURCE, VARIANT, BFLOAT16, packed INT4/INT2) keep their raw bytes.
_NUMPY_DTYPES: dict[str, str] = {
    "FLOAT32": "<f4",
    "FLOAT16": "<f2",
    "FLOAT64": "<f8",
    "INT8": "i1",
    "UINT8": "u1",
    "INT16": "<i2",
    "UINT16": "<u2",
    "INT32": "<i4",
    "UINT32": "<u4",
    "INT64": "<i8",
    "UINT64": "<u8",
    "BOOL": "?",
    "COMPLEX64": "<c8",
    "COMPLEX128": "<c16",
    "INT4": "i1",  # unpacked from two nibbles per byte
}


def numpy_dtype(type_name: str) -> np.dtype | None:
    """The numpy dtype of a TFLite TensorType name, or None if numpy has none (STRING, RESOURCE, ...)."""
    s = _NUMPY_DTYPES.get(type_name)
    return np.dtype(s).newbyteorder("=") if s else None


# Builtin-option fields (snake_case) holding enum values, and the enum they use.
_ENUM_FIELDS: dict[str, Any] = {
    "padding": schema.Padding,
    "fused_activation_function": schema.ActivationFunctionType,
    "weights_format": schema.FullyConnectedOptionsWeightsFormat,
    "kernel_type": schema.LSTMKernelType,
    "combiner": schema.CombinerType,
    "mode": schema.MirrorPadMode,
    "type": schema.LSHProjectionType,
    "reduce_function": schema.ReduceWindowFunction,
    "comparison_direction": schema.StablehloComparisonDirection,
    "compare_type": schema.StablehloComparisonType,
    "algorithm": schema.RngAlgorithm,
    "precision_config": schema.StablehloPrecisionConfig,
    "in_data_type": schema.TensorType,
    "out_data_type": schema.TensorType,
    "out_type": schema.TensorType,
    "output_type": schema.TensorType,
    "idx_out_type": schema.TensorType,
    "index_out_type": schema.TensorType,
    "key_dtype": schema.TensorType,
    "value_dtype": schema.TensorType,
    "quantized_bias_type": schema.TensorType,
}
_ENUM_NAME_MAPS = {k: _enum_names(v) for k, v in _ENUM_FIELDS.items()}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor (1 scale) or per channel."""

    scale: np.ndarray  # float32 [n]
    zero_point: np.ndarray  # int64 [n]
    quantized_dimension: int = 0
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    details: str | None = None  # name of a QuantizationDetails union member (custom / blockwise), if any

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def is_quantized(self) -> bool:
        return self.scale.size > 0


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    type_name: str  # TFLite TensorType name, e.g. "INT8"
    dtype: np.dtype | None  # numpy dtype (None for STRING/RESOURCE/VARIANT/BFLOAT16)
    buffer: int
    quantization: Quantization | None
    data: np.ndarray | None = None  # constant data (read-only), shaped like `shape`
    shape_signature: tuple[int, ...] | None = None  # -1 marks a dynamic dimension
    is_variable: bool = False
    sparse: bool = False
    has_rank: bool = False
    external_buffer: int = 0

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's elements (INT4 counts half a byte per element, rounded up)."""
        if self.type_name == "INT4":
            return (self.size + 1) // 2
        if self.dtype is None:
            return 0 if self.data is None else int(self.data.nbytes)
        return self.size * self.dtype.itemsize


@dataclass
class Operator:
    index: int
    name: str  # builtin op name ("CONV_2D") or "CUSTOM"
    builtin_code: int
    version: int
    opcode_index: int
    inputs: tuple[int, ...]  # tensor indices, -1 = omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    options_type: str | None = None  # e.g. "Conv2DOptions"
    custom_code: str | None = None
    custom_options: bytes | None = None
    intermediates: tuple[int, ...] = ()


@dataclass
class Subgraph:
    index: int
    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, i: int) -> Tensor | None:
        return None if i < 0 else self.tensors[i]

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensor(i) for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensor(i) for i in op.outputs]


@dataclass
class Model:
    source: str  # file path, or "<bytes>"
    version: int
    description: str
    subgraphs: list[Subgraph]
    metadata: dict[str, bytes] = field(default_factory=dict)
    signature_defs: list[dict[str, Any]] = field(default_factory=list)
    size_bytes: int = 0

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def tensors(self) -> list[Tensor]:
        return self.main.tensors

    @property
    def operators(self) -> list[Operator]:
        return self.main.operators

    @property
    def inputs(self) -> tuple[int, ...]:
        return self.main.inputs

    @property
    def outputs(self) -> tuple[int, ...]:
        return self.main.outputs

    def op_names(self) -> list[str]:
        return [op.name for sg in self.subgraphs for op in sg.operators]


def read_tflite(path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Model:
    """Read a .tflite file (path) or flatbuffer (bytes) into a `Model`. Raises DataError if it cannot."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        data = bytes(path_or_bytes)
        source, base_dir = "<bytes>", None
    else:
        p = Path(path_or_bytes)
        source, base_dir = str(p), p.parent
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{p}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{p}: is a directory, not a .tflite file") from None
        except OSError as e:
            raise DataError(f"{p}: cannot read ({e.strerror or e})") from None
    return _Reader(data, source, base_dir).read()


class _Corrupt(Exception):
    pass


_DECODE_ERRORS = (
    _Corrupt,
    IndexError,
    struct.error,
    ValueError,
    TypeError,
    OverflowError,
    AttributeError,
    KeyError,
    UnicodeDecodeError,
    MemoryError,
    RecursionError,
    AssertionError,
)


def _snake(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


class _Reader:
    def __init__(self, data: bytes, source: str, base_dir: Path | None):
        self.buf = data
        self.source = source
        self.base_dir = base_dir
        # Upper bound on decoded elements: a well-formed file stores each one in >= 1 byte, so more
        # work than this means vectors that overlap (a crafted or corrupt file) - stop, never hang.
        self.budget = 4 * len(data) + 10_000

    # ---- helpers -------------------------------------------------------------------------
    def fail(self, msg: str) -> DataError:
        return DataError(f"{self.source}: {msg}")

    def spend(self, n: int, what: str) -> None:
        self.budget -= max(int(n), 0)
        if self.budget < 0:
            raise _Corrupt(f"{what}: more elements than the file can hold")

    def count(self, obj, name: str, elem_size: int = 4) -> int:
        """Length of vector field `name` of a flatbuffer object, checked to fit inside the file."""
        n = int(getattr(obj, name + "Length")())
        if n < 0 or n * elem_size > len(self.buf):
            raise _Corrupt(f"{name} vector of {n} elements does not fit in {len(self.buf)} bytes")
        self.spend(n, name)
        return n

    def ints(self, obj, name: str) -> tuple[int, ...] | None:
        if getattr(obj, name + "IsNone")():
            return None
        self.count(obj, name, 4)
        arr = getattr(obj, name + "AsNumpy")()
        if isinstance(arr, int):
            return ()
        return tuple(int(x) for x in arr)

    def numbers(self, obj, name: str, elem_size: int) -> np.ndarray | None:
        if getattr(obj, name + "IsNone")():
            return None
        self.count(obj, name, elem_size)
        arr = getattr(obj, name + "AsNumpy")()
        if isinstance(arr, int):
            return np.zeros(0)
        return np.array(arr)  # copy out of the file bytes, native byte order

    def string(self, raw: bytes | None) -> str:
        return "" if raw is None else raw.decode("utf-8", errors="replace")

    # ---- model ----------------------------------------------------------------------------
    def read(self) -> Model:
        buf = self.buf
        if len(buf) < 8:
            raise self.fail(f"not a TFLite flatbuffer: only {len(buf)} bytes")
        if buf[4:8] != FILE_IDENTIFIER:
            raise self.fail(
                f"not a TFLite flatbuffer: file identifier is {buf[4:8]!r}, expected {FILE_IDENTIFIER!r}"
                " (truncated, corrupt or another format)"
            )
        try:
            return self._read_model()
        except DataError:
            raise
        except _DECODE_ERRORS as e:
            raise self.fail(f"corrupt or truncated TFLite flatbuffer ({type(e).__name__}: {e})") from None

    def _read_model(self) -> Model:
        m = schema.Model.GetRootAs(self.buf, 0)
        version = int(m.Version())
        n_codes = self.count(m, "OperatorCodes")
        opcodes = []
        for i in range(n_codes):
            oc = m.OperatorCodes(i)
            code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
            name = BUILTIN_OPS.get(code)
            if name is None:
                raise _Corrupt(f"operator code {i} has unknown builtin code {code}")
            custom = self.string(oc.CustomCode()) if code == schema.BuiltinOperator.CUSTOM else None
            opcodes.append((code, name, int(oc.Version()), custom))

        n_buffers = self.count(m, "Buffers")
        buffers: list[memoryview | None] = [self._buffer(m.Buffers(i), i) for i in range(n_buffers)]

        external = self._external_buffers(m)

        n_sg = self.count(m, "Subgraphs")
        if n_sg == 0:
            raise self.fail("the model has no subgraphs")
        subgraphs = [self._subgraph(m.Subgraphs(i), i, opcodes, buffers, external) for i in range(n_sg)]

        metadata: dict[str, bytes] = {}
        for i in range(self.count(m, "Metadata")):
            md = m.Metadata(i)
            b = int(md.Buffer())
            if not 0 <= b < len(buffers):
                raise _Corrupt(f"metadata {i} refers to buffer {b} of {len(buffers)}")
            mv = buffers[b]
            metadata[self.string(md.Name())] = b"" if mv is None else bytes(mv)

        sigs = []
        for i in range(self.count(m, "SignatureDefs")):
            sd = m.SignatureDefs(i)
            ins = {}
            for j in range(self.count(sd, "Inputs")):
                tm = sd.Inputs(j)
                ins[self.string(tm.Name())] = int(tm.TensorIndex())
            outs = {}
            for j in range(self.count(sd, "Outputs")):
                tm = sd.Outputs(j)
                outs[self.string(tm.Name())] = int(tm.TensorIndex())
            sigs.append(
                {
                    "key": self.string(sd.SignatureKey()),
                    "subgraph": int(sd.SubgraphIndex()),
                    "inputs": ins,
                    "outputs": outs,
                }
            )

        return Model(
            source=self.source,
            version=version,
            description=self.string(m.Description()),
            subgraphs=subgraphs,
            metadata=metadata,
            signature_defs=sigs,
            size_bytes=len(self.buf),
        )

    def _buffer(self, b, i: int) -> memoryview | None:
        if b is None:
            return None
        offset = int(b.Offset())
        if offset > 1:  # data stored after the flatbuffer (TFLite's IsValidBufferOffset)
            size = int(b.Size())
            if offset + size > len(self.buf):
                raise self.fail(
                    f"buffer {i} lies at bytes {offset}..{offset + size} beyond the end of the file "
                    f"({len(self.buf)} bytes): truncated"
                )
            return memoryview(self.buf)[offset : offset + size]
        if b.DataIsNone():
            return None
        n = self.count(b, "Data", 1)
        start = b._tab.Vector(b._tab.Offset(4))
        if start + n > len(self.buf):
            raise _Corrupt(f"buffer {i} data runs past the end of the file")
        return memoryview(self.buf)[start : start + n]

    def _external_buffers(self, m) -> dict[int, tuple[str, int, int]]:
        groups = [self.string(m.ExternalBufferGroups(i).Name()) for i in range(self.count(m, "ExternalBufferGroups"))]
        out = {}
        for i in range(self.count(m, "ExternalBuffers")):
            eb = m.ExternalBuffers(i)
            g = int(eb.Group())
            if not 0 <= g < len(groups):
                raise _Corrupt(f"external buffer {i} refers to group {g} of {len(groups)}")
            out[int(eb.Id())] = (groups[g], int(eb.Offset()), int(eb.Length()))
        return out

    def _read_external(self, ext: tuple[str, int, int], tensor_name: str) -> bytes:
        group, offset, length = ext
        if self.base_dir is None:
            raise self.fail(
                f"tensor '{tensor_name}' keeps its data in external file '{group}'; "
                "read the model from its path, not from bytes"
            )
        p = self.base_dir / group
        try:
            with open(p, "rb") as f:
                f.seek(offset)
                raw = f.read(length)
        except OSError as e:
            raise self.fail(f"tensor '{tensor_name}': cannot read external data file {p} ({e})") from None
        if len(raw) != length:
            raise self.fail(f"tensor '{tensor_name}': external data file {p} is truncated")
        return raw

    # ---- subgraphs ------------------------------------------------------------------------
    def _subgraph(self, sg, si: int, opcodes, buffers, external) -> Subgraph:
        name = self.string(sg.Name())
        n_t = self.count(sg, "Tensors")
        tensors = [self._tensor(sg.Tensors(i), i, si, buffers, external) for i in range(n_t)]

        def check_idx(idx: tuple[int, ...], what: str, allow_missing: bool) -> tuple[int, ...]:
            for t in idx:
                if not (-1 if allow_missing else 0) <= t < n_t:
                    raise _Corrupt(f"subgraph {si}: {what} refers to tensor {t} of {n_t}")
            return idx

        inputs = check_idx(self.ints(sg, "Inputs") or (), "input", False)
        outputs = check_idx(self.ints(sg, "Outputs") or (), "output", False)
        ops = []
        for oi in range(self.count(sg, "Operators")):
            op = sg.Operators(oi)
            ci = int(op.OpcodeIndex())
            if not 0 <= ci < len(opcodes):
                raise _Corrupt(f"subgraph {si} operator {oi} has opcode index {ci} of {len(opcodes)}")
            code, op_name, version, custom = opcodes[ci]
            ins = check_idx(self.ints(op, "Inputs") or (), f"operator {oi} ({op_name}) input", True)
            outs = check_idx(self.ints(op, "Outputs") or (), f"operator {oi} ({op_name}) output", True)
            inter = check_idx(self.ints(op, "Intermediates") or (), f"operator {oi} intermediate", True)
            options, options_type = self._options(op)
            custom_options = None
            if not op.CustomOptionsIsNone():
                self.count(op, "CustomOptions", 1)
                custom_options = bytes(op.CustomOptionsAsNumpy().tobytes())
            lo, ls = int(op.LargeCustomOptionsOffset()), int(op.LargeCustomOptionsSize())
            if lo > 1:
                if lo + ls > len(self.buf):
                    raise self.fail(f"operator {oi} ({op_name}) custom options lie beyond the end of the file")
                custom_options = self.buf[lo : lo + ls]
            ops.append(
                Operator(
                    index=oi,
                    name=op_name,
                    builtin_code=code,
                    version=version,
                    opcode_index=ci,
                    inputs=ins,
                    outputs=outs,
                    options=options,
                    options_type=options_type,
                    custom_code=custom,
                    custom_options=custom_options,
                    intermediates=inter,
                )
            )
        return Subgraph(index=si, name=name, tensors=tensors, operators=ops, inputs=inputs, outputs=outputs)

    def _tensor(self, t, ti: int, si: int, buffers, external) -> Tensor:
        name = self.string(t.Name())
        shape = self.ints(t, "Shape") or ()
        if any(d < 0 for d in shape):
            raise _Corrupt(f"tensor {ti} '{name}' has a negative dimension in shape {list(shape)}")
        sig = self.ints(t, "ShapeSignature")
        type_code = int(t.Type())
        type_name = TENSOR_TYPES.get(type_code)
        if type_name is None:
            raise _Corrupt(f"tensor {ti} '{name}' has unknown type code {type_code}")
        dtype = numpy_dtype(type_name)
        bi = int(t.Buffer())
        if not 0 <= bi < max(len(buffers), 1):
            raise _Corrupt(f"tensor {ti} '{name}' refers to buffer {bi} of {len(buffers)}")
        ext_id = int(t.ExternalBuffer())
        raw: bytes | memoryview | None = buffers[bi] if buffers else None
        if ext_id:
            if ext_id not in external:
                raise _Corrupt(f"tensor {ti} '{name}' refers to missing external buffer {ext_id}")
            raw = self._read_external(external[ext_id], name)
        data = None
        sparse = t.Sparsity() is not None
        if raw is not None and len(raw) > 0:
            data = self._tensor_data(raw, shape, type_name, dtype, ti, si, name, sparse)
        return Tensor(
            index=ti,
            name=name,
            shape=shape,
            type_name=type_name,
            dtype=dtype,
            buffer=bi,
            quantization=self._quant(t.Quantization(), ti, name),
            data=data,
            shape_signature=sig,
            is_variable=bool(t.IsVariable()),
            sparse=sparse,
            has_rank=bool(t.HasRank()),
            external_buffer=ext_id,
        )

    def _tensor_data(self, raw, shape, type_name, dtype, ti, si, name, sparse) -> np.ndarray:
        n = math.prod(shape)
        where = f"tensor {ti} '{name}'" + (f" (subgraph {si})" if si else "")
        if dtype is None or sparse:
            arr = np.frombuffer(raw, dtype=np.uint8)  # raw bytes (strings, sparse, bfloat16, ...)
        elif type_name == "INT4":
            packed = np.frombuffer(raw, dtype=np.uint8)
            if packed.size != (n + 1) // 2:
                raise self.fail(f"{where}: {packed.size} data bytes for {n} INT4 elements of shape {list(shape)}")
            lo = (packed & 0x0F).astype(np.int8)
            hi = (packed >> 4).astype(np.int8)
            both = np.stack([lo, hi], axis=1).reshape(-1)[:n]
            arr = np.where(both > 7, both - 16, both).astype(np.int8).reshape(shape)
        else:
            stored = np.dtype(_NUMPY_DTYPES[type_name])
            if len(raw) != n * stored.itemsize:
                raise self.fail(
                    f"{where}: buffer has {len(raw)} bytes but shape {list(shape)} of {type_name} "
                    f"needs {n * stored.itemsize}"
                )
            arr = np.frombuffer(raw, dtype=stored).astype(dtype, copy=False).reshape(shape)
        arr.flags.writeable = False
        return arr

    def _quant(self, q, ti: int, name: str) -> Quantization | None:
        if q is None:
            return None
        scale = self.numbers(q, "Scale", 4)
        zp = self.numbers(q, "ZeroPoint", 8)
        qmin = self.numbers(q, "Min", 4)
        qmax = self.numbers(q, "Max", 4)
        dtype = int(q.DetailsType())
        details = _QDETAILS_NAMES.get(dtype) if dtype else None
        if scale is None and zp is None and qmin is None and qmax is None and details is None:
            return None
        scale = np.zeros(0, np.float32) if scale is None else scale.astype(np.float32)
        zp = np.zeros(0, np.int64) if zp is None else zp.astype(np.int64)
        if zp.size and scale.size and zp.size != scale.size:
            raise _Corrupt(f"tensor {ti} '{name}' has {scale.size} scales but {zp.size} zero points")
        return Quantization(
            scale=scale,
            zero_point=zp,
            quantized_dimension=int(q.QuantizedDimension()),
            min=None if qmin is None else qmin.astype(np.float32),
            max=None if qmax is None else qmax.astype(np.float32),
            details=details,
        )

    def _options(self, op) -> tuple[dict[str, Any], str | None]:
        out: dict[str, Any] = {}
        kind = None
        for type_fn, value_fn, names in (
            (op.BuiltinOptionsType, op.BuiltinOptions, _OPTIONS_NAMES),
            (op.BuiltinOptions2Type, op.BuiltinOptions2, _OPTIONS2_NAMES),
        ):
            t = int(type_fn())
            if t == 0:
                continue
            cls_name = names.get(t)
            if cls_name is None:
                raise _Corrupt(f"unknown builtin options type {t}")
            table = value_fn()
            if table is None:
                continue
            obj = getattr(schema, cls_name)()
            obj.Init(table.Bytes, table.Pos)
            self.spend(64, "options")
            objT = getattr(schema, cls_name + "T").InitFromObj(obj)
            out.update(self._plain(vars(objT), depth=0))
            kind = cls_name if kind is None else f"{kind}+{cls_name}"
        return out, kind

    def _plain(self, d: dict[str, Any], depth: int) -> dict[str, Any]:
        if depth > 8:
            raise _Corrupt("options nested too deeply")
        out = {}
        for k, v in d.items():
            key = _snake(k)
            names = _ENUM_NAME_MAPS.get(key)
            out[key] = self._value(v, names, depth)
        return out

    def _value(self, v: Any, names: dict[int, str] | None, depth: int) -> Any:
        if isinstance(v, np.ndarray):
            self.spend(v.size, "options vector")
            v = v.tolist()
        if isinstance(v, list):
            self.spend(len(v), "options list")
            return [self._value(x, names, depth + 1) for x in v]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool | float | str) or v is None:
            return v
        if isinstance(v, int):
            return names.get(v, v) if names else v
        if isinstance(v, bytes):
            return v.decode("utf-8", errors="replace")
        if hasattr(v, "__dict__"):
            return self._plain(vars(v), depth + 1)
        return v
