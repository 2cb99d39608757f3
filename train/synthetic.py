"""Synthetic case study: learned widths find the informative inputs and the needed hidden width.

Task: x ~ N(0, I_64); only `n_informative` (8) input features, at random positions, matter. A ReLU
teacher of known hidden width (16) maps them to y (standardised), labels get Gaussian noise
(std `label_noise`). Error = test MSE on held-out noisy labels (Bayes floor = label_noise**2).

Student: MLP in(64) -> h1(64) -> h2(32) -> 1, ReLU, all widths prunable incl. the input.
MACs = in*h1 + h1*h2 + h2.

Methods (equal total training steps `steps` for all):
- `train_noise_width`: learned widths under MACs <= budget by dual ascent for (1 - finetune_frac)*steps
  (optionally after a dense warm-up of warmup_frac of them, without the penalty), the tracked budget annealed
  from the full model's MACs over anneal_frac of the width phase; then `snap_to_budget` to integer widths,
  `prune_inputs_by_value` (value_snap), and a dense phase for the rest of the steps (finetune_frac = 0.5).
  Step accounting: width phase 1500 + dense phase 1500 = 3000 optimizer steps, the same as the oracle (3000)
  and post-hoc (1500 wide + 1500 fine-tune); the dense phase uses the oracle's optimiser (Adam, lr, batch).
  Defaults (one setting for every budget; chosen on seeds 0-9 and 100-109, so `first_seed` = 200 gives seeds
  not used for choosing):
  - hidden widths ordered with a ramp over `hidden_temperature` = 4 units, Adam rate `width_lr` = 3e-3 with
    `equal_unit_speed` (`train.budget.make_optimizer`): Adam moves each kappa by about its rate per step, so
    with one rate h1 (64 units) shrank twice as fast in units as h2 (32) while the 56 junk inputs, not yet
    dead, made an h1 unit cost ~90 MACs: h1 ended narrower than h2 (8-7-11, 8-8-9 at budget 150, where the
    oracle's 8-12-4 is 4-10 % better); with equal units per step the allocations come out h1 > h2;
  - inputs: one lam per input at the slower rate `input_width_lr` = 1e-3, and every `value_prune_every` = 300
    width-phase steps the live inputs of no held-out value (a paired test at `value_prune_z` = 2 standard
    errors, noise off, on a held-out 1/8 of the training set the width phase never trains on) go for good:
    junk inputs stop taxing h1 early, and the slow rate keeps weak informative inputs alive until the widths
    settle (the MAC cost is bilinear: an input costs h1 MACs, and h1 is wide early in the anneal). At 3
    standard errors the first test removed a weak informative input the model had not learned to use yet;
    at rate 3e-3 without the tests such inputs died in the anneal;
  - the tracked budget anneals over `anneal_frac` = 0.8 of the width phase;
  - `value_snap`: after the snap every kept input of no held-out value (at `value_z` = 3 standard errors) is
    dropped and the hidden widths regrow into the freed MACs (`prune_inputs_by_value`; forward passes only);
  - `dense_phase` = "keep": the consolidated dense model continues from the noise-trained weights, so all 3000
    steps train the final model. "reinit" (a fresh MLP of the learned widths, the oracle's initialisation)
    gets only the 1500 remaining steps: a fixed 8-12-4 MLP trained 1500 steps has test MSE 0.1151 (mean,
    seeds 0-9) against 0.1057 after 3000, so reinit pays ~9 % at budget 150 for the step accounting alone;
    "noise" fine-tunes the noise model with noise off.
  Other options (ablations): `dual_kp` (PI damping of the multiplier), `warmup_frac`, `value_prune_mid` (one
  input test at the end of the anneal), `equal_unit_speed=False`, `dense_phase`. Dead ends removed in session 4
  (none helped the input selection): a cap on the input lam, a gradient floor for dead inputs, and one input
  width over a weight-saliency ranking of the inputs.
- `train_posthoc`: train the full-width model for (1 - finetune_frac)*steps, prune inputs/units by the
  L1 norm of their weights to a uniform keep ratio that fits the budget, fine-tune for the rest.
- `train_fixed`: a plain model at fixed widths. Oracle: knows the informative inputs; the width grid is
  searched on seed 0, the best grid point <= each budget is then trained on every seed.

`run_case_study(cfg) -> CaseStudyResult` runs all of it; `format_table`, `plot` render it.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train.budget import BudgetConstraint, make_optimizer, snap_to_budget
from train.consolidate import consolidate
from train.cost import CostModel, exact_macs
from train.layers import InputNoise, PLinear
from train.noise import NoiseWidth, noise_widths, weight_parameters


@dataclass
class SynthConfig:
    n_inputs: int = 64
    n_informative: int = 8
    teacher_hidden: int = 16
    hidden: tuple[int, int] = (64, 32)
    label_noise: float = 0.3
    n_train: int = 8192
    n_test: int = 8192
    steps: int = 3000
    batch: int = 128
    lr: float = 3e-3
    width_lr: float = 3e-3
    dual_lr: float = 0.02
    target: float = 0.97
    finetune_frac: float = 0.5
    anneal_frac: float = 0.8
    warmup_frac: float = 0.0
    input_width_lr: float | None = 1e-3  # None: the common width_lr
    max_violation: float = 0.5
    dual_kp: float = 0.0
    hidden_temperature: float = 4.0
    value_snap: bool = True  # after the snap, drop kept inputs of no held-out value (`prune_inputs_by_value`)
    value_prune_mid: bool = False  # also drop inputs of no held-out value at the end of the anneal
    value_prune_every: int = 300  # >0: every N width-phase steps drop inputs of no held-out value
    value_prune_z: float = 2.0  # ... or of a gain <= value_prune_z standard errors
    value_holdout: int = 1024  # value_snap measures on the last N training samples, which it then never trains on
    equal_unit_speed: bool = True  # hidden widths move the same units per step (`make_optimizer`)
    value_z: float = 3.0  # value_snap also drops inputs whose held-out loss gain is not > value_z standard errors
    dense_phase: str = "keep"  # after the snap: "noise" fine-tune the noise model (noise off), "keep" train the
    # consolidated dense model from its weights, "reinit" train a freshly initialised dense model (oracle's init)
    budgets: tuple[int, ...] = (150, 300, 600, 1200)
    seeds: int = 10
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1 (fresh seeds: a check not used for choosing)
    oracle_in: tuple[int, ...] = (7, 8)
    oracle_h1: tuple[int, ...] = (4, 8, 12, 16, 24, 32, 48)
    oracle_h2: tuple[int, ...] = (2, 4, 8, 16)
    timing_steps: int = 300


@dataclass
class Task:
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    informative: list[int]


def make_task(cfg: SynthConfig, seed: int) -> Task:
    g = torch.Generator().manual_seed(10_000 + seed)
    informative = sorted(torch.randperm(cfg.n_inputs, generator=g)[: cfg.n_informative].tolist())
    w1 = torch.randn(cfg.teacher_hidden, cfg.n_informative, generator=g) / math.sqrt(cfg.n_informative)
    b1 = 0.3 * torch.randn(cfg.teacher_hidden, generator=g)
    v = torch.randn(cfg.teacher_hidden, generator=g)

    def teacher(x: Tensor) -> Tensor:
        return F.relu(x[:, informative] @ w1.T + b1) @ v

    n = cfg.n_train + cfg.n_test
    x = torch.randn(n, cfg.n_inputs, generator=g)
    y = teacher(x)
    y = (y - y[: cfg.n_train].mean()) / y[: cfg.n_train].std()
    y = y + cfg.label_noise * torch.randn(n, generator=g)
    return Task(x[: cfg.n_train], y[: cfg.n_train, None], x[cfg.n_train :], y[cfg.n_train :, None], informative)


def mlp_macs(n_in: int, h1: int, h2: int) -> int:
    return n_in * h1 + h1 * h2 + h2


# ------------------------------------------------------------------ models
class NoiseMLP(nn.Module):
    def __init__(self, cfg: SynthConfig) -> None:
        super().__init__()
        h1, h2 = cfg.hidden
        self.inp = InputNoise(cfg.n_inputs, dim=-1, mode="per_unit")
        t = cfg.hidden_temperature
        self.l1 = PLinear(cfg.n_inputs, h1, in_width=self.inp.width,
                          out_width=NoiseWidth(h1, kappa_min=1 / h1, temperature=t))
        self.l2 = PLinear(h1, h2, in_width=self.l1.out_width,
                          out_width=NoiseWidth(h2, kappa_min=1 / h2, temperature=t))
        self.out = PLinear(h2, 1, in_width=self.l2.out_width, act=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.l2(self.l1(self.inp(x))))

    def widths(self) -> tuple[int, int, int]:
        return self.inp.width.kept(), self.l1.out_width.kept(), self.l2.out_width.kept()


def plain_mlp(n_in: int, h1: int, h2: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 1))


def _batches(task: Task, cfg: SynthConfig, seed: int):
    g = torch.Generator().manual_seed(seed)
    n = task.x_train.shape[0]
    while True:
        idx = torch.randint(0, n, (cfg.batch,), generator=g)
        yield task.x_train[idx], task.y_train[idx]


@torch.no_grad()
def test_error(model: nn.Module, task: Task, cols: list[int] | None = None) -> float:
    model.eval()
    x = task.x_test if cols is None else task.x_test[:, cols]
    return float(F.mse_loss(model(x), task.y_test))


# ------------------------------------------------------------------ methods
@dataclass
class MethodResult:
    method: str
    budget: int
    seed: int
    widths: tuple[int, int, int]
    macs: int
    error: float
    inputs_correct: int = 0  # informative inputs among the kept ones
    history: dict = field(default_factory=dict)


def train_noise_width(task: Task, cfg: SynthConfig, budget: int, seed: int,
                      mode: str = "dual", weight: float = 1.0) -> MethodResult:
    torch.manual_seed(seed)
    model = NoiseMLP(cfg)
    cm = CostModel(model, task.x_train[:1])
    n_learn = int(round(cfg.steps * (1 - cfg.finetune_frac)))
    n_warm = int(round(cfg.warmup_frac * n_learn))
    con = BudgetConstraint(budget, mode=mode, weight=weight, dual_lr=cfg.dual_lr, target=cfg.target,
                           anneal_steps=int(cfg.anneal_frac * (n_learn - n_warm)), start_cost=cm.max_macs(),
                           max_violation=cfg.max_violation, kp=cfg.dual_kp)
    opt = make_optimizer(model, lr=cfg.lr, width_lr=cfg.width_lr, foreach=True, equal_unit_speed=cfg.equal_unit_speed,
                         width_lr_of=None if cfg.input_width_lr is None else {model.inp.width: cfg.input_width_lr})
    project = _projector(model)
    held_out = None
    train_task = task
    if cfg.value_snap:  # hold out the value-measurement samples from the noise-width training (all phases)
        h = max(1, min(cfg.value_holdout, task.x_train.shape[0] // 8))
        held_out = (task.x_train[-h:], task.y_train[-h:])
        train_task = Task(task.x_train[:-h], task.y_train[:-h], task.x_test, task.y_test, task.informative)
    batches = _batches(train_task, cfg, seed)
    hist: dict[str, list] = {"soft_macs": [], "multiplier": []}
    if cfg.dense_phase not in ("noise", "keep", "reinit"):
        raise ValueError(f"dense_phase must be 'noise', 'keep' or 'reinit', got {cfg.dense_phase!r}")
    dense = cfg.dense_phase != "noise"

    def snap() -> None:
        hist["err_before_snap"] = test_error(model, task)
        snap_to_budget(model, cm, budget)
        if cfg.value_snap:
            hist["inputs_dropped"] = prune_inputs_by_value(model, cm, budget, *held_out, z=cfg.value_z)
        hist["snapped_widths"] = list(model.widths())
        hist["snapped_macs"] = cm.hard_macs()
        hist["err_after_snap"] = test_error(model, task)

    model.train()
    for step in range(n_learn if dense else cfg.steps):
        if step == n_learn:
            snap()
            model.train()
            opt = torch.optim.Adam(weight_parameters(model), lr=cfg.lr, foreach=True)
        if cfg.value_snap and cfg.value_prune_mid and step == n_warm + con.anneal_steps and step < n_learn:
            hist["inputs_dropped_mid"] = drop_useless_inputs(model, *held_out)
        if (cfg.value_snap and cfg.value_prune_every > 0 and n_warm < step < n_learn
                and (step - n_warm) % cfg.value_prune_every == 0):
            hist.setdefault("inputs_dropped_during", []).extend(
                drop_useless_inputs(model, *held_out, z=cfg.value_prune_z))
        xb, yb = next(batches)
        loss = F.mse_loss(model(xb), yb)
        penalize = n_warm <= step < n_learn
        if penalize:
            macs = cm.macs()
            loss = loss + con.penalty(macs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step < n_learn:
            project()
        if penalize:
            m = float(macs.detach())
            con.update(m)
            if step % 10 == 0:
                hist["soft_macs"].append(m)
                hist["multiplier"].append(con.multiplier)
    if dense:
        snap()
        plain, cols = dense_model(model, seed, reinit=cfg.dense_phase == "reinit")
        # the dense phase trains on the whole training set (the held-out part only chose the inputs)
        _fit(plain, task, cfg, cfg.steps - n_learn, seed + 1, cols)
    else:
        plain, cols = consolidate(model), None
    x1 = task.x_test[:1] if cols is None else task.x_test[:1, cols]
    macs_exact = exact_macs(plain, x1)
    assert macs_exact == cm.hard_macs()
    err = test_error(plain, task, cols)
    kept_inputs = model.inp.width.kept_index().tolist()
    return MethodResult("noise-width", budget, seed, model.widths(), macs_exact, err,
                        len(set(kept_inputs) & set(task.informative)), hist)


def dense_model(model: NoiseMLP, seed: int, *, reinit: bool) -> tuple[nn.Module, list[int] | None]:
    """The snapped noise model as a plain dense model of the same widths, and the input columns it reads.

    reinit=False: `consolidate(model)` (reads all inputs, selects the kept ones itself: cols None); its outputs
    equal the noise model's eval outputs. reinit=True: a fresh `plain_mlp` over the kept input columns, with
    PyTorch's default initialisation seeded like the oracle's `train_fixed`."""
    if not reinit:
        net = consolidate(model)
        for p in net.parameters():
            p.requires_grad_(True)
        return net, None
    torch.manual_seed(seed)
    return plain_mlp(*model.widths()), model.inp.width.kept_index().tolist()


def _removal_gains(model: NoiseMLP, x: Tensor, y: Tensor, units: list[int], remove) -> dict[int, tuple[float, float]]:
    """For each input unit: (mean, standard error) over the samples of the per-sample held-out loss increase
    when `remove(unit)` (a context manager) takes it out. Noise off; forward passes only."""
    per = F.mse_loss(model(x), y, reduction="none").flatten()
    out = {}
    for i in units:
        with remove(i):
            d = F.mse_loss(model(x), y, reduction="none").flatten() - per
        out[i] = (float(d.mean()), float(d.std()) / math.sqrt(d.numel()))
    return out


def _useless(gain: tuple[float, float], z: float) -> bool:
    """No held-out value: the loss does not rise without the input, or (z > 0) rises by <= z standard errors."""
    mean, se = gain
    return mean <= 0.0 or (z > 0 and mean <= z * se)


@torch.no_grad()
def drop_useless_inputs(model: NoiseMLP, x: Tensor, y: Tensor, *, z: float = 0.0) -> list[int]:
    """During the width phase: remove for good the live inputs of no held-out value (`_useless`, noise off),
    so the widths keep learning with the right input cost. Returns their indices (none if all would go)."""
    inp = model.inp.width
    if inp.mode != "per_unit":
        return []

    @contextmanager
    def without(i: int):
        old = float(inp.theta[i])
        inp.theta[i] = 0.0
        try:
            yield
        finally:
            inp.theta[i] = old

    was_training = model.training
    model.eval()
    live = inp.kept_index().tolist()
    gains = _removal_gains(model, x, y, live, without)
    dead = [i for i in live if _useless(gains[i], z)]
    if dead and len(dead) < len(live):
        inp.disallow_(dead)
    else:
        dead = []
    model.train(was_training)
    return dead


@torch.no_grad()
def prune_inputs_by_value(model: NoiseMLP, cm: CostModel, budget: float, x: Tensor, y: Tensor, *,
                          z: float = 0.0) -> list[int]:
    """Value-aware rounding of the input width, after `snap_to_budget` fixed every width.

    Drops every kept input of no held-out value (`_useless`: measured noise off on held-out samples `x`, `y`;
    z > 0 makes it a paired test, so junk inputs with a chance gain go even when the budget is loose enough to
    keep them), keeping the most valuable input at least; then `snap_to_budget` regrows the hidden widths into
    the freed MACs (still <= budget). Returns the dropped input indices. Forward passes only.
    (An earlier rule also dropped inputs worth less per MAC than the last unit of a hidden width. The removal
    value of an existing unit is no measure of what a new unit would add: on fresh seeds it dropped two
    informative inputs of a model at budget 300 and doubled its error.)
    """
    inp = model.inp.width

    @contextmanager
    def without(i: int):
        old = inp.fixed_mask.clone()
        inp.fixed_mask[i] = False
        try:
            yield
        finally:
            inp.fixed_mask.copy_(old)

    was_training = model.training
    model.eval()
    kept = inp.kept_index().tolist()
    gains = _removal_gains(model, x, y, kept, without)
    dropped = [i for i in kept if _useless(gains[i], z)]
    if dropped and len(dropped) == len(kept):  # keep the most valuable input at least
        dropped.remove(max(kept, key=lambda i: gains[i][0]))
    if dropped:
        mask = inp.kept_mask()
        mask[dropped] = False
        inp.fix_mask(mask)
        snap_to_budget(model, cm, budget)
    model.train(was_training)
    return dropped


def _projector(model: nn.Module):
    """`project_widths(model)` with the NoiseWidth list looked up once (no module walk per step)."""
    widths = list(noise_widths(model).values())

    def project() -> None:
        for w in widths:
            w.project_()

    return project


def _fit(model: nn.Module, task: Task, cfg: SynthConfig, steps: int, seed: int, cols: list[int] | None,
         params=None) -> None:
    opt = torch.optim.Adam(model.parameters() if params is None else params, lr=cfg.lr, foreach=True)
    batches = _batches(task, cfg, seed)
    model.train()
    for _ in range(steps):
        xb, yb = next(batches)
        if cols is not None:
            xb = xb[:, cols]
        loss = F.mse_loss(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def train_fixed(task: Task, cfg: SynthConfig, cols: list[int], h1: int, h2: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = plain_mlp(len(cols), h1, h2)
    _fit(model, task, cfg, cfg.steps, seed, cols)
    return test_error(model, task, cols)


def posthoc_widths(budget: int, cfg: SynthConfig) -> tuple[int, int, int]:
    """Uniform keep ratio r (same for input, h1, h2) with the largest MACs <= budget."""
    h1, h2 = cfg.hidden
    best = (1, 1, 1)
    for step in range(1, 1001):
        r = step / 1000
        w = (max(1, math.floor(r * cfg.n_inputs)), max(1, math.floor(r * h1)), max(1, math.floor(r * h2)))
        if mlp_macs(*w) <= budget:
            best = w
    return best


def train_wide(task: Task, cfg: SynthConfig, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    h1, h2 = cfg.hidden
    model = plain_mlp(cfg.n_inputs, h1, h2)
    _fit(model, task, cfg, int(round(cfg.steps * (1 - cfg.finetune_frac))), seed, None)
    return model


def prune_l1(wide: nn.Sequential, widths: tuple[int, int, int]) -> tuple[nn.Sequential, list[int]]:
    """Keep the inputs/units with the largest L1 norm of their weights (input: outgoing; hidden: incoming)."""
    k_in, k1, k2 = widths
    l1, l2, l3 = wide[0], wide[2], wide[4]
    with torch.no_grad():
        cols = torch.argsort(-l1.weight.abs().sum(0))[:k_in].sort().values
        u1 = torch.argsort(-l1.weight.abs().sum(1))[:k1].sort().values
        u2 = torch.argsort(-l2.weight.abs().sum(1))[:k2].sort().values
        m = plain_mlp(k_in, k1, k2)
        m[0].weight.copy_(l1.weight[u1][:, cols])
        m[0].bias.copy_(l1.bias[u1])
        m[2].weight.copy_(l2.weight[u2][:, u1])
        m[2].bias.copy_(l2.bias[u2])
        m[4].weight.copy_(l3.weight[:, u2])
        m[4].bias.copy_(l3.bias)
    return m, cols.tolist()


def train_posthoc(task: Task, cfg: SynthConfig, budget: int, seed: int,
                  wide: nn.Sequential | None = None) -> MethodResult:
    wide = train_wide(task, cfg, seed) if wide is None else wide
    widths = posthoc_widths(budget, cfg)
    model, cols = prune_l1(wide, widths)
    n_ft = cfg.steps - int(round(cfg.steps * (1 - cfg.finetune_frac)))
    _fit(model, task, cfg, n_ft, seed + 1, cols)
    macs = exact_macs(model, task.x_test[:1, cols])
    return MethodResult("post-hoc L1", budget, seed, widths, macs, test_error(model, task, cols),
                        len(set(cols) & set(task.informative)))


# ------------------------------------------------------------------ timing
def training_overhead(cfg: SynthConfig, seed: int = 0) -> dict:
    """Wall time per step of the noise-width MLP (noise + cost + dual update) vs the same plain MLP."""
    task = make_task(cfg, seed)
    h1, h2 = cfg.hidden
    torch.manual_seed(seed)
    noisy = NoiseMLP(cfg)
    cm = CostModel(noisy, task.x_train[:1])
    con = BudgetConstraint(1000.0, dual_lr=cfg.dual_lr)
    opt_n = make_optimizer(noisy, lr=cfg.lr, width_lr=cfg.width_lr, foreach=True)
    project = _projector(noisy)
    plain = plain_mlp(cfg.n_inputs, h1, h2)
    opt_p = torch.optim.Adam(plain.parameters(), lr=cfg.lr, foreach=True)
    batches = _batches(task, cfg, seed)
    data = [next(batches) for _ in range(cfg.timing_steps)]

    def step_noisy(xb: Tensor, yb: Tensor) -> None:
        macs = cm.macs()
        loss = F.mse_loss(noisy(xb), yb) + con.penalty(macs)
        opt_n.zero_grad(set_to_none=True)
        loss.backward()
        opt_n.step()
        project()
        con.update(float(macs.detach()))

    def step_plain(xb: Tensor, yb: Tensor) -> None:
        loss = F.mse_loss(plain(xb), yb)
        opt_p.zero_grad(set_to_none=True)
        loss.backward()
        opt_p.step()

    times = {"noise-width": [], "plain": []}
    for _ in range(3):  # interleave repetitions so load changes hit both
        for name, fn in (("plain", step_plain), ("noise-width", step_noisy)):
            t0 = time.perf_counter()
            for xb, yb in data:
                fn(xb, yb)
            times[name].append((time.perf_counter() - t0) / len(data))
    t_noise, t_plain = min(times["noise-width"]), min(times["plain"])
    return {"noise_ms_per_step": 1e3 * t_noise, "plain_ms_per_step": 1e3 * t_plain, "ratio": t_noise / t_plain}


# ------------------------------------------------------------------ study
@dataclass
class CaseStudyResult:
    config: dict
    runs: list[MethodResult]
    oracle_grid: list[dict]  # best grid point per budget: {"widths", "macs", "errors": [per seed]}
    overhead: dict
    oracle_search: list[dict] = field(default_factory=list)  # the whole grid on seed 0

    def oracle_best(self, max_macs: float) -> dict | None:
        fits = [o for o in self.oracle_grid if o["macs"] <= max_macs]
        return min(fits, key=lambda o: float(np.mean(o["errors"]))) if fits else None

    def to_json(self) -> dict:
        return {"config": self.config, "runs": [asdict(r) for r in self.runs], "oracle_grid": self.oracle_grid,
                "overhead": self.overhead, "oracle_search": self.oracle_search}


def min_budget(cfg: SynthConfig) -> int:
    """MACs of the smallest model the student can become (1 input, min hidden widths)."""
    model = NoiseMLP(cfg)
    return CostModel(model, torch.zeros(1, cfg.n_inputs)).min_macs()


def run_case_study(cfg: SynthConfig, progress=None) -> CaseStudyResult:
    torch.set_num_threads(1)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    tasks = {s: make_task(cfg, s) for s in seeds}
    jobs = len(seeds) * (2 * len(cfg.budgets) + 1)
    grid = [(i, a, b) for i in cfg.oracle_in for a in cfg.oracle_h1 for b in cfg.oracle_h2
            if mlp_macs(i, a, b) <= max(cfg.budgets)]
    jobs += len(grid) + len(cfg.budgets) * (len(seeds) - 1)
    bar = progress(total=jobs) if progress else None

    def tick(desc: str) -> None:
        if bar is not None:
            bar.set_description(desc)
            bar.update(1)

    runs: list[MethodResult] = []
    for s in seeds:
        for b in cfg.budgets:
            runs.append(train_noise_width(tasks[s], cfg, b, s))
            tick(f"noise-width b={b} s={s}")
        wide = train_wide(tasks[s], cfg, s)
        tick(f"wide s={s}")
        for b in cfg.budgets:
            runs.append(train_posthoc(tasks[s], cfg, b, s, wide=wide))
            tick(f"post-hoc b={b} s={s}")
    # oracle: search the fixed-width grid on seed 0, then re-train the best point <= each budget on all seeds
    def cols_for(t: Task, i: int) -> list[int]:
        extra = [c for c in range(cfg.n_inputs) if c not in t.informative]
        return (t.informative + extra)[:i]

    search = []
    s0 = seeds[0]
    for i, a, b in grid:
        err = train_fixed(tasks[s0], cfg, cols_for(tasks[s0], i), a, b, s0)
        search.append({"widths": (i, a, b), "macs": mlp_macs(i, a, b), "errors": [err]})
        tick(f"oracle search {i}-{a}-{b}")
    oracle = []
    for b in cfg.budgets:
        fits = [o for o in search if o["macs"] <= b]
        if not fits:
            continue
        best = min(fits, key=lambda o: o["errors"][0])
        if any(o["widths"] == best["widths"] for o in oracle):
            continue
        errs = [best["errors"][0]]
        for s in seeds[1:]:
            i, a, h2 = best["widths"]
            errs.append(train_fixed(tasks[s], cfg, cols_for(tasks[s], i), a, h2, s))
            tick(f"oracle {best['widths']} s={s}")
        oracle.append({"widths": best["widths"], "macs": best["macs"], "errors": errs})
    res_search = search
    if bar is not None:
        bar.close()
    overhead = training_overhead(cfg)
    return CaseStudyResult(asdict(cfg), runs, oracle, overhead, res_search)


def summary_rows(res: CaseStudyResult) -> list[dict]:
    """One row per (budget, method): widths (per seed), MACs mean, error mean/std, and the oracle."""
    rows = []
    for b in res.config["budgets"]:
        for method in ("noise-width", "post-hoc L1"):
            rs = [r for r in res.runs if r.budget == b and r.method == method]
            errs = [r.error for r in rs]
            rows.append({"budget": b, "method": method, "widths": [tuple(r.widths) for r in rs],
                         "macs": [r.macs for r in rs], "macs_mean": float(np.mean([r.macs for r in rs])),
                         "err_mean": float(np.mean(errs)), "err_std": float(np.std(errs)),
                         "inputs_correct": [r.inputs_correct for r in rs]})
        best = res.oracle_best(b)
        if best is not None:
            rows.append({"budget": b, "method": "oracle (best grid point <= budget)",
                         "widths": [tuple(best["widths"])], "macs": [best["macs"]], "macs_mean": best["macs"],
                         "err_mean": float(np.mean(best["errors"])), "err_std": float(np.std(best["errors"])),
                         "inputs_correct": []})
    return rows


def acceptance(res: CaseStudyResult, rows: list[dict] | None = None) -> list[dict]:
    """Issue 2's acceptance per budget, for the noise-width runs: every run's MACs within [0.90, 1.00] x budget;
    every run's input width = n_informative +- 1; mean error <= post-hoc mean error; mean error within 10 %
    of the oracle's (best grid point <= budget) mean error."""
    rows = summary_rows(res) if rows is None else rows
    n_inf = res.config["n_informative"]
    out = []
    for b in res.config["budgets"]:
        nw = next(r for r in rows if r["budget"] == b and r["method"] == "noise-width")
        ph = next(r for r in rows if r["budget"] == b and r["method"] == "post-hoc L1")
        orc = next((r for r in rows if r["budget"] == b and r["method"].startswith("oracle")), None)
        ratios = [m / b for m in nw["macs"]]
        ins = [w[0] for w in nw["widths"]]
        gap = None if orc is None else nw["err_mean"] / orc["err_mean"] - 1
        out.append({"budget": b, "macs_ratio": (min(ratios), max(ratios)),
                    "macs_ok": all(0.90 <= q <= 1.00 for q in ratios),
                    "inputs": (min(ins), max(ins)), "inputs_ok": all(abs(k - n_inf) <= 1 for k in ins),
                    "err": nw["err_mean"], "posthoc_err": ph["err_mean"],
                    "posthoc_ok": nw["err_mean"] <= ph["err_mean"],
                    "oracle_gap": gap, "oracle_ok": gap is not None and gap <= 0.10})
    return out


