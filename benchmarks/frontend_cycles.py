"""Cost of the C front end (firmware_templates/frontend) per 10 ms hop on the QEMU Cortex-M boards.

    .venv/bin/python benchmarks/frontend_cycles.py [--out runs/benchmarks/frontend] [--hops 50]
                                                   [--baseline-ref a704ac4]

Builds a minimal bare-metal app per (version, bands, board): the front end rendered by
convert.frontend_c (the "after" = the working tree; the "before" = the radix-2 front end of git
`--baseline-ref`, rendered by that commit's own convert/frontend_c.py and templates), run over `--hops`
hops of a synthetic speech-like clip (plus one warm-up hop) inside NB_STAGE 1, counted by the QEMU
plugin (convert.measure) and converted to estimated cycles by each core's timing table. The app also
prints a checksum of all features, compared with the numpy reference (train.frontend.features_numpy).
Prints a table, writes table.txt, results.json and cycles.png to --out.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from convert.frontend_c import render_frontend
from convert.measure import REPO, build_elf, measure_elf
from train.atomic import atomic_write_json, atomic_write_text
from train.frontend import FrontEndSpec, features_numpy

BOARDS = [("mps2-an386", "cortex-m4"), ("mps2-an500", "cortex-m7"), ("mps3-an547", "cortex-m55")]
BANDS = (40, 16)
BASELINE_REF = "a704ac4"  # last commit with the radix-2 front end

MAIN_C = r"""
#include <stdio.h>
#include "nb_frontend.h"
#include "nb_stage.h"
#include "clip.h"
int main(void) {
    static nb_frontend_t fe;
    static float feat[NB_FE_BANDS];
    double sum = 0.0;
    nb_frontend_init(&fe);
    for (int hop = 0; hop < CLIP_HOPS; ++hop) {
        NB_HOP_BEGIN();
        NB_STAGE_BEGIN(1);
        nb_frontend_process(&fe, clip + hop * NB_FE_HOP, feat);
        NB_STAGE_END(1);
        NB_HOP_END();
        for (int m = 0; m < NB_FE_BANDS; ++m) sum += feat[m];
    }
    printf("FEATSUM %ld\n", (long)(sum * 1000.0)); /* nano printf: no %f */
    return 0;
}
"""


def speechlike(n: int, seed: int = 0) -> np.ndarray:
    """Harmonic voiced segments with a gliding pitch, gated on/off, plus a little noise (int16)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = 120 + 40 * np.sin(2 * np.pi * 3 * t)
    x = sum(np.sin(2 * np.pi * h * np.cumsum(f0) / 16000) / h for h in range(1, 12))
    x = x * (np.sin(2 * np.pi * 2 * t) > 0) + 0.01 * rng.normal(size=n)
    return np.clip(x / np.max(np.abs(x)) * 12000, -32768, 32767).astype(np.int16)


def clip_header(pcm: np.ndarray, hops: int) -> str:
    vals = ", ".join(str(int(v)) for v in pcm)
    return f"#include <stdint.h>\n#define CLIP_HOPS {hops}\nstatic const int16_t clip[{pcm.size}] = {{ {vals} }};\n"


