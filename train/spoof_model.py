"""The anti-spoofing model family: a small residual CNN over a fixed window of log-mel frames, learned widths.

Score convention (ASVspoof): one logit per window, higher = more bona fide.

Architecture (a TC-ResNet-style ResNet over time: the mel bands are the input channels of a 1-D conv, so the
mel bands themselves are a prunable dimension and every conv maps to a TFLite CONV_2D with W = 1):

    log-mel window [B, T, n_mels] -> fixed per-band affine normalisation (float input stage)
      -> InputNoise over the mel bands (per-unit: any subset of bands may survive)     prunable: mel bands
      -> stem  PConv1d(n_mels -> C0, k, 'same') + BN + ReLU -> noise                    prunable: C0
      -> stack s = 1..S (first block stride s_s, the others stride 1), residual block:
             main:     PConv1d(C_in -> C_s, k, stride) + BN + ReLU -> noise (block-internal width)
                       PConv1d(C_s -> C_s, k) + BN                     (no own noise; width W_s)
             shortcut: PConv1d(C_in -> C_s, 1, stride) + BN (1x1 projection, first block of a stack)
                       or the identity (later blocks)
             h = NoiseApply(W_s)(relu(main + shortcut))
         the residual tensors of a stack (both branches, the sum, every block's output) share ONE NoiseWidth W_s
      -> global average pool over time -> PLinear(C_S -> 1) -> logit

With odd T at every strided conv (default T = 201 frames: 201 -> 101 -> 51 -> 26) PyTorch's symmetric
padding equals TFLite's SAME padding, so the exported graph has no PAD ops.

Cost: `train.cost.CostModel` traced on one window (MACs per window, TFLite convention); the budget is MACs
per utterance second = MACs per window / window seconds (`SpoofNet.window_seconds`).

Consolidation: `SpoofNet.consolidate()` runs `train.consolidate.consolidate` (kept units only, BN folded,
sqrt(lam) folded) and copies the plain layers into a `SpoofCNN` (plain nn.Conv1d / nn.Linear with a JSON-able
description, rebuildable without the training code: `SpoofCNN.from_description(desc, state_dict)`).
`SpoofCNN.forward(feats [B, T, K])` takes the KEPT mel bands (in `desc["mel_bands"]` order), raw log-mel;
`SpoofCNN.core(x)` takes the normalised input (what the int8 model sees).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train.layers import InputNoise, PConv1d, PLinear
from train.noise import NoiseApply, NoiseWidth, noise_widths

FAMILY = "noisebudget-spoof-resnet"
VERSION = 1
INPUT_NORMS = ("global", "cmn")


def level_norm(feats: Tensor, mode: str) -> Tensor:
    """Per-window level removal before the fixed per-band affine normalisation: "cmn" subtracts each band's
    mean over the window (removes gain and channel tilt; per band, so it is the same whichever bands are kept),
    "global" nothing."""
    if mode == "cmn":
        return feats - feats.mean(dim=-2, keepdim=True)
    return feats


@dataclass
class SpoofArch:
    """Full (unpruned) architecture."""

    n_mels: int = 40
    window_frames: int = 201  # model input window (2.01 s at 10 ms hops)
    stem_channels: int = 32
    stem_kernel: int = 3
    channels: list[int] = field(default_factory=lambda: [32, 48, 64])  # one per residual stack
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1])  # residual blocks per stack
    strides: list[int] = field(default_factory=lambda: [2, 2, 2])  # stride of each stack's first block
    kernel: int = 3
    hop_seconds: float = 0.01
    input_norm: str = "global"  # "global" | "cmn" (subtract each band's mean over the window first)

    def __post_init__(self) -> None:
        if not (len(self.channels) == len(self.blocks) == len(self.strides)) or not self.channels:
            raise ValueError(f"SpoofArch: channels {self.channels}, blocks {self.blocks} and strides {self.strides} "
                             "need one entry per residual stack")
        if any(b < 1 for b in self.blocks) or any(s < 1 for s in self.strides) or any(c < 1 for c in self.channels):
            raise ValueError("SpoofArch: channels, blocks and strides must be >= 1")
        if self.kernel % 2 != 1 or self.stem_kernel % 2 != 1:
            raise ValueError("SpoofArch: kernels must be odd ('same' padding)")
        if self.window_frames < 8:
            raise ValueError(f"SpoofArch: window_frames must be >= 8, got {self.window_frames}")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"SpoofArch: input_norm must be one of {INPUT_NORMS}, got {self.input_norm!r}")

    @property
    def window_seconds(self) -> float:
        return self.window_frames * self.hop_seconds


def _tlen(t: int, k: int, s: int) -> int:
    return (t + 2 * (k // 2) - k) // s + 1


class ResBlock(nn.Module):
    """Residual block; `out_width` is the stack's shared NoiseWidth."""

    def __init__(self, cin: int, cout: int, *, stride: int, kernel: int, in_width: NoiseWidth,
                 out_width: NoiseWidth, width_kwargs: dict) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = PConv1d(cin, cout, kernel, stride=stride, padding=pad, in_width=in_width, out_width=True,
                             bn=True, act="relu", width_kwargs=width_kwargs)
        self.conv2 = PConv1d(cout, cout, kernel, padding=pad, in_width=self.conv1.out_width, out_width=out_width,
                             bn=True, act=None, out_noise=False)
        self.proj = None
        if stride != 1 or cin != cout or in_width is not out_width:
            self.proj = PConv1d(cin, cout, 1, stride=stride, in_width=in_width, out_width=out_width, bn=True,
                                act=None, out_noise=False)
        self.noise = NoiseApply(out_width)

    def forward(self, x: Tensor) -> Tensor:
        sc = x if self.proj is None else self.proj(x)
        return self.noise(F.relu(self.conv2(self.conv1(x)) + sc))


