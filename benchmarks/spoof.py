"""Anti-spoofing: learned widths (noise reparameterization + dual-ascent budget) vs post-hoc L1 filter pruning.

One job = (method, budget in MACs per utterance second, seed), all in the same model family
(`train.spoof_model`, the default `noisebudget/configs/spoof.toml` architecture, front end and schedule) with the
same total epochs (default 30 x 1024 windows: the default run's schedule with half its windows per epoch, to keep
18 jobs affordable on a CPU):
- `noise`: `train.spoof_train.train_spoof` (width phase under the budget, snap, fine-tune);
- `l1`:    dense full-width training for the same first-phase epochs (`train.snap_at`), then Li et al. (2017)
           L1-norm filter pruning with one keep ratio for every dimension (mel bands: L1 of the stem weights per
           band; a residual stack: its conv2 + projection filters) to the largest ratio that fits, then fine-tuning
           (`train.spoof_train.l1_prune`).
Both select the fine-tune epoch with the best dev EER. Reported: the exact MACs per utterance second of the
consolidated model, test EER pooled, on seen and on held-out (unseen) attacks and per attack; plus the trivial
linear baseline (logistic regression on the utterance-mean log-mel, `benchmarks/spoof_linear.py`) for scale.

    .venv/bin/python benchmarks/spoof.py                                   # 3 budgets x 3 seeds x 2 methods
    .venv/bin/python benchmarks/spoof.py --quick --corpus DIR --out DIR     # smoke test (tiny model, 4 epochs)

Every job writes `<out>/jobs/<method>-b<budget>-s<seed>.json`; a rerun skips finished jobs (resume).
Outputs: `<out>/table.txt` (per job and mean +- std over seeds), `<out>/results.json`, `<out>/eer_vs_macs.png`,
`<out>/per_attack.png`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("noise", "l1")


def _settings(args: argparse.Namespace, method: str, seed: int):
    import dataclasses

    from noisebudget.spoof_pipeline import SpoofRunConfig, settings_from_spoof_config

    cfg = SpoofRunConfig()
    cfg.train.seed = seed
    cfg.train.epochs = args.epochs
    cfg.train.windows_per_epoch = args.windows_per_epoch
    if args.quick:
        cfg.model.window_frames, cfg.model.stem_channels = 61, 12
        cfg.model.channels, cfg.model.blocks, cfg.model.strides = [12, 16], [1, 1], [2, 2]
        cfg.train.batch_size, cfg.train.windows_per_epoch = 8, 0
    s = settings_from_spoof_config(cfg)
    return dataclasses.replace(s, method=method)


def recipe(args: argparse.Namespace, method: str, seed: int) -> str:
    """Digest of everything a job's result depends on except the budget (settings + corpus content): a job file is
    reused on a rerun only if its recipe matches (a changed default recipe or a rebuilt corpus reruns every job)."""
    import dataclasses
    import hashlib

    blob = json.dumps({"settings": dataclasses.asdict(_settings(args, method, seed)), "corpus": args.corpus_digest},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_job(args: argparse.Namespace, data: Any, method: str, budget: int, seed: int) -> dict[str, Any]:
    from train.spoof_train import train_spoof

    s = _settings(args, method, seed)
    t0 = time.perf_counter()
    work = Path(args.out) / "work" / f"{method}-b{budget}-s{seed}"
    r = train_spoof(s, args.corpus, work, budget_macs_per_s=budget, progress=False, data=data, log=lambda *a: None)
    t = r.metrics["test"]
    return {"method": method, "budget": budget, "seed": seed, "macs_per_second": r.cost["macs_per_second"],
            "macs_per_window": r.cost["macs_per_window"], "params": r.cost["params"],
            "ratio": r.cost["macs_per_window"] / (budget * r.cost["window_seconds"]),
            "dev_eer": r.metrics["dev"]["pooled"], "test_eer": t["pooled"], "test_eer_seen": t["seen"],
            "test_eer_unseen": t["unseen"], "per_attack": t["per_attack"], "best_epoch": r.best_epoch,
            "widths": r.history[-1]["widths"], "seconds": time.perf_counter() - t0,
            "recipe": recipe(args, method, seed)}


def linear_baseline(data: Any) -> dict[str, Any]:
    from benchmarks.spoof_linear import fit_logreg
    from train.spoof_metrics import summarize

    def x(split: str) -> np.ndarray:
        return np.stack([f.mean(0) for f in data[split].feats]).astype(np.float64)

    w, b, mu, sd = fit_logreg(x("train"), data["train"].bonafide.astype(np.float64))
    s = ((x("test") - mu) / sd) @ w + b
    m = summarize(s, data["test"].utts)
    return {"test_eer": m["pooled"], "test_eer_seen": m["seen"], "test_eer_unseen": m["unseen"],
            "per_attack": m["per_attack"]}


def _ms(vals: list[float]) -> str:
    v = [x for x in vals if x is not None and math.isfinite(x)]
    if not v:
        return "n/a"
    return f"{np.mean(v):.3f}" + (f" +- {np.std(v):.3f}" if len(v) > 1 else "")


def table(results: list[dict[str, Any]], lin: dict[str, Any], unseen: set[str] = frozenset()) -> str:
    attacks = sorted({a for r in results for a in r["per_attack"]} | set(lin.get("per_attack", {})))
    names = [a + ("*" if a in unseen else "") for a in attacks]
    lines = ["per job:",
             f"{'method':6} {'budget':>8} {'seed':>4} {'MACs/s':>8} {'ratio':>6} {'dev':>6} {'pooled':>6} "
             f"{'seen':>6} {'unseen':>6}  per attack ({', '.join(names)})"]
    for r in sorted(results, key=lambda r: (r["budget"], r["method"], r["seed"])):
        pa = " ".join(f"{r['per_attack'].get(a, math.nan):.3f}" for a in attacks)
        lines.append(f"{r['method']:6} {r['budget']:>8} {r['seed']:>4} {r['macs_per_second']:>8} {r['ratio']:>6.3f} "
                     f"{r['dev_eer']:>6.3f} {r['test_eer']:>6.3f} {r['test_eer_seen']:>6.3f} "
                     f"{r['test_eer_unseen']:>6.3f}  {pa}")
    lines += ["", "mean +- std over seeds (test EER):",
              f"{'method':6} {'budget':>8} {'n':>2} {'pooled':>15} {'seen':>15} {'unseen':>15}"]
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["budget"], r["method"]), []).append(r)
    for (b, m), rs in sorted(groups.items()):
        lines.append(f"{m:6} {b:>8} {len(rs):>2} {_ms([r['test_eer'] for r in rs]):>15} "
                     f"{_ms([r['test_eer_seen'] for r in rs]):>15} {_ms([r['test_eer_unseen'] for r in rs]):>15}")
    lines += ["", "per attack, mean over seeds (test EER; held-out attacks marked *):"]
    for (b, m), rs in sorted(groups.items()):
        lines.append(f"{m:6} {b:>8} " + ", ".join(
            f"{n} {_ms([r['per_attack'].get(a, math.nan) for r in rs]).split(' ')[0]}" for a, n in zip(attacks, names,
                                                                                           strict=True)))
    if lin:
        lines += ["", f"linear baseline (logistic regression on mean log-mel, 41 params): test EER pooled "
                      f"{lin['test_eer']:.3f}, seen {lin['test_eer_seen']:.3f}, unseen {lin['test_eer_unseen']:.3f}"]
    return "\n".join(lines)


def plots(results: list[dict[str, Any]], lin: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, key, title in ((axes[0], "test_eer", "pooled"), (axes[1], "test_eer_unseen", "unseen attacks")):
        for m, mk in zip(METHODS, ("o", "s"), strict=True):
            rs = [r for r in results if r["method"] == m]
            if not rs:
                continue
            ax.scatter([r["macs_per_second"] for r in rs], [r[key] for r in rs], marker=mk, alpha=0.5, label=m)
            bs = sorted({r["budget"] for r in rs})
            ax.plot([np.mean([r["macs_per_second"] for r in rs if r["budget"] == b]) for b in bs],
                    [np.nanmean([r[key] for r in rs if r["budget"] == b]) for b in bs], marker=mk)
        if lin:
            ax.axhline(lin[key], color="gray", ls="--", label="linear (mean log-mel)")
        ax.set_xscale("log")
        ax.set_xlabel("MACs per utterance second")
        ax.set_title(f"test EER, {title}")
    axes[0].set_ylabel("EER")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "eer_vs_macs.png", dpi=110)
    plt.close(fig)
    attacks = sorted({a for r in results for a in r["per_attack"]})
    budgets = sorted({r["budget"] for r in results})
    if not attacks:
        return
    fig, axes = plt.subplots(1, len(budgets), figsize=(4 * len(budgets), 3.6), sharey=True, squeeze=False)
    for ax, b in zip(axes[0], budgets, strict=True):
        for j, m in enumerate(METHODS):
            rs = [r for r in results if r["method"] == m and r["budget"] == b]
            if rs:
                ax.bar(np.arange(len(attacks)) + 0.4 * j, [np.nanmean([r["per_attack"].get(a, math.nan) for r in rs])
                                                            for a in attacks], 0.4, label=m)
        ax.set_xticks(np.arange(len(attacks)) + 0.2, attacks, rotation=60, fontsize=7)
        ax.set_title(f"budget {b} MACs/s")
    axes[0][0].set_ylabel("test EER per attack")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out / "per_attack.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=None, help="spoof corpus or ASVspoof root (default: the built-in corpus)")
    ap.add_argument("--out", default="runs/benchmarks/spoof")
    ap.add_argument("--budgets", default=None, help="MACs per utterance second, comma separated")
    ap.add_argument("--seeds", default=None, help="comma separated (default 0,1,2)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--epochs", type=int, default=None, help="total epochs per job (default 30; quick 4)")
    ap.add_argument("--windows-per-epoch", type=int, default=1024,
                    help="training windows per epoch (default 1024 = 32 steps; the run default is 2048)")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny model, 4 epochs, 2 budgets, 1 seed")
    args = ap.parse_args(argv)
    import torch
    from tqdm import tqdm

    from noisebudget.spoof_pipeline import SpoofRunConfig, resolve_spoof_corpus
    from train.atomic import atomic_write_json, atomic_write_text
    from train.frontend import FrontEndSpec
    from train.spoof_train import corpus_digest, load_spoof_splits

    torch.set_num_threads(1)
    args.epochs = args.epochs or (4 if args.quick else 30)
    budgets = [int(b) for b in (args.budgets or ("40000,80000" if args.quick else "150000,300000,600000")).split(",")]
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown method(s) {bad}; known: {', '.join(METHODS)}")
    if args.corpus is None:
        args.corpus = str(resolve_spoof_corpus(SpoofRunConfig()))
    args.corpus_digest = corpus_digest(args.corpus)
    out = Path(args.out)
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    spec = FrontEndSpec.from_dict(_settings(args, "noise", 0).frontend)  # the spoof task's front end
    data = load_spoof_splits(args.corpus, spec)
    # the trivial baseline is defined on the mean log-MEL (the VAD front end), whatever the model's front end
    lin = linear_baseline(data if spec == FrontEndSpec() else load_spoof_splits(args.corpus, FrontEndSpec()))
    jobs = [(m, b, s) for b in budgets for s in seeds for m in methods]
    results = []
    for m, b, s in tqdm(jobs, desc="jobs"):
        p = out / "jobs" / f"{m}-b{b}-s{s}.json"
        if p.is_file():
            prev = json.loads(p.read_text())
            if prev.get("recipe") == recipe(args, m, s):
                results.append(prev)
                continue
        r = run_job(args, data, m, b, s)
        atomic_write_json(p, r)
        results.append(r)
    unseen = {u.attack for u in data["test"].utts if u.label != "bonafide" and not u.attack_seen}
    text = (f"corpus {args.corpus}; {args.epochs} epochs x {args.windows_per_epoch} windows per job\n"
            + table(results, lin, unseen))
    print(text)
    atomic_write_text(out / "table.txt", text + "\n")
    atomic_write_json(out / "results.json", {"corpus": args.corpus, "epochs": args.epochs, "linear": lin,
                                             "jobs": results})
    plots(results, lin, out)
    print(f"wrote {out / 'table.txt'}, {out / 'eer_vs_macs.png'}, {out / 'per_attack.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
