"""Shared test harness: our C int8 kernels vs. the TFLite Micro interpreter, bit for bit.

Used by tests/test_kernels_a.py, tests/test_kernels_b.py and benchmarks/fuzz_kernels.py.
The API below is stable; extend it, do not change signatures.

Flow for one kernel
-------------------
1. A :class:`KernelSpec` describes a kernel: the TFLite op name, a random model-spec generator
   ``random_spec(rng) -> dict`` (JSON-able: shapes, strides, ranges, seeds...), a Keras builder
   ``build(spec) -> (keras.Model, rep_ranges)`` (an optional ``spec["converter_flags"]`` dict sets
   converter attributes), the C driver body/sources and
   ``c_case(op, inputs) -> CCase`` that turns the parsed op + its non-constant input arrays (in the
   op's input order) into the argument arrays of the C driver. Register it with :func:`register`
   (the fuzz script reads :data:`REGISTRY`).
2. :func:`model_for` converts the Keras model to a full-integer int8 .tflite (representative data
   uniform in the spec's ranges; int8 input/output; TFLITE_BUILTINS_INT8), cached in memory and on
   disk under ``.cache/kernel_models/`` keyed by the spec, and returns ``None`` (rejected) unless the
   model holds exactly one operator, of the intended type.
3. :func:`check_spec` runs N random int8 inputs through TFLM (expected) and through the compiled C
   driver (one process for all N cases) and compares bytes. It returns a :class:`CheckResult`.

Building blocks
---------------
- ``convert_keras(model, rep_ranges, seed) -> bytes``: the int8 conversion.
- ``parse_model(buf) -> ParsedModel``: tensors (shape, dtype, scale/zero_point arrays,
  quantized_dimension, constant data) and operators (``name`` like "CONV_2D", input/output
  tensors, ``options`` dict with enums as names: padding "SAME"/"VALID",
  fused_activation_function "NONE"/"RELU"/"RELU6"/"RELU_N1_TO_1"), via the flatbuffer schema
  bindings shipped with tensorflow.
- ``run_tflm(buf, inputs) -> list[np.ndarray]`` (interpreter cached per model).
- ``build_driver(body, sources, includes, sanitize=False) -> KernelDriver``: compiles a C driver
  (host gcc, ``-std=c99 -Wall -Wextra -Werror -O1``; with ``sanitize=True`` also
  ``-fsanitize=address,undefined -fno-sanitize-recover=all``) once per source hash under
  ``.cache/kernel_drivers/``. ``driver.run(cases) -> list[bytes]`` feeds many cases to one process.

C driver protocol
-----------------
The body is the inside of ``static int nb_run_case(const nb_arg_t *args, uint32_t n_args,
void *out, uint32_t out_nbytes)``; it returns 0 on success. Arguments are read with the macros
``ARG_I8(k)``, ``ARG_U8(k)``, ``ARG_I16(k)``, ``ARG_I32(k)``, ``ARG_F32(k)`` (pointer, NULL when
the array is empty) and ``ARG_N(k)`` (element count); ``nb_arg_dims4(q)`` makes an
``nb_dims4_t`` from 4 int32s. Each argument array is malloc'ed with its exact size so
AddressSanitizer catches out-of-bounds reads; the output buffer too (pre-filled with 0xA5).
Python side: a :class:`CCase` holds ``args`` (numpy arrays of dtype int8, uint8, int16,
int32 or float32) and ``out_nbytes``; the result is the raw output bytes (status != 0 raises).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KERNELS_DIR = ROOT / "firmware_templates" / "kernels"
CACHE_DIR = Path(os.environ.get("NB_KERNEL_CACHE_DIR", ROOT / ".cache"))  # override for clean-cache timing
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]

# --------------------------------------------------------------------------------------------
# C drivers


_KINDS = {np.dtype(np.int8): 0, np.dtype(np.uint8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
          np.dtype(np.float32): 4}

_DRIVER_TEMPLATE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nb_common.h"
@INCLUDES@

#define NB_MAX_ARGS 64
typedef struct {
    uint32_t kind;
    uint32_t count;
    void *data;
} nb_arg_t;

#define ARG_I8(k) ((const int8_t *)args[(k)].data)
#define ARG_U8(k) ((const uint8_t *)args[(k)].data)
#define ARG_I16(k) ((const int16_t *)args[(k)].data)
#define ARG_I32(k) ((const int32_t *)args[(k)].data)
#define ARG_F32(k) ((const float *)args[(k)].data)
#define ARG_N(k) ((int32_t)args[(k)].count)

static inline nb_dims4_t nb_arg_dims4(const int32_t *q)
{
    nb_dims4_t d;
    d.n = q[0];
    d.h = q[1];
    d.w = q[2];
    d.c = q[3];
    return d;
}

static int nb_run_case(const nb_arg_t *args, uint32_t n_args, void *out, uint32_t out_nbytes)
{
    (void)args;
    (void)n_args;
    (void)out;
    (void)out_nbytes;
    {
@BODY@
    }
}

static int read_exact(void *p, size_t n)
{
    return n == 0 || fread(p, 1, n, stdin) == n;
}

static size_t kind_size(uint32_t kind)
{
    static const size_t sizes[5] = {1, 1, 2, 4, 4};
    return kind < 5 ? sizes[kind] : 0;
}

int main(void)
{
    for (;;) {
        uint32_t n_args = 0, out_nbytes = 0, i;
        int32_t status;
        nb_arg_t args[NB_MAX_ARGS];
        void *out;
        if (!read_exact(&n_args, 4) || n_args == 0xFFFFFFFFu) {
            return 0;
        }
        if (n_args > NB_MAX_ARGS) {
            return 3;
        }
        for (i = 0; i < n_args; ++i) {
            uint32_t hdr[2];
            size_t nbytes;
            if (!read_exact(hdr, 8) || kind_size(hdr[0]) == 0) {
                return 4;
            }
            args[i].kind = hdr[0];
            args[i].count = hdr[1];
            nbytes = (size_t)hdr[1] * kind_size(hdr[0]);
            args[i].data = nbytes ? malloc(nbytes) : NULL;
            if (nbytes && (args[i].data == NULL || !read_exact(args[i].data, nbytes))) {
                return 5;
            }
        }
        if (!read_exact(&out_nbytes, 4)) {
            return 6;
        }
        out = malloc(out_nbytes ? out_nbytes : 1);
        if (out == NULL) {
            return 7;
        }
        memset(out, 0xA5, out_nbytes);
        status = nb_run_case(args, n_args, out, out_nbytes);
        fwrite(&status, 4, 1, stdout);
        fwrite(&out_nbytes, 4, 1, stdout);
        fwrite(out, 1, out_nbytes, stdout);
        free(out);
        for (i = 0; i < n_args; ++i) {
            free(args[i].data);
        }
    }
}
"""


