"""Prunable building blocks wired to `train.noise.NoiseWidth`.

Every block is `op -> [BatchNorm] -> activation -> [output noise]` and knows
- `in_width`: the NoiseWidth of its input channels (None = fixed width),
- `out_width`: the NoiseWidth of its output channels (None = not prunable, e.g. the logit layer).
  Pass a NoiseWidth instance to share it, or `True` to create a fresh one (`NoiseWidth(out, **width_kwargs)`).
- `out_noise` (default True): whether the block injects the output noise itself. Set it False for
  branches that are added (residual): both branches share one `out_width`, and the model applies a
  `train.noise.NoiseApply(width)` after the add. Without its own noise a block with an out_width
  still multiplies its output by the 0/1 kept mask, so dropped channels are exact zeros (e.g. a depthwise
  conv feeding a pointwise conv directly).

Blocks
------
`InputNoise(n, *, dim=1, mode="per_unit", **width_kwargs)`: noise over the input feature dim
    (e.g. mel bands fed as channels of a Conv1d over time, layout [B, n_mels, T]; or [B, F] with dim=-1).
    `.width` is its NoiseWidth; pass it as `in_width` of the first block. Per-unit mode by default
    (input features are not interchangeable); consolidated it becomes `SelectFeatures` (keeps the
    chosen features, in order). `kept_index()` tells which features (e.g. mel bands) to compute.
`PLinear(in_features, out_features, *, in_width, out_width, bias, bn, act, out_noise)`: x[..., in] -> [..., out].
`PConv1d(in_ch, out_ch, kernel_size, *, stride, padding, dilation, causal, ...)`: [B, C, T].
    causal=True pads (k-1)*dilation zeros on the left of time (streamable), padding is then ignored.
`PConv2d(in_ch, out_ch, kernel_size, *, stride, padding, dilation, causal, ...)`: [B, C, T, F];
    causal=True pads time on the left only; `padding` then applies to F only.
`PDepthwiseConv1d(ch, kernel_size, ...)`, `PDepthwiseConv2d(ch, kernel_size, ...)`: groups = channels;
    `width` is shared by input and output (pass the producer's out_width); it injects its own output
    noise with the same lam (own running std) unless out_noise=False.
Activations: "relu" (default), "relu6", None/"none". BatchNorm (bn=True) is folded at consolidation.

`block.consolidated() -> nn.Module` returns a plain torch module (nn.Linear / nn.Conv1d / nn.Conv2d,
optionally preceded by a constant pad and followed by the activation) with pruned input/output
dims, BN folded, and the block's own output scale sqrt(lam) folded into its weights and bias (ReLU
and identity are positively homogeneous; for ReLU6 an explicit `ChannelScale` follows, only if some
kept lam < 1). Its eval output equals the block's eval output restricted to the kept channels.
Cost hooks (used by `train.cost`): `block.macs(width_of, positions)`, `block.params(width_of)`,
`block.channels(width_of) -> (c_in, c_out)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train.noise import ChannelScale, NoiseWidth, RunningStd, safe_sqrt

ACTS = ("relu", "relu6", "none")
WidthOf = Callable[[NoiseWidth], Tensor]


def _act_module(act: str) -> nn.Module | None:
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "none": None}[act]


def _norm_act(act: str | None) -> str:
    act = "none" if act is None else act
    if act not in ACTS:
        raise ValueError(f"activation must be one of {ACTS} or None, got {act!r}")
    return act


def _tuple(v: int | Sequence[int], nd: int) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * nd
    t = tuple(int(a) for a in v)
    if len(t) != nd:
        raise ValueError(f"expected {nd} values, got {t}")
    return t


class SelectFeatures(nn.Module):
    """Keep `index` entries of dimension `dim` (and optionally scale them)."""

    def __init__(self, index: Tensor, dim: int = 1, scale: Tensor | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long).clone())
        self.scale = None if scale is None else ChannelScale(scale, dim)

    def forward(self, x: Tensor) -> Tensor:
        y = x.index_select(self.dim % x.dim(), self.index)
        return y if self.scale is None else self.scale(y)


class InputNoise(nn.Module):
    """Noise over the input feature dimension (see module docstring)."""

    def __init__(self, n: int, *, dim: int = 1, mode: str = "per_unit", **width_kwargs) -> None:
        super().__init__()
        self.dim = dim
        self.width = NoiseWidth(n, mode=mode, **width_kwargs)
        self.std = RunningStd(n)

    def forward(self, x: Tensor) -> Tensor:
        return self.width(x, dim=self.dim, std=self.std)

    def kept_index(self) -> Tensor:
        return self.width.kept_index()

    @torch.no_grad()
    def consolidated(self) -> nn.Module:
        idx = self.width.kept_index()
        s = safe_sqrt(self.width.lam()[idx])
        return SelectFeatures(idx, self.dim, None if bool((s == 1).all()) else s)


class PBlock(nn.Module):
    """Base class of prunable blocks: op -> [BN] -> act -> [output noise]."""

    channel_dim = 1
    depthwise = False

    def _setup_common(self, in_ch: int, out_ch: int, in_width, out_width, bn: bool, act, out_noise: bool,
                      width_kwargs: dict | None) -> None:
        self.in_channels = int(in_ch)
        self.out_channels = int(out_ch)
        if in_width is not None and not isinstance(in_width, NoiseWidth):
            raise TypeError("in_width must be a NoiseWidth or None")
        if in_width is not None and in_width.n != in_ch:
            raise ValueError(f"in_width has n={in_width.n} but the block has {in_ch} input channels")
        if out_width is True:
            out_width = NoiseWidth(out_ch, **(width_kwargs or {}))
        elif out_width is False:
            out_width = None
        if out_width is not None:
            if not isinstance(out_width, NoiseWidth):
                raise TypeError("out_width must be a NoiseWidth, True or None")
            if out_width.n != out_ch:
                raise ValueError(f"out_width has n={out_width.n} but the block has {out_ch} output channels")
        self.in_width = in_width
        self.out_width = out_width
        self.out_noise = bool(out_noise) and out_width is not None
        self.out_std = RunningStd(out_ch) if self.out_noise else None
        self.bn = self._make_bn(out_ch) if bn else None
        self.act = _norm_act(act)
        self._act = _act_module(self.act)

    def _make_bn(self, c: int) -> nn.Module:
        return nn.BatchNorm1d(c)

    def _bn(self, y: Tensor) -> Tensor:
        return self.bn(y)

    def _post(self, y: Tensor) -> Tensor:
        if self.bn is not None:
            y = self._bn(y)
        if self._act is not None:
            y = self._act(y)
        if self.out_noise:
            y = self.out_width(y, dim=self.channel_dim, std=self.out_std)
        elif self.out_width is not None:  # no own noise: still zero the dropped channels (exactly as pruned)
            m = self.out_width.kept_mask().to(y.dtype)
            shape = [1] * y.dim()
            shape[self.channel_dim] = m.numel()
            y = y * m.reshape(shape)
        return y

    # --------------------------------------------------------------- cost API
    def channels(self, width_of: WidthOf) -> tuple[Tensor, Tensor]:
        cin = width_of(self.in_width) if self.in_width is not None else torch.tensor(float(self.in_channels))
        cout = width_of(self.out_width) if self.out_width is not None else torch.tensor(float(self.out_channels))
        return cin, cout

    def kernel_numel(self) -> int:
        return 1

    def has_bias_out(self) -> bool:
        return self.bias is not None or self.bn is not None

    def macs(self, width_of: WidthOf, positions: int) -> Tensor:
        cin, cout = self.channels(width_of)
        if self.depthwise:
            return self.kernel_numel() * cout * positions
        return self.kernel_numel() * cin * cout * positions

    def params(self, width_of: WidthOf) -> Tensor:
        cin, cout = self.channels(width_of)
        w = self.kernel_numel() * (cout if self.depthwise else cin * cout)
        return w + (cout if self.has_bias_out() else 0)

    # ----------------------------------------------------------- consolidation
    @torch.no_grad()
    def _folded(self) -> tuple[Tensor, Tensor]:
        """Weight and bias with BN folded, on all channels."""
        w = self.weight.detach().clone()
        b = self.bias.detach().clone() if self.bias is not None else torch.zeros(self.out_channels)
        if self.bn is not None:
            bn = self.bn
            s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            w = w * s.reshape(-1, *([1] * (w.dim() - 1)))
            b = (b - bn.running_mean) * s + bn.bias.detach()
        return w, b

    @torch.no_grad()
    def _pruned(self) -> tuple[Tensor, Tensor, nn.Module | None]:
        """(weight, bias, optional trailing ChannelScale) on kept channels, output scale folded."""
        w, b = self._folded()
        out_idx = self.out_width.kept_index() if self.out_width is not None else torch.arange(self.out_channels)
        w, b = w[out_idx], b[out_idx]
        if not self.depthwise and self.in_width is not None:
            w = w[:, self.in_width.kept_index()]
        tail = None
        if self.out_noise:
            s = safe_sqrt(self.out_width.lam()[out_idx])
            if not bool((s == 1).all()):
                if self.act in ("relu", "none"):
                    w = w * s.reshape(-1, *([1] * (w.dim() - 1)))
                    b = b * s
                else:
                    tail = ChannelScale(s, self.channel_dim)
        return w.contiguous(), b.contiguous(), tail

    def _seq(self, pad: nn.Module | None, core: nn.Module, tail: nn.Module | None) -> nn.Module:
        mods = [m for m in (pad, core, _act_module(self.act), tail) if m is not None]
        return mods[0] if len(mods) == 1 else nn.Sequential(*mods)


class PLinear(PBlock):
    """Prunable dense layer over the last dim: x[..., in] -> [..., out]."""

    channel_dim = -1

    def __init__(self, in_features: int, out_features: int, *, in_width: NoiseWidth | None = None,
                 out_width: NoiseWidth | bool | None = None, bias: bool = True, bn: bool = False,
                 act: str | None = "relu", out_noise: bool = True, width_kwargs: dict | None = None) -> None:
        super().__init__()
        lin = nn.Linear(in_features, out_features, bias=bias)
        self.weight = lin.weight
        self.bias = lin.bias
        self._setup_common(in_features, out_features, in_width, out_width, bn, act, out_noise, width_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return self._post(F.linear(x, self.weight, self.bias))

    def _bn(self, y: Tensor) -> Tensor:
        if y.dim() == 3:  # BN over the feature dim of [B, T, C]
            return self.bn(y.transpose(1, 2)).transpose(1, 2)
        return self.bn(y)

    @torch.no_grad()
    def consolidated(self) -> nn.Module:
        w, b, tail = self._pruned()
        lin = nn.Linear(w.shape[1], w.shape[0], bias=self.has_bias_out())
        lin.weight.copy_(w)
        if lin.bias is not None:
            lin.bias.copy_(b)
        return self._seq(None, lin, tail)


class _PConvNd(PBlock):
    nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride=1, padding=0, dilation=1,
                 causal: bool = False, in_width: NoiseWidth | None = None,
                 out_width: NoiseWidth | bool | None = None, bias: bool = True, bn: bool = False,
                 act: str | None = "relu", out_noise: bool = True, width_kwargs: dict | None = None) -> None:
        super().__init__()
        nd = self.nd
        self.kernel_size = _tuple(kernel_size, nd)
        self.stride = _tuple(stride, nd)
        self.dilation = _tuple(dilation, nd)
        self.causal = bool(causal)
        pad = _tuple(padding, nd)
        if self.causal:
            # F.pad order: last dim first. Time is the first spatial dim.
            left = (self.kernel_size[0] - 1) * self.dilation[0]
            if nd == 1:
                self._fpad: tuple[int, ...] = (left, 0)
            else:
                self._fpad = (pad[1], pad[1], left, 0)
            self.padding = (0,) * nd
        else:
            self._fpad = ()
            self.padding = pad
        groups = in_channels if self.depthwise else 1
        conv_cls = nn.Conv1d if nd == 1 else nn.Conv2d
        conv = conv_cls(in_channels, out_channels, self.kernel_size, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=groups, bias=bias)
        self.groups = groups
        self.weight = conv.weight
        self.bias = conv.bias
        self._setup_common(in_channels, out_channels, in_width, out_width, bn, act, out_noise, width_kwargs)

    def _make_bn(self, c: int) -> nn.Module:
        return nn.BatchNorm1d(c) if self.nd == 1 else nn.BatchNorm2d(c)

    def kernel_numel(self) -> int:
        return math.prod(self.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        if self._fpad:
            x = F.pad(x, self._fpad)
        conv = F.conv1d if self.nd == 1 else F.conv2d
        y = conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return self._post(y)

    @torch.no_grad()
    def consolidated(self) -> nn.Module:
        w, b, tail = self._pruned()
        c_out = w.shape[0]
        c_in = c_out if self.depthwise else w.shape[1]
        conv_cls = nn.Conv1d if self.nd == 1 else nn.Conv2d
        conv = conv_cls(c_in, c_out, self.kernel_size, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=c_in if self.depthwise else 1, bias=self.has_bias_out())
        conv.weight.copy_(w)
        if conv.bias is not None:
            conv.bias.copy_(b)
        pad = None
        if self._fpad:
            pad = nn.ConstantPad1d(self._fpad, 0.0) if self.nd == 1 else nn.ConstantPad2d(self._fpad, 0.0)
        return self._seq(pad, conv, tail)


class PConv1d(_PConvNd):
    """Prunable Conv1d over [B, C, T] (causal/dilated/strided)."""

    nd = 1


class PConv2d(_PConvNd):
    """Prunable Conv2d over [B, C, T, F]."""

    nd = 2


class _PDepthwise(_PConvNd):
    depthwise = True

    def __init__(self, channels: int, kernel_size, *, width: NoiseWidth | None = None, stride=1, padding=0,
                 dilation=1, causal: bool = False, bias: bool = True, bn: bool = False,
                 act: str | None = "relu", out_noise: bool = True) -> None:
        super().__init__(channels, channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         causal=causal, in_width=width, out_width=width, bias=bias, bn=bn, act=act,
                         out_noise=out_noise)


class PDepthwiseConv1d(_PDepthwise):
    """Depthwise Conv1d (groups = channels); input and output share `width`."""

    nd = 1


class PDepthwiseConv2d(_PDepthwise):
    """Depthwise Conv2d (groups = channels); input and output share `width`."""

    nd = 2


BLOCK_TYPES = (PLinear, PConv1d, PConv2d, PDepthwiseConv1d, PDepthwiseConv2d)
