"""Pareto benchmark: learned widths (noise-width trainer) vs five baselines at equal MAC budgets per hop.

    .venv/bin/python benchmarks/pareto.py --corpus /tmp/nbc60/corpus --out runs/benchmarks/pareto \
        --budgets 2000,5000,20000,80000 --seeds 0,1,2 --workers 2
    .venv/bin/python benchmarks/pareto.py ... --ray local        # or --ray ADDRESS (an existing Ray cluster)
    .venv/bin/python benchmarks/pareto.py --quick --corpus DIR --out DIR   # smoke test (tiny model, 2 epochs)
    .venv/bin/python benchmarks/pareto.py --report --out DIR              # table + plots of what is done

Methods: "noise" (train.vad_train.train_vad, learned widths under the budget) and the baselines of
`train.baselines` ("l1", "torchprune", "slimming", "l0", "dense"). Every method is trained with the default
recipe of noisebudget/configs/default.toml (input stage with the running level (EMA), train.epochs, batch size,
crops, lr, snap point, anneal; `noisebudget train --budget-macs B` trains exactly the "noise" job) and the same
total number of epochs (the baselines split them as pretrain/gates + fine-tune at the noise-width run's snap
point). `--epochs`, `--ema-alpha`, `--batch-size` deviate from the default recipe for every method at once.

Every (method, budget, seed) job: train -> consolidated StreamingVAD -> test metrics (train.vad_train.evaluate:
AUC, EER, F1 and FA on negatives at the 95 %-dev-recall threshold) -> int8 TFLite via convert.convert_run
.convert_model (verify.json) -> deployed MACs counted on the exported .tflite (convert.verify.tflite_macs_by_op)
and the int8 AUC on `--eval-clips` test clips. The result is one JSON file `results/<method>-b<budget>-s<seed>.json`
in the sweep folder; a rerun skips every job whose file exists (resume), and the budget-independent pretraining
(dense full width for l1/torchprune, slimming) is cached in `pretrain/` and shared by all budgets.

Estimated cycles per hop on Cortex-M4 need the C code generator (`noisebudget firmware`) + `noisebudget measure`;
when `noisebudget/commands/firmware.py` is absent the column stays empty and the table says so.

Ray: `--ray local` starts a local instance (`ray.init(num_cpus=--workers)`), `--ray ADDRESS` connects to a
cluster; each job is a Ray task with one CPU. Workers write the artifacts, the driver writes the result JSON;
on a multi-node cluster the repository, the corpus and the sweep folder must be at the same path on every node
(shared filesystem).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHODS = ("noise", "l1", "torchprune", "slimming", "l0", "dense")
LABELS = {
    "noise": "noise widths (ours)",
    "l1": "L1 filter pruning",
    "torchprune": "Torch-Pruning (DepGraph)",
    "slimming": "network slimming",
    "l0": "L0 hard-concrete gates",
    "dense": "dense, uniform width",
}
PRETRAIN_OF = {"l1": "dense", "torchprune": "dense", "slimming": "slimming"}
DEFAULT_BUDGETS = (2000, 5000, 20000, 80000)


def default_settings():
    """`TrainSettings` of the built-in default run (noisebudget/configs/default.toml): the recipe every method
    of the sweep is trained with (input stage, epochs, batch size, crops, lr, width/anneal/snap schedule)."""
    from noisebudget.config import default_config
    from noisebudget.pipeline import settings_from_config

    return settings_from_config(default_config())


# SweepSpec fields that, when None, take their value from default.toml (resolved in __post_init__)
_FROM_CONFIG = ("epochs", "channels", "dilations", "batch_size", "crop_seconds", "crops_per_epoch", "patience",
                "round_to", "ema_alpha")


@dataclass
class SweepSpec:
    """The sweep's settings. Every training setting not listed here (lr, width lr, budget dual ascent, snap
    point, anneal, kappa_min, width modes, front end) is the default config's; the fields here default to the
    default config's values too (None = take it from default.toml) and exist so a run can state a deviation
    (e.g. `--epochs`, `--ema-alpha` for the diagnosis runs, the tiny `--quick` model)."""

    corpus: str
    out: str
    epochs: int | None = None
    budgets: list[int] = field(default_factory=lambda: list(DEFAULT_BUDGETS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    channels: list[int] | None = None
    dilations: list[int] | None = None
    batch_size: int | None = None
    crop_seconds: float | None = None
    crops_per_epoch: int | None = None
    patience: int | None = None
    round_to: int | None = None
    ema_alpha: float | None = None  # input stage (default.toml: running level, EMA on)
    eval_clips: int = 16  # test clips streamed through the int8 model for the int8 AUC
    calib_clips: int = 32
    convert: bool = True
    cycles: bool = False  # also generate firmware + measure on QEMU (`noisebudget firmware` / `measure`)

    def __post_init__(self) -> None:
        if any(getattr(self, k) is None for k in _FROM_CONFIG):
            d = default_settings()
            src = {"epochs": d.epochs, "channels": list(d.arch.channels), "dilations": list(d.arch.dilations),
                   "batch_size": d.batch_size, "crop_seconds": d.crop_seconds, "crops_per_epoch": d.crops_per_epoch,
                   "patience": d.patience, "round_to": d.round_to, "ema_alpha": d.arch.ema_alpha}
            for k in _FROM_CONFIG:
                if getattr(self, k) is None:
                    setattr(self, k, src[k])

    def settings(self, seed: int):
        from dataclasses import replace

        base = default_settings()
        arch = replace(base.arch, channels=list(self.channels), dilations=list(self.dilations),
                       ema_alpha=float(self.ema_alpha))
        return replace(base, arch=arch, epochs=int(self.epochs), batch_size=int(self.batch_size),
                       crop_seconds=float(self.crop_seconds), crops_per_epoch=int(self.crops_per_epoch),
                       patience=int(self.patience), round_to=int(self.round_to), seed=int(seed), device="cpu",
                       threads=1)


def quick_spec(corpus: str, out: str) -> SweepSpec:
    return SweepSpec(corpus=corpus, out=out, epochs=2, budgets=[2000], seeds=[0], channels=[24, 24, 24],
                     dilations=[1, 2], batch_size=4, crop_seconds=1.0, crops_per_epoch=8, patience=2, eval_clips=2,
                     calib_clips=4)


def job_key(method: str, budget: int, seed: int) -> str:
    return f"{method}-b{budget}-s{seed}"


def result_path(out: str | Path, key: str) -> Path:
    return Path(out) / "results" / f"{key}.json"


# --------------------------------------------------------------------------------------------- jobs
_DATA: dict[str, Any] = {}


def _data(corpus: str):
    if corpus not in _DATA:
        from train.frontend import FrontEndSpec
        from train.vad_train import load_splits

        _DATA.clear()
        _DATA[corpus] = load_splits(corpus, FrontEndSpec(), progress=False)
    return _DATA[corpus]


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def run_pretrain(spec_d: dict[str, Any], kind: str, seed: int) -> str:
    """Budget-independent first phase (cached in OUT/pretrain)."""
    import torch

    from train.baselines import pretrained
    from train.baselines.surgery import prepare_inputs

    torch.set_num_threads(1)
    spec = SweepSpec(**spec_d)
    data = _data(spec.corpus)
    settings = spec.settings(seed)
    prepare_inputs(data, settings.arch)
    pretrained(kind, settings, data, cache_dir=Path(spec.out) / "pretrain")
    return f"{kind}-s{seed}"


def estimate_cycles(run_dir: Path, target: str = "cortex-m4") -> tuple[float | None, str]:
    """Estimated cycles per hop of the int8 model alone (one invoke = one hop) on `target`: the .tflite is
    copied without its model_io.json, so `noisebudget firmware` generates the plain model library (the VAD
    library needs a prefix of the mel bands, which L1/slimming/L0 do not keep), then `noisebudget measure`
    counts the instructions on QEMU and applies the target's timing table (cycles_per_hop_mean)."""
    import shutil
    import subprocess

    if not (ROOT / "noisebudget" / "commands" / "firmware.py").is_file():
        return None, "no C code generator (noisebudget firmware) in this tree"
    cyc = run_dir / "cycles"
    cyc.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "model.tflite", cyc / "model.tflite")
    cmds = [
        [sys.executable, "-m", "noisebudget", "firmware", str(cyc / "model.tflite"), "--target", target,
         "-o", str(cyc / "fw"), "--no-tflm-arena"],
        [sys.executable, "-m", "noisebudget", "measure", str(cyc / "fw"), "--out", str(cyc / "measure.json")],
    ]
    for c in cmds:
        p = subprocess.run(c, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            return None, f"`noisebudget {c[3]}` failed: {(p.stderr or p.stdout).strip()[-300:]}"
    try:
        m = json.loads((cyc / "measure.json").read_text())
        return float(m["cycles_per_hop_mean"]), f"measured ({m.get('estimate', 'estimate')})"
    except (OSError, KeyError, ValueError, TypeError) as e:
        return None, f"measure.json unreadable: {e}"


def fill_cycles(spec: SweepSpec, log=print) -> None:
    """Add estimated cycles to finished results that have a .tflite but no cycles yet (resumable)."""
    for p in sorted((Path(spec.out) / "results").glob("*.json")):
        rec = json.loads(p.read_text())
        if rec.get("cycles_m4") is not None or rec.get("macs_tflite") is None:
            continue
        run_dir = Path(spec.out) / "runs" / p.stem
        rec["cycles_m4"], rec["cycles_note"] = estimate_cycles(run_dir)
        _write_result(spec.out, rec)
        log(f"{p.stem}: cycles/hop {rec['cycles_m4']} ({rec['cycles_note'][:80]})")


def run_job(spec_d: dict[str, Any], method: str, budget: int, seed: int) -> dict[str, Any]:
    """Train, evaluate, convert and measure one (method, budget, seed); returns the result record."""
    import numpy as np
    import torch

    from train.baselines import run_baseline
    from train.baselines.surgery import fold_static_input
    from train.run_dir import save_model
    from train.vad_model import step_cost
    from train.vad_train import evaluate, train_vad

    torch.set_num_threads(1)
    spec = SweepSpec(**spec_d)
    key = job_key(method, budget, seed)
    run_dir = Path(spec.out) / "runs" / key
    run_dir.mkdir(parents=True, exist_ok=True)
    data = _data(spec.corpus)
    settings = spec.settings(seed)
    t0 = time.perf_counter()
    log_lines: list[str] = []
    if method == "noise":
        res = train_vad(settings, spec.corpus, run_dir, budget_macs=budget, data=data, progress=False,
                        log=log_lines.append)
        model, metrics, history = res.model, res.metrics, res.history
        epochs_run = len(history)
    else:
        b = run_baseline(method, settings, data, budget, cache_dir=Path(spec.out) / "pretrain",
                         log=log_lines.append)
        model, history = b.model, b.history
        metrics = evaluate(model, data["dev"], data["test"])
        epochs_run = len(history)
    train_s = time.perf_counter() - t0
    model = fold_static_input(model)  # exact; lets the converter export the fixed input offset
    save_model(run_dir, model)
    cost = step_cost(model)
    s = metrics["summary"]
    rec: dict[str, Any] = {
        "method": method, "budget": budget, "seed": seed, "epochs": spec.epochs, "epochs_run": epochs_run,
        "mel_bands": len(model.desc["mel_bands"]), "channels": list(model.desc["channels"]),
        "macs_torch": cost["macs_per_hop"], "params": cost["params"],
        "test_auc": s["test_auc"], "test_eer": s["test_eer"], "test_f1": s["test_f1"],
        "test_fa_neg": s["test_fa_neg"], "dev_auc": s["dev_auc"], "train_seconds": train_s,
        "macs_tflite": None, "int8_auc": None, "float_auc_subset": None, "cycles_m4": None,
    }
    if spec.convert:
        from convert.convert_run import convert_model

        t1 = time.perf_counter()
        try:
            bands = model.desc["mel_bands"]
            tr, te = data["train"], data["test"]
            pick = sorted(np.random.default_rng(seed).permutation(len(tr.feats))[: spec.calib_clips])
            calib = [tr.feats[i][:, bands] for i in pick]
            ev = [(te.feats[i][:, bands], te.labels[i]) for i in range(min(spec.eval_clips, len(te.feats)))]
            rep = convert_model(model, calib, ev, run_dir, seed=seed)
            rec["macs_tflite"] = int(rep["macs"]["tflite_total"])
            rec["macs_equal"] = bool(rep["macs"]["equal"])
            rec["int8_auc"] = rep["auc"]["auc_tflite_int8"]
            rec["float_auc_subset"] = rep["auc"]["auc_torch_float"]
            rec["int8_eval_clips"] = rep["auc"]["clips"]
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            rec["convert_error"] = f"{type(e).__name__}: {e}"
        rec["convert_seconds"] = time.perf_counter() - t1
        if rec["macs_tflite"] is not None and spec.cycles:
            rec["cycles_m4"], rec["cycles_note"] = estimate_cycles(run_dir)
    rec["log_tail"] = log_lines[-3:]
    rec["cycles_note"] = rec.get("cycles_note") or "not measured (run with --cycles)"
    return _finite(rec)


def _write_result(out: str, rec: dict[str, Any]) -> None:
    from train.atomic import atomic_write_json

    atomic_write_json(result_path(out, job_key(rec["method"], rec["budget"], rec["seed"])), rec)


# ------------------------------------------------------------------------------------------- driver
def pending_jobs(spec: SweepSpec) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]]]:
    """(pretraining jobs, main jobs) that have no result yet."""
    jobs = [(m, b, s) for s in spec.seeds for b in spec.budgets for m in spec.methods
            if not result_path(spec.out, job_key(m, b, s)).is_file()]
    from train.baselines.fit import phase_epochs

    first, _ = phase_epochs(spec.settings(0))
    pre = sorted({(PRETRAIN_OF[m], s) for m, _, s in jobs if m in PRETRAIN_OF})
    pre = [(k, s) for k, s in pre if not (Path(spec.out) / "pretrain" / f"{k}-s{s}-e{first}.pt").is_file()]
    return pre, jobs


