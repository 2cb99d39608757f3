"""Model surgery on the consolidated `StreamingVAD`: build, gate, fold, prune, count.

Layout of `StreamingVAD.convs` (L blocks): convs[0] = stem (mel bands -> C0), convs[2i-1] = depthwise conv of
block i (on C_{i-1}), convs[2i] = pointwise conv of block i (C_{i-1} -> C_i), convs[2L+1] = head (C_L -> 1).
"Channel layer" c (0..L) is the output of convs[0] (c = 0) or convs[2c]: the prunable dimensions are the mel
bands plus the L+1 channel layers, exactly the dimensions the noise-width method learns.

Pruning a unit means: its activation (after ReLU, or the normalised input band) is replaced by zero and the
unit is removed. A removed channel still reaches the next pointwise conv through its depthwise bias; that
constant is folded into the pointwise bias, so `prune(model, keep)` equals `GatedVAD(model)` with 0/1 gates
(tested). Gates are per-unit multipliers after each prunable dimension; `fold_gates` multiplies them into the
consumer's input weights (exact: every consumer is linear in its input and zero padding stays zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train.vad_model import FAMILY, VERSION, StreamingVAD, VADArch, _causal, macs_per_hop


# ------------------------------------------------------------------------------------------ build
@dataclass
class InputNorm:
    """The input stage constants over the full mel bands (as `train.vad_train.train_vad` sets them)."""

    ema_init: Tensor
    mean: Tensor
    scale: Tensor


def prepare_inputs(data: dict[str, Any], arch: VADArch) -> InputNorm:
    """EMA start = the training set's raw mean, model inputs = `ema_deltas` (stored in train.inputs for the
    crops), affine normalisation from the inputs' statistics: exactly what the noise-width trainer does."""
    from train.vad_model import ema_deltas
    from train.vad_train import SplitData, feature_stats

    tr = data["train"]
    raw_mean, _ = feature_stats(tr)
    tr.inputs = [ema_deltas(f, raw_mean, float(getattr(arch, "ema_alpha", 0.0))) for f in tr.feats]
    mean, std = feature_stats(SplitData(tr.inputs, tr.labels, tr.clips))
    return InputNorm(torch.from_numpy(raw_mean), torch.from_numpy(mean),
                     1.0 / torch.from_numpy(std).clamp_min(1e-3))


def make_desc(arch: VADArch, mel_bands: list[int], channels: list[int], mean: Any, scale: Any,
              extra: dict[str, Any] | None = None, *, ema_init: Any = None) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "family": FAMILY,
        "version": VERSION,
        "n_mels_full": arch.n_mels,
        "mel_bands": [int(b) for b in mel_bands],
        "channels": [int(c) for c in channels],
        "channels_full": list(arch.channels),
        "first_kernel": arch.first_kernel,
        "kernel": arch.kernel,
        "dilations": list(arch.dilations),
        "input_norm": {
            "ema_alpha": float(getattr(arch, "ema_alpha", 0.0)),
            "ema_init": [float(v) for v in (ema_init if ema_init is not None else [0.0] * len(mel_bands))],
            "mean": [float(v) for v in mean],
            "scale": [float(v) for v in scale],
        },
    }
    if extra:
        desc.update(extra)
    return desc


def new_model(arch: VADArch, channels: list[int], norm: InputNorm, *, mel_bands: list[int] | None = None,
              seed: int = 0, extra: dict[str, Any] | None = None) -> StreamingVAD:
    """A freshly initialised StreamingVAD (the same initialisation as `VADNet`: Kaiming for the stem and the
    pointwise convs, zero biases for those and the head). `norm` holds per full mel band constants."""
    bands = list(range(arch.n_mels)) if mel_bands is None else list(mel_bands)
    desc = make_desc(arch, bands, channels, norm.mean[bands].tolist(), norm.scale[bands].tolist(), extra,
                     ema_init=norm.ema_init[bands].tolist())
    g = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        m = StreamingVAD(desc)
        for j in [0, *range(2, len(m.convs) - 1, 2)]:
            nn.init.kaiming_normal_(m.convs[j].weight, nonlinearity="relu")
            nn.init.zeros_(m.convs[j].bias)
        nn.init.zeros_(m.convs[-1].bias)
    return m


