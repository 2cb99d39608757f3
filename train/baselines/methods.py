"""The five baselines. Each returns a consolidated `StreamingVAD` with at most `budget` MACs per hop, trained
for the same total number of epochs as the noise-width run (`settings.epochs`): first phase
(pretraining or gate learning) = the noise-width run's width phase (`snap_at`), then fine-tuning.

- "l1":       dense full-width pretraining; Li et al. (2017) L1-norm filter pruning: one keep ratio for every
              dimension, units ranked by the L1 norm of their filter (mel bands: L1 of the stem weights over
              that band), the largest ratio that fits; fine-tune.
- "torchprune": the same pretrained dense model; Torch-Pruning (DepGraph, `MetaPruner`, L1 magnitude
              importance, global ranking, `round_to`) pruned step by step until it fits; hidden channels only
              (mel bands stay full: DepGraph prunes layers, not network inputs); fine-tune.
- "slimming": network slimming (Liu et al. 2017): learnable per-unit scales after every prunable dimension
              (the VAD has no BN) trained with an L1 penalty on the scales; global threshold on |scale| to fit
              the budget; scales folded into the next layer; fine-tune without scales.
- "l0":       hard-concrete L0 gates (Louizos et al. 2018) on every prunable dimension, trained under the same
              budget constraint as the noise widths (expected MACs under the gates, dual ascent with
              `train.budget.BudgetConstraint`, the same geometric anneal from the full model); units ranked
              by their gate's log alpha, selected globally to fit; gates folded; fine-tune.
- "dense":    every channel count scaled by one factor (mel bands kept at full 40: the front end is cheap
              next to the model, and keeping it full is the usual practice), trained from scratch for all
              epochs.

Pretraining does not depend on the budget, so `pretrained(...)` results can be cached and shared between
budgets (`cache_dir`): L1 and Torch-Pruning share the dense pretraining, slimming has its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from train.atomic import atomic_write_bytes
from train.baselines.fit import FitResult, fit, phase_epochs
from train.baselines.surgery import (
    GatedVAD,
    InputNorm,
    arch_of,
    fold_gates,
    macs,
    new_model,
    prepare_inputs,
    prune,
    select_global,
    uniform_counts,
    widths,
)
from train.errors import UsageError
from train.vad_model import StreamingVAD, VADArch, step_cost
from train.vad_train import SplitData, TrainSettings

METHODS = ("l1", "torchprune", "slimming", "l0", "dense")
SLIMMING_L1 = 1e-4  # Liu et al.'s lambda
GATE_LR_FACTOR = 10.0  # log alpha spans ~[-6, 6] where a width fraction spans [0, 1]


@dataclass
class BaselineResult:
    method: str
    model: StreamingVAD
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_first: int = 0
    epochs_finetune: int = 0
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def _norm(data: dict[str, SplitData], arch: VADArch) -> InputNorm:
    return prepare_inputs(data, arch)


def _extra(settings: TrainSettings, method: str, budget: int | None) -> dict[str, Any]:
    e: dict[str, Any] = {"method": method, "frontend": dict(settings.frontend)}
    if budget is not None:
        e["budget_macs"] = int(budget)
    return e


def _check(arch: VADArch, budget: int, round_to: int) -> None:
    lo = macs(arch, [1] + [max(1, round_to if round_to > 1 else 1)] * len(arch.channels))
    if budget < lo:
        raise UsageError(f"budget {budget} MACs per hop is below the smallest model of this family ({lo})")


# -------------------------------------------------------------------------------------- pretraining
def pretrained(kind: str, settings: TrainSettings, data: dict[str, SplitData], *,
               cache_dir: str | Path | None = None, log: Callable[[str], None] | None = None
               ) -> tuple[StreamingVAD, list[Any], dict[str, Any]]:
    """The budget-independent first phase: kind "dense" (full width, no gates) or "slimming" (full width with
    L1-penalised scales). Returns (model, gate values per dimension (ones for dense), info)."""
    first, _ = phase_epochs(settings)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{kind}-s{settings.seed}-e{first}.pt"
        if path.is_file():
            ck = torch.load(path, map_location="cpu", weights_only=False)
            return StreamingVAD.from_description(ck["desc"], ck["state_dict"]), ck["gates"], ck["info"]
    norm = _norm(data, settings.arch)
    a = settings.arch
    base = new_model(a, list(a.channels), norm, seed=settings.seed, extra=_extra(settings, kind, None))
    if kind == "dense":
        gated = GatedVAD(base, "none")
        pen = None
    elif kind == "slimming":
        gated = GatedVAD(base, "scale")

        def pen(g: GatedVAD) -> torch.Tensor:
            return SLIMMING_L1 * sum(p.abs().sum() for p in g.gates)
    else:
        raise ValueError(f"unknown pretraining kind {kind!r}")
    res = fit(gated, data, settings, epochs=first, export=lambda g: fold_gates(g.base, g.eval_gates()),
              penalty=pen, select_best=False, early_stop=False, desc=f"pretrain-{kind}", log=log)
    gates = [g.clone() for g in res.gated.eval_gates()]
    model = StreamingVAD.from_description(dict(res.gated.base.desc), res.gated.base.state_dict())
    info = {"history": res.history, "seconds": res.seconds, "epochs": first}
    if path is not None:
        buf = io.BytesIO()
        torch.save({"desc": model.desc, "state_dict": model.state_dict(), "gates": gates, "info": info}, buf)
        atomic_write_bytes(path, buf.getvalue())
    return model, gates, info


def _finetune(model: StreamingVAD, data, settings: TrainSettings, first: int, log) -> FitResult:
    _, ft = phase_epochs(settings)
    return fit(GatedVAD(model, "none"), data, settings, epochs=ft, first_epoch=first,
               export=lambda g: StreamingVAD.from_description(dict(g.base.desc), g.base.state_dict()),
               desc="finetune", log=log)


def _finish(method: str, res: FitResult, pre_info: dict[str, Any], settings: TrainSettings,
            info: dict[str, Any] | None = None) -> BaselineResult:
    first, ft = phase_epochs(settings)
    return BaselineResult(method=method, model=res.model, history=list(pre_info.get("history", [])) + res.history,
                          epochs_first=first, epochs_finetune=ft,
                          seconds=float(pre_info.get("seconds", 0.0)) + res.seconds, info=info or {})


# ---------------------------------------------------------------------------------------- pruning
def l1_scores(model: StreamingVAD) -> list[torch.Tensor]:
    """L1 norm per unit: mel band m = |stem weight[:, m, :]|; channel c of layer l = |filter producing it|
    (the stem filter or the pointwise filter)."""
    cv = model.convs
    out = [cv[0].weight.detach().abs().sum(dim=(0, 2)), cv[0].weight.detach().abs().sum(dim=(1, 2))]
    for i in range(1, len(widths(model)) - 1):
        out.append(cv[2 * i].weight.detach().abs().sum(dim=(1, 2)))
    return out


def l1_prune(model: StreamingVAD, budget: int, *, round_to: int = 1, scale_mels: bool = True) -> StreamingVAD:
    """Li et al.: one keep ratio for all dimensions (the largest that fits), lowest-L1 units removed."""
    a = arch_of(model)
    counts = uniform_counts(a, budget, scale_mels=scale_mels, round_to=round_to)
    scores = l1_scores(model)
    keep = [torch.sort(torch.argsort(s, descending=True)[:k]).values for s, k in zip(scores, counts, strict=True)]
    return prune(model, keep)


def run_l1(settings, data, budget, *, cache_dir=None, log=None) -> BaselineResult:
    _check(settings.arch, budget, settings.round_to)
    dense, _, pre = pretrained("dense", settings, data, cache_dir=cache_dir, log=log)
    pruned = l1_prune(dense, budget, round_to=settings.round_to)
    pruned.desc.update(_extra(settings, "l1", budget))
    first, _ = phase_epochs(settings)
    return _finish("l1", _finetune(pruned, data, settings, first, log), pre, settings)


def torchprune_prune(model: StreamingVAD, budget: int, *, round_to: int = 1, steps: int = 64) -> StreamingVAD:
    """Torch-Pruning global structured pruning (DepGraph) of the hidden channels, iterated until it fits."""
    import torch_pruning as tp

    work = StreamingVAD.from_description(dict(model.desc), {k: v.clone() for k, v in model.state_dict().items()})
    net = GatedVAD(work, "none").eval()
    a = arch_of(model)
    example = torch.zeros(1, 16, work.n_inputs)
    pruner = tp.pruner.MetaPruner(
        net, example, importance=tp.importance.MagnitudeImportance(p=1), global_pruning=True,
        pruning_ratio=0.97, max_pruning_ratio=0.95, iterative_steps=steps, ignored_layers=[work.convs[-1]],
        round_to=round_to if round_to > 1 else None,
    )

    def counts() -> list[int]:
        return [work.convs[0].in_channels] + [work.convs[0].out_channels] + [
            work.convs[2 * i].out_channels for i in range(1, len(a.channels))]

    for _ in range(steps):
        if macs(a, counts()) <= budget:
            break
        pruner.step()
    if macs(a, counts()) > budget:  # the ratio cap reached: finish with the same L1 ranking, globally
        rebuilt = _rebuild(work, counts())
        keep = select_global(l1_scores(rebuilt), a, budget, round_to=round_to)
        return prune(rebuilt, keep)
    return _rebuild(work, counts())


def _rebuild(work: StreamingVAD, counts: list[int]) -> StreamingVAD:
    """StreamingVAD description + weights of a model whose convs were pruned in place."""
    d = dict(work.desc)
    d["channels"] = counts[1:]
    sd = {k: v.detach().clone() for k, v in work.state_dict().items()}
    return StreamingVAD.from_description(d, sd)


def run_torchprune(settings, data, budget, *, cache_dir=None, log=None) -> BaselineResult:
    _check(settings.arch, budget, settings.round_to)
    dense, _, pre = pretrained("dense", settings, data, cache_dir=cache_dir, log=log)
    pruned = torchprune_prune(dense, budget, round_to=settings.round_to)
    pruned.desc.update(_extra(settings, "torchprune", budget))
    first, _ = phase_epochs(settings)
    return _finish("torchprune", _finetune(pruned, data, settings, first, log), pre, settings)


def run_slimming(settings, data, budget, *, cache_dir=None, log=None) -> BaselineResult:
    _check(settings.arch, budget, settings.round_to)
    base, gates, pre = pretrained("slimming", settings, data, cache_dir=cache_dir, log=log)
    folded = fold_gates(base, gates)
    keep = select_global([g.abs() for g in gates], arch_of(base), budget, round_to=settings.round_to)
    pruned = prune(folded, keep, extra=_extra(settings, "slimming", budget))
    first, _ = phase_epochs(settings)
    return _finish("slimming", _finetune(pruned, data, settings, first, log), pre, settings)


# ------------------------------------------------------------------------------------------------ L0
def expected_macs(gated: GatedVAD) -> torch.Tensor:
    """E[MACs per hop] under independent hard-concrete gates: the MAC polynomial is multilinear in the
    widths of distinct dimensions, so E[MACs] = MACs(E[widths]) with E[width] = sum P(z != 0)."""
    a = arch_of(gated.base)
    w = [g.prob_nonzero().sum() for g in gated.gates]
    return macs_exact_soft(a, w)


def macs_exact_soft(a: VADArch, w: list[torch.Tensor]) -> torch.Tensor:
    from train.vad_model import macs_per_hop

    return macs_per_hop(a, w[0], list(w[1:]))


def run_l0(settings, data, budget, *, cache_dir=None, log=None) -> BaselineResult:
    from train.baselines.fit import crop_frames
    from train.budget import BudgetConstraint
    from train.vad_train import make_crops

    _check(settings.arch, budget, settings.round_to)
    a = settings.arch
    norm = _norm(data, settings.arch)
    base = new_model(a, list(a.channels), norm, seed=settings.seed, extra=_extra(settings, "l0", budget))
    gated = GatedVAD(base, "l0")
    first, _ = phase_epochs(settings)
    lengths = [len(y) for y in data["train"].labels]
    n_batches = max(1, len(make_crops(lengths, crop_frames(settings), settings.crops_per_epoch, settings.seed, 0))
                    // settings.batch_size)
    full = macs(a, [a.n_mels, *a.channels])
    constraint = BudgetConstraint(budget, mode=settings.budget_mode, weight=settings.budget_weight,
                                  dual_lr=settings.dual_lr, target=settings.aim,
                                  anneal_steps=int(settings.anneal * first * n_batches), start_cost=float(full))
    state: dict[str, float] = {}

    def pen(g: GatedVAD) -> torch.Tensor:
        cost = expected_macs(g)
        state["cost"] = float(cost.detach())
        return constraint.penalty(cost)

    def after(g: GatedVAD, step: int) -> None:
        constraint.update(state["cost"])

    def export(g: GatedVAD) -> StreamingVAD:
        scores = [hc.log_alpha.detach().clone() for hc in g.gates]
        keep = select_global(scores, a, budget, round_to=settings.round_to)
        return prune(fold_gates(g.base, g.eval_gates()), keep)

    res = fit(gated, data, settings, epochs=first, export=export, penalty=pen, after_step=after,
              gate_lr=settings.width_lr * GATE_LR_FACTOR, select_best=False, early_stop=False, desc="l0-gates",
              log=log)
    pruned = export(res.gated)
    pruned.desc.update(_extra(settings, "l0", budget))
    info = {"expected_macs_end": state.get("cost"), "multiplier_end": constraint.multiplier,
            "kept_after_gates": widths(pruned)}
    pre = {"history": res.history, "seconds": res.seconds}
    return _finish("l0", _finetune(pruned, data, settings, first, log), pre, settings, info)


# --------------------------------------------------------------------------------------------- dense
def run_dense(settings, data, budget, *, cache_dir=None, log=None) -> BaselineResult:
    _check(settings.arch, budget, settings.round_to)
    a = settings.arch
    counts = uniform_counts(a, budget, scale_mels=False, round_to=settings.round_to)
    norm = _norm(data, settings.arch)
    model = new_model(a, counts[1:], norm, seed=settings.seed, extra=_extra(settings, "dense", budget))
    res = fit(GatedVAD(model, "none"), data, settings, epochs=settings.epochs,
              export=lambda g: StreamingVAD.from_description(dict(g.base.desc), g.base.state_dict()),
              desc="dense", log=log)
    return BaselineResult(method="dense", model=res.model, history=res.history, epochs_first=0,
                          epochs_finetune=settings.epochs, seconds=res.seconds)


RUNNERS = {"l1": run_l1, "torchprune": run_torchprune, "slimming": run_slimming, "l0": run_l0, "dense": run_dense}


def run_baseline(method: str, settings: TrainSettings, data: dict[str, SplitData], budget: int, *,
                 cache_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> BaselineResult:
    """Train baseline `method` at `budget` MACs per hop; the model's exact per-hop MACs are checked."""
    if method not in RUNNERS:
        raise UsageError(f"unknown baseline {method!r}; choose from {', '.join(METHODS)}")
    torch.manual_seed(settings.seed)
    prepare_inputs(data, settings.arch)  # model inputs for the crops (also done when pretraining is cached)
    res = RUNNERS[method](settings, data, int(budget), cache_dir=cache_dir, log=log)
    res.model.eval()
    got = step_cost(res.model)["macs_per_hop"]
    if got > budget:
        raise AssertionError(f"{method}: {got} MACs per hop > budget {budget}")
    res.info["macs_per_hop"] = got
    return res