def render_baseline(ref: str, spec: FrontEndSpec, bands: int, out: Path) -> None:
    """Render the front end exactly as commit `ref` did (its templates + its convert/frontend_c.py)."""
    tdir = out / "baseline_templates"
    tdir.mkdir(parents=True, exist_ok=True)
    for name in ("nb_frontend.h", "nb_frontend.c", "nb_frontend_config.h.j2", "nb_frontend_tables.c.j2"):
        src = subprocess.run(["git", "show", f"{ref}:firmware_templates/frontend/{name}"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
        (tdir / name).write_text(src)
    code = subprocess.run(["git", "show", f"{ref}:convert/frontend_c.py"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout
    ns: dict = {"__name__": "frontend_c_baseline", "__file__": str(REPO / "convert" / "frontend_c.py")}
    exec(compile(code, f"{ref}:convert/frontend_c.py", "exec"), ns)  # noqa: S102 - our own repository history
    ns["FRONTEND_DIR"] = tdir
    ns["render_frontend"](spec, bands, out / "src")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/benchmarks/frontend"))
    ap.add_argument("--hops", type=int, default=50)
    ap.add_argument("--baseline-ref", default=BASELINE_REF, help="git commit of the 'before' front end")
    args = ap.parse_args()
    spec = FrontEndSpec()
    pcm = speechlike((args.hops + 1) * spec.hop_length)
    ref_feats = {b: features_numpy(pcm.astype(np.float64) / 32768.0, spec, n_bands=b) for b in BANDS}
    jobs = [(v, b, board, table) for v in ("before", "after") for b in BANDS for board, table in BOARDS]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fecycles.") as td:
        for version, bands, board, table in tqdm(jobs, desc="build + QEMU"):
            work = Path(td) / f"{version}_{bands}_{board}"
            if version == "before":
                render_baseline(args.baseline_ref, spec, bands, work)
            else:
                render_frontend(spec, bands, work / "src")
            src = work / "src"
            (src / "main.c").write_text(MAIN_C)
            (src / "clip.h").write_text(clip_header(pcm, args.hops + 1))
            elf = build_elf([src / "main.c", src / "nb_frontend.c", src / "nb_frontend_tables.c"], board,
                            work / "build", include_dirs=[src], opt="-O2")
            m = measure_elf(elf, board=board, table=table, stage_names={1: "frontend"}, warmup=1,
                            timeout_s=300)
            st = next(s for s in m.stages if s.id == 1)
            line = next((ln for ln in m.stdout.splitlines() if ln.startswith("FEATSUM")), "FEATSUM nan")
            featsum = float(line.split()[1]) / 1000.0
            rows.append({
                "version": version, "bands": bands, "board": board, "core": table,
                "insns_per_hop": st.insns_per_hop_mean, "insns_per_hop_max": st.insns_per_hop_max,
                "cycles_per_hop": st.cycles_per_hop, "featsum": featsum,
                "featsum_numpy": float(ref_feats[bands].sum()),
                "flash_bytes": m.memory["flash_bytes"], "static_ram_bytes": m.memory["static_ram_bytes"],
            })
    head = (f"{'version':8s} {'bands':>5s} {'core':11s} {'insns/hop':>10s} {'est.cyc/hop':>11s} "
            f"{'flash B':>8s} {'RAM B':>6s} {'featsum C':>12s} {'featsum numpy':>13s}")
    lines = [f"front end per hop ({args.hops} measured hops, -O2; before = {args.baseline_ref})", head]
    for r in rows:
        lines.append(
            f"{r['version']:8s} {r['bands']:5d} {r['core']:11s} {r['insns_per_hop']:10.1f} "
            f"{r['cycles_per_hop']:11.0f} {r['flash_bytes']:8d} {r['static_ram_bytes']:6d} "
            f"{r['featsum']:12.3f} {r['featsum_numpy']:13.3f}"
        )
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "table.txt", text + "\n")
    atomic_write_json(args.out / "results.json", {"hops": args.hops, "baseline_ref": args.baseline_ref,
                                                  "rows": rows})

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BANDS), figsize=(10, 3.8), sharey=True)
    for ax, bands in zip(axes, BANDS, strict=True):
        cores = [t for _, t in BOARDS]
        x = np.arange(len(cores))
        for i, (version, color) in enumerate((("before", "#c44e52"), ("after", "#4c72b0"))):
            vals = [next(r["cycles_per_hop"] for r in rows if r["version"] == version and r["bands"] == bands
                         and r["core"] == c) for c in cores]
            ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, color=color, label=version)
            for xi, v in zip(x, vals, strict=True):
                ax.text(xi + (i - 0.5) * 0.38, v, f"{v / 1000:.1f}k", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, cores)
        ax.set_title(f"{bands} bands")
        ax.axhline(15000, color="k", ls=":", lw=1)
    axes[0].set_ylabel("est. cycles per 10 ms hop")
    axes[0].legend()
    fig.suptitle("C front end: QEMU instruction counts x timing tables (dotted: 15k target)")
    fig.tight_layout()
    fig.savefig(args.out / "cycles.png", dpi=120)
    print(f"wrote {args.out}/table.txt, results.json, cycles.png")


if __name__ == "__main__":
    main()
