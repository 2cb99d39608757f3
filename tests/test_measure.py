"""Boards and instruction counting: exact counts on QEMU (M4), the table-based cycle estimate, determinism,
and that M4 / M7 / M55 boards boot, print through semihosting and exit with the program's code."""

from __future__ import annotations

from pathlib import Path

import pytest

from convert.measure import build_elf, get_board, measure_elf, memory_usage, run_qemu
from convert.timing import CORTEX_M4, get_table
from train.errors import ConversionError

# The board example (firmware_templates/boards/examples/mix): a hand-written function with a known mix,
# per iteration 3 loads (LDR, LDR, LDRH), 2 SMLAD, 1 STR, SUBS and a conditional branch; stage 1 markers
# (same sequence as nb_stage.h) wrap the loop. main.c runs 4 hops with 10 + hop iterations.
EXAMPLE = Path(__file__).resolve().parent.parent / "firmware_templates" / "boards" / "examples" / "mix"
MIX_S = (EXAMPLE / "mix.S").read_text()
MAIN_C = (EXAMPLE / "main.c").read_text()

HELLO_C = r"""
#include <stdio.h>
int main(void) { printf("hello from noisebudget\n"); return 5; }
"""

FAULT_C = r"""
#include <stdint.h>
int main(void) { return (int)*(volatile uint32_t *)0xF0000000u; }
"""

NESTED_C = r"""
#include "nb_stage.h"
int nb_mix(int *data, int n);
static int data[4] = {1, 2, 3, 0};
int main(void) {
    int acc = 0;
    for (int hop = 0; hop < 3; hop++) {
        NB_HOP_BEGIN();
        NB_STAGE_BEGIN(5);
        acc += nb_mix(data, 4);
        NB_STAGE_BEGIN(2);
        for (volatile int i = 0; i < 3; i++) { acc ^= i; }
        NB_STAGE_END(2);
        NB_STAGE_END(5);
        NB_HOP_END();
    }
    return acc == 12345;
}
"""

BAD_MARKERS_C = r"""
#include "nb_stage.h"
int main(void) {
    NB_HOP_BEGIN();
    NB_STAGE_BEGIN(1);
    NB_STAGE_END(2);
    NB_HOP_END();
    return 0;
}
"""

NO_HOPS_C = r"""
#include "nb_stage.h"
int main(void) { NB_STAGE_BEGIN(1); NB_STAGE_END(1); return 0; }
"""

BOARDS = [("mps2-an386", "cortex-m4"), ("mps2-an500", "cortex-m7"), ("mps3-an547", "cortex-m55")]


