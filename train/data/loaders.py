"""Loaders for datasets users already have, into the corpus manifest format (contract B).

Supported annotation formats (audio: anything `audio_io` reads, any rate, resampled to 16 kHz mono):

- `rttm`: `*.rttm` files anywhere under SRC; lines `SPEAKER <file-id> <chan> <onset> <dur> <NA> <NA> <speaker>
  ...` (other line types ignored). Audio `<file-id>.<ext>` anywhere under SRC. Audio with no RTTM entry is
  skipped (reported), because RTTM cannot tell "no speech" from "not annotated".
- `audacity`: label track exports `<stem>.txt` beside `<stem>.<ext>`: `start<TAB>end<TAB>label` per line
  (spectral `\\t<f0>\\t<f1>` continuation lines are ignored). A region is speech unless its label is one of
  NON_SPEECH_LABELS (noise, music, silence, ...).
- `ava`: AVA-Speech CSV files `*.csv` under SRC: `video_id,start,end,label` with label NO_SPEECH,
  CLEAN_SPEECH, SPEECH_WITH_MUSIC or SPEECH_WITH_NOISE; audio `<video_id>.<ext>`. Times are seconds from
  the start of the audio file; if a video's segments run past the end of its audio, they are taken as
  video times and shifted by the earliest annotated start (AVA annotates minutes 15-30, so extracts of
  that window work as they are). The clip is cropped to the annotated span.
- `scv` (TEN-VAD test set): `<stem>.scv` beside `<stem>.wav`, one line
  `<id>,<start>,<end>,<label>,<start>,<end>,<label>,...` with times in seconds and label 0/1.

Class folders (MUSAN, ESC-50, Speech Commands `_background_noise_`) are mixing sources for `data build`
(`--noise-dir`, `--speech-dir`), see `train.data.sources.folder_sources`.

Every problem file raises a DataError naming it; with `skip_bad=True` it is skipped and listed in the
report instead. Output is written to a temporary folder and renamed at the end.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from train.atomic import atomic_path, atomic_write_json, atomic_write_text
from train.data.audio_io import AUDIO_EXTS, SR, read_audio_native, resample, wav_bytes
from train.data.corpus import HOP, SPLITS, Clip, manifest_text, split_stats
from train.data.labels import segments_to_frames
from train.data.mix import npy_bytes
from train.errors import DataError, UsageError

FORMATS = ("rttm", "audacity", "ava", "scv")
NON_SPEECH_LABELS = {"noise", "music", "silence", "sil", "nonspeech", "non-speech", "non_speech", "no_speech",
                     "background", "ns", "0"}
AVA_LABELS = {"NO_SPEECH": False, "CLEAN_SPEECH": True, "SPEECH_WITH_MUSIC": True, "SPEECH_WITH_NOISE": True}
TIME_SLACK_S = 0.5  # annotations may overrun the audio by this much (rounding); more is an error

Segment = tuple[float, float]


def _num(tok: str, path: Path, n: int) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise DataError(f"{path}:{n}: {tok!r} is not a number") from None
    if not np.isfinite(v) or v < 0:
        raise DataError(f"{path}:{n}: bad time {tok!r}")
    return v


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def parse_rttm(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """file-id -> [(start, end, speaker)] from the SPEAKER lines."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for n, line in enumerate(_text(path).splitlines(), 1):
        f = line.split()
        if not f or f[0].startswith("#") or f[0] != "SPEAKER":
            continue
        if len(f) < 8:
            raise DataError(f"{path}:{n}: SPEAKER line with {len(f)} fields, expected >= 8")
        t0, dur = _num(f[3], path, n), _num(f[4], path, n)
        out.setdefault(f[1], []).append((t0, t0 + dur, f[7]))
    if not out:
        raise DataError(f"{path}: no SPEAKER lines")
    return out


def parse_audacity(path: Path) -> list[tuple[float, float, str]]:
    segs = []
    for n, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip() or line.startswith(("\\", "\t")):
            continue
        f = line.split("\t")
        if len(f) < 2:
            f = line.split()
        if len(f) < 2:
            raise DataError(f"{path}:{n}: expected 'start<TAB>end<TAB>label'")
        s, e = _num(f[0], path, n), _num(f[1], path, n)
        if e < s:
            raise DataError(f"{path}:{n}: end {e} before start {s}")
        segs.append((s, e, f[2].strip() if len(f) > 2 else ""))
    return segs


