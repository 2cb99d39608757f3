"""Cortex-M55 (MVE) CONV_2D paths of firmware_templates/kernels/mve/nb_conv2d_mve.c (and the
FULLY_CONNECTED of nb_fully_connected_mve.c), bit-exact on QEMU.

The blocked path (filter packed per call, assembly 4-channel x 2-position VMLADAV blocks, nb_mve.h
nb_mve_gemm4x2 / nb_mve_gemm4x2_clamp0) runs for >= 4 output positions per call with every shift <= 0;
these cases force its branches: the kws_ref_model shapes (1x1 64->64 over 25x5 on the one-call pair
loop; conv0 10x4 stride 2 "same" with the one-word im2col rows), channel tails (c_out % 4), K % 16 != 0
(im2col copies with zero tails; K > 128 chunk loop), padding / stride / dilation im2col variants, odd
position counts, relu / relu6 (no rounding fixup) and full-range clamps (fixup), no bias, batch 2, and
per-channel shifts that are zero, positive (the per-call fallback) or mixed. Few positions per call (the
streaming VAD) and a too small scratch take the older paths, checked too.

Expected outputs: TFLite Micro for the Keras-built one-op models; for cases derived from them (batch 2,
edited shifts) a numpy model of the TFLM reference (ConvPerChannel + MultiplyByQuantizedMultiplier),
itself checked against TFLM on every Keras case here.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from convert import kernel_variants as kv
from tests import kernel_harness as kh
from tests.test_kernels_a import CONV, FC
from tests.test_kernels_target import firmware_source, parse_outputs

CPU, BOARD = "cortex-m55", "mps3-an547"


def _spec(h: int, w: int, k: tuple[int, int], cin: int, cout: int, *, stride=(1, 1), dilation=(1, 1),
          padding: str = "valid", act: str | None = "relu", bias: bool = True, rng=(-2.0, 2.0), seed: int = 0) -> dict:
    return {"h": h, "w": w, "k": list(k), "stride": list(stride), "dilation": list(dilation), "padding": padding,
            "cin": cin, "cout": cout, "act": act, "bias": bias, "range": rng, "seed": seed, "groups": 1}


SPECS = [
    # kws_ref_model pointwise (uniform one-call pair loop, relu: no fixup) and conv0 (im2col, padding)
    _spec(25, 5, (1, 1), 64, 64, rng=(0.0, 4.0), seed=201),
    _spec(49, 10, (10, 4), 1, 64, stride=(2, 2), padding="same", seed=202),
    # channel tail (c_out % 4 = 3), odd positions (3x3 = 9), full-range clamp (fixup), no bias
    _spec(3, 3, (1, 1), 32, 39, act=None, bias=False, rng=(-3.0, 1.0), seed=203),
    # K = 5 (1x1 copy path, zero tail), c_out % 4 = 1, relu6
    _spec(4, 5, (1, 1), 5, 9, act="relu6", rng=(-1.0, 3.0), seed=204),
    # 1x1 stride 2 (in place, per-pair), K = 48
    _spec(7, 6, (1, 1), 48, 20, stride=(2, 2), act=None, seed=205),
    # 3x3 same, 17 input channels: rows of 51 bytes (> 16), padded taps, K = 153 (10 chunks > 8: loop)
    _spec(5, 4, (3, 3), 17, 12, padding="same", act=None, seed=206),
    # 1xN over time (VAD-like, but many positions), K = 3 * 24 = 72, relu
    _spec(9, 1, (3, 1), 24, 34, padding="same", seed=207),
    # dilation 2 (per-tap im2col), valid padding
    _spec(7, 7, (3, 2), 6, 8, dilation=(2, 2), act="relu6", rng=(-1.0, 1.0), seed=208),
    # 2-wide rows (n = 2 * 3 bytes <= 16, predicated row copy), stride (2, 1), c_out 4 (one block, no tail)
    _spec(6, 5, (2, 2), 3, 4, stride=(2, 1), padding="same", act=None, bias=False, seed=209),
    # few positions (3: the older two-row path, as the streaming VAD's 1-3 positions per call)
    _spec(3, 1, (1, 1), 34, 54, seed=210),
    _spec(1, 1, (3, 1), 39, 34, padding="same", act=None, seed=211),
    # 8 and 7 K chunks: the chunk sequence entered at its first / second chunk (x at immediate offsets)
    _spec(3, 4, (1, 1), 128, 8, seed=212),
    _spec(4, 3, (1, 1), 100, 12, act="relu6", rng=(-1.0, 3.0), seed=213),
]


def _q(case: kh.CCase) -> np.ndarray:
    return np.asarray(case.args[0], dtype=np.int32)


def _mbqm(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, half_up: bool = False) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier (int64 numpy, per-element mult / shift); half_up: the final
    rounding ties upward instead of away from zero (the result without the kernels' fixup)."""
    acc = acc.astype(np.int64)
    ls = np.maximum(shift, 0).astype(np.int64)
    rs = np.maximum(-shift, 0).astype(np.int64)
    a = ((acc << ls) + 2**31) % 2**32 - 2**31  # wrapping int32 left shift
    ab = a * mult.astype(np.int64)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    t = ab + nudge
    hi = np.where(t >= 0, t // 2**31, -((-t) // 2**31))  # division truncating toward zero
    if half_up:
        return (hi + ((np.int64(1) << rs) >> 1)) >> rs
    mask = (np.int64(1) << rs) - 1
    rem = hi & mask
    thr = (mask >> 1) + (hi < 0)
    return (hi >> rs) + (rem > thr)


def ref_conv(case: kh.CCase, half_up: bool = False) -> np.ndarray:
    """numpy model of TFLM reference_integer_ops::ConvPerChannel for a conv C case (groups = 1)."""
    q = _q(case)
    mult, shift, x, w, bias = (np.asarray(a) for a in case.args[1:6])
    n, ih, iw, ci = q[0:4]
    co, kh_, kw_, _ = q[4:8]
    _, oh, ow, _ = q[8:12]
    sh, sw, dh, dw, ph, pw, zin, zout, amin, amax = (int(v) for v in q[12:22])
    x = x.reshape(n, ih, iw, ci).astype(np.int64) - zin
    w = w.reshape(co, kh_, kw_, ci).astype(np.int64)
    xp = np.zeros((n, ih + 2 * kh_ * dh + oh * sh, iw + 2 * kw_ * dw + ow * sw, ci), np.int64)
    oy0, ox0 = kh_ * dh, kw_ * dw  # padded taps read zeros (x - zp = 0), as the reference skips them
    xp[:, oy0:oy0 + ih, ox0:ox0 + iw] = x
    acc = np.zeros((n, oh, ow, co), np.int64)
    for ky in range(kh_):
        for kx in range(kw_):
            ys = oy0 - ph + ky * dh
            xs = ox0 - pw + kx * dw
            patch = xp[:, ys:ys + oh * sh:sh, xs:xs + ow * sw:sw]
            acc += np.einsum("nhwc,oc->nhwo", patch, w[:, ky, kx])
    if bias.size:
        acc += bias.astype(np.int64)
    acc = (acc + 2**31) % 2**32 - 2**31
    out = _mbqm(acc, mult.reshape(1, 1, 1, -1), shift.reshape(1, 1, 1, -1), half_up) + zout
    return np.clip(out, amin, amax).astype(np.int8)


def _with_shift(case: kh.CCase, shift: np.ndarray, mult: np.ndarray | None = None) -> kh.CCase:
    args = list(case.args)
    args[2] = np.asarray(shift, np.int32)
    if mult is not None:
        args[1] = np.asarray(mult, np.int32)
    return kh.CCase(args, case.out_nbytes)


def _batch2(case: kh.CCase, x2: np.ndarray) -> kh.CCase:
    q = _q(case).copy()
    q[0] = 2
    q[8] = 2
    args = list(case.args)
    args[0] = q
    args[3] = np.concatenate([np.asarray(case.args[3]).reshape(-1), np.asarray(x2, np.int8).reshape(-1)])
    return kh.CCase(args, 2 * case.out_nbytes)


@functools.cache
def keras_cases() -> list[tuple[kh.CCase, np.ndarray]]:
    """(C case, TFLM output) for every spec, two random inputs each."""
    out = []
    for j, spec in enumerate(SPECS):
        buf = kh.model_for(CONV, spec)
        assert buf is not None, spec
        pm = kh.parse_model_cached(buf)
        pop = pm.ops[0]
        irng = np.random.default_rng(300 + j)
        for _ in range(2):
            x = kh.random_inputs(buf, irng)
            exp = np.asarray(kh.run_tflm(buf, x)[0]).reshape(-1).astype(np.int8)
            out.append((CONV.c_case(pop, kh.op_inputs(pm, pop, x)), exp))
    return out


@functools.cache
def derived_cases() -> list[kh.CCase]:
    """Cases with batch 2 and edited shifts (expected from ref_conv)."""
    base = keras_cases()
    rng = np.random.default_rng(7)
    res = []
    for i in (0, 2, 3, 6, 10):  # kws pointwise, tail + no bias, K = 5, 1xN, few positions
        case = base[2 * i][0]
        x2 = np.asarray(base[2 * i + 1][0].args[3])
        res.append(_batch2(case, x2))
    for i in (0, 2, 4, 8):
        case = base[2 * i][0]
        mult, shift = np.asarray(case.args[1]), np.asarray(case.args[2])
        co = shift.size
        # zero shifts on every other channel (the fixup's e = 0 lanes), halved multipliers keep outputs varied
        z = np.where(np.arange(co) % 2 == 0, 0, shift)
        res.append(_with_shift(case, z, np.where(np.arange(co) % 2 == 0, mult // 64 + (1 << 24), mult)))
        # positive shifts (effective scale > 1): the per-call fallback
        res.append(_with_shift(case, np.full(co, 2), np.asarray(mult // 2**14 + 1, np.int64)))
        # mixed signs, random
        res.append(_with_shift(case, rng.integers(-12, 3, size=co)))
    for i in (2, 5, 8):  # full-range clamps: shifts -1 / -2 make half-way products (the fixup) common
        case = base[2 * i][0]
        co = np.asarray(case.args[2]).size
        res.append(_with_shift(case, -1 - np.arange(co) % 2, (1 << 21) + rng.integers(0, 1 << 21, size=co)))
    return res


def _run(cases: list[kh.CCase], tmp: Path, scratch: int, kspec: kh.KernelSpec = CONV) -> list[np.ndarray]:
    from convert.measure import build_elf, run_qemu

    rows = [(kspec.op, c, None) for c in cases]
    main, data = firmware_source(rows, {kspec.op: kspec})
    (tmp / "cm_main.c").write_text(main)
    (tmp / "cm_cases.c").write_text(data)
    srcs = [tmp / "cm_main.c", tmp / "cm_cases.c", *kv.variant_sources(kspec.op, CPU), *kv.common_sources(CPU)]
    elf = build_elf(srcs, BOARD, tmp / f"b{scratch}", include_dirs=kv.include_dirs(CPU),
                    defines={"NB_KERNEL_SCRATCH_BYTES": scratch}, opt="-O2", name=f"conv_mve_{scratch}")
    rr = run_qemu(elf, BOARD, count=False, timeout_s=300)
    assert rr.exit_code == 0, rr.stdout[-2000:] + rr.stderr[-2000:]
    return [np.frombuffer(b, dtype=np.int8) for b in parse_outputs(rr.stdout, len(cases))]


def _assert_equal(got: list[np.ndarray], exp: list[np.ndarray], where: str) -> None:
    bad = [f"case {i}: {int(np.sum(g != e)) if g.shape == e.shape else 'size'} differ"
           for i, (g, e) in enumerate(zip(got, exp, strict=True)) if g.shape != e.shape or not np.array_equal(g, e)]
    assert not bad, f"{where}: {len(bad)}/{len(exp)} cases differ: {bad[:8]}"


def test_numpy_reference_matches_tflm():
    for case, exp in keras_cases():
        np.testing.assert_array_equal(ref_conv(case).reshape(-1), exp)


def test_derived_cases_reach_the_paths():
    cases = derived_cases()
    shifts = [np.asarray(c.args[2]) for c in cases]
    assert any((s > 0).all() for s in shifts) and any((s == 0).any() and (s <= 0).all() for s in shifts)
    assert any((s > 0).any() and (s < 0).any() for s in shifts)
    assert any(_q(c)[0] == 2 for c in cases)
    # the round-half-away-from-zero fixup changes some outputs of the full-range cases
    fix = [c for c in cases if (np.asarray(c.args[2]) >= -2).all() and (np.asarray(c.args[2]) < 0).all()]
    assert fix and any(np.any(ref_conv(c) != ref_conv(c, half_up=True)) for c in fix)
    # outputs are not all clamped: the edited requantization still produces varied values
    outs = [ref_conv(c) for c in cases]
    assert sum(len(np.unique(o)) > 8 for o in outs) >= len(outs) // 2


def test_conv_mve_bit_exact_on_qemu(tmp_path: Path):
    """Blocked and older paths with a scratch large enough for the kws pointwise (5008 bytes)."""
    kc = keras_cases()
    dc = derived_cases()
    cases = [c for c, _ in kc] + dc
    exp = [e for _, e in kc] + [ref_conv(c).reshape(-1) for c in dc]
    _assert_equal(_run(cases, tmp_path, 12288), exp, "scratch 12288")


def test_conv_mve_scratch_for_four_columns(tmp_path: Path):
    """kws conv0 with room for 4 (not 8) im2col columns per assembly call, and the 3x3 / 1xN cases."""
    need = 768 + 64 * 48 + 64 + 16
    scratch = need + 5 * 48  # 5 columns fit: 4 are used (pairs)
    kc = [keras_cases()[k] for k in (2, 3, 10, 11, 12, 13)]
    _assert_equal(_run([c for c, _ in kc], tmp_path, scratch), [e for _, e in kc], f"scratch {scratch}")


def test_conv_mve_small_scratch_falls_back(tmp_path: Path):
    """2048 bytes: the kws shapes no longer fit the blocked path (older path or the portable loop nest)."""
    assert kv.scratch_bytes("CONV_2D", CPU, kh=1, kw=1, c_in=64, c_out=64, n_pos=125) > 2048
    kc = keras_cases()[:8]
    _assert_equal(_run([c for c, _ in kc], tmp_path, 2048), [e for _, e in kc], "scratch 2048")


FC_SPECS = [
    # kws_ref_model classifier; batch 3 (a row pair + one row), K % 16 = 1, odd out_depth, per-tensor, no bias
    {"t": 0, "converter_flags": {}, "n_in": 64, "n_out": 12, "act": None, "bias": True, "range": (0.0, 4.0),
     "seed": 221},
    {"t": 3, "converter_flags": {}, "n_in": 33, "n_out": 7, "act": "relu", "bias": False, "range": (-2.0, 2.0),
     "seed": 222},
    {"t": 2, "converter_flags": {"_experimental_disable_per_channel_quantization_for_dense_layers": True},
     "n_in": 75, "n_out": 1, "act": None, "bias": True, "range": (-1.0, 3.0), "seed": 223},
]


def test_fc_mve_bit_exact_on_qemu(tmp_path: Path):
    """FULLY_CONNECTED (nb_mve_gemm_fused: weight sums in the dot-product pass) against TFLM."""
    cases, exp = [], []
    for j, spec in enumerate(FC_SPECS):
        buf = kh.model_for(FC, spec)
        assert buf is not None, spec
        pm = kh.parse_model_cached(buf)
        pop = pm.ops[0]
        irng = np.random.default_rng(400 + j)
        for _ in range(2):
            x = kh.random_inputs(buf, irng)
            exp.append(np.asarray(kh.run_tflm(buf, x)[0]).reshape(-1).astype(np.int8))
            cases.append(FC.c_case(pop, kh.op_inputs(pm, pop, x)))
    assert {int(_q(c)[0]) for c in cases} >= {1, 2, 3}
    _assert_equal(_run(cases, tmp_path, 1024, FC), exp, "fully connected")


def test_scratch_bytes_conv_mve():
    sb = functools.partial(kv.scratch_bytes, "CONV_2D", CPU)
    # blocked: 12 * ceil4(c_out) + ceil4(c_out) * ceil16(K) + ceil4(c_out) + 16 + columns of ceil16(K)
    # (2 for 1x1, 8 for larger kernels while they fit 1 KiB)
    assert sb(kh=1, kw=1, c_in=64, c_out=64, n_pos=125) == 768 + 4096 + 64 + 16 + 2 * 64
    assert sb(kh=10, kw=4, c_in=1, c_out=64) == 768 + 64 * 48 + 64 + 16 + 8 * 48
    assert sb(kh=3, kw=3, c_in=64, c_out=8) == 96 + 8 * 576 + 8 + 16 + 2 * 576
    # fewer than 4 positions: the older path's two accumulator rows and two columns (+ 4 * ceil4(c_out))
    assert sb(kh=1, kw=1, c_in=34, c_out=54, n_pos=1) == 12 * 56 + 2 * 48
    assert sb(kh=3, kw=1, c_in=39, c_out=34, n_pos=3) == 12 * 36 + 2 * 128
