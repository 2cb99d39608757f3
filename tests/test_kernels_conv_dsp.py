"""The Cortex-M4/M7 DSP CONV_2D "g42" path (dsp/nb_conv2d_dsp.c + nb_dsp_gemm.h + the assembly nb_dsp_g42 of
dsp/nb_kernel_scratch.c): >= 4 output positions, full int8 output range, 4 output channels x 2 positions per
block with the requantization in registers (doubled int16 weights, SMMLAR), input zero point folded into the
start values, column pairs from the 1x1 pixel widening or the pair im2col (word rows, shifted 4-byte rows,
partly padded rows through a buffer, per-element rows), Duff entry into the 32-step body (K % 64 != 0) and
several passes (K > 64), channel tails (c_out % 4) in C, an odd last position.

Checked bit-exact against TFLM on QEMU (Cortex-M4 and M7 firmware) and on the host (portable intrinsics,
ASan/UBSan). Cases outside the path's exact range (positive / zero / < -23 shifts, |bias| > 2^28) must take
the old blocked path: those mutated cases (and a NULL bias) are checked against the portable reference
kernel nb_conv2d.c (itself checked against TFLM by tests/test_kernels_a.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from convert import kernel_variants as kv
from tests import kernel_harness as kh
from tests.test_kernels_a import CONV
from tests.test_kernels_target import SCRATCH, _compare, conv_spec, run_on_target

N_INPUTS = 2
N_RANDOM = 8  # random specs besides SPECS


def _spec(h, w, k, stride, padding, cin, cout, act, bias, rng, seed, dilation=(1, 1)) -> dict:
    return {"h": h, "w": w, "k": list(k), "stride": list(stride), "dilation": list(dilation), "padding": padding,
            "cin": cin, "cout": cout, "act": act, "bias": bias, "range": rng, "seed": seed, "groups": 1}


SPECS = [
    # kws pointwise shape, no activation (mid-range output zero point), converter's zero bias
    _spec(25, 5, (1, 1), (1, 1), "valid", 64, 64, None, False, (-2.0, 2.0), 201),
    # 1x1, odd position count (25), 2-channel tail block, relu (zero point -128: full range)
    _spec(5, 5, (1, 1), (1, 1), "valid", 64, 66, "relu", True, (-1.0, 3.0), 202),
    # kws conv0 geometry (10x4 stride 2 'same', 1 input channel: shifted 4-byte rows), input zero point != 0
    _spec(49, 10, (10, 4), (2, 2), "same", 1, 30, None, True, (-3.0, 1.0), 203),
    # relu6 (clamped output): the old blocked path
    _spec(20, 6, (10, 4), (2, 2), "valid", 1, 8, "relu6", True, (-1.0, 2.0), 204),
    # 3x3 'same', kw * c_in = 24: word rows, padded rows through the buffer
    _spec(7, 6, (3, 3), (1, 1), "same", 8, 12, None, True, (-2.0, 1.0), 205),
    # kw * c_in = 9: per-element rows, K = 27 (slot tail), stride 2
    _spec(6, 7, (3, 3), (2, 2), "same", 3, 9, "relu", True, (-1.0, 2.0), 206),
    # dilation_w 2 (rows through the buffer), c_out 5
    _spec(6, 9, (3, 3), (1, 1), "same", 4, 5, None, True, (-2.0, 2.0), 207, dilation=(1, 2)),
    # K = 144: three passes of the 32-step body, Duff entry at step 24
    _spec(5, 5, (3, 3), (1, 1), "same", 16, 8, None, True, (-1.0, 1.0), 208),
    # 1x1 K = 96: two passes, 3 full blocks
    _spec(4, 4, (1, 1), (1, 1), "valid", 96, 12, None, True, (-2.0, 2.0), 209),
    # kw * c_in = 4 with c_in 2 (shifted rows by 2 bytes), stride (1, 2)
    _spec(6, 5, (2, 2), (1, 2), "same", 2, 7, None, True, (-1.0, 3.0), 210),
]


def _random_specs(n: int) -> list[dict]:
    """Random convolutions with >= 4 output positions (the g42 / blocked paths), like test_kernels_target's."""
    rng = np.random.default_rng(4242)
    out = []
    while len(out) < n:
        g = conv_spec(rng)
        if g.get("padding") == "same" or (g["h"] - (g["k"][0] - 1) * g["dilation"][0]) * (
                g["w"] - (g["k"][1] - 1) * g["dilation"][1]) >= 4 * g["stride"][0] * g["stride"][1]:
            out.append(g)
    return out


def _mutations(case: kh.CCase, n_out: int) -> list[kh.CCase]:
    """Copies of a g42 case with requantization / bias outside (or at the edge of) the exact range."""
    q, mult, shift, x, w, bias = case.args
    out = []

    def mk(m=None, s=None, b=None) -> kh.CCase:
        return kh.CCase([q, mult if m is None else m, shift if s is None else s, x, w, bias if b is None else b],
                        case.out_nbytes)

    s = shift.copy()
    s[0] = 1
    out.append(mk(s=s))                                       # a positive shift: old path
    out.append(mk(s=np.zeros_like(shift)))                    # shift 0 everywhere: old path
    s = shift.copy()
    s[min(3, n_out - 1)] = -24
    out.append(mk(s=s))                                       # e = 24: old path
    out.append(mk(s=np.full_like(shift, -23)))                # e = 23 (edge) everywhere: g42
    out.append(mk(b=np.zeros(0, np.int32)))                   # NULL bias: g42
    b = bias.copy() if bias.size else np.zeros(n_out, np.int32)
    b[0], b[min(1, n_out - 1)] = 1 << 28, -(1 << 28)          # |bias| = 2^28 (edge): g42
    out.append(mk(b=b))
    b = b.copy()
    b[min(2, n_out - 1)] = (1 << 28) + 1                      # just outside: old path
    out.append(mk(b=b))
    m = mult.copy()
    m[min(2, n_out - 1)] = 0                                  # a zero multiplier: g42
    out.append(mk(m=m))
    return out