@pytest.fixture(scope="module")
def mix_elf(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mix")
    (d / "mix.S").write_text(MIX_S)
    (d / "main.c").write_text(MAIN_C)
    return build_elf([d / "main.c", d / "mix.S"], "mps2-an386", d / "out")


def _mix_iteration_cycles(t) -> float:
    # ldr (2), ldr + ldrh pipelined after a load (1 each), 2 x smlad, str (after smlad: not pipelined), subs
    return t.cycles["load"] + 2 * t.pipelined_ldst + 2 * t.cycles["mac"] + t.cycles["store"] + t.cycles["other"]


def test_mix_counted_exactly_on_m4(mix_elf):
    m = measure_elf(mix_elf, board="mps2-an386", table="cortex-m4", stage_names={1: "mix", 2: "xor"}, warmup=1)
    assert m.exit_code == 0 and "acc=" in m.stdout
    assert m.hops_total == 4 and m.hops_measured == 3
    s1 = next(s for s in m.stages if s.id == 1)
    # hops 1..3 run 11, 12, 13 iterations: 1 (movs) + 8 per iteration, markers excluded
    per_hop = [1 + 8 * k for k in (11, 12, 13)]
    assert s1.insns_per_hop_mean == sum(per_hop) / 3
    assert s1.insns_per_hop_max == max(per_hop)
    assert s1.self_insns_per_hop == sum(per_hop) / 3
    iters = sum((11, 12, 13))
    assert s1.classes_per_hop == {
        "load": 3 * iters / 3,
        "store": iters / 3,
        "mac": 2 * iters / 3,
        "branch": iters / 3,
        "other": (3 + iters) / 3,
    }
    # every hop's count = the sum of what happened inside it (warm-up hop 0 runs 10 iterations)
    assert m.hop_insns[1] - m.hop_insns[0] == 8
    assert m.marker_insns == 4 * 2 * 3 * 4  # 4 instructions x (begin+end) x 3 stage ids (hop, 1, 2) x 4 hops


def test_mix_cycles_follow_the_m4_table(mix_elf):
    t = CORTEX_M4
    m = measure_elf(mix_elf, board="mps2-an386", table=t, stage_names={1: "mix"}, warmup=1)
    s1 = next(s for s in m.stages if s.id == 1)
    expected = []
    for k in (11, 12, 13):
        taken, not_taken = k - 1, 1
        expected.append(t.cycles["other"] + k * _mix_iteration_cycles(t) + t.branch_cycles(taken, not_taken))
    assert s1.cycles_per_hop == pytest.approx(sum(expected) / 3 * t.pipeline_factor)
    # factors are applied explicitly, never silently
    m2 = measure_elf(mix_elf, board="mps2-an386", table=t, warmup=1, pipeline_factor=2.0, calibration_factor=1.5)
    s1b = next(s for s in m2.stages if s.id == 1)
    assert s1b.cycles_per_hop == pytest.approx(sum(expected) / 3 * 3.0)
    assert s1b.insns_per_hop_mean == s1.insns_per_hop_mean


def test_counts_are_deterministic(mix_elf):
    a = measure_elf(mix_elf, board="mps2-an386", table="cortex-m4", warmup=1).to_dict()
    b = measure_elf(mix_elf, board="mps2-an386", table="cortex-m4", warmup=1).to_dict()
    for key in ("hop_insns", "classes_per_hop", "stages", "total_insns", "outside_insns", "cycles_per_hop_max"):
        assert a[key] == b[key], key


def test_warmup_changes_only_which_hops_count(mix_elf):
    m0 = measure_elf(mix_elf, board="mps2-an386", table="cortex-m4", warmup=0)
    m2 = measure_elf(mix_elf, board="mps2-an386", table="cortex-m4", warmup=2)
    assert m0.hop_insns == m2.hop_insns
    assert m0.hops_measured == 4 and m2.hops_measured == 2
    assert m0.insns_per_hop_mean == sum(m0.hop_insns) / 4
    assert m2.insns_per_hop_mean == sum(m0.hop_insns[2:]) / 2


@pytest.mark.parametrize("board,table", BOARDS)
def test_boards_boot_print_and_exit_with_code(tmp_path, board, table):
    (tmp_path / "hello.c").write_text(HELLO_C)
    elf = build_elf([tmp_path / "hello.c"], board, tmp_path / "out")
    r = run_qemu(elf, board, count=False, timeout_s=30)
    assert r.exit_code == 5
    assert "hello from noisebudget" in r.stdout
    assert get_board(board).cpu == get_table(table).name


@pytest.mark.parametrize("board,table", BOARDS)
def test_same_program_measures_on_every_board(mix_elf, tmp_path, board, table):
    (tmp_path / "mix.S").write_text(MIX_S)
    (tmp_path / "main.c").write_text(MAIN_C)
    elf = build_elf([tmp_path / "main.c", tmp_path / "mix.S"], board, tmp_path / "out")
    m = measure_elf(elf, board=board, table=table, warmup=1)
    assert [ln for ln in m.stdout.splitlines() if ln.startswith("NB_CYCLES")] == [
        f"NB_CYCLES hop={h} cycles=0"
        for h in range(4)  # QEMU's DWT CYCCNT reads 0
    ]
    s1 = next(s for s in m.stages if s.id == 1)
    assert s1.insns_per_hop_max == 1 + 8 * 13  # the hand-written function is the same code on every core


def test_fault_exits_with_3(tmp_path):
    (tmp_path / "fault.c").write_text(FAULT_C)
    elf = build_elf([tmp_path / "fault.c"], "mps2-an386", tmp_path / "out")
    r = run_qemu(elf, "mps2-an386", count=False, timeout_s=30)
    assert r.exit_code == 3 and "fault" in r.stdout + r.stderr


def test_memory_usage_from_elf(mix_elf):
    mem = memory_usage(mix_elf, mix_elf.parent / "obj")
    s = mem["sections"]
    assert mem["flash_bytes"] == s[".isr_vector"] + s[".text"] + s[".rodata"] + s[".data"] + sum(
        v for k, v in s.items() if k.startswith(".ARM.")
    )
    assert mem["stack_bytes"] and mem["stack_bytes"] > 0
    assert mem["ram_bytes"] == s[".data"] + s[".bss"] + s[".nb_marks"] + mem["stack_bytes"]


def test_nested_stages_are_inclusive(tmp_path):
    (tmp_path / "mix.S").write_text(MIX_S)
    (tmp_path / "nested.c").write_text(NESTED_C)
    elf = build_elf([tmp_path / "nested.c", tmp_path / "mix.S"], "mps2-an386", tmp_path / "out")
    m = measure_elf(elf, board="mps2-an386", table="cortex-m4", warmup=1)
    st = {s.id: s for s in m.stages}
    assert set(st) == {1, 2, 5}
    assert st[1].insns_per_hop_mean == 1 + 8 * 4
    outer = st[5]
    # inclusive = own glue code + the nested stages; cycles likewise
    assert outer.insns_per_hop_mean == outer.self_insns_per_hop + st[1].insns_per_hop_mean + st[2].insns_per_hop_mean
    assert outer.cycles_per_hop > st[1].cycles_per_hop + st[2].cycles_per_hop


@pytest.mark.parametrize("src,msg", [(BAD_MARKERS_C, "does not match"), (NO_HOPS_C, "no measured hop")])
def test_marker_errors_are_reported(tmp_path, src, msg):
    (tmp_path / "p.c").write_text(src)
    elf = build_elf([tmp_path / "p.c"], "mps2-an386", tmp_path / "out")
    with pytest.raises(ConversionError, match=msg):
        measure_elf(elf, board="mps2-an386", table="cortex-m4", warmup=0)


def test_m55_gathers_cost_per_element_and_vector_pairs_overlap():
    from convert.isa import Insn
    from convert.timing import CORTEX_M55

    t = CORTEX_M55

    def run(seq):
        return sum(t.insn_cycles(i, seq[k - 1] if k else None) for k, i in enumerate(seq))

    ld, st, op = Insn("mve_load"), Insn("mve_store"), Insn("mve")
    assert run([Insn("mve_gather", 16)]) == 16 and run([Insn("mve_scatter", 8)]) == 8
    assert run([op, op, op]) == 6 and run([ld, ld]) == 4  # same group: no overlap
    ov = t.mve_overlap
    assert ov is not None and ov < t.cycles["mve"]
    # a vector load/store right after vector arithmetic (or the reverse) overlaps its beats with it
    assert run([ld, op, ld, op]) == 2 + 3 * ov
    assert run([op, st]) == 2 + ov
    # gathers / scatters do not overlap, nor does anything right after them
    assert run([op, Insn("mve_gather", 4), op]) == 2 + 4 + 2
