"""What every scorer (peer VAD or our model) provides, and the helpers to put its output on the 10 ms grid.

A scorer turns one clip (float32 mono audio in [-1, 1] at 16 kHz) into one score per 10 ms frame,
T = n // 160, where the score of frame t (which ends at sample (t+1)*160) uses only audio before that
sample. Peers that run at another hop hold their latest decision: `hold_to_grid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

SAMPLE_RATE = 16000
GRID_HOP = 160  # 10 ms


@dataclass(frozen=True)
class Cost:
    """Compute cost of a scorer. None = unknown; `note` says why or how it was counted."""

    params: int | None = None
    macs_per_10ms: float | None = None
    note: str = ""

    def params_str(self) -> str:
        return f"{self.params:,}" if self.params is not None else "n/a"

    def macs_str(self) -> str:
        return f"{self.macs_per_10ms:,.0f}" if self.macs_per_10ms is not None else "n/a"


@runtime_checkable
class Scorer(Protocol):
    name: str
    cost: Cost
    default_threshold: float | None  # the scorer's own operating point (None = none)

    def score_clip(self, audio: np.ndarray) -> np.ndarray:
        """float32 audio [n] at 16 kHz -> float64 scores [n // 160], causal (see module doc)."""
        ...


def grid_frames(n_samples: int) -> int:
    return n_samples // GRID_HOP


def hold_to_grid(decision_end: np.ndarray, values: np.ndarray, n_samples: int, initial: float = 0.0
                 ) -> np.ndarray:
    """Scores on the 10 ms grid from decisions available at sample indices `decision_end` (ascending):
    grid frame t takes the latest value whose decision_end <= (t+1)*160, else `initial`."""
    t = grid_frames(n_samples)
    grid_end = (np.arange(t) + 1) * GRID_HOP
    idx = np.searchsorted(np.asarray(decision_end), grid_end, side="right") - 1
    vals = np.asarray(values, dtype=np.float64)
    out = np.full(t, float(initial))
    ok = idx >= 0
    out[ok] = vals[idx[ok]]
    return out


def as_audio(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"audio must be 1-D, got shape {a.shape}")
    return a


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(as_audio(audio) * 32768.0), -32768, 32767).astype(np.int16)


def onnx_session(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def onnx_conv_gemm_macs(path: str, input_shapes: dict[str, list[int]]) -> tuple[int, int]:
    """(MACs, params) of an ONNX graph without control flow: Conv = prod(W.shape) * output positions,
    Gemm/MatMul = in*out per row; params = number of initializer values. TFLite MAC convention."""
    import onnx

    m = onnx.load(path)
    for i in m.graph.input:
        if i.name in input_shapes:
            dims = i.type.tensor_type.shape.dim
            for d, v in zip(dims, input_shapes[i.name], strict=True):
                d.ClearField("dim_param")
                d.dim_value = v
    m = onnx.shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output)}
    weights = {t.name: list(t.dims) for t in m.graph.initializer}
    macs = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            out = shapes[n.output[0]]
            macs += int(np.prod(weights[n.input[1]])) * int(np.prod(out[2:]))
        elif n.op_type in ("Gemm", "MatMul"):
            w = weights.get(n.input[1])
            out = shapes[n.output[0]]
            if w is not None:
                macs += int(np.prod(w)) * int(np.prod(out[:-1]))
    params = sum(int(np.prod(t.dims)) for t in m.graph.initializer)
    return macs, params
