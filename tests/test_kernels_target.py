"""Bit-exactness of the target kernel variants (Cortex-M4/M7 DSP, Cortex-M55 MVE) against TFLM, on QEMU.

For each op (CONV_2D incl. 1x1 / 1xN, DEPTHWISE_CONV_2D, FULLY_CONNECTED) a few dozen random one-op int8
models (the KernelSpecs of tests/test_kernels_a.py, with channel counts that reach the SIMD paths and
their tails) are run through TFLM (expected) and, embedded as data in one firmware per CPU built with
that CPU's variant sources (convert.kernel_variants), through the kernels on the QEMU board of the CPU.
The firmware prints each case's output in hex through semihosting. The same cases also run through the
variant sources compiled for the host (portable fallbacks of the intrinsics) under the sanitizers.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np
import pytest

from convert import kernel_variants as kv
from tests import kernel_harness as kh
from tests.test_kernels_a import CONV, DEPTHWISE, FC, _conv_geometry, _ri

BOARDS = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}
OPS = {"CONV_2D": CONV, "DEPTHWISE_CONV_2D": DEPTHWISE, "FULLY_CONNECTED": FC}
N_SPECS = {"CONV_2D": 14, "DEPTHWISE_CONV_2D": 10, "FULLY_CONNECTED": 8}
N_INPUTS = 2  # random inputs per model
SCRATCH = 12288  # NB_KERNEL_SCRATCH_BYTES of the test firmware (kws 1x1 64->64 fits; larger cases: fallback paths)


def _channels(rng: np.random.Generator, hi: int) -> int:
    return int(rng.choice([_ri(rng, 1, 7), 4 * _ri(rng, 1, hi // 4), 4 * _ri(rng, 1, hi // 4) + _ri(rng, 1, 3)]))


def conv_spec(rng: np.random.Generator) -> dict:
    g = _conv_geometry(rng)
    kind = rng.random()
    if kind < 0.35:
        g.update(k=[1, 1], stride=[1, 1], dilation=[1, 1], padding="valid")
    elif kind < 0.5:
        g["k"] = [1, _ri(rng, 2, 5)]
    g.update(cin=_channels(rng, 32), cout=_ri(rng, 1, 24), act=[None, "relu", "relu6"][_ri(rng, 0, 2)],
             bias=bool(rng.random() < 0.8), range=(-float(rng.uniform(0, 4)), float(rng.uniform(0.1, 4))),
             seed=_ri(rng, 0, 2**31 - 2), groups=1)
    if g["k"] == [1, 1] or g["padding"] == "valid":
        g["h"] = max(g["h"], (g["k"][0] - 1) * g["dilation"][0] + 1)
        g["w"] = max(g["w"], (g["k"][1] - 1) * g["dilation"][1] + 1)
    return g


def dw_spec(rng: np.random.Generator) -> dict:
    g = _conv_geometry(rng)
    if rng.random() < 0.5:
        g.update(k=[3, 3], dilation=[1, 1], padding="same")
    g.update(cin=_channels(rng, 32), dm=1 if rng.random() < 0.8 else 2, act=[None, "relu", "relu6"][_ri(rng, 0, 2)],
             bias=bool(rng.random() < 0.8), range=(-float(rng.uniform(0, 4)), float(rng.uniform(0.1, 4))),
             seed=_ri(rng, 0, 2**31 - 2))
    if g["padding"] == "valid":
        g["h"] = max(g["h"], (g["k"][0] - 1) * g["dilation"][0] + 1)
        g["w"] = max(g["w"], (g["k"][1] - 1) * g["dilation"][1] + 1)
    return g


def fc_spec(rng: np.random.Generator) -> dict:
    return {"t": _ri(rng, 2, 3) if rng.random() < 0.3 else 0,
            "converter_flags": {"_experimental_disable_per_channel_quantization_for_dense_layers":
                                bool(rng.random() < 0.5)},
            "n_in": _ri(rng, 1, 200), "n_out": _ri(rng, 1, 40), "act": [None, "relu", "relu6"][_ri(rng, 0, 2)],
            "bias": bool(rng.random() < 0.8), "range": (-float(rng.uniform(0, 4)), float(rng.uniform(0.1, 4))),
            "seed": _ri(rng, 0, 2**31 - 2)}


SPEC_FNS = {"CONV_2D": conv_spec, "DEPTHWISE_CONV_2D": dw_spec, "FULLY_CONNECTED": fc_spec}

# The kws_ref_model shapes, always included.
FIXED = {
    "CONV_2D": [
        {"h": 49, "w": 10, "k": [10, 4], "stride": [2, 2], "dilation": [1, 1], "padding": "same", "cin": 1,
         "cout": 64, "act": "relu", "bias": True, "range": (-2.0, 2.0), "seed": 101, "groups": 1},
        {"h": 25, "w": 5, "k": [1, 1], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 64,
         "cout": 64, "act": "relu", "bias": True, "range": (0.0, 4.0), "seed": 102, "groups": 1},
        # DSP blocked int16-weight path tails: K % 8 != 0, c_out % 4 != 0, odd position count, relu6 clamp
        {"h": 3, "w": 3, "k": [1, 1], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 5,
         "cout": 7, "act": "relu6", "bias": True, "range": (-1.0, 3.0), "seed": 105, "groups": 1},
        {"h": 4, "w": 5, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 3,
         "cout": 10, "act": None, "bias": False, "range": (-2.0, 1.0), "seed": 106, "groups": 1},
        # DSP direct 1x1 path (pixels widened straight into the column pair, all full blocks in one assembly
        # call per pair, NB_DSP_CHUNK_BLOCKS = 8): stride 2, K % 8 == 4 (zero padding words), 10 full blocks
        # (chunks of 8 + 2), odd position count, full-range requantization
        {"h": 5, "w": 5, "k": [1, 1], "stride": [2, 2], "dilation": [1, 1], "padding": "valid", "cin": 12,
         "cout": 40, "act": None, "bias": True, "range": (-2.0, 2.0), "seed": 114, "groups": 1},
        # 9 full blocks + a 2-channel tail block, clamped (relu) requantization, odd positions
        {"h": 3, "w": 3, "k": [1, 1], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 8,
         "cout": 38, "act": "relu", "bias": True, "range": (-1.0, 3.0), "seed": 115, "groups": 1},
        # relu6 clamp in the chunked requantization loop, even positions (a Keras layer without bias still
        # gets a zero bias tensor from the converter)
        {"h": 2, "w": 3, "k": [1, 1], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 16,
         "cout": 8, "act": "relu6", "bias": False, "range": (-2.0, 2.0), "seed": 116, "groups": 1},
        # one output position (the streaming VAD's calls): nb_dsp_dot2x1_rows over 33 row pairs (a chunk of 32
        # + 1) and an odd last channel, K = 9 (one group tail value)
        {"h": 1, "w": 1, "k": [1, 1], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 9,
         "cout": 67, "act": "relu", "bias": True, "range": (-1.0, 2.0), "seed": 117, "groups": 1},
    ],
    "DEPTHWISE_CONV_2D": [
        {"h": 25, "w": 5, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 64,
         "dm": 1, "act": "relu", "bias": True, "range": (0.0, 4.0), "seed": 103},
        # 3-tap unrolled DSP loop (the VAD's dilated 3x1 depthwise), channel tail, clamped activation
        {"h": 9, "w": 1, "k": [3, 1], "stride": [1, 1], "dilation": [4, 1], "padding": "valid", "cin": 13,
         "dm": 1, "act": "relu6", "bias": True, "range": (-1.0, 2.0), "seed": 107},
        # DSP direct path (<= 3 output positions): 3x3 "same" on a 1x3 input (taps outside skipped, 3 valid
        # per position), 2 positions with 2 / 4 valid taps (generic tap count), odd channels
        {"h": 1, "w": 3, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 10,
         "dm": 1, "act": None, "bias": True, "range": (-2.0, 2.0), "seed": 108},
        {"h": 2, "w": 2, "k": [3, 3], "stride": [2, 1], "dilation": [1, 1], "padding": "same", "cin": 7,
         "dm": 1, "act": "relu", "bias": False, "range": (-1.0, 3.0), "seed": 109},
        # 9 valid taps at one position (unrolled 9-tap direct loop); 25 taps (> 16: the tabled path)
        {"h": 3, "w": 3, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 21,
         "dm": 1, "act": None, "bias": True, "range": (-3.0, 1.0), "seed": 110},
        {"h": 5, "w": 5, "k": [5, 5], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 9,
         "dm": 1, "act": "relu6", "bias": True, "range": (-1.0, 1.0), "seed": 111},
        # DSP tabled path with the assembly 3-tap group: >= 4 positions, clamped (relu6) and full-range outputs
        {"h": 6, "w": 2, "k": [3, 1], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 9,
         "dm": 1, "act": "relu6", "bias": True, "range": (-1.0, 2.0), "seed": 112},
        {"h": 1, "w": 7, "k": [1, 3], "stride": [1, 1], "dilation": [1, 2], "padding": "same", "cin": 12,
         "dm": 1, "act": None, "bias": False, "range": (-2.0, 2.0), "seed": 113},
    ],
    "FULLY_CONNECTED": [
        {"t": 0, "converter_flags": {}, "n_in": 64, "n_out": 12, "act": None, "bias": True, "range": (0.0, 4.0),
         "seed": 104},
        # one-column assembly row-pair loop: > 32 pairs, K % 4 == 3, per-tensor requantization
        {"t": 0, "converter_flags": {"_experimental_disable_per_channel_quantization_for_dense_layers": True},
         "n_in": 23, "n_out": 70, "act": "relu", "bias": True, "range": (-2.0, 2.0), "seed": 118},
    ],
}


@functools.cache
def all_cases() -> list[tuple[str, kh.CCase, np.ndarray]]:
    """(op, C case, TFLM expected output) for every op; deterministic."""
    out: list[tuple[str, kh.CCase, np.ndarray]] = []
    for i, (op, kspec) in enumerate(OPS.items()):
        rng = np.random.default_rng(1234 + i)
        specs = list(FIXED[op])
        tries = 0
        while len(specs) < N_SPECS[op] + len(FIXED[op]) and tries < 4 * N_SPECS[op]:
            specs.append(SPEC_FNS[op](rng))
            tries += 1
        n_ok = 0
        for j, spec in enumerate(specs):
            buf = kh.model_for(kspec, spec)
            if buf is None:
                continue
            n_ok += 1
            pm = kh.parse_model_cached(buf)
            pop = pm.ops[0]
            irng = np.random.default_rng(j)
            for _ in range(N_INPUTS):
                x = kh.random_inputs(buf, irng)
                exp = kh.run_tflm(buf, x)[0]
                out.append((op, kspec.c_case(pop, kh.op_inputs(pm, pop, x)), exp))
        assert n_ok >= N_SPECS[op] // 2, f"too many rejected {op} specs"
    return out


_KINDS = {np.dtype(np.int8): 0, np.dtype(np.uint8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
          np.dtype(np.float32): 4}


def _blob(cases: list[tuple[str, kh.CCase, np.ndarray]], ops: list[str]) -> bytes:
    chunks = []
    for op, case, _ in cases:
        chunks.append(struct.pack("<II", ops.index(op), len(case.args)))
        for a in case.args:
            arr = np.ascontiguousarray(a)
            chunks.append(struct.pack("<II", _KINDS[arr.dtype], arr.size))
            raw = arr.tobytes()
            chunks.append(raw + b"\0" * (-len(raw) % 4))
        chunks.append(struct.pack("<I", case.out_nbytes))
    chunks.append(struct.pack("<I", 0xFFFFFFFF))
    return b"".join(chunks)


_FW_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "nb_common.h"
#include "nb_stage.h"
@INCLUDES@

typedef struct { uint32_t kind; uint32_t count; void *data; } nb_arg_t;
#define ARG_I8(k) ((const int8_t *)args[(k)].data)
#define ARG_U8(k) ((const uint8_t *)args[(k)].data)
#define ARG_I16(k) ((const int16_t *)args[(k)].data)
#define ARG_I32(k) ((const int32_t *)args[(k)].data)
#define ARG_F32(k) ((const float *)args[(k)].data)
#define ARG_N(k) ((int32_t)args[(k)].count)
static inline nb_dims4_t nb_arg_dims4(const int32_t *q)
{
    nb_dims4_t d;
    d.n = q[0]; d.h = q[1]; d.w = q[2]; d.c = q[3];
    return d;
}
@BODIES@
static int run_case(uint32_t idx, uint32_t op, const nb_arg_t *args, uint32_t n_args, int8_t *out,
                    uint32_t out_nbytes)
{
    int rc = -1;
    (void)idx;
    (void)op;
@DISPATCH@
    return rc;
}
extern const uint32_t nb_cases[];
static int8_t out_buf[@MAXOUT@] __attribute__((aligned(8)));
int main(void)
{
    static const char hex[] = "0123456789abcdef";
    static char line[2 * @MAXOUT@ + 2];
    int hop;
    for (hop = 0; hop < @HOPS@; ++hop) {
        const uint32_t *p = nb_cases;
        uint32_t idx;
        NB_HOP_BEGIN();
        for (idx = 0;; ++idx) {
            uint32_t op = *p++, n_args, i, out_n;
            nb_arg_t args[8];
            int rc;
            if (op == 0xFFFFFFFFu) {
                break;
            }
            n_args = *p++;
            for (i = 0; i < n_args; ++i) {
                static const uint32_t sz[5] = {1, 1, 2, 4, 4};
                uint32_t nbytes;
                args[i].kind = *p++;
                args[i].count = *p++;
                nbytes = args[i].count * sz[args[i].kind];
                args[i].data = args[i].count ? (void *)p : NULL;
                p += (nbytes + 3) / 4;
            }
            out_n = *p++;
            memset(out_buf, 0xA5, out_n);
            rc = run_case(idx, op, args, n_args, out_buf, out_n);
            if (hop == @HOPS@ - 1) {
                for (i = 0; i < out_n; ++i) {
                    line[2 * i] = hex[((uint8_t)out_buf[i]) >> 4];
                    line[2 * i + 1] = hex[((uint8_t)out_buf[i]) & 15];
                }
                line[2 * out_n] = 0;
                printf("R %d %s\n", rc, line);
            }
        }
        NB_HOP_END();
    }
    printf("DONE\n");
    return 0;
}
"""


