"""The streaming VAD model family: causal, one speech probability per 10 ms hop, learned widths.

Architecture (whole-sequence layout [B, C, T]; every conv is causal: (k-1)*dilation zeros on the left):

    log-mel [B, T, n_mels] -> input stage: d_t = x_t - m_{t-1}, m_t = m_{t-1} + alpha*d_t (per band running
                              level, `ema_deltas`), then a fixed per-band affine normalisation of d
      -> input noise over the mel bands (NoiseWidth n_mels)                     prunable: mel bands
      -> stem   Conv1d(n_mels -> C0, k0) + ReLU -> noise (NoiseWidth C0)         prunable: C0
      -> block i = 1..L: depthwise Conv1d(C_{i-1}, k, dilation d_i)  (no activation; shares C_{i-1}'s width)
                         pointwise Conv1d(C_{i-1} -> C_i, 1) + ReLU -> noise (NoiseWidth C_i)
      -> head   pointwise Conv1d(C_L -> 1, 1) -> logit (LOGISTIC gives the speech probability)

Noise injection follows `train.noise` exactly (x~ = sqrt(lam) x + sqrt(1-lam) sigma nu, noise off in
eval) with the widths (`NoiseWidth`: kappa, lam, kept units) and running std buffers (`RunningStd`) of
`train.noise`; the model draws nu itself and synchronises the running variance over data-parallel ranks,
so a run under `torchrun` equals a single-process run up to floating-point order (see `NoiseContext`).

Per-hop cost (MACs of one streaming step, TFLite convention), w = soft widths (sum of lam):

    macs = k0*w_mel*w_0 + sum_i (k*w_{i-1} + w_{i-1}*w_i) + w_L

`VADNet.soft_macs()` is that polynomial (differentiable); for integer widths it equals
`train.cost.exact_macs(step_module(consolidated), frame)`, the count over the plain torch ops of one step.

Consolidation (`VADNet.consolidate()`) drops every unit with lam = 0, folds sqrt(lam) of kept units into
the next layer's weights (the depthwise conv absorbs its input's scale) and returns a `StreamingVAD`:
plain nn.Conv1d layers plus a JSON-able description (`StreamingVAD.description()`), rebuildable without
this training code (`StreamingVAD.from_description(desc, state_dict)`).

Streaming: `StreamingVAD.step(frame [1, K], state) -> (prob [1, 1], new_state)`, `state` is the EMA level [1, K]
(if ema_alpha > 0; starts at `ema_init`) and one tensor [1, (k-1)*d, C_in] (channels-last, past input
frames) per conv with k > 1, zeros at stream start (`init_state()`).
One step maps op for op to TFLite Micro builtins (batch 1, channels-last):
    input stage            -> SUB (x - m), MUL + ADD (m + alpha*d: EMA state in/out), SUB/ADD + MUL (affine)
    buf = concat(state, x) -> CONCATENATION (time axis);  new_state = buf[1:] -> STRIDED_SLICE
    stem conv over buf     -> CONV_2D (VALID, [1, k0, 1, K] kernel over time, fused RELU)
    depthwise dilated conv -> DEPTHWISE_CONV_2D (VALID, dilation_h = d) over its buf
    pointwise conv         -> CONV_2D 1x1 or FULLY_CONNECTED (fused RELU)
    head                   -> FULLY_CONNECTED + LOGISTIC
The whole-sequence `StreamingVAD.forward` and a loop of `step` agree to float rounding (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train.noise import NoiseWidth, RunningStd, safe_sqrt

FAMILY = "noisebudget-vad-tcn"
VERSION = 1


@dataclass
class VADArch:
    """Full (unpruned) architecture of the family."""

    n_mels: int = 40
    channels: list[int] = field(default_factory=lambda: [128] * 6)  # stem + one per block
    first_kernel: int = 3
    kernel: int = 3
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    ema_alpha: float = 0.01  # per-band running-mean (noise floor) tracker; 0 = fixed offset only

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.dilations) + 1:
            raise ValueError(
                f"VADArch: channels needs len(dilations)+1 = {len(self.dilations) + 1} entries, "
                f"got {len(self.channels)}"
            )

    @property
    def receptive_field(self) -> int:
        """Frames of input that one output frame depends on."""
        return 1 + (self.first_kernel - 1) + sum((self.kernel - 1) * d for d in self.dilations)


def macs_per_hop(arch: VADArch, mel: Any, chans: list[Any]) -> Any:
    """Per-hop MACs for (soft or integer) widths: mel bands kept and one width per channel layer."""
    k0, k = arch.first_kernel, arch.kernel
    total = k0 * mel * chans[0]
    for i in range(1, len(chans)):
        total = total + k * chans[i - 1] + chans[i - 1] * chans[i]
    return total + chans[-1]


class NoiseContext:
    """Per-batch noise source: per-sample generators (seeded by global sample index) + a DDP group.

    `gens[b]` draws nu for sample b of this rank's batch, in layer order, so the noise of a sample does
    not depend on which rank or batch position it lands on. `sync` all-reduces the variance statistics
    over the default process group (data-parallel training).
    """

    def __init__(self, gens: list[torch.Generator], *, sync: bool = False, valid: Tensor | None = None):
        self.gens = gens
        self.sync = sync
        self.valid = valid  # [B, T] bool: frames that count for the running std (crops are padded)

    @staticmethod
    def for_samples(seeds: list[int], *, sync: bool = False, valid: Tensor | None = None) -> NoiseContext:
        gens = []
        for s in seeds:
            g = torch.Generator()
            g.manual_seed(int(s) & 0x7FFF_FFFF_FFFF_FFFF)
            gens.append(g)
        return NoiseContext(gens, sync=sync, valid=valid)

    def randn(self, shape_per_sample: tuple[int, ...], like: Tensor) -> Tensor:
        out = torch.stack([torch.randn(shape_per_sample, generator=g) for g in self.gens])
        return out.to(device=like.device, dtype=like.dtype)


def _update_std(site: RunningStd, x: Tensor, ctx: NoiseContext | None) -> None:
    """RunningStd update of `x` [B, C, T] from (globally synchronised) moments over valid frames."""
    with torch.no_grad():
        xd = x.detach().double()
        if ctx is not None and ctx.valid is not None:
            m = ctx.valid.to(xd.device, xd.dtype)[:, None, :]
            s1 = (xd * m).sum(dim=(0, 2))
            s2 = (xd * xd * m).sum(dim=(0, 2))
            cnt = m.sum().reshape(1).expand(1)
        else:
            s1 = xd.sum(dim=(0, 2))
            s2 = (xd * xd).sum(dim=(0, 2))
            cnt = torch.tensor([float(xd.shape[0] * xd.shape[2])], dtype=xd.dtype, device=xd.device)
        stats = torch.cat([s1, s2, cnt])
        if ctx is not None and ctx.sync:
            import torch.distributed as dist

            dist.all_reduce(stats)
        c = site.n
        n = float(stats[-1])
        if n < 2:
            return
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0.0).to(site.running_var.dtype)
        if not bool(site.initialized):
            site.running_var.copy_(var)
            site.initialized.fill_(True)
        else:
            site.running_var.lerp_(var, site.momentum)


def _apply_noise(width: NoiseWidth, site: RunningStd, x: Tensor, ctx: NoiseContext | None, training: bool):
    """x [B, C, T] -> sqrt(lam) x (+ sqrt(1-lam) sigma nu in training), as `NoiseWidth.forward`."""
    lam = width.lam().to(x.dtype)
    a = safe_sqrt(lam)[None, :, None]
    if not training:
        return a * x
    _update_std(site, x, ctx)
    b = safe_sqrt(1.0 - lam)[None, :, None]
    sigma = site.std().to(x.dtype)[None, :, None]
    nu = torch.randn_like(x) if ctx is None else ctx.randn(tuple(x.shape[1:]), x)
    return a * x + b * sigma * nu


def _causal(x: Tensor, conv: nn.Conv1d) -> Tensor:
    pad = (conv.kernel_size[0] - 1) * conv.dilation[0]
    return conv(F.pad(x, (pad, 0)) if pad else x)


def ema_deltas(feats: np.ndarray, init: np.ndarray, alpha: float) -> np.ndarray:
    """The input stage: d_t = x_t - m_{t-1}, m_t = m_{t-1} + alpha * d_t, m_{-1} = init (per band, float32,
    the same operations in the same order as `StreamingVAD.step`). m tracks the slowly varying level of each
    band (noise floor and gain), so the model sees each band relative to its recent past."""
    x = np.asarray(feats, dtype=np.float32)
    m = np.asarray(init, dtype=np.float32).copy()
    if alpha == 0:
        return x - m
    a = np.float32(alpha)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        d = x[t] - m
        out[t] = d
        m = m + a * d
    return out


class VADNet(nn.Module):
    """Training model with noise widths. forward(feats [B, T, n_mels]) -> logits [B, T]."""

    def __init__(
        self,
        arch: VADArch,
        *,
        kappa_min: float = 0.0625,
        width_mode: str = "ordered",
        input_width_mode: str = "ordered",
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.arch = arch
        m, ch = arch.n_mels, list(arch.channels)
        self.register_buffer("ema_init", torch.zeros(m))
        self.register_buffer("feat_mean", torch.zeros(m))
        self.register_buffer("feat_scale", torch.ones(m))
        self.in_width = NoiseWidth(m, kappa_min=kappa_min, mode=input_width_mode, momentum=momentum)
        self.in_std = RunningStd(m, momentum)
        self.stem = nn.Conv1d(m, ch[0], arch.first_kernel)
        self.widths = nn.ModuleList(NoiseWidth(c, kappa_min=kappa_min, mode=width_mode, momentum=momentum) for c in ch)
        self.stds = nn.ModuleList(RunningStd(c, momentum) for c in ch)
        self.dw = nn.ModuleList(
            nn.Conv1d(ch[i - 1], ch[i - 1], arch.kernel, dilation=arch.dilations[i - 1], groups=ch[i - 1])
            for i in range(1, len(ch))
        )
        self.pw = nn.ModuleList(nn.Conv1d(ch[i - 1], ch[i], 1) for i in range(1, len(ch)))
        self.head = nn.Conv1d(ch[-1], 1, 1)
        for conv in [self.stem, *self.pw]:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.head.bias)

    # ------------------------------------------------------------------ setup
    @torch.no_grad()
    def set_ema_init(self, init: Tensor) -> None:
        self.ema_init.copy_(torch.as_tensor(init, dtype=torch.float32))

    def input_transform(self, feats: np.ndarray) -> np.ndarray:
        """Raw log-mel [T, n_mels] of a whole clip -> the model input d (see `ema_deltas`)."""
        return ema_deltas(feats, self.ema_init.cpu().numpy(), self.arch.ema_alpha)

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_scale.copy_(1.0 / torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def all_widths(self) -> list[NoiseWidth]:
        return [self.in_width, *self.widths]

    # ---------------------------------------------------------------- forward
    def forward(self, feats: Tensor, noise: NoiseContext | None = None) -> Tensor:
        tr = self.training
        x = ((feats - self.feat_mean) * self.feat_scale).transpose(1, 2)  # [B, M, T]
        x = _apply_noise(self.in_width, self.in_std, x, noise, tr)
        x = F.relu(_causal(x, self.stem))
        x = _apply_noise(self.widths[0], self.stds[0], x, noise, tr)
        for i, (dw, pw) in enumerate(zip(self.dw, self.pw, strict=True)):
            x = F.relu(pw(_causal(x, dw)))
            x = _apply_noise(self.widths[i + 1], self.stds[i + 1], x, noise, tr)
        return self.head(x)[:, 0, :]

    # ------------------------------------------------------------------ costs
    def soft_macs(self) -> Tensor:
        """Differentiable MACs of one streaming step at the soft widths."""
        return macs_per_hop(self.arch, self.in_width.soft_width(), [w.soft_width() for w in self.widths])

    def kept_counts(self) -> tuple[int, list[int]]:
        return self.in_width.kept(), [w.kept() for w in self.widths]

    def hard_macs(self) -> int:
        mel, ch = self.kept_counts()
        return int(macs_per_hop(self.arch, mel, ch))

    def min_macs(self) -> int:
        """MACs of the smallest model the widths can shrink to (at least one unit per dimension)."""
        mel = max(1, self.in_width.min_units())
        ch = [max(1, w.min_units()) for w in self.widths]
        return int(macs_per_hop(self.arch, mel, ch))

    def max_macs(self) -> int:
        return int(macs_per_hop(self.arch, self.arch.n_mels, list(self.arch.channels)))

    # ---------------------------------------------------------- consolidation
    @torch.no_grad()
    def kept_indices(self) -> list[Tensor]:
        """Kept unit indices per dimension: [mel bands, C0, C1, ...]."""
        return [w.kept_index() for w in self.all_widths()]

    @torch.no_grad()
    def trimmed_indices(self, budget: int | None = None, *, round_to: int = 1) -> list[Tensor]:
        """Kept indices, rounded down to multiples of `round_to` (hidden channels) and then trimmed
        (dropping the remaining unit with the smallest lam, ties: the larger MAC saving) until
        MACs per hop <= `budget`. Every dimension keeps at least one unit."""
        lams = [w.lam().detach().float() for w in self.all_widths()]
        keep = [list(ix.tolist()) for ix in self.kept_indices()]
        for d in range(len(keep)):
            keep[d] = sorted(keep[d], key=lambda j, d=d: -float(lams[d][j]))  # strongest first
            if not keep[d]:
                keep[d] = [int(torch.argmax(lams[d]))]
        if round_to > 1:
            for d in range(1, len(keep)):
                k = max(round_to, (len(keep[d]) // round_to) * round_to)
                keep[d] = keep[d][: min(k, len(keep[d]))]

        def macs(counts: list[int]) -> int:
            return int(macs_per_hop(self.arch, counts[0], counts[1:]))

        if budget is not None:
            while macs([len(k) for k in keep]) > budget:
                best = None
                for d in range(len(keep)):
                    step = round_to if (d > 0 and round_to > 1) else 1
                    if len(keep[d]) - step < 1:
                        continue
                    counts = [len(k) for k in keep]
                    counts[d] -= step
                    saving = macs([len(k) for k in keep]) - macs(counts)
                    lam_last = float(lams[d][keep[d][-1]])
                    key = (lam_last, -saving)
                    if best is None or key < best[0]:
                        best = (key, d, step)
                if best is None:
                    break
                _, d, step = best
                keep[d] = keep[d][:-step]
        return [torch.tensor(sorted(k), dtype=torch.long) for k in keep]

    @torch.no_grad()
    def consolidate(self, indices: list[Tensor] | None = None, *, extra: dict | None = None) -> StreamingVAD:
        """Plain streaming model on the kept units (eval outputs equal this model's, noise off)."""
        idx = self.kept_indices() if indices is None else indices
        scales = [safe_sqrt(w.lam().detach().float())[ix] for w, ix in zip(self.all_widths(), idx, strict=True)]
        mel_ix, ch_ix = idx[0], idx[1:]
        a = self.arch
        desc: dict[str, Any] = {
            "family": FAMILY,
            "version": VERSION,
            "n_mels_full": a.n_mels,
            "mel_bands": [int(i) for i in mel_ix],
            "channels": [int(len(i)) for i in ch_ix],
            "channels_full": list(a.channels),
            "first_kernel": a.first_kernel,
            "kernel": a.kernel,
            "dilations": list(a.dilations),
            "input_norm": {
                "ema_alpha": float(a.ema_alpha),
                "ema_init": [float(v) for v in self.ema_init[mel_ix]],
                "mean": [float(v) for v in self.feat_mean[mel_ix]],
                "scale": [float(v) for v in self.feat_scale[mel_ix]],
            },
        }
        if extra:
            desc.update(extra)
        model = StreamingVAD(desc)
        sd: dict[str, Tensor] = {}
        w = self.stem.weight[ch_ix[0]][:, mel_ix, :] * scales[0][None, :, None]
        sd["convs.0.weight"], sd["convs.0.bias"] = w, self.stem.bias[ch_ix[0]]
        j = 1
        for i in range(1, len(ch_ix)):
            prev, cur = ch_ix[i - 1], ch_ix[i]
            sd[f"convs.{j}.weight"] = self.dw[i - 1].weight[prev] * scales[i][:, None, None]
            sd[f"convs.{j}.bias"] = self.dw[i - 1].bias[prev]
            sd[f"convs.{j + 1}.weight"] = self.pw[i - 1].weight[cur][:, prev, :]
            # a dropped channel reaches the pointwise conv as its depthwise bias alone: fold it in
            dropped = torch.ones(self.arch.channels[i - 1], dtype=torch.bool)
            dropped[prev] = False
            wpw = self.pw[i - 1].weight[:, :, 0]
            const = wpw[:, dropped] @ self.dw[i - 1].bias[dropped]
            sd[f"convs.{j + 1}.bias"] = (self.pw[i - 1].bias + const)[cur]
            j += 2
        sd[f"convs.{j}.weight"] = self.head.weight[:, ch_ix[-1], :] * scales[-1][None, :, None]
        sd[f"convs.{j}.bias"] = self.head.bias.clone()
        sd["ema_init"] = self.ema_init[mel_ix].clone()
        sd["norm_mean"] = self.feat_mean[mel_ix].clone()
        sd["norm_scale"] = self.feat_scale[mel_ix].clone()
        model.load_state_dict({k: v.detach().clone().float() for k, v in sd.items()})
        return model.eval()


def layer_specs(desc: dict[str, Any]) -> list[dict[str, Any]]:
    """The conv layers of a consolidated model, in order (also written to the architecture JSON)."""
    k_in = len(desc["mel_bands"])
    ch = desc["channels"]
    specs = [
        {
            "name": "stem",
            "op": "conv",
            "in": k_in,
            "out": ch[0],
            "kernel": desc["first_kernel"],
            "dilation": 1,
            "groups": 1,
            "activation": "relu",
        },
    ]
    for i in range(1, len(ch)):
        d = desc["dilations"][i - 1]
        specs.append(
            {
                "name": f"block{i}.dw",
                "op": "depthwise_conv",
                "in": ch[i - 1],
                "out": ch[i - 1],
                "kernel": desc["kernel"],
                "dilation": d,
                "groups": ch[i - 1],
                "activation": "none",
            }
        )
        specs.append(
            {
                "name": f"block{i}.pw",
                "op": "conv",
                "in": ch[i - 1],
                "out": ch[i],
                "kernel": 1,
                "dilation": 1,
                "groups": 1,
                "activation": "relu",
            }
        )
    specs.append(
        {
            "name": "head",
            "op": "fully_connected",
            "in": ch[-1],
            "out": 1,
            "kernel": 1,
            "dilation": 1,
            "groups": 1,
            "activation": "logistic",
        }
    )
    for s in specs:
        s["state_frames"] = (s["kernel"] - 1) * s["dilation"]
    return specs


class StreamingVAD(nn.Module):
    """Consolidated plain model. forward(feats [B, T, K]) -> logits [B, T] (K = kept mel bands, in the
    order of `mel_bands`); `step(frame [1, K], state) -> (prob [1, 1], new_state)` for streaming."""

    def __init__(self, desc: dict[str, Any]) -> None:
        super().__init__()
        if desc.get("family") != FAMILY:
            raise ValueError(f"not a {FAMILY} description (family={desc.get('family')!r})")
        self.desc = dict(desc)
        self.specs = layer_specs(desc)
        norm = desc["input_norm"]
        self.ema_alpha = float(norm.get("ema_alpha", 0.0))
        k = len(desc["mel_bands"])
        self.register_buffer("ema_init", torch.tensor(norm.get("ema_init", [0.0] * k), dtype=torch.float32))
        self.register_buffer("norm_mean", torch.tensor(desc["input_norm"]["mean"], dtype=torch.float32))
        self.register_buffer("norm_scale", torch.tensor(desc["input_norm"]["scale"], dtype=torch.float32))
        self.convs = nn.ModuleList(
            nn.Conv1d(s["in"], s["out"], s["kernel"], dilation=s["dilation"], groups=s["groups"]) for s in self.specs
        )

    @classmethod
    def from_description(cls, desc: dict[str, Any], state_dict: dict[str, Tensor] | None = None) -> StreamingVAD:
        m = cls(desc)
        if state_dict is not None:
            m.load_state_dict(state_dict)
        return m.eval()

    def description(self) -> dict[str, Any]:
        d = dict(self.desc)
        d["layers"] = [dict(s) for s in self.specs]
        return d

    @property
    def n_inputs(self) -> int:
        return len(self.desc["mel_bands"])

    def select_bands(self, feats_full: Tensor) -> Tensor:
        """[..., n_mels_full] -> [..., K] (the kept mel bands)."""
        return feats_full[..., torch.tensor(self.desc["mel_bands"], dtype=torch.long)]

    @staticmethod
    def _act(x: Tensor, act: str) -> Tensor:
        return F.relu(x) if act == "relu" else x

    def deltas(self, feats: Tensor) -> Tensor:
        """Whole-sequence input stage [B, T, K] -> d (same float ops, in the same order, as `step`)."""
        if self.ema_alpha == 0:
            return feats - self.ema_init
        a = torch.tensor(self.ema_alpha, dtype=feats.dtype)
        m = self.ema_init.to(feats.dtype).expand(feats.shape[0], -1)
        out = torch.empty_like(feats)
        for t in range(feats.shape[1]):
            d = feats[:, t] - m
            out[:, t] = d
            m = m + a * d
        return out

    def forward(self, feats: Tensor) -> Tensor:
        x = ((self.deltas(feats) - self.norm_mean) * self.norm_scale).transpose(1, 2)
        for conv, s in zip(self.convs, self.specs, strict=True):
            x = self._act(_causal(x, conv), s["activation"])
        return x[:, 0, :]

    def init_state(self, batch: int = 1) -> list[Tensor]:
        """[EMA state [B, K] (if ema_alpha > 0)] + one [B, frames, C_in] buffer per conv with k > 1."""
        ema = [self.ema_init.expand(batch, -1).clone()] if self.ema_alpha > 0 else []
        return ema + [torch.zeros(batch, s["state_frames"], s["in"]) for s in self.specs if s["state_frames"] > 0]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One 10 ms hop: frame [B, K] -> (speech probability [B, 1], new state)."""
        new_state: list[Tensor] = []
        si = 0
        if self.ema_alpha > 0:
            m = state[0]
            d = frame - m  # SUB
            new_state.append(m + torch.tensor(self.ema_alpha, dtype=frame.dtype) * d)  # MUL + ADD
            si = 1
        else:
            d = frame - self.ema_init
        x = (d - self.norm_mean) * self.norm_scale  # [B, C]: SUB/ADD + MUL
        for conv, s in zip(self.convs, self.specs, strict=True):
            if s["state_frames"] > 0:
                buf = torch.cat([state[si], x[:, None, :]], dim=1)  # [B, F+1, C] channels-last
                new_state.append(buf[:, 1:, :])
                si += 1
                y = conv(buf.transpose(1, 2))  # VALID: one output position
            else:
                y = conv(x[:, :, None])
            x = self._act(y[:, :, 0], s["activation"])
        return torch.sigmoid(x), new_state

    @torch.no_grad()
    def stream(self, feats: Tensor) -> Tensor:
        """Run `step` over feats [T, K] from a zero state; returns probabilities [T]."""
        state = self.init_state(1)
        out = []
        for t in range(feats.shape[0]):
            p, state = self.step(feats[t : t + 1], state)
            out.append(p[0, 0])
        return torch.stack(out)


class StepModule(nn.Module):
    """forward(frame [1, K]) = one streaming step from a zero state (for exact per-hop cost counting)."""

    def __init__(self, model: StreamingVAD) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor) -> Tensor:
        return self.model.step(frame, self.model.init_state(frame.shape[0]))[0]


def step_cost(model: StreamingVAD) -> dict[str, int]:
    """Exact MACs and params of one step, counted over the plain torch ops by `train.cost`."""
    from train.cost import exact_macs, exact_params, exact_peak_activation_bytes

    frame = torch.zeros(1, model.n_inputs)
    sm = StepModule(model)
    state_bytes = sum(s["state_frames"] * s["in"] for s in model.specs)
    return {
        "macs_per_hop": exact_macs(sm, frame),
        "params": exact_params(model),
        "peak_activation_elements": exact_peak_activation_bytes(sm, frame, 1),
        "state_elements": int(state_bytes),
    }


def arch_from_config(model_cfg: Any, n_mels: int) -> VADArch:
    return VADArch(
        n_mels=int(n_mels),
        channels=list(model_cfg.channels),
        first_kernel=int(model_cfg.first_kernel),
        kernel=int(model_cfg.kernel),
        dilations=list(model_cfg.dilations),
        ema_alpha=float(model_cfg.ema_alpha),
    )


def describe_widths(desc: dict[str, Any]) -> dict[str, Any]:
    return {
        "mel_bands": len(desc["mel_bands"]),
        "mel_band_indices": list(desc["mel_bands"]),
        "n_mels_full": desc["n_mels_full"],
        "channels": list(desc["channels"]),
        "channels_full": list(desc["channels_full"]),
    }
