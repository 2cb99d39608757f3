"""TEN VAD (`ten-vad` wheel: a prebuilt C library, needs libc++1) at its 10 ms hop (160 samples).
Optional: evaluation only. Its first hop returns -1 (warm-up); that frame scores 0."""

from __future__ import annotations

import numpy as np

from train.peers.base import GRID_HOP, Cost, to_pcm16


class TenVADScorer:
    name = "ten"
    default_threshold = 0.5

    def __init__(self) -> None:
        from ten_vad import TenVad

        self._cls = TenVad
        self.cost = Cost(note="n/a: closed prebuilt library, model not inspectable here")

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        pcm = to_pcm16(audio)
        vad = self._cls(GRID_HOP, 0.5)
        t = pcm.size // GRID_HOP
        out = np.zeros(t)
        for i in range(t):
            p, _ = vad.process(np.ascontiguousarray(pcm[i * GRID_HOP : (i + 1) * GRID_HOP]))
            out[i] = max(0.0, float(p))
        return out