def firmware_source(cases: list[tuple[str, kh.CCase, np.ndarray]], kspecs: dict[str, kh.KernelSpec] | None = None,
                    *, stages: bool = False, hops: int = 1) -> tuple[str, str]:
    """(main.c, cases.c) of a firmware running `cases` ((op, CCase, _) with op a key of `kspecs`) in order,
    printing each output in hex (last hop). stages: case i runs inside NB_STAGE_BEGIN/END(i + 1)."""
    kspecs = kspecs or OPS
    names = list(kspecs)
    bodies, includes = [], []
    for i, kspec in enumerate(kspecs.values()):
        bodies.append(f"static int run_op{i}(const nb_arg_t *args, uint32_t n_args, void *out, uint32_t out_nbytes)\n"
                      f"{{\n    (void)args;\n    (void)n_args;\n    (void)out;\n    (void)out_nbytes;\n"
                      f"    {{\n{kspec.c_body}\n    }}\n}}\n")
        includes += [f'#include "{h}"' for h in kspec.c_includes if f'#include "{h}"' not in includes]
    if stages:
        if len(cases) >= 63:
            raise ValueError("at most 62 staged cases")
        disp = ["    switch (idx) {"]
        for j, (op, _, _) in enumerate(cases):
            call = f"rc = run_op{names.index(op)}(args, n_args, out, out_nbytes);"
            disp.append(f"    case {j}u: NB_STAGE_BEGIN({j + 1}); {call} NB_STAGE_END({j + 1}); break;")
        disp.append("    default: break;\n    }")
    else:
        disp = ["    switch (op) {"]
        disp += [f"    case {i}u: rc = run_op{i}(args, n_args, out, out_nbytes); break;" for i in range(len(names))]
        disp.append("    default: break;\n    }")
    maxout = max(c.out_nbytes for _, c, _ in cases)
    main = (_FW_MAIN.replace("@BODIES@", "\n".join(bodies)).replace("@MAXOUT@", str(maxout))
            .replace("@INCLUDES@", "\n".join(includes)).replace("@DISPATCH@", "\n".join(disp))
            .replace("@HOPS@", str(hops)))
    words = np.frombuffer(_blob(cases, names), dtype="<u4")
    lines = ",\n".join(", ".join(f"0x{int(w):08x}u" for w in words[i:i + 8]) for i in range(0, len(words), 8))
    data = f"#include <stdint.h>\nconst uint32_t nb_cases[] = {{\n{lines}\n}};\n"
    return main, data


