"""Dataset loaders: RTTM, Audacity labels, AVA-Speech CSV, TEN-VAD .scv -> 16 kHz clips + 10 ms labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from noisebudget.cli import main
from train.data.corpus import load_manifest, read_clip
from train.data.labels import segments_to_frames
from train.data.loaders import import_dataset, parse_audacity, parse_scv
from train.errors import DataError

SEGS = [(0.3, 0.9), (1.4, 2.2)]


def _audio(path: Path, sr: int, seconds: float = 3.0, channels: int = 1, fmt: str | None = None):
    rng = np.random.default_rng(len(path.name))
    x = 0.1 * rng.standard_normal((int(seconds * sr), channels))
    sf.write(str(path), x.squeeze() if channels == 1 else x, sr, format=fmt)


def _expect(corpus: Path, cid: str, segs, seconds: float = 3.0):
    clip = next(c for c in load_manifest(corpus) if c.id == cid)
    audio, labels = read_clip(corpus, clip)
    assert len(audio) == int(seconds * 16000)
    assert labels.tolist() == segments_to_frames(segs, len(audio) // 160).tolist()
    return clip


def _rttm_line(fid, s, e, spk="A"):
    return f"SPEAKER {fid} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n"


def test_rttm_folder(tmp_path):
    src = tmp_path / "src"
    (src / "wav").mkdir(parents=True)
    _audio(src / "wav" / "a.wav", 8000)
    _audio(src / "wav" / "b.flac", 44100, channels=2, fmt="FLAC")
    _audio(src / "wav" / "c.wav", 16000)  # not annotated: skipped and reported
    (src / "all.rttm").write_text(_rttm_line("a", *SEGS[0]) + _rttm_line("a", *SEGS[1], spk="B")
                                  + ";; comment\n" + _rttm_line("b", 1.0, 1.5))
    rep = import_dataset("rttm", src, tmp_path / "out")
    clip = _expect(tmp_path / "out", "a", SEGS)
    assert clip.speakers == ["a:A", "a:B"] and clip.band_hz == [0.0, 4000.0] and not clip.negative
    _expect(tmp_path / "out", "b", [(1.0, 1.5)])
    assert [Path(p).name for p in rep["unlabelled_audio"]] == ["c.wav"]


def test_audacity_labels(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _audio(src / "x.wav", 22050)
    (src / "x.txt").write_text("0.300000\t0.900000\tspeech\n\\\t100.0\t3000.0\n1.400000\t2.200000\tSpeaker 2\n"
                               "2.4\t2.9\tmusic\n")
    _audio(src / "y.ogg", 48000, fmt="OGG")
    (src / "y.txt").write_text("")  # empty label track: a negative clip
    import_dataset("audacity", src, tmp_path / "out", split="dev")
    assert _expect(tmp_path / "out", "x", SEGS).split == "dev"
    assert _expect(tmp_path / "out", "y", []).negative


def test_ava_csv_with_video_times(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _audio(src / "vid_1.wav", 16000, seconds=3.0)  # an extract of minutes 15.. of the video
    rows = [("vid_1", 900.0, 900.3, "NO_SPEECH"), ("vid_1", 900.3, 900.9, "CLEAN_SPEECH"),
            ("vid_1", 900.9, 901.4, "NO_SPEECH"), ("vid_1", 901.4, 902.2, "SPEECH_WITH_MUSIC"),
            ("vid_1", 902.2, 903.0, "NO_SPEECH")]
    (src / "ava_speech_labels_v1.csv").write_text("".join(f"{a},{b:.2f},{c:.2f},{d}\n" for a, b, c, d in rows))
    import_dataset("ava", src, tmp_path / "out")
    clip = _expect(tmp_path / "out", "vid_1", SEGS)
    assert clip.condition == "ava:clean_speech+speech_with_music"


def test_ava_crops_to_the_annotated_span(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _audio(src / "v2.wav", 16000, seconds=5.0)
    (src / "a.csv").write_text("video_id,start,end,label\nv2,1.0,2.0,SPEECH_WITH_NOISE\nv2,2.0,4.0,NO_SPEECH\n")
    import_dataset("ava", src, tmp_path / "out")
    clip = load_manifest(tmp_path / "out")[0]
    audio, labels = read_clip(tmp_path / "out", clip)
    assert len(audio) == 3 * 16000 and labels[:100].all() and not labels[100:].any()


def test_scv_ten_vad_format(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _audio(src / "t1.wav", 16000)
    (src / "t1.scv").write_text("t1,0,0.3,0,0.3,0.9,1,0.9,1.4,0,1.4,2.2,1,2.2,3.0,0\n")
    rep = import_dataset("scv", src, tmp_path / "out")
    _expect(tmp_path / "out", "t1", SEGS)
    info = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert info["format"] == "scv" and rep["splits"][load_manifest(tmp_path / "out")[0].split]["clips"] == 1


BAD_CASES = {
    "corrupt audio": ("scv", "t.wav", b"RIFF\x24\x00\x00\x00WAVEfmt garbage", "t.scv", "t,0,1,1\n", "t.wav"),
    "empty audio": ("scv", "t.wav", b"", "t.scv", "t,0,1,1\n", "t.wav"),
    "text as audio": ("audacity", "t.wav", b"hello, I am not audio\n" * 20, "t.txt", "0\t1\tx\n", "t.wav"),
    "short rttm line": ("rttm", "t.wav", None, "t.rttm", "SPEAKER t 1 0.5\n", "t.rttm"),
    "scv triple broken": ("scv", "t.wav", None, "t.scv", "t,0,1,1,2\n", "t.scv"),
    "scv label": ("scv", "t.wav", None, "t.scv", "t,0,1,speech\n", "t.scv"),
    "ava label": ("ava", "t.wav", None, "l.csv", "t,0,1,TALKING\n", "l.csv"),
    "audacity order": ("audacity", "t.wav", None, "t.txt", "1.0\t0.5\tspeech\n", "t.txt"),
    "past the end": ("audacity", "t.wav", None, "t.txt", "0.5\t9.0\tspeech\n", "t.txt"),
    "missing audio": ("rttm", "u.wav", None, "t.rttm", _rttm_line("nope", 0.1, 0.5), "t.rttm"),
}


def _bad_src(tmp_path, case):
    fmt, aname, abytes, lname, ltext, _ = BAD_CASES[case]
    src = tmp_path / "src"
    src.mkdir()
    if abytes is None:
        _audio(src / aname, 16000)
    else:
        (src / aname).write_bytes(abytes)
    (src / lname).write_text(ltext)
    _audio(src / "good.wav", 16000)  # a good file beside the bad one
    good = {"scv": ("good.scv", "good,0,1,1\n"), "audacity": ("good.txt", "0\t1\tspeech\n"),
            "rttm": ("good.rttm", _rttm_line("good", 0, 1)), "ava": ("good.csv", "good,0,1,CLEAN_SPEECH\n")}[fmt]
    (src / good[0]).write_text(good[1])
    return fmt, src


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_files_are_named_and_leave_no_output(tmp_path, case):
    fmt, src = _bad_src(tmp_path, case)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=BAD_CASES[case][-1].replace(".", r"\.")):
        import_dataset(fmt, src, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["src"]
    rep = import_dataset(fmt, src, out, skip_bad=True)
    assert [c.id for c in load_manifest(out)] == ["good"]
    assert any(BAD_CASES[case][-1] in s["file"] or BAD_CASES[case][-1] in s["error"] for s in rep["skipped"])


def test_cli_exit_codes(tmp_path, capsys):
    fmt, src = _bad_src(tmp_path, "corrupt audio")
    out = tmp_path / "out"
    assert main(["data", "import", "--format", fmt, str(src), "--out", str(out), "--quiet"]) == 2
    assert "t.wav" in capsys.readouterr().err and not out.exists()
    assert main(["data", "import", "--format", fmt, str(src), "--out", str(out), "--quiet", "--skip-bad"]) == 0
    assert "skipped" in capsys.readouterr().out and (out / "manifest.jsonl").is_file()
    assert main(["data", "stats", str(out)]) == 0
    assert main(["data", "stats", str(tmp_path / "nowhere")]) == 2
    assert main(["data"]) == 2
    assert main(["data", "import", "--format", "scv", str(tmp_path / "nowhere"), "--out", str(out)]) == 2


_times = st.lists(st.integers(1, 300), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(_times, st.lists(st.booleans(), min_size=8, max_size=8))
def test_scv_and_audacity_round_trip(tmp_path_factory, steps, labs):
    edges = np.cumsum([0] + steps) / 100
    segs = [(float(a), float(b), "1" if lab else "0") for a, b, lab in zip(edges[:-1], edges[1:], labs, strict=False)]
    d = tmp_path_factory.mktemp("rt")
    (d / "a.scv").write_text("a," + ",".join(f"{s},{e},{lab}" for s, e, lab in segs) + "\n")
    assert parse_scv(d / "a.scv") == segs
    (d / "a.txt").write_text("".join(f"{s:.6f}\t{e:.6f}\t{'speech' if lab == '1' else 'noise'}\n"
                                     for s, e, lab in segs))
    back = parse_audacity(d / "a.txt")
    assert [(round(s, 6), round(e, 6)) for s, e, _ in back] == [(round(s, 6), round(e, 6)) for s, e, _ in segs]