@functools.cache
def _cases() -> tuple[list[tuple[str, kh.CCase, np.ndarray]], list[tuple[str, kh.CCase, None]]]:
    """(TFLM-checked cases, mutated cases whose expected output comes from the portable reference)."""
    tflm, mutated = [], []
    for j, spec in enumerate(SPECS + _random_specs(N_RANDOM)):
        buf = kh.model_for(CONV, spec)
        if buf is None and j >= len(SPECS):
            continue  # a random spec the converter refuses
        assert buf is not None, spec
        pm = kh.parse_model_cached(buf)
        pop = pm.ops[0]
        irng = np.random.default_rng(500 + j)
        for i in range(N_INPUTS):
            x = kh.random_inputs(buf, irng)
            case = CONV.c_case(pop, kh.op_inputs(pm, pop, x))
            tflm.append(("CONV_2D", case, kh.run_tflm(buf, x)[0]))
            if i == 0 and spec["seed"] in (201, 203):
                mutated += [("CONV_2D", c, None) for c in _mutations(case, spec["cout"])]
    return tflm, mutated


@functools.cache
def _reference(tmp: str) -> list[np.ndarray]:
    """Expected outputs of the mutated cases: the portable nb_conv2d.c on the host (sanitized)."""
    _, mutated = _cases()
    exe = Path(tmp) / "drv_ref"
    drv_c = Path(tmp) / "drv_ref.c"
    drv_c.write_text(kh.driver_source(CONV.c_body, CONV.c_includes))
    kh.compile_c([drv_c, *kv.variant_sources("CONV_2D", "host")], exe, sanitize=True,
                 include_dirs=kv.include_dirs("host"))
    got = kh.KernelDriver(exe=exe, sanitize=True).run([c for _, c, _ in mutated])
    return [np.frombuffer(g, dtype=np.int8) for g in got]


def _all(tmp_path: Path) -> list[tuple[str, kh.CCase, np.ndarray]]:
    tflm, mutated = _cases()
    ref = _reference(str(tmp_path))
    return tflm + [(op, c, e) for (op, c, _), e in zip(mutated, ref, strict=True)]


@pytest.fixture(scope="module")
def all_cases(tmp_path_factory) -> list[tuple[str, kh.CCase, np.ndarray]]:
    return _all(tmp_path_factory.mktemp("convdsp_ref"))


def test_cases_reach_the_paths(all_cases):
    tflm, mutated = _cases()
    assert N_INPUTS * len(SPECS) + N_INPUTS * N_RANDOM // 2 <= len(tflm) and len(mutated) == 16
    # the reference outputs of the mutated cases are not degenerate (e = 23 everywhere: all zero point)
    varied = [len(np.unique(e)) > 2 for _, c, e in all_cases[len(tflm):] if e.size == c.out_nbytes]
    assert len(varied) == len(mutated) and sum(varied) >= len(mutated) - 2


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7"])
def test_g42_bit_exact_on_qemu(cpu: str, all_cases, tmp_path: Path):
    _compare(all_cases, run_on_target(cpu, all_cases, tmp_path), cpu)


def test_g42_bit_exact_on_host_sanitized(all_cases, tmp_path: Path):
    cpu = "cortex-m4"
    exe = tmp_path / "drv_conv_dsp"
    drv_c = tmp_path / "drv_conv_dsp.c"
    drv_c.write_text(kh.driver_source(CONV.c_body, CONV.c_includes))
    kh.compile_c([drv_c, *kv.variant_sources("CONV_2D", cpu), *kv.common_sources(cpu)], exe, sanitize=True,
                 include_dirs=kv.include_dirs(cpu), extra_flags=[f"-DNB_KERNEL_SCRATCH_BYTES={SCRATCH}"])
    _compare(all_cases, kh.KernelDriver(exe=exe, sanitize=True).run([c for _, c, _ in all_cases]), "host dsp")


def test_scratch_bytes_cover_the_g42_path():
    def g42(kk: int, c_out: int) -> int:
        kp = (kk + 7) // 8 * 8
        return 4 * ((c_out + 3) // 4 * (20 + 2 * kp) + kp)

    for kh_, kw_, c_in, c_out in ((1, 1, 64, 64), (10, 4, 1, 64), (3, 3, 16, 8), (1, 1, 96, 12), (3, 3, 3, 9)):
        need = kv.scratch_bytes("CONV_2D", "cortex-m4", kh=kh_, kw=kw_, c_in=c_in, c_out=c_out)
        assert need >= g42(kh_ * kw_ * c_in, c_out)
        assert kv.scratch_bytes("CONV_2D", "cortex-m7", kh=kh_, kw=kw_, c_in=c_in, c_out=c_out) == need
    # the kws shapes fit the test firmware's scratch (else these tests would only reach the fallbacks)
    assert kv.scratch_bytes("CONV_2D", "cortex-m4", kh=1, kw=1, c_in=64, c_out=66) <= SCRATCH
    # streaming calls (< DSP_W16_MIN_POS positions): only the two columns
    assert kv.scratch_bytes("CONV_2D", "cortex-m4", kh=1, kw=1, c_in=64, c_out=64, n_pos=2) == 512