@dataclass
class CCase:
    """One kernel invocation: argument arrays (in order) and the output size in bytes."""

    args: list[np.ndarray]
    out_nbytes: int


class KernelDriverError(RuntimeError):
    pass


@dataclass
class KernelDriver:
    exe: Path
    sanitize: bool

    def run(self, cases: Sequence[CCase]) -> list[bytes]:
        """Run all cases in one process; returns each case's output bytes."""
        chunks: list[bytes] = []
        for case in cases:
            chunks.append(struct.pack("<I", len(case.args)))
            for a in case.args:
                arr = np.ascontiguousarray(a)
                kind = _KINDS.get(arr.dtype)
                if kind is None:
                    raise TypeError(f"driver argument dtype {arr.dtype} unsupported")
                chunks.append(struct.pack("<II", kind, arr.size))
                chunks.append(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
            chunks.append(struct.pack("<I", int(case.out_nbytes)))
        chunks.append(struct.pack("<I", 0xFFFFFFFF))
        env = dict(os.environ)
        if self.sanitize:
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        proc = subprocess.run([str(self.exe)], input=b"".join(chunks), capture_output=True, env=env,
                              timeout=600, check=False)
        if proc.returncode != 0:
            raise KernelDriverError(f"{self.exe.name} exited {proc.returncode}: "
                                    f"{proc.stderr.decode(errors='replace')[-4000:]}")
        if proc.stderr:
            err = proc.stderr.decode(errors="replace")[-4000:]
            raise KernelDriverError(f"{self.exe.name} wrote to stderr: {err}")
        out: list[bytes] = []
        buf = proc.stdout
        pos = 0
        for i in range(len(cases)):
            status, n = struct.unpack_from("<iI", buf, pos)
            pos += 8
            if status != 0:
                raise KernelDriverError(f"{self.exe.name}: case {i} returned status {status}")
            out.append(bytes(buf[pos:pos + n]))
            pos += n
        return out


def driver_source(body: str, includes: Sequence[str]) -> str:
    inc = "\n".join(f'#include "{h}"' for h in includes)
    return _DRIVER_TEMPLATE.replace("@INCLUDES@", inc).replace("@BODY@", body)


def compile_c(sources: Sequence[Path], exe: Path, *, sanitize: bool = False,
              include_dirs: Sequence[Path] = (KERNELS_DIR,), extra_flags: Sequence[str] = ()) -> None:
    flags = CFLAGS + (SANITIZE_FLAGS if sanitize else []) + list(extra_flags)
    cmd = ["gcc", *flags, *[f"-I{d}" for d in include_dirs], *map(str, sources), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KernelDriverError(f"compile failed: {' '.join(cmd)}\n{proc.stderr}")


def build_driver(body: str, sources: Sequence[str], includes: Sequence[str], *,
                 sanitize: bool = False) -> KernelDriver:
    """Compile (once per source hash) a driver around ``body`` linking kernel ``sources``
    (file names inside firmware_templates/kernels)."""
    src = driver_source(body, includes)
    h = hashlib.sha256()
    h.update(src.encode())
    h.update(" ".join(CFLAGS + (SANITIZE_FLAGS if sanitize else [])).encode())
    for name in sorted(set(sources) | {"nb_common.h", *includes}):
        p = KERNELS_DIR / name
        h.update(name.encode())
        h.update(p.read_bytes())
    for name in sorted(sources):  # headers included by sources
        hdr = KERNELS_DIR / name.replace(".c", ".h")
        if hdr.exists():
            h.update(hdr.read_bytes())
    key = h.hexdigest()[:20]
    out_dir = CACHE_DIR / "kernel_drivers"
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / f"drv_{key}{'_san' if sanitize else ''}"
    if not exe.exists():
        with tempfile.TemporaryDirectory(dir=out_dir) as td:
            drv = Path(td) / "driver.c"
            drv.write_text(src)
            tmp_exe = Path(td) / "driver"
            compile_c([drv, *[KERNELS_DIR / s for s in sources]], tmp_exe, sanitize=sanitize)
            os.replace(tmp_exe, exe)
    return KernelDriver(exe=exe, sanitize=sanitize)


# --------------------------------------------------------------------------------------------
# TFLite models: conversion, parsing, TFLM


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


_TYPE_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
                7: np.int16, 9: np.int8, 10: np.float64}
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


@dataclass
class ParsedTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: Any
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int
    data: np.ndarray | None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass
class ParsedOp:
    name: str
    inputs: list[ParsedTensor | None]
    outputs: list[ParsedTensor]
    options: dict[str, Any]


@dataclass
class ParsedModel:
    tensors: list[ParsedTensor]
    ops: list[ParsedOp]
    inputs: list[ParsedTensor]
    outputs: list[ParsedTensor]


def _op_names() -> dict[int, str]:
    schema = _schema()
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _options_dict(opts: Any) -> dict[str, Any]:
    if opts is None:
        return {}
    d: dict[str, Any] = {}
    for k, v in vars(opts).items():
        # camelCase -> snake_case
        name = "".join("_" + c.lower() if c.isupper() else c for c in k)
        if name == "padding":
            v = _PADDING.get(v, v)
        elif name == "fused_activation_function":
            v = _ACTIVATIONS.get(v, v)
        d[name] = v
    return d


def parse_model(buf: bytes) -> ParsedModel:
    """Parse a .tflite flatbuffer (subgraph 0) with the schema bindings shipped with tensorflow."""
    schema = _schema()
    m = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    sg = m.subgraphs[0]
    tensors: list[ParsedTensor] = []
    for i, t in enumerate(sg.tensors):
        dtype = _TYPE_DTYPES.get(t.type)
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
        zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
        qdim = int(q.quantizedDimension) if q is not None else 0
        data = None
        b = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
        shape = tuple(int(s) for s in (t.shape if t.shape is not None else []))
        if b is not None and b.data is not None and len(b.data) > 0 and dtype is not None:
            data = np.frombuffer(np.asarray(b.data, dtype=np.uint8).tobytes(), dtype=dtype).reshape(shape)
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        tensors.append(ParsedTensor(i, name, shape, dtype, scale, zp, qdim, data))
    names = _op_names()
    ops: list[ParsedOp] = []
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        bcode = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        ins = [tensors[j] if j >= 0 else None for j in op.inputs]
        outs = [tensors[j] for j in op.outputs]
        ops.append(ParsedOp(names.get(bcode, str(bcode)), ins, outs, _options_dict(op.builtinOptions)))
    return ParsedModel(tensors, ops, [tensors[j] for j in sg.inputs], [tensors[j] for j in sg.outputs])


def convert_keras(model: Any, rep_ranges: Sequence[tuple[float, float]], seed: int = 0,
                  n_rep: int = 32, flags: dict[str, Any] | None = None) -> bytes:
    """Full-integer int8 conversion (int8 input/output) with a uniform representative dataset.
    ``flags`` sets extra converter attributes (e.g.
    ``_experimental_disable_per_channel_quantization_for_dense_layers``)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shapes = [tuple(int(d) for d in inp.shape) for inp in model.inputs]

    def rep():
        for _ in range(n_rep):
            yield [rng.uniform(lo, hi, size=s).astype(np.float32) for s, (lo, hi) in zip(shapes, rep_ranges,
                                                                                        strict=True)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    for k, v in (flags or {}).items():
        setattr(conv, k, v)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return conv.convert()


_TFLM_CACHE: dict[str, Any] = {}


def run_tflm(buf: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run the TFLM Python interpreter (interpreter cached per model bytes)."""
    key = hashlib.sha256(buf).hexdigest()
    it = _TFLM_CACHE.get(key)
    if it is None:
        from tflite_micro.python.tflite_micro import runtime

        pm = parse_model(buf)
        total = sum(t.size * 4 for t in pm.tensors)
        it = runtime.Interpreter.from_bytes(buf, arena_size=max(64 * 1024, 4 * total + 16 * 1024))
        if len(_TFLM_CACHE) > 256:
            _TFLM_CACHE.clear()
        _TFLM_CACHE[key] = it
    for i, x in enumerate(inputs):
        it.set_input(x, i)
    it.invoke()
    n_out = len(parse_model_cached(buf).outputs)
    return [np.array(it.get_output(i)) for i in range(n_out)]


_PARSE_CACHE: dict[str, ParsedModel] = {}


def parse_model_cached(buf: bytes) -> ParsedModel:
    key = hashlib.sha256(buf).hexdigest()
    pm = _PARSE_CACHE.get(key)
    if pm is None:
        pm = parse_model(buf)
        _PARSE_CACHE[key] = pm
    return pm


# --------------------------------------------------------------------------------------------
# Kernel specs, model cache, checking


@dataclass(frozen=True)
class KernelSpec:
    """Everything needed to test one kernel against TFLM (see module docstring)."""

    op: str                                                       # TFLite op, e.g. "CONV_2D"
    random_spec: Callable[[np.random.Generator], dict]           # JSON-able random model spec
    build: Callable[[dict], tuple[Any, list[tuple[float, float]]]]  # spec -> (keras model, rep ranges)
    c_case: Callable[[ParsedOp, list[np.ndarray]], CCase]         # op + int8 inputs -> driver case
    c_body: str
    c_sources: tuple[str, ...]
    c_includes: tuple[str, ...]
    output_dtype: Any = np.int8
    input_range: tuple[int, int] = (-128, 127)                   # random integer inputs (inclusive)
    name: str = ""                                               # registry key (default: op)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return self.name or self.op


REGISTRY: dict[str, KernelSpec] = {}


def register(spec: KernelSpec) -> KernelSpec:
    REGISTRY[spec.key] = spec
    return spec


_MODEL_CACHE: dict[str, bytes | None] = {}


def _spec_key(kspec: KernelSpec, spec: dict) -> str:
    import tensorflow as tf

    blob = json.dumps({"k": kspec.key, "spec": spec, "tf": tf.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def model_for(kspec: KernelSpec, spec: dict) -> bytes | None:
    """Converted one-op model for a spec (memory + disk cache), or None if the converter failed or did
    not produce exactly one ``kspec.op`` operator (the reason is kept in ``<key>.rejected``)."""
    key = _spec_key(kspec, spec)
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    d = CACHE_DIR / "kernel_models"
    path = d / f"{key}.tflite"
    rej = d / f"{key}.rejected"
    buf: bytes | None
    if path.exists():
        buf = path.read_bytes()
    elif rej.exists():
        buf = None
    else:
        import keras

        keras.utils.set_random_seed(int(spec.get("seed", 0)) % (2**31))
        model, ranges = kspec.build(spec)
        try:
            buf = convert_keras(model, ranges, seed=int(spec.get("seed", 0)), flags=spec.get("converter_flags"))
            reason = [o.name for o in parse_model(buf).ops]
        except Exception as e:  # the converter refuses some random specs: reject them, like a wrong op
            buf, reason = None, [f"converter error: {type(e).__name__}: {str(e)[:300]}"]
        if reason != [kspec.op]:
            buf = None
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.{os.getpid()}.tmp"
        if buf is None:
            tmp.write_text(json.dumps(reason))
            os.replace(tmp, rej)
        else:
            tmp.write_bytes(buf)
            os.replace(tmp, path)
    _MODEL_CACHE[key] = buf
    return buf


@dataclass
class CheckResult:
    cases: int = 0
    mismatches: int = 0
    rejected: int = 0
    first_failure: str = ""

    def add(self, other: CheckResult) -> None:
        self.cases += other.cases
        self.mismatches += other.mismatches
        self.rejected += other.rejected
        if not self.first_failure:
            self.first_failure = other.first_failure


def random_inputs(buf: bytes, rng: np.random.Generator, lo: int = -128, hi: int = 127) -> list[np.ndarray]:
    pm = parse_model_cached(buf)
    out = []
    for t in pm.inputs:
        info = np.iinfo(t.dtype) if np.issubdtype(t.dtype, np.integer) else None
        a, b = (max(lo, info.min), min(hi, info.max)) if info is not None else (lo, hi)
        out.append(rng.integers(a, b, size=t.shape, endpoint=True).astype(t.dtype))
    return out


def op_inputs(pm: ParsedModel, op: ParsedOp, model_inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Arrays for the op's non-constant inputs, in the op's input order (mapped from model inputs)."""
    by_index = {t.index: x for t, x in zip(pm.inputs, model_inputs, strict=True)}
    return [by_index[t.index] for t in op.inputs if t is not None and t.data is None and t.index in by_index]


def check_model(kspec: KernelSpec, buf: bytes, n_inputs: int, rng: np.random.Generator, *,
                sanitize: bool = False, driver: KernelDriver | None = None) -> CheckResult:
    """Compare TFLM and the C kernel on ``n_inputs`` random inputs through one model."""
    pm = parse_model_cached(buf)
    op = pm.ops[0]
    lo, hi = kspec.input_range
    inputs = [random_inputs(buf, rng, lo, hi) for _ in range(n_inputs)]
    expected = [run_tflm(buf, x)[0] for x in inputs]
    cases = [kspec.c_case(op, op_inputs(pm, op, x)) for x in inputs]
    drv = driver or build_driver(kspec.c_body, kspec.c_sources, kspec.c_includes, sanitize=sanitize)
    got = drv.run(cases)
    res = CheckResult(cases=n_inputs)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        gb = np.frombuffer(g, dtype=e.dtype)
        eb = e.reshape(-1)
        if gb.shape != eb.shape or not np.array_equal(gb, eb):
            res.mismatches += 1
            if not res.first_failure:
                n_bad = int(np.sum(gb != eb)) if gb.shape == eb.shape else -1
                diff = "shape" if n_bad < 0 else f"{n_bad}/{eb.size} elements differ"
                res.first_failure = (f"{kspec.key} case {i}: {diff}; expected {eb[:16].tolist()} "
                                     f"got {gb[:16].tolist()}")
    return res


def check_spec(kspec: KernelSpec, spec: dict, n_inputs: int = 16, *, seed: int = 0,
               sanitize: bool = False) -> CheckResult:
    """Convert (cached) the spec's model and compare on ``n_inputs`` random inputs."""
    buf = model_for(kspec, spec)
    if buf is None:
        return CheckResult(rejected=1)
    rng = np.random.default_rng(seed)
    return check_model(kspec, buf, n_inputs, rng, sanitize=sanitize)


# --------------------------------------------------------------------------------------------
# Helpers for c_case functions


def i32(*values: Any) -> np.ndarray:
    """Flatten ints / sequences / arrays into one int32 array."""
    flat: list[int] = []
    for v in values:
        if isinstance(v, np.ndarray | list | tuple):
            flat.extend(int(x) for x in np.asarray(v).reshape(-1))
        else:
            flat.append(int(v))
    return np.asarray(flat, dtype=np.int32)


def dims4(shape: Sequence[int]) -> list[int]:
    """Pad a shape with leading 1s to 4 dims."""
    shape = list(shape)
    if len(shape) > 4:
        raise ValueError(f"shape {shape} has more than 4 dims")
    return [1] * (4 - len(shape)) + shape


def zp(t: ParsedTensor) -> int:
    return int(t.zero_point[0]) if t.zero_point.size else 0


def scale(t: ParsedTensor) -> float:
    return float(t.scale[0]) if t.scale.size else 0.0


# --------------------------------------------------------------------------------------------
# Whole models, op by op


def truncate_model(buf: bytes, n_ops: int) -> bytes:
    """A copy of the model keeping its first ``n_ops`` operators, the last one's output becoming the
    model output (so TFLM can be compared on an intermediate tensor)."""
    import flatbuffers

    schema = _schema()
    m = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    sg = m.subgraphs[0]
    sg.operators = sg.operators[:n_ops]
    sg.outputs = list(sg.operators[-1].outputs)
    b = flatbuffers.Builder(len(buf) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def run_model_with_kernels(buf: bytes, inputs: Sequence[Sequence[np.ndarray]], *, n_ops: int | None = None,
                           sanitize: bool = False) -> list[np.ndarray]:
    """Run the first ``n_ops`` operators (all by default) of a model through our C kernels, op by op
    (each op's registered KernelSpec builds the driver case; all inputs batched per op), and return the
    last op's output for each input set. Raises KeyError naming an op with no registered kernel."""
    pm = parse_model(buf)
    ops = pm.ops if n_ops is None else pm.ops[:n_ops]
    values: list[dict[int, np.ndarray]] = [
        {t.index: np.asarray(x) for t, x in zip(pm.inputs, xs, strict=True)} for xs in inputs]
    for op in ops:
        kspec = REGISTRY.get(op.name)
        if kspec is None:
            raise KeyError(f"no kernel registered for op {op.name}")
        drv = build_driver(kspec.c_body, kspec.c_sources, kspec.c_includes, sanitize=sanitize)
        cases = [kspec.c_case(op, [v[t.index] for t in op.inputs if t is not None and t.data is None])
                 for v in values]
        outs = drv.run(cases)
        out_t = op.outputs[0]
        for v, o in zip(values, outs, strict=True):
            v[out_t.index] = np.frombuffer(o, dtype=out_t.dtype).reshape(out_t.shape)
    last = ops[-1].outputs[0].index
    return [v[last] for v in values]
