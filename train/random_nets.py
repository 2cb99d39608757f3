"""Random networks built of `train.layers` blocks, for property tests of the cost model and consolidation.

`random_chain(spec: ChainSpec) -> (model, example_input)`: a sequential network (1-d: [B, C, T] convs,
2-d: [B, C, T, F] convs, or dense [B, C]) with an optional InputNoise, random kernels/strides/dilations/
causality/BN/activations, depthwise blocks sharing their producer's width, an optional residual pair with
a tied NoiseWidth, and random soft widths (ordered and per-unit).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from train.layers import InputNoise, PConv1d, PConv2d, PDepthwiseConv1d, PDepthwiseConv2d, PLinear
from train.noise import NoiseApply, NoiseWidth, noise_widths


@dataclass
class ChainSpec:
    kind: str = "conv1d"  # conv1d | conv2d | dense
    n_layers: int = 3
    seed: int = 0
    input_noise: bool = True
    residual: bool = True
    integer_widths: bool = False


class _Residual(nn.Module):
    """r = apply1(a(x)); y = apply2(r + b(r)), a and b share one NoiseWidth."""

    def __init__(self, a: nn.Module, b: nn.Module, width: NoiseWidth, dim: int) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.width = width
        self.ap1, self.ap2 = NoiseApply(width, dim), NoiseApply(width, dim)

    def forward(self, x: Tensor) -> Tensor:
        r = self.ap1(self.a(x))
        return self.ap2(r + self.b(r))


def random_chain(spec: ChainSpec) -> tuple[nn.Module, Tensor]:
    rng = random.Random(spec.seed)
    torch.manual_seed(spec.seed)
    acts = ["relu", "relu6", None]
    c = rng.randint(3, 10)
    mods: list[nn.Module] = []
    if spec.kind == "dense":
        x = torch.randn(5, c)
    elif spec.kind == "conv1d":
        x = torch.randn(5, c, rng.randint(12, 24))
    else:
        x = torch.randn(5, c, rng.randint(8, 14), rng.randint(8, 14))
    in_w = None
    if spec.input_noise:
        inp = InputNoise(c, dim=-1 if spec.kind == "dense" else 1, mode=rng.choice(["per_unit", "ordered"]))
        mods.append(inp)
        in_w = inp.width
    conv_cls = PConv1d if spec.kind == "conv1d" else PConv2d
    dw_cls = PDepthwiseConv1d if spec.kind == "conv1d" else PDepthwiseConv2d
    nd = 1 if spec.kind == "conv1d" else 2
    for i in range(spec.n_layers):
        last = i == spec.n_layers - 1
        out = rng.randint(2, 12)
        out_w: object = None if last and rng.random() < 0.3 else NoiseWidth(
            out, mode=rng.choice(["ordered", "ordered", "per_unit"]), kappa_min=0.1)
        kw = dict(in_width=in_w, out_width=out_w, bn=rng.random() < 0.5, act=rng.choice(acts),
                  bias=rng.random() < 0.8)
        if spec.kind == "dense":
            mods.append(PLinear(c, out, **kw))
        else:
            k, kf, d = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 2)
            causal = rng.random() < 0.5
            pad = d * (k - 1) // 2 if nd == 1 else (d * (k - 1) // 2, d * (kf - 1) // 2)
            mods.append(conv_cls(c, out, k if nd == 1 else (k, kf), stride=2 if i == 0 and rng.random() < 0.5
                                 else 1, dilation=d, causal=causal, padding=pad, **kw))
            if out_w is not None and rng.random() < 0.6:
                mods.append(dw_cls(out, rng.randint(2, 3), width=out_w, causal=rng.random() < 0.5,
                                   padding=1, bn=rng.random() < 0.5, act=rng.choice(acts),
                                   out_noise=rng.random() < 0.7))
        c, in_w = out, out_w
    if spec.residual:
        rw = NoiseWidth(rng.randint(3, 8), kappa_min=0.1)
        if spec.kind == "dense":
            a = PLinear(c, rw.n, in_width=in_w, out_width=rw, out_noise=False)
            b = PLinear(rw.n, rw.n, in_width=rw, out_width=rw, out_noise=False, act=rng.choice(acts))
        else:
            a = conv_cls(c, rw.n, 1, in_width=in_w, out_width=rw, out_noise=False)
            b = conv_cls(rw.n, rw.n, 3, padding=1, in_width=rw, out_width=rw, out_noise=False, bn=True)
        mods.append(_Residual(a, b, rw, -1 if spec.kind == "dense" else 1))
        c, in_w = rw.n, rw
    if in_w is not None:  # a fixed-width head so that the model output is never pruned
        head_cls = PLinear if spec.kind == "dense" else conv_cls
        mods.append(head_cls(c, 3, 1, in_width=in_w, act=None) if head_cls is not PLinear
                    else PLinear(c, 3, in_width=in_w, act=None))
    model = nn.Sequential(*mods)
    model.train()
    for _ in range(2):  # warm up running stats (noise std and BN)
        model(x)
    with torch.no_grad():
        for w in noise_widths(model).values():
            if spec.integer_widths:
                w.fix_width(rng.randint(max(1, w.min_units()), w.n))
            elif w.mode == "ordered":
                w.kappa.uniform_(0.05, 1.0)
                w.project_()
            else:
                w.theta.uniform_(-0.3, 1.2)
                w.theta[rng.randrange(w.n)] = 0.8  # at least one live unit
                w.project_()
    model.eval()
    return model, x
