"""Frame-level VAD metrics on the 10 ms grid (numpy only).

Conventions
- `scores`: float per frame, higher = more speech-like. `labels`: 0/1 per frame.
- A decision is positive when `score >= threshold`.
- ROC: one point per distinct score value (ties move together), plus (0, 0). AUC is the trapezoid area,
  which equals the Mann-Whitney probability P(s_pos > s_neg) + 0.5 * P(s_pos == s_neg).
- EER: where the miss rate (1 - TPR) equals the false-alarm rate (FPR), linearly interpolated on the ROC.
- Collar: frames within `collar_frames` of a label change are dropped (boundary between frames b-1 and b
  drops frames b-c .. b+c-1); 10 frames = +-100 ms.
- Onset latency: for each 0->1 label transition at frame t0 (speech onset after non-speech) the time from
  t0 to the first positive decision in [t0, end of that speech segment); onsets with none are "missed".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

FRAME_S = 0.010


def _xy(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y, s


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds): points for thresholds = distinct scores, descending, starting at (0, 0)
    with threshold +inf. NaN rates if a class is absent."""
    y, s = _xy(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1] if s.size else np.array([], dtype=int)
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.r_[0.0, tp / n_pos] if n_pos else np.full(last.size + 1, np.nan)
        fpr = np.r_[0.0, fp / n_neg] if n_neg else np.full(last.size + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, s[last]]


