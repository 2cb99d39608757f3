"""A tiny synthetic spoof corpus in the manifest format of CONTRACTS.md G, built at test time.

Bona fide = voiced bursts with jittered pitch and breathy noise; spoofs = the same kind of bursts through crude
"vocoders": `buzz` (perfectly periodic, no jitter, no breath), `lowpass` (spectrum cut at 3 kHz, noise
floor above) and, only in test (unseen), `flat` (flat harmonic amplitudes). Deterministic from the seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def _voice(rng: np.random.Generator, n: int, attack: str) -> np.ndarray:
    t = np.arange(n) / SR
    f0 = rng.uniform(100, 220)
    jitter = 0.0 if attack == "buzz" else 0.03
    inst = f0 * (1 + jitter * np.cumsum(rng.standard_normal(n)) / np.sqrt(n))
    phase = 2 * np.pi * np.cumsum(inst) / SR
    amp = (lambda k: 1.0) if attack == "flat" else (lambda k: 1.0 / k)
    x = sum(amp(k) * np.sin(k * phase) for k in range(1, 30) if k * f0 < 7500)
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    if attack != "buzz":
        x = x + 0.15 * rng.standard_normal(n)
    if attack == "lowpass":
        spec = np.fft.rfft(x)
        spec[int(3000 / SR * n):] = 0
        x = np.fft.irfft(spec, n) + 0.002 * rng.standard_normal(n)
    return x


def make_tiny_spoof_corpus(root: Path, seed: int = 0, *, per_split: dict[str, int] | None = None,
                           seconds: tuple[float, float] = (1.0, 2.6)) -> Path:
    """Write `root/manifest.jsonl`, `spoof_corpus.json`, `audio/*.wav`. Returns root."""
    rng = np.random.default_rng(seed)
    per_split = per_split or {"train": 48, "dev": 16, "test": 24}
    attacks = {"train": ["buzz", "lowpass"], "dev": ["buzz", "lowpass"], "test": ["buzz", "lowpass", "flat"]}
    (root / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    for split, count in per_split.items():
        for i in range(count):
            bona = i % 2 == 0
            attack = "bonafide" if bona else attacks[split][(i // 2) % len(attacks[split])]
            n = int(rng.uniform(*seconds) * SR)
            x = _voice(rng, n, "bonafide" if bona else attack)
            gain_db = rng.uniform(-30, -15)
            x = x / np.sqrt(np.mean(x ** 2)) * 10 ** (gain_db / 20)
            uid = f"{split}-{i:03d}"
            sf.write(root / "audio" / f"{uid}.wav", np.clip(x, -1, 1).astype(np.float32), SR, subtype="PCM_16")
            lines.append({"id": uid, "split": split, "audio": f"audio/{uid}.wav",
                          "label": "bonafide" if bona else "spoof", "attack": attack,
                          "attack_seen": attack != "flat", "speaker": f"spk{i % 4}", "source": "tiny",
                          "gain_dbfs": float(gain_db), "band_hz": [0.0, 8000.0], "duration_s": n / SR})
    (root / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (root / "spoof_corpus.json").write_text(json.dumps({"seed": seed, "held_out_attacks": ["flat"]}) + "\n")
    return root