def parse_outputs(stdout: str, n: int) -> list[bytes]:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("R ")]
    assert "DONE" in stdout and len(lines) == n, stdout[-2000:]
    out = []
    for ln in lines:
        parts = ln.split(" ")
        assert parts[1] == "0", ln[:200]
        out.append(bytes.fromhex(parts[2] if len(parts) > 2 else ""))
    return out


def variant_sources(cpu: str) -> list[Path]:
    srcs = [s for op in OPS for s in kv.variant_sources(op, cpu)]
    return srcs + kv.common_sources(cpu)


def run_on_target(cpu: str, cases, tmp: Path) -> list[bytes]:
    from convert.measure import build_elf, run_qemu

    main, data = firmware_source(cases)
    (tmp / "kt_main.c").write_text(main)
    (tmp / "kt_cases.c").write_text(data)
    elf = build_elf([tmp / "kt_main.c", tmp / "kt_cases.c", *variant_sources(cpu)], BOARDS[cpu], tmp / cpu,
                    include_dirs=kv.include_dirs(cpu), defines={"NB_KERNEL_SCRATCH_BYTES": SCRATCH}, opt="-O2",
                    name="kernels_" + cpu.replace("-", "_"))
    rr = run_qemu(elf, BOARDS[cpu], count=False, timeout_s=300)
    assert rr.exit_code == 0, rr.stdout[-2000:] + rr.stderr[-2000:]
    return parse_outputs(rr.stdout, len(cases))


