"""Metrics against hand-computed cases and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.metrics import (
    ClipScores,
    auc,
    auc_rank,
    best_f1_threshold,
    binary_stats,
    breakdown,
    collar_mask,
    eer,
    evaluate_scorer,
    onset_latencies,
    roc_curve,
    snr_bin,
    summarize,
    threshold_for_recall,
)


def test_auc_with_ties_by_hand():
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.4, 0.8, 0.4, 0.4]
    # positives {0.4, 0.8, 0.4} vs negatives {0.1, 0.4, 0.4}: 0.4 -> 1 + .5 + .5, 0.8 -> 3, 0.4 -> 2
    assert auc(y, s) == pytest.approx(7 / 9)
    assert auc_rank(y, s) == pytest.approx(7 / 9)
    assert auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert auc([0, 0, 1], [0.2, 0.1, 0.9]) == 1.0
    assert auc([1, 0], [0.2, 0.9]) == 0.0
    assert math.isnan(auc([1, 1], [0.2, 0.9]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=60))
def test_auc_equals_pair_count(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)
    if y.all() or not y.any():
        assert math.isnan(auc(y, s))
        return
    pos, neg = s[y], s[~y]
    brute = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        pos.size * neg.size)
    assert auc(y, s) == pytest.approx(brute)
    assert auc_rank(y, s) == pytest.approx(brute)
    e, thr = eer(y, s)
    fpr, tpr, _ = roc_curve(y, s)
    assert 0.0 <= e <= 1.0
    # the EER lies between the two ROC points where the miss rate crosses the false-alarm rate
    d = (1 - tpr) - fpr
    i = int(np.flatnonzero(d <= 0)[0])
    lo, hi = sorted([fpr[max(i - 1, 0)], fpr[i]])
    assert lo - 1e-12 <= e <= hi + 1e-12


def test_roc_points_and_eer_by_hand():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_allclose(fpr, [0, 0, 0, 0, .25, .25, .5, .75, 1])
    np.testing.assert_allclose(tpr, [0, .25, .5, .75, .75, 1, 1, 1, 1])
    assert thr[0] == np.inf and thr[4] == 0.6
    assert eer(y, s) == (0.25, 0.6)  # at thr 0.6: miss 1/4 = FA 1/4
    # interpolated: a single tie group goes from (0,0) to (1,1); miss = FA at 0.5
    assert eer([1, 0], [0.5, 0.5])[0] == pytest.approx(0.5)
    # y = 1,1,0,0 with scores 4,2,3,1: ROC (0,0),(0,.5),(.5,.5),(.5,1),(1,1): crossing at FA = miss = 0.5
    assert eer([1, 1, 0, 0], [4, 2, 3, 1])[0] == pytest.approx(0.5)
    # y = 1,0,1,0,0 / scores 5,4,3,2,1: points (0,.5) -> (1/3,.5): miss .5 > FA; (1/3,.5) -> (1/3,1)
    # miss drops below at fixed FA 1/3 -> d crosses inside the vertical step: EER = FA = 1/3
    assert eer([1, 0, 1, 0, 0], [5, 4, 3, 2, 1])[0] == pytest.approx(1 / 3)


def test_binary_stats_by_hand():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    s = [.9, .6, .2, .7, .1, .3, .5, .5]
    b = binary_stats(y, s, 0.5)  # positive: .9 .6 .7 .5 .5 -> tp 3 (.9 .6 .5), fp 2 (.7 .5), fn 1, tn 2
    assert (b.tp, b.fp, b.fn, b.tn) == (3, 2, 1, 2)
    assert b.precision == pytest.approx(3 / 5)
    assert b.recall == pytest.approx(3 / 4)
    assert b.f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert b.miss_rate == pytest.approx(1 / 4) and b.fa_rate == pytest.approx(2 / 4)
    assert math.isnan(binary_stats([0, 0], [1, 0], 0.5).f1)  # no speech frames: F1 undefined
    f1, thr = best_f1_threshold(y, s)
    assert f1 == pytest.approx(max(binary_stats(y, s, t).f1 for t in s))
    assert binary_stats(y, s, thr).f1 == pytest.approx(f1)


def test_threshold_for_recall():
    y = np.r_[np.ones(20, bool), np.zeros(5, bool)]
    s = np.r_[np.arange(1, 21) / 20.0, np.full(5, 0.5)]  # positives .05 .. 1.0
    thr = threshold_for_recall(y, s, 0.95)
    assert thr == pytest.approx(0.10)  # 19 of 20 positives are >= 0.10
    assert binary_stats(y, s, thr).recall >= 0.95
    assert binary_stats(y, s, thr + 1e-9).recall < 0.95
    assert threshold_for_recall(y, s, 1.0) == pytest.approx(0.05)


def test_collar_mask_by_hand():
    y = np.r_[np.zeros(20), np.ones(20), np.zeros(20)]
    keep = collar_mask(y, 3)
    expect = np.ones(60, bool)
    expect[17:23] = False  # boundary at 20: frames 17..22
    expect[37:43] = False  # boundary at 40: frames 37..42
    np.testing.assert_array_equal(keep, expect)
    assert collar_mask(np.ones(30), 10).all()
    assert not collar_mask(np.r_[np.zeros(5), np.ones(5)], 10).any()


def test_onset_latency_by_hand():
    y = [0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1]
    d = [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0]
    lat, missed = onset_latencies(y, d)
    # onset at 2 -> first decision at 3 (1 frame); onset at 7 -> none within 7..8 (missed);
    # onset at 11 -> decision already on at 11 (0 frames)
    assert lat.tolist() == [1, 0] and missed == 1
    lat, missed = onset_latencies([1, 1, 0], [1, 1, 1])  # speech at the clip start is not an onset
    assert lat.size == 0 and missed == 0


def test_summary_negatives_latency_and_breakdowns():
    clips = [
        ClipScores(np.array([0, 0, 1, 1, 1, 0]), np.array([.1, .2, .3, .9, .8, .1]), "white", 5.0),
        ClipScores(np.array([0, 0, 0, 0]), np.array([.9, .1, .1, .1]), "noise-only", None, negative=True),
    ]
    m = summarize(clips, 0.5, collar_frames=0)
    assert m["frames"] == 10
    assert m["fa_neg"] == pytest.approx(0.25) and m["neg_frames"] == 4
    assert m["onsets"] == 1 and m["onsets_missed"] == 0
    assert m["latency_ms_median"] == pytest.approx(10.0)
    assert m["recall"] == pytest.approx(2 / 3) and m["fa"] == pytest.approx(1 / 7)
    assert m["auc_collar"] == pytest.approx(m["auc"])  # collar 0 keeps every frame
    b = breakdown(clips, 0.5, lambda c: c.condition)
    assert set(b) == {"white", "noise-only"} and math.isnan(b["noise-only"]["auc"])
    assert b["white"]["auc"] == pytest.approx(auc(clips[0].labels, clips[0].scores))
    assert snr_bin(5.0) == "[5,10)" and snr_bin(-3) == "[-inf,0)" and snr_bin(None) == "none"
    r = evaluate_scorer(clips, clips, default_threshold=0.5)
    assert r["threshold_source"] == "dev" and r["dev95"]["threshold"] == pytest.approx(0.3)
    assert r["default"]["threshold"] == 0.5 and set(r["by_snr"]) == {"[5,10)", "none"}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        auc([0, 1, 1], [0.1, 0.2])


def test_snr_breakdown_is_in_numeric_order():
    mk = lambda snr: ClipScores(np.array([0, 1]), np.array([0.1, 0.9]), "x", snr)  # noqa: E731
    b = breakdown([mk(12.0), mk(None), mk(-3.0), mk(7.0), mk(2.0)], 0.5, lambda c: snr_bin(c.snr_db))
    assert list(b) == ["[-inf,0)", "[0,5)", "[5,10)", "[10,20)", "none"]
