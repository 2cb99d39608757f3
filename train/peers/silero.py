"""Silero VAD (v5/v6 ONNX from the `silero-vad` wheel) run causally: 512-sample chunks with 64 samples of
context and its LSTM state carried, exactly like `silero_vad.utils_vad.OnnxWrapper` at 16 kHz."""

from __future__ import annotations

from importlib import resources

import numpy as np

from train.peers.base import Cost, as_audio, hold_to_grid, onnx_session

CHUNK = 512
CONTEXT = 64


def _silero_cost() -> Cost:
    # Architecture of the 16 kHz branch (silero_vad/tinygrad_model.py in the wheel), per 512-sample chunk:
    # input 576 (+64 reflect pad) -> STFT conv 1->258, k=256, stride 128: 4 frames; magnitude of 129 bins;
    # conv 129->128 k3 (4 pos), 128->64 k3 s2 (2 pos), 64->64 k3 s2 (1 pos), 64->128 k3 (1 pos);
    # LSTMCell 128->128; conv 128->1 k1.
    stft = 258 * 256 * 4
    convs = 129 * 128 * 3 * 4 + 128 * 64 * 3 * 2 + 64 * 64 * 3 * 1 + 64 * 128 * 3 * 1
    lstm = 4 * 128 * (128 + 128)
    macs = stft + convs + lstm + 128
    params = (258 * 256 + 129 * 128 * 3 + 128 + 128 * 64 * 3 + 64 + 64 * 64 * 3 + 64 + 64 * 128 * 3 + 128
              + 4 * 128 * 256 + 2 * 4 * 128 + 129)
    return Cost(params=params, macs_per_10ms=macs * 160 / CHUNK,
                note=f"{macs:,} MACs per 32 ms chunk incl. its STFT conv (16 kHz branch, counted by layer)")


class SileroScorer:
    name = "silero"
    default_threshold = 0.5

    def __init__(self) -> None:
        path = str(resources.files("silero_vad.data").joinpath("silero_vad.onnx"))
        self.sess = onnx_session(path)
        self.cost = _silero_cost()

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        a = as_audio(audio)
        n_chunks = a.size // CHUNK
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros(CONTEXT, dtype=np.float32)
        sr = np.array(16000, dtype=np.int64)
        probs = np.zeros(n_chunks)
        for k in range(n_chunks):
            chunk = a[k * CHUNK : (k + 1) * CHUNK]
            x = np.concatenate([context, chunk])[None, :]
            out, state = self.sess.run(None, {"input": x, "state": state, "sr": sr})
            probs[k] = float(out[0, 0])
            context = chunk[-CONTEXT:]
        ends = (np.arange(n_chunks) + 1) * CHUNK
        return hold_to_grid(ends, probs, a.size, initial=0.0)
