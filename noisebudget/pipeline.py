"""Run orchestration: config -> budget -> corpus -> train -> run folder -> summary.

    cfg = build_config(config_path, overrides)          # RunConfig (defaults + file + flags)
    budget = resolve_budget(cfg)                        # Budget (MACs per hop, with its derivation)
    result = train_run(cfg, out_dir, resume=False)      # trains and writes the run folder (rank 0)
    print(format_summary(result, budget))

The budget is MACs per 10 ms hop for the model alone. Either given (`budget.macs`) or derived from a target
profile (`noisebudget.target_profiles`): cycles per hop available = cpu_load * clock / hop rate; the model
gets what the front end leaves, divided by the profile's initial cycles-per-MAC figure. Measurement
(later stages) replaces the estimate with counted instructions.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noisebudget.config import RunConfig, dump_config, load_config, set_value, validate
from train.errors import DataError, UsageError

HOP_RATE_HZ = 100.0  # one decision per 10 ms hop


@dataclass
class Budget:
    macs: int
    source: str  # "macs" (given) | "target"
    detail: dict[str, Any]

    def describe(self) -> str:
        if self.source == "macs":
            return f"{self.macs} MACs/hop (given)"
        d = self.detail
        return (
            f"{self.macs} MACs/hop from {d['target']} @ {d['clock_hz'] / 1e6:g} MHz, cpu load "
            f"{d['cpu_load']:.0%}: {d['cycles_per_hop']:.0f} cycles/hop - front end "
            f"{d['frontend_cycles']:.0f} = {d['model_cycles']:.0f} cycles / "
            f"{d['cycles_per_mac']:g} cycles/MAC"
        )


# ------------------------------------------------------------------------------------------- config
def build_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file, then `overrides` ({"section.key": value}, e.g. from CLI flags)."""
    cfg = load_config(path)
    for key, value in (overrides or {}).items():
        if value is not None:
            set_value(cfg, key, value, check=False)
    validate(cfg, source="command line")
    return cfg


def settings_from_config(cfg: RunConfig):
    from train.vad_model import arch_from_config
    from train.vad_train import TrainSettings

    m, t, b = cfg.model, cfg.train, cfg.budget
    return TrainSettings(
        arch=arch_from_config(m, cfg.frontend.n_mels),
        kappa_min=m.kappa_min,
        width_mode=m.width_mode,
        input_width_mode=m.input_width_mode,
        round_to=m.round_to,
        epochs=t.epochs,
        batch_size=t.batch_size,
        crop_seconds=t.crop_seconds,
        crops_per_epoch=t.crops_per_epoch,
        lr=t.lr,
        width_lr=t.width_lr,
        equal_unit_speed=t.equal_unit_speed,
        weight_decay=t.weight_decay,
        patience=t.patience,
        seed=t.seed,
        device=t.device,
        threads=t.threads,
        budget_mode=b.mode,
        budget_weight=b.weight,
        dual_lr=b.dual_lr,
        dual_down=b.dual_down,
        aim=b.aim,
        snap_at=t.snap_at,
        anneal=t.anneal,
        frontend=dataclasses.asdict(cfg.frontend),
    )


# ------------------------------------------------------------------------------------------- budget
def load_target(name: str) -> Any:
    from noisebudget.target_profiles import load_target as _load

    return _load(name)


def resolve_budget(cfg: RunConfig) -> Budget:
    """`budget.macs` if set, else (cpu_load * clock / hop rate - front-end cycles) / cycles per MAC of the
    target profile (its "default" figure: the model mixes conv, depthwise and dense ops)."""
    b = cfg.budget
    if b.macs > 0:
        return Budget(int(b.macs), "macs", {"macs": int(b.macs)})
    p = load_target(b.target)
    per_hop = float(p.cycles_budget(b.cpu_load))
    fe = float(p.frontend_cycles_per_hop)
    cpm = p.cycles_per_mac.get("default")
    if not cpm:
        raise UsageError(f"target profile '{b.target}' has no default cycles_per_mac; give --budget-macs")
    macs = int(p.mac_budget(b.cpu_load))
    detail = {
        "target": p.name,
        "clock_hz": float(p.clock_hz),
        "hop_rate_hz": float(p.hop_rate_hz),
        "cpu_load": b.cpu_load,
        "cycles_per_hop": per_hop,
        "frontend_cycles": fe,
        "model_cycles": per_hop - fe,
        "cycles_per_mac": float(cpm),
    }
    if macs <= 0:
        raise UsageError(
            f"budget.cpu_load {b.cpu_load} on {p.name} leaves no cycles for the model: "
            f"{per_hop:.0f} cycles per hop, the front end alone needs about {fe:.0f}"
        )
    return Budget(macs, "target", detail)


# ------------------------------------------------------------------------------------------- corpus
def default_corpus_dir(cfg: RunConfig) -> Path:
    try:
        from train.data.build import default_out

        return Path(default_out(cfg.corpus.minutes, cfg.corpus.seed))
    except ImportError:
        return Path(".cache/corpus") / f"vad-{cfg.corpus.minutes:g}m-s{cfg.corpus.seed}"