class SpoofNet(nn.Module):
    """Training model with noise widths. forward(feats [B, T, n_mels] raw log-mel) -> logits [B]."""

    def __init__(self, arch: SpoofArch, *, kappa_min: float = 0.0625, width_mode: str = "ordered",
                 input_width_mode: str = "per_unit", momentum: float = 0.1) -> None:
        super().__init__()
        self.arch = arch
        m = arch.n_mels
        wk = {"kappa_min": kappa_min, "mode": width_mode, "momentum": momentum}
        self.register_buffer("feat_mean", torch.zeros(m))
        self.register_buffer("feat_scale", torch.ones(m))
        in_kw = {"momentum": momentum}
        if input_width_mode == "ordered":
            in_kw["kappa_min"] = kappa_min
        self.in_noise = InputNoise(m, dim=1, mode=input_width_mode, **in_kw)
        self.stem = PConv1d(m, arch.stem_channels, arch.stem_kernel, padding=arch.stem_kernel // 2,
                            in_width=self.in_noise.width, out_width=True, bn=True, act="relu", width_kwargs=wk)
        blocks: list[nn.Module] = []
        prev_w, prev_c = self.stem.out_width, arch.stem_channels
        for c, nb, s in zip(arch.channels, arch.blocks, arch.strides, strict=True):
            w = NoiseWidth(c, **wk)
            for b in range(nb):
                blocks.append(ResBlock(prev_c, c, stride=s if b == 0 else 1, kernel=arch.kernel, in_width=prev_w,
                                       out_width=w, width_kwargs=wk))
                prev_w, prev_c = w, c
        self.blocks = nn.ModuleList(blocks)
        self.head = PLinear(prev_c, 1, in_width=prev_w, out_width=None, act=None)
        for mod in self.modules():
            if isinstance(mod, PConv1d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_scale.copy_(1.0 / torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def level(self, feats: Tensor) -> Tensor:
        return level_norm(feats, self.arch.input_norm)

    def forward(self, feats: Tensor) -> Tensor:
        x = ((self.level(feats) - self.feat_mean) * self.feat_scale).transpose(1, 2)  # [B, M, T]
        x = self.stem(self.in_noise(x))
        for blk in self.blocks:
            x = blk(x)
        return self.head(x.mean(dim=2))[:, 0]

    # ------------------------------------------------------------------ widths / cost
    @property
    def window_seconds(self) -> float:
        return self.arch.window_seconds

    def example_input(self) -> Tensor:
        return torch.zeros(1, self.arch.window_frames, self.arch.n_mels)

    def cost_model(self):
        from train.cost import CostModel

        return CostModel(self, self.example_input())

    def widths(self) -> dict[str, NoiseWidth]:
        return noise_widths(self)

    def width_summary(self) -> dict[str, Any]:
        """Kept units per prunable dimension (by module name)."""
        return {name: w.kept() for name, w in self.widths().items()}

    # ------------------------------------------------------------------ consolidation
    @torch.no_grad()
    def consolidate(self, *, extra: dict | None = None) -> SpoofCNN:
        """Plain model on the kept units (eval outputs equal this model's eval outputs, noise off)."""
        from train.consolidate import consolidate

        plain = consolidate(self)
        mel_ix = self.in_noise.kept_index()
        sel = plain.in_noise
        in_scale = sel.scale.scale.clone() if sel.scale is not None else torch.ones(len(mel_ix))
        layers: dict[str, Any] = {"stem": _conv_of(plain.stem)}
        blocks = []
        stack_of = []
        w_ids: list[int] = []
        for blk in self.blocks:
            wid = id(blk.noise.width)
            if wid not in w_ids:
                w_ids.append(wid)
            stack_of.append(w_ids.index(wid))
        for i, pb in enumerate(plain.blocks):
            c1, c2 = _conv_of(pb.conv1), _conv_of(pb.conv2)
            pj = _conv_of(pb.proj) if pb.proj is not None else None
            post = pb.noise.scale.clone() if hasattr(pb.noise, "scale") else torch.ones(c2.out_channels)
            blocks.append({"conv1": c1, "conv2": c2, "proj": pj, "post_scale": post, "stride": c1.stride[0],
                           "stack": stack_of[i]})
        head = plain.head if isinstance(plain.head, nn.Linear) else next(
            m for m in plain.head.modules() if isinstance(m, nn.Linear))
        a = self.arch
        desc: dict[str, Any] = {
            "family": FAMILY,
            "version": VERSION,
            "n_mels_full": a.n_mels,
            "mel_bands": [int(i) for i in mel_ix],
            "window_frames": a.window_frames,
            "hop_seconds": a.hop_seconds,
            "kernel": a.kernel,
            "stem_kernel": a.stem_kernel,
            "stem": layers["stem"].out_channels,
            "blocks": [{"mid": b["conv1"].out_channels, "out": b["conv2"].out_channels, "stride": b["stride"],
                        "proj": b["proj"] is not None, "stack": b["stack"]} for b in blocks],
            "arch_full": asdict(a),
            "input_norm": {"mode": a.input_norm, "mean": [float(v) for v in self.feat_mean[mel_ix]],
                           "scale": [float(v) for v in self.feat_scale[mel_ix]]},
        }
        if extra:
            desc.update(extra)
        model = SpoofCNN(desc)
        sd: dict[str, Tensor] = {
            "norm_mean": self.feat_mean[mel_ix].clone(),
            "norm_scale": self.feat_scale[mel_ix].clone(),
            "in_scale": in_scale,
        }

        def put(prefix: str, mod: nn.Module) -> None:
            sd[f"{prefix}.weight"] = mod.weight.detach().clone()
            sd[f"{prefix}.bias"] = mod.bias.detach().clone()

        put("stem", layers["stem"])
        for i, b in enumerate(blocks):
            put(f"blocks.{i}.conv1", b["conv1"])
            put(f"blocks.{i}.conv2", b["conv2"])
            if b["proj"] is not None:
                put(f"blocks.{i}.proj", b["proj"])
            sd[f"blocks.{i}.post_scale"] = b["post_scale"]
        put("head", head)
        model.load_state_dict({k: v.float() for k, v in sd.items()})
        return model.eval()


def _conv_of(mod: nn.Module) -> nn.Module:
    """The nn.Conv1d inside a consolidated block (it may be wrapped with its activation)."""
    if isinstance(mod, nn.Conv1d | nn.Linear):
        return mod
    for m in mod.modules():
        if isinstance(m, nn.Conv1d | nn.Linear):
            return m
    raise ValueError(f"no conv in {mod}")


class SpoofBlock(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int, *, stride: int, kernel: int, proj: bool) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(cin, mid, kernel, stride=stride, padding=pad)
        self.conv2 = nn.Conv1d(mid, cout, kernel, padding=pad)
        self.proj = nn.Conv1d(cin, cout, 1, stride=stride) if proj else None
        self.register_buffer("post_scale", torch.ones(cout))

    def forward(self, x: Tensor) -> Tensor:
        sc = x if self.proj is None else self.proj(x)
        return F.relu(self.conv2(F.relu(self.conv1(x))) + sc) * self.post_scale[None, :, None]


class SpoofCNN(nn.Module):
    """Consolidated plain model. forward(feats [B, T, K] raw log-mel of the kept bands) -> logits [B]."""

    def __init__(self, desc: dict[str, Any]) -> None:
        super().__init__()
        if desc.get("family") != FAMILY:
            raise ValueError(f"not a {FAMILY} description (family={desc.get('family')!r})")
        self.desc = dict(desc)
        k = len(desc["mel_bands"])
        self.register_buffer("norm_mean", torch.zeros(k))
        self.register_buffer("norm_scale", torch.ones(k))
        self.register_buffer("in_scale", torch.ones(k))
        self.stem = nn.Conv1d(k, desc["stem"], desc["stem_kernel"], padding=desc["stem_kernel"] // 2)
        blocks = []
        prev = desc["stem"]
        for b in desc["blocks"]:
            blocks.append(SpoofBlock(prev, b["mid"], b["out"], stride=b["stride"], kernel=desc["kernel"],
                                     proj=b["proj"]))
            prev = b["out"]
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(prev, 1)

    @classmethod
    def from_description(cls, desc: dict[str, Any], state_dict: dict[str, Tensor] | None = None) -> SpoofCNN:
        m = cls(desc)
        if state_dict is not None:
            m.load_state_dict(state_dict)
        return m.eval()

    def description(self) -> dict[str, Any]:
        return dict(self.desc)

    @property
    def n_inputs(self) -> int:
        return len(self.desc["mel_bands"])

    @property
    def window_frames(self) -> int:
        return int(self.desc["window_frames"])

    @property
    def window_seconds(self) -> float:
        return self.window_frames * float(self.desc["hop_seconds"])

    @property
    def input_norm(self) -> str:
        return str(self.desc.get("input_norm", {}).get("mode", "global"))

    def normalize(self, feats: Tensor) -> Tensor:
        """The float input stage: raw log-mel window of the kept bands [..., T, K] -> the int8 model's input."""
        return (level_norm(feats, self.input_norm) - self.norm_mean) * self.norm_scale

    def core(self, x: Tensor) -> Tensor:
        """Normalised input [B, T, K] -> logits [B] (what the int8 model computes)."""
        x = (x * self.in_scale).transpose(1, 2)
        x = F.relu(self.stem(x))
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(dim=2))[:, 0]

    def forward(self, feats: Tensor) -> Tensor:
        return self.core(self.normalize(feats))


def window_cost(model: SpoofCNN) -> dict[str, Any]:
    """Exact MACs / params of one window, counted over the plain torch ops by `train.cost`."""
    from train.cost import exact_macs, exact_params, exact_peak_activation_bytes

    x = torch.zeros(1, model.window_frames, model.n_inputs)
    macs = exact_macs(model, x)
    return {
        "macs_per_window": int(macs),
        "window_seconds": model.window_seconds,
        "macs_per_second": int(math.ceil(macs / model.window_seconds)),
        "params": exact_params(model),
        "peak_activation_elements": exact_peak_activation_bytes(model, x, 1),
    }


def describe_widths(desc: dict[str, Any]) -> dict[str, Any]:
    full = desc.get("arch_full", {})
    return {
        "mel_bands": len(desc["mel_bands"]),
        "mel_band_indices": list(desc["mel_bands"]),
        "n_mels_full": desc["n_mels_full"],
        "stem": desc["stem"],
        "stem_full": full.get("stem_channels"),
        "blocks": [dict(b) for b in desc["blocks"]],
        "stacks": [max(b["out"] for b in desc["blocks"] if b["stack"] == s)
                   for s in sorted({b["stack"] for b in desc["blocks"]})],
        "stacks_full": list(full.get("channels", [])),
    }


def arch_from_config(model_cfg: Any, n_mels: int, hop_seconds: float = 0.01) -> SpoofArch:
    return SpoofArch(
        n_mels=int(n_mels),
        hop_seconds=float(hop_seconds),
        window_frames=int(model_cfg.window_frames),
        stem_channels=int(model_cfg.stem_channels),
        stem_kernel=int(model_cfg.stem_kernel),
        channels=list(model_cfg.channels),
        blocks=list(model_cfg.blocks),
        strides=list(model_cfg.strides),
        kernel=int(model_cfg.kernel),
        input_norm=str(getattr(model_cfg, "input_norm", "global")),
    )
