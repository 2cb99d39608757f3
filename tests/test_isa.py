"""Instruction classification against the GNU assembler's encodings (Armv7E-M + FPU, Armv8.1-M + MVE)."""

from __future__ import annotations

import subprocess

from hypothesis import given
from hypothesis import strategies as st

from convert.isa import CLASSES, classify, is_32bit

# (assembly line, expected class, expected nregs, writes_pc)
M4_CASES = [
    ("ldr r0, [r1]", "load", 1, False),
    ("ldr.w r0, [r1, #400]", "load", 1, False),
    ("ldr r0, [r1, r2]", "load", 1, False),
    ("ldrsh.w r0, [r1, r2, lsl #1]", "load", 1, False),
    ("ldr r0, [sp, #8]", "load", 1, False),
    ("ldr.w pc, [sp], #4", "load", 1, True),
    ("str r0, [r1]", "store", 1, False),
    ("strb r0, [r1, r2]", "store", 1, False),
    ("str.w r0, [r1, #400]", "store", 1, False),
    ("push {r4-r7, lr}", "store_multiple", 5, False),
    ("pop {r4-r7, pc}", "load_multiple", 5, True),
    ("push.w {r4-r11, lr}", "store_multiple", 9, False),
    ("ldmia r0!, {r1-r3}", "load_multiple", 3, False),
    ("ldrd r2, r3, [r0]", "load_multiple", 2, False),
    ("strd r2, r3, [r0, #8]", "store_multiple", 2, False),
    ("ldrex r0, [r1]", "load", 1, False),
    ("muls r0, r1, r0", "mul", 1, False),
    ("mul r0, r1, r2", "mul", 1, False),
    ("mla r0, r1, r2, r3", "mac", 1, False),
    ("smlad r0, r1, r2, r3", "mac", 1, False),
    ("smlabb r0, r1, r2, r3", "mac", 1, False),
    ("smuad r0, r1, r2", "mul", 1, False),
    ("smull r0, r1, r2, r3", "mul_long", 1, False),
    ("smlald r0, r1, r2, r3", "mac_long", 1, False),
    ("sdiv r0, r1, r2", "divide", 1, False),
    ("udiv r0, r1, r2", "divide", 1, False),
    ("b .+8", "branch", 1, False),
    ("beq .+8", "branch", 1, False),
    ("bne.w .+200", "branch", 1, False),
    ("bl .+8", "branch", 1, False),
    ("bx lr", "branch", 1, False),
    ("blx r3", "branch", 1, False),
    ("cbz r0, .+8", "branch", 1, False),
    ("tbb [r0, r1]", "branch", 1, False),
    ("mov pc, lr", "branch", 1, False),
    ("dsb", "barrier", 1, False),
    ("isb", "barrier", 1, False),
    ("adds r0, r1", "other", 1, False),
    ("add.w r0, r1, r2, lsl #2", "other", 1, False),
    ("movw r0, #1234", "other", 1, False),
    ("sadd16 r0, r1, r2", "other", 1, False),
    ("ssat r0, #8, r1", "other", 1, False),
    ("sxtb16 r0, r1", "other", 1, False),
    ("nop", "other", 1, False),
    ("vadd.f32 s0, s1, s2", "fpu", 1, False),
    ("vmul.f32 s0, s1, s2", "fpu", 1, False),
    ("vmla.f32 s0, s1, s2", "fpu_mac", 1, False),
    ("vfma.f32 s0, s1, s2", "fpu_mac", 1, False),
    ("vdiv.f32 s0, s1, s2", "fpu_div", 1, False),
    ("vsqrt.f32 s0, s1", "fpu_div", 1, False),
    ("vcvt.s32.f32 s0, s0", "fpu", 1, False),
    ("vmov r0, s0", "fpu", 1, False),
    ("vldr s0, [r0]", "fpu_load", 1, False),
    ("vstr s0, [r0, #4]", "fpu_store", 1, False),
    ("vldmia r0!, {s0-s3}", "fpu_load", 4, False),
    ("vpush {s16-s19}", "fpu_store", 4, False),
]

