"""Per-core timing tables: estimated cycles per instruction class (classes from `convert.isa`).

An estimate, not a simulation: instruction counts per class from the emulator times the cycle cost of
the class on an ideal zero-wait-state system. Effects the table cannot see (wait states of real flash,
dual issue, branch prediction, load-use stalls, interrupt load) are the explicit, configurable
`pipeline_factor` of each table (a multiplier on the total), plus the per-target calibration factor
from `noisebudget calibrate` (a board's DWT cycle counts divided by this estimate). Nothing is hidden:
`describe()` prints every number and its source.

Sources (Arm Technical Reference Manuals):
- Cortex-M4: "Arm Cortex-M4 Processor Technical Reference Manual" r0p1 (ARM 100166_0001_00), section 3.3.1
  "Table of processor instructions", Table 3-1 (cycle counts, zero wait states; P = pipeline refill,
  1..3 cycles; N = registers transferred; loads 2 cycles, neighbouring single loads/stores pipeline to 1;
  MUL/MLA/MLS/SMULL/SMLAL and all DSP multiplies 1; SDIV/UDIV 2..12), and section 7.2.3 (FPU instruction
  cycle counts: VADD/VMUL 1, VMLA/VFMA 3, VDIV/VSQRT 14, VLDR/VSTR 2, VLDM/VSTM 1+N).
- Cortex-M7: "Arm Cortex-M7 Processor Technical Reference Manual" r1p2 (ARM DDI 0489F), section 1.2
  "Features" (six-stage superscalar in-order pipeline with dual issue, branch prediction, single-cycle
  64-bit TCM loads, single-cycle MAC). The TRM publishes no per-instruction cycle table, so the costs
  below are single-issue costs of that pipeline and `pipeline_factor` < 1 stands for dual issue; it is an
  assumption to be calibrated on a board.
- Cortex-M55: "Arm Cortex-M55 Processor Technical Reference Manual" r1p0 (ARM 101051), chapter 1
  "Introduction" / "Features" (Armv8.1-M with MVE (Helium), four-stage scalar pipeline, 64-bit
  datapath: a 128-bit MVE instruction takes 2 beats-pairs, i.e. 2 cycles, and overlaps with the next
  MVE instruction of the other kind (load vs. arithmetic); low-overhead-branch loops with a loop cache).
  Per-instruction scalar costs follow the Armv8-M mainline four-stage pipeline of the same family.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from convert.isa import CLASSES, Insn


@dataclass(frozen=True)
class TimingTable:
    name: str
    core: str
    source: str
    cycles: dict[str, float]  # cost of one execution of a class (for *_multiple: the fixed part)
    per_reg: dict[str, float] = field(default_factory=dict)  # added per register for multiple transfers
    branch_not_taken: float = 1.0
    pipeline_refill: float = 2.0  # P: extra cycles when a branch is taken or PC is loaded
    pipelined_ldst: float | None = None  # cost of a load/store single right after another one
    mve_overlap: float | None = None  # cost of an MVE instruction right after an MVE one of the other group
    pipeline_factor: float = 1.0  # multiplier on the total for effects the table cannot see
    notes: tuple[str, ...] = ()

    def insn_cycles(self, insn: Insn, prev: Insn | None) -> float:
        """Cycles of one execution of `insn` that does not end its block in a branch (see branch_cycles)."""
        c = self.cycles[insn.cls]
        if insn.cls in self.per_reg:
            c += self.per_reg[insn.cls] * insn.nregs
        if (
            self.pipelined_ldst is not None
            and insn.cls in ("load", "store", "fpu_load", "fpu_store")
            and insn.nregs == 1
            and prev is not None
            and prev.cls in ("load", "store", "fpu_load", "fpu_store")
            and prev.nregs == 1
        ):
            c = self.pipelined_ldst
        if (
            self.mve_overlap is not None
            and insn.cls in _MVE
            and prev is not None
            and prev.cls in _MVE
            and (insn.cls == "mve") != (prev.cls == "mve")
        ):
            c = self.mve_overlap
        if insn.writes_pc:
            c += self.pipeline_refill
        return c

    def branch_cycles(self, taken: int, not_taken: int) -> float:
        return taken * (self.cycles["branch"] + self.pipeline_refill) + not_taken * self.branch_not_taken

    def with_factor(self, pipeline_factor: float) -> TimingTable:
        return replace(self, pipeline_factor=pipeline_factor)

    def describe(self) -> str:
        lines = [f"timing table {self.name} ({self.core}); source: {self.source}"]
        for cls in CLASSES:
            extra = f" + {self.per_reg[cls]}/register" if cls in self.per_reg else ""
            lines.append(f"  {cls:15s} {self.cycles[cls]:g}{extra}")
        lines.append(
            f"  branch taken = branch + P; P = {self.pipeline_refill:g}; not taken = {self.branch_not_taken:g}"
        )
        if self.pipelined_ldst is not None:
            lines.append(f"  load/store single after a load/store single: {self.pipelined_ldst:g}")
        if self.mve_overlap is not None:
            lines.append(f"  MVE memory <-> data-processing insn right after the other: {self.mve_overlap:g}")
        lines.append(f"  pipeline_factor = {self.pipeline_factor:g}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


_MVE = ("mve", "mve_load", "mve_store")  # the classes the beat overlap applies to (not gathers / scatters)


def _full(d: dict[str, float]) -> dict[str, float]:
    missing = set(CLASSES) - set(d)
    if missing:
        raise ValueError(f"timing table lacks classes {sorted(missing)}")
    return d


CORTEX_M4 = TimingTable(
    name="cortex-m4",
    core="Cortex-M4",
    source="Arm Cortex-M4 TRM r0p1 (ARM 100166_0001_00) s3.3.1 Table 3-1; s7.2.3 (FPU)",
    cycles=_full(
        {
            "other": 1,
            "load": 2,
            "store": 2,
            "load_multiple": 1,
            "store_multiple": 1,
            "mul": 1,
            "mac": 1,
            "mul_long": 1,
            "mac_long": 1,
            "divide": 12,  # 2..12 with early termination: worst case (budget gate)
            "branch": 1,
            "barrier": 3,  # ISB: 1 + B, B >= a pipeline refill (P = 2)
            "fpu": 1,
            "fpu_mac": 3,
            "fpu_div": 14,
            "fpu_load": 1,  # + 1 per register: VLDR/VSTR 2, VLDM/VSTM/VPUSH/VPOP 1 + N
            "fpu_store": 1,
            "mve": 1,  # not in Armv7E-M (never executed on M4)
            "mve_load": 1,
            "mve_store": 1,
            "mve_gather": 1,
            "mve_scatter": 1,
            "loop": 1,
        }
    ),
    per_reg={"load_multiple": 1, "store_multiple": 1, "fpu_load": 1, "fpu_store": 1},
    branch_not_taken=1,
    pipeline_refill=2,  # P ranges 1..3 (alignment/width of the target): middle value
    pipelined_ldst=1,
    notes=(
        "LDR/STR 2, but a load/store single right after another costs 1 (Table 3-1 footnote b); not "
        "modelled: STR with register offset blocks that pairing, LDR PC-relative fetch contention",
        "no flash wait states: an STM32L4 at 80 MHz has 4 wait states hidden by its ART accelerator for "
        "sequential code; misses are part of pipeline_factor / calibration",
    ),
)

CORTEX_M7 = TimingTable(
    name="cortex-m7",
    core="Cortex-M7",
    source="Arm Cortex-M7 TRM r1p2 (ARM DDI 0489F) s1.2 Features (no per-instruction table published)",
    cycles=_full(
        {
            "other": 1,
            "load": 1,
            "store": 1,
            "load_multiple": 1,
            "store_multiple": 1,
            "mul": 1,
            "mac": 1,
            "mul_long": 1,
            "mac_long": 1,
            "divide": 10,  # iterative divider, early termination: near-worst case
            "branch": 1,
            "barrier": 6,  # ISB flushes the 6-stage pipeline
            "fpu": 1,
            "fpu_mac": 1,  # pipelined FMA (double-precision FPU, fpv5-d16)
            "fpu_div": 14,
            "fpu_load": 1,
            "fpu_store": 1,
            "mve": 1,
            "mve_load": 1,
            "mve_store": 1,
            "mve_gather": 1,
            "mve_scatter": 1,
            "loop": 1,
        }
    ),
    per_reg={"load_multiple": 0.5, "store_multiple": 0.5, "fpu_load": 0.5, "fpu_store": 0.5},  # 64-bit path
    branch_not_taken=1,
    pipeline_refill=1,  # mostly predicted branches (BTAC); mispredicts cost ~8: in pipeline_factor
    pipeline_factor=0.8,  # dual issue (assumption: calibrate on a board)
    notes=("dual issue modelled only by pipeline_factor=0.8 (assumption; calibrate with a board run)",),
)

CORTEX_M55 = TimingTable(
    name="cortex-m55",
    core="Cortex-M55",
    source="Arm Cortex-M55 TRM r1p0 (ARM 101051) ch. 1 Introduction/Features (MVE beats, LOB)",
    cycles=_full(
        {
            "other": 1,
            "load": 1,  # single-cycle issue from DTCM on the 64-bit interface; load-use stalls in factor
            "store": 1,
            "load_multiple": 1,
            "store_multiple": 1,
            "mul": 1,
            "mac": 1,
            "mul_long": 1,
            "mac_long": 1,
            "divide": 11,
            "branch": 1,
            "barrier": 4,
            "fpu": 1,
            "fpu_mac": 1,
            "fpu_div": 14,
            "fpu_load": 1,
            "fpu_store": 1,
            "mve": 2,  # 128-bit vector on a 64-bit datapath (dual-beat): 2 cycles
            "mve_load": 2,
            "mve_store": 2,
            "mve_gather": 0,  # + 1 per element (per_reg): one memory access per element
            "mve_scatter": 0,
            "loop": 1,  # LE with the loop cache: no refill
        }
    ),
    per_reg={"load_multiple": 1, "store_multiple": 1, "fpu_load": 0.5, "fpu_store": 0.5, "mve_gather": 1,
             "mve_scatter": 1},
    branch_not_taken=1,
    pipeline_refill=2,
    pipeline_factor=1.0,
    mve_overlap=1,
    notes=(
        "MVE beat overlap: a vector load/store right after vector data processing (or the reverse) starts "
        "while the other finishes, so it adds 1 cycle, not 2 (dual-beat overlap of different instruction "
        "groups: Arm Cortex-M55 TRM ch. 1 and Arm's Helium optimization guide, Arm-Examples/Helium-Optimization); "
        "data processing after data processing, or a load after a load, does not overlap",
        "gathers / scatters (VLDR/VSTR with vector offsets or addresses): one memory access per element, "
        "1 cycle each, never overlapped (assumption: no public per-instruction table; calibrate on a board)",
    ),
)

TABLES: dict[str, TimingTable] = {t.name: t for t in (CORTEX_M4, CORTEX_M7, CORTEX_M55)}


def get_table(name: str) -> TimingTable:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown timing table '{name}' (known: {', '.join(sorted(TABLES))})") from None
