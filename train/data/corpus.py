"""The corpus manifest (contract B): one JSON object per clip in `<corpus>/manifest.jsonl`.

Each clip has a 16 kHz mono PCM16 wav under `audio/` and a uint8 0/1 label per 10 ms frame under `labels/`
(length = n_samples // 160). `corpus.json` beside it holds the seed, size, per-split statistics and the
source inventory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from train.errors import DataError

SAMPLE_RATE = 16000
HOP = 160  # 10 ms label grid
SPLITS = ("train", "dev", "test")


@dataclass
class Clip:
    id: str
    split: str
    audio: str
    labels: str
    speech_sources: list[str] = field(default_factory=list)
    noise_sources: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    snr_db: float | None = None
    condition: str = ""
    gain_dbfs: float = 0.0
    reverb: bool = False
    band_hz: list[float] = field(default_factory=lambda: [0.0, SAMPLE_RATE / 2])
    negative: bool = False
    duration_s: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


_FIELDS = {f.name for f in fields(Clip)}
_REQUIRED = ("id", "split", "audio", "labels")


def clip_from_json(obj: dict, where: str = "manifest") -> Clip:
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise DataError(f"{where}: clip entry lacks {', '.join(missing)}")
    if obj["split"] not in SPLITS:
        raise DataError(f"{where}: clip {obj['id']!r} has split {obj['split']!r}, expected one of {SPLITS}")
    return Clip(**{k: v for k, v in obj.items() if k in _FIELDS})


def manifest_text(clips: list[Clip]) -> str:
    return "".join(json.dumps(c.to_json(), sort_keys=True) + "\n" for c in clips)


def load_manifest(corpus_dir: str | Path) -> list[Clip]:
    """All clips of a corpus (built or imported), in manifest order."""
    path = Path(corpus_dir) / "manifest.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: no manifest (build one with `noisebudget data build` or `data import`)")
    clips = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not JSON ({e})") from None
        clips.append(clip_from_json(obj, f"{path}:{n}"))
    return clips


def read_clip(corpus_dir: str | Path, clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """(audio float32 in [-1, 1] at 16 kHz, labels uint8 [n_samples // 160])."""
    import soundfile as sf

    corpus_dir = Path(corpus_dir)
    apath, lpath = corpus_dir / clip.audio, corpus_dir / clip.labels
    try:
        audio, sr = sf.read(str(apath), dtype="float32", always_2d=False)
    except Exception as e:  # soundfile raises several types
        raise DataError(f"{apath}: cannot read audio ({e})") from None
    if sr != SAMPLE_RATE or audio.ndim != 1:
        raise DataError(f"{apath}: expected 16 kHz mono, got {sr} Hz, shape {audio.shape}")
    try:
        labels = np.load(lpath)
    except Exception as e:
        raise DataError(f"{lpath}: cannot read labels ({e})") from None
    if labels.dtype != np.uint8 or labels.shape != (len(audio) // HOP,):
        raise DataError(f"{lpath}: expected uint8[{len(audio) // HOP}], got {labels.dtype}{list(labels.shape)}")
    return audio, labels


def split_stats(clips: list[Clip], labels: dict[str, np.ndarray] | None = None) -> dict:
    """Per-split clip counts, minutes, negative clips, speakers, languages (and speech fraction if labels given)."""
    out = {}
    for s in SPLITS:
        cs = [c for c in clips if c.split == s]
        d = {
            "clips": len(cs),
            "minutes": round(sum(c.duration_s for c in cs) / 60, 3),
            "negative_clips": sum(c.negative for c in cs),
            "speakers": sorted({sp for c in cs for sp in c.speakers}),
            "languages": sorted({lg for c in cs for lg in c.languages}),
        }
        if labels is not None:
            n1 = sum(int(labels[c.id].sum()) for c in cs)
            n = sum(len(labels[c.id]) for c in cs)
            d["speech_fraction"] = round(n1 / n, 4) if n else 0.0
        out[s] = d
    return out
