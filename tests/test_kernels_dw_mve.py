"""Bit-exactness of the Cortex-M55 (MVE) DEPTHWISE_CONV_2D 4x4-window path (many output positions, kernel
<= 3x3, stride 1, dilation 1; firmware_templates/kernels/mve/nb_depthwise_conv2d_mve.c) on QEMU mps3-an547.

Two kinds of cases, all run in one firmware (the MVE depthwise variant only):
  * one-op int8 models converted by TensorFlow (kws-like 64 channels on 25x5, channel counts 1..17 incl.
    the 16-channel group tails, 'same' / 'valid' padding, wide and tall outputs (both walk axes), batch 2,
    relu / relu6 / none, no bias) and stride 2 / dilation / depth multiplier 2 / 5x5 cases that must keep
    taking the other paths: expected = TFLite Micro;
  * synthetic parameter sets the converter does not produce (positive and negative per-channel shifts in
    one call, zero multipliers, full-range and narrow clamps, extreme zero points, no bias, odd paddings):
    expected = the portable kernel (nb_depthwise_conv2d.c, bit-exact to TFLM by tests/test_kernels_a.py)
    compiled for the host under ASan/UBSan.
The same cases also run with a scratch that forces short row chunks, one too small for the path (the
previous path runs) and at -O0 (C versions of the assembly loops).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from convert import kernel_variants as kv
from tests import kernel_harness as kh
from tests.test_kernels_a import DEPTHWISE, DW_BODY
from tests.test_kernels_target import BOARDS, firmware_source, parse_outputs

CPU = "cortex-m55"
OP = "DEPTHWISE_CONV_2D"


def _dw(h: int, w: int, cin: int, *, k=(3, 3), stride=(1, 1), dil=(1, 1), padding="same", dm=1, act="relu",
        bias=True, rng=(0.0, 4.0), seed=0) -> dict:
    return {"h": h, "w": w, "k": list(k), "stride": list(stride), "dilation": list(dil), "padding": padding,
            "cin": cin, "dm": dm, "act": act, "bias": bias, "range": rng, "seed": seed}


# (spec, random inputs per model)
MODEL_SPECS: list[dict] = [
    _dw(25, 5, 64, seed=201),  # kws_ref_model
    _dw(25, 5, 64, act=None, rng=(-3.0, 2.0), seed=202),
    _dw(5, 25, 20, act="relu6", rng=(-1.0, 3.0), seed=203),  # walk along W
    _dw(7, 6, 17, padding="valid", act=None, rng=(-2.0, 2.0), seed=204),  # 16 + 1 channels, valid
    _dw(4, 3, 1, act="relu6", seed=205),
    _dw(6, 6, 15, bias=False, rng=(-2.0, 1.0), seed=206),
    _dw(9, 2, 16, act=None, rng=(-4.0, 0.5), seed=207),
    _dw(70, 3, 6, act="relu6", rng=(-1.0, 2.0), seed=216),  # row chunks
    _dw(20, 18, 5, act=None, rng=(-2.0, 2.0), seed=217),  # 2 column chunks, walk along H
    _dw(18, 20, 3, padding="valid", act="relu", rng=(-1.0, 3.0), seed=218),  # 2 column chunks, walk along W
    _dw(3, 9, 33, k=(2, 3), padding="valid", seed=208),
    _dw(8, 5, 5, k=(3, 1), act=None, rng=(-1.0, 1.0), seed=209),
    _dw(2, 2, 3, k=(1, 1), padding="valid", act=None, rng=(-1.0, 1.0), seed=210),
    _dw(11, 4, 8, k=(3, 2), act="relu6", seed=211),
    # other paths (must stay exact): stride 2, dilation, depth multiplier 2, 5x5
    _dw(9, 7, 12, stride=(2, 2), act=None, rng=(-2.0, 2.0), seed=212),
    _dw(9, 9, 10, dil=(2, 2), act="relu", rng=(-1.0, 2.0), seed=213),
    _dw(6, 5, 6, dm=2, act=None, rng=(-2.0, 2.0), seed=214),
    _dw(8, 6, 9, k=(5, 5), act="relu6", rng=(-1.0, 1.0), seed=215),
]
N_INPUTS = 2


def _synthetic(rng: np.random.Generator, i: int) -> kh.CCase:
    """A random parameter set for the window path (or, sometimes, a neighbouring path)."""
    h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    if h * w < 4:
        h, w = h + 2, w + 2
    c = int(rng.integers(1, 18)) if i % 3 else int(rng.integers(18, 70))
    kh_, kw_ = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    same = bool(rng.random() < 0.6)
    if same:
        oh, ow, ph, pw = h, w, (kh_ - 1) // 2, (kw_ - 1) // 2
    else:
        h, w = max(h, kh_ + 1), max(w, kw_ + 1)
        oh, ow, ph, pw = h - kh_ + 1, w - kw_ + 1, 0, 0
    if rng.random() < 0.2:  # odd padding: fewer outputs than 'same', offset window
        ph, pw = int(rng.integers(0, kh_)), int(rng.integers(0, kw_))
        h, w = max(h, kh_), max(w, kw_)
        oh, ow = h + 2 * ph - kh_ + 1, w + 2 * pw - kw_ + 1
    n = 2 if rng.random() < 0.15 else 1
    x = rng.integers(-128, 128, size=(n, h, w, c)).astype(np.int8)
    filt = rng.integers(-128, 128, size=(1, kh_, kw_, c)).astype(np.int8)
    bias = rng.integers(-(1 << 20), 1 << 20, size=c).astype(np.int32) if rng.random() < 0.7 else np.zeros(0, np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=c).astype(np.int32)
    mult[rng.random(c) < 0.05] = 0
    kind = rng.random()
    if kind < 0.4:
        shift = rng.integers(-12, -5, size=c)
    elif kind < 0.7:
        shift = rng.integers(-3, 4, size=c)  # positive, zero and negative in one call
    else:
        shift = np.full(c, int(rng.integers(-20, 2)))
    in_zp = int(rng.choice([-128, 127, int(rng.integers(-128, 128))]))
    out_zp = int(rng.integers(-128, 128))
    if rng.random() < 0.5:
        amin, amax = -128, 127
    else:
        amin = int(rng.integers(-128, 0))
        amax = int(rng.integers(amin, 128))
    q = kh.i32([n, h, w, c], [1, kh_, kw_, c], [n, oh, ow, c], 1, 1, 1, 1, 1, ph, pw, in_zp, out_zp, amin, amax)
    return kh.CCase([q, mult, shift.astype(np.int32), x, filt, bias], n * oh * ow * c)


@functools.cache
def model_cases() -> list[tuple[kh.CCase, np.ndarray]]:
    out = []
    for j, spec in enumerate(MODEL_SPECS):
        buf = kh.model_for(DEPTHWISE, spec)
        assert buf is not None, spec
        pm = kh.parse_model_cached(buf)
        pop = pm.ops[0]
        irng = np.random.default_rng(300 + j)
        for _ in range(N_INPUTS):
            x = kh.random_inputs(buf, irng)
            out.append((DEPTHWISE.c_case(pop, kh.op_inputs(pm, pop, x)), kh.run_tflm(buf, x)[0].reshape(-1)))
    return out


def _wide(rng: np.random.Generator) -> kh.CCase:
    """7 * C > 65535: the four-lane requantization (16-bit scatter offsets would overflow)."""
    c = 9400
    x = rng.integers(-128, 128, size=(1, 2, 3, c)).astype(np.int8)
    filt = rng.integers(-128, 128, size=(1, 3, 3, c)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=c).astype(np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=c).astype(np.int32)
    shift = rng.integers(-10, 2, size=c).astype(np.int32)
    q = kh.i32([1, 2, 3, c], [1, 3, 3, c], [1, 2, 3, c], 1, 1, 1, 1, 1, 1, 1, -3, 5, -128, 127)
    return kh.CCase([q, mult, shift, x, filt, bias], 6 * c)


def _relu_type(rng: np.random.Generator, i: int) -> kh.CCase:
    """Every shift <= 0 (zeros and mixed negatives) and act_min >= output zero point: the requantization
    without the round-half-away fixup (relu-type clamps; kws-like 64 channels and channel tails)."""
    case = _synthetic(rng, i)
    q, mult, _, x, filt, bias = case.args
    c = int(q[3])
    q = q.copy()
    out_zp = int(rng.choice([-128, int(rng.integers(-128, 100))]))
    q[20] = out_zp
    q[21] = min(127, out_zp + int(rng.choice([0, 0, int(rng.integers(1, 20))])))
    q[22] = int(rng.choice([127, int(rng.integers(int(q[21]), 128))]))
    shift = rng.integers(-12, 1, size=c) if i % 2 else np.full(c, int(rng.integers(-14, 1)))
    shift[rng.random(c) < 0.2] = 0
    return kh.CCase([q, mult, shift.astype(np.int32), x, filt, bias], case.out_nbytes)


def synthetic_cases(tmp: Path, n: int = 60) -> list[tuple[kh.CCase, np.ndarray]]:
    rng = np.random.default_rng(4321)
    cases = [_synthetic(rng, i) for i in range(n)] + [_wide(rng)]
    rng2 = np.random.default_rng(8765)
    cases += [_relu_type(rng2, i) for i in range(max(4, n // 4))]
    exe = tmp / "dw_ref"
    drv = tmp / "dw_ref.c"
    drv.write_text(kh.driver_source(DW_BODY, DEPTHWISE.c_includes))
    kh.compile_c([drv, kh.KERNELS_DIR / "nb_depthwise_conv2d.c"], exe, sanitize=True)
    got = kh.KernelDriver(exe=exe, sanitize=True).run(cases)
    return [(c, np.frombuffer(g, dtype=np.int8)) for c, g in zip(cases, got, strict=True)]


def run_m55(cases: list[tuple[kh.CCase, np.ndarray]], tmp: Path, scratch: int, opt: str = "-O2") -> list[bytes]:
    from convert.measure import build_elf, run_qemu

    main, data = firmware_source([(OP, c, e) for c, e in cases], {OP: DEPTHWISE})
    (tmp / "dw_main.c").write_text(main)
    (tmp / "dw_cases.c").write_text(data)
    srcs = [*kv.variant_sources(OP, CPU), *kv.common_sources(CPU)]
    elf = build_elf([tmp / "dw_main.c", tmp / "dw_cases.c", *srcs], BOARDS[CPU], tmp / f"fw{scratch}{opt}",
                    include_dirs=kv.include_dirs(CPU), defines={"NB_KERNEL_SCRATCH_BYTES": scratch}, opt=opt,
                    name=f"dw_mve_{scratch}")
    rr = run_qemu(elf, BOARDS[CPU], count=False, timeout_s=300)
    assert rr.exit_code == 0, rr.stdout[-2000:] + rr.stderr[-2000:]
    return parse_outputs(rr.stdout, len(cases))


def _compare(cases: list[tuple[kh.CCase, np.ndarray]], got: list[bytes], where: str) -> None:
    bad = []
    for i, ((case, exp), g) in enumerate(zip(cases, got, strict=True)):
        gb = np.frombuffer(g, dtype=np.int8)
        if gb.shape != exp.shape or not np.array_equal(gb, exp):
            q = case.args[0].tolist()
            n_bad = int(np.sum(gb != exp)) if gb.size == exp.size else "size"
            bad.append(f"case {i} (in {q[0:4]} k {q[5:7]} out {q[8:12]} stride {q[13:15]} pad {q[17:19]}): "
                       f"{n_bad} differ; expected {exp[:10].tolist()} got {gb[:10].tolist()}")
    assert not bad, f"{where}: {len(bad)}/{len(cases)} cases differ:\n" + "\n".join(bad[:12])


# (NB_KERNEL_SCRATCH_BYTES, optimization): 7808 = NB_DWM_WIN_BYTES (the kws shape in one chunk); 3300: one row
# step per chunk for <= 6 output columns (wider column chunks: the previous path); 2400: too small (below the
# fixed part), the previous path; 5088 at -O0: several row chunks and the C versions of the assembly loops
@pytest.mark.parametrize(("scratch", "opt"), [(7808, "-O2"), (3300, "-O2"), (2400, "-O2"), (5088, "-O0")])
def test_dw_mve_window_path_bit_exact_on_qemu(scratch: int, opt: str, tmp_path: Path):
    cases = model_cases() + synthetic_cases(tmp_path)
    _compare(cases, run_m55(cases, tmp_path, scratch, opt), f"M55 scratch {scratch} {opt}")


def test_dw_mve_scratch_bytes_cover_the_window_path():
    # kws depthwise: 3x3 'same' on 25x5, 64 channels: the window path in one chunk
    need = kv.scratch_bytes(OP, CPU, kh=3, kw=3, c=64, depth_multiplier=1, n_pos=125)
    assert need >= 7808  # NB_DWM_WIN_BYTES
    assert kv.scratch_bytes(OP, CPU, kh=3, kw=3, c=64, depth_multiplier=1, n_pos=3) == 0


def soak(n_synthetic: int, n_models: int, seed: int, scratch: int, tmp: Path) -> int:
    """QEMU soak: `n_synthetic` random parameter sets (expected: portable kernel) and `n_models` random one-op
    TFLite models (tests/test_kernels_target.dw_spec, half of them 3x3 'same'; expected: TFLM), 2 inputs each.
    Returns the number of mismatching cases."""
    from tests.test_kernels_target import dw_spec

    rng = np.random.default_rng(seed)
    cases = [_synthetic(rng, i) for i in range(n_synthetic)]
    cases += [_relu_type(rng, i) for i in range(n_synthetic // 4)]
    n_synthetic = len(cases)
    drv = tmp / "dw_ref.c"
    drv.write_text(kh.driver_source(DW_BODY, DEPTHWISE.c_includes))
    kh.compile_c([drv, kh.KERNELS_DIR / "nb_depthwise_conv2d.c"], tmp / "dw_ref", sanitize=True)
    got = kh.KernelDriver(exe=tmp / "dw_ref", sanitize=True).run(cases)
    all_cases = [(c, np.frombuffer(g, dtype=np.int8)) for c, g in zip(cases, got, strict=True)]
    for _ in range(n_models):
        spec = dw_spec(rng)
        buf = kh.model_for(DEPTHWISE, spec)
        if buf is None:
            continue
        pm = kh.parse_model_cached(buf)
        for _ in range(2):
            x = kh.random_inputs(buf, rng)
            all_cases.append((DEPTHWISE.c_case(pm.ops[0], kh.op_inputs(pm, pm.ops[0], x)),
                              kh.run_tflm(buf, x)[0].reshape(-1)))
    bad = 0
    for i in range(0, len(all_cases), 150):  # firmware size: 150 cases per build
        part = all_cases[i:i + 150]
        for (_, exp), g in zip(part, run_m55(part, tmp, scratch), strict=True):
            bad += int(not np.array_equal(np.frombuffer(g, dtype=np.int8), exp))
    print(f"soak: {len(all_cases)} cases ({n_synthetic} synthetic, {len(all_cases) - n_synthetic} TFLM), "
          f"scratch {scratch}: {bad} mismatches")
    return bad


if __name__ == "__main__":  # .venv/bin/python -m tests.test_kernels_dw_mve [n_synthetic n_models seed scratch]
    import sys
    import tempfile

    args = [int(a) for a in sys.argv[1:]] + [600, 150, 1, 7808][len(sys.argv) - 1:]
    with tempfile.TemporaryDirectory() as d:
        raise SystemExit(1 if soak(args[0], args[1], args[2], args[3], Path(d)) else 0)
