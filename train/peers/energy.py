"""Adaptive-energy baseline: frame energy in dB above a tracked noise floor, per 10 ms hop (causal).

    e_t     = 10*log10(mean(x_t^2) + 1e-10)                   (x_t: the 160 samples of hop t)
    floor_t = min(e_t, floor_{t-1} + rise_db)                  (falls at once, rises slowly; floor_{-1} = e_0)
    score_t = e_t - floor_t                                    (dB; default threshold 6 dB)
"""

from __future__ import annotations

import numpy as np

from train.peers.base import GRID_HOP, Cost, as_audio


class EnergyScorer:
    name = "energy"

    def __init__(self, rise_db_per_s: float = 3.0, default_threshold: float = 6.0,
                 min_db: float = -100.0) -> None:
        self.rise = rise_db_per_s * GRID_HOP / 16000
        self.default_threshold = default_threshold
        self.min_db = min_db
        self.cost = Cost(params=0, macs_per_10ms=GRID_HOP,
                         note="160 MACs per 10 ms (sum of squares); log and tracker not counted")

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        a = as_audio(audio).astype(np.float64)
        t = a.size // GRID_HOP
        e = 10 * np.log10(np.mean(a[: t * GRID_HOP].reshape(t, GRID_HOP) ** 2, axis=1) + 1e-10)
        e = np.maximum(e, self.min_db)
        out = np.zeros(t)
        floor = e[0] if t else 0.0
        for i in range(t):
            floor = min(e[i], floor + self.rise)
            out[i] = e[i] - floor
        return out
