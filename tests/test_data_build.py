"""The offline VAD corpus: manifest contract, speaker splits, band parity, determinism, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from train.data import build as build_mod
from train.data.build import build_corpus
from train.data.corpus import SPLITS, load_manifest, read_clip
from train.data.sources import debian_sources, folder_sources, split_sources
from train.errors import DataError

MINUTES, SEED = 0.5, 3


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datacache")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, cache) -> Path:
    return build_corpus(tmp_path_factory.mktemp("c") / "corpus", MINUTES, SEED, jobs=1, cache_dir=cache)


def test_manifest_follows_the_contract(corpus):
    clips = load_manifest(corpus)
    info = json.loads((corpus / "corpus.json").read_text())
    assert info["seed"] == SEED and set(info["splits"]) == set(SPLITS)
    assert sum(c.duration_s for c in clips) >= MINUTES * 60
    assert {c.split for c in clips} == set(SPLITS)
    lines = (corpus / "manifest.jsonl").read_text().splitlines()
    keys = {"id", "split", "audio", "labels", "speech_sources", "noise_sources", "speakers", "languages",
            "snr_db", "condition", "gain_dbfs", "reverb", "band_hz", "negative", "duration_s"}
    for line, c in zip(lines, clips, strict=True):
        assert set(json.loads(line)) == keys
        info = sf.info(str(corpus / c.audio))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        audio, labels = read_clip(corpus, c)
        assert audio.dtype == np.float32 and labels.dtype == np.uint8
        assert labels.shape == (len(audio) // 160,) and set(np.unique(labels)) <= {0, 1}
        assert abs(c.duration_s - len(audio) / 16000) < 1e-9
        assert -40.1 <= c.gain_dbfs <= 0 and abs(20 * np.log10(np.abs(audio).max()) - c.gain_dbfs) < 0.2
        if c.negative:
            assert c.snr_db is None and not labels.any() and not c.speech_sources and not c.speakers
        else:
            assert -5 <= c.snr_db <= 20 and labels.any() and c.speech_sources and c.speakers
        lo, hi = c.band_hz
        assert 0 <= lo < hi <= 8000


def test_speakers_and_language_groups_never_cross_splits(corpus):
    clips = load_manifest(corpus)
    owner: dict[str, str] = {}
    for c in clips:
        for sp in c.speakers:
            assert owner.setdefault(sp, c.split) == c.split, sp
            if sp.startswith(("espeak:", "klettres:")):  # the split unit is the language voice
                lang = sp.split("+")[0]
                assert owner.setdefault("lang:" + lang, c.split) == c.split, lang


def test_inventory_split_is_by_group_with_every_split_populated():
    sources = debian_sources()
    gs = split_sources(sources)
    for cat in ("asterisk", "klettres"):
        assert {gs[s.group] for s in sources if s.category == cat} == set(SPLITS)
    per_speaker: dict[str, set] = {}
    for s in sources:
        if s.kind == "speech":
            per_speaker.setdefault(s.speaker, set()).add(gs[s.group])
    assert all(len(v) == 1 for v in per_speaker.values())
    # Allison reads the English and the Spanish sets: one speaker
    assert {s.language for s in sources if s.speaker == "asterisk:Allison"} == {"en", "es"}
    names = {Path(s.path).name for s in sources if s.kind == "speech"}
    assert "beep.wav" not in names and "ascending-2tone.wav" not in names
    assert any(s.id.startswith("freedesktop/audio-channel") and s.kind == "speech" for s in sources)


def test_band_limits_never_exceed_the_narrowest_source(corpus):
    for c in load_manifest(corpus):
        narrow = [s for s in c.speech_sources + c.noise_sources
                  if (s.startswith("asterisk/") and s.endswith(".wav")) or s.startswith("moh/")]
        if narrow:
            assert c.band_hz[1] <= 4000, (c.id, narrow)


def test_synthetic_share_is_capped(corpus):
    info = json.loads((corpus / "corpus.json").read_text())
    assert all(v <= 0.35 + 1e-9 for v in info["synthetic_speech_share"].values())


def test_same_seed_same_bytes_with_fresh_cache_and_two_jobs(corpus, tmp_path):
    again = build_corpus(tmp_path / "again", MINUTES, SEED, jobs=2, cache_dir=tmp_path / "fresh")
    assert (again / "manifest.jsonl").read_bytes() == (corpus / "manifest.jsonl").read_bytes()
    for c in load_manifest(corpus):
        assert (again / c.audio).read_bytes() == (corpus / c.audio).read_bytes(), c.id
        assert (again / c.labels).read_bytes() == (corpus / c.labels).read_bytes(), c.id


def test_other_seed_other_corpus(corpus, cache, tmp_path):
    other = build_corpus(tmp_path / "other", 0.2, SEED + 1, jobs=1, cache_dir=cache)
    assert (other / "manifest.jsonl").read_text() != (corpus / "manifest.jsonl").read_text()


def test_interrupted_build_leaves_nothing(cache, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = build_mod._render_task

    def flaky(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(build_mod, "_render_task", flaky)
    out = tmp_path / "parent" / "corpus"
    with pytest.raises(KeyboardInterrupt):
        build_corpus(out, 0.2, SEED, jobs=1, cache_dir=cache)
    assert not out.exists() and list((tmp_path / "parent").iterdir()) == []


def _tone_bursts(path: Path, sr: int, channels: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * sr)) / sr
    x = 0.001 * rng.standard_normal(len(t))
    on = (t > 0.3) & (t < 1.1)
    x[on] += 0.3 * np.sin(2 * np.pi * 180 * t[on]) * (1 + np.sin(2 * np.pi * 4 * t[on]))
    sf.write(str(path), np.tile(x[:, None], (1, channels)), sr)


def test_class_folders_group_by_recording_and_speaker(tmp_path):
    esc = tmp_path / "ESC-50" / "audio"
    esc.mkdir(parents=True)
    for name in ("1-100032-A-0.wav", "1-100032-B-0.wav", "2-200001-A-5.wav"):
        _tone_bursts(esc / name, 44100, 2)
    sc = tmp_path / "sc"
    (sc / "yes").mkdir(parents=True)
    for name in ("0a7c2a8d_nohash_0.wav", "0a7c2a8d_nohash_1.wav", "1b2c3d4e_nohash_0.wav"):
        _tone_bursts(sc / "yes" / name, 16000)
    noise = folder_sources(tmp_path / "ESC-50", "noise")
    assert len({s.group for s in noise}) == 2 and all(s.kind == "noise" for s in noise)
    speech = folder_sources(sc, "speech")
    assert sorted({s.speaker for s in speech}) == ["speech-dir:sc:0a7c2a8d", "speech-dir:sc:1b2c3d4e"]


def test_extra_dirs_are_used_and_bad_files_named(cache, tmp_path):
    nd = tmp_path / "noise"
    nd.mkdir()
    for i in range(6):
        _tone_bursts(nd / f"n{i}.wav", 22050, seed=i)
    out = build_corpus(tmp_path / "c", 0.3, SEED, jobs=1, cache_dir=cache, noise_dirs=[str(nd)])
    assert load_manifest(out)
    (nd / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match="broken.wav"):
        build_corpus(tmp_path / "c2", 0.3, SEED, jobs=1, cache_dir=cache, noise_dirs=[str(nd)])
    assert not (tmp_path / "c2").exists()
    ok = build_corpus(tmp_path / "c3", 0.3, SEED, jobs=1, cache_dir=cache, noise_dirs=[str(nd)], skip_bad=True)
    rej = json.loads((ok / "corpus.json").read_text())["rejected_sources"]
    assert any("broken.wav" in r["id"] for r in rej)


def test_cli_build(cache, tmp_path, capsys):
    from noisebudget.cli import main

    out = tmp_path / "cli"
    assert main(["data", "build", "--minutes", "0.2", "--seed", str(SEED), "--out", str(out), "--cache", str(cache),
                 "--jobs", "1", "--quiet"]) == 0
    assert "train" in capsys.readouterr().out and (out / "manifest.jsonl").is_file()
    assert main(["data", "build", "--minutes", "-1", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert main(["data", "build", "--minutes", "1", "--noise-dir", str(tmp_path / "none"), "--out",
                 str(tmp_path / "y"), "--cache", str(cache), "--quiet"]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