def _compare(cases, got: list[bytes], where: str) -> None:
    bad = []
    for i, ((op, _case, exp), g) in enumerate(zip(cases, got, strict=True)):
        gb = np.frombuffer(g, dtype=np.int8)
        if gb.shape != exp.reshape(-1).shape or not np.array_equal(gb, exp.reshape(-1)):
            bad.append(f"{op} case {i}: {int(np.sum(gb != exp.reshape(-1))) if gb.size == exp.size else 'size'}"
                       f" differ; expected {exp.reshape(-1)[:12].tolist()} got {gb[:12].tolist()}")
    assert not bad, f"{where}: {len(bad)}/{len(cases)} cases differ:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("cpu", list(BOARDS))
def test_variants_bit_exact_on_qemu(cpu: str, tmp_path: Path):
    cases = all_cases()
    assert {op for op, _, _ in cases} == set(OPS)
    assert len(cases) >= 3 * 12
    _compare(cases, run_on_target(cpu, cases, tmp_path), cpu)


def test_dsp_variants_bit_exact_on_host_sanitized(tmp_path: Path):
    """The DSP variant sources with the C fallbacks of the intrinsics, on the host under ASan/UBSan."""
    cases = all_cases()
    cpu = "cortex-m4"
    for op, kspec in OPS.items():
        exe = tmp_path / f"drv_{op.lower()}"
        drv_c = tmp_path / f"drv_{op.lower()}.c"
        drv_c.write_text(kh.driver_source(kspec.c_body, kspec.c_includes))
        kh.compile_c([drv_c, *kv.variant_sources(op, cpu), *kv.common_sources(cpu)], exe, sanitize=True,
                     include_dirs=kv.include_dirs(cpu), extra_flags=[f"-DNB_KERNEL_SCRATCH_BYTES={SCRATCH}"])
        sub = [c for c in cases if c[0] == op]
        _compare(sub, kh.KernelDriver(exe=exe, sanitize=True).run([c for _, c, _ in sub]), f"host dsp {op}")


