"""VAD post-processing on the int8 probability stream: threshold, onset confirmation and hangover.

Integer semantics shared bit for bit with the C twin (firmware_templates/vad/nb_postproc.c):

    above    = q >= q_on                      (q: the model's raw int8 probability output)
    run      = run + 1 if above else 0        (consecutive hops above the threshold, saturating)
    speech   = 1 if run >= onset_hops, else (1 if speech_before and hang > 0 else 0)
    hang     = hangover_hops while above-and-confirmed, else counts down by one per hop

`q_on` is the smallest int8 value whose dequantized probability is >= the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from train.errors import UsageError


@dataclass(frozen=True)
class PostProcConfig:
    threshold: float = 0.5  # speech probability threshold
    onset_hops: int = 1  # hops above threshold needed to start a speech segment
    hangover_hops: int = 20  # hops a segment is held after the probability falls below threshold

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"post-processing: threshold must be in (0, 1), got {self.threshold}")
        if self.onset_hops < 1 or self.hangover_hops < 0:
            raise UsageError("post-processing: onset_hops must be >= 1 and hangover_hops >= 0")


def quantized_threshold(threshold: float, scale: float, zero_point: int) -> int:
    """Smallest int8 q with (q - zero_point) * scale >= threshold (clamped to int8)."""
    q = math.ceil(threshold / scale + zero_point - 1e-9)
    while (q - 1 - zero_point) * scale >= threshold:
        q -= 1
    while (q - zero_point) * scale < threshold:
        q += 1
    return int(min(127, max(-128, q)))


def decisions(q_probs: np.ndarray, q_on: int, cfg: PostProcConfig) -> np.ndarray:
    """Per-hop 0/1 speech decisions from the raw int8 probabilities (reference for the C code)."""
    out = np.zeros(len(q_probs), dtype=np.uint8)
    run = hang = 0
    speech = 0
    for t, q in enumerate(np.asarray(q_probs, dtype=np.int32)):
        above = int(q) >= q_on
        run = min(run + 1, 0xFFFF) if above else 0
        if above and run >= cfg.onset_hops:
            speech, hang = 1, cfg.hangover_hops
        elif speech and hang > 0:
            hang -= 1
        else:
            speech, hang = 0, 0
        out[t] = speech
    return out
