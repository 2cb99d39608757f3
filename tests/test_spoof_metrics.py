"""train.spoof_metrics: EER, per-attack EER and t-DCF against hand-computed cases, plus invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.spoof_metrics import (
    AsvRates,
    CostModel,
    asv_eer_threshold,
    asv_rates,
    cm_det,
    eer,
    min_tdcf,
    per_attack_eer,
    summarize,
    tdcf_curve,
)

# ---------------------------------------------------------------- EER by hand


def test_eer_perfect_and_inverted():
    # bona fide all above spoof: threshold 3 accepts {4, 3} and rejects {2, 1}: no error
    assert eer([4, 3, 2, 1], [1, 1, 0, 0]) == (0.0, 3.0)
    # inverted: every threshold errs on one class completely at the crossing -> EER 1
    assert eer([1, 2, 3, 4], [1, 1, 0, 0])[0] == 1.0


def test_eer_exact_crossing():
    # bona fide {0.9, 0.8, 0.3}, spoof {0.7, 0.2, 0.1}.
    # t = 0.7 accepts 0.9, 0.8, 0.7: Pmiss = 1/3 (0.3 rejected), Pfa = 1/3 (0.7 accepted) -> EER 1/3 at 0.7
    e, t = eer([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    assert e == pytest.approx(1 / 3) and t == 0.7


def test_eer_interpolated():
    # bona fide {5, 4, 1}, spoof {3, 2}. ROC points (Pmiss, Pfa): t=4 -> (1/3, 0), t=3 -> (1/3, 1/2).
    # Between them Pmiss stays 1/3 while Pfa goes 0 -> 1/2, so Pmiss = Pfa at 1/3 (2/3 of the way: nearer t=3)
    e, t = eer([5, 4, 1, 3, 2], [1, 1, 1, 0, 0])
    assert e == pytest.approx(1 / 3) and t == 3.0


def test_eer_missing_class_is_nan_and_bad_input_raises():
    assert all(math.isnan(v) for v in eer([1.0, 2.0], [1, 1]))
    with pytest.raises(ValueError):
        eer([1.0, 2.0], [1])
    with pytest.raises(ValueError):
        eer([1.0, float("nan")], [1, 0])


def test_per_attack_eer_by_hand():
    # bona fide {3, 2}; attack a: {1, 2.5}; attack b: {0}.
    # a vs bona fide: t=2.5 -> Pmiss 1/2 (2 rejected), Pfa 1/2 (2.5 accepted) -> 0.5; b: separable -> 0
    utts = [{"label": "bonafide", "attack": "bonafide"}] * 2 + [
        {"label": "spoof", "attack": "a"}, {"label": "spoof", "attack": "b"}, {"label": "spoof", "attack": "a"}]
    assert per_attack_eer([3, 2, 1, 0, 2.5], utts) == {"a": 0.5, "b": 0.0}
    with pytest.raises(ValueError):
        per_attack_eer([1, 2], utts)


def test_summarize_seen_unseen():
    utts = [{"label": "bonafide", "attack": "bonafide", "attack_seen": True}] * 2 + [
        {"label": "spoof", "attack": "a", "attack_seen": True}, {"label": "spoof", "attack": "u", "attack_seen": False}]
    r = summarize([3, 2, 0, 2.5], utts)  # a at 0 is separable, u at 2.5 sits between the bona fide scores
    assert r["seen"] == 0.0 and r["unseen"] == 0.5 and r["per_attack"] == {"a": 0.0, "u": 0.5}
    assert r["n_bonafide"] == 2 and r["n_spoof"] == 2


# ---------------------------------------------------------------- t-DCF by hand

TAR, NON, SPOOF_ASV = [1, 2, 3, 4], [-1, 0, 1.5, 5], [0, 2.5, 3, 1]
CM_SCORES, CM_BONA = [3, 2, 1, 2.5, 0], [1, 1, 1, 0, 0]


def test_asv_operating_point_by_hand():
    # |Pmiss - Pfa| over t in {-1, 0, 1, 1.5, 2, ...}: (0,1) (0,.75) (0,.5) (.25,.5) (.25,.25) -> t = 2
    assert asv_eer_threshold(TAR, NON) == 2.0
    r = asv_rates(TAR, NON, SPOOF_ASV)
    # at t = 2: targets < 2: {1} -> 1/4; nontargets >= 2: {5} -> 1/4; spoofs < 2: {0, 1} -> 1/2
    assert (r.threshold, r.p_miss, r.p_fa, r.p_miss_spoof, r.p_fa_spoof) == (2.0, 0.25, 0.25, 0.5, 0.5)


def test_cm_det_by_hand():
    thr, pm, pf = cm_det(CM_SCORES, CM_BONA)
    # bona fide {3, 2, 1}, spoof {2.5, 0}; Pmiss = share bona < t, Pfa = share spoof >= t
    assert thr.tolist() == [0, 1, 2, 2.5, 3, math.inf]
    assert pm.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 2 / 3, 1])
    assert pf.tolist() == pytest.approx([1, 0.5, 0.5, 0.5, 0, 0])


def test_min_tdcf_legacy_by_hand():
    # Ptar = .95*.99 = .9405, Pnon = .0095, Pspoof = .05; ASV: Pmiss = Pfa = 1/4, Pmiss_spoof = 1/2
    # C1 = .9405 * (1 - 1 * .25) - .0095 * 10 * .25 = .705375 - .02375 = .681625
    # C2 = 10 * .05 * (1 - .5) = .25 ; normalised by min(C1, C2) = .25
    # (Pmiss_cm, Pfa_cm) from test_cm_det_by_hand:
    # t=0: (0 + .25*1)/.25 = 1 ; t=1: .25*.5/.25 = .5 ; t=2: (.681625/3 + .125)/.25 = 1.40883
    # t=2.5: (.681625*2/3 + .125)/.25 = 2.31767 ; t=3: .681625*2/3/.25 = 1.81767 ; t=inf: .681625/.25 = 2.7265
    # -> min t-DCF = 0.5 at t = 1
    thr, curve = tdcf_curve(CM_SCORES, CM_BONA, asv_rates(TAR, NON, SPOOF_ASV))
    assert curve.tolist() == pytest.approx([1, 0.5, 1.4088333, 2.3176667, 1.8176667, 2.7265])
    assert min_tdcf(CM_SCORES, CM_BONA, (TAR, NON, SPOOF_ASV)) == (pytest.approx(0.5), 1.0)
    asv = {"target": np.array(TAR), "nontarget": np.array(NON), "spoof": np.array(SPOOF_ASV)}
    assert min_tdcf(CM_SCORES, CM_BONA, asv)[0] == pytest.approx(0.5)


def test_min_tdcf_revised_by_hand():
    # C0 = .9405 * 1 * .25 + .0095 * 10 * .25 = .258875 ; C1 = .9405 - C0 = .681625 ; C2 = .05 * 10 * .5 = .25
    # default = C0 + min(C1, C2) = .508875 ; t=1: (C0 + .25 * .5) / .508875 = .383875 / .508875
    v, t = min_tdcf(CM_SCORES, CM_BONA, (TAR, NON, SPOOF_ASV), formulation="revised")
    assert v == pytest.approx(0.383875 / 0.508875) and t == 1.0
    with pytest.raises(ValueError):
        min_tdcf(CM_SCORES, CM_BONA, (TAR, NON, SPOOF_ASV), formulation="2021")


def test_tdcf_errors():
    with pytest.raises(ValueError):
        CostModel(p_spoof=0.5)  # priors do not sum to 1
    with pytest.raises(ValueError):  # ASV rejects every spoof: C2 = 0, normalisation undefined
        tdcf_curve(CM_SCORES, CM_BONA, AsvRates(0.0, 0.1, 0.1, 1.0))
    with pytest.raises(ValueError):
        cm_det([1, 2], [1, 1])


# ---------------------------------------------------------------- invariants

scores_labels = st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(-50, 50), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda y: any(y) and not all(y))))


@settings(max_examples=150, deadline=None)
@given(scores_labels)
def test_eer_invariants(sl):
    s, y = np.array(sl[0], dtype=np.float64), np.array(sl[1])
    e, _ = eer(s, y)
    assert 0.0 <= e <= 1.0
    # strictly increasing transforms keep the EER (integers: exact)
    assert eer(3 * s + 7, y)[0] == pytest.approx(e)
    assert eer(s**3, y)[0] == pytest.approx(e)
    # swapping the classes and negating the scores is the same detector
    assert eer(-s, ~y)[0] == pytest.approx(e)
    # pooled EER of one attack equals its per-attack EER
    utts = [{"label": "bonafide" if b else "spoof", "attack": "bonafide" if b else "x"} for b in y]
    assert per_attack_eer(s, utts)["x"] == pytest.approx(e)


@settings(max_examples=100, deadline=None)
@given(scores_labels, st.sampled_from(["legacy", "revised"]))
def test_min_tdcf_invariants(sl, formulation):
    s, y = np.array(sl[0], dtype=np.float64), np.array(sl[1])
    asv = AsvRates(threshold=0.0, p_miss=0.05, p_fa=0.05, p_miss_spoof=0.3)
    v, t = min_tdcf(s, y, asv, formulation=formulation)
    # the accept-all and reject-all operating points cost C2 and C1: one of them normalises to exactly 1
    assert 0.0 <= v <= 1.0 + 1e-12
    assert min_tdcf(2 * s - 3, y, asv, formulation=formulation)[0] == pytest.approx(v)
    if s[y].min() > s[~y].max() and formulation == "legacy":
        assert v == 0.0  # separable: a threshold with no CM error costs nothing (legacy has no C0 term)