def schedule(pre: list[tuple[str, int]], jobs: list[tuple[str, int, int]]) -> list[tuple]:
    """Execution order: seed by seed (so a partial sweep has complete seeds), each seed's pretraining first,
    then its jobs by budget. Items: ("pre", kind, seed) or ("job", method, budget, seed)."""
    seeds = sorted({s for _, s in pre} | {s for _, _, s in jobs})
    order: list[tuple] = []
    for sd in seeds:
        order += [("pre", k, s) for k, s in pre if s == sd]
        order += [("job", m, b, s) for m, b, s in jobs if s == sd]
    return order


def _ready(item: tuple, pre_left: set[tuple[str, int]]) -> bool:
    return item[0] == "pre" or (PRETRAIN_OF.get(item[1]), item[3]) not in pre_left


def run_sweep(spec: SweepSpec, *, workers: int = 1, ray_address: str | None = None, log=print) -> list[dict]:
    from train.atomic import atomic_write_json

    out = Path(spec.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "sweep.json", asdict(spec))
    pre, jobs = pending_jobs(spec)
    log(f"sweep {out}: {len(jobs)} jobs to run ({len(pre)} pretraining jobs first), workers={workers}"
        + (f", ray={ray_address}" if ray_address else ""))
    spec_d = asdict(spec)
    t0 = time.perf_counter()
    order = schedule(pre, jobs)
    if ray_address:
        _run_ray(spec_d, order, workers, ray_address, log)
    elif workers <= 1:
        for item in order:
            _done(spec_d, item, run_pretrain(spec_d, *item[1:]) if item[0] == "pre" else run_job(spec_d, *item[1:]),
                  t0, log)
    else:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            def submit(item):
                return ex.submit(run_pretrain if item[0] == "pre" else run_job, spec_d, *item[1:])

            _drive(order, workers, submit, lambda fs: wait(fs, return_when=FIRST_COMPLETED)[0],
                   lambda f: f.result(), spec_d, t0, log)
    return load_results(spec.out)


