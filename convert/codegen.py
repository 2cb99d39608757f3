"""The code generator: an int8 .tflite (or a VAD run) -> a self-contained C99 firmware project (Jinja2).

    info = generate(source, out_dir, target="cortex-m4")          # source: RUN_DIR or MODEL.tflite
    info["arena_bytes"], info["stages"], info["files"]

Project layout written to OUT_DIR (atomically: rendered into a temporary folder, then renamed):

    nb/      the portable library: our int8 kernels (only the ops used, firmware_templates/kernels),
             nb_model.{h,c} (one static arena sized by convert.memplan, the op sequence, each op between
             NB_STAGE_BEGIN/END), nb_model_data.c (weights, biases, constant operands as `const`; DSP
             builds: the CONV_2D g42 streams prepared here, and without the int8 filters only those ops read),
             nb_stage.h; for VAD runs also the C front end (convert.frontend_c), nb_postproc.{h,c} and
             nb_vad.{h,c} (nb_vad_init / nb_vad_process_hop / nb_vad_process_features / _frame_q).
    app/     example application: main.c + nb_test_data.{h,c} (a test clip or int8 inputs as const data);
             prints per-hop (per-invoke) results and DWT cycles through semihosting (stdout on the host).
    nb/target/dsp, nb/target/mve   the optimized kernel variants (convert.kernel_variants): the m4/m7 builds
             compile nb/target/dsp (SMLAD) and the m55 build nb/target/mve (Helium) INSTEAD of the portable
             nb_conv2d.c / nb_depthwise_conv2d.c / nb_fully_connected.c (host: the portable ones), with
             -DNB_KERNEL_SCRATCH_BYTES=<max scratch need over the model's ops for that CPU>;
             nb/target/dsp/nb_kernel_paths.h switches off the variant paths no op of the model can take.
    board/   start-up code, linker scripts of the three QEMU boards, nb_cycles.h (firmware_templates/boards).
    tflm/    the TFLite Micro flavour: model_data.{h,cc}, main.cc with a MicroMutableOpResolver of exactly
             the ops used and the measured arena size (not built here: no TFLM sources available).
    Makefile (host, m4, m7, m55, run-qemu, run-host, clean), CMakeLists.txt + cmake/arm-none-eabi.cmake,
    README.md, project.json, firmware.json.

`project.json` (built for the target's CPU: its variant sources listed explicitly instead of the portable
files they replace, their include dirs and NB_KERNEL_SCRATCH_BYTES) follows convert/measure.py's schema
(name, target, board, sources, include_dirs, defines, opt, hop_rate_hz, warmup_hops, stages, timeout_s[,
budget]) so `noisebudget measure OUT_DIR` and `noisebudget check OUT_DIR` work on the folder. That schema
rejects unknown keys, so everything else
(cpu, clock, flash/RAM of the target, arena bytes of our plan and of TFLM, per-op MACs, the memory plan,
VAD quantization parameters and post-processing settings) goes to `firmware.json`:

    {"schema": "noisebudget.firmware/1", "kind": "vad"|"model", "model": <file>, "target": ..., "cpu": ...,
     "board": ..., "clock_hz": ..., "hop_rate_hz": ..., "stages": {"1": "frontend", ...},
     "arena_bytes": ..., "arena_lower_bound_bytes": ..., "tflm_arena_bytes": ...|null,
     "state_bytes": ..., "weight_bytes": ..., "ops": [{"index", "op", "stage", "macs"}],
     "memory_plan": {...}, "vad": {...}|null, "test_data": {...}}

Stage ids: VAD: 1 frontend, 2 quantize (frame), 3 state (copy of the new state), 4 postproc; generic
models: 1 io (copies in/out); operators from 8 (op k -> 8 + k; beyond id 63 they share id 63 "ops_rest").
The example app wraps each hop (VAD) / invoke (model) in NB_HOP_BEGIN/END.

App printout (parsed by tests and usable by anyone): VAD `H <hop> <q> <prob*1e6> <decision>`, optional
`F <hop> <hex frame>` (-DNB_APP_PRINT_FRAMES=1) and `S <hop> <k> <hex state>` (-DNB_APP_PRINT_STATE=1);
model `O <n> <k> <hex output bytes>`; every hop/invoke also `NB_CYCLES hop=<n> cycles=<c>`; finally
`NB_DONE <count>`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from convert import memplan
from convert.op_params import OpParams, kernel_files, op_params, substitute
from convert.ops import check_model, op_cost
from convert.tflite_ir import Model, Subgraph, read_tflite
from train.errors import ConversionError, DataError, UsageError

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "firmware_templates"
KERNELS = TEMPLATES / "kernels"
BOARDS = TEMPLATES / "boards"
SCHEMA = "noisebudget.firmware/1"

# (make target, cpu name, QEMU board) - flags come from firmware_templates/build/cpu-<cpu>.mk
CPUS = (("m4", "cortex-m4", "mps2-an386"), ("m7", "cortex-m7", "mps2-an500"), ("m55", "cortex-m55", "mps3-an547"))
STAGE_VAD = {1: "frontend", 2: "quantize", 3: "state", 4: "postproc"}
STAGE_MODEL = {1: "io"}
OP_STAGE_BASE = 8
MAX_STAGE = 63

_CTYPES = {"INT8": "int8_t", "INT32": "int32_t", "FLOAT32": "float", "INT16": "int16_t", "UINT8": "uint8_t"}


@dataclass
class VadIO:
    frame: int  # tensor index
    states_in: list[int]
    prob: int
    states_out: list[int]
    frame_scale: float
    frame_zero_point: int
    prob_scale: float
    prob_zero_point: int
    n_bands: int
    frontend: Any  # train.frontend.FrontEndSpec
    # float input stage (model_io.json "input_stage"): d = x - m; m += alpha * d; frame = (d - mean) * scale
    ema_alpha: float = 0.0
    ema_init: list[float] = field(default_factory=list)
    norm_mean: list[float] = field(default_factory=list)
    norm_scale: list[float] = field(default_factory=list)


@dataclass
class Source:
    model_path: Path
    model_bytes: bytes
    io: dict | None = None  # model_io.json content (VAD)
    frontend: dict | None = None  # front-end spec dict (arch.json), if known
    run_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    hop_rate_hz: float | None = None  # invokes per second from spoof_io.json (1 / window_seconds), if present


def resolve_source(path: str | Path) -> Source:
    """RUN_DIR (model.tflite + model_io.json [+ model/arch.json]) or MODEL.tflite [+ model_io.json beside it]."""
    p = Path(path)
    if p.is_dir():
        mp = p / "model.tflite"
        if not mp.is_file():
            raise DataError(f"{p}: no model.tflite in the run folder (run `noisebudget convert {p}` first)")
        run_dir = p
    elif p.is_file():
        mp, run_dir = p, None
    else:
        raise DataError(f"{p}: no such file or run folder")
    src = Source(mp, mp.read_bytes(), run_dir=run_dir)
    spoof_io = mp.parent / "spoof_io.json"  # a spoof run: one invoke per scored window
    if spoof_io.is_file():
        try:
            ws = float(json.loads(spoof_io.read_text()).get("window_seconds") or 0)
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise DataError(f"{spoof_io}: no valid window_seconds: {e}") from None
        if ws > 0:
            src.hop_rate_hz = 1.0 / ws
    io_path = mp.parent / "model_io.json"
    if io_path.is_file():
        try:
            src.io = json.loads(io_path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{io_path}: not valid JSON: {e}") from None
        for cand in (mp.parent / "model" / "arch.json", mp.parent / "arch.json"):
            if cand.is_file():
                try:
                    fe = json.loads(cand.read_text()).get("frontend")
                except json.JSONDecodeError as e:
                    raise DataError(f"{cand}: not valid JSON: {e}") from None
                if fe:
                    src.frontend = dict(fe)
                    break
        if src.frontend is None:
            src.notes.append("no model/arch.json next to the model: default front-end spec used")
    return src


def _vad_io(model: Model, io: dict, frontend: dict | None, source: str) -> VadIO:
    from train.frontend import FrontEndSpec

    try:
        m = io["io_map"]
        ins, outs = list(model.inputs), list(model.outputs)
        frame = ins[m["frame"]]
        states_in = [ins[k] for k in m["states_in"]]
        prob = outs[m["prob"]]
        states_out = [outs[k] for k in m["states_out"]]
        bands = [int(b) for b in io["mel_bands"]]
    except (KeyError, IndexError, TypeError) as e:
        raise DataError(f"{source}: model_io.json does not match the model ({type(e).__name__}: {e})") from None
    if bands != list(range(len(bands))):
        raise ConversionError(f"{source}: kept mel bands {bands} are not the first {len(bands)} bands; the C "
                              "front end computes a prefix of the filterbank")
    spec = FrontEndSpec.from_dict(frontend) if frontend else FrontEndSpec()
    ft, pt = model.tensors[frame], model.tensors[prob]
    if ft.size != len(bands):
        raise DataError(f"{source}: frame input has {ft.size} values, model_io.json lists {len(bands)} bands")
    if ft.type_name != "INT8" or pt.type_name != "INT8" or pt.size != 1:
        raise ConversionError(f"{source}: VAD step model needs an int8 frame input and one int8 probability")
    for a, b in zip(states_in, states_out, strict=True):
        ta, tb = model.tensors[a], model.tensors[b]
        if (ta.shape != tb.shape or ta.type_name != "INT8" or tb.type_name != "INT8"
                or float(ta.quantization.scale[0]) != float(tb.quantization.scale[0])
                or int(ta.quantization.zero_point[0]) != int(tb.quantization.zero_point[0])):
            raise ConversionError(f"{source}: state '{ta.name}' and new state '{tb.name}' differ in shape or "
                                  "quantization: the new state cannot be fed back bit for bit")
    stage = io.get("input_stage") or {}
    ema_alpha = float(stage.get("ema_alpha", 0.0))
    vec = {}
    for key, default in (("ema_init", 0.0), ("norm_mean", 0.0), ("norm_scale", 1.0)):
        vec[key] = [float(v) for v in stage.get(key, [default] * len(bands))]
        if len(vec[key]) != len(bands):
            raise DataError(f"{source}: model_io.json input_stage.{key} has {len(vec[key])} values, "
                            f"expected {len(bands)}")
    return VadIO(frame, states_in, prob, states_out, float(ft.quantization.scale[0]),
                 int(ft.quantization.zero_point[0]), float(pt.quantization.scale[0]),
                 int(pt.quantization.zero_point[0]), len(bands), spec, ema_alpha, vec["ema_init"],
                 vec["norm_mean"], vec["norm_scale"])


# ----------------------------------------------------------------------------------------------- C text


def _fmt_values(values: np.ndarray, ctype: str, per_line: int = 16) -> str:
    flat = np.asarray(values).reshape(-1)
    if ctype == "float":
        from convert.frontend_c import c_float

        items = [c_float(float(v)) for v in flat]
    elif ctype == "int32_t":
        items = [str(int(v)) if int(v) != -(2**31) else "(-2147483647 - 1)" for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    if not items:
        return "    0"
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join("    " + ln for ln in lines)


def _c_ident(s: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in s)
    return out if out and not out[0].isdigit() else "_" + out


def _stage_for_op(k: int) -> int:
    return min(OP_STAGE_BASE + k, MAX_STAGE)


def _cflags_for(cpu: str) -> str:
    for line in (TEMPLATES / "build" / f"cpu-{cpu}.mk").read_text().splitlines():
        if line.startswith("NB_CPU_FLAGS"):
            return line.split(":=", 1)[1].strip()
    raise ConversionError(f"firmware_templates/build/cpu-{cpu}.mk has no NB_CPU_FLAGS")


def _tflm_op_method(name: str) -> str:
    special = {"CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "FULLY_CONNECTED":
               "AddFullyConnected", "AVERAGE_POOL_2D": "AddAveragePool2D", "MAX_POOL_2D": "AddMaxPool2D",
               "STRIDED_SLICE": "AddStridedSlice", "PADV2": "AddPadV2"}
    if name in special:
        return special[name]
    return "Add" + "".join(w.capitalize() for w in name.split("_"))


# ------------------------------------------------------------------------------------------ generation


@dataclass
class Options:
    target: str = "cortex-m4"
    threshold: float | None = None
    onset_hops: int | None = None
    hangover_hops: int | None = None
    clip: np.ndarray | None = None  # int16 test clip (VAD)
    clip_seconds: float = 2.0
    test_inputs: list[list[np.ndarray]] | None = None  # model mode: per invoke, one array per input
    n_test_inputs: int = 2
    seed: int = 0
    tflm_arena: bool = True  # measure TFLM's arena (subprocess, a few seconds)
    hop_rate_hz: float | None = None
    name: str | None = None
    prepared_weights: bool = True  # DSP builds: CONV_2D g42 streams in flash (faster, less RAM, more flash)


def synthetic_clip(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A deterministic int16 test clip: low noise with two voiced, formant-like bursts."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    x = 0.003 * rng.standard_normal(n)
    for start, dur, f0 in ((0.25, 0.6, 140.0), (1.1, 0.5, 210.0)):
        s, e = int(start * seconds / 2.0 * sample_rate), int((start + dur) * seconds / 2.0 * sample_rate)
        e = min(e, n)
        if s >= e:
            continue
        tt = t[s:e] - t[s]
        env = np.sin(np.pi * tt / max(tt[-1], 1e-3)) ** 2
        v = sum(np.sin(2 * np.pi * f0 * h * tt) / h for h in range(1, 12))
        v *= 1 + 0.5 * np.sin(2 * np.pi * 4.0 * tt)
        x[s:e] += 0.25 * env * v / 3.0
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def _load_target(name: str):
    # convert may not import noisebudget (layering): target profiles are plain TOML files.
    import tomllib

    p = Path(name)
    path = p if p.suffix == ".toml" and p.is_file() else REPO / "noisebudget" / "targets" / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(q.stem for q in (REPO / "noisebudget" / "targets").glob("*.toml")))
        raise UsageError(f"unknown target '{name}' (known: {known})")
    return tomllib.loads(path.read_text())


def _dsp_prepared(sg: Subgraph, op: Any, p: OpParams) -> tuple[np.ndarray, int] | None:
    """The DSP (Cortex-M4/M7) CONV_2D g42 stream of `op` prepared at generation time
    (convert.kernel_variants.prepare_weights) and the op's scratch need with it (the vertical-pair table of
    4-byte kernel rows, if any), or None when the op does not take that path (the kernel prepares per call)."""
    from convert import kernel_variants as kv
    from convert import quant

    if op.name != "CONV_2D" or len(op.inputs) < 2:
        return None
    x, w, out = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
    bias = sg.tensors[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    arrays = {a.suffix: np.asarray(a.values) for a in p.arrays}
    if (w.data is None or len(w.shape) != 4 or len(x.shape) != 4 or len(out.shape) != 4 or out.quantization is None
            or not {"mult", "shift"} <= set(arrays) or {t.type_name for t in (x, w, out)} != {"INT8"}
            or (bias is not None and np.asarray(bias).dtype != np.int32)):
        return None
    o = op.options
    amin, amax = quant.activation_range(o.get("fused_activation_function"), float(out.quantization.scale[0]),
                                        int(out.quantization.zero_point[0]))

    def zp(t: Any) -> int:
        return int(t.quantization.zero_point[0]) if t.quantization is not None and t.quantization.zero_point.size \
            else 0

    n_pos = int(out.shape[1]) * int(out.shape[2])
    prep = kv.prepare_weights("CONV_2D", "cortex-m4", np.asarray(w.data), bias, out_multiplier=arrays["mult"],
                              out_shift=arrays["shift"], input_zero_point=zp(x), output_zero_point=zp(out),
                              act_min=amin, act_max=amax, n_pos=n_pos, grouped=int(w.shape[3]) != int(x.shape[3]))
    if prep is None:
        return None
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
    vp = kv.conv2d_vpairs_bytes(int(w.shape[1]), int(w.shape[2]), int(w.shape[3]), int(x.shape[2]),
                                int(out.shape[1]), int(out.shape[2]), sh, sw,
                                quant.conv_padding(int(x.shape[2]), int(w.shape[2]), sw, dw, int(out.shape[2])), dh, dw,
                                quant.conv_padding(int(x.shape[1]), int(w.shape[1]), sh, dh, int(out.shape[1])))
    need = kv.scratch_bytes("CONV_2D", "cortex-m4", kh=w.shape[1], kw=w.shape[2], c_in=w.shape[3], c_out=w.shape[0],
                            n_pos=n_pos, prepared=True, vpairs_bytes=vp)
    return prep, need


def _variant_ctx(sg: Subgraph, params: list[OpParams], cpu: str,
                 prepared: dict[int, tuple[np.ndarray, int]] | None = None) -> dict[str, Any]:
    """The optimized kernel variants (convert.kernel_variants) a `cpu` build compiles instead of the portable
    kernels: project-relative sources under nb/target/<kind>/, the portable files they replace, include dirs
    and the scratch size (max over the model's ops; prepared: op index -> (DSP stream, scratch need with it)
    of the CONV_2D ops whose stream the DSP builds get from flash)."""
    from convert import kernel_variants as kv

    ops = sorted({p.op for p in params if kv.has_variant(p.op, cpu)})
    if not ops:
        return {"variant_srcs": [], "replaced": [], "variant_incs": [], "scratch_bytes": 0, "variant_files": []}
    kind = kv.kind(cpu)
    srcs = [f"nb/target/{p.parent.name}/{p.name}" for op in ops for p in kv.variant_sources(op, cpu)]
    srcs += [f"nb/target/{p.parent.name}/{p.name}" for p in kv.common_sources(cpu)]
    replaced = [f"nb/{kv.portable_source(op).name}" for op in ops]  # type: ignore[union-attr]
    incs = [f"nb/target/{d.name}" for d in kv.include_dirs(cpu) if d != kv.KERNELS_DIR]
    scratch = 0
    for op in sg.operators:
        if op.name in ops:
            w = sg.tensors[op.inputs[1]].shape
            if op.name == "CONV_2D" and kind == "dsp" and prepared and op.index in prepared:
                need = prepared[op.index][1]
            elif op.name == "CONV_2D":
                o = sg.tensors[op.outputs[0]].shape
                need = kv.scratch_bytes(op.name, cpu, kh=w[1], kw=w[2], c_in=w[3], c_out=w[0],
                                        n_pos=int(o[1]) * int(o[2]) if len(o) == 4 else 1 << 30)
            elif op.name == "DEPTHWISE_CONV_2D":
                o = sg.tensors[op.outputs[0]].shape
                need = kv.scratch_bytes(op.name, cpu, kh=w[1], kw=w[2], c=w[3], depth_multiplier=1,
                                        n_pos=int(o[0]) * int(o[1]) * int(o[2]) if len(o) == 4 else 1 << 30)
            else:
                need = kv.scratch_bytes(op.name, cpu, accum_depth=w[-1], out_depth=w[0])
            scratch = max(scratch, need)
    files = sorted({s for s in srcs} | {f"nb/target/{d.name}/{h.name}" for d in kv.include_dirs(cpu)
                                         if d != kv.KERNELS_DIR for h in d.glob("*.h")})
    return {"variant_srcs": srcs, "replaced": replaced, "variant_incs": incs,
            "scratch_bytes": max(16, (scratch + 15) // 16 * 16), "variant_files": files, "kind": kind}


def _kernel_paths(sg: Subgraph) -> tuple[dict[str, int], str]:
    """The kernel variant paths the model's CONV_2D / DEPTHWISE_CONV_2D ops can take: {switch: 0/1} of the DSP
    and MVE variants (convert.kernel_variants.path_switches; firmware.json 'kernel_paths') and the
    nb/target/dsp/nb_kernel_paths.h that compiles out the paths no op takes."""
    from convert import kernel_variants as kv

    ops = []
    for op in sg.operators:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(op.inputs) > 1 and op.outputs:
            x, w, y = (sg.tensors[i].shape if i >= 0 else None for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
            ops.append((op.name, kv.op_path_params(op.name, x, w, y, op.options)))
    switches = {**kv.path_switches(ops, "cortex-m4"), **kv.path_switches(ops, "cortex-m55")}
    return switches, kv.path_switches_header(ops)


def _board_for_cpu(cpu: str) -> str:
    for _, c, b in CPUS:
        if c == cpu:
            return b
    raise UsageError(f"no QEMU board for cpu '{cpu}' (known: {', '.join(c for _, c, _ in CPUS)})")


def build_context(src: Source, opts: Options) -> dict[str, Any]:
    """Everything the templates need (also the firmware.json content under 'info')."""
    model = read_tflite(src.model_bytes)
    name = str(src.model_path)
    model.source = name
    check_model(model, require_int8=False)
    sg: Subgraph = model.main
    if len(model.subgraphs) > 1:
        raise ConversionError(f"{name}: {len(model.subgraphs)} subgraphs; the code generator handles one")
    vad = _vad_io(model, src.io, src.frontend, name) if src.io is not None else None
    prof = _load_target(opts.target)
    cpu = str(prof["cpu"])
    board = str(prof.get("qemu_board") or _board_for_cpu(cpu))
    hop_rate = float(opts.hop_rate_hz or src.hop_rate_hz or prof.get("hop_rate_hz", 100.0))

    params: list[OpParams] = [op_params(sg, op, name) for op in sg.operators]
    external = set(vad.states_in) | {vad.frame} if vad else set()
    plan = memplan.plan_memory(sg, external=external)

    # tensor -> C expression
    const_used: dict[int, str] = {}
    state_names = {t: f"nb_state{k}" for k, t in enumerate(vad.states_in)} if vad else {}
    stream_only: set[int] = set()  # int8 filters that DSP builds with prepared streams never read (set below)

    def expr(i: int, kind: str) -> str:
        t = sg.tensors[i]
        if t.data is not None:
            cname = f"nb_w{i}"
            const_used[i] = cname
            return f"NB_DSP_FILTER({cname})" if i in stream_only else cname
        if vad and i == vad.frame:
            return "nb_vad_frame"
        if i in state_names:
            return state_names[i]
        off = plan.offsets[i]
        if kind == "float":
            return f"((float *)(void *)(NB_ARENA + {off}))"
        return f"(NB_ARENA + {off})"

    ops_ctx = []
    stages = dict(STAGE_VAD if vad else STAGE_MODEL)
    # DSP CONV_2D g42 streams prepared here (flash) instead of per call (scratch): nb_model_data.c, DSP builds only
    prepared: dict[int, tuple[np.ndarray, int]] = {}
    prepared_ctx = []
    for p in params:
        got = (_dsp_prepared(sg, sg.operators[p.index], p)
               if opts.prepared_weights and p.op == "CONV_2D" and p.ctype else None)
        if got is not None:
            prepared[p.index] = got
            prepared_ctx.append({"index": p.index, "name": f"nb_p{p.index}_g42", "n": int(got[0].size),
                                 "bytes": 4 * int(got[0].size), "data": _fmt_values(got[0], "int32_t", 8)})
    # a prepared op's DSP call reads only its stream (the g42 path with a generation-time stream never falls
    # back: codegen sizes the scratch for it), so DSP builds drop its int8 filter unless another op reads it
    filters = {sg.operators[k].inputs[1] for k in prepared}
    others = {i for op in sg.operators if op.index not in prepared for i in op.inputs}
    stream_only |= {i for i in filters if i >= 0 and i not in others}
    for p in params:
        pname = f"nb_p{p.index}"
        sid = _stage_for_op(p.index)
        stages[sid] = f"op{p.index}_{p.op.lower()}" if sid < MAX_STAGE or len(params) <= MAX_STAGE - OP_STAGE_BASE + 1 \
            else "ops_rest"
        cost = op_cost(sg, sg.operators[p.index])
        init = substitute(p.init, pname, expr) if p.ctype else ""
        if p.index in prepared:
            init = init[:-1] + f", .prepared = NB_DSP_PREPARED_DATA({pname}_g42)}}"
        ops_ctx.append({
            "index": p.index, "op": p.op, "pname": pname, "ctype": p.ctype, "stage": sid, "macs": cost.macs,
            "init": init,
            "call": substitute(p.call, pname, expr), "returns_status": p.returns_status,
            "arrays": [{"name": f"{pname}_{a.suffix}", "ctype": a.ctype, "n": len(a.values),
                        "data": _fmt_values(np.asarray(a.values), a.ctype)} for a in p.arrays],
        })
    consts = []
    weight_bytes = 0
    for i, cname in sorted(const_used.items()):
        t = sg.tensors[i]
        ctype = _CTYPES.get(t.type_name)
        if ctype is None:
            raise ConversionError(f"{name}: constant tensor '{t.name}' has type {t.type_name}, not supported")
        weight_bytes += t.nbytes
        consts.append({"name": cname, "ctype": ctype, "n": max(t.size, 1), "tname": t.name,
                       "stream_only": i in stream_only,
                       "shape": list(t.shape), "data": _fmt_values(np.asarray(t.data), ctype)})

    def io_list(idxs) -> list[dict]:
        out = []
        for k, i in enumerate(idxs):
            t = sg.tensors[i]
            ctype = _CTYPES.get(t.type_name)
            if ctype is None:
                raise ConversionError(f"{name}: model input/output '{t.name}' has type {t.type_name}")
            q = t.quantization
            out.append({"k": k, "index": i, "name": t.name, "ctype": ctype, "size": t.size, "bytes": t.nbytes,
                        "shape": list(t.shape), "expr": expr(i, "float" if ctype == "float" else "int8"),
                        "scale": float(q.scale[0]) if q is not None and q.is_quantized else None,
                        "zero_point": int(q.zero_point[0]) if q is not None and q.is_quantized else None})
        return out

    inputs, outputs = io_list(sg.inputs), io_list(sg.outputs)
    kernels = sorted({p.kernel for p in params})
    ops_used = sorted({p.op for p in params})
    tflm_arena = None
    if opts.tflm_arena:
        from convert.arena import measure_arena

        try:
            tflm_arena = measure_arena(src.model_bytes, source=name).arena_bytes
        except ConversionError as e:
            src.notes.append(f"TFLM arena not measured: {e}")

    ctx: dict[str, Any] = {
        "name": _c_ident(opts.name or (src.model_path.stem if src.run_dir is None else src.run_dir.name)),
        "model_file": src.model_path.name, "target": str(prof.get("name", opts.target)), "cpu": cpu,
        "board": board, "clock_hz": int(prof.get("clock_hz", 0)), "hop_rate_hz": hop_rate,
        "ops": ops_ctx, "consts": consts, "inputs": inputs, "outputs": outputs,
        "arena_bytes": max(plan.arena_bytes, 16), "plan": plan, "kernels": kernels, "ops_used": ops_used,
        "tflm_ops": [{"op": o, "method": _tflm_op_method(o)} for o in ops_used],
        "tflm_arena": tflm_arena, "stages": dict(sorted(stages.items())),
        "cpus": [{"make": m, "cpu": c, "board": b, "flags": _cflags_for(c), **_variant_ctx(sg, params, c, prepared)}
                 for m, c, b in CPUS],
        "vad": None, "weight_bytes": weight_bytes, "notes": src.notes,
        "prepared": prepared_ctx, "prepared_bytes": sum(a["bytes"] for a in prepared_ctx),
    }
    ctx["kernel_paths"], ctx["kernel_paths_h"] = _kernel_paths(sg)
    if vad:
        from train.postproc import PostProcConfig, quantized_threshold

        d = PostProcConfig()
        pp = PostProcConfig(threshold=d.threshold if opts.threshold is None else float(opts.threshold),
                            onset_hops=d.onset_hops if opts.onset_hops is None else int(opts.onset_hops),
                            hangover_hops=d.hangover_hops if opts.hangover_hops is None else int(opts.hangover_hops))
        q_on = quantized_threshold(pp.threshold, vad.prob_scale, vad.prob_zero_point)
        states = []
        for k, (a, b) in enumerate(zip(vad.states_in, vad.states_out, strict=True)):
            t = sg.tensors[a]
            states.append({"k": k, "name": t.name, "size": t.size, "shape": list(t.shape),
                           "zero_point": int(t.quantization.zero_point[0]), "out_expr": expr(b, "int8")})
        from convert.frontend_c import c_float

        ctx["vad"] = {
            "n_bands": vad.n_bands, "hop": vad.frontend.hop_length, "sample_rate": vad.frontend.sample_rate,
            "frame_scale": vad.frame_scale, "frame_scale_c": c_float(vad.frame_scale),
            "frame_zero_point": vad.frame_zero_point, "prob_scale": vad.prob_scale,
            "prob_scale_c": c_float(vad.prob_scale), "prob_zero_point": vad.prob_zero_point,
            "prob_expr": expr(vad.prob, "int8"), "states": states,
            "state_bytes": sum(s["size"] for s in states),
            "threshold": pp.threshold, "threshold_c": repr(float(pp.threshold)), "q_on": q_on,
            "onset_hops": pp.onset_hops, "hangover_hops": pp.hangover_hops, "frontend": vad.frontend.to_dict(),
            "ema_alpha": vad.ema_alpha, "ema_alpha_c": c_float(vad.ema_alpha),
            "ema_init_c": ", ".join(c_float(v) for v in vad.ema_init),
            "norm": any(v != 0.0 for v in vad.norm_mean) or any(v != 1.0 for v in vad.norm_scale),
            "norm_mean_c": ", ".join(c_float(v) for v in vad.norm_mean),
            "norm_scale_c": ", ".join(c_float(v) for v in vad.norm_scale),
        }
    return ctx


def _test_data(ctx: dict, opts: Options) -> dict:
    if ctx["vad"]:
        v = ctx["vad"]
        clip = opts.clip if opts.clip is not None else synthetic_clip(opts.clip_seconds, v["sample_rate"], opts.seed)
        clip = np.asarray(clip)
        if clip.dtype != np.int16 or clip.ndim != 1:
            raise UsageError("test clip must be a 1-D int16 array")
        hops = len(clip) // v["hop"]
        if hops < 2:
            raise UsageError(f"test clip of {len(clip)} samples is shorter than two hops of {v['hop']}")
        clip = clip[: hops * v["hop"]]
        return {"kind": "clip", "hops": hops, "samples": len(clip), "data": _fmt_values(clip, "int16_t")}
    inputs = opts.test_inputs
    if inputs is None:
        rng = np.random.default_rng(opts.seed)
        inputs = []
        for _ in range(max(1, opts.n_test_inputs)):
            row = []
            for io in ctx["inputs"]:
                if io["ctype"] == "float":
                    row.append(rng.standard_normal(io["size"]).astype(np.float32))
                else:
                    info = np.iinfo(np.dtype(io["ctype"].replace("_t", "")))
                    row.append(rng.integers(info.min, info.max, size=io["size"], endpoint=True))
            inputs.append(row)
    arrays = []
    for io in ctx["inputs"]:
        k = io["k"]
        vals = np.concatenate([np.asarray(row[k]).reshape(-1) for row in inputs])
        if vals.size != io["size"] * len(inputs):
            raise UsageError(f"test input {k} must have {io['size']} values per invoke")
        arrays.append({"k": k, "ctype": io["ctype"], "n": vals.size, "data": _fmt_values(vals, io["ctype"])})
    return {"kind": "inputs", "count": len(inputs), "arrays": arrays}


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _info(ctx: dict, test: dict) -> dict[str, Any]:
    plan: memplan.MemoryPlan = ctx["plan"]
    vad = ctx["vad"]
    return {
        "schema": SCHEMA, "kind": "vad" if vad else "model", "name": ctx["name"], "model": ctx["model_file"],
        "target": ctx["target"], "cpu": ctx["cpu"], "board": ctx["board"], "clock_hz": ctx["clock_hz"],
        "hop_rate_hz": ctx["hop_rate_hz"], "stages": {str(k): v for k, v in ctx["stages"].items()},
        "arena_bytes": ctx["arena_bytes"], "arena_lower_bound_bytes": plan.lower_bound,
        "arena_naive_bytes": plan.naive_bytes, "tflm_arena_bytes": ctx["tflm_arena"],
        "state_bytes": vad["state_bytes"] + vad["n_bands"] if vad else 0,
        "weight_bytes": ctx["weight_bytes"], "kernels": ctx["kernels"], "kernel_paths": ctx["kernel_paths"],
        "ops_used": ctx["ops_used"],
        "ops": [{"index": o["index"], "op": o["op"], "stage": o["stage"], "macs": o["macs"]} for o in ctx["ops"]],
        "macs_total": sum(o["macs"] for o in ctx["ops"]),
        "inputs": [{k: v for k, v in io.items() if k != "expr"} for io in ctx["inputs"]],
        "outputs": [{k: v for k, v in io.items() if k != "expr"} for io in ctx["outputs"]],
        "memory_plan": plan.to_dict(),
        "vad": None if not vad else {k: v for k, v in vad.items() if not k.endswith("_c") and k != "prob_expr"
                                     and k != "states"} | {"states": [{k: v for k, v in s.items() if k != "out_expr"}
                                                                      for s in vad["states"]]},
        "test_data": {k: v for k, v in test.items() if k not in ("data", "arrays")},
        "notes": ctx["notes"],
    }


def generate(source: str | Path, out_dir: str | Path, opts: Options | None = None) -> dict[str, Any]:
    """Render the project (module doc) into out_dir (replaced atomically). Returns the firmware.json content."""
    from train.atomic import atomic_path

    opts = opts or Options()
    src = resolve_source(source)
    ctx = build_context(src, opts)
    test = _test_data(ctx, opts)
    ctx["test"] = test
    info = _info(ctx, test)
    ctx["info"] = info
    env = _env()
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        _render_into(tmp, ctx, env, src)
        (tmp / "firmware.json").write_text(json.dumps(info, indent=2) + "\n")
        (tmp / "project.json").write_text(json.dumps(_project_json(ctx, tmp), indent=2) + "\n")
    info["out_dir"] = str(out_dir)
    return info


def _project_json(ctx: dict, root: Path) -> dict:
    """project.json for the target's CPU: the portable library minus the kernels that CPU's optimized
    variants replace, plus those variants (nb/target/<kind>/), their include dirs and scratch size."""
    cpu = next(c for c in ctx["cpus"] if c["board"] == ctx["board"])
    if cpu["variant_srcs"]:
        lib = sorted(f"nb/{f.name}" for f in (root / "nb").glob("*.c"))
        sources = [s for s in lib if s not in cpu["replaced"]] + cpu["variant_srcs"]
    else:
        sources = ["nb/*.c"]
    defines: dict[str, Any] = {"NB_STAGE_MARKERS": 1}
    if cpu["variant_srcs"]:
        defines["NB_KERNEL_SCRATCH_BYTES"] = cpu["scratch_bytes"]
    return {
        "name": ctx["name"], "target": ctx["target"], "board": ctx["board"],
        "sources": [*sources, "app/*.c"], "include_dirs": ["nb", *cpu["variant_incs"], "app", "board"],
        "defines": defines, "opt": "-O2", "hop_rate_hz": ctx["hop_rate_hz"],
        "warmup_hops": 1, "stages": {str(k): v for k, v in ctx["stages"].items()}, "timeout_s": 300,
    }


def _render_into(root: Path, ctx: dict, env: jinja2.Environment, src: Source) -> None:
    root.mkdir(parents=True, exist_ok=True)
    nb, app, board, tflm = root / "nb", root / "app", root / "board", root / "tflm"
    for d in (nb, app, board, tflm, root / "cmake"):
        d.mkdir(parents=True, exist_ok=True)
    for f in kernel_files(set(ctx["kernels"])):
        shutil.copyfile(KERNELS / f, nb / f)
    for c in ctx["cpus"]:  # optimized kernel variants (convert.kernel_variants): nb/target/dsp, nb/target/mve
        for rel in c["variant_files"]:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(KERNELS / Path(rel).relative_to("nb/target"), dest)
    paths_h = root / "nb" / "target" / "dsp" / "nb_kernel_paths.h"  # the model's kernel path switches
    if paths_h.is_file():
        paths_h.write_text(ctx["kernel_paths_h"])
    shutil.copyfile(BOARDS / "common" / "nb_stage.h", nb / "nb_stage.h")
    for f in ("nb_startup.c", "nb_cycles.h", "nb_sections.ld"):
        shutil.copyfile(BOARDS / "common" / f, board / f)
    for _, _, b in CPUS:
        (board / b).mkdir(exist_ok=True)
        shutil.copyfile(BOARDS / b / "board.ld", board / b / "board.ld")

    def render(tpl: str, dest: Path) -> None:
        dest.write_text(env.get_template(tpl).render(**ctx))

    render("model/nb_model.h.j2", nb / "nb_model.h")
    render("model/nb_model.c.j2", nb / "nb_model.c")
    render("model/nb_model_data.c.j2", nb / "nb_model_data.c")
    render("model/nb_model_data.h.j2", nb / "nb_model_data.h")
    if ctx["vad"]:
        from convert.frontend_c import render_frontend

        render_frontend(ctx["vad_spec"] if "vad_spec" in ctx else _spec(ctx), ctx["vad"]["n_bands"], nb)
        for f in ("nb_postproc.c", "nb_postproc.h"):
            shutil.copyfile(TEMPLATES / "vad" / f, nb / f)
        render("model/nb_vad.h.j2", nb / "nb_vad.h")
        render("model/nb_vad.c.j2", nb / "nb_vad.c")
    render("app/main.c.j2", app / "main.c")
    render("app/nb_test_data.h.j2", app / "nb_test_data.h")
    render("app/nb_test_data.c.j2", app / "nb_test_data.c")
    render("app/Makefile.j2", root / "Makefile")
    render("app/CMakeLists.txt.j2", root / "CMakeLists.txt")
    render("app/arm-none-eabi.cmake.j2", root / "cmake" / "arm-none-eabi.cmake")
    render("app/README.md.j2", root / "README.md")
    render("tflm/model_data.h.j2", tflm / "model_data.h")
    render("tflm/main.cc.j2", tflm / "main.cc")
    data = src.model_bytes
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    tctx = dict(ctx, model_len=len(data), model_bytes=",\n".join("    " + r for r in rows))
    (tflm / "model_data.cc").write_text(env.get_template("tflm/model_data.cc.j2").render(**tctx))
    (tflm / "README.md").write_text(env.get_template("tflm/README.md.j2").render(**tctx))


def _spec(ctx: dict):
    from train.frontend import FrontEndSpec

    return FrontEndSpec.from_dict(ctx["vad"]["frontend"])


def format_summary(info: dict) -> str:
    tf = info["tflm_arena_bytes"]
    lines = [
        f"{info['kind']} firmware for {info['target']} ({info['cpu']}, QEMU {info['board']}) -> {info.get('out_dir')}",
        f"ops: {len(info['ops'])} ({', '.join(info['ops_used'])}); MACs per invoke {info['macs_total']:,}; "
        f"weights {info['weight_bytes']:,} B",
        f"arena: {info['arena_bytes']:,} B (liveness plan; lower bound {info['arena_lower_bound_bytes']:,} B, "
        f"no reuse {info['arena_naive_bytes']:,} B) | TFLM arena: "
        + (f"{tf:,} B" if tf is not None else "not measured"),
    ]
    if info["vad"]:
        v = info["vad"]
        lines.append(f"VAD: {v['n_bands']} mel bands, state {v['state_bytes']} B, threshold {v['threshold']} "
                     f"(q_on {v['q_on']}), onset {v['onset_hops']}, hangover {v['hangover_hops']} hops")
    lines += [f"note: {n}" for n in info["notes"]]
    return "\n".join(lines)
