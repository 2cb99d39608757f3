"""Rendering one planned clip: speech track + noise track, shared band limits, reverb, SNR and gain.

A plan (a JSON-able dict made by `train.data.build`) names every source and offset; rendering draws its
remaining randomness (coloured noise, per-utterance level) from `plan["seed"]`, so a clip depends on its
plan only. Labels come from the clean, dry speech sources before anything is mixed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from train.data.audio_io import SR
from train.data.labels import HOP
from train.data.noise import coloured_noise

SPEECH_RMS_DBFS = -20.0


def db(x: float) -> float:
    return 10 ** (x / 20)


def load_prepared(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path) as z:
        audio = z["audio"].astype(np.float32) / 32768.0
        labels = z["labels"] if "labels" in z.files else None
    return audio, labels


def band_limit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-phase Butterworth band-pass (high-pass skipped for lo < 20 Hz, low-pass skipped at Nyquist)."""
    from scipy.signal import butter, sosfiltfilt

    if len(x) < 64:
        return x
    y = np.asarray(x, dtype=np.float64)
    if hi < SR / 2 - 1:
        y = sosfiltfilt(butter(8, hi, btype="lowpass", fs=SR, output="sos"), y)
    if lo >= 20:
        y = sosfiltfilt(butter(4, lo, btype="highpass", fs=SR, output="sos"), y)
    return y.astype(np.float32)


def convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(x, h)[: len(x)].astype(np.float32)


def active_rms(x: np.ndarray, lab: np.ndarray) -> float:
    act = np.repeat(lab.astype(bool), HOP)
    act = np.concatenate([act, np.zeros(len(x) - len(act), dtype=bool)]) if len(act) < len(x) else act[: len(x)]
    v = x[act] if act.any() else x
    return float(np.sqrt(np.mean(np.square(v, dtype=np.float64)) + 1e-20))


def render_noise(plan: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    spec = plan["noise"]
    out = np.zeros(n, dtype=np.float32)
    if spec["kind"] in ("white", "pink", "brown"):
        out += coloured_noise(n, spec["kind"], rng)
    for src_id, start, dst, length in spec["items"]:
        x, _ = load_prepared(plan["paths"][src_id])
        seg = x[start : start + length]
        seg = seg / (np.sqrt(np.mean(seg.astype(np.float64) ** 2)) + 1e-9)
        m = min(len(seg), n - dst)
        if m > 0:
            out[dst : dst + m] += seg[:m]
    if spec.get("bed"):
        p = np.sqrt(np.mean(out.astype(np.float64) ** 2)) if np.any(out) else 1.0
        out += coloured_noise(n, spec["bed"], rng) * p * db(spec["bed_db"])
    return out


def render_clip(plan: dict, rirs: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict]:
    """(audio float32 in [-1, 1], labels uint8 [n // 160], facts) for a plan."""
    n = int(plan["n"])
    rng = np.random.default_rng(plan["seed"])
    speech = np.zeros(n, dtype=np.float32)
    labels = np.zeros(n // HOP, dtype=np.uint8)
    for src_id, offset, gain_db in plan["speech"]:
        x, lab = load_prepared(plan["paths"][src_id])
        m = min(len(x), n - offset)
        lab = lab[: m // HOP]
        x = x[:m] * (db(SPEECH_RMS_DBFS + gain_db) / active_rms(x[:m], lab))
        speech[offset : offset + m] += x
        f0 = offset // HOP
        labels[f0 : f0 + len(lab)] |= lab
    noise = render_noise(plan, n, rng)
    if plan["reverb"] is not None and rirs is not None:
        h_s, h_n = rirs[plan["reverb"]]
        speech = convolve(speech, h_s)
        noise = convolve(noise, h_n)
    lo, hi = plan["band_hz"]
    speech, noise = band_limit(speech, lo, hi), band_limit(noise, lo, hi)
    facts = {}
    if plan["negative"]:
        mix = noise
    else:
        ps = active_rms(speech, labels)
        pn = active_rms(noise, labels)
        if pn < 1e-3 * (np.sqrt(np.mean(noise.astype(np.float64) ** 2)) + 1e-20):
            pn = float(np.sqrt(np.mean(noise.astype(np.float64) ** 2)) + 1e-20)  # sparse noise: clip level
        noise = noise * (ps / (pn * db(plan["snr_db"])))
        facts["snr_measured_db"] = 20 * np.log10(ps / active_rms(noise, labels))
        mix = speech + noise
    peak = float(np.max(np.abs(mix))) if n else 0.0
    mix = mix * (db(plan["gain_dbfs"]) * 0.999 / peak) if peak > 0 else mix
    facts["speech_frames"] = int(labels.sum())
    return mix.astype(np.float32), labels, facts


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()
