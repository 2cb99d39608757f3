"""Differentiable cost model of a network built of `train.layers` blocks, and an exact counter.

MAC convention (TFLite's): conv = k_h*k_w*(c_in/groups)*c_out*out_positions; depthwise = k_h*k_w*c*out_positions;
dense = in*out per output position. Bias adds, activations, BN (folded), pads, pooling, scales: 0 MACs.
Params = conv/dense weights + one bias per output channel if the block has a bias or BN (BN is folded).
Activation bytes of an op = (input elements, after padding, + output elements) * bytes_per_element;
the peak is the max over ops (a lower bound of the arena that ignores residual tensors held alive).

Public API
----------
`CostModel(model, example_input, *, bytes_per_element=1)`: traces `model` once (eval mode, no grad) on
    `example_input` (batch dim first; counts are per batch item = per inference) and records the output
    positions of every block. Then:
    - `.macs()`, `.params()`, `.peak_activation_bytes()` -> Tensor, differentiable in the soft widths
      (`NoiseWidth.soft_width()`); a conv costs k * w_in * w_out * positions.
    - `.hard_macs()`, `.hard_params()`, `.hard_peak_activation_bytes()` -> int, at the kept (integer) widths;
      these equal `exact_*` on `train.consolidate.consolidate(model)`.
    - `.macs_at(widths: dict[NoiseWidth, int])` -> int, hard MACs with some widths overridden.
    - `.min_macs()` / `.max_macs()` -> int: every width at its minimum (`max(1, NoiseWidth.min_units())`) / full.
    - `.breakdown()` -> list of (block name, block type, hard MACs).
    For a streaming model, trace on the input of one inference (e.g. one hop plus its receptive field) or
    divide by the number of output frames yourself.
`exact_macs(module, example_input) -> int`, `exact_params(module) -> int`,
`exact_peak_activation_bytes(module, example_input, bytes_per_element=1) -> int`: independent counts
    over plain torch modules (forward hooks on nn.Conv1d / nn.Conv2d / nn.Linear), per batch item.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from train.layers import PBlock, PLinear
from train.noise import NoiseWidth

_OPS = (nn.Conv1d, nn.Conv2d, nn.Linear)


def _soft(nw: NoiseWidth) -> Tensor:
    return nw.soft_width()


def _hard(nw: NoiseWidth) -> Tensor:
    return torch.tensor(float(nw.kept()))


def _memo(width_of: Callable[[NoiseWidth], Tensor]) -> Callable[[NoiseWidth], Tensor]:
    """Evaluate each (shared) NoiseWidth once per cost evaluation."""
    seen: dict[int, Tensor] = {}

    def f(nw: NoiseWidth) -> Tensor:
        v = seen.get(id(nw))
        if v is None:
            v = seen[id(nw)] = width_of(nw)
        return v

    return f


class CostModel:
    def __init__(self, model: nn.Module, example_input: Tensor, *, bytes_per_element: int = 1) -> None:
        self.model = model
        self.bytes_per_element = int(bytes_per_element)
        self.blocks: list[tuple[str, PBlock]] = [
            (name, m) for name, m in model.named_modules() if isinstance(m, PBlock)
        ]
        if not self.blocks:
            raise ValueError("CostModel: the model has no prunable blocks (train.layers)")
        self._pos: dict[int, int] = {}
        self._in_spatial: dict[int, int] = {}
        batch = int(example_input.shape[0])
        hooks = []

        def hook(mod: PBlock, inp: tuple, out: Tensor) -> None:
            x = inp[0]
            if isinstance(mod, PLinear):
                pos = out.numel() // (batch * mod.out_channels)
                insp = pos
            else:
                pos = math.prod(out.shape[2:])
                sp = list(x.shape[2:])
                fp = list(getattr(mod, "_fpad", ()))
                for j in range(len(fp) // 2):  # F.pad order: last dim first
                    sp[len(sp) - 1 - j] += fp[2 * j] + fp[2 * j + 1]
                insp = math.prod(sp)
            self._pos[id(mod)] = int(pos)
            self._in_spatial[id(mod)] = int(insp)

        for _, m in self.blocks:
            hooks.append(m.register_forward_hook(hook))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(example_input)
        finally:
            for h in hooks:
                h.remove()
            model.train(was_training)
        missing = [n for n, m in self.blocks if id(m) not in self._pos]
        if missing:
            raise ValueError(f"CostModel: blocks not reached by the example input: {missing}")

    # ------------------------------------------------------------- generic
    def _macs(self, width_of: Callable[[NoiseWidth], Tensor]) -> Tensor:
        width_of = _memo(width_of)
        return sum(m.macs(width_of, self._pos[id(m)]) for _, m in self.blocks)

    def _params(self, width_of: Callable[[NoiseWidth], Tensor]) -> Tensor:
        return sum(m.params(width_of) for _, m in self.blocks)

    def _act(self, width_of: Callable[[NoiseWidth], Tensor]) -> Tensor:
        vals = []
        for _, m in self.blocks:
            cin, cout = m.channels(width_of)
            vals.append(cin * self._in_spatial[id(m)] + cout * self._pos[id(m)])
        return torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in vals]).max() * self.bytes_per_element

    # ------------------------------------------------------------- soft
    def macs(self) -> Tensor:
        return self._macs(_soft)

    def params(self) -> Tensor:
        return self._params(_soft)

    def peak_activation_bytes(self) -> Tensor:
        return self._act(_soft)

    # ------------------------------------------------------------- hard
    def hard_macs(self) -> int:
        return int(round(float(self._macs(_hard).detach())))

    def hard_params(self) -> int:
        return int(round(float(self._params(_hard))))

    def hard_peak_activation_bytes(self) -> int:
        return int(round(float(self._act(_hard))))

    def macs_at(self, widths: dict[NoiseWidth, int]) -> int:
        by_id = {id(k): int(v) for k, v in widths.items()}

        def width_of(nw: NoiseWidth) -> Tensor:
            return torch.tensor(float(by_id.get(id(nw), nw.kept())))

        return int(round(float(self._macs(width_of))))

    def min_macs(self) -> int:
        return int(round(float(self._macs(lambda nw: torch.tensor(float(max(1, nw.min_units())))))))

    def max_macs(self) -> int:
        return int(round(float(self._macs(lambda nw: torch.tensor(float(nw.n))))))

    def breakdown(self) -> list[tuple[str, str, int]]:
        return [(n, type(m).__name__, int(round(float(m.macs(_hard, self._pos[id(m)]))))) for n, m in self.blocks]


# ----------------------------------------------------------------- exact counts
def _exact(module: nn.Module, example_input: Tensor) -> tuple[int, int]:
    batch = int(example_input.shape[0])
    macs = 0
    peak = 0

    def hook(mod: nn.Module, inp: tuple, out: Tensor) -> None:
        nonlocal macs, peak
        x = inp[0]
        if isinstance(mod, nn.Linear):
            macs += (out.numel() // batch) * mod.in_features
        else:
            k = math.prod(mod.kernel_size)
            macs += k * (mod.in_channels // mod.groups) * (out.numel() // batch)
        peak = max(peak, (x.numel() + out.numel()) // batch)

    hooks = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, _OPS)]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(example_input)
    finally:
        for h in hooks:
            h.remove()
        module.train(was_training)
    return int(macs), int(peak)


def exact_macs(module: nn.Module, example_input: Tensor) -> int:
    return _exact(module, example_input)[0]


def exact_peak_activation_bytes(module: nn.Module, example_input: Tensor, bytes_per_element: int = 1) -> int:
    return _exact(module, example_input)[1] * int(bytes_per_element)


def exact_params(module: nn.Module) -> int:
    n = 0
    for m in module.modules():
        if isinstance(m, _OPS):
            n += m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
    return int(n)
