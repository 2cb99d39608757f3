"""Reading any audio file as 16 kHz mono float32, and writing PCM16 wavs.

Formats: whatever libsndfile reads (wav, flac, ogg/oga vorbis, ...), raw G.722 at 64 kbit/s (`.g722`,
the Asterisk 16 kHz prompts; needs the `g722` package) and headerless `.raw` (16 kHz signed 16-bit
little-endian, as in pocketsphinx's test data). Every failure is a DataError naming the file.
"""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np

from train.errors import DataError

SR = 16000
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".au", ".raw", ".g722", ".mp3")


def resample(x: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    """Polyphase resampling (scipy), float32 out."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g).astype(np.float32)


def decode_g722(data: bytes) -> np.ndarray:
    try:
        import G722
    except ImportError as e:  # optional: the 8 kHz wav set of the same voice is used instead
        raise DataError("G.722 decoding needs the `g722` package (pip install g722)") from e
    codec = G722.G722(16000, 64000)
    return np.asarray(codec.decode(data), dtype=np.int16).astype(np.float32) / 32768.0


def read_audio_native(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples, native sample rate). DataError on anything unreadable, empty or odd-shaped."""
    path = Path(path)
    ext = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data:
        raise DataError(f"{path}: empty file")
    if ext == ".g722":
        x, sr = decode_g722(data), 16000
    elif ext == ".raw":
        if len(data) % 2:
            raise DataError(f"{path}: raw PCM16 file with an odd number of bytes")
        x, sr = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, 16000
    else:
        import soundfile as sf

        try:
            x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except Exception as e:
            raise DataError(f"{path}: unsupported or corrupt audio ({e})") from None
        if x.ndim != 2 or x.shape[1] < 1:
            raise DataError(f"{path}: unexpected audio shape {x.shape}")
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    if x.size == 0:
        raise DataError(f"{path}: no samples")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: non-finite samples")
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)


def read_audio(path: str | Path, sr: int = SR) -> np.ndarray:
    """Mono float32 at `sr` (default 16 kHz)."""
    x, native = read_audio_native(path)
    return resample(x, native, sr)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def wav_bytes(x: np.ndarray, sr: int = SR) -> bytes:
    """A PCM16 mono wav as bytes (write it with train.atomic)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, to_pcm16(x), sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def is_audio(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_EXTS