def arch_of(model: StreamingVAD) -> VADArch:
    d = model.desc
    return VADArch(n_mels=int(d["n_mels_full"]), channels=list(d["channels_full"]),
                   first_kernel=int(d["first_kernel"]), kernel=int(d["kernel"]), dilations=list(d["dilations"]),
                   ema_alpha=float(d["input_norm"].get("ema_alpha", 0.0)))


def widths(model: StreamingVAD) -> list[int]:
    """[mel bands, C0, ..., CL] of a consolidated model."""
    return [len(model.desc["mel_bands"]), *[int(c) for c in model.desc["channels"]]]


def macs(arch: VADArch, counts: list[int]) -> int:
    """MACs per hop for [mel, C0, ..., CL] (the family's analytic count; tests compare with train.cost)."""
    return int(macs_per_hop(arch, counts[0], list(counts[1:])))


def out_conv(c: int) -> int:
    """Index in `convs` of the conv producing channel layer c."""
    return 0 if c == 0 else 2 * c


# ------------------------------------------------------------------------------------------ gates
class HardConcrete(nn.Module):
    """L0 gates (Louizos, Welling & Kingma 2018): z = min(1, max(0, s*(zeta-gamma)+gamma)),
    s = sigmoid((log u - log(1-u) + log_alpha) / beta) in training, s = sigmoid(log_alpha) in eval."""

    def __init__(self, n: int, *, init_keep: float = 0.95, beta: float = 2.0 / 3.0, gamma: float = -0.1,
                 zeta: float = 1.1) -> None:
        super().__init__()
        self.beta, self.gamma, self.zeta = beta, gamma, zeta
        la = math.log(init_keep) - math.log(1.0 - init_keep)
        self.log_alpha = nn.Parameter(torch.full((n,), float(la)))

    def prob_nonzero(self) -> Tensor:
        return torch.sigmoid(self.log_alpha - self.beta * math.log(-self.gamma / self.zeta))

    def forward(self, batch: int = 1) -> Tensor:
        """Gate values [batch, n] (one draw per sample in training) or [1, n] (deterministic, eval)."""
        if self.training:
            u = torch.rand(batch, self.log_alpha.numel()).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.beta)
        else:
            s = torch.sigmoid(self.log_alpha)[None]
        return (s * (self.zeta - self.gamma) + self.gamma).clamp(0.0, 1.0)


class GatedVAD(nn.Module):
    """A StreamingVAD with a per-unit gate after every prunable dimension (mel bands, each channel layer).

    kind = "none" (plain forward, used by Torch-Pruning), "scale" (learnable scales, network slimming),
    "l0" (hard-concrete gates), "mask" (fixed 0/1 buffers: the reference for pruning)."""

    def __init__(self, base: StreamingVAD, kind: str = "none", *, init_keep: float = 0.95) -> None:
        super().__init__()
        if kind not in ("none", "scale", "l0", "mask"):
            raise ValueError(f"GatedVAD: unknown gate kind {kind!r}")
        self.base, self.kind = base, kind
        dims = widths(base)
        if kind == "scale":
            self.gates = nn.ParameterList(nn.Parameter(torch.ones(n)) for n in dims)
        elif kind == "l0":
            self.gates = nn.ModuleList(HardConcrete(n, init_keep=init_keep) for n in dims)
        elif kind == "mask":
            for d, n in enumerate(dims):
                self.register_buffer(f"mask{d}", torch.ones(n))

    def gate_values(self, batch: int = 1) -> list[Tensor | None]:
        """Per dimension: gates [B or 1, n] (or None for kind "none")."""
        n = len(widths(self.base))
        if self.kind == "none":
            return [None] * n
        if self.kind == "scale":
            return [g[None] for g in self.gates]
        if self.kind == "mask":
            return [getattr(self, f"mask{d}")[None] for d in range(n)]
        return [g(batch) for g in self.gates]

    def forward(self, inputs: Tensor, *, raw: bool = False) -> Tensor:
        """inputs [B, T, K]: the model inputs after the input stage (`train.inputs`), or raw log-mel of the
        kept bands with raw=True (then the EMA stage runs here, as in `StreamingVAD.forward`)."""
        b = self.base
        if raw:
            inputs = b.deltas(inputs)
        gates = self.gate_values(inputs.shape[0])
        x = ((inputs - b.norm_mean) * b.norm_scale).transpose(1, 2)
        if gates[0] is not None:
            x = x * gates[0][:, :, None]
        layer_of = {out_conv(c): c for c in range(len(gates) - 1)}
        for j, (conv, s) in enumerate(zip(b.convs, b.specs, strict=True)):
            x = _causal(x, conv)
            if s["activation"] == "relu":
                x = F.relu(x)
            if j in layer_of and gates[layer_of[j] + 1] is not None:
                x = x * gates[layer_of[j] + 1][:, :, None]
        return x[:, 0, :]

    @torch.no_grad()
    def eval_gates(self) -> list[Tensor]:
        """Deterministic gate values per dimension (1 for kind "none")."""
        was = self.training
        self.eval()
        g = self.gate_values(1)
        self.train(was)
        return [torch.ones(n) if v is None else v[0].detach().clone() for v, n in zip(g, widths(self.base),
                                                                                       strict=True)]


