"""Consolidation: turn a trained noise-width model into a plain, smaller torch model.

`consolidate(model, *, round_to=1, budget=None, example_input=None) -> nn.Module`
    Deep-copies `model` and replaces, recursively,
    - every prunable block (`train.layers.PBlock`) by `block.consolidated()` (plain nn.Linear/Conv1d/Conv2d,
      kept channels only, BN folded, output sqrt(lam) folded into its weights),
    - every `InputNoise` by a `SelectFeatures` of the kept input features,
    - every `NoiseApply` by an identity (or a `ChannelScale` where kept lam < 1),
    - every remaining `NoiseWidth` attribute by `NoiseOff` (identity).
    The model's own forward must only call these submodules (no direct NoiseWidth calls, no hard-coded
    channel counts). The result is in eval mode; its outputs equal `model.eval()` outputs (noise off).
    `round_to=N` rounds every kept width up to a multiple of N (capped at n): the extra units have lam = 0,
    i.e. they are exact zeros, so outputs stay equal. If `budget` is given (needs `example_input` for the
    cost trace) and rounding up would exceed it, widths are rounded down instead (largest MAC saving first);
    this drops live units, so those outputs then differ from the trained model's.
`rounded_widths(model, round_to, budget=None, example_input=None) -> dict[str, int]`: the widths it would use.
`NoiseOff`: identity accepting NoiseWidth's call signature.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from train.layers import InputNoise, PBlock
from train.noise import NoiseApply, NoiseWidth, noise_widths


class NoiseOff(nn.Module):
    def forward(self, x: Tensor, dim: int = 1, std=None) -> Tensor:  # noqa: ARG002
        return x


def _replace(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, (PBlock, InputNoise, NoiseApply)):
            setattr(module, name, child.consolidated())
        elif isinstance(child, NoiseWidth):
            setattr(module, name, NoiseOff())
        else:
            _replace(child)


def _round_masks(model: nn.Module, round_to: int, budget: float | None,
                 example_input: Tensor | None) -> dict[str, int]:
    widths = noise_widths(model)
    n_step = int(round_to)
    up: dict[str, int] = {}
    down: dict[str, int] = {}
    for name, w in widths.items():
        k = w.kept()
        up[name] = min(w.n, math.ceil(k / n_step) * n_step)
        down[name] = max(min(w.n, n_step), (k // n_step) * n_step)
    k = dict(up)
    if budget is not None:
        from train.cost import CostModel

        if example_input is None:
            raise ValueError("consolidate: budget needs example_input to trace the cost")
        cm = CostModel(model, example_input)

        def macs(kk: dict[str, int]) -> int:
            return cm.macs_at({widths[n]: v for n, v in kk.items()})

        while macs(k) > budget:
            best = None
            for name in widths:
                if k[name] > down[name]:
                    trial = dict(k)
                    trial[name] = down[name]
                    saving = macs(k) - macs(trial)
                    if best is None or saving > best[0]:
                        best = (saving, name)
            if best is None:
                break
            k[best[1]] = down[best[1]]
    return k


def rounded_widths(model: nn.Module, round_to: int, budget: float | None = None,
                   example_input: Tensor | None = None) -> dict[str, int]:
    return _round_masks(model, round_to, budget, example_input)


def _mask_for(w: NoiseWidth, k: int) -> Tensor:
    """k units: the kept ones by decreasing lam, then (if more are needed) the lowest-index dropped ones."""
    lam = w.lam().detach()
    kept = w.kept_mask()
    order = sorted(range(w.n), key=lambda i: (not bool(kept[i]), -float(lam[i]), i))
    mask = torch.zeros(w.n, dtype=torch.bool)
    mask[order[:k]] = True
    return mask


@torch.no_grad()
def consolidate(model: nn.Module, *, round_to: int = 1, budget: float | None = None,
                example_input: Tensor | None = None) -> nn.Module:
    if round_to < 1:
        raise ValueError(f"consolidate: round_to must be >= 1, got {round_to}")
    m = copy.deepcopy(model).eval()
    if round_to > 1 or budget is not None:
        ks = _round_masks(m, round_to, budget, example_input)
        for name, w in noise_widths(m).items():
            if ks[name] != w.kept():
                w.set_keep_override(_mask_for(w, ks[name]))
    if isinstance(m, (PBlock, InputNoise, NoiseApply)):
        return m.consolidated().eval()
    _replace(m)
    return m.eval()
