"""A tiny synthetic VAD corpus in the manifest format of CONTRACTS.md B, built at test time.

"Speech" = voiced bursts (harmonics of a 110-220 Hz pitch, syllable-rate amplitude modulation), labelled 1
where the burst is on; background = white noise at a given SNR. Deterministic from the seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def _burst(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / SR
    f0 = rng.uniform(110, 220)
    x = sum((1.0 / k) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.28)) for k in range(1, 12))
    am = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
    return x * am


def make_clip(rng: np.random.Generator, seconds: float, snr_db: float | None, negative: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    n = int(seconds * SR)
    speech = np.zeros(n)
    labels = np.zeros(n // 160, dtype=np.uint8)
    if not negative:
        pos = int(rng.uniform(0.2, 0.5) * SR)
        while pos < n - int(0.3 * SR):
            length = int(rng.uniform(0.3, 0.7) * SR)
            end = min(n, pos + length)
            speech[pos:end] = _burst(rng, end - pos)
            labels[pos // 160 : end // 160] = 1
            pos = end + int(rng.uniform(0.3, 0.8) * SR)
    speech *= 0.1 / max(1e-9, np.sqrt(np.mean(speech[speech != 0] ** 2)) if speech.any() else 1.0)
    noise = rng.standard_normal(n)
    ref = 0.1 if negative or snr_db is None else 0.1 / 10 ** (snr_db / 20)
    noise *= ref / np.sqrt(np.mean(noise**2)) * (0.05 if snr_db is None else 1.0)
    audio = np.clip(speech + noise, -1, 1).astype(np.float32)
    return audio, labels


def make_tiny_corpus(root: Path, seed: int = 0, seconds: float = 2.5,
                     plan: tuple[tuple[str, float | None, bool], ...] | None = None) -> Path:
    """Write `root/manifest.jsonl`, `corpus.json`, `audio/*.wav`, `labels/*.npy`. Returns root."""
    rng = np.random.default_rng(seed)
    plan = plan or (("train", 10.0, False), ("dev", 5.0, False), ("dev", 15.0, False), ("dev", None, True),
                    ("test", 0.0, False), ("test", 10.0, False), ("test", None, False), ("test", None, True))
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (split, snr, neg) in enumerate(plan):
        cid = f"{split}-{i:03d}"
        audio, labels = make_clip(rng, seconds + 0.00625 * i, snr, neg)
        sf.write(root / "audio" / f"{cid}.wav", audio, SR, subtype="PCM_16")
        np.save(root / "labels" / f"{cid}.npy", labels)
        lines.append(json.dumps({
            "id": cid, "split": split, "audio": f"audio/{cid}.wav", "labels": f"labels/{cid}.npy",
            "speech_sources": [] if neg else ["synthetic-burst"], "noise_sources": ["white"],
            "speakers": [] if neg else [f"spk{i}"], "languages": [], "snr_db": snr,
            "condition": "noise-only" if neg else ("clean" if snr is None else "white"),
            "gain_dbfs": -20.0, "reverb": False, "band_hz": [0, 8000], "negative": neg,
            "duration_s": audio.size / SR,
        }))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (root / "corpus.json").write_text(json.dumps({"seed": seed, "minutes": 0, "synthetic": True}))
    return root
