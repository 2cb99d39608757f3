"""Target-specific kernel variants: which C files implement an op on which CPU, and their scratch needs.

The portable int8 kernels in ``firmware_templates/kernels/`` (``nb_<op>.c``) are the reference and the
host build. For Cortex-M4/M7 (Armv7E-M DSP: SXTB16/SMLAD) and Cortex-M55 (Armv8.1-M MVE/Helium) some ops
have optimized variants that define the SAME function with the SAME params struct (``nb_conv2d``,
``nb_depthwise_conv2d``, ``nb_fully_connected``), in ``kernels/dsp/`` and ``kernels/mve/``. A project
compiles exactly one implementation per op: :func:`variant_sources` gives it.

Weights keep the default TFLite layout (OHWI / [1, kh, kw, c] / [out, in]) in flash, and the bias is the
TFLite bias. The layouts the SIMD loops want are mostly built once per call in the scratch buffer (the DSP
CONV_2D w16 path widens the filter to int16 blocks of 4 rows, the DSP depthwise widens it per channel group;
input-offset folding and requantization tables likewise): RAM for the duration of one call. One is built at
generation time instead: :func:`prepare_weights` gives the DSP CONV_2D "g42" stream (doubled int16 weights,
start values, requantization words; about 2x the op's weight bytes) of an op that takes that path; the code
generator emits it as const data (flash) and passes it in ``nb_conv2d_params_t.prepared`` (NULL: prepared per
call as before), so the call skips the preparation and its scratch need drops to one column pair
(:func:`scratch_bytes` with ``prepared=True``).

Code generator: ``convert.codegen`` copies the variants to ``nb/target/dsp`` / ``nb/target/mve`` of a generated
project; its Makefile/CMake m4/m7 (m55) builds and its project.json compile them instead of the portable files.
``dsp/nb_kernel_scratch.c`` also holds ``nb_dsp_dot2x2``, the assembly 2x2 SMLAD loop of ``nb_dsp_gemm.h``
(Thumb-2 with the DSP extension only; elsewhere the C loop).

Scratch: the variants share one static buffer ``nb_kernel_scratch`` (``dsp/nb_kernel_scratch.c``)
of ``NB_KERNEL_SCRATCH_BYTES`` bytes (a compile-time define, default 4096). A code generator sets it to
``max(scratch_bytes(op, cpu, params) for op in model)`` (it is RAM used only during one kernel call; it
can live outside the activation arena). A call whose need exceeds the buffer takes a slower path that
needs none, so a too small value is never wrong, only slower. The define must be the same for every file of
a build (a project-wide define): the kernels size-check against ``sizeof(nb_kernel_scratch)`` as declared in
their own translation unit.

    from convert import kernel_variants as kv
    kv.variant_sources("CONV_2D", "cortex-m4")   # [.../kernels/dsp/nb_conv2d_dsp.c]
    kv.common_sources("cortex-m4")               # [.../kernels/dsp/nb_kernel_scratch.c]
    kv.include_dirs("cortex-m55")                # [kernels/, kernels/dsp, kernels/mve]
    kv.scratch_bytes("CONV_2D", "cortex-m4", kh=10, kw=4, c_in=1, c_out=64)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

KERNELS_DIR = Path(__file__).resolve().parent.parent / "firmware_templates" / "kernels"
DSP_DIR = KERNELS_DIR / "dsp"
MVE_DIR = KERNELS_DIR / "mve"

DSP_CPUS = ("cortex-m4", "cortex-m7")
MVE_CPUS = ("cortex-m55",)
CPUS = ("host", *DSP_CPUS, *MVE_CPUS)

# op -> (portable file, DSP variant, MVE variant)
_VARIANTS: dict[str, tuple[str, str, str]] = {
    "CONV_2D": ("nb_conv2d.c", "nb_conv2d_dsp.c", "nb_conv2d_mve.c"),
    "DEPTHWISE_CONV_2D": ("nb_depthwise_conv2d.c", "nb_depthwise_conv2d_dsp.c", "nb_depthwise_conv2d_mve.c"),
    "FULLY_CONNECTED": ("nb_fully_connected.c", "nb_fully_connected_dsp.c", "nb_fully_connected_mve.c"),
}

DEFAULT_SCRATCH_BYTES = 4096  # NB_KERNEL_SCRATCH_BYTES when the build does not set it
DSP_W16_MIN_POS = 4  # NB_DSP_W16_MIN_POS of dsp/nb_conv2d_dsp.c: output positions per call for the blocked path
# NB_DW_DIRECT_MAX_POS / NB_DWM_DIRECT_MAX_POS of the DSP / MVE depthwise: output positions per call (batch
# included) up to which the direct path (no scratch, no per-call preparation) runs, for <= 16 taps
DW_DIRECT_MAX_POS = 3


def _cpu(cpu: str) -> str:
    c = cpu.lower().replace("_", "-")
    if c in ("m4", "m7", "m55"):
        c = "cortex-" + c
    if c not in CPUS:
        raise ValueError(f"unknown cpu '{cpu}' (known: {', '.join(CPUS)})")
    return c


def kind(cpu: str) -> str:
    """'portable', 'dsp' or 'mve' for a cpu name."""
    c = _cpu(cpu)
    return "dsp" if c in DSP_CPUS else "mve" if c in MVE_CPUS else "portable"


def has_variant(op: str, cpu: str) -> bool:
    return op in _VARIANTS and kind(cpu) != "portable"


def variant_sources(op: str, cpu: str) -> list[Path]:
    """The C file(s) implementing `op` (TFLite op name) for `cpu`: the optimized variant when there is one,
    else the portable ``kernels/nb_<op>.c`` file name is the caller's business (returns ``[]`` for ops
    without variants so a generator can keep its own portable mapping)."""
    if op not in _VARIANTS:
        return []
    portable, dsp, mve = _VARIANTS[op]
    k = kind(cpu)
    if k == "dsp":
        return [DSP_DIR / dsp]
    if k == "mve":
        return [MVE_DIR / mve]
    return [KERNELS_DIR / portable]


def portable_source(op: str) -> Path | None:
    return KERNELS_DIR / _VARIANTS[op][0] if op in _VARIANTS else None


def common_sources(cpu: str) -> list[Path]:
    """Sources every variant build for `cpu` needs once (the shared scratch buffer)."""
    return [] if kind(cpu) == "portable" else [DSP_DIR / "nb_kernel_scratch.c"]


def include_dirs(cpu: str) -> list[Path]:
    k = kind(cpu)
    dirs = [KERNELS_DIR]
    if k in ("dsp", "mve"):
        dirs.append(DSP_DIR)
    if k == "mve":
        dirs.append(MVE_DIR)
    return dirs


def _ceil(n: int, m: int) -> int:
    return (n + m - 1) // m * m


def scratch_bytes(op: str, cpu: str, **params: Any) -> int:
    """Bytes of ``nb_kernel_scratch`` the `op` variant for `cpu` needs for full speed (0: none).

    params: CONV_2D: kh, kw, c_in (per group), c_out, optional n_pos (output positions per call; the DSP
    blocked path needs >= DSP_W16_MIN_POS, unknown = large), optional prepared (the DSP g42 stream comes from
    :func:`prepare_weights`: only the column pair, or vpairs_bytes (:func:`conv2d_vpairs_bytes`) if larger);
    DEPTHWISE_CONV_2D: kh, kw, c (output channels),
    depth_multiplier, optional n_pos (output positions per call incl. batch; the DSP / MVE direct path
    for <= DW_DIRECT_MAX_POS positions needs none; the DSP 3x3 planar path grows with it); FULLY_CONNECTED:
    accum_depth, out_depth.
    """
    k = kind(cpu)
    if k == "portable" or op not in _VARIANTS:
        return 0
    if op == "CONV_2D":
        kk = int(params["kh"]) * int(params["kw"]) * int(params["c_in"])
        if k == "dsp":
            small = 4 * _ceil(kk, 2) + 4 * (kk // 4 * 4)  # two int16 im2col columns + their interleaved copy
            if int(params.get("n_pos", DSP_W16_MIN_POS)) < DSP_W16_MIN_POS:
                return small
            # blocked path: filter widened to int16 (ceil4(c_out) x ceil8(K)), requant table, two columns + copy;
            # g42 path (full output range): per 4-channel block 8 start + 2 * Kp weight + 12 requant words, and
            # one interleaved column pair (Kp words)
            c_out, kp = int(params["c_out"]), _ceil(kk, 8)
            if params.get("prepared"):  # g42 with the stream in flash: one column pair (or the vpairs table)
                return max(4 * kp, int(params.get("vpairs_bytes", 0)))
            g42 = 4 * (_ceil(c_out, 4) // 4 * (20 + 2 * kp) + kp)
            return max(small, 2 * _ceil(c_out, 4) * kp + 16 * c_out + 8 * kp, g42)
        # MVE: two accumulator rows (int32 [c_out] each) + two int8 im2col columns (8 * c4 + 2 * k16 are
        # used; 4 * c4 more kept as before); blocked path (>= 4 positions per call, NB_CONVM_BLOCK_MIN_POS):
        # block info + packed filter + spare rows + columns (8 for kh * kw > 1 while they take <= 1 KiB, else 2)
        c4, k16 = _ceil(int(params["c_out"]), 4), _ceil(kk, 16)
        if int(params.get("n_pos", 4)) < 4:
            return 12 * c4 + 2 * k16
        n_cols = 8 if int(params["kh"]) * int(params["kw"]) > 1 and 8 * k16 <= 1024 else 2
        return 12 * c4 + c4 * k16 + c4 + 16 + n_cols * k16
    if op == "DEPTHWISE_CONV_2D":
        taps, c = int(params["kh"]) * int(params["kw"]), int(params["c"])
        if int(params.get("n_pos", DW_DIRECT_MAX_POS + 1)) <= DW_DIRECT_MAX_POS and taps <= 16:
            return 0  # direct path (streaming calls): no per-call preparation
        if k == "dsp":
            # tabled path; 3x3 planar path: 4 int16 planes + accumulators <= 36 n_pos + 168 bytes (cap 8 KiB: bands)
            return max(taps * (c // 4 * 4) * 2 + 16 * c + c * 4 + 4 * taps + c,
                       min(36 * int(params.get("n_pos", DW_DIRECT_MAX_POS + 1)) + 168, 8192) if taps == 9 else 0)
        # MVE: start values, deinterleaved start / mult / shift, accumulator row, tap pointers, zero-point row,
        # reordered filter; kernels <= 3x3 (stride 1, dilation 1): the 4x4-window path, NB_DWM_WIN_BYTES = 7808
        # (start values, filter grids, zero-point row, quad accumulators, column strips of 16 channels)
        return max(4 * _ceil(c, 4) + 16 * (c // 8 * 8) + 4 * taps + _ceil(c, 16) + _ceil(taps * (c // 8 * 8), 16),
                   7808 if int(params["kh"]) <= 3 and int(params["kw"]) <= 3 else 0)
    if op == "FULLY_CONNECTED":
        depth, n_out = int(params["accum_depth"]), int(params["out_depth"])
        if k == "dsp":
            return 4 * _ceil(depth, 2) + 4 * (depth // 4 * 4)
        return 12 * _ceil(n_out, 4)
    return 0


def scratch_bytes_for_op(op: Any, cpu: str, prepared: bool = False) -> int:
    """:func:`scratch_bytes` from a ``convert.tflite_ir`` operator (needs ``op.name`` and the model's
    tensors resolved as in tests/kernel_harness.ParsedOp: ``op.inputs[1].shape``). prepared: a CONV_2D whose
    :func:`prepare_weights` data is passed (needs ``op.inputs[0].shape`` and ``op.options`` then)."""
    name = op.name if hasattr(op, "name") else str(op)
    if name not in _VARIANTS:
        return 0
    w = op.inputs[1].shape
    if name == "CONV_2D":
        o = op.outputs[0].shape if getattr(op, "outputs", None) else None
        n_pos = {"n_pos": int(o[1]) * int(o[2])} if o is not None and len(o) == 4 else {}
        if prepared and o is not None and len(o) == 4:
            from convert import quant

            x, opt = op.inputs[0].shape, op.options
            sh, sw = int(opt.get("stride_h", 1)), int(opt.get("stride_w", 1))
            dh, dw = int(opt.get("dilation_h_factor", 1)), int(opt.get("dilation_w_factor", 1))
            vp = conv2d_vpairs_bytes(w[1], w[2], w[3], x[2], o[1], o[2], sh, sw,
                                     quant.conv_padding(x[2], w[2], sw, dw, o[2]), dh, dw,
                                     quant.conv_padding(x[1], w[1], sh, dh, o[1]))
            n_pos |= {"prepared": True, "vpairs_bytes": vp}
        return scratch_bytes(name, cpu, kh=w[1], kw=w[2], c_in=w[3], c_out=w[0], **n_pos)
    if name == "DEPTHWISE_CONV_2D":
        o = op.outputs[0].shape if getattr(op, "outputs", None) else None
        n_pos = {"n_pos": int(o[0]) * int(o[1]) * int(o[2])} if o is not None and len(o) == 4 else {}
        return scratch_bytes(name, cpu, kh=w[1], kw=w[2], c=w[3], depth_multiplier=1, **n_pos)
    if name == "FULLY_CONNECTED":
        return scratch_bytes(name, cpu, accum_depth=w[1], out_depth=w[0])
    return 0


G42_MAGIC = 0x3234676E  # NB_DSP_G42_MAGIC of dsp/nb_dsp_gemm.h
G42_HEADER_WORDS = 4  # NB_DSP_G42_HEADER_WORDS: {magic, K, c_out, stream words}
G42_MAX_K = 8192  # nb_dsp_g42_prepare refuses larger K


def _g42_stream(w: np.ndarray, bias: np.ndarray | None, mult: np.ndarray, shift: np.ndarray, in_zp: int,
                out_zp: int) -> np.ndarray | None:
    """The g42 stream of dsp/nb_dsp_gemm.h:nb_dsp_g42_prepare (per-channel requantization), word for word, or
    None where that function returns 0 (K, a multiplier, shift or bias outside the path's exact range)."""
    n_out, kk = w.shape
    if kk > G42_MAX_K or n_out < 1:
        return None
    m = np.asarray(mult, dtype=np.int64).reshape(-1)
    e = -np.asarray(shift, dtype=np.int64).reshape(-1)
    b = np.zeros(n_out, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64).reshape(-1)
    if m.size != n_out or e.size != n_out or b.size != n_out:
        raise ValueError(f"g42 stream: {n_out} channels but {m.size} multipliers, {e.size} shifts, {b.size} biases")
    if (m < 0).any() or (e < 1).any() or (e > 23).any() or (b < -(1 << 28)).any() or (b > (1 << 28)).any():
        return None
    kp, k4, n4 = _ceil(kk, 8), kk // 4 * 4, _ceil(n_out, 4)
    # slot order of the columns (nb_dsp_slot): groups of 4 as (x0, x2, x1, x3), the K % 4 tail in order
    slot = np.arange(kk)
    slot[:k4] = (slot[:k4] & ~3) | np.array([0, 2, 1, 3])[slot[:k4] & 3]
    ws = np.zeros((n4, kp), dtype=np.int64)
    ws[:n_out, slot] = 2 * np.asarray(w, dtype=np.int64)
    words = (ws[:, 0::2] & 0xFFFF) | ((ws[:, 1::2] & 0xFFFF) << 16)  # [row, slot pair]
    start = np.zeros(n4, dtype=np.int64)
    start[:n_out] = 2 * b - in_zp * ws[:n_out].sum(axis=1)
    prm = np.zeros((n4, 3), dtype=np.int64)
    prm[:, 2] = 1
    prm[:n_out, 0] = m
    prm[:n_out, 1] = (1 << (e - 1)) + out_zp * (1 << e)
    prm[:n_out, 2] = e
    blocks = []
    for ob in range(n4 // 4):
        rows = slice(4 * ob, 4 * ob + 4)
        blocks += [np.repeat(start[rows], 2), words[rows].T.reshape(-1), prm[rows].reshape(-1)]
    return (np.concatenate(blocks) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def g42_applies(act_min: int, act_max: int, n_pos: int, grouped: bool = False) -> bool:
    """Whether a DSP CONV_2D call takes the g42 path (given its stream): full int8 output range, no groups,
    >= DSP_W16_MIN_POS output positions per call."""
    return act_min <= -128 and act_max >= 127 and conv2d_blocked_may_apply("cortex-m4", n_pos, 1, grouped)


# ---- generation-time path switches: the kernel paths a model's ops can take, so a build links only those ----
# Each variant file reads its switches (default 1: every path compiled) from nb_kernel_paths.h, which a code
# generator writes per model (path_switches_header); a switch 0 compiles the path and its helpers out.
# DSP (kernels/dsp): NB_DSP_CONV2D_BLOCKED (g42 / w16, nb_conv2d_blocked), NB_DSP_DW_PLANAR (3x3 stride-1
# nb_dw_planar), NB_DSP_DW_TABLED (nb_dw_tabled); MVE (kernels/mve): NB_MVE_CONV2D_BLOCKED (nb_conv2d_blocked),
# NB_MVE_DW_WINDOW (<= 3x3 stride-1 nb_dwm_win), NB_MVE_DW_GENERAL (the 8-channel per-call-prepared path).
PATH_SWITCHES: dict[str, tuple[str, ...]] = {
    "dsp": ("NB_DSP_CONV2D_BLOCKED", "NB_DSP_DW_PLANAR", "NB_DSP_DW_TABLED"),
    "mve": ("NB_MVE_CONV2D_BLOCKED", "NB_MVE_DW_WINDOW", "NB_MVE_DW_GENERAL"),
}


def conv2d_blocked_may_apply(cpu: str, n_pos: int, batch: int = 1, grouped: bool = False) -> bool:
    """Whether a CONV_2D call can take the variant's blocked (many output positions) path: no groups and
    >= DSP_W16_MIN_POS output positions per batch item (DSP nb_conv2d: out.h * out.w) or per call (MVE:
    out.n * out.h * out.w >= NB_CONVM_BLOCK_MIN_POS = 4). Runtime conditions (scratch size, requantization
    ranges, a prepared stream) are taken as met."""
    k = kind(cpu)
    pos = int(n_pos) if k == "dsp" else int(n_pos) * int(batch)
    return k != "portable" and not grouped and pos >= DSP_W16_MIN_POS


def dw_direct_applies(taps: int, n_pos: int, depth_multiplier: int = 1) -> bool:
    """Whether a DEPTHWISE_CONV_2D call takes the direct path of the DSP / MVE variant (nb_dw_direct /
    nb_dwm_direct): depth multiplier 1, <= DW_DIRECT_MAX_POS output positions (batch included), <= 16 taps."""
    return int(depth_multiplier) == 1 and int(n_pos) <= DW_DIRECT_MAX_POS and int(taps) <= 16


def op_path_params(name: str, x_shape: Any, w_shape: Any, out_shape: Any, options: dict | None) -> dict[str, Any]:
    """The parameters :func:`op_paths` needs from a CONV_2D / DEPTHWISE_CONV_2D op's input, filter and output
    shapes (NHWC; filter OHWI / [1, kh, kw, c]) and its TFLite options; {} when a shape is not 4-D (unknown:
    op_paths then assumes every path)."""
    o = options or {}
    if name not in ("CONV_2D", "DEPTHWISE_CONV_2D") or any(s is None or len(s) != 4
                                                           for s in (x_shape, w_shape, out_shape)):
        return {}
    x, w, y = ([int(v) for v in s] for s in (x_shape, w_shape, out_shape))
    d: dict[str, Any] = {"n_pos": y[1] * y[2], "batch": y[0], "kh": w[1], "kw": w[2],
                         "stride_h": int(o.get("stride_h", 1)), "stride_w": int(o.get("stride_w", 1)),
                         "dilation_h": int(o.get("dilation_h_factor", 1)),
                         "dilation_w": int(o.get("dilation_w_factor", 1))}
    if name == "CONV_2D":
        d["grouped"] = w[3] != x[3]
    else:
        d["depth_multiplier"] = w[3] // x[3] if x[3] else 0
    return d


def op_paths(name: str, cpu: str, **params: Any) -> set[str]:
    """The path switches (PATH_SWITCHES) an op of the model could need on `cpu` (the same predicates as the C
    dispatch; runtime conditions count as met). params: :func:`op_path_params` (n_pos per batch item, batch,
    kh, kw, strides, dilations, grouped / depth_multiplier); missing params: every path of the op."""
    k = kind(cpu)
    if k == "portable" or name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return set()
    pre = "NB_DSP_" if k == "dsp" else "NB_MVE_"
    if not params:
        return {s for s in PATH_SWITCHES[k] if ("CONV2D" in s) == (name == "CONV_2D")}
    if name == "CONV_2D":
        ok = conv2d_blocked_may_apply(cpu, params["n_pos"], params["batch"], bool(params["grouped"]))
        return {pre + "CONV2D_BLOCKED"} if ok else set()
    dm, taps = int(params["depth_multiplier"]), int(params["kh"]) * int(params["kw"])
    if dw_direct_applies(taps, int(params["n_pos"]) * int(params["batch"]), dm):
        return set()
    unit = (dm == 1 and int(params["stride_h"]) == 1 and int(params["stride_w"]) == 1
            and int(params["dilation_h"]) == 1 and int(params["dilation_w"]) == 1)
    if k == "dsp":  # nb_dw_planar (may decline at run time: then nb_dw_tabled), else nb_dw_tabled
        planar = unit and int(params["kh"]) == 3 and int(params["kw"]) == 3
        return {"NB_DSP_DW_TABLED"} | ({"NB_DSP_DW_PLANAR"} if planar else set())
    window = unit and int(params["kh"]) <= 3 and int(params["kw"]) <= 3  # nb_dwm_win (may decline: general)
    return {"NB_MVE_DW_GENERAL"} | ({"NB_MVE_DW_WINDOW"} if window else set())


def path_switches(ops: Any, cpu: str) -> dict[str, int]:
    """{switch: 0/1} for the variant kind of `cpu` (PATH_SWITCHES; {} for portable builds): 1 when any op of
    `ops` ((name, params) pairs, params as for :func:`op_paths`) could take that path."""
    k = kind(cpu)
    if k == "portable":
        return {}
    used: set[str] = set()
    for name, params in ops:
        used |= op_paths(name, cpu, **params)
    return {s: int(s in used) for s in PATH_SWITCHES[k]}


def path_switches_header(ops: Any) -> str:
    """nb_kernel_paths.h for a model: every DSP and MVE switch (:func:`path_switches` for cortex-m4 and
    cortex-m55), each under #ifndef so a -D on the command line still wins."""
    lines = ["/* nb_kernel_paths.h - generated by noisebudget (convert.kernel_variants.path_switches): the kernel",
             " * variant paths this model's ops can take; 0 compiles a path out (flash). Do not edit. */",
             "#ifndef NB_KERNEL_PATHS_H", "#define NB_KERNEL_PATHS_H", ""]
    ops = list(ops)
    for cpu in ("cortex-m4", "cortex-m55"):
        for s, v in path_switches(ops, cpu).items():
            lines += [f"#ifndef {s}", f"#define {s} {v}", "#endif"]
    return "\n".join([*lines, "", "#endif /* NB_KERNEL_PATHS_H */", ""])


def prepare_weights(op: str, cpu: str, weights: Any, bias: Any = None, **params: Any) -> np.ndarray | None:
    """Data the variant of `op` on `cpu` would otherwise prepare per call, computed at generation time (const
    data in flash, passed as the params struct's ``prepared`` pointer), or None (the variant prepares per call
    or needs nothing). Weights and bias stay the TFLite tensors (the other paths read them).

    DSP (cortex-m4/m7) CONV_2D taking the g42 path (:func:`g42_applies` and every channel in the exact range
    of nb_dsp_g42_prepare): int32 words {G42_MAGIC, K, c_out, n} + the n-word g42 stream, bit-exact to what
    nb_dsp_g42_prepare lays out in the scratch. params: out_multiplier, out_shift ([c_out]),
    input_zero_point, output_zero_point, act_min, act_max, n_pos (output positions per call), optional
    grouped (filter c_in < input c_in). weights: OHWI int8 [c_out, kh, kw, c_in]; bias: int32 [c_out] or None.
    """
    if kind(cpu) != "dsp" or op != "CONV_2D":
        return None
    if not g42_applies(int(params["act_min"]), int(params["act_max"]), int(params["n_pos"]),
                       bool(params.get("grouped", False))):
        return None
    w = np.asarray(weights)
    w = w.reshape(w.shape[0], -1).astype(np.int64)
    stream = _g42_stream(w, None if bias is None else np.asarray(bias), np.asarray(params["out_multiplier"]),
                         np.asarray(params["out_shift"]), int(params["input_zero_point"]),
                         int(params["output_zero_point"]))
    if stream is None:
        return None
    head = np.array([G42_MAGIC, w.shape[1], w.shape[0], stream.size], dtype=np.int64)
    return np.concatenate([(head & 0xFFFFFFFF).astype(np.uint32).view(np.int32), stream])


def conv2d_vpairs_bytes(kh: int, kw: int, c_in: int, in_w: int, out_h: int, out_w: int, stride_h: int,
                        stride_w: int, pad_w: int, dilation_h: int = 1, dilation_w: int = 1,
                        pad_h: int = 0) -> int:
    """Bytes of the DSP CONV_2D vertical-pair table (nb_conv2d_vpairs of dsp/nb_conv2d_dsp.c: 4-byte kernel
    rows, kws conv0) for a g42 call, 0 when that path does not apply."""
    in_row = in_w * c_in
    direct = kh == 1 and kw == 1 and pad_h == 0 and pad_w == 0 and (kh * kw * c_in) % 4 == 0
    ok = (kw * c_in == 4 and dilation_h == 1 and dilation_w == 1 and out_h >= 2 and in_row >= 4
          and -pad_w * c_in > -4 and ((out_w - 1) * stride_w - pad_w) * c_in < in_row and not direct)
    return 16 * ((out_h - 2) * stride_h + kh + 1 + stride_h) if ok else 0
