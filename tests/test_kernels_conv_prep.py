"""Generation-time preparation of the Cortex-M4/M7 DSP CONV_2D g42 stream (convert.kernel_variants.prepare_weights,
nb_conv2d_params_t.prepared, dsp/nb_conv2d_dsp.c).

- The Python stream is word for word what the C nb_dsp_g42_prepare lays out in the scratch (a host helper dumps
  it), and both refuse the same cases (multipliers / shifts / biases outside the exact range).
- Calls given the prepared stream are bit-exact to TFLM on QEMU (Cortex-M4, M7) and on the host (sanitized), with
  the scratch sized as the code generator sizes it for prepared ops (too small for the per-call preparation).
- The kernel really reads the stream (a corrupted start word changes the outputs) and ignores a stream whose
  header does not match (wrong magic: still bit-exact).
The cases are those of tests/test_kernels_conv_dsp.py (kws shapes, tails, padding, dilation, several passes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convert import kernel_variants as kv
from tests import kernel_harness as kh
from tests.test_kernels_a import CONV
from tests.test_kernels_conv_dsp import _cases
from tests.test_kernels_target import BOARDS, _compare, firmware_source, parse_outputs

PREP_BODY = CONV.c_body.replace(
    "    p.prepared = NULL;\n", "    p.prepared = (n_args > 6 && ARG_N(6) > 0) ? (const void *)ARG_I32(6) : NULL;\n")

# host helper: word 0 = nb_dsp_g42_prepare's result, then the stream it laid out
DUMP_BODY = r"""
    const int32_t *q = ARG_I32(0);
    const int32_t n_out = q[4], K = q[5] * q[6] * q[7];
    const int32_t words = nb_dsp_g42_words(K, n_out);
    int32_t ok = nb_dsp_g42_prepare(ARG_I8(4), K, ARG_N(5) ? ARG_I32(5) : NULL, n_out, ARG_I32(1), ARG_I32(2), 1,
                                    q[18], q[19], nb_kernel_scratch);
    (void)n_args;
    if ((uint32_t)(4 * (words + 1)) != out_nbytes) {
        return 1;
    }
    memcpy(out, &ok, 4);
    memcpy((char *)out + 4, nb_kernel_scratch, (size_t)(4 * words));
    return 0;
