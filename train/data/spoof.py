"""Anti-spoofing utterances (contract G): our offline spoof corpus or an ASVspoof 2019/2021 LA (DF) root.

Score convention everywhere: higher score = more bona fide (as in ASVspoof).

`load_spoof(root)` detects the layout:
- our corpus (`noisebudget data build --task spoof`): `<root>/manifest.jsonl` + `<root>/spoof_corpus.json`;
- ASVspoof 2019 LA: `<root>[/LA]/ASVspoof2019_LA_{train,dev,eval}/flac` + `ASVspoof2019_LA_cm_protocols`
  (train/dev/eval -> split train/dev/test, attack = system id, attack_seen = system id in train);
- ASVspoof 2021 LA or DF eval (keys `keys/{LA,DF}/CM/trial_metadata.txt`): split test only
  (see `train.data.asvspoof`).
`read_utt(utt)` returns float32 samples in [-1, 1] at 16 kHz (resampled if the file is not 16 kHz).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from train.errors import DataError

SPLITS = ("train", "dev", "test")
LABELS = ("bonafide", "spoof")
BONAFIDE = "bonafide"
MANIFEST = "manifest.jsonl"
CORPUS_INFO = "spoof_corpus.json"


@dataclass(frozen=True)
class SpoofUtt:
    id: str
    split: str  # train | dev | test
    audio: Path  # absolute path
    label: str  # bonafide | spoof
    attack: str  # "bonafide" or an attack id (ours: "espeak", "world-pitch", ...; ASVspoof: "A01".."A19")
    attack_seen: bool  # False: this attack type never occurs in train ("unseen attacks")
    speaker: str
    duration_s: float
    # extensions (not in the minimal contract): where it came from and how it was levelled / band-limited
    source: str = ""  # our corpus: the real/TTS source id; ASVspoof 2021: "codec/transmission" condition
    gain_dbfs: float | None = None
    band_hz: tuple[float, float] | None = None

    @property
    def is_bonafide(self) -> bool:
        return self.label == BONAFIDE

    def to_json(self) -> dict:
        d = asdict(self)
        d["audio"] = str(self.audio)
        d["band_hz"] = list(self.band_hz) if self.band_hz is not None else None
        return d


_REQUIRED = ("id", "split", "audio", "label", "attack", "attack_seen", "speaker", "duration_s")


def utt_from_json(obj: dict, root: Path, where: str) -> SpoofUtt:
    """One manifest entry of our corpus -> SpoofUtt (audio made absolute). DataError names `where`."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise DataError(f"{where}: utterance entry lacks {', '.join(missing)}")
    uid = obj["id"]
    if obj["split"] not in SPLITS:
        raise DataError(f"{where}: utterance {uid!r} has split {obj['split']!r}, expected one of {SPLITS}")
    if obj["label"] not in LABELS:
        raise DataError(f"{where}: utterance {uid!r} has label {obj['label']!r}, expected one of {LABELS}")
    if (obj["label"] == BONAFIDE) != (obj["attack"] == BONAFIDE):
        raise DataError(f"{where}: utterance {uid!r}: label {obj['label']!r} and attack {obj['attack']!r} disagree")
    band = obj.get("band_hz")
    if band is not None and (not isinstance(band, list | tuple) or len(band) != 2):
        raise DataError(f"{where}: utterance {uid!r}: band_hz must be [lo, hi], got {band!r}")
    try:
        return SpoofUtt(
            id=str(uid), split=obj["split"], audio=(root / obj["audio"]).resolve(), label=obj["label"],
            attack=str(obj["attack"]), attack_seen=bool(obj["attack_seen"]), speaker=str(obj["speaker"]),
            duration_s=float(obj["duration_s"]), source=str(obj.get("source", "")),
            gain_dbfs=None if obj.get("gain_dbfs") is None else float(obj["gain_dbfs"]),
            band_hz=None if band is None else (float(band[0]), float(band[1])),
        )
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: utterance {uid!r}: bad field value ({e})") from None