def parse_ava(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    out: dict[str, list[tuple[float, float, str]]] = {}
    for n, row in enumerate(csv.reader(_text(path).splitlines()), 1):
        if not row or (n == 1 and row[0].strip().lower() in ("video_id", "id")):
            continue
        if len(row) < 4:
            raise DataError(f"{path}:{n}: expected video_id,start,end,label")
        label = row[3].strip()
        if label not in AVA_LABELS:
            raise DataError(f"{path}:{n}: unknown AVA label {label!r} (expected one of {sorted(AVA_LABELS)})")
        s, e = _num(row[1], path, n), _num(row[2], path, n)
        if e < s:
            raise DataError(f"{path}:{n}: end {e} before start {s}")
        out.setdefault(row[0].strip(), []).append((s, e, label))
    if not out:
        raise DataError(f"{path}: no segments")
    return out


def parse_scv(path: Path) -> list[tuple[float, float, str]]:
    lines = [ln for ln in _text(path).splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path}: empty label file")
    f = [t.strip() for t in lines[0].split(",")][1:]
    if not f or len(f) % 3:
        raise DataError(f"{path}:1: expected id followed by start,end,label triples, got {len(f)} values")
    segs = []
    for k in range(0, len(f), 3):
        s, e = _num(f[k], path, 1), _num(f[k + 1], path, 1)
        if f[k + 2] not in ("0", "1"):
            raise DataError(f"{path}:1: label {f[k + 2]!r} is not 0 or 1")
        if e < s:
            raise DataError(f"{path}:1: end {e} before start {s}")
        segs.append((s, e, f[k + 2]))
    return segs


def _audio_files(src: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(src.rglob("*")):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTS:
            out.setdefault(p.stem, p)
    return out


def _auto_split(key: str) -> str:
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 10
    return "train" if h < 8 else ("dev" if h == 8 else "test")


def _safe_id(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


class _Item:
    def __init__(self, key: str, audio: Path, ann: Path, segments: list[Segment], speakers: list[str],
                 crop: Segment | None = None, offset: float = 0.0, condition: str = ""):
        self.key, self.audio, self.ann, self.segments, self.speakers = key, audio, ann, segments, speakers
        self.crop, self.offset, self.condition = crop, offset, condition


def _collect(fmt: str, src: Path, bad: Callable[[Path, str], None], unlabelled: list[str]) -> list[_Item]:
    audio = _audio_files(src)
    items: list[_Item] = []
    if fmt in ("rttm", "ava"):
        ann_files = sorted(src.rglob("*.rttm" if fmt == "rttm" else "*.csv"))
        if not ann_files:
            raise DataError(f"{src}: no *.{'rttm' if fmt == 'rttm' else 'csv'} annotation files")
        seen: set[str] = set()
        for af in ann_files:
            try:
                table = parse_rttm(af) if fmt == "rttm" else parse_ava(af)
            except DataError as e:
                bad(af, str(e))
                continue
            for fid, segs in sorted(table.items()):
                if fid not in audio:
                    bad(af, f"{af}: no audio file for {fid!r} under {src}")
                    continue
                seen.add(fid)
                if fmt == "rttm":
                    items.append(_Item(fid, audio[fid], af, [(s, e) for s, e, _ in segs],
                                       sorted({f"{fid}:{sp}" for _, _, sp in segs}), condition="rttm"))
                else:
                    sp = [(s, e) for s, e, lab in segs if AVA_LABELS[lab]]
                    crop = (min(s for s, _, _ in segs), max(e for _, e, _ in segs))
                    kinds = sorted({lab for _, _, lab in segs if AVA_LABELS[lab]})
                    items.append(_Item(fid, audio[fid], af, sp, [], crop=crop,
                                       condition="ava:" + ("+".join(k.lower() for k in kinds) or "no_speech")))
        unlabelled += sorted(str(p) for k, p in audio.items() if k not in seen)
        return items
    ext = ".txt" if fmt == "audacity" else ".scv"
    for stem, ap in audio.items():
        lf = ap.with_suffix(ext)
        if not lf.is_file():
            unlabelled.append(str(ap))
            continue
        try:
            segs = parse_audacity(lf) if fmt == "audacity" else parse_scv(lf)
        except DataError as e:
            bad(lf, str(e))
            continue
        if fmt == "audacity":
            sp = [(s, e) for s, e, lab in segs if lab.strip().lower() not in NON_SPEECH_LABELS]
        else:
            sp = [(s, e) for s, e, lab in segs if lab == "1"]
        items.append(_Item(stem, ap, lf, sp, [], condition=fmt))
    return items


def import_dataset(fmt: str, src: str | Path, out: str | Path, *, skip_bad: bool = False, split: str = "auto",
                   progress: bool = False) -> dict:
    """Import SRC (audio + annotations in `fmt`) as a corpus in OUT. Returns the report (also in corpus.json)."""
    from tqdm import tqdm

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if split != "auto" and split not in SPLITS:
        raise UsageError(f"--split must be auto or one of {SPLITS}, got {split!r}")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UsageError(f"{src}: not a folder")
    skipped: list[dict] = []
    unlabelled: list[str] = []

    def bad(path: Path, msg: str) -> None:
        if not skip_bad:
            raise DataError(msg if str(path) in msg else f"{path}: {msg}")
        skipped.append({"file": str(path), "error": msg})

    items = _collect(fmt, src, bad, unlabelled)
    clips: list[Clip] = []
    used_ids: set[str] = set()
    with atomic_path(out) as tmp:
        (tmp / "audio").mkdir(parents=True)
        (tmp / "labels").mkdir()
        for it in tqdm(items, desc=f"import {fmt}", disable=not progress, leave=False):
            try:
                x, sr = read_audio_native(it.audio)
                dur = len(x) / sr
                segs, crop = it.segments, it.crop
                end = max([e for _, e in segs] + ([crop[1]] if crop else []), default=0.0)
                if end > dur + TIME_SLACK_S and crop and crop[0] > 0:
                    shift = crop[0]  # AVA: video times; audio starts at the annotated window
                    segs = [(s - shift, e - shift) for s, e in segs]
                    crop = (0.0, crop[1] - shift)
                    end = max([e for _, e in segs] + [crop[1]])
                if end > dur + TIME_SLACK_S:
                    raise DataError(f"{it.ann}: segments for {it.key!r} end at {end:.2f} s, past the end of "
                                    f"{it.audio} ({dur:.2f} s)")
                y = resample(x, sr, SR)
                if crop:
                    a, b = int(round(crop[0] * SR)) // HOP * HOP, min(int(round(crop[1] * SR)), len(y))
                    y = y[a:b]
                    segs = [(s - a / SR, e - a / SR) for s, e in segs]
                if len(y) < HOP:
                    raise DataError(f"{it.audio}: shorter than one 10 ms frame")
            except DataError as e:
                bad(it.audio, str(e))
                continue
            lab = segments_to_frames(segs, len(y) // HOP)
            cid = _safe_id(it.key)
            while cid in used_ids:
                cid += "_"
            used_ids.add(cid)
            (tmp / "audio" / f"{cid}.wav").write_bytes(wav_bytes(y))
            (tmp / "labels" / f"{cid}.npy").write_bytes(npy_bytes(lab))
            peak = float(np.max(np.abs(y)))
            clips.append(Clip(
                id=cid, split=_auto_split(it.key) if split == "auto" else split, audio=f"audio/{cid}.wav",
                labels=f"labels/{cid}.npy", speech_sources=[str(it.audio)] if lab.any() else [],
                noise_sources=[], speakers=it.speakers, languages=[], snr_db=None, condition=it.condition,
                gain_dbfs=round(20 * np.log10(peak), 2) if peak > 0 else -120.0, reverb=False,
                band_hz=[0.0, min(sr, SR) / 2], negative=not lab.any(), duration_s=len(y) / SR))
        if not clips:
            raise DataError(f"{src}: nothing imported ({len(skipped)} bad, {len(unlabelled)} unlabelled files)")
        atomic_write_text(tmp / "manifest.jsonl", manifest_text(clips))
        labels = {c.id: np.load(tmp / c.labels) for c in clips}
        report = {"task": "vad", "format": fmt, "source": str(src), "sample_rate": SR, "hop": HOP,
                  "splits": split_stats(clips, labels), "skipped": skipped, "unlabelled_audio": unlabelled}
        atomic_write_json(tmp / "corpus.json", report)
    return report
