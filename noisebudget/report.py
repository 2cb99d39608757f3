"""The run report: RUN/report/report.md with tables and PNG plots.

Plots: estimated cycles per pipeline stage, budget vs measured, learned widths vs full widths, ROC on the
test split (torch float and the int8 TFLite model as the firmware runs it), training history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from noisebudget.config import RunConfig
from train.atomic import atomic_write_text


def _js(p: Path) -> Any:
    return json.loads(p.read_text()) if p.is_file() else {}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _stage_rows(measure: dict, fw_info: dict) -> list[dict]:
    macs = {f"op{o['index']}_{o['op'].lower()}": o.get("macs", 0) for o in fw_info.get("ops", [])}
    rows = []
    for s in measure.get("stages", []):
        rows.append({"stage": s["name"], "insns": s.get("self_insns_per_hop", s.get("insns_per_hop_mean", 0)),
                     "cycles": s.get("cycles_per_hop", 0.0), "macs": macs.get(s["name"], 0)})
    return rows


def _plot_stages(rows: list[dict], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, max(3, 0.3 * len(rows) + 1)))
    names = [r["stage"] for r in rows]
    ax.barh(names, [r["cycles"] for r in rows], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("estimated cycles per hop")
    ax.set_title("Per-stage cost (QEMU instruction counts x timing table)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_budget(items: list, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    names = [i.name for i in items]
    frac = [i.measured / i.limit for i in items]
    ax.bar(names, frac, color=["tab:green" if f <= 1 else "tab:red" for f in frac])
    ax.axhline(1.0, color="k", ls="--", lw=1, label="budget")
    ax.set_ylabel("measured / budget")
    ax.set_title("Budget vs measured")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_widths(widths: dict, path: Path) -> None:
    plt = _plt()
    names = ["mel bands"] + [f"C{i}" for i in range(len(widths.get("channels", [])))]
    kept = [widths.get("mel_bands", 0)] + list(widths.get("channels", []))
    full = [widths.get("n_mels_full", 0)] + list(widths.get("channels_full", []))
    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(names))
    ax.bar(x, full, color="lightgray", label="full")
    ax.bar(x, kept, color="tab:orange", label="learned")
    ax.set_xticks(x, names)
    ax.set_ylabel("units")
    ax.set_title("Learned widths")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_history(history: list[dict], budget: float, path: Path) -> None:
    if not history:
        return
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(ep, [h.get("soft_macs", h.get("macs", 0)) for h in history], "o-", label="MACs per hop (soft)")
    ax.plot(ep, [h.get("macs", 0) for h in history], "s-", label="MACs per hop (kept units)")
    if budget:
        ax.axhline(budget, color="k", ls="--", lw=1, label="budget")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax2 = ax.twinx()
    ax2.plot(ep, [h.get("dev_auc", np.nan) for h in history], "^-", color="tab:green", label="dev AUC")
    ax2.set_ylabel("dev AUC")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Training: cost and dev AUC per epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def roc_scores(run_dir: Path, corpus: Path, spec_dict: dict, max_clips: int = 60) -> dict[str, Any]:
    """Test-split scores of the float model and of the int8 TFLite model (streamed like the firmware)."""
    import torch

    from convert.keras_vad import model_inputs
    from convert.tflite_run import StepRunner
    from train.frontend import FrontEndSpec
    from train.metrics import auc, roc_curve
    from train.run_dir import load_model
    from train.vad_train import load_splits

    model = load_model(run_dir)
    spec = FrontEndSpec.from_dict(spec_dict)
    test = load_splits(corpus, spec, splits=("test",))["test"]
    bands = model.desc["mel_bands"]
    runner = StepRunner((run_dir / "model.tflite").read_bytes(), "litert")
    ys, sf, sq = [], [], []
    for f, y in list(zip(test.feats, test.labels, strict=True))[:max_clips]:
        f = f[:, bands]
        with torch.no_grad():
            sf.append(torch.sigmoid(model(torch.from_numpy(f)[None]))[0].numpy())
        sq.append(runner.run_clip(model_inputs(model, f))[1])
        ys.append(y)
    y = np.concatenate(ys)
    out = {}
    for name, s in (("float (torch)", np.concatenate(sf)), ("int8 (TFLite)", np.concatenate(sq))):
        fpr, tpr, _ = roc_curve(y, s)
        out[name] = {"auc": auc(y, s), "fpr": fpr, "tpr": tpr}
    return out


def _plot_roc(roc: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, r in roc.items():
        ax.plot(r["fpr"], r["tpr"], label=f"{name}: AUC {r['auc']:.4f}")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, test split (10 ms frames)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, corpus: Path, cfg: RunConfig, items: list, times: dict[str, float]) -> Path:
    rep = out / "report"
    rep.mkdir(parents=True, exist_ok=True)
    cost, metrics, widths = _js(out / "cost.json"), _js(out / "metrics.json"), _js(out / "widths.json")
    verify, history = _js(out / "verify.json"), _js(out / "history.json") or []
    measure, fw_info = _js(out / "firmware" / "measure.json"), _js(out / "firmware" / "firmware.json")
    arch = _js(out / "model" / "arch.json")
    rows = _stage_rows(measure, fw_info)
    _plot_stages(rows, rep / "cycles_per_stage.png")
    _plot_budget(items, rep / "budget.png")
    _plot_widths(widths, rep / "widths.png")
    _plot_history(history, cost.get("budget_macs", 0), rep / "history.png")
    roc = roc_scores(out, corpus, arch.get("frontend", {}))
    _plot_roc(roc, rep / "roc.png")
    s = metrics.get("summary", {})
    a = verify.get("auc", {})
    nan = float("nan")
    exact = "bit-exact" if verify.get("litert_vs_tflm", {}).get("ops_bit_exact") else "differs: see verify.json"
    mem = measure.get("memory", {})
    lines = [
        "# noisebudget run report",
        "",
        f"Target **{cfg.budget.target}**, CPU-load budget {cfg.budget.cpu_load:.0%}; corpus `{corpus}`.",
        "Cycles are **estimates**: QEMU instruction counts per class x the core's timing table "
        "(convert/timing.py; calibrate with `noisebudget calibrate` on a board).",
        "",
        "## Verdict",
        "",
        "| check | measured | budget | margin | ok |",
        "|---|---|---|---|---|",
    ]
    def val(v: float, unit: str) -> str:
        return f"{v:.2%}" if unit == "fraction" else f"{v:,.0f} {unit}"

    for i in items:
        lines.append(f"| {i.name} | {val(i.measured, i.unit)} | {val(i.limit, i.unit)} | {i.margin:+.1%} | "
                     f"{'yes' if i.ok else '**NO**'} |")
    lines += [
        "",
        "![budget](budget.png)",
        "",
        "## Model",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| MAC budget per hop (model) | {cost.get('budget_macs', 'n/a'):,} ({cost.get('budget_source', '')}) |",
        f"| MACs per hop (exact, PyTorch) | {cost.get('macs_per_hop', 0):,} |",
        f"| MACs per hop (int8 .tflite) | {verify.get('macs', {}).get('tflite_total', 'n/a'):,} "
        f"(op for op equal: {verify.get('macs', {}).get('equal')}) |",
        f"| parameters | {cost.get('params', 0):,} |",
        f"| mel bands kept | {widths.get('mel_bands')} of {widths.get('n_mels_full')} |",
        f"| channels | {widths.get('channels')} of {widths.get('channels_full')} |",
        f"| dev AUC / test AUC (float) | {s.get('dev_auc', nan):.4f} / {s.get('test_auc', nan):.4f} |",
        f"| test AUC: torch float / TFLite float / TFLite int8 | {a.get('auc_torch_float', float('nan')):.4f} / "
        f"{a.get('auc_tflite_float', float('nan')):.4f} / {a.get('auc_tflite_int8', float('nan')):.4f} |",
        f"| LiteRT vs TFLM (int8) | {exact} |",
        f"| test F1 / FA on pure negatives (95 % dev-recall threshold) | {s.get('test_f1', float('nan')):.4f} / "
        f"{s.get('test_fa_neg', float('nan')):.4f} |",
        "",
        "![widths](widths.png) ![history](history.png)",
        "",
        "![roc](roc.png)",
        "",
        "## Firmware",
        "",
        f"Flash {mem.get('flash_bytes', 0):,} B, RAM {mem.get('ram_bytes', 0):,} B (incl. stack); arena "
        f"{fw_info.get('arena_bytes', 0):,} B (TFLM would need {fw_info.get('tflm_arena_bytes') or 'n/a'} B); "
        f"{measure.get('insns_per_hop_mean', 0):,.0f} instructions and {measure.get('cycles_per_hop_mean', 0):,.0f} "
        f"estimated cycles per hop on average (worst hop {measure.get('cycles_per_hop_max', 0):,.0f}), "
        f"CPU load {measure.get('cpu_load', 0):.2%} at {measure.get('clock_hz', 0) / 1e6:.0f} MHz.",
        "",
        "| stage | MACs | instructions / hop | est. cycles / hop |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['macs']:,} | {r['insns']:,.0f} | {r['cycles']:,.0f} |")
    lines += ["", "![cycles per stage](cycles_per_stage.png)", "", "## Stage times (this invocation)", "",
              "| stage | seconds (0 = cached) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in times.items()]
    path = rep / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