@torch.no_grad()
def fold_gates(base: StreamingVAD, gates: list[Tensor]) -> StreamingVAD:
    """A copy of `base` whose outputs equal GatedVAD(base) with these (deterministic) gate values."""
    m = StreamingVAD.from_description(dict(base.desc), {k: v.clone() for k, v in base.state_dict().items()})
    m.convs[0].weight.mul_(gates[0][None, :, None])
    n_layers = len(gates) - 1
    for c in range(n_layers):
        g = gates[c + 1]
        if c + 1 < n_layers:
            m.convs[2 * c + 1].weight.mul_(g[:, None, None])  # the next depthwise conv
        else:
            m.convs[-1].weight.mul_(g[None, :, None])  # the head
    return m.eval()


@torch.no_grad()
def prune(model: StreamingVAD, keep: list[Tensor | list[int]], *, extra: dict[str, Any] | None = None
          ) -> StreamingVAD:
    """Remove every unit not in keep[d] (positions within the model's current dims: [mel, C0, .., CL]).
    Equals the model with the removed units' activations set to zero (depthwise biases folded)."""
    keep = [torch.as_tensor(sorted(int(i) for i in k), dtype=torch.long) for k in keep]
    for d, k in enumerate(keep):
        if k.numel() == 0:
            raise ValueError(f"prune: dimension {d} would keep no unit")
    dims = widths(model)
    arch = arch_of(model)
    bands = [model.desc["mel_bands"][i] for i in keep[0].tolist()]
    desc = make_desc(arch, bands, [len(k) for k in keep[1:]], model.norm_mean[keep[0]].tolist(),
                     model.norm_scale[keep[0]].tolist(), {k: v for k, v in model.desc.items()
                                                          if k in ("frontend", "budget_macs", "method")},
                     ema_init=model.ema_init[keep[0]].tolist())
    if extra:
        desc.update(extra)
    cv = model.convs
    sd: dict[str, Tensor] = {"norm_mean": model.norm_mean[keep[0]], "norm_scale": model.norm_scale[keep[0]],
                             "ema_init": model.ema_init[keep[0]]}
    sd["convs.0.weight"] = cv[0].weight[keep[1]][:, keep[0], :]
    sd["convs.0.bias"] = cv[0].bias[keep[1]]
    n_layers = len(dims) - 1
    for i in range(1, n_layers):
        prev, cur = keep[i], keep[i + 1]
        dw, pw = cv[2 * i - 1], cv[2 * i]
        sd[f"convs.{2 * i - 1}.weight"] = dw.weight[prev]
        sd[f"convs.{2 * i - 1}.bias"] = dw.bias[prev]
        dropped = torch.ones(dims[i], dtype=torch.bool)
        dropped[prev] = False
        const = pw.weight[:, dropped, 0] @ dw.bias[dropped]
        sd[f"convs.{2 * i}.weight"] = pw.weight[cur][:, prev, :]
        sd[f"convs.{2 * i}.bias"] = (pw.bias + const)[cur]
    last = len(cv) - 1
    sd[f"convs.{last}.weight"] = cv[last].weight[:, keep[-1], :]
    sd[f"convs.{last}.bias"] = cv[last].bias
    return StreamingVAD.from_description(desc, {k: v.detach().clone().float() for k, v in sd.items()})


