"""Spoof data: ASVspoof 2019/2021 loaders on generated files, our corpus manifest, a tiny corpus build,
the planner's class parity, and the attacks themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from noisebudget.cli import main
from train.data import spoof_attacks as A
from train.data.asvspoof import load_asv_scores_2019, parse_asv_scores
from train.data.spoof import FIELD_NAMES, detect_layout, load_spoof, read_utt, summary
from train.data.spoof_build import NARROW_MAX_HZ, SpoofConfig, equalise, plan_skeleton
from train.errors import DataError
from train.spoof_metrics import min_tdcf

# ---------------------------------------------------------------- ASVspoof 2019 LA layout

PROTO_2019 = {
    "train": [("LA_0079", "LA_T_0000001", "-", "bonafide"), ("LA_0079", "LA_T_0000002", "A01", "spoof"),
              ("LA_0080", "LA_T_0000003", "A02", "spoof")],
    "dev": [("LA_0069", "LA_D_0000001", "-", "bonafide"), ("LA_0069", "LA_D_0000002", "A01", "spoof")],
    "eval": [("LA_0039", "LA_E_0000001", "-", "bonafide"), ("LA_0039", "LA_E_0000002", "A07", "spoof"),
             ("LA_0040", "LA_E_0000003", "A16", "spoof"), ("LA_0040", "LA_E_0000004", "A02", "spoof")],
}
SUFFIX = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}


def _flac(path: Path, seconds: float = 0.25, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name) + sum(map(ord, path.name)))
    sf.write(str(path), (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32), sr, format="FLAC",
             subtype="PCM_16")


def _asvspoof2019(root: Path) -> Path:
    la = root / "LA"
    for part, rows in PROTO_2019.items():
        for _, fid, _, _ in rows:
            _flac(la / f"ASVspoof2019_LA_{part}" / "flac" / f"{fid}.flac")
        text = "".join(f"{s} {f} - {sys} {k}\n" for s, f, sys, k in rows)
        p = la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{SUFFIX[part]}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    asv = la / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    asv.parent.mkdir(parents=True)
    asv.write_text("LA_0039 target 3.5\nLA_0039 target 2.0\nLA_0039 nontarget -1.0\nLA_0040 nontarget 2.5\n"
                   "LA_0040 spoof 1.0\nLA_0040 spoof 3.0\n")
    return root


def test_asvspoof2019_layout_splits_attacks_and_audio(tmp_path):
    root = _asvspoof2019(tmp_path)
    assert detect_layout(root) == "asvspoof2019la" and detect_layout(root / "LA") == "asvspoof2019la"
    utts = load_spoof(root)
    assert [u.id for u in load_spoof(root / "LA")] == [u.id for u in utts]
    by = {u.id: u for u in utts}
    assert len(utts) == 9
    assert {u.split for u in utts if u.id.startswith("LA_E")} == {"test"}
    assert {u.split for u in utts if u.id.startswith("LA_D")} == {"dev"}
    b = by["LA_T_0000001"]
    assert (b.label, b.attack, b.attack_seen, b.speaker, b.split) == ("bonafide", "bonafide", True, "LA_0079", "train")
    # attack_seen: the system id is in train (A01, A02), or re-uses a training algorithm (A16 = A04 -> not here)
    assert by["LA_E_0000002"].attack == "A07" and not by["LA_E_0000002"].attack_seen
    assert by["LA_E_0000004"].attack_seen and not by["LA_E_0000003"].attack_seen
    assert by["LA_D_0000002"].attack_seen
    assert all(u.audio.is_absolute() and u.audio.is_file() for u in utts)
    assert by["LA_T_0000002"].duration_s == pytest.approx(0.25)
    x = read_utt(by["LA_T_0000002"])
    assert x.dtype == np.float32 and len(x) == 4000 and np.abs(x).max() <= 1.0
    s = summary(utts)
    assert s["test"]["unseen_attacks"] == ["A07", "A16"] and s["train"]["attacks"] == {"A01": 1, "A02": 1,
                                                                                         "bonafide": 1}


def test_asvspoof2019_a16_counts_as_seen_when_a04_is_trained(tmp_path):
    root = _asvspoof2019(tmp_path)
    p = root / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt"
    p.write_text(p.read_text().replace(" A02 spoof", " A04 spoof"))
    by = {u.id: u for u in load_spoof(root)}
    assert by["LA_E_0000003"].attack_seen  # A16 is A04's algorithm (ASVspoof 2019 evaluation plan)


def test_asvspoof2019_asv_scores_and_tdcf(tmp_path):
    root = _asvspoof2019(tmp_path)
    asv = load_asv_scores_2019(root, "eval")
    assert asv["target"].tolist() == [3.5, 2.0] and asv["nontarget"].tolist() == [-1.0, 2.5]
    assert asv["spoof"].tolist() == [1.0, 3.0]
    assert load_asv_scores_2019(root, "dev") is None
    v, _ = min_tdcf([3.0, 2.0, 0.5, 1.0], [1, 1, 0, 0], asv)
    assert 0.0 <= v <= 1.0
    # the t-DCF package's 6-column variant: key and score are the last two fields
    six = tmp_path / "six.txt"
    six.write_text("LA_0039 LA_E_1 bonafide - target 1.5\nLA_0039 LA_E_2 A07 spoof nontarget 0.5\n")
    assert parse_asv_scores(six)["target"].tolist() == [1.5]


@pytest.mark.parametrize("line,needle", [
    ("LA_0079 LA_T_0000001 - bonafide\n", "expected 5 fields"),
    ("LA_0079 LA_T_0000001 - - genuine\n", "key must be"),
    ("LA_0079 LA_T_0000001 - - spoof\n", "without a system id"),
])
def test_asvspoof2019_malformed_protocol_line_is_named(tmp_path, line, needle):
    root = _asvspoof2019(tmp_path)
    p = root / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt"
    p.write_text(p.read_text() + line)
    with pytest.raises(DataError, match=needle) as e:
        load_spoof(root)
    assert f"{p}:3" in str(e.value)


def test_asvspoof2019_missing_audio_and_folders(tmp_path):
    root = _asvspoof2019(tmp_path)
    gone = root / "LA" / "ASVspoof2019_LA_eval" / "flac" / "LA_E_0000003.flac"
    gone.unlink()
    with pytest.raises(DataError, match="ASVspoof2019.LA.cm.eval.trl.txt:3") as e:
        load_spoof(root)
    assert str(gone) in str(e.value)
    bad = root / "LA" / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    bad.write_text("LA_0039 target 1.0\nLA_0039 nontarget x\n")
    with pytest.raises(DataError, match=r"scores.txt:2: score 'x'"):
        load_asv_scores_2019(root, "eval")
    with pytest.raises(DataError, match="neither a spoof corpus"):
        load_spoof(tmp_path / "LA" / "ASVspoof2019_LA_train")
    with pytest.raises(DataError, match="not a folder"):
        load_spoof(tmp_path / "nowhere")


# ---------------------------------------------------------------- ASVspoof 2021 LA / DF eval keys


def test_asvspoof2021_la_and_df_keys(tmp_path):
    la_rows = ["LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
               "LA_0009 LA_E_0000002 none - - bonafide notrim progress",
               "LA_0010 LA_E_0000003 ulaw loc_tx A16 spoof notrim eval"]
    df_rows = ["LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval traditional_vocoder - - - -",
               "LA_0043 DF_E_2000027 nocodec vcc2020 - bonafide notrim eval - - - - -"]
    for track, rows in (("LA", la_rows), ("DF", df_rows)):
        keys = tmp_path / f"{track}-keys-full" / "keys" / track / "CM" / "trial_metadata.txt"
        keys.parent.mkdir(parents=True)
        keys.write_text("\n".join(rows) + "\n")
        part = "_part00" if track == "DF" else ""
        for r in rows:
            _flac(tmp_path / f"ASVspoof2021_{track}_eval{part}" / "flac" / f"{r.split()[1]}.flac")
    assert detect_layout(tmp_path) == "asvspoof2021la"
    la = {u.id: u for u in load_spoof(tmp_path)}
    assert {u.split for u in la.values()} == {"test"}
    u = la["LA_E_9332881"]
    assert (u.attack, u.attack_seen, u.source, u.speaker) == ("A07", False, "alaw/ita_tx", "LA_0009")
    assert la["LA_E_0000003"].attack_seen  # A16 re-uses the A04 training algorithm
    assert la["LA_E_0000002"].label == "bonafide" and la["LA_E_0000002"].attack == "bonafide"
    df = {u.id: u for u in load_spoof(tmp_path, layout="asvspoof2021df")}
    assert df["DF_E_2000026"].source == "mp3m4a/asvspoof" and df["DF_E_2000027"].label == "bonafide"
    # malformed line and missing audio are named
    keys = tmp_path / "LA-keys-full" / "keys" / "LA" / "CM" / "trial_metadata.txt"
    keys.write_text(la_rows[0] + "\nLA_0009 LA_E_1 alaw ita_tx A07 maybe notrim eval\n")
    with pytest.raises(DataError, match=r"trial_metadata.txt:2: key \(6th field\)"):
        load_spoof(tmp_path)
    keys.write_text(la_rows[0] + "\nLA_0009 LA_E_404 alaw ita_tx A07 spoof notrim eval\n")
    with pytest.raises(DataError, match=r"trial_metadata.txt:2: audio file LA_E_404.flac is missing"):
        load_spoof(tmp_path)


# ---------------------------------------------------------------- our manifest


def _write_manifest(root: Path, rows: list[dict]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


GOOD = {"id": "u0", "split": "train", "audio": "audio/u0.wav", "label": "spoof", "attack": "espeak",
        "attack_seen": True, "speaker": "espeak:de", "duration_s": 1.0}


@pytest.mark.parametrize("row,needle", [
    ({**GOOD, "label": "fake"}, "label 'fake'"),
    ({**GOOD, "split": "eval"}, "split 'eval'"),
    ({**GOOD, "attack": "bonafide"}, "disagree"),
    ({k: v for k, v in GOOD.items() if k != "speaker"}, "lacks speaker"),
    ({"id": "c0", "split": "train", "audio": "a.wav", "labels": "l.npy"}, "VAD corpus"),
    ({**GOOD, "duration_s": "long"}, "bad field value"),
])
def test_manifest_errors_name_the_line(tmp_path, row, needle):
    _write_manifest(tmp_path / "c", [GOOD | {"id": "first"}, row])
    with pytest.raises(DataError, match=needle) as e:
        load_spoof(tmp_path / "c")
    assert "manifest.jsonl:2" in str(e.value)


def test_manifest_duplicate_ids(tmp_path):
    _write_manifest(tmp_path / "c", [GOOD, GOOD])
    with pytest.raises(DataError, match="more than once"):
        load_spoof(tmp_path / "c")


# ---------------------------------------------------------------- a tiny corpus build

MINUTES = 1.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("spoof")
    out = base / "corpus"
    assert main(["data", "build", "--task", "spoof", "--minutes", str(MINUTES), "--seed", "3", "--out", str(out),
                 "--cache", str(base / "cache"), "--jobs", "1", "--quiet"]) == 0
    return out


def test_manifest_schema_and_audio(corpus):
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    required = {"id": str, "split": str, "audio": str, "label": str, "attack": str, "attack_seen": bool,
                "speaker": str, "source": str, "gain_dbfs": float, "band_hz": list, "duration_s": float}
    for r in rows:
        for k, t in required.items():
            assert isinstance(r[k], t), (k, r)
        assert r["audio"] == f"audio/{r['id']}.wav" and (r["label"] == "bonafide") == (r["attack"] == "bonafide")
    utts = load_spoof(corpus)
    assert detect_layout(corpus) == "corpus" and len(utts) == len(rows) >= 20
    assert set(FIELD_NAMES) >= {"id", "split", "audio", "label", "attack", "attack_seen", "speaker", "duration_s"}
    assert sum(u.duration_s for u in utts) == pytest.approx(MINUTES * 60, abs=4.1)
    for u in utts[:12]:
        info = sf.info(str(u.audio))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        x = read_utt(u)
        assert len(x) == round(u.duration_s * 16000) and 1.0 <= u.duration_s <= 4.0
        assert 10 ** (u.gain_dbfs / 20) * 0.99 <= np.abs(x).max() <= 10 ** (u.gain_dbfs / 20) * 1.01
        z = np.r_[0, (x == 0).astype(np.int8), 0]  # the noise floor leaves no digital silence (runs of zeros)
        runs = np.flatnonzero(np.diff(z) == -1) - np.flatnonzero(np.diff(z) == 1)
        assert runs.max(initial=0) < 10, u
    info = json.loads((corpus / "spoof_corpus.json").read_text())
    assert info["held_out"] == [a for a in A.ATTACKS if a in A.HELD_OUT and a in A.available_attacks()]
    assert info["seed"] == 3 and info["attacks"] == list(A.available_attacks())
    assert sum(sum(v.values()) for v in info["counts"].values()) == len(utts)


def test_speakers_disjoint_and_held_out_attacks_only_in_test(corpus):
    utts = load_spoof(corpus)
    spk = {s: {u.speaker for u in utts if u.split == s} for s in ("train", "dev", "test")}
    assert not spk["train"] & spk["dev"] and not spk["train"] & spk["test"] and not spk["dev"] & spk["test"]
    held = set(A.HELD_OUT)
    assert not [u for u in utts if u.split in ("train", "dev") and u.attack in held]
    assert all(u.attack_seen == (u.attack not in held) for u in utts)
    assert {u.label for u in utts if u.split == "train"} == {"bonafide", "spoof"}
    # wide bands only for sources recorded at >= 16 kHz: 8 kHz Asterisk voices stay narrow
    narrow_only = ("asterisk:Carlo", "asterisk:June", "asterisk:IvrvoiceRU")
    assert all(u.band_hz[1] <= NARROW_MAX_HZ for u in utts if u.speaker in narrow_only)


def test_same_seed_same_bytes(corpus, tmp_path):
    again = tmp_path / "again"
    assert main(["data", "build", "--task", "spoof", "--minutes", str(MINUTES), "--seed", "3", "--out", str(again),
                 "--cache", str(corpus.parent / "cache"), "--jobs", "2", "--quiet"]) == 0
    for name in ("manifest.jsonl", "spoof_corpus.json"):
        assert (again / name).read_bytes() == (corpus / name).read_bytes()
    for p in sorted((corpus / "audio").iterdir())[:10]:
        assert (again / "audio" / p.name).read_bytes() == p.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".again")]  # no temporary left behind


def test_cli_stats_and_errors(corpus, capsys, tmp_path):
    assert main(["data", "stats", str(corpus)]) == 0
    assert "bonafide" in capsys.readouterr().out
    assert main(["data", "build", "--task", "spoof", "--minutes", "0", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert main(["data", "build", "--task", "spoof", "--held-out", "nope", "--out", str(tmp_path / "y"),
                 "--quiet"]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ---------------------------------------------------------------- parity of the plan (no audio: big and cheap)


def test_plan_has_no_class_shortcut_in_duration_band_gain():
    cfg = SpoofConfig(minutes=120.0, seed=5)
    plans = plan_skeleton(cfg, list(A.ATTACKS), dict.fromkeys(("train", "dev", "test"), True))
    for split in ("train", "test"):
        groups: dict[str, list[dict]] = {}
        for p in plans:
            if p["split"] == split:
                groups.setdefault(p["label"], []).append(p)
                groups.setdefault(p["attack"], []).append(p)
        stats = {k: (np.mean([p["n"] / 16000 for p in v]), np.mean([p["gain_dbfs"] for p in v]),
                     np.mean([p["band_hz"][1] <= NARROW_MAX_HZ for p in v]), np.mean([p["band_hz"][0] for p in v]))
                 for k, v in groups.items()}
        ref = stats["bonafide"]
        for k, (d, g, narrow, lo) in stats.items():
            assert abs(d - ref[0]) < 0.12 and abs(g - ref[1]) < 1.5 and abs(narrow - ref[2]) < 0.08, (split, k)
            assert abs(lo - ref[3]) < 20, (split, k)
    assert {p["attack"] for p in plans if p["split"] != "test"}.isdisjoint(A.HELD_OUT)
    assert {p["attack"] for p in plans if p["split"] == "test"} == {*A.ATTACKS, "bonafide"}
    labels = [p["label"] for p in plans if p["split"] == "train"]
    assert labels.count("bonafide") / len(labels) == pytest.approx(cfg.bonafide_share, abs=0.01)
    assert plan_skeleton(cfg, list(A.ATTACKS), dict.fromkeys(("train", "dev", "test"), True)) == plans


# ---------------------------------------------------------------- the attacks


def _voiced(seconds: float = 0.8) -> np.ndarray:
    """A vowel-like test signal: a 130 Hz pulse train through two resonances, with a pause."""
    from scipy.signal import lfilter

    n = int(seconds * 16000)
    exc = np.zeros(n)
    exc[:: 16000 // 130] = 1.0
    exc[n // 2 : n // 2 + 2400] = 0.0
    y = exc
    for f, bw in ((700, 80), (1200, 100)):
        r = np.exp(-np.pi * bw / 16000)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / 16000), r * r], y)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("attack", sorted(A.VOCODERS))
def test_vocoders_keep_length_change_the_signal_and_are_seeded(attack):
    x = _voiced()
    y, params = A.vocode(attack, x, np.random.default_rng(1))
    y2, params2 = A.vocode(attack, x, np.random.default_rng(1))
    assert y.dtype == np.float32 and len(y) == len(x) and np.all(np.isfinite(y))
    assert np.array_equal(y, y2) and params == params2
    rms = lambda v: float(np.sqrt(np.mean(v.astype(np.float64) ** 2)))  # noqa: E731
    assert 0.05 < rms(y) / rms(x) < 20  # still speech-level
    assert np.max(np.abs(y - x)) > 1e-3  # resynthesised, not copied


@pytest.mark.parametrize("attack", [a for a in A.TTS_ATTACKS if a in A.available_attacks()])
def test_tts_engines_render(attack):  # festival is optional (apt festival + voices); the others are required
    item = A.tts_item(attack, 2)
    assert item == A.tts_item(attack, 2) and item.group.startswith(item.engine)
    x, sr = A.render_tts(item)
    assert sr >= 8000 and len(x) > sr // 4 and np.abs(x).max() > 0.01


def test_equaliser_is_flat_at_zero_gain_and_linear():
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    flat = {"tilt": 0.0, "bumps": [[1000.0, 1.0, 0.0]]}
    assert np.allclose(equalise(x, flat), x, atol=1e-5)
    eq = {"tilt": 2.0, "bumps": [[2000.0, 0.5, 3.0]]}
    assert np.allclose(equalise(2 * x, eq), 2 * equalise(x, eq), atol=1e-5)


# ---------------------------------------------------------------- no source file dominates a split

MAX_SOURCE_SHARE = 0.10  # of a split's bona fide utterances, by the utterance's first source piece


def _max_source_share(rows: list[dict], split: str) -> tuple[int, int]:
    """(utterances of the most used source, bona fide utterances) in one split."""
    from collections import Counter

    bona = [r["source"] for r in rows if r["split"] == split and r["label"] == "bonafide"]
    return max(Counter(bona).values(), default=0), len(bona)


def test_built_corpus_no_source_dominates_bonafide(corpus):
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    for split in ("train", "dev", "test"):
        top, n = _max_source_share(rows, split)
        # a 1-minute corpus has a handful of bona fide utterances per split: there the bound is "no file twice"
        # below 20 utterances, and 10 % above
        bound = 1 if n < 20 else MAX_SOURCE_SHARE * n
        assert n > 0 and top <= bound, (split, top, n)


def test_crop_budget_keeps_one_short_clip_from_dominating_a_split():
    """The 120-min plan on pools shaped like the Debian sources: the test split once took 31 % of its bona fide
    utterances from one 2.4 s clip that was a category (pocketsphinx) of its own."""
    from train.data.build import _Item, _Pool
    from train.data.spoof_build import assign_sources

    rng = np.random.default_rng(0)

    def files(group: str, cat: str, k: int, sr: int, secs: tuple[float, float]) -> list[_Item]:
        return [_Item(f"{group}/{i}", group, int(rng.uniform(*secs) * 16000), sr, cat) for i in range(k)]

    real = {split: _Pool(files(f"asterisk:{split}", "asterisk", 400, 8000, (0.5, 3.0))
                         + [it for lang in ("a", "b", "c") for it in files(f"klettres:{split}{lang}", "klettres", 50,
                                                                            22050, (0.3, 1.2))]
                         + [_Item(f"pocketsphinx/{split}/one.raw", f"pocketsphinx:{split}", 38400, 16000,
                                  "pocketsphinx")])
            for split in ("train", "dev", "test")}
    tts = {split: {a: _Pool([_Item(f"{a}/{split}/{i}", f"{a}:{split}{i % 3}", 32000, 16000, a) for i in range(20)])
                   for a in A.TTS_ATTACKS} for split in real}
    cfg = SpoofConfig(minutes=60.0, seed=1)
    skel = plan_skeleton(cfg, list(A.ATTACKS), dict.fromkeys(real, True))
    paths = {it.id: "x" for pool in [*real.values(), *(p for d in tts.values() for p in d.values())]
             for it in pool.items}
    plans = assign_sources(cfg, skel, real, tts, paths)
    assert plans == assign_sources(cfg, skel, real, tts, paths)  # deterministic
    for split in real:
        top, n = _max_source_share(plans, split)
        assert n >= 60 and top <= MAX_SOURCE_SHARE * n, (split, top, n)
        # the clip gets about its share of the wide-band audio budget (~2 %), not its category's (~20-50 %)
        one = sum(p["source"] == f"pocketsphinx/{split}/one.raw" for p in plans if p["split"] == split
                  and p["label"] == "bonafide")
        assert one <= max(2, 0.04 * n), (split, one, n)
        # the speaker of a real-source utterance is the group of every piece (speaker-disjoint splits hold)
        for p in plans:
            if p["split"] == split and p["attack"] not in A.TTS_ATTACKS:
                assert all(sid.rsplit("/", 1)[0] == p["speaker"] or sid.startswith("pocketsphinx/")
                           for sid, _ in p["pieces"])