def auc(labels, scores) -> float:
    """ROC-AUC with ties counted as one half (NaN if one class is absent)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return math.nan
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def auc_rank(labels, scores) -> float:
    """Mann-Whitney U form of the AUC with average ranks (independent check of `auc`)."""
    y, s = _xy(labels, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    ranks = np.empty(s.size)
    _, start, counts = np.unique(ss, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def eer(labels, scores) -> tuple[float, float]:
    """(equal error rate, threshold near it). Interpolates between ROC points where FNR - FPR changes sign."""
    fpr, tpr, thr = roc_curve(labels, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return math.nan, math.nan
    fnr = 1.0 - tpr
    d = fnr - fpr  # decreases from 1 (at (0,0)) to -1 (at (1,1))
    i = int(np.flatnonzero(d <= 0)[0])
    if d[i] == 0 or i == 0:
        return float(fpr[i]), float(thr[i])
    a = d[i - 1] / (d[i - 1] - d[i])  # fraction of the way from point i-1 to point i
    rate = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    return float(rate), float(thr[i] if a >= 0.5 else thr[i - 1])


@dataclass
class BinaryStats:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        if self.tp + self.fn == 0:  # no speech frames: recall (and so F1) undefined
            return math.nan
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    @property
    def miss_rate(self) -> float:
        return self.fn / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def fa_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else math.nan

    def as_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "miss": self.miss_rate, "fa": self.fa_rate}


def binary_stats(labels, scores, threshold: float) -> BinaryStats:
    y, s = _xy(labels, scores)
    p = s >= threshold
    return BinaryStats(tp=int((p & y).sum()), fp=int((p & ~y).sum()), fn=int((~p & y).sum()),
                       tn=int((~p & ~y).sum()))


def threshold_for_recall(labels, scores, recall: float = 0.95) -> float:
    """The largest threshold whose recall (score >= thr on positive frames) is >= `recall`."""
    y, s = _xy(labels, scores)
    pos = np.sort(s[y])[::-1]
    if not pos.size:
        return math.nan
    k = max(1, math.ceil(recall * pos.size - 1e-9))  # need at least k positives at or above thr
    return float(pos[k - 1])


def best_f1_threshold(labels, scores) -> tuple[float, float]:
    """(best F1, its threshold) over all distinct score values."""
    y, s = _xy(labels, scores)
    fpr, tpr, thr = roc_curve(y, s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    tp, fp = tpr[1:] * n_pos, fpr[1:] * n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * tp / (tp + fp + n_pos)
    if not f1.size or np.isnan(f1).all():
        return math.nan, math.nan
    i = int(np.nanargmax(f1))
    return float(f1[i]), float(thr[i + 1])


def collar_mask(labels, collar_frames: int = 10) -> np.ndarray:
    """True for frames kept: farther than `collar_frames` from any label change (see module doc)."""
    y = np.asarray(labels).astype(np.int8).ravel()
    keep = np.ones(y.size, dtype=bool)
    for b in np.flatnonzero(np.diff(y) != 0) + 1:
        keep[max(0, b - collar_frames) : b + collar_frames] = False
    return keep


def onset_latencies(labels, decisions) -> tuple[np.ndarray, int]:
    """(latencies in frames of detected onsets, number of missed onsets) for one clip."""
    y = np.asarray(labels).astype(bool).ravel()
    d = np.asarray(decisions).astype(bool).ravel()
    if y.shape != d.shape:
        raise ValueError(f"labels ({y.size}) and decisions ({d.size}) differ in length")
    onsets = np.flatnonzero(~y[:-1] & y[1:]) + 1
    lat, missed = [], 0
    for t0 in onsets:
        ends = np.flatnonzero(~y[t0:])
        t1 = t0 + (int(ends[0]) if ends.size else y.size - t0)
        hits = np.flatnonzero(d[t0:t1])
        if hits.size:
            lat.append(int(hits[0]))
        else:
            missed += 1
    return np.asarray(lat, dtype=np.int64), missed


@dataclass
class ClipScores:
    """One clip's labels and a scorer's per-frame scores, with the metadata used for breakdowns."""

    labels: np.ndarray
    scores: np.ndarray
    condition: str = ""
    snr_db: float | None = None
    negative: bool = False


SNR_BINS: tuple[tuple[float, float], ...] = ((-math.inf, 0.0), (0.0, 5.0), (5.0, 10.0), (10.0, 20.0),
                                             (20.0, math.inf))


def snr_bin(snr_db: float | None) -> str:
    if snr_db is None or (isinstance(snr_db, float) and math.isnan(snr_db)):
        return "none"
    for lo, hi in SNR_BINS:
        if lo <= snr_db < hi:
            return f"[{lo:g},{hi:g})"
    return "none"


def _concat(clips: Sequence[ClipScores], mask_fn: Callable[[ClipScores], np.ndarray] | None = None):
    ys, ss = [], []
    for c in clips:
        y, s = np.asarray(c.labels).ravel(), np.asarray(c.scores, dtype=np.float64).ravel()
        if mask_fn is not None:
            m = mask_fn(c)
            y, s = y[m], s[m]
        ys.append(y)
        ss.append(s)
    if not ys:
        return np.zeros(0, dtype=np.uint8), np.zeros(0)
    return np.concatenate(ys), np.concatenate(ss)


def summarize(clips: Sequence[ClipScores], threshold: float, *, collar_frames: int = 10) -> dict:
    """All frame metrics at one operating point for a list of clips (pooled frames)."""
    y, s = _concat(clips)
    st = binary_stats(y, s, threshold)
    e, _ = eer(y, s)
    yc, sc = _concat(clips, lambda c: collar_mask(c.labels, collar_frames))
    stc = binary_stats(yc, sc, threshold)
    yn, sn = _concat([c for c in clips if c.negative])
    lats, missed = [], 0
    for c in clips:
        lat, m = onset_latencies(c.labels, np.asarray(c.scores) >= threshold)
        lats.append(lat)
        missed += m
    lat = np.concatenate(lats) if lats else np.zeros(0)
    n_on = lat.size + missed
    return {
        "frames": int(y.size), "speech_frac": float(y.mean()) if y.size else math.nan,
        "threshold": float(threshold),
        "auc": auc(y, s), "eer": e,
        **st.as_dict(),
        "auc_collar": auc(yc, sc), "eer_collar": eer(yc, sc)[0], "f1_collar": stc.f1,
        "miss_collar": stc.miss_rate, "fa_collar": stc.fa_rate,
        "fa_neg": float((sn >= threshold).mean()) if sn.size else math.nan, "neg_frames": int(sn.size),
        "onsets": n_on, "onsets_missed": missed,
        "latency_ms_median": float(np.median(lat) * FRAME_S * 1000) if lat.size else math.nan,
        "latency_ms_mean": float(np.mean(lat) * FRAME_S * 1000) if lat.size else math.nan,
    }


def _group_order(g: str) -> tuple:
    """Sort SNR bins '[lo,hi)' numerically, then other names alphabetically ('none' last)."""
    if g.startswith("[") and "," in g:
        try:
            return (0, float(g[1:].split(",")[0]), g)
        except ValueError:
            pass
    return (1 if g != "none" else 2, 0.0, g)


def breakdown(clips: Sequence[ClipScores], threshold: float, key: Callable[[ClipScores], str]
              ) -> dict[str, dict]:
    """Per-group metrics (e.g. key=lambda c: c.condition, or lambda c: snr_bin(c.snr_db))."""
    groups: dict[str, list[ClipScores]] = {}
    for c in clips:
        groups.setdefault(key(c), []).append(c)
    out = {}
    for g in sorted(groups, key=_group_order):
        y, s = _concat(groups[g])
        st = binary_stats(y, s, threshold)
        out[g] = {"clips": len(groups[g]), "frames": int(y.size), "auc": auc(y, s), "eer": eer(y, s)[0],
                  "f1": st.f1, "miss": st.miss_rate, "fa": st.fa_rate}
    return out


def evaluate_scorer(test: Sequence[ClipScores], dev: Sequence[ClipScores] | None = None, *,
                    default_threshold: float | None = None, recall: float = 0.95,
                    collar_frames: int = 10) -> dict:
    """Full report: operating point 'dev95' (threshold giving `recall` on dev positives, or on test if no
    dev) and, if given, the scorer's own default threshold. Breakdowns are at the dev95 point."""
    ref = dev if dev else test
    yd, sd = _concat(ref)
    thr95 = threshold_for_recall(yd, sd, recall)
    out = {"threshold_source": "dev" if dev else "test", "dev95": summarize(test, thr95,
                                                                           collar_frames=collar_frames)}
    if default_threshold is not None:
        out["default"] = summarize(test, default_threshold, collar_frames=collar_frames)
    out["by_condition"] = breakdown(test, thr95, lambda c: c.condition or "?")
    out["by_snr"] = breakdown(test, thr95, lambda c: snr_bin(c.snr_db))
    return out


def pooled_roc(clips: Iterable[ClipScores]) -> tuple[np.ndarray, np.ndarray]:
    y, s = _concat(list(clips))
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr
