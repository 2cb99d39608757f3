"""Measure the board example (firmware_templates/boards/examples/mix) on every QEMU board.

    .venv/bin/python benchmarks/measure_boards.py [--out runs/bench_measure_boards]

Prints per board: instructions per hop and in stage 1 (the hand-written SMLAD loop), estimated cycles
per hop from each core's timing table, QEMU run time and whole measure time (build + run + analysis);
writes measure JSONs, a table (table.txt) and a bar plot (cycles.png) to the output folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from convert.measure import TEMPLATES, build_elf, measure_elf
from train.atomic import atomic_write_json, atomic_write_text

BOARDS = [("mps2-an386", "cortex-m4"), ("mps2-an500", "cortex-m7"), ("mps3-an547", "cortex-m55")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench_measure_boards"))
    args = ap.parse_args()
    ex = TEMPLATES / "boards" / "examples" / "mix"
    rows = []
    for board, table in BOARDS:
        t0 = time.perf_counter()
        elf = build_elf([ex / "main.c", ex / "mix.S"], board, args.out / board)
        t1 = time.perf_counter()
        m = measure_elf(elf, board=board, table=table, stage_names={1: "mix", 2: "xor"}, warmup=1)
        t2 = time.perf_counter()
        atomic_write_json(args.out / board / "measure.json", m.to_dict())
        s1 = next(s for s in m.stages if s.id == 1)
        rows.append(
            (
                board,
                table,
                m.hop_insns,
                s1.insns_per_hop_max,
                s1.cycles_per_hop,
                m.insns_per_hop_mean,
                m.cycles_per_hop_mean,
                m.run_seconds,
                t1 - t0,
                t2 - t1,
            )
        )
    head = (
        f"{'board':12s} {'table':11s} {'hop insns (all hops)':24s} {'stage1 max':>10s} {'stage1 cyc':>10s} "
        f"{'insns/hop':>9s} {'cyc/hop':>8s} {'qemu s':>7s} {'build s':>7s} {'measure s':>9s}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r[0]:12s} {r[1]:11s} {str(r[2]):24s} {r[3]:10d} {r[4]:10.1f} {r[5]:9.1f} {r[6]:8.1f} "
            f"{r[7]:7.2f} {r[8]:7.2f} {r[9]:9.2f}"
        )
    text = "\n".join(lines)
    print(text)
    atomic_write_text(args.out / "table.txt", text + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([r[1] for r in rows], [r[6] for r in rows], color="#4c72b0", label="est. cycles/hop")
    ax.bar([r[1] for r in rows], [r[5] for r in rows], color="none", edgecolor="k", label="instructions/hop")
    ax.set_ylabel("per hop (measured hops)")
    ax.set_title("board example: estimate per core (QEMU counts x TRM tables)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "cycles.png", dpi=120)
    print(f"wrote {args.out}/table.txt, cycles.png")


if __name__ == "__main__":
    main()