"""


class _Spec:
    def __init__(self, body: str) -> None:
        self.c_body = body
        self.c_includes = ("nb_conv2d.h", "nb_dsp_gemm.h")


def _prepared(case: kh.CCase) -> np.ndarray | None:
    q, mult, shift, _, w, bias = case.args[:6]
    return kv.prepare_weights("CONV_2D", "cortex-m4", w.reshape(int(q[4]), -1), bias if bias.size else None,
                              out_multiplier=mult, out_shift=shift, input_zero_point=int(q[18]),
                              output_zero_point=int(q[19]), act_min=int(q[20]), act_max=int(q[21]),
                              n_pos=int(q[8] * q[9] * q[10]), grouped=bool(q[7] != q[3]))


def _stream_only(case: kh.CCase) -> np.ndarray | None:
    q, mult, shift, _, w, bias = case.args[:6]
    return kv._g42_stream(w.reshape(int(q[4]), -1).astype(np.int64), bias if bias.size else None, mult, shift,
                          int(q[18]), int(q[19]))


def _with(case: kh.CCase, prep: np.ndarray | None) -> kh.CCase:
    extra = np.zeros(0, np.int32) if prep is None else prep.astype(np.int32)
    return kh.CCase([*case.args[:6], extra], case.out_nbytes)


def _scratch(cases) -> int:
    """NB_KERNEL_SCRATCH_BYTES as the code generator sizes it when every g42 op gets its stream."""
    need = 16
    for _, c, _ in cases:
        q = c.args[0]
        kk, n_pos = int(q[5] * q[6] * q[7]), int(q[8] * q[9] * q[10])
        prep = len(c.args) > 6 and c.args[6].size > 0
        vp = kv.conv2d_vpairs_bytes(int(q[5]), int(q[6]), int(q[7]), int(q[2]), int(q[9]), int(q[10]), int(q[12]),
                                    int(q[13]), int(q[17]), int(q[14]), int(q[15]), int(q[16]))
        if prep:
            need = max(need, kv.scratch_bytes("CONV_2D", "cortex-m4", kh=int(q[5]), kw=int(q[6]), c_in=int(q[7]),
                                              c_out=int(q[4]), n_pos=n_pos, prepared=True, vpairs_bytes=vp))
        else:
            need = max(need, 4 * kk)  # the streaming / fallback paths' columns only
    return (need + 15) // 16 * 16


def _prep_cases() -> list[tuple[str, kh.CCase, np.ndarray]]:
    tflm, _ = _cases()
    return [(op, _with(c, _prepared(c)), e) for op, c, e in tflm]


def test_prepared_stream_matches_the_c_preparation(tmp_path: Path):
    tflm, mutated = _cases()
    cases = [c for _, c, _ in tflm + mutated]
    exe, drv_c = tmp_path / "drv_dump", tmp_path / "drv_dump.c"
    drv_c.write_text(kh.driver_source(DUMP_BODY, _Spec("").c_includes))
    kh.compile_c([drv_c, *kv.common_sources("cortex-m4")], exe, sanitize=True,
                 include_dirs=kv.include_dirs("cortex-m4"), extra_flags=["-DNB_KERNEL_SCRATCH_BYTES=65536"])
    dumps = []
    for c in cases:
        q = c.args[0]
        words = kv._ceil(int(q[4]), 4) // 4 * (20 + 2 * kv._ceil(int(q[5] * q[6] * q[7]), 8))
        dumps.append(kh.CCase(c.args[:6], 4 * (words + 1)))
    got = kh.KernelDriver(exe=exe, sanitize=True).run(dumps)
    n_ok = n_refused = 0
    for c, g in zip(cases, got, strict=True):
        words = np.frombuffer(g, dtype="<i4")
        py = _stream_only(c)
        if words[0] == 0:
            assert py is None
            n_refused += 1
            continue
        assert py is not None
        np.testing.assert_array_equal(py, words[1:])
        n_ok += 1
        prep = _prepared(c)
        if prep is not None:
            q = c.args[0]
            assert list(prep[:4]) == [kv.G42_MAGIC, int(q[5] * q[6] * q[7]), int(q[4]), words.size - 1]
            np.testing.assert_array_equal(prep[4:], words[1:])
    assert n_ok >= 20 and n_refused >= 8


def test_cases_get_prepared_streams():
    cases = _prep_cases()
    prepared = [c for _, c, _ in cases if c.args[6].size]
    assert len(prepared) >= len(cases) // 2
    # relu6 (clamped output) never gets one; the kws shapes do
    for _, c, _ in cases:
        q = c.args[0]
        if int(q[21]) < 127:
            assert c.args[6].size == 0
    kws = [c for _, c, _ in cases if list(c.args[0][4:8]) in ([64, 1, 1, 64], [30, 10, 4, 1])]
    assert kws and all(c.args[6].size for c in kws)
    # the prepared ops' scratch need is far below the per-call preparation's
    assert _scratch(cases) < kv.scratch_bytes("CONV_2D", "cortex-m4", kh=1, kw=1, c_in=64, c_out=64) // 4


def _run_qemu(cpu: str, cases, tmp: Path, scratch: int) -> list[bytes]:
    from convert.measure import build_elf, run_qemu

    main, data = firmware_source(cases, {"CONV_2D": _Spec(PREP_BODY)})
    (tmp / "kp_main.c").write_text(main)
    (tmp / "kp_cases.c").write_text(data)
    elf = build_elf([tmp / "kp_main.c", tmp / "kp_cases.c", *kv.variant_sources("CONV_2D", cpu),
                     *kv.common_sources(cpu)], BOARDS[cpu], tmp / cpu, include_dirs=kv.include_dirs(cpu),
                    defines={"NB_KERNEL_SCRATCH_BYTES": scratch}, opt="-O2", name="convprep_" + cpu.replace("-", "_"))
    rr = run_qemu(elf, BOARDS[cpu], count=False, timeout_s=300)
    assert rr.exit_code == 0, rr.stdout[-2000:] + rr.stderr[-2000:]
    return parse_outputs(rr.stdout, len(cases))


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7"])
def test_prepared_bit_exact_on_qemu(cpu: str, tmp_path: Path):
    cases = _prep_cases()
    _compare(cases, _run_qemu(cpu, cases, tmp_path, _scratch(cases)), cpu + " prepared")


def _host(tmp_path: Path, scratch: int) -> kh.KernelDriver:
    exe, drv_c = tmp_path / "drv_prep", tmp_path / "drv_prep.c"
    drv_c.write_text(kh.driver_source(PREP_BODY, CONV.c_includes))
    kh.compile_c([drv_c, *kv.variant_sources("CONV_2D", "cortex-m4"), *kv.common_sources("cortex-m4")], exe,
                 sanitize=True, include_dirs=kv.include_dirs("cortex-m4"),
                 extra_flags=[f"-DNB_KERNEL_SCRATCH_BYTES={scratch}"])
    return kh.KernelDriver(exe=exe, sanitize=True)


def test_prepared_bit_exact_on_host_and_stream_is_used(tmp_path: Path):
    cases = _prep_cases()
    drv = _host(tmp_path, _scratch(cases))
    _compare(cases, drv.run([c for _, c, _ in cases]), "host dsp prepared")
    # a corrupted start word changes the outputs (the stream is what runs); a wrong magic is ignored
    prepared = [(op, c, e) for op, c, e in cases if c.args[6].size]
    bad, wrong = [], []
    for _, c, _ in prepared:
        p = c.args[6].copy()
        p[kv.G42_HEADER_WORDS] += 2 * 1000 * 64  # row 0's start value (column a): a different sum
        bad.append(kh.CCase([*c.args[:6], p], c.out_nbytes))
        p = c.args[6].copy()
        p[0] ^= 1
        wrong.append((_, kh.CCase([*c.args[:6], p], c.out_nbytes), _))
    got_bad = drv.run(bad)
    assert all(g != e.astype(np.int8).tobytes() for g, (_, _, e) in zip(got_bad, prepared, strict=True))
    _compare([(op, c, e) for (op, _, e), (_, c, _) in zip(prepared, wrong, strict=True)],
             drv.run([c for _, c, _ in wrong]), "host dsp wrong magic")


def test_scratch_bytes_for_prepared_ops():
    # kws pointwise: one column pair (64 words) instead of the stream; kws conv0: the vertical-pair table
    assert kv.scratch_bytes("CONV_2D", "cortex-m4", kh=1, kw=1, c_in=64, c_out=64, n_pos=125, prepared=True) == 256
    vp = kv.conv2d_vpairs_bytes(10, 4, 1, 10, 25, 5, 2, 2, 1, 1, 1, 4)
    assert vp == 16 * (23 * 2 + 10 + 1 + 2)
    assert kv.scratch_bytes("CONV_2D", "cortex-m4", kh=10, kw=4, c_in=1, c_out=64, n_pos=125, prepared=True,
                            vpairs_bytes=vp) == vp
    # streaming calls and other CPUs get no stream
    w = np.ones((8, 1, 1, 16), np.int8)
    kw_ = dict(out_multiplier=np.full(8, 1 << 30), out_shift=np.full(8, -5), input_zero_point=3,
               output_zero_point=-1, act_min=-128, act_max=127)
    assert kv.prepare_weights("CONV_2D", "cortex-m4", w, None, n_pos=3, **kw_) is None
    assert kv.prepare_weights("CONV_2D", "cortex-m55", w, None, n_pos=8, **kw_) is None
    assert kv.prepare_weights("CONV_2D", "cortex-m4", w, None, n_pos=8, **(kw_ | {"act_max": 100})) is None
    p = kv.prepare_weights("CONV_2D", "cortex-m7", w, None, n_pos=8, **kw_)
    assert p is not None and p.dtype == np.int32 and p.size == 4 + 2 * (20 + 2 * 16)