# ------------------------------------------------------------------------------------ selection
def round_counts(counts: list[int], full: list[int], round_to: int) -> list[int]:
    """Round hidden channel counts down to multiples of round_to (at least round_to, at most full)."""
    if round_to <= 1:
        return list(counts)
    out = [counts[0]]
    for c, f in zip(counts[1:], full[1:], strict=True):
        out.append(min(f, max(round_to, (c // round_to) * round_to)))
    return out


def select_global(scores: list[Tensor], arch: VADArch, budget: int, *, round_to: int = 1) -> list[Tensor]:
    """Keep the highest-scoring units over all dimensions: remove units in ascending score order (never the
    last unit of a dimension) until the MACs per hop fit the budget, then round hidden counts down to
    multiples of round_to (dropping the lowest scores) and keep removing while over budget. A hidden dimension
    keeps at least round_to units (the rounding's floor), the mel dimension at least one."""
    full = [int(s.numel()) for s in scores]
    order = sorted(((float(s[j]), d, j) for d, s in enumerate(scores) for j in range(s.numel())))
    keep = [set(range(n)) for n in full]
    floor = [1] + [min(f, max(1, round_to)) for f in full[1:]]
    it = iter(order)
    while macs(arch, round_counts([len(k) for k in keep], full, round_to)) > budget:
        try:
            _, d, j = next(it)
        except StopIteration:
            break
        if len(keep[d]) > floor[d]:
            keep[d].discard(j)
    counts = round_counts([len(k) for k in keep], full, round_to)
    out = []
    for d, k in enumerate(keep):
        ranked = sorted(k, key=lambda j, d=d: -float(scores[d][j]))
        out.append(torch.tensor(sorted(ranked[: counts[d]]), dtype=torch.long))
    return out


def uniform_counts(arch: VADArch, budget: int, *, scale_mels: bool, round_to: int = 1) -> list[int]:
    """Largest single factor s (<= 1) such that widths [mel or s*mel, s*C0, ...] fit the budget."""
    full = [arch.n_mels, *arch.channels]

    def counts(s: float) -> list[int]:
        c = [max(1, int(math.floor(s * n + 1e-9))) for n in full]
        if not scale_mels:
            c[0] = arch.n_mels
        return round_counts(c, full, round_to)

    lo, hi = 0.0, 1.0
    if macs(arch, counts(1.0)) <= budget:
        return counts(1.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        if macs(arch, counts(mid)) <= budget:
            lo = mid
        else:
            hi = mid
    return counts(lo)


@torch.no_grad()
def fold_static_input(model: StreamingVAD) -> StreamingVAD:
    """With ema_alpha == 0 the input stage is d = x - ema_init: fold ema_init into the normalisation mean
    (outputs unchanged) so that a converter that knows only (x - mean) * scale exports the same model."""
    norm = model.desc["input_norm"]
    if float(norm.get("ema_alpha", 0.0)) != 0.0 or not bool(model.ema_init.abs().any()):
        return model
    desc = dict(model.desc)
    mean = (model.norm_mean + model.ema_init).tolist()
    desc["input_norm"] = dict(norm, mean=mean, ema_init=[0.0] * len(mean))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["norm_mean"] = torch.tensor(mean, dtype=torch.float32)
    sd["ema_init"] = torch.zeros(len(mean))
    return StreamingVAD.from_description(desc, sd)
