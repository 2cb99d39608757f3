"""Kernel speed on Cortex-M4, M7 and M55: reference C kernels vs DSP (SMLAD) / MVE (Helium) variants.

    .venv/bin/python benchmarks/kernels.py [--model ../shared/models/kws_ref_model.tflite ...]
                                          [--cpus cortex-m4,cortex-m7,cortex-m55] [--out runs/bench_kernels]

Measured through the real path: `noisebudget firmware MODEL --target <cpu>` (convert.codegen.generate) and
its project.json (convert.measure.load_project/build_project/measure_elf, i.e. `noisebudget measure`),
once as generated (the optimized variants of convert.kernel_variants for that CPU) and once with the
project's sources switched to the portable kernels (reference). Each op is its own NB_STAGE; the app runs
two invokes, the first is warm-up. The outputs of both builds are checked against TFLite Micro.
Instructions and estimated cycles (convert.measure + convert.timing tables: an estimate, see there) per
op and for the whole model (the whole invoke, copies in/out included), divided by MACs (TFLite convention;
ops without MACs count in the whole-model total only). Writes table.txt, kernels.json and
cycles_per_mac.png to --out. Besides every --model, the newest VAD model under runs/ (runs/**/model.tflite)
is added when one exists (VAD run folders are measured per hop: front end and post-processing included).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convert.codegen import Options, generate  # noqa: E402
from convert.measure import build_project, load_project, measure_elf  # noqa: E402
from tests.shared_models import KWS_MODEL  # noqa: E402
from train.atomic import atomic_write_json, atomic_write_text  # noqa: E402

KWS = KWS_MODEL


def _tflm_outputs(buf: bytes, rows: list[list[np.ndarray]]) -> list[bytes]:
    from tflite_micro.python.tflite_micro import runtime

    from convert.tflite_ir import read_tflite

    n_out = len(read_tflite(buf).outputs)
    res = []
    for xs in rows:
        it = runtime.Interpreter.from_bytes(buf, arena_size=1 << 21)
        for i, x in enumerate(xs):
            it.set_input(np.asarray(x).reshape(it.get_input_details(i)["shape"]), i)
        it.invoke()
        res += [np.array(it.get_output(k)).tobytes() for k in range(n_out)]
    return res


def _app_outputs(stdout: str) -> list[bytes]:
    return [bytes.fromhex(line.split()[3]) for line in stdout.splitlines() if line.startswith("O ")]


def _test_inputs(buf: bytes, n: int = 2, seed: int = 0) -> list[list[np.ndarray]]:
    from convert.tflite_ir import read_tflite

    m = read_tflite(buf)
    sg = m.subgraphs[0] if hasattr(m, "subgraphs") else m
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row = []
        for i in sg.inputs:
            t = sg.tensors[i]
            if t.type_name == "FLOAT32":
                row.append(rng.standard_normal(t.size).astype(np.float32))
            else:
                info = np.iinfo(np.dtype(t.type_name.lower()))
                row.append(rng.integers(info.min, info.max, size=t.size, endpoint=True).astype(t.type_name.lower()))
        rows.append(row)
    return rows


def measure_model(model: Path, cpu: str, optimized: bool, work: Path):
    """Per-stage rows of the generated firmware of `model` on `cpu` (optimized: as generated; else with the
    portable kernels) and the app's output bytes (model files: checked against TFLM by the caller)."""
    out = work / f"{model.parent.name}_{model.stem}_{cpu}"
    is_run = model.name == "model.tflite" and (model.parent / "model_io.json").is_file()
    inputs = None if is_run else _test_inputs(model.read_bytes())
    if not (out / "project.json").is_file():
        generate(model.parent if is_run else model, out,
                 Options(target=cpu, tflm_arena=False, clip_seconds=0.05, test_inputs=inputs))
    info = json.loads((out / "firmware.json").read_text())
    proj = load_project(out)
    if not optimized:
        proj.sources = ["nb/*.c", "app/*.c"]
        proj.include_dirs = [d for d in proj.include_dirs if not d.startswith("nb/target")]
        proj.defines = {k: v for k, v in proj.defines.items() if k != "NB_KERNEL_SCRATCH_BYTES"}
    elf = build_project(proj, str(proj.board))
    m = measure_elf(elf, board=str(proj.board), table=cpu, stage_names=proj.stages, warmup=proj.warmup_hops,
                    timeout_s=900)
    got = _app_outputs(m.stdout)
    if inputs is not None and got != _tflm_outputs(model.read_bytes(), inputs):
        raise SystemExit(f"{model} {cpu} {'opt' if optimized else 'ref'}: outputs differ from TFLite Micro")
    macs = {f"op{o['index']}_{o['op'].lower()}": o["macs"] for o in info["ops"]}
    rows = [{"op": s.name.split("_", 1)[1].upper() if s.name.startswith("op") else s.name, "stage": s.name,
             "macs": macs.get(s.name, 0), "insns": s.insns_per_hop_mean, "cycles": s.cycles_per_hop,
             "classes": s.classes_per_hop} for s in sorted(m.stages, key=lambda s: s.id)]
    return rows, {"macs": info["macs_total"], "insns": m.insns_per_hop_mean, "cycles": m.cycles_per_hop_mean}


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
    ap.add_argument("--no-mve-overlap", action="store_true",
                    help="Cortex-M55 table without the MVE load/arithmetic beat overlap (every vector instruction 2)")
    args = ap.parse_args()
    if args.no_mve_overlap:
        import dataclasses

        from convert import timing

        timing.TABLES["cortex-m55"] = dataclasses.replace(timing.TABLES["cortex-m55"], mve_overlap=None)
    models = list(args.model or [KWS])
    vad = None if args.no_vad else find_vad_model()
    if vad is not None and vad not in models:
        models.append(vad)
    cpus = [c.strip() for c in args.cpus.split(",") if c.strip()]
    from tqdm import tqdm

    results: dict[str, dict] = {}
    jobs = [(m, c, o) for m in models for c in cpus for o in (True, False)]
    with tempfile.TemporaryDirectory(prefix="nbbench.") as td:
        skipped: set[Path] = set()
        for model, cpu, opt in tqdm(jobs, desc="measure"):
            if model in skipped:
                continue
            try:
                rows, whole = measure_model(model, cpu, opt, Path(td))
            except Exception as e:  # a model the host reference chain cannot run (an op's case builder fails)
                if model == KWS or args.model:
                    raise
                print(f"skipped {model}: {type(e).__name__}: {e}")
                skipped.add(model)
                results.pop(str(model), None)
                continue
            d = results.setdefault(str(model), {}).setdefault(cpu, {})
            d["opt" if opt else "ref"] = rows
            d["whole_opt" if opt else "whole_ref"] = whole
    lines = []
    summary = []
    for model, per_cpu in results.items():
        lines.append(f"== {model}")
        for cpu, d in per_cpu.items():
            ref, opt = d["ref"], d["opt"]
            total_macs = d["whole_ref"]["macs"]
            lines.append(f"-- {cpu} (estimated cycles; timing table {cpu})")
            lines.append(f"{'op':28s} {'MACs':>9s} {'ref insns':>10s} {'ref cyc':>10s} {'ref c/MAC':>9s} "
                         f"{'opt insns':>10s} {'opt cyc':>10s} {'opt c/MAC':>9s} {'speedup':>7s}")
            for r, o in zip(ref, opt, strict=True):
                lines.append(f"{r['stage']:28s} {r['macs']:9d} {r['insns']:10.0f} {r['cycles']:10.0f} {cm(r)} "
                             f"{o['insns']:10.0f} {o['cycles']:10.0f} {cm(o)} {r['cycles'] / max(o['cycles'], 1):7.2f}")
            rc, oc = d["whole_ref"]["cycles"], d["whole_opt"]["cycles"]
            ri, oi = d["whole_ref"]["insns"], d["whole_opt"]["insns"]
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