def acceptance_lines(res: CaseStudyResult, rows: list[dict] | None = None) -> list[str]:
    n_inf = res.config["n_informative"]
    lines = []
    for a in acceptance(res, rows):
        def ok(flag: bool) -> str:
            return "ok" if flag else "FAIL"

        gap = "n/a" if a["oracle_gap"] is None else f"{100 * a['oracle_gap']:+.1f} %"
        lines.append(f"acceptance @{a['budget']}: MACs/budget {a['macs_ratio'][0]:.3f}-{a['macs_ratio'][1]:.3f} "
                     f"in [0.90, 1.00] {ok(a['macs_ok'])} | input width {a['inputs'][0]}-{a['inputs'][1]} "
                     f"({n_inf} +- 1) {ok(a['inputs_ok'])} | MSE {a['err']:.4f} <= post-hoc "
                     f"{a['posthoc_err']:.4f} {ok(a['posthoc_ok'])} | vs oracle {gap} <= +10 % {ok(a['oracle_ok'])}")
    return lines


def format_table(res: CaseStudyResult) -> str:
    """One line per (budget, method): widths and informative inputs kept per seed, MACs/budget (min-max over
    seeds), test MSE mean +- std, and the relative gap to the oracle's mean error at that budget."""
    lines = [f"{'budget':>7}  {'method':<36} {'widths in-h1-h2 (per seed)':<34} {'inf. kept':<10} "
             f"{'MACs/budget':<13} {'test MSE mean+-std':<20} {'vs oracle':>9}"]
    rows = summary_rows(res)
    for r in rows:
        ws = " ".join("-".join(str(v) for v in w) for w in r["widths"])
        ratios = [m / r["budget"] for m in r["macs"]]
        rr = f"{min(ratios):.3f}" if len(ratios) == 1 else f"{min(ratios):.3f}-{max(ratios):.3f}"
        orc = next((o for o in rows if o["budget"] == r["budget"] and o["method"].startswith("oracle")), None)
        gap = "" if orc is None or r is orc else f"{100 * (r['err_mean'] / orc['err_mean'] - 1):+.1f} %"
        kept = ",".join(str(k) for k in r["inputs_correct"])
        lines.append(f"{r['budget']:>7}  {r['method']:<36} {ws:<34} {kept:<10} {rr:<13} "
                     f"{r['err_mean']:.4f} +- {r['err_std']:.4f}   {gap:>9}")
    lines.extend(acceptance_lines(res, rows))
    ov = res.overhead
    lines.append(f"training overhead: noise-width {ov['noise_ms_per_step']:.3f} ms/step vs plain "
                 f"{ov['plain_ms_per_step']:.3f} ms/step -> ratio {ov['ratio']:.2f}x")
    lines.append(f"Bayes floor (label noise variance): {res.config['label_noise'] ** 2:.4f}")
    return "\n".join(lines)


