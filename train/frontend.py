"""The audio front end: causal log-mel features, one spec, one numpy reference and one torch module.

The spec is written out for a C implementation in docs/frontend.md. In short, for each 10 ms hop:

    frame t   = audio[(t+1)*hop - win : (t+1)*hop]        (zeros before the clip start)
    x         = frame * periodic_hann(win), zero-padded at the end to n_fft
    P[k]      = |rfft(x)[k]|^2,  k = 0 .. n_fft/2
    E[m]      = sum_k FB[m, k] * P[k]                      (HTK-mel triangles, peak 1, no area norm;
                                                            mel_scale="linear": edges equally spaced in Hz)
    feat[t,m] = log(E[m] + log_floor)                      (natural log)

T = n_samples // hop, so feature frame t lines up with label frame t of the corpus (CONTRACTS.md B/C).
Only the first K mel bands may be computed (`n_bands=K`): the filterbank for K bands is the first K rows
of the full one, so a model that pruned its input bands in order needs no other front end.

Both implementations compute in float64 and return float32; they agree to ~1e-12 before the cast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from train.errors import UsageError

FRAME_HOP_S = 0.010  # the label / decision grid of the whole project
MEL_SCALES = ("htk", "linear")  # band spacing: HTK mel, or linear in Hz (the same triangles, other edges)


@dataclass(frozen=True)
class FrontEndSpec:
    sample_rate: int = 16000
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_fft: int = 512
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 8000.0
    window: str = "hann_periodic"
    mel_scale: str = "htk"  # "htk" (mel-spaced triangles) | "linear" (equally spaced in Hz, LFCC-style)
    log_floor: float = 1e-6  # feat = log(E + log_floor)
    log_mode: str = "add"  # "add": log(E + floor)

    def __post_init__(self) -> None:
        if self.window != "hann_periodic":
            raise UsageError(f"front end: window {self.window!r} not supported (only 'hann_periodic')")
        if self.mel_scale not in MEL_SCALES:
            raise UsageError(f"front end: mel_scale {self.mel_scale!r} not supported (one of {', '.join(MEL_SCALES)})")
        if self.log_mode != "add":
            raise UsageError(f"front end: log_mode {self.log_mode!r} not supported (only 'add')")
        if not (0 < self.hop_length <= self.win_length <= self.n_fft):
            raise UsageError(
                f"front end: need 0 < hop_length ({self.hop_length}) <= win_length ({self.win_length}) "
                f"<= n_fft ({self.n_fft})"
            )
        if not (0 <= self.fmin < self.fmax <= self.sample_rate / 2):
            raise UsageError(
                f"front end: need 0 <= fmin ({self.fmin}) < fmax ({self.fmax}) <= sample_rate/2"
            )
        if self.n_mels < 1 or self.log_floor <= 0:
            raise UsageError("front end: n_mels must be >= 1 and log_floor > 0")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FrontEndSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UsageError(f"front end spec: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def digest(self) -> str:
        """A short stable hash of the spec (for cache keys and run metadata)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def n_frames(n_samples: int, spec: FrontEndSpec) -> int:
    return n_samples // spec.hop_length


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel: 2595 * log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def window(spec: FrontEndSpec) -> np.ndarray:
    """Periodic Hann window of win_length samples, float64: 0.5 - 0.5*cos(2*pi*n/win_length)."""
    n = np.arange(spec.win_length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / spec.win_length)


def _check_bands(spec: FrontEndSpec, n_bands: int | None) -> int:
    k = spec.n_mels if n_bands is None else int(n_bands)
    if not (1 <= k <= spec.n_mels):
        raise UsageError(f"front end: n_bands={n_bands} out of range 1..{spec.n_mels}")
    return k


@lru_cache(maxsize=32)
def _filterbank_cached(spec: FrontEndSpec) -> np.ndarray:
    if spec.mel_scale == "linear":
        edges_hz = np.linspace(spec.fmin, spec.fmax, spec.n_mels + 2)
    else:
        edges_hz = mel_to_hz(np.linspace(hz_to_mel(spec.fmin), hz_to_mel(spec.fmax), spec.n_mels + 2))
    freqs = np.arange(spec.n_bins, dtype=np.float64) * spec.sample_rate / spec.n_fft
    lo, ce, hi = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    up = (freqs[None, :] - lo) / (ce - lo)
    down = (hi - freqs[None, :]) / (hi - ce)
    fb = np.maximum(0.0, np.minimum(up, down))
    empty = np.flatnonzero(fb.sum(axis=1) == 0)
    if empty.size:
        raise UsageError(
            f"front end: mel band(s) {empty.tolist()} contain no FFT bin (n_mels={spec.n_mels} too many "
            f"for n_fft={spec.n_fft} between {spec.fmin} and {spec.fmax} Hz)"
        )
    fb.setflags(write=False)
    return fb


def mel_filterbank(spec: FrontEndSpec, n_bands: int | None = None) -> np.ndarray:
    """[K, n_fft//2+1] float64 triangular weights (peak 1), HTK-mel or linearly spaced (`spec.mel_scale`);
    K = n_bands or n_mels (first K rows)."""
    return _filterbank_cached(spec)[: _check_bands(spec, n_bands)]