def load_corpus_manifest(root: str | Path) -> list[SpoofUtt]:
    """Our spoof corpus: every line of `<root>/manifest.jsonl`, in order."""
    root = Path(root).resolve()
    path = root / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: no manifest (build one with `noisebudget data build --task spoof`)")
    out: list[SpoofUtt] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not JSON ({e})") from None
        if isinstance(obj, dict) and "label" not in obj and "labels" in obj:
            raise DataError(f"{path}:{n}: this is a VAD corpus manifest, not a spoof corpus (no 'label')")
        out.append(utt_from_json(obj, root, f"{path}:{n}"))
    ids = [u.id for u in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{path}: utterance id {dup!r} occurs more than once")
    return out


def detect_layout(root: str | Path) -> str:
    """"corpus" | "asvspoof2019la" | "asvspoof2021la" | "asvspoof2021df" (DataError if none matches)."""
    from train.data import asvspoof

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if (root / MANIFEST).is_file():
        return "corpus"
    kind = asvspoof.detect(root)
    if kind is None:
        raise DataError(
            f"{root}: neither a spoof corpus ({MANIFEST}) nor an ASVspoof root (ASVspoof2019_LA_cm_protocols/ + "
            f"ASVspoof2019_LA_{{train,dev,eval}}/flac, or keys/{{LA,DF}}/CM/trial_metadata.txt + "
            f"ASVspoof2021_{{LA,DF}}_eval*/flac)")
    return kind


def load_spoof(root: str | Path, *, layout: str | None = None) -> list[SpoofUtt]:
    """All utterances under `root` (our corpus or an ASVspoof root; see the module doc).

    `layout`: force "corpus" | "asvspoof2019la" | "asvspoof2021la" | "asvspoof2021df" (default: detect;
    an ASVspoof root holding several of them gives 2019 LA first, then 2021 LA, then 2021 DF).
    """
    from train.data import asvspoof

    kind = layout or detect_layout(root)
    if kind == "corpus":
        return load_corpus_manifest(root)
    if kind == "asvspoof2019la":
        return asvspoof.load_asvspoof2019_la(root)
    if kind == "asvspoof2021la":
        return asvspoof.load_asvspoof2021(root, "LA")
    if kind == "asvspoof2021df":
        return asvspoof.load_asvspoof2021(root, "DF")
    raise DataError(f"{root}: unknown spoof layout {kind!r}")


def read_utt(utt: SpoofUtt) -> np.ndarray:
    """float32 mono samples in [-1, 1] at 16 kHz."""
    from train.data.audio_io import SR, read_audio_native, resample

    x, sr = read_audio_native(utt.audio)
    return resample(x, sr, SR) if sr != SR else x


def split_of(utts: list[SpoofUtt], split: str) -> list[SpoofUtt]:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}, expected one of {SPLITS}")
    return [u for u in utts if u.split == split]


def summary(utts: list[SpoofUtt]) -> dict:
    """Per split: utterances, minutes, bona fide / spoof counts, per-attack counts, speakers, unseen attacks."""
    out: dict[str, dict] = {}
    for s in SPLITS:
        us = [u for u in utts if u.split == s]
        attacks: dict[str, int] = {}
        for u in us:
            attacks[u.attack] = attacks.get(u.attack, 0) + 1
        out[s] = {
            "utterances": len(us), "minutes": round(sum(u.duration_s for u in us) / 60, 3),
            "bonafide": sum(u.is_bonafide for u in us), "spoof": sum(not u.is_bonafide for u in us),
            "attacks": dict(sorted(attacks.items())), "speakers": len({u.speaker for u in us}),
            "unseen_attacks": sorted({u.attack for u in us if not u.attack_seen}),
        }
    return out


FIELD_NAMES = tuple(f.name for f in fields(SpoofUtt))
