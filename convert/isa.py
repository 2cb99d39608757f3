"""Classify Thumb / Thumb-2 instructions (Armv7-M, Armv7E-M DSP, Armv8-M, Armv8.1-M incl. MVE) into timing classes.

`classify(raw: bytes) -> Insn` takes the 2 or 4 raw bytes of one instruction (little-endian halfwords, as
QEMU reports them) and returns its class and, for multiple transfers, how many registers move.
Encodings follow the Armv7-M Architecture Reference Manual (ARM DDI 0403E, chapter A5 "The Thumb
Instruction Set Encoding") and the Armv8-M Architecture Reference Manual (ARM DDI 0553, chapter C2,
incl. the MVE and low-overhead-branch encodings of Armv8.1-M).

Classes (see `CLASSES`): load / store (single transfers), load_multiple / store_multiple (LDM, STM,
PUSH, POP, LDRD, STRD: `nregs` set), mul, mac (32-bit multiply-accumulate incl. DSP SMLAD/SMLAxy),
mul_long / mac_long (64-bit results), divide, branch (incl. returns: POP/LDM/LDR to PC), barrier,
fpu, fpu_mac, fpu_div, fpu_load / fpu_store (VLDR/VSTR; VLDM/VSTM/VPUSH/VPOP with nregs), mve,
mve_load, mve_store (contiguous vector loads/stores incl. VLD2x/VLD4x/VST2x/VST4x), mve_gather / mve_scatter
(VLDR/VSTR with a vector of offsets or addresses: `nregs` = elements moved), loop (Armv8.1-M WLS/DLS/LE),
other (data processing, moves, IT, hints, system).
A branch's taken / not-taken outcome comes from the emulator (the next executed block).
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSES = (
    "load",
    "store",
    "load_multiple",
    "store_multiple",
    "mul",
    "mac",
    "mul_long",
    "mac_long",
    "divide",
    "branch",
    "barrier",
    "fpu",
    "fpu_mac",
    "fpu_div",
    "fpu_load",
    "fpu_store",
    "mve",
    "mve_load",
    "mve_store",
    "mve_gather",
    "mve_scatter",
    "loop",
    "other",
)


@dataclass(frozen=True)
class Insn:
    cls: str
    nregs: int = 1  # registers transferred (multiple loads/stores), else 1
    writes_pc: bool = False  # a load that writes PC (return) also refills the pipeline


def _popcount(x: int) -> int:
    return bin(x).count("1")


def is_32bit(hw1: int) -> bool:
    """A halfword starting a 32-bit Thumb-2 instruction (top 5 bits 0b11101, 0b11110 or 0b11111)."""
    return (hw1 >> 11) in (0b11101, 0b11110, 0b11111)


def classify(raw: bytes) -> Insn:
    if len(raw) == 2:
        return _classify16(int.from_bytes(raw, "little"))
    if len(raw) == 4:
        hw1 = int.from_bytes(raw[0:2], "little")
        hw2 = int.from_bytes(raw[2:4], "little")
        return _classify32(hw1, hw2)
    raise ValueError(f"a Thumb instruction has 2 or 4 bytes, got {len(raw)}")


def _classify16(h: int) -> Insn:
    top6 = h >> 10
    if h >> 13 == 0b000 or h >> 13 == 0b001:  # shift/add/sub/mov/cmp immediate
        return Insn("other")
    if top6 == 0b010000:  # data processing (register)
        return Insn("mul") if (h & 0xFFC0) == 0x4340 else Insn("other")
    if top6 == 0b010001:  # special data processing, BX, BLX
        if (h & 0xFF00) == 0x4700:
            return Insn("branch")
        if (h & 0xFF00) in (0x4400, 0x4600) and (h & 0x87) == 0x87:  # ADD/MOV with Rd = PC
            return Insn("branch")
        return Insn("other")
    if h >> 11 == 0b01001:  # LDR (literal)
        return Insn("load")
    if h >> 12 == 0b0101:  # load/store register offset
        opb = (h >> 9) & 0x7
        return Insn("store") if opb in (0, 1, 2) else Insn("load")
    if h >> 13 == 0b011 or h >> 12 == 0b1000 or h >> 12 == 0b1001:  # load/store immediate, SP-relative
        return Insn("load") if h & 0x0800 else Insn("store")
    if h >> 12 == 0b1010:  # ADR, ADD SP
        return Insn("other")
    if h >> 12 == 0b1011:  # miscellaneous
        if (h & 0xFE00) == 0xB400:  # PUSH
            return Insn("store_multiple", _popcount(h & 0x1FF))
        if (h & 0xFE00) == 0xBC00:  # POP
            pc = bool(h & 0x100)
            return Insn("load_multiple", _popcount(h & 0x1FF), writes_pc=pc)
        if (h & 0xF500) == 0xB100:  # CBZ, CBNZ
            return Insn("branch")
        return Insn("other")  # IT, hints, BKPT, extend, REV, CPS, ADD/SUB SP
    if h >> 11 == 0b11000:  # STM
        return Insn("store_multiple", max(1, _popcount(h & 0xFF)))
    if h >> 11 == 0b11001:  # LDM
        return Insn("load_multiple", max(1, _popcount(h & 0xFF)))
    if h >> 12 == 0b1101:  # B<cond>, UDF, SVC
        cond = (h >> 8) & 0xF
        return Insn("other") if cond in (0xE, 0xF) else Insn("branch")
    if h >> 11 == 0b11100:  # B
        return Insn("branch")
    return Insn("other")


def _classify32(hw1: int, hw2: int) -> Insn:
    op1 = (hw1 >> 11) & 0x3
    op2 = (hw1 >> 4) & 0x7F
    # Coprocessor / floating-point / MVE space: 111x 11xx xxxx xxxx
    if (hw1 & 0xEC00) == 0xEC00:
        return _classify_coproc(hw1, hw2)
    if op1 == 0b01:
        if (op2 & 0b1100100) == 0b0000000:  # load/store multiple
            n = _popcount(hw2 & 0xFFFF)
            if hw1 & 0x0010:
                return Insn("load_multiple", max(1, n), writes_pc=bool(hw2 & 0x8000))
            return Insn("store_multiple", max(1, n))
        if (op2 & 0b1100100) == 0b0000100:  # load/store dual or exclusive, table branch
            if (hw1 & 0xFFF0) == 0xE8D0 and (hw2 & 0xFFE0) == 0xF000:  # TBB, TBH
                return Insn("branch")
            dual = bool(hw1 & 0x0120)  # LDRD/STRD have P or W set; LDREX/STREX/TBB family neither
            load = bool(hw1 & 0x0010)
            if dual:
                return Insn("load_multiple" if load else "store_multiple", 2)
            return Insn("load" if load else "store")
        return Insn("other")  # data processing (shifted register), incl. MVE scalar shifts
    if op1 == 0b10:
        if not hw2 & 0x8000:
            return Insn("other")  # data processing (immediate)
        op = (hw1 >> 4) & 0x7F
        if hw2 == 0xE801 and (hw1 & 0xFFC0) == 0xF000:  # Armv8.1-M VCTP (MVE tail predication)
            return Insn("mve")
        if (hw2 & 0xD000) == 0xC000:  # Armv8.1-M low-overhead branches: WLS, DLS, LE, LETP
            return Insn("loop")
        if (hw2 & 0x5000) == 0x0000:  # B<cond>.W (T3) or misc control
            if (op & 0b0111000) != 0b0111000:
                return Insn("branch")
            if hw1 == 0xF3BF and (hw2 & 0xFF00) == 0x8F00:  # DSB, DMB, ISB, CLREX
                return Insn("barrier")
            return Insn("other")  # MSR, MRS, hints, CPS
        return Insn("branch")  # B.W (T4), BL
    # op1 == 0b11
    if (op2 & 0b1110001) == 0b0000000:  # store single
        return Insn("store")
    if (op2 & 0b1100000) == 0b0000000:  # loads (byte, halfword, word) and preload hints
        rt = (hw2 >> 12) & 0xF
        if rt == 0xF and (op2 & 0b0000110) != 0b0000100:  # PLD/PLI (Rt = PC, not LDR)
            return Insn("other")
        return Insn("load", writes_pc=(rt == 0xF))
    if (op2 & 0b1110000) == 0b0100000:  # data processing (register), parallel add/sub, misc
        return Insn("other")
    if (op2 & 0b1111000) == 0b0110000:  # multiply, multiply-accumulate, absolute difference
        ra = (hw2 >> 12) & 0xF
        return Insn("mul") if ra == 0xF else Insn("mac")
    if (op2 & 0b1111000) == 0b0111000:  # long multiply, long multiply-accumulate, divide
        op = (hw1 >> 4) & 0x7
        if op in (0b001, 0b011) and (hw2 & 0xF0) == 0xF0:
            return Insn("divide")
        if op in (0b000, 0b010):
            return Insn("mul_long")
        return Insn("mac_long")
    return Insn("other")


def _classify_coproc(hw1: int, hw2: int) -> Insn:
    coproc = (hw2 >> 8) & 0xF
    # MVE vector data processing in the former Advanced SIMD space (111x 1111 ...)
    if (hw1 & 0xEF00) == 0xEF00:
        return Insn("mve")
    if coproc in (0b1110, 0b1111):  # MVE (Armv8.1-M) uses the coprocessor 14/15 encoding space
        if (hw1 & 0x0E00) == 0x0C00:  # load/store shape (VLDR*/VSTR*, VLD2x/VLD4x, VST2x/VST4x)
            load = bool(hw1 & 0x0010)
            if (hw1 & 0xFFE0) == 0xEC00 and (hw2 & 0x1F00) == 0x0F00:  # VMOV two lanes <-> two core registers
                return Insn("mve")
            if not hw1 & 0x0120 and hw1 & 0x0080 and not hw2 & 0x1000:  # P = W = 0: VLDR/VSTR [Rn, Qm] (offsets)
                n = 16 >> ((hw2 >> 7) & 0x3)  # lanes of the register: 8/16/32/64-bit elements
                return Insn("mve_gather" if load else "mve_scatter", n)
            if (hw1 & 0xFF00) == 0xFD00 and hw2 & 0x1000:  # VLDRW/VLDRD/VSTRW/VSTRD [Qm, #imm] (addresses)
                return Insn("mve_gather" if load else "mve_scatter", 2 if hw2 & 0x0100 else 4)
            return Insn("mve_load" if load else "mve_store")
        return Insn("mve")
    if coproc in (0b1010, 0b1011):  # floating point (VFP)
        if (hw1 & 0x0E00) == 0x0C00:  # extension register load/store and 64-bit transfers
            if (hw1 & 0xFFE0) in (0xEC40, 0xFC40):  # VMOV between two core registers and D/S regs
                return Insn("fpu")
            load = bool(hw1 & 0x0010)
            p, w = bool(hw1 & 0x0100), bool(hw1 & 0x0020)
            if p and not w:  # VLDR / VSTR
                return Insn("fpu_load" if load else "fpu_store")
            imm8 = hw2 & 0xFF
            n = imm8 // 2 if coproc == 0b1011 else imm8
            return Insn("fpu_load" if load else "fpu_store", max(1, n))
        if (hw1 & 0x0F00) == 0x0E00 and not hw2 & 0x0010:  # VFP data processing
            opc1 = ((hw1 >> 4) & 0x8) | ((hw1 >> 4) & 0x3)
            if (opc1 & 0b1011) == 0b1000:  # VDIV
                return Insn("fpu_div")
            if (opc1 & 0b1011) == 0b1011 and (hw1 & 0xF) == 0b0001 and (hw2 & 0xC0) == 0xC0:  # VSQRT
                return Insn("fpu_div")
            if (opc1 & 0b1011) in (0b0000, 0b0001) or (opc1 & 0b1011) == 0b1010:  # VMLA/VMLS/VNMLx/VFMx
                return Insn("fpu_mac")
            return Insn("fpu")
        return Insn("fpu")  # VMOV core<->FP, VMRS/VMSR
    return Insn("other")  # other coprocessor instructions
