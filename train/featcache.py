"""Feature cache: log-mel features of a corpus split, computed once and stored under `.cache/features/`.

Cache key = sha256 of (manifest.jsonl bytes, front-end spec, size and mtime of every audio/label file of the
split), so rebuilding the corpus or changing the spec recomputes. Features are stored for all `spec.n_mels`
bands; a model that keeps the first K bands slices `feats[:, :K]` (same numbers as computing K bands).
One file per (key, split): `<cache>/<key>/<split>.npz` with the concatenated frames and per-clip lengths.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from train.atomic import atomic_write_bytes
from train.errors import DataError
from train.frontend import FrontEndSpec, features_numpy

DEFAULT_CACHE = Path(".cache/features")


@dataclass
class _Clip:
    """Stand-in for `train.data.corpus.Clip` (CONTRACTS.md B) if the data package is not importable."""

    id: str
    split: str
    audio: str
    labels: str
    speech_sources: list | None = None
    noise_sources: list | None = None
    speakers: list | None = None
    languages: list | None = None
    snr_db: float | None = None
    condition: str = ""
    gain_dbfs: float | None = None
    reverb: bool = False
    band_hz: list | None = None
    negative: bool = False
    duration_s: float | None = None


def _fallback_load_manifest(corpus_dir: Path) -> list[Any]:
    path = corpus_dir / "manifest.jsonl"
    names = {f.name for f in fields(_Clip)}
    clips = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            clips.append(_Clip(**{k: v for k, v in d.items() if k in names}))
        except (json.JSONDecodeError, TypeError) as e:
            raise DataError(f"{path}:{i}: bad manifest line ({e})") from e
    return clips


def _fallback_read_clip(corpus_dir: Path, clip: Any) -> tuple[np.ndarray, np.ndarray]:
    import soundfile as sf

    apath, lpath = corpus_dir / clip.audio, corpus_dir / clip.labels
    try:
        audio, sr = sf.read(str(apath), dtype="float32", always_2d=False)
    except (RuntimeError, OSError) as e:
        raise DataError(f"{apath}: cannot read audio ({e})") from e
    if sr != 16000 or audio.ndim != 1:
        raise DataError(f"{apath}: need 16 kHz mono, got {sr} Hz, shape {audio.shape}")
    try:
        labels = np.load(lpath)
    except (OSError, ValueError) as e:
        raise DataError(f"{lpath}: cannot read labels ({e})") from e
    return audio, labels.astype(np.uint8)


def corpus_api():
    """(load_manifest, read_clip) from `train.data.corpus`, or the local contract-B reader if it is absent."""
    try:
        from train.data.corpus import load_manifest, read_clip

        return load_manifest, read_clip
    except ImportError:
        return (lambda d: _fallback_load_manifest(Path(d))), (lambda d, c: _fallback_read_clip(Path(d), c))


def check_corpus(corpus_dir: str | os.PathLike[str]) -> Path:
    d = Path(corpus_dir)
    if not d.is_dir():
        raise DataError(f"corpus folder {d} does not exist")
    if not (d / "manifest.jsonl").is_file():
        raise DataError(f"corpus folder {d} has no manifest.jsonl (build one with `noisebudget data build`)")
    return d


def split_clips(corpus_dir: str | os.PathLike[str], split: str) -> list[Any]:
    d = check_corpus(corpus_dir)
    load_manifest, _ = corpus_api()
    clips = [c for c in load_manifest(d) if c.split == split]
    if not clips:
        raise DataError(f"{d / 'manifest.jsonl'}: split {split!r} has no clips")
    return clips


def read_clip_checked(corpus_dir: Path, clip: Any, hop: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Audio and labels of a clip, checking the contract: len(labels) == n_samples // hop."""
    _, read_clip = corpus_api()
    audio, labels = read_clip(corpus_dir, clip)
    audio = np.asarray(audio, dtype=np.float32)
    labels = np.asarray(labels).astype(np.uint8).ravel()
    if labels.size != audio.size // hop:
        raise DataError(f"{corpus_dir / clip.labels}: {labels.size} label frames, expected "
                        f"{audio.size // hop} (= {audio.size} samples // {hop}) for clip {clip.id!r}")
    return audio, labels


def cache_key(corpus_dir: Path, spec: FrontEndSpec, clips: Sequence[Any]) -> str:
    h = hashlib.sha256()
    h.update((corpus_dir / "manifest.jsonl").read_bytes())
    h.update(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for c in clips:
        for rel in (c.audio, c.labels):
            try:
                st = (corpus_dir / rel).stat()
            except FileNotFoundError as e:
                raise DataError(f"{corpus_dir / rel}: missing (listed for clip {c.id!r})") from e
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:24]


def load_features(corpus_dir: str | os.PathLike[str], spec: FrontEndSpec = FrontEndSpec(),
                  split: str = "train", *, cache_dir: str | os.PathLike[str] | None = None,
                  progress: bool = True) -> list[tuple[np.ndarray, np.ndarray, Any]]:
    """[(feats float32 [T, n_mels], labels uint8 [T], clip)] for every clip of `split`, in manifest order."""
    d = check_corpus(corpus_dir)
    clips = split_clips(d, split)
    key = cache_key(d, spec, clips)
    path = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE) / key / f"{split}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                feats, labels, lengths, ids = z["feats"], z["labels"], z["lengths"], list(z["ids"])
            if ids == [c.id for c in clips]:
                return _split_back(feats, labels, lengths, clips)
        except (OSError, ValueError, KeyError):
            pass  # unreadable or stale cache file: recompute and overwrite
    from tqdm import tqdm

    all_f, all_l, lengths = [], [], []
    for c in tqdm(clips, desc=f"features {split}", disable=not progress, leave=False):
        audio, lab = read_clip_checked(d, c, spec.hop_length)
        f = features_numpy(audio, spec)
        all_f.append(f)
        all_l.append(lab)
        lengths.append(f.shape[0])
    feats = np.concatenate(all_f) if all_f else np.zeros((0, spec.n_mels), np.float32)
    labels = np.concatenate(all_l) if all_l else np.zeros(0, np.uint8)
    buf = io.BytesIO()
    np.savez(buf, feats=feats, labels=labels, lengths=np.asarray(lengths, np.int64),
             ids=np.asarray([c.id for c in clips]), spec=json.dumps(spec.to_dict(), sort_keys=True))
    atomic_write_bytes(path, buf.getvalue())
    return _split_back(feats, labels, np.asarray(lengths), clips)


def _split_back(feats, labels, lengths, clips):
    out, o = [], 0
    for n, c in zip(lengths, clips, strict=True):
        out.append((feats[o : o + n], labels[o : o + n], c))
        o += int(n)
    return out
