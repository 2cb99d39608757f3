"""PulseVAD (`pulsevad` wheel, 2.1k-parameter int8 QDQ ONNX): scores 200 ms windows (3,200 samples).

Run causally as its README streams and benchmarks it: non-overlapping 200 ms windows (hop 3,200 samples;
`pulsevad-100` = hop 1,600 as in its `get_speech_timestamps`). The window ending at sample e gives the
decision held from e on; nothing before the first full window (200 ms). Each window is
scored from its own audio only (the package's own front end: pre-emphasis, per-window normalisation,
64 log-mel bands x 21 frames)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from train.peers.base import Cost, as_audio, hold_to_grid, onnx_conv_gemm_macs, onnx_session

WINDOW = 3200


def _package_dir() -> Path:
    # The package's __init__ imports torchaudio (absent here); load its numpy front end and model files
    # straight from the installed folder instead of importing the package.
    spec = importlib.util.find_spec("pulsevad")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("package 'pulsevad' is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def _frontend_np():
    path = _package_dir() / "frontend_np.py"
    spec = importlib.util.spec_from_file_location("_nb_pulsevad_frontend_np", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _frontend_macs_per_window() -> int:
    fe = _frontend_np()
    N_FFT, WIN_LENGTH = fe.N_FFT, fe.WIN_LENGTH  # noqa: N806
    nnz = int(np.count_nonzero(fe.get_mel_filterbank()))
    per_frame = WIN_LENGTH + int(2 * N_FFT * np.log2(N_FFT)) + 2 * (N_FFT // 2 + 1) + nnz
    return 21 * per_frame + 3 * WINDOW  # + pre-emphasis and waveform normalisation


class PulseVADScorer:
    default_threshold = 0.5

    def __init__(self, hop: int = WINDOW, quantized: bool = True) -> None:
        self.name = "pulsevad" if hop == WINDOW else f"pulsevad-{hop // 16}"
        data = _package_dir() / "data"
        self.hop = hop
        fname = "pulsevad_2.1k_int8.onnx" if quantized else "pulsevad_2.1k.onnx"
        self.sess = onnx_session(str(data / fname))
        self.input_name = self.sess.get_inputs()[0].name
        macs, params = onnx_conv_gemm_macs(str(data / "pulsevad_2.1k.onnx"), {"log_mel": [1, 64, 21]})
        fe = _frontend_macs_per_window()
        self.cost = Cost(params=params, macs_per_10ms=(macs + fe) * 160 / hop,
                         note=f"per {hop // 16} ms hop: model {macs:,} MACs (from its ONNX graph, BN folded) "
                              f"+ front end ~{fe:,} (21 frames recomputed per window, FFT estimated)")

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        extract_log_mel_np = _frontend_np().extract_log_mel_np
        a = as_audio(audio)
        if a.size < WINDOW:
            return hold_to_grid(np.zeros(0, dtype=np.int64), np.zeros(0), a.size)
        starts = np.arange(0, a.size - WINDOW + 1, self.hop)
        probs = np.zeros(starts.size)
        for b in range(0, starts.size, 256):
            idx = starts[b : b + 256]
            wins = np.stack([a[s : s + WINDOW] for s in idx])
            logits = self.sess.run(None, {self.input_name: extract_log_mel_np(wins)})[0]
            d = logits[:, 1] - logits[:, 0]
            probs[b : b + idx.size] = 1.0 / (1.0 + np.exp(-d))
        return hold_to_grid(starts + WINDOW, probs, a.size, initial=0.0)
