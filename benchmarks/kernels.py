"""Kernel speed on Cortex-M4, M7 and M55: reference C kernels vs DSP (SMLAD) / MVE (Helium) variants.

    .venv/bin/python benchmarks/kernels.py [--model /work/shared/models/kws_ref_model.tflite ...]
                                          [--cpus cortex-m4,cortex-m7,cortex-m55] [--out runs/bench_kernels]

A minimal runner (independent of the code generator): the model's ops run one after the other through
the C kernels on the QEMU board of each CPU, each op inside its own NB_STAGE marker, with its real input
activations (computed on the host by the reference kernels, bit-exact to TFLM) embedded as data. Two
hops, the first is warm-up. Every op's output on the target is checked against the host reference.
Instructions and estimated cycles (convert.measure + convert.timing tables: an estimate, see there) per
op and for the whole model, divided by the op's MACs (TFLite convention; ops without MACs count in the
whole-model total only). Writes table.txt, kernels.json and cycles_per_mac.png to --out.
Besides every --model, the newest VAD model under runs/ (runs/**/model_int8.tflite or *.tflite) is added
when one exists.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convert import kernel_variants as kv  # noqa: E402
from convert.measure import build_elf, measure_elf  # noqa: E402
from train.atomic import atomic_write_json, atomic_write_text  # noqa: E402

KWS = Path("/work/shared/models/kws_ref_model.tflite")
BOARDS = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}
SCRATCH = 16384


def op_macs(op) -> int:
    out = op.outputs[0].shape
    if op.name == "CONV_2D":
        w = op.inputs[1].shape
        return int(np.prod(out)) * w[1] * w[2] * w[3]
    if op.name == "DEPTHWISE_CONV_2D":
        w = op.inputs[1].shape
        return int(np.prod(out)) * w[1] * w[2]
    if op.name == "FULLY_CONNECTED":
        w = op.inputs[1].shape
        return int(np.prod(out)) * w[1]
    return 0


def model_cases(buf: bytes, seed: int = 0):
    """[(op name, CCase, expected output)] for every op of the model, chained on the host."""
    import tests.test_kernels_a  # noqa: F401  (registers the KernelSpecs)
    import tests.test_kernels_b  # noqa: F401
    from tests import kernel_harness as kh

    pm = kh.parse_model(buf)
    rng = np.random.default_rng(seed)
    values = {t.index: x for t, x in zip(pm.inputs, kh.random_inputs(buf, rng), strict=True)}
    cases = []
    for op in pm.ops:
        kspec = kh.REGISTRY[op.name]
        case = kspec.c_case(op, [values[t.index] for t in op.inputs if t is not None and t.data is None])
        drv = kh.build_driver(kspec.c_body, kspec.c_sources, kspec.c_includes)
        (o,) = drv.run([case])
        out_t = op.outputs[0]
        values[out_t.index] = np.frombuffer(o, dtype=out_t.dtype).reshape(out_t.shape)
        cases.append((op.name, case, values[out_t.index]))
    return pm, cases


def measure_model(buf: bytes, cpu: str, optimized: bool, work: Path):
    """Per-op stage results of the model on `cpu`; checks outputs against the host reference."""
    from tests import kernel_harness as kh
    from tests.test_kernels_target import firmware_source, parse_outputs

    pm, cases = model_cases(buf)
    names = list(dict.fromkeys(n for n, _, _ in cases))
    kspecs = {n: kh.REGISTRY[n] for n in names}
    main, data = firmware_source(cases, kspecs, stages=True, hops=2)
    work.mkdir(parents=True, exist_ok=True)
    (work / "kb_main.c").write_text(main)
    (work / "kb_cases.c").write_text(data)
    srcs: list[Path] = []
    for n in names:
        v = kv.variant_sources(n, cpu) if optimized else []
        srcs += v or [kv.KERNELS_DIR / s for s in kspecs[n].c_sources]
    if optimized:
        srcs += kv.common_sources(cpu)
    srcs = list(dict.fromkeys(srcs))
    incs = kv.include_dirs(cpu) if optimized else [kv.KERNELS_DIR]
    elf = build_elf([work / "kb_main.c", work / "kb_cases.c", *srcs], BOARDS[cpu], work,
                    include_dirs=incs, defines={"NB_KERNEL_SCRATCH_BYTES": SCRATCH}, opt="-O2", name="kb")
    stage_names = {i + 1: f"{i:02d}_{n}" for i, (n, _, _) in enumerate(cases)}
    m = measure_elf(elf, board=BOARDS[cpu], table=cpu, stage_names=stage_names, warmup=1, timeout_s=600)
    got = parse_outputs(m.stdout, len(cases))
    for (n, _, exp), g in zip(cases, got, strict=True):
        if g != np.ascontiguousarray(exp).tobytes():
            raise SystemExit(f"{cpu} {'opt' if optimized else 'ref'}: output of {n} differs from the host reference")
    rows = []
    for st, op in zip(sorted(m.stages, key=lambda s: s.id), pm.ops, strict=True):
        rows.append({"op": op.name, "stage": st.name, "macs": op_macs(op), "insns": st.insns_per_hop_mean,
                     "cycles": st.cycles_per_hop, "classes": st.classes_per_hop})
    return rows


def cm(x: dict) -> str:
    return f"{x['cycles'] / x['macs']:9.3f}" if x["macs"] else f"{'-':>9s}"


def kind_of(op: str, macs: int, shape) -> str:
    if op == "CONV_2D":
        return "CONV_2D 1x1" if shape[1] == 1 and shape[2] == 1 else "CONV_2D"
    return op


def find_vad_model() -> Path | None:
    cands = [Path(p) for p in glob.glob(str(ROOT / "runs" / "**" / "model.tflite"), recursive=True)]
    return max(cands, key=lambda p: p.stat().st_mtime) if cands else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", default=None)
    ap.add_argument("--cpus", default="cortex-m4,cortex-m7,cortex-m55")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_kernels")
    ap.add_argument("--no-vad", action="store_true", help="do not add the newest VAD model under runs/")
    args = ap.parse_args()
    models = list(args.model or [KWS])
    vad = None if args.no_vad else find_vad_model()
    if vad is not None and vad not in models:
        models.append(vad)
    cpus = [c.strip() for c in args.cpus.split(",") if c.strip()]
    from tqdm import tqdm

    results: dict[str, dict] = {}
    jobs = [(m, c, o) for m in models for c in cpus for o in (False, True)]
    with tempfile.TemporaryDirectory(prefix="nbbench.") as td:
        skipped: set[Path] = set()
        for model, cpu, opt in tqdm(jobs, desc="measure"):
            if model in skipped:
                continue
            try:
                rows = measure_model(model.read_bytes(), cpu, opt, Path(td) / f"{model.stem}_{cpu}_{int(opt)}")
            except Exception as e:  # a model the host reference chain cannot run (an op's case builder fails)
                if model == KWS or args.model:
                    raise
                print(f"skipped {model}: {type(e).__name__}: {e}")
                skipped.add(model)
                results.pop(str(model), None)
                continue
            results.setdefault(str(model), {}).setdefault(cpu, {})["opt" if opt else "ref"] = rows
    lines = []
    summary = []
    for model, per_cpu in results.items():
        lines.append(f"== {model}")
        for cpu, d in per_cpu.items():
            ref, opt = d["ref"], d["opt"]
            total_macs = sum(r["macs"] for r in ref)
            lines.append(f"-- {cpu} (estimated cycles; timing table {cpu})")
            lines.append(f"{'op':28s} {'MACs':>9s} {'ref insns':>10s} {'ref cyc':>10s} {'ref c/MAC':>9s} "
                         f"{'opt insns':>10s} {'opt cyc':>10s} {'opt c/MAC':>9s} {'speedup':>7s}")
            for r, o in zip(ref, opt, strict=True):
                lines.append(f"{r['stage']:28s} {r['macs']:9d} {r['insns']:10.0f} {r['cycles']:10.0f} {cm(r)} "
                             f"{o['insns']:10.0f} {o['cycles']:10.0f} {cm(o)} {r['cycles'] / o['cycles']:7.2f}")
            rc, oc = sum(r["cycles"] for r in ref), sum(r["cycles"] for r in opt)
            ri, oi = sum(r["insns"] for r in ref), sum(r["insns"] for r in opt)
            lines.append(f"{'WHOLE MODEL':28s} {total_macs:9d} {ri:10.0f} {rc:10.0f} {rc / total_macs:9.3f} "
                         f"{oi:10.0f} {oc:10.0f} {oc / total_macs:9.3f} {rc / oc:7.2f}")
            lines.append(f"   instructions per MAC: ref {ri / total_macs:.3f}, opt {oi / total_macs:.3f}")
            summary.append({"model": model, "cpu": cpu, "macs": total_macs, "ref_cycles": rc, "opt_cycles": oc,
                            "ref_insns": ri, "opt_insns": oi, "ref_cpm": rc / total_macs, "opt_cpm": oc / total_macs})
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "table.txt", text + "\n")
    atomic_write_json(args.out / "kernels.json", {"summary": summary, "results": results})
    plot(results, args.out / "cycles_per_mac.png")
    print(f"wrote {args.out / 'table.txt'}, kernels.json, cycles_per_mac.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(7 * n, 4.5), squeeze=False)
    for ax, (model, per_cpu) in zip(axes[0], results.items(), strict=True):
        cpus = list(per_cpu)
        groups: dict[str, list[str]] = {}
        for r in per_cpu[cpus[0]]["ref"]:
            if r["macs"]:
                groups.setdefault(r["op"], []).append(r["stage"])
        cats = [*groups, "whole model"]
        width = 0.8 / (2 * len(cpus))
        for ci, cpu in enumerate(cpus):
            for vi, v in enumerate(("ref", "opt")):
                rows = per_cpu[cpu][v]
                vals = []
                for cat in cats:
                    sel = rows if cat == "whole model" else [r for r in rows if r["op"] == cat]
                    macs = sum(r["macs"] for r in rows) if cat == "whole model" else sum(r["macs"] for r in sel)
                    vals.append(sum(r["cycles"] for r in sel) / max(macs, 1))
                x = np.arange(len(cats)) + (2 * ci + vi - len(cpus) + 0.5) * width
                ax.bar(x, vals, width, label=f"{cpu} {'reference C' if v == 'ref' else 'DSP/MVE'}",
                       hatch="" if v == "opt" else "//", alpha=0.9 if v == "opt" else 0.5)
        ax.set_xticks(np.arange(len(cats)), cats, rotation=15)
        ax.set_ylabel("estimated cycles per MAC")
        ax.set_yscale("log")
        ax.set_title(os.path.join(os.path.basename(os.path.dirname(model)), os.path.basename(model)))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