def _drive(order, workers, submit, wait_any, result, spec_d, t0, log) -> None:
    """At most `workers` tasks in flight; the next one is the first in `order` whose pretraining is done."""
    todo = list(order)
    pre_left = {(it[1], it[2]) for it in todo if it[0] == "pre"}
    running: dict[Any, tuple] = {}
    while todo or running:
        while len(running) < workers:
            nxt = next((it for it in todo if _ready(it, pre_left)), None)
            if nxt is None:
                break
            todo.remove(nxt)
            running[submit(nxt)] = nxt
        if not running:
            raise RuntimeError(f"pareto: nothing can run; waiting on {sorted(pre_left)}")
        for f in wait_any(list(running)):
            item = running.pop(f)
            _done(spec_d, item, result(f), t0, log)
            if item[0] == "pre":
                pre_left.discard((item[1], item[2]))


def _done(spec_d: dict[str, Any], item: tuple, res: Any, t0: float, log) -> None:
    if item[0] == "pre":
        log(f"pretrained {res} ({time.perf_counter() - t0:.0f} s)")
    else:
        _write_result(spec_d["out"], res)
        log(_line(res, t0))


def _run_ray(spec_d, order, workers: int, address: str, log) -> None:
    import ray

    env = {"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}}
    if address == "local":
        ray.init(num_cpus=max(1, workers), include_dashboard=False, runtime_env=env, log_to_driver=False)
        slots = max(1, workers)
    else:
        ray.init(address=address, runtime_env=env, log_to_driver=False)
        slots = max(1, int(ray.cluster_resources().get("CPU", workers)))
    try:
        t0 = time.perf_counter()
        rpre = ray.remote(num_cpus=1)(run_pretrain)
        rjob = ray.remote(num_cpus=1)(run_job)

        def submit(item):
            return (rpre if item[0] == "pre" else rjob).remote(spec_d, *item[1:])

        _drive(order, slots, submit, lambda refs: ray.wait(refs, num_returns=1)[0], ray.get, spec_d, t0, log)
    finally:
        ray.shutdown()


def _line(rec: dict[str, Any], t0: float) -> str:
    return (f"[{time.perf_counter() - t0:6.0f} s] {job_key(rec['method'], rec['budget'], rec['seed'])}: "
            f"test AUC {rec['test_auc']:.4f}, tflite MACs {rec['macs_tflite']}, int8 AUC {rec['int8_auc']}, "
            f"train {rec['train_seconds']:.0f} s" + (f" CONVERT ERROR {rec['convert_error']}"
                                                      if rec.get("convert_error") else ""))


# ------------------------------------------------------------------------------------------ report
def load_results(out: str | Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((Path(out) / "results").glob("*.json"))]


COLUMNS = [("macs_tflite", "MACs (tflite)", "{:,.0f}"), ("params", "params", "{:,.0f}"),
           ("cycles_m4", "cycles/hop M4", "{:,.0f}"), ("test_auc", "test AUC", "{:.4f}"),
           ("test_eer", "EER", "{:.4f}"), ("test_f1", "F1", "{:.3f}"), ("test_fa_neg", "FA neg", "{:.4f}"),
           ("int8_auc", "int8 AUC*", "{:.4f}"), ("float_auc_subset", "float AUC*", "{:.4f}")]


def _mean_std(vals: list[float]) -> tuple[float, float] | None:
    v = [float(x) for x in vals if x is not None]
    if not v:
        return None
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in results:
        groups.setdefault((int(r["budget"]), r["method"]), []).append(r)
    rows = []
    for (b, m), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], METHODS.index(kv[0][1])
                                                              if kv[0][1] in METHODS else 99)):
        row: dict[str, Any] = {"budget": b, "method": m, "n": len(rs), "seeds": sorted(r["seed"] for r in rs)}
        for k, _, _ in COLUMNS:
            row[k] = _mean_std([r.get(k) for r in rs])
        rows.append(row)
    return rows