M55_CASES = [
    ("vldrb.s8 q0, [r0]", "mve_load"),
    ("vldrw.u32 q1, [r0, #16]!", "mve_load"),
    ("vstrb.8 q0, [r1]", "mve_store"),
    ("vstrw.32 q1, [r1], #16", "mve_store"),
    ("vld20.8 {q0, q1}, [r0]", "mve_load"),
    ("vld43.32 {q0, q1, q2, q3}, [r0]!", "mve_load"),
    ("vst40.8 {q0, q1, q2, q3}, [r0]", "mve_store"),
    ("vldrb.u16 q0, [r0]", "mve_load"),
    ("vldrb.s32 q0, [r0, #4]!", "mve_load"),
    ("vldrb.u16 q0, [r0], #8", "mve_load"),
    ("vldrh.u32 q0, [r0]", "mve_load"),
    ("vstrb.32 q0, [r0]", "mve_store"),
    ("vldrb.u8 q0, [r0, q1]", "mve_gather", 16),
    ("vldrb.s16 q0, [r0, q1]", "mve_gather", 8),
    ("vldrh.u16 q0, [r0, q1, uxtw #1]", "mve_gather", 8),
    ("vldrw.u32 q0, [r0, q1]", "mve_gather", 4),
    ("vldrd.u64 q0, [r0, q1]", "mve_gather", 2),
    ("vldrw.u32 q0, [q1, #8]", "mve_gather", 4),
    ("vldrw.s32 q0, [q1, #-8]!", "mve_gather", 4),
    ("vldrd.u64 q0, [q1, #8]", "mve_gather", 2),
    ("vstrb.8 q0, [r0, q1]", "mve_scatter", 16),
    ("vstrb.16 q0, [r0, q1]", "mve_scatter", 8),
    ("vstrh.32 q0, [r0, q1]", "mve_scatter", 4),
    ("vstrw.32 q0, [q1, #-8]!", "mve_scatter", 4),
    ("vmov q0[2], q0[0], r0, r1", "mve"),
    ("vmov r0, r1, q1[3], q1[1]", "mve"),
    ("vmov q3[3], q3[1], r8, r12", "mve"),
    ("vmladav.s8 r2, q0, q1", "mve"),
    ("vmladava.s8 r2, q0, q1", "mve"),
    ("vadd.i8 q0, q1, q2", "mve"),
    ("vmul.i16 q0, q1, q2", "mve"),
    ("vqdmulh.s32 q0, q1, q2", "mve"),
    ("vmax.s8 q0, q1, q2", "mve"),
    ("vfma.f32 q0, q1, q2", "mve"),
    ("dls lr, r2", "loop"),
    ("wls lr, r2, .+8", "loop"),
    ("dlstp.8 lr, r2", "loop"),
    ("vctp.8 r2", "mve"),
]


def _assemble(lines: list[str], cpu: str) -> list[bytes]:
    """Assemble one instruction per line (each padded by a label) and return the raw encodings in order."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / "t.S"
        body = "\n".join(f"    {ln}" for ln in lines)
        src.write_text(f"    .syntax unified\n    .thumb\n    .text\n{body}\n    nop\n    nop\n")
        obj = Path(td) / "t.o"
        flags = {"m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"], "m55": ["-mcpu=cortex-m55"]}[cpu]
        subprocess.run(
            ["arm-none-eabi-gcc", *flags, "-mthumb", "-mfloat-abi=hard", "-c", str(src), "-o", str(obj)], check=True
        )
        binf = Path(td) / "t.bin"
        subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(obj), str(binf)], check=True)
        data = binf.read_bytes()
    out, off = [], 0
    while off < len(data) and len(out) < len(lines):
        hw1 = int.from_bytes(data[off : off + 2], "little")
        n = 4 if is_32bit(hw1) else 2
        out.append(data[off : off + n])
        off += n
    return out


def test_armv7em_classes():
    raws = _assemble([c[0] for c in M4_CASES], "m4")
    got = [
        (line, classify(r).cls, classify(r).nregs, classify(r).writes_pc)
        for (line, *_), r in zip(M4_CASES, raws, strict=True)
    ]
    assert got == [tuple(c) for c in M4_CASES]


def test_armv81m_mve_classes():
    raws = _assemble([c[0] for c in M55_CASES], "m55")
    got = [(c[0], classify(r).cls, classify(r).nregs) for c, r in zip(M55_CASES, raws, strict=True)]
    assert got == [(c[0], c[1], c[2] if len(c) > 2 else 1) for c in M55_CASES]


@given(st.binary(min_size=2, max_size=2) | st.binary(min_size=4, max_size=4))
def test_every_encoding_gets_a_known_class(raw):
    ins = classify(raw)
    assert ins.cls in CLASSES
    assert ins.nregs >= 1


def test_bad_length_is_rejected():
    import pytest

    with pytest.raises(ValueError):
        classify(b"\x00\x00\x00")
