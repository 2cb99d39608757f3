"""Frame labels on the 10 ms grid, derived from a clean (unmixed) source.

Per 10 ms frame energy in dB; the noise floor is a low percentile of the frame energies and the
threshold sits `margin_db` above it, but never more than `range_db` below the loud frames. Gaps
shorter than `fill_ms` between speech frames are filled, islands shorter than `min_speech_ms` removed.
A source whose loud frames are less than `min_dynamic_db` above its floor has no usable labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.errors import DataError

HOP = 160
FLOOR_DB = -100.0


@dataclass(frozen=True)
class LabelSpec:
    hop: int = HOP
    floor_percentile: float = 10.0
    peak_percentile: float = 95.0
    margin_db: float = 12.0
    range_db: float = 35.0
    min_dynamic_db: float = 15.0
    fill_ms: int = 200
    min_speech_ms: int = 30


def frame_energy_db(x: np.ndarray, hop: int = HOP) -> np.ndarray:
    n = len(x) // hop
    fr = np.asarray(x[: n * hop], dtype=np.float64).reshape(n, hop)
    return np.maximum(10 * np.log10(np.mean(fr * fr, axis=1) + 1e-12), FLOOR_DB)


def dynamic_range_db(x: np.ndarray, spec: LabelSpec = LabelSpec()) -> float:
    e = frame_energy_db(x, spec.hop)
    if e.size == 0:
        return 0.0
    return float(np.percentile(e, spec.peak_percentile) - np.percentile(e, spec.floor_percentile))


def fill_gaps(lab: np.ndarray, max_gap: int) -> np.ndarray:
    """Set runs of 0 no longer than `max_gap` frames that lie between two 1s to 1."""
    lab = lab.copy()
    idx = np.flatnonzero(lab)
    if idx.size < 2:
        return lab
    gaps = np.diff(idx) - 1
    for i in np.flatnonzero((gaps > 0) & (gaps <= max_gap)):
        lab[idx[i] + 1 : idx[i + 1]] = 1
    return lab


def drop_islands(lab: np.ndarray, min_len: int) -> np.ndarray:
    """Clear runs of 1 shorter than `min_len` frames."""
    lab = lab.copy()
    if min_len <= 1:
        return lab
    d = np.diff(np.concatenate(([0], lab.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    for s, e in zip(starts, ends, strict=True):
        if e - s < min_len:
            lab[s:e] = 0
    return lab


def speech_labels(x: np.ndarray, spec: LabelSpec = LabelSpec(), *, name: str = "source") -> np.ndarray:
    """uint8 [len(x) // hop]: 1 where the clean source is active. DataError if its dynamic range is too small."""
    e = frame_energy_db(x, spec.hop)
    if e.size == 0:
        raise DataError(f"{name}: shorter than one 10 ms frame")
    floor = float(np.percentile(e, spec.floor_percentile))
    peak = float(np.percentile(e, spec.peak_percentile))
    if peak - floor < spec.min_dynamic_db:
        raise DataError(f"{name}: dynamic range {peak - floor:.1f} dB < {spec.min_dynamic_db} dB, no usable labels")
    thr = max(floor + spec.margin_db, peak - spec.range_db)
    lab = (e > thr).astype(np.uint8)
    ms = 1000 * spec.hop / 16000
    lab = fill_gaps(lab, int(round(spec.fill_ms / ms)))
    lab = drop_islands(lab, int(round(spec.min_speech_ms / ms)))
    return lab


def segments_to_frames(segments: list[tuple[float, float]], n_frames: int, hop_s: float = 0.01) -> np.ndarray:
    """Labels from (start_s, end_s) segments: a frame is 1 if its centre lies inside a segment."""
    lab = np.zeros(n_frames, dtype=np.uint8)
    centres = (np.arange(n_frames) + 0.5) * hop_s
    for s, e in segments:
        if e > s:
            lab[(centres >= s) & (centres < e)] = 1
    return lab