def resolve_corpus(cfg: RunConfig, *, progress: bool = True) -> Path:
    """The corpus folder: `corpus.dir` if given, else the default corpus (built once by the DATA builder)."""
    if cfg.corpus.dir:
        d = Path(cfg.corpus.dir)
        if not (d / "manifest.jsonl").is_file():
            raise DataError(f"corpus {d}: no manifest.jsonl (build one with `noisebudget data build`)")
        return d
    d = default_corpus_dir(cfg)
    if (d / "manifest.jsonl").is_file():
        return d
    try:
        from train.data.build import build_corpus
    except ImportError as e:
        raise DataError(f"no corpus at {d} and the corpus builder is not available ({e}); pass --corpus DIR") from e
    import inspect

    params = inspect.signature(build_corpus).parameters
    kwargs: dict[str, Any] = {}
    for name, value in (
        ("minutes", cfg.corpus.minutes),
        ("seed", cfg.corpus.seed),
        ("progress", progress),
        ("task", "vad"),
    ):
        if name in params:
            kwargs[name] = value
    out = build_corpus(d, **kwargs)
    return Path(out) if isinstance(out, str | os.PathLike) else d


# -------------------------------------------------------------------------------------------- train
def default_out_dir(budget: Budget, cfg: RunConfig) -> Path:
    return Path("runs") / f"vad-b{budget.macs}-s{cfg.train.seed}"


def check_budget_feasible(cfg: RunConfig, budget: Budget) -> None:
    from train.vad_train import build_model, check_budget

    check_budget(build_model(settings_from_config(cfg)), budget.macs)


def train_run(
    cfg: RunConfig,
    out_dir: str | Path | None = None,
    *,
    budget: Budget | None = None,
    resume: bool = False,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    log=print,
):
    """Train under the budget and write the run folder (rank 0). Returns (TrainResult, Budget, run dir)."""
    from train.run_dir import save_run
    from train.vad_train import setup_process, train_vad

    budget = budget or resolve_budget(cfg)
    check_budget_feasible(cfg, budget)  # fail fast, before any corpus work
    out = Path(out_dir) if out_dir else default_out_dir(budget, cfg)
    settings = settings_from_config(cfg)
    d = setup_process(settings)
    if d.world > 1:
        import torch.distributed as dist

        if d.main:
            corpus = resolve_corpus(cfg, progress=progress)
        dist.barrier()
        if not d.main:
            corpus = resolve_corpus(cfg, progress=False)
    else:
        corpus = resolve_corpus(cfg, progress=progress)
    if d.main:
        log(f"corpus {corpus}; budget {budget.describe()}; run folder {out}")
    result = train_vad(
        settings,
        corpus,
        out,
        budget_macs=budget.macs,
        resume=resume,
        progress=progress,
        stop_after_epoch=stop_after_epoch,
        log=log,
    )
    if d.main and not result.interrupted:
        cost = dict(result.cost)
        cost.update(
            budget_macs=budget.macs,
            budget_ratio=cost["macs_per_hop"] / budget.macs,
            budget_source=budget.source,
            budget_detail=budget.detail,
        )
        metrics = dict(result.metrics)
        metrics.update(
            train_wall_time_s=result.wall_time_s,
            best_epoch=result.best_epoch,
            epochs_run=len(result.history),
            corpus=str(corpus),
        )
        save_run(
            out,
            result.model,
            cost=cost,
            metrics=metrics,
            history=result.history,
            config_text=dump_config(cfg),
        )
    return result, budget, out


def format_summary(result: Any, budget: Budget, out_dir: Path) -> str:
    desc = result.model.description()
    s = result.metrics.get("summary", {})
    lines = [
        f"run folder        {out_dir}",
        f"budget            {budget.describe()}",
        f"model             {result.cost['macs_per_hop']} MACs/hop "
        f"({result.cost['macs_per_hop'] / budget.macs:.1%} "
        f"of budget), {result.cost['params']} params",
        f"widths            {len(desc['mel_bands'])}/{desc['n_mels_full']} mel bands, "
        f"channels {desc['channels']} "
        f"(full {desc['channels_full']})",
    ]
    if s:
        lines += [
            f"dev               AUC {s['dev_auc']:.4f}  EER {s['dev_eer']:.4f}",
            f"test              AUC {s['test_auc']:.4f}  EER {s['test_eer']:.4f}  F1 {_f(s.get('test_f1'))}  "
            f"FA on negatives {_f(s.get('test_fa_neg'))} (threshold for 95% dev recall)",
        ]
    lines.append(f"training time     {result.wall_time_s:.0f} s, best epoch {result.best_epoch}")
    return "\n".join(lines)


def _f(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4f}"


__all__ = [
    "Budget",
    "build_config",
    "resolve_budget",
    "resolve_corpus",
    "train_run",
    "format_summary",
    "settings_from_config",
    "load_config",
]
