"""Bit-exactness of the DSP (Cortex-M4/M7) DEPTHWISE_CONV_2D planar path, on QEMU and on the sanitized host build.

The planar path of firmware_templates/kernels/dsp/nb_depthwise_conv2d_dsp.c (depth_multiplier 1, 3x3, stride 1,
no dilation, >= 4 output positions, every channel's shift in -23..-1) gathers one int16 plane per channel and
runs a 1-D SMLAD correlation over it; the shapes the shared kernel tests rarely generate are forced here:
kws-like 64 channels on 25x5, channel counts 1..9 and 4k + 1..3 tails, 'same' / 'valid', planes along x and
along y (out.h <= / > out.w), bands and single-plane gathers (a small scratch), clamped and full-range
outputs, no bias; and, falling back to the older paths, stride 2, dilation, positive shifts, huge bias.
Two sources of truth: one-op TFLite models converted by TensorFlow and run by TFLM, and synthetic cases
(multipliers, shifts and zero points set directly, incl. the edges of the fast-path conditions) checked
against a Python transcription of TFLM's reference_integer_ops::DepthwiseConvPerChannel.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convert import kernel_variants as kv
from tests import kernel_harness as kh
from tests.test_kernels_a import DEPTHWISE
from tests.test_kernels_target import BOARDS, _compare, firmware_source, parse_outputs

BIG, SMALL, TINY = 12288, 1536, 640  # NB_KERNEL_SCRATCH_BYTES: full planes / 4-plane bands / 1-plane bands

# one-op models (TFLM ground truth)
MODEL_SPECS = [
    # kws_ref_model depthwise: 64 channels, 25x5 'same' (planes along y)
    {"h": 25, "w": 5, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 64,
     "dm": 1, "act": "relu", "bias": True, "range": (0.0, 4.0), "seed": 201},
    {"h": 25, "w": 5, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 64,
     "dm": 1, "act": None, "bias": True, "range": (-2.0, 2.0), "seed": 202},
    # planes along x, channel tails, relu6 clamp, no bias, 'valid'
    {"h": 4, "w": 9, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 7,
     "dm": 1, "act": "relu6", "bias": True, "range": (-1.0, 3.0), "seed": 203},
    {"h": 6, "w": 6, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 9,
     "dm": 1, "act": None, "bias": False, "range": (-3.0, 1.0), "seed": 204},
    {"h": 11, "w": 3, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "valid", "cin": 2,
     "dm": 1, "act": "relu", "bias": True, "range": (-1.0, 1.0), "seed": 205},
    {"h": 2, "w": 2, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 13,
     "dm": 1, "act": None, "bias": True, "range": (-2.0, 2.0), "seed": 206},
    {"h": 5, "w": 8, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 1,
     "dm": 1, "act": "relu6", "bias": False, "range": (-2.0, 2.0), "seed": 207},
    # not the planar path: stride 2, dilation, depth multiplier 2 (other paths stay exact)
    {"h": 9, "w": 7, "k": [3, 3], "stride": [2, 2], "dilation": [1, 1], "padding": "same", "cin": 6,
     "dm": 1, "act": None, "bias": True, "range": (-2.0, 2.0), "seed": 208},
    {"h": 8, "w": 8, "k": [3, 3], "stride": [1, 1], "dilation": [2, 2], "padding": "same", "cin": 5,
     "dm": 1, "act": "relu", "bias": True, "range": (-2.0, 2.0), "seed": 209},
    {"h": 5, "w": 4, "k": [3, 3], "stride": [1, 1], "dilation": [1, 1], "padding": "same", "cin": 3,
     "dm": 2, "act": None, "bias": True, "range": (-2.0, 2.0), "seed": 210},
]


def _mqm(x: int, m: int, shift: int) -> int:
    """TFLM MultiplyByQuantizedMultiplier (int32 wrap of the left shift, as the C kernels)."""
    ls, rs = max(shift, 0), max(-shift, 0)
    a = ((x << ls) + 2**31) % 2**32 - 2**31
    if a == m == -(2**31):
        y = 2**31 - 1
    else:
        ab = a * m
        nudge = 2**30 if ab >= 0 else 1 - 2**30
        t = ab + nudge
        y = abs(t) // 2**31 * (1 if t >= 0 else -1)
    mask = (1 << rs) - 1
    thr = (mask >> 1) + (1 if y < 0 else 0)
    return (y >> rs) + (1 if (y & mask) > thr else 0)


def dw_reference(q: np.ndarray, mult, shift, x, w, bias) -> np.ndarray:
    """Python transcription of nb_depthwise_conv2d_ref / TFLM DepthwiseConvPerChannel (int8)."""
    n, ih, iw, ic = (int(v) for v in q[0:4])
    _, kh_, kw_, oc = (int(v) for v in q[4:8])
    _, oh, ow, _ = (int(v) for v in q[8:12])
    dm, sh, sw, dh, dw_, ph, pw, izp, ozp, amin, amax = (int(v) for v in q[12:23])
    xi = x.astype(np.int64).reshape(n, ih, iw, ic) - izp
    wi = w.astype(np.int64).reshape(kh_, kw_, oc)
    out = np.zeros((n, oh, ow, oc), np.int64)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                acc = np.zeros(oc, np.int64)
                for ky in range(kh_):
                    y = oy * sh - ph + dh * ky
                    if not 0 <= y < ih:
                        continue
                    for kx in range(kw_):
                        xx = ox * sw - pw + dw_ * kx
                        if 0 <= xx < iw:
                            acc += np.repeat(xi[b, y, xx], dm) * wi[ky, kx]
                if bias.size:
                    acc += bias
                acc = (acc + 2**31) % 2**32 - 2**31
                out[b, oy, ox] = [min(max(_mqm(int(a), int(mult[c]), int(shift[c])) + ozp, amin), amax)
                                  for c, a in enumerate(acc)]
    return out.astype(np.int8).reshape(-1)


def synth_case(rng: np.random.Generator, *, h: int, w: int, c: int, padding: str = "same", stride: int = 1,
               dil: int = 1, bias: str = "rand", shifts: tuple[int, int] = (-12, -1), act: str = "full",
               k: tuple[int, int] = (3, 3), batch: int = 1) -> tuple[kh.CCase, np.ndarray]:
    kh_, kw_ = k
    eh, ew = (kh_ - 1) * dil + 1, (kw_ - 1) * dil + 1
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph = max(0, ((oh - 1) * stride + eh - h)) // 2
        pw = max(0, ((ow - 1) * stride + ew - w)) // 2
    else:
        oh, ow, ph, pw = (h - eh) // stride + 1, (w - ew) // stride + 1, 0, 0
    izp, ozp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    amin, amax = -128, 127
    if act == "clamp":
        amin = int(rng.integers(-128, 0))
        amax = int(rng.integers(amin + 1, 128))
    q = kh.i32([batch, h, w, c], [1, kh_, kw_, c], [batch, oh, ow, c], 1, stride, stride, dil, dil, ph, pw,
               izp, ozp, amin, amax)
    mult = rng.integers(2**30, 2**31, size=c).astype(np.int32)
    shift = rng.integers(shifts[0], shifts[1] + 1, size=c).astype(np.int32)
    x = rng.integers(-128, 128, size=batch * h * w * c).astype(np.int8)
    wt = rng.integers(-128, 128, size=kh_ * kw_ * c).astype(np.int8)
    if bias == "none":
        b = np.zeros(0, np.int32)
    elif bias == "edge":  # the planar path's limit |bias| <= 2^28, and beyond it (old path)
        b = rng.choice([2**28, -(2**28), 2**28 + 1, -(2**28) - 1, 0], size=c).astype(np.int32)
    else:
        b = rng.integers(-(2**16), 2**16, size=c).astype(np.int32)
    case = kh.CCase([q, mult, shift, x, wt, b], batch * oh * ow * c)
    return case, dw_reference(q, mult, shift, x, wt, b)


def synth_cases() -> list[tuple[kh.CCase, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = []
    for c in (1, 2, 3, 4, 5, 6, 7, 8, 9, 64, 66):
        out.append(synth_case(rng, h=25 if c >= 64 else 5 + c % 3, w=5 + c % 4, c=c,
                              act="full" if c % 2 else "clamp", bias="none" if c % 3 == 0 else "rand"))
    out += [
        synth_case(rng, h=3, w=17, c=5, padding="valid", shifts=(-23, -20)),  # largest shifts, planes along x
        synth_case(rng, h=19, w=4, c=4, padding="valid", shifts=(-1, -1), act="clamp"),
        synth_case(rng, h=2, w=3, c=11, shifts=(-3, 2)),  # positive / zero shifts: the older path
        synth_case(rng, h=6, w=5, c=8, bias="edge"),
        synth_case(rng, h=7, w=7, c=6, stride=2),
        synth_case(rng, h=7, w=6, c=5, dil=2),
        synth_case(rng, h=6, w=7, c=4, k=(1, 3)),
        synth_case(rng, h=6, w=5, c=7, batch=2),  # batches: one pass per batch
        synth_case(rng, h=1, w=4, c=6),  # 4 positions in one row: one plane row
    ]
    return out


@functools.cache
def model_cases() -> list[tuple[kh.CCase, np.ndarray]]:
    out = []
    for j, spec in enumerate(MODEL_SPECS):
        buf = kh.model_for(DEPTHWISE, spec)
        assert buf is not None, spec
        pm = kh.parse_model_cached(buf)
        irng = np.random.default_rng(100 + j)
        for _ in range(2):
            x = kh.random_inputs(buf, irng)
            out.append((DEPTHWISE.c_case(pm.ops[0], kh.op_inputs(pm, pm.ops[0], x)), kh.run_tflm(buf, x)[0]))
    return out


@functools.cache
def all_cases() -> list[tuple[str, kh.CCase, np.ndarray]]:
    return [("DEPTHWISE_CONV_2D", c, e) for c, e in model_cases() + synth_cases()]


def _sources(cpu: str) -> list[Path]:
    return kv.variant_sources("DEPTHWISE_CONV_2D", cpu) + kv.common_sources(cpu)


def _run_qemu(cpu: str, cases, scratch: int, tmp: Path) -> list[bytes]:
    from convert.measure import build_elf, run_qemu

    main, data = firmware_source(cases, {"DEPTHWISE_CONV_2D": DEPTHWISE})
    (tmp / "dw_main.c").write_text(main)
    (tmp / "dw_cases.c").write_text(data)
    elf = build_elf([tmp / "dw_main.c", tmp / "dw_cases.c", *_sources(cpu)], BOARDS[cpu], tmp / f"{cpu}_{scratch}",
                    include_dirs=kv.include_dirs(cpu), defines={"NB_KERNEL_SCRATCH_BYTES": scratch}, opt="-O2",
                    name="dw_" + cpu.replace("-", "_"))
    rr = run_qemu(elf, BOARDS[cpu], count=False, timeout_s=300)
    assert rr.exit_code == 0, rr.stdout[-2000:] + rr.stderr[-2000:]
    return parse_outputs(rr.stdout, len(cases))


def _host_driver(tmp: Path, scratch: int) -> kh.KernelDriver:
    exe = tmp / f"drv_dw_{scratch}"
    drv_c = tmp / "drv_dw.c"
    drv_c.write_text(kh.driver_source(DEPTHWISE.c_body, DEPTHWISE.c_includes))
    kh.compile_c([drv_c, *_sources("cortex-m4")], exe, sanitize=True, include_dirs=kv.include_dirs("cortex-m4"),
                 extra_flags=[f"-DNB_KERNEL_SCRATCH_BYTES={scratch}"])
    return kh.KernelDriver(exe=exe, sanitize=True)


def test_reference_transcription_matches_tflm():
    """The Python reference used for the synthetic cases agrees with TFLM on the converted models."""
    for case, exp in model_cases():
        np.testing.assert_array_equal(dw_reference(*case.args), exp.reshape(-1))


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7"])
@pytest.mark.parametrize("scratch", [BIG, SMALL])
def test_dw_dsp_bit_exact_on_qemu(cpu: str, scratch: int, tmp_path: Path):
    cases = all_cases()
    _compare(cases, _run_qemu(cpu, cases, scratch, tmp_path), f"{cpu} scratch {scratch}")


@pytest.mark.parametrize("scratch", [BIG, SMALL, TINY, 64])
def test_dw_dsp_bit_exact_on_host_sanitized(scratch: int, tmp_path: Path):
    cases = all_cases()
    _compare(cases, _host_driver(tmp_path, scratch).run([c for _, c, _ in cases]), f"host scratch {scratch}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 10),
       padding=st.sampled_from(["same", "valid"]), act=st.sampled_from(["full", "clamp"]),
       bias=st.sampled_from(["rand", "none", "edge"]), lo=st.integers(-23, 1))
def test_dw_dsp_hypothesis_host(tmp_path_factory, seed, h, w, c, padding, act, bias, lo):
    if padding == "valid" and (h < 3 or w < 3):
        h, w = max(h, 3), max(w, 3)
    drv = _hypothesis_driver(tmp_path_factory)
    rng = np.random.default_rng(seed)
    case, exp = synth_case(rng, h=h, w=w, c=c, padding=padding, act=act, bias=bias, shifts=(lo, min(lo + 3, 1)))
    got = drv.run([case])[0]
    np.testing.assert_array_equal(np.frombuffer(got, np.int8), exp)


@functools.cache
def _hypothesis_driver_cached(path: str) -> kh.KernelDriver:
    return _host_driver(Path(path), 1024)


def _hypothesis_driver(tmp_path_factory) -> kh.KernelDriver:
    return _hypothesis_driver_cached(str(tmp_path_factory.getbasetemp()))


def _planar_need(oh: int, ow: int) -> int:
    """nb_dwp_need of the C kernel for one band of all rows, four planes (planes run along the longer axis),
    with the pitch of + 2 (rounded up to even): an upper bound (shared padding columns make the pitch of + 1)."""
    os_, of = min(oh, ow), max(oh, ow)
    wp = (of + 3) & ~1
    n4 = ((os_ - 1) * wp + of + 3) & ~3
    ln = (max((os_ + 2) * wp, n4 + 2 * wp + 2) + 3) & ~3
    return 4 * 2 * ln + 4 * n4


def test_scratch_bytes_cover_the_planar_path():
    # kws depthwise: 125 positions, 64 channels: four int16 planes of 7 x 28 plus the accumulator row fit
    need = kv.scratch_bytes("DEPTHWISE_CONV_2D", "cortex-m4", kh=3, kw=3, c=64, depth_multiplier=1, n_pos=125)
    assert need >= _planar_need(25, 5) == 2160
    for oh in range(1, 60):
        for ow in range(1, 60):
            if oh * ow >= 4 and _planar_need(oh, ow) <= 8192:
                got = kv.scratch_bytes("DEPTHWISE_CONV_2D", "cortex-m4", kh=3, kw=3, c=8, depth_multiplier=1,
                                       n_pos=oh * ow)
                assert got >= _planar_need(oh, ow), (oh, ow)
    # streaming calls still need none
    assert kv.scratch_bytes("DEPTHWISE_CONV_2D", "cortex-m4", kh=3, kw=3, c=64, depth_multiplier=1, n_pos=3) == 0
