"""Anti-spoofing metrics (numpy): EER, per-attack EER and the tandem detection cost function (t-DCF).

Conventions (as in ASVspoof)
- Higher score = more bona fide. A countermeasure (CM) accepts an utterance as bona fide when
  `score >= threshold`; Pmiss_cm(t) = share of bona fide scores < t, Pfa_cm(t) = share of spoof scores >= t.
- EER: where Pmiss = Pfa, linearly interpolated between ROC points (ties move together); see
  `train.metrics.eer`. The threshold returned is the score at the nearer ROC point.
- per-attack EER: each spoof attack against ALL bona fide utterances of the same list.
- t-DCF (Kinnunen et al.): the CM gates a fixed ASV system whose threshold is the ASV's own EER threshold
  (target vs nontarget). With the ASV rates at that threshold, Pmiss_asv = share of target scores < t_asv,
  Pfa_asv = share of nontarget scores >= t_asv, Pmiss_spoof_asv = share of spoof scores < t_asv,
  Pfa_spoof_asv = 1 - Pmiss_spoof_asv:
  * "legacy" (the ASVspoof 2019 challenge, Odyssey 2018 paper; default):
      C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv,  C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv)
      t-DCF_norm(t) = (C1 Pmiss_cm(t) + C2 Pfa_cm(t)) / min(C1, C2)
  * "revised" (Kinnunen et al., IEEE/ACM TASLP 2020; ASVspoof 2019 package v2, ASVspoof 2021):
      C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv,  C1 = Ptar Cmiss - C0,  C2 = Pspoof Cfa_spoof Pfa_spoof_asv
      t-DCF_norm(t) = (C0 + C1 Pmiss_cm(t) + C2 Pfa_cm(t)) / (C0 + min(C1, C2))
  min t-DCF = minimum over all CM thresholds (every distinct score, and +inf = reject everything).
  Default costs: Pspoof = 0.05, Ptar = 0.95 * 0.99, Pnon = 0.95 * 0.01, Cmiss = 1, Cfa = 10, Cfa_spoof = 10
  (legacy: Cmiss_asv = Cmiss_cm = 1, Cfa_asv = Cfa_cm = 10).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from train import metrics as _m

BONAFIDE = "bonafide"


def _arrays(scores, is_bonafide) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(is_bonafide).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and is_bonafide ({y.size}) differ in length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (no NaN or inf)")
    return s, y


def eer(scores, is_bonafide) -> tuple[float, float]:
    """(EER as a fraction, threshold). NaN, NaN if one class is missing."""
    s, y = _arrays(scores, is_bonafide)
    return _m.eer(y, s)


def _label_attack(u) -> tuple[str, str]:
    if isinstance(u, Mapping):
        return str(u["label"]), str(u["attack"])
    return str(u.label), str(u.attack)


def per_attack_eer(scores, utts: Sequence) -> dict[str, float]:
    """{attack: EER of that attack's spoofs vs all bona fide}, attacks sorted. `utts`: SpoofUtt-like objects
    (or dicts) with `label` ("bonafide"|"spoof") and `attack`, aligned with `scores`."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(utts) != s.size:
        raise ValueError(f"scores ({s.size}) and utts ({len(utts)}) differ in length")
    la = [_label_attack(u) for u in utts]
    bona = np.array([lab == BONAFIDE for lab, _ in la], dtype=bool)
    attacks = np.array([a for _, a in la], dtype=object)
    out = {}
    for a in sorted({a for lab, a in la if lab != BONAFIDE}):
        keep = bona | (attacks == a) & ~bona
        out[a] = eer(s[keep], bona[keep])[0]
    return out


def grouped_eer(scores, is_bonafide, groups: Iterable[str], *, spoof_only: bool = True) -> dict[str, float]:
    """EER of each group's spoofs against all bona fide (spoof_only) or within each group."""
    s, y = _arrays(scores, is_bonafide)
    g = np.asarray(list(groups), dtype=object)
    out = {}
    for k in sorted(set(g[~y] if spoof_only else g)):
        keep = (y | (g == k)) if spoof_only else (g == k)
        out[str(k)] = eer(s[keep], y[keep])[0]
    return out


# ---------------------------------------------------------------- t-DCF


@dataclass(frozen=True)
class CostModel:
    p_spoof: float = 0.05
    p_tar: float = 0.95 * 0.99
    p_non: float = 0.95 * 0.01
    c_miss: float = 1.0  # legacy: Cmiss_asv = Cmiss_cm = c_miss
    c_fa: float = 10.0  # legacy: Cfa_asv
    c_fa_spoof: float = 10.0  # legacy: Cfa_cm

    def __post_init__(self) -> None:
        if min(self.p_spoof, self.p_tar, self.p_non) < 0 or abs(self.p_spoof + self.p_tar + self.p_non - 1) > 1e-9:
            raise ValueError("t-DCF priors must be >= 0 and sum to 1")
        if min(self.c_miss, self.c_fa, self.c_fa_spoof) < 0:
            raise ValueError("t-DCF costs must be >= 0")


@dataclass(frozen=True)
class AsvRates:
    threshold: float
    p_miss: float  # targets rejected
    p_fa: float  # nontargets accepted
    p_miss_spoof: float  # spoofs rejected by the ASV

    @property
    def p_fa_spoof(self) -> float:
        return 1.0 - self.p_miss_spoof


def asv_eer_threshold(tar, non) -> float:
    """The ASV operating point: the distinct score t minimising |Pmiss(t) - Pfa(t)| (the lowest such t),
    with Pmiss(t) = share of targets < t and Pfa(t) = share of nontargets >= t."""
    tar = np.sort(np.asarray(tar, dtype=np.float64).ravel())
    non = np.sort(np.asarray(non, dtype=np.float64).ravel())
    if not tar.size or not non.size:
        raise ValueError("ASV EER threshold needs target and nontarget scores")
    cand = np.unique(np.concatenate([tar, non]))
    p_miss = np.searchsorted(tar, cand, side="left") / tar.size
    p_fa = 1.0 - np.searchsorted(non, cand, side="left") / non.size
    return float(cand[int(np.argmin(np.abs(p_miss - p_fa)))])


def asv_rates(tar, non, spoof=(), threshold: float | None = None) -> AsvRates:
    """ASV error rates at `threshold` (default: its EER threshold, `asv_eer_threshold`)."""
    tar = np.asarray(tar, dtype=np.float64).ravel()
    non = np.asarray(non, dtype=np.float64).ravel()
    spoof = np.asarray(spoof, dtype=np.float64).ravel()
    t = asv_eer_threshold(tar, non) if threshold is None else float(threshold)
    return AsvRates(threshold=t, p_miss=float(np.mean(tar < t)) if tar.size else 0.0,
                    p_fa=float(np.mean(non >= t)) if non.size else 0.0,
                    p_miss_spoof=float(np.mean(spoof < t)) if spoof.size else 0.0)


def cm_det(scores, is_bonafide) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds ascending, Pmiss_cm, Pfa_cm): every distinct score, then +inf (everything rejected)."""
    s, y = _arrays(scores, is_bonafide)
    bona, spoof = np.sort(s[y]), np.sort(s[~y])
    if not bona.size or not spoof.size:
        raise ValueError("t-DCF needs bona fide and spoof CM scores")
    thr = np.r_[np.unique(s), np.inf]
    p_miss = np.searchsorted(bona, thr, side="left") / bona.size
    p_fa = 1.0 - np.searchsorted(spoof, thr, side="left") / spoof.size
    return thr, p_miss, p_fa


def tdcf_curve(scores, is_bonafide, asv: AsvRates, cost: CostModel = CostModel(),
               formulation: str = "legacy") -> tuple[np.ndarray, np.ndarray]:
    """(CM thresholds, normalised t-DCF at each). See the module doc for both formulations."""
    thr, p_miss, p_fa = cm_det(scores, is_bonafide)
    if formulation == "legacy":
        c1 = cost.p_tar * (cost.c_miss - cost.c_miss * asv.p_miss) - cost.p_non * cost.c_fa * asv.p_fa
        c2 = cost.c_fa_spoof * cost.p_spoof * (1.0 - asv.p_miss_spoof)
        if c1 < 0 or c2 < 0:
            raise ValueError(f"t-DCF weights are negative (C1={c1:.4g}, C2={c2:.4g}): check the ASV error rates")
        if min(c1, c2) == 0:
            raise ValueError("t-DCF is undefined: min(C1, C2) = 0 (e.g. the ASV rejects every spoof)")
        return thr, (c1 * p_miss + c2 * p_fa) / min(c1, c2)
    if formulation == "revised":
        c0 = cost.p_tar * cost.c_miss * asv.p_miss + cost.p_non * cost.c_fa * asv.p_fa
        c1 = cost.p_tar * cost.c_miss - c0
        c2 = cost.p_spoof * cost.c_fa_spoof * asv.p_fa_spoof
        if c1 < 0 or c2 < 0:
            raise ValueError(f"t-DCF weights are negative (C1={c1:.4g}, C2={c2:.4g}): check the ASV error rates")
        default = c0 + min(c1, c2)
        if default == 0:
            raise ValueError("t-DCF is undefined: the default cost C0 + min(C1, C2) is 0")
        return thr, (c0 + c1 * p_miss + c2 * p_fa) / default
    raise ValueError(f"t-DCF formulation must be 'legacy' or 'revised', got {formulation!r}")


def min_tdcf(scores, is_bonafide, asv: AsvRates | Mapping[str, np.ndarray] | tuple,
             cost: CostModel = CostModel(), formulation: str = "legacy") -> tuple[float, float]:
    """(min normalised t-DCF, CM threshold achieving it).

    `asv`: AsvRates, or the ASV scores as {"target": .., "nontarget": .., "spoof": ..} (e.g. from
    `train.data.asvspoof.load_asv_scores_2019`) or a (target, nontarget, spoof) tuple; the ASV then works at
    its EER threshold.
    """
    if not isinstance(asv, AsvRates):
        tar, non, spf = (asv["target"], asv["nontarget"], asv["spoof"]) if isinstance(asv, Mapping) else asv
        asv = asv_rates(tar, non, spf)
    thr, curve = tdcf_curve(scores, is_bonafide, asv, cost, formulation)
    i = int(np.argmin(curve))
    return float(curve[i]), float(thr[i])


def summarize(scores, utts: Sequence) -> dict:
    """Pooled EER, EER on seen / unseen attacks (spoofs of that kind vs all bona fide) and per-attack EER.

    `utts` need `label`, `attack` and `attack_seen`."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    bona = np.array([_label_attack(u)[0] == BONAFIDE for u in utts], dtype=bool)
    seen = np.array([bool(u["attack_seen"] if isinstance(u, Mapping) else u.attack_seen) for u in utts])
    out: dict = {"n_bonafide": int(bona.sum()), "n_spoof": int((~bona).sum()),
                 "pooled": eer(s, bona)[0]}
    for name, mask in (("seen", seen), ("unseen", ~seen)):
        keep = bona | (mask & ~bona)
        out[name] = eer(s[keep], bona[keep])[0] if (keep & ~bona).any() else math.nan
    out["per_attack"] = per_attack_eer(s, utts)
    return out