def load_result(path) -> CaseStudyResult:
    """Read a results.json written by `run_and_report` back (to re-render the table or the plot)."""
    import json
    from pathlib import Path

    d = json.loads(Path(path).read_text())
    runs = [MethodResult(**{**r, "widths": tuple(r["widths"])}) for r in d["runs"]]
    return CaseStudyResult(d["config"], runs, d["oracle_grid"], d["overhead"], d.get("oracle_search", []))


def plot(res: CaseStudyResult, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for method, marker in (("noise-width", "o"), ("post-hoc L1", "s")):
        rs = [r for r in res.runs if r.method == method]
        ax.scatter([r.macs for r in rs], [r.error for r in rs], marker=marker, alpha=0.35)
        rows = [r for r in summary_rows(res) if r["method"] == method]
        ax.errorbar([r["macs_mean"] for r in rows], [r["err_mean"] for r in rows],
                    yerr=[r["err_std"] for r in rows], marker=marker, label=f"{method} (mean +- std)", capsize=3)
    pts = sorted((o["macs"], float(np.mean(o["errors"]))) for o in res.oracle_search)
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=".", color="grey", alpha=0.5,
               label=f"fixed-width grid (seed {res.config.get('first_seed', 0)})")
    orc = sorted(res.oracle_grid, key=lambda o: o["macs"])
    ax.errorbar([o["macs"] for o in orc], [float(np.mean(o["errors"])) for o in orc],
                yerr=[float(np.std(o["errors"])) for o in orc], marker="^", color="black", capsize=3,
                label="oracle (best grid point <= budget, mean +- std)")
    for b in res.config["budgets"]:
        ax.axvline(b, color="red", lw=0.5, ls=":")
    ax.axhline(res.config["label_noise"] ** 2, color="green", lw=0.8, ls="--", label="Bayes floor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per inference")
    ax.set_ylabel("test MSE")
    ax.set_title("Synthetic: 8 informative of 64 inputs, teacher width 16")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    from train.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def quick_config() -> SynthConfig:
    return SynthConfig(n_train=2048, n_test=2048, steps=600, budgets=(300, 1200), seeds=2, oracle_in=(8,),
                       oracle_h1=(8, 16, 32), oracle_h2=(2, 8), timing_steps=50)