def filterbank_ranges(spec: FrontEndSpec, n_bands: int | None = None) -> list[tuple[int, np.ndarray]]:
    """Sparse form for C code: per band (first nonzero bin, weights over the contiguous nonzero run)."""
    out = []
    for row in mel_filterbank(spec, n_bands):
        nz = np.flatnonzero(row)
        out.append((int(nz[0]), row[nz[0] : nz[-1] + 1].copy()))
    return out


def frame_signal(audio: np.ndarray, spec: FrontEndSpec) -> np.ndarray:
    """[T, win_length] causal frames: frame t = audio[(t+1)*hop - win : (t+1)*hop], zeros before start."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise UsageError(f"front end: audio must be 1-D, got shape {x.shape}")
    t = n_frames(x.size, spec)
    pad = spec.win_length - spec.hop_length
    xp = np.concatenate([np.zeros(pad), x[: t * spec.hop_length]])
    if t == 0:
        return np.zeros((0, spec.win_length))
    idx = np.arange(t)[:, None] * spec.hop_length + np.arange(spec.win_length)[None, :]
    return xp[idx]


def features_numpy(audio: np.ndarray, spec: FrontEndSpec = FrontEndSpec(), n_bands: int | None = None
                   ) -> np.ndarray:
    """Reference front end: float32 [T, K] log-mel features (K = n_bands or spec.n_mels)."""
    fb = mel_filterbank(spec, n_bands)
    frames = frame_signal(audio, spec) * window(spec)[None, :]
    power = np.abs(np.fft.rfft(frames, n=spec.n_fft, axis=1)) ** 2
    return np.log(power @ fb.T + spec.log_floor).astype(np.float32)


class StreamingFrontEnd:
    """Hop-by-hop numpy front end (what the C code does): push `hop_length` samples, get one frame."""

    def __init__(self, spec: FrontEndSpec = FrontEndSpec(), n_bands: int | None = None) -> None:
        self.spec = spec
        self.fb = mel_filterbank(spec, n_bands)
        self.win = window(spec)
        self.reset()

    def reset(self) -> None:
        self.buf = np.zeros(self.spec.win_length)

    def push(self, hop: np.ndarray) -> np.ndarray:
        hop = np.asarray(hop, dtype=np.float64)
        if hop.shape != (self.spec.hop_length,):
            raise UsageError(f"front end: push() needs {self.spec.hop_length} samples, got {hop.shape}")
        self.buf = np.concatenate([self.buf[self.spec.hop_length :], hop])
        p = np.abs(np.fft.rfft(self.buf * self.win, n=self.spec.n_fft)) ** 2
        return np.log(self.fb @ p + self.spec.log_floor).astype(np.float32)


def frontend_macs(spec: FrontEndSpec = FrontEndSpec(), n_bands: int | None = None) -> int:
    """Estimated multiply-accumulates per hop, for cost tables (an estimate: FFT counted as
    2*n_fft*log2(n_fft) real MACs for a real FFT). Windowing win_length, power 2 per bin,
    filterbank = number of nonzero weights of the kept bands; log not counted."""
    nnz = int(np.count_nonzero(mel_filterbank(spec, n_bands)))
    fft = int(2 * spec.n_fft * np.log2(spec.n_fft))
    return spec.win_length + fft + 2 * spec.n_bins + nnz


def _torch_module_class():
    import torch
    from torch import nn

    class TorchFrontEnd(nn.Module):
        """Torch front end (training): audio [N] or [B, N] -> float32 [T, K] or [B, T, K].

        Same numbers as `features_numpy` (computed in float64 internally, within 1e-5 after the cast).
        Not meant to be differentiated through; it has no trainable parameters.
        """

        def __init__(self, spec: FrontEndSpec = FrontEndSpec(), n_bands: int | None = None) -> None:
            super().__init__()
            self.spec = spec
            self.n_bands = _check_bands(spec, n_bands)
            fb = np.array(mel_filterbank(spec, n_bands).T, order="C", copy=True)
            self.register_buffer("fb", torch.from_numpy(fb), persistent=False)
            self.register_buffer("win", torch.from_numpy(window(spec)), persistent=False)

        def forward(self, audio: torch.Tensor) -> torch.Tensor:
            s = self.spec
            squeeze = audio.dim() == 1
            x = audio.reshape(1, -1) if squeeze else audio
            if x.dim() != 2:
                raise UsageError(f"front end: audio must be [N] or [B, N], got {tuple(audio.shape)}")
            x = x.to(torch.float64)
            t = x.shape[1] // s.hop_length
            if t == 0:
                out = x.new_zeros((x.shape[0], 0, self.n_bands), dtype=torch.float32)
                return out[0] if squeeze else out
            x = x[:, : t * s.hop_length]
            x = torch.nn.functional.pad(x, (s.win_length - s.hop_length, 0))
            frames = x.unfold(1, s.win_length, s.hop_length)  # [B, T, win]
            spec_c = torch.fft.rfft(frames * self.win, n=s.n_fft, dim=-1)
            power = spec_c.real.square() + spec_c.imag.square()
            feats = torch.log(power @ self.fb + s.log_floor).to(torch.float32)
            return feats[0] if squeeze else feats

    return TorchFrontEnd


def __getattr__(name: str):  # lazy torch import: `from train.frontend import TorchFrontEnd`
    if name == "TorchFrontEnd":
        cls = _torch_module_class()
        globals()["TorchFrontEnd"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