def format_table(results: list[dict[str, Any]]) -> str:
    rows = aggregate(results)
    head = ["budget", "method", "n"] + [h for _, h, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r['budget']:,}", LABELS.get(r["method"], r["method"]), str(r["n"])]
        for k, _, fmt in COLUMNS:
            ms = r[k]
            if ms is None:
                cells.append("n/a")
            elif r["n"] > 1:
                cells.append(f"{fmt.format(ms[0])} ± {fmt.format(ms[1])}")
            else:
                cells.append(fmt.format(ms[0]))
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "Mean ± std over seeds. MACs per 10 ms hop counted on the exported int8 .tflite; test AUC/EER of",
             "the float consolidated model on the whole test split; F1 and FA on negatives (fraction of negative-clip",
             "frames flagged) at the threshold giving 95 % recall on dev. *int8 AUC: TFLite int8 streamed over the",
             "first `eval_clips` test clips (see sweep.json); float AUC*: the float model on the same clips."]
    if all(r.get("cycles_m4") is None for r in results):
        why = {r.get("cycles_note") for r in results if r.get("cycles_note")}
        notes.append("cycles/hop M4: " + ("; ".join(sorted(why))[:400] or "not measured (run with --cycles)") + ".")
    return "\n".join(lines + notes)


def plot(results: list[dict[str, Any]], out: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = aggregate(results)
    paths = []
    for xkey, xlabel, name in (("macs_tflite", "MACs per hop (from the .tflite)", "auc_vs_macs.png"),
                               ("cycles_m4", "estimated cycles per hop, Cortex-M4", "auc_vs_cycles.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        any_pts = False
        for m in METHODS:
            pts = [(r[xkey][0], r["test_auc"][0], r["test_auc"][1]) for r in rows
                   if r["method"] == m and r[xkey] is not None and r["test_auc"] is not None]
            if not pts:
                continue
            any_pts = True
            pts.sort()
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                        capsize=3, label=LABELS[m], lw=2.5 if m == "noise" else 1.2)
        if any_pts:
            ax.set_xscale("log")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no measurements (see table notes)", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test AUC (frame level)")
        ax.grid(alpha=0.3)
        ax.set_title("VAD: learned widths vs baselines")
        fig.tight_layout()
        p = Path(out) / name
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def report(out: str | Path, log=print) -> str:
    from train.atomic import atomic_write_text

    results = load_results(out)
    table = format_table(results)
    atomic_write_text(Path(out) / "table.md", table + "\n")
    plot(results, out)
    log(table)
    return table


# --------------------------------------------------------------------------------------------- main
def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", help="corpus folder (manifest.jsonl); default: the built-in default corpus")
    ap.add_argument("--out", default="runs/benchmarks/pareto", help="sweep folder (results/, runs/, plots)")
    ap.add_argument("--budgets", type=_ints, help="MACs per hop, comma separated (default 2000,5000,20000,80000)")
    ap.add_argument("--seeds", type=_ints, help="comma separated (default 0,1,2)")
    ap.add_argument("--methods", help=f"comma separated subset of {','.join(METHODS)}")
    ap.add_argument("--epochs", type=int, help="total epochs per method (default: train.epochs of default.toml)")
    ap.add_argument("--ema-alpha", type=float, help="input stage (default: model.ema_alpha of default.toml; 0 = off)")
    ap.add_argument("--batch-size", type=int, help="crops per batch (default: train.batch_size of default.toml)")
    ap.add_argument("--crops-per-epoch", type=int, help="0 = one pass over the training audio")
    ap.add_argument("--eval-clips", type=int, help="test clips for the int8 AUC (default 16)")
    ap.add_argument("--no-convert", action="store_true", help="skip the TFLite export (no deployed MACs)")
    ap.add_argument("--cycles", action="store_true", help="estimate Cortex-M4 cycles (firmware + QEMU)")
    ap.add_argument("--cycles-only", action="store_true", help="only add cycles to finished results")
    ap.add_argument("--workers", type=int, default=2, help="local processes (or Ray CPUs with --ray local)")
    ap.add_argument("--ray", metavar="ADDRESS", help="run the jobs on Ray: 'local' or a cluster address")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny model, 2 epochs, 1 budget, 1 seed")
    ap.add_argument("--report", action="store_true", help="only print the table and write the plots")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if a.report:
        report(a.out)
        return 0
    corpus = a.corpus
    if not corpus:
        from noisebudget.config import default_config
        from noisebudget.pipeline import resolve_corpus

        corpus = str(resolve_corpus(default_config()))
    spec = quick_spec(corpus, a.out) if a.quick else SweepSpec(corpus=corpus, out=a.out)
    if a.budgets:
        spec.budgets = a.budgets
    if a.seeds:
        spec.seeds = a.seeds
    if a.methods:
        spec.methods = [m.strip() for m in a.methods.split(",") if m.strip()]
        bad = [m for m in spec.methods if m not in METHODS]
        if bad:
            ap.error(f"unknown method(s) {bad}; choose from {METHODS}")
    if a.epochs:
        spec.epochs = a.epochs
    if a.ema_alpha is not None:
        spec.ema_alpha = a.ema_alpha
    if a.batch_size:
        spec.batch_size = a.batch_size
    if a.crops_per_epoch is not None:
        spec.crops_per_epoch = a.crops_per_epoch
    if a.eval_clips:
        spec.eval_clips = a.eval_clips
    if a.no_convert:
        spec.convert = False
    spec.cycles = bool(a.cycles or a.cycles_only)
    prev = Path(spec.out) / "sweep.json"
    if prev.is_file():
        old = json.loads(prev.read_text())
        diff = [k for k in ("corpus", "epochs", "channels", "dilations", "batch_size", "crop_seconds",
                            "crops_per_epoch", "round_to", "ema_alpha") if old.get(k) != asdict(spec).get(k)]
        if diff:
            ap.error(f"{prev} was made with different settings ({', '.join(diff)}); use another --out")
    if not a.cycles_only:
        run_sweep(spec, workers=a.workers, ray_address=a.ray)
    if spec.cycles:
        fill_cycles(spec)
    report(spec.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