def validate(cfg: SynthConfig) -> None:
    """Raise train.errors.UsageError for budgets/seeds the study cannot run."""
    from train.errors import UsageError

    if cfg.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {cfg.seeds}")
    if not cfg.budgets:
        raise UsageError("at least one --budget is needed")
    lo = min_budget(cfg)
    h1, h2 = cfg.hidden
    hi = mlp_macs(cfg.n_inputs, h1, h2)
    for b in cfg.budgets:
        if b <= 0:
            raise UsageError(f"--budget must be a positive number of MACs, got {b}")
        if b < lo:
            raise UsageError(f"--budget {b} is below the smallest possible model ({lo} MACs)")
        if b >= hi:
            raise UsageError(f"--budget {b} does not constrain the model (full width costs {hi} MACs)")


def apply_overrides(cfg: SynthConfig, items: list[str]) -> SynthConfig:
    """`["key=value", ...]` -> a copy of cfg with those (scalar) fields replaced; UsageError on bad input."""
    import dataclasses

    from train.errors import UsageError

    types = {f.name: type(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    changes: dict = {}
    for item in items:
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or key not in types:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(types)}")
        if key in ("input_width_lr",) and val.strip().lower() == "none":
            changes[key] = None
            continue
        t = types[key] if types[key] is not type(None) else float
        if t in (tuple, list):
            raise UsageError(f"--set {key}: tuple fields cannot be set here (use --budget / --seeds)")
        try:
            changes[key] = (val.strip().lower() in ("1", "true", "yes")) if t is bool else t(val)
        except ValueError as e:
            raise UsageError(f"--set {key}={val!r}: not a valid {t.__name__}") from e
    return dataclasses.replace(cfg, **changes)


def run_and_report(cfg: SynthConfig, out_dir, *, log=print) -> CaseStudyResult:
    """Run the study, print the table, write results.json, table.txt and error_vs_macs.png to out_dir."""
    from pathlib import Path

    from tqdm import tqdm

    from train.atomic import atomic_write_json, atomic_write_text

    validate(cfg)
    out = Path(out_dir)
    res = run_case_study(cfg, progress=lambda total: tqdm(total=total, leave=False))
    table = format_table(res)
    log(table)
    atomic_write_text(out / "table.txt", table + "\n")
    atomic_write_json(out / "results.json", res.to_json())
    plot(res, out / "error_vs_macs.png")
    log(f"wrote {out / 'table.txt'}, {out / 'results.json'}, {out / 'error_vs_macs.png'}")
    return res
