"""Budget-constrained training: minimise task loss s.t. cost(w) <= budget.

Public API
----------
`BudgetConstraint(budget, *, mode="dual"|"fixed", weight=1.0, dual_lr=0.05, target=0.97, multiplier_init=0.0)`
    - `.penalty(cost: Tensor) -> Tensor`: add it to the task loss. The cost is normalised by the budget,
      r = cost / budget, so one `dual_lr` serves every budget. dual mode: `multiplier * r`;
      fixed mode: `weight * r` (a plain trade-off weight for Pareto sweeps; `update` is then a no-op).
    - `.update(cost_value: float)`: dual ascent on the relative violation,
      multiplier <- max(0, multiplier + dual_lr * clip(cost / (B_t * target) - 1, +-max_violation)).
      `target` < 1 aims the soft cost slightly under the budget so the integer model fits. The clip keeps a
      model that starts 20x over budget from building a huge multiplier (and then undershooting).
      With `anneal_steps` and `start_cost` (e.g. `CostModel.max_macs()`), the tracked budget B_t falls
      geometrically from start_cost to the budget over the first anneal_steps updates, so widths shrink
      gradually while the weights adapt; afterwards B_t = budget.
    - `kp` (default 0 = pure integral, the old behaviour): PI control, the penalty weight is
      max(0, integral + kp * last clipped violation) - damps the overshoot after an anneal.
    - `.multiplier` (float), `.state_dict()` / `.load_state_dict(d)` for resume.
`snap_to_budget(model, cost_model, budget=None, *, round_to=1) -> dict[str, int]`
    After the width-learning phase: fix every NoiseWidth of `model` to an integer width (lam in {0,1}),
    starting from floor(soft width) (ordered) or the number of units with lam >= 0.5 (per-unit), rounded
    down to a multiple of `round_to`; then greedily growing the widths with the largest relative unmet
    soft width (per-unit dims only into units with lam >= 0.5) while the hard MACs stay <= budget
    (or shrinking the cheapest-per-MAC widths if even the floors exceed it). Fine-tune the weights afterwards.
`make_optimizer(model, *, lr=1e-3, width_lr=1e-2, weight_decay=0.0, foreach=None, equal_unit_speed=False,
               width_lr_of=None) -> torch.optim.Adam` with the width parameters (`train.noise.width_parameters`)
    in their own group (no weight decay); `foreach=True` uses the multi-tensor Adam (same maths, less per-step
    Python work; None = torch's default).
    - `equal_unit_speed`: Adam moves every parameter by about its rate per step, so an ordered width's
      fraction kappa moving at `width_lr` moves n * width_lr units: a dimension twice as wide shrinks twice as
      fast in units, whatever its value per MAC. With this flag each ordered width gets its own group at
      `width_lr * n_min / n` (n_min: the narrowest ordered width of the model), so all move the same number of
      units per step (per-unit widths keep `width_lr`).
    - `width_lr_of`: {NoiseWidth: rate} overrides for single widths (e.g. a slower input selection).

Recipe (see `train.synthetic.train_noise_width`): for each step: loss = task + constraint.penalty(cm.macs());
backward; opt.step(); project_widths(model); constraint.update(float(cm.macs())). For the last ~20% of the
steps: snap_to_budget(...) then train the weights only (widths fixed).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from train.noise import noise_widths, weight_parameters

MODES = ("dual", "fixed")


class BudgetConstraint:
    def __init__(self, budget: float, *, mode: str = "dual", weight: float = 1.0, dual_lr: float = 0.05,
                 target: float = 0.97, multiplier_init: float = 0.0, anneal_steps: int = 0,
                 start_cost: float | None = None, max_violation: float = 0.5, kp: float = 0.0) -> None:
        if not budget > 0:
            raise ValueError(f"BudgetConstraint: budget must be > 0, got {budget}")
        if mode not in MODES:
            raise ValueError(f"BudgetConstraint: mode must be one of {MODES}, got {mode!r}")
        if not 0 < target <= 1.0:
            raise ValueError(f"BudgetConstraint: target must be in (0, 1], got {target}")
        self.budget = float(budget)
        self.mode = mode
        self.weight = float(weight)
        self.dual_lr = float(dual_lr)
        self.target = float(target)
        self._mult = float(multiplier_init)
        self.anneal_steps = int(anneal_steps)
        self.start_cost = float(start_cost) if start_cost is not None else None
        self.max_violation = float(max_violation)
        if kp < 0:
            raise ValueError(f"BudgetConstraint: kp must be >= 0, got {kp}")
        self.kp = float(kp)
        self._last_v = 0.0
        self.step = 0

    def current_budget(self) -> float:
        """The budget the dual ascent tracks now: geometric anneal from start_cost to budget over anneal_steps."""
        if not self.anneal_steps or self.start_cost is None or self.step >= self.anneal_steps:
            return self.budget
        f = self.step / self.anneal_steps
        start = max(self.start_cost, self.budget)
        return self.budget * (start / self.budget) ** (1.0 - f)

    @property
    def multiplier(self) -> float:
        """The weight of the penalty now: dual mode max(0, integral + kp * last violation); fixed: `weight`."""
        if self.mode != "dual":
            return self.weight
        return max(0.0, self._mult + self.kp * self._last_v)

    def ratio(self, cost: Tensor | float) -> Tensor | float:
        return cost / self.budget

    def penalty(self, cost: Tensor) -> Tensor:
        return self.multiplier * (cost / self.budget)

    def update(self, cost_value: float) -> None:
        if self.mode != "dual":
            return
        v = float(cost_value) / (self.current_budget() * self.target) - 1.0
        v = max(-self.max_violation, min(self.max_violation, v))
        self._mult = max(0.0, self._mult + self.dual_lr * v)
        self._last_v = v
        self.step += 1

    def state_dict(self) -> dict:
        return {"budget": self.budget, "mode": self.mode, "weight": self.weight, "dual_lr": self.dual_lr,
                "target": self.target, "multiplier": self._mult, "anneal_steps": self.anneal_steps,
                "start_cost": self.start_cost, "max_violation": self.max_violation, "step": self.step,
                "kp": self.kp, "last_violation": self._last_v}

    def load_state_dict(self, d: dict) -> None:
        self.budget = float(d["budget"])
        self.mode = str(d["mode"])
        self.weight = float(d["weight"])
        self.dual_lr = float(d["dual_lr"])
        self.target = float(d["target"])
        self._mult = float(d["multiplier"])
        self.anneal_steps = int(d.get("anneal_steps", 0))
        self.start_cost = d.get("start_cost")
        self.max_violation = float(d.get("max_violation", 0.5))
        self.step = int(d.get("step", 0))
        self.kp = float(d.get("kp", 0.0))
        self._last_v = float(d.get("last_violation", 0.0))


def make_optimizer(model: nn.Module, *, lr: float = 1e-3, width_lr: float = 1e-2,
                   weight_decay: float = 0.0, foreach: bool | None = None, equal_unit_speed: bool = False,
                   width_lr_of: dict | None = None) -> torch.optim.Adam:
    groups = [{"params": weight_parameters(model), "lr": lr, "weight_decay": weight_decay}]
    widths = list(noise_widths(model).values())
    ordered = [w.n for w in widths if w.mode == "ordered"]
    own = dict(width_lr_of or {})
    if equal_unit_speed and ordered:
        for w in widths:
            if w.mode == "ordered" and w not in own:
                own[w] = width_lr * min(ordered) / w.n
    common = [w._param() for w in widths if w not in own]
    if common:
        groups.append({"params": common, "lr": width_lr, "weight_decay": 0.0})
    groups += [{"params": [w._param()], "lr": float(r), "weight_decay": 0.0} for w, r in own.items()]
    return torch.optim.Adam(groups, foreach=foreach)


@torch.no_grad()
def snap_to_budget(model: nn.Module, cost_model, budget: float | None = None, *,
                   round_to: int = 1) -> dict[str, int]:
    widths = noise_widths(model)
    n_step = max(1, int(round_to))
    soft = {name: float(w.soft_width()) for name, w in widths.items()}
    live = {name: w.kept() for name, w in widths.items()}

    def lowest(w) -> int:
        lo = max(1, w.min_units())
        return min(w.n, math.ceil(lo / n_step) * n_step)

    k = {}
    for name, w in widths.items():
        if w.mode == "per_unit":  # round each lam: keep the units with SNR lam/(1-lam) >= 1
            soft[name] = float((w.lam().detach() >= 0.5).sum())
            live[name] = int(soft[name])
        kk = (math.floor(soft[name] + 1e-6) // n_step) * n_step
        k[name] = min(w.n, max(kk, lowest(w)))
    if budget is None:
        for name, w in widths.items():
            w.fix_width(k[name])
        return k

    by_nw = {name: widths[name] for name in widths}

    def macs(kk: dict[str, int]) -> int:
        return cost_model.macs_at({by_nw[n]: v for n, v in kk.items()})

    # shrink if the floors do not fit: drop the step that saves the most MACs per lost soft unit
    while macs(k) > budget:
        best = None
        for name, w in widths.items():
            nk = k[name] - n_step
            if nk < lowest(w):
                continue
            trial = dict(k)
            trial[name] = nk
            saving = macs(k) - macs(trial)
            if saving > 0 and (best is None or saving > best[0]):
                best = (saving, name, nk)
        if best is None:
            break
        k[best[1]] = best[2]
    # grow while it fits: largest relative unmet soft width first. Per-unit dims only into live units
    # (lam >= 0.5); ordered dims may grow past their live units (fresh units, trained by the fine-tuning).
    while True:
        cands = []
        for name, w in widths.items():
            cap = live[name] if w.mode == "per_unit" else w.n
            nk = min(k[name] + n_step, w.n)
            if nk == k[name] or nk > max(cap, k[name]):
                continue
            trial = dict(k)
            trial[name] = nk
            if macs(trial) <= budget:
                cands.append(((soft[name] - k[name]) / max(soft[name], 1.0), name, nk))
        if not cands:
            break
        cands.sort(key=lambda c: -c[0])
        k[cands[0][1]] = cands[0][2]
    for name, w in widths.items():
        w.fix_width(k[name])
    return k