def test_scratch_bytes_and_sources():
    assert kv.variant_sources("CONV_2D", "cortex-m4")[0].name == "nb_conv2d_dsp.c"
    assert kv.variant_sources("CONV_2D", "cortex-m55")[0].name == "nb_conv2d_mve.c"
    assert kv.variant_sources("CONV_2D", "host")[0].name == "nb_conv2d.c"
    assert kv.variant_sources("MEAN", "cortex-m4") == []
    for cpu in ("cortex-m4", "cortex-m7", "cortex-m55"):
        for op in OPS:
            for p in kv.variant_sources(op, cpu) + kv.common_sources(cpu):
                assert p.is_file(), p
    assert kv.scratch_bytes("CONV_2D", "host", kh=3, kw=3, c_in=8, c_out=8) == 0
    assert kv.scratch_bytes("CONV_2D", "cortex-m4", kh=1, kw=1, c_in=64, c_out=64, n_pos=1) == 512
    assert kv.scratch_bytes("CONV_2D", "cortex-m4", kh=1, kw=1, c_in=64, c_out=64) == 2 * 64 * 64 + 16 * 64 + 8 * 64
    assert kv.scratch_bytes("DEPTHWISE_CONV_2D", "cortex-m4", kh=3, kw=3, c=64, depth_multiplier=1) > 64 * 9 * 2
    assert kv.scratch_bytes("DEPTHWISE_CONV_2D", "cortex-m55", kh=3, kw=3, c=64, depth_multiplier=1) > 64 * 9
    # streaming calls (<= DW_DIRECT_MAX_POS positions, <= 16 taps) take the direct paths: no scratch
    for cpu in ("cortex-m4", "cortex-m55"):
        assert kv.scratch_bytes("DEPTHWISE_CONV_2D", cpu, kh=3, kw=1, c=72, depth_multiplier=1,
                                n_pos=kv.DW_DIRECT_MAX_POS) == 0
        assert kv.scratch_bytes("DEPTHWISE_CONV_2D", cpu, kh=5, kw=5, c=8, depth_multiplier=1, n_pos=1) > 0
        assert kv.scratch_bytes("DEPTHWISE_CONV_2D", cpu, kh=3, kw=1, c=72, depth_multiplier=1,
                                n_pos=kv.DW_DIRECT_MAX_POS + 1) > 0
    with pytest.raises(ValueError):
        kv.kind("cortex-m0")
