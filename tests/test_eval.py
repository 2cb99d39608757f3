"""`noisebudget eval` on a tiny corpus built here, the scorer plug-in, the feature cache and error exits."""

from __future__ import annotations

import json

import numpy as np
import pytest

import train.featcache as featcache
from noisebudget.cli import main
from tests.vad_tiny_corpus import make_clip, make_tiny_corpus
from train.evaluate import FeatureModelScorer, evaluate_scorers, format_table, score_split
from train.frontend import FrontEndSpec, features_numpy
from train.peers.base import Cost


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny", seed=1)


def test_eval_cli_writes_table_json_and_png(corpus, tmp_path, capsys):
    out = tmp_path / "ev"
    rc = main(["eval", "--corpus", str(corpus), "--peers", "energy,webrtc3,silero,pulsevad",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    for name in ("energy", "webrtc3", "silero", "pulsevad", "AUC", "FA_neg", "MACs/10ms", "212,360"):
        assert name in printed
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.txt").read_text()
    assert table.splitlines()[0].split()[:3] == ["peer", "AUC", "EER"]
    assert "| energy |" in (out / "table.md").read_text()
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["clips"] == 4 and res["meta"]["split"] == "test"
    e = res["results"]["energy"]
    assert e["threshold_source"] == "dev"
    assert 0.5 < e["dev95"]["auc"] <= 1.0 and e["dev95"]["neg_frames"] > 0
    assert set(e["by_condition"]) == {"white", "clean", "noise-only"}
    assert e["cost"]["macs_per_10ms"] == 160
    assert res["results"]["webrtc3"]["cost"]["params"] is None
    assert "n/a" in table  # webrtc cost


def test_feature_model_scorer_plugs_in(corpus):
    """A 'model' on our features: mean log-mel energy. Causal per frame, so it is a valid scorer."""
    spec = FrontEndSpec()
    s = FeatureModelScorer("meanmel", lambda f: f.mean(axis=1), spec, n_bands=20,
                           model_cost=Cost(params=0, macs_per_10ms=20.0), default_threshold=None)
    test = score_split([s], corpus, "test", progress=False)
    dev = score_split([s], corpus, "dev", progress=False)
    res = evaluate_scorers([s], test, dev)
    assert res["meanmel"]["dev95"]["auc"] > 0.8
    assert res["meanmel"]["cost"]["macs_per_10ms"] > 20.0  # front end added
    assert "meanmel" in format_table(res)


def test_feature_cache_hits_and_keys(corpus, tmp_path, monkeypatch):
    spec = FrontEndSpec()
    cache = tmp_path / "fc"
    first = featcache.load_features(corpus, spec, "test", cache_dir=cache, progress=False)
    assert len(first) == 4 and len(list(cache.glob("*/test.npz"))) == 1
    feats, labels, clip = first[0]
    audio, lab = featcache.read_clip_checked(corpus, clip)
    np.testing.assert_array_equal(feats, features_numpy(audio, spec))
    np.testing.assert_array_equal(labels, lab)

    def boom(*a, **k):
        raise AssertionError("recomputed despite a cache hit")

    monkeypatch.setattr(featcache, "features_numpy", boom)
    again = featcache.load_features(corpus, spec, "test", cache_dir=cache, progress=False)
    for (f1, l1, c1), (f2, l2, c2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(l1, l2)
        assert c1.id == c2.id
    monkeypatch.undo()
    featcache.load_features(corpus, FrontEndSpec(n_mels=32), "test", cache_dir=cache, progress=False)
    assert len(list(cache.glob("*/test.npz"))) == 2  # a new spec is a new key


def _err(capsys, argv):
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_bad_inputs_exit_2_naming_the_problem(corpus, tmp_path, capsys):
    rc, err = _err(capsys, ["eval", "--corpus", str(tmp_path / "nope"), "--peers", "energy"])
    assert rc == 2 and "nope" in err and "does not exist" in err
    rc, err = _err(capsys, ["eval", "--corpus", str(tmp_path), "--peers", "energy"])
    assert rc == 2 and "manifest.jsonl" in err
    rc, err = _err(capsys, ["eval", "--corpus", str(corpus), "--peers", "energy,vad9000"])
    assert rc == 2 and "unknown peer 'vad9000'" in err
    rc, err = _err(capsys, ["eval", "--corpus", str(corpus), "--peers", "energy", "--split", "train",
                            "--dev-split", "none", "--out", str(tmp_path / "o"), "--no-progress"])
    assert rc == 0  # a split with one clip is fine
    rc, err = _err(capsys, ["eval", "--corpus", str(corpus), "--peers", "energy", "--model",
                            str(tmp_path / "no_run")])
    assert rc == 2 and "no_run" in err
    bad = make_tiny_corpus(tmp_path / "bad", seed=2, plan=(("test", 5.0, False), ("dev", 5.0, False)))
    np.save(bad / "labels" / "test-000.npy", np.zeros(3, np.uint8))
    rc, err = _err(capsys, ["eval", "--corpus", str(bad), "--peers", "energy", "--no-progress"])
    assert rc == 2 and "test-000.npy" in err
    rc, err = _err(capsys, ["eval", "--corpus", str(bad), "--peers", "energy", "--split", "train"])
    assert rc == 2 and "'train' has no clips" in err


def test_model_run_folder_scores_like_its_streaming_step(corpus, tmp_path, capsys):
    """`--model RUN_DIR`: a (tiny, untrained) run folder of the training stage is scored causally; the
    whole-clip scores equal the model's own hop-by-hop `stream`."""
    import torch

    from train.evaluate import load_model_scorer
    from train.run_dir import save_run
    from train.vad_model import VADArch, VADNet, step_cost

    torch.manual_seed(0)
    spec = FrontEndSpec()
    net = VADNet(VADArch(n_mels=40, channels=[4, 4], dilations=[2])).eval()
    model = net.consolidate(extra={"frontend": spec.to_dict()})
    run = save_run(tmp_path / "run1", model, cost=step_cost(model), metrics={}, history=[], config_text="")
    scorer = load_model_scorer(run)
    assert scorer.name == "run1" and scorer.cost.params == step_cost(model)["params"]
    assert scorer.cost.macs_per_10ms > step_cost(model)["macs_per_hop"]  # + front end
    audio = make_clip(np.random.default_rng(3), 1.0, 10.0, False)[0]
    got = scorer.score_clip(audio)
    feats = torch.from_numpy(features_numpy(audio, spec))
    want = model.stream(model.select_bands(feats)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    rc = main(["eval", "--corpus", str(corpus), "--peers", "energy", "--model", str(run), "--out",
               str(tmp_path / "o"), "--no-progress"])
    assert rc == 0 and "run1" in capsys.readouterr().out
