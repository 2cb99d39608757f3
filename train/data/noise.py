"""Non-speech material: coloured noise, music rendered from generated MIDI with fluidsynth + FluidR3, and
room impulse responses (pyroomacoustics image method for the early part, a seeded exponential tail for
the late reverberation, so RT60 up to ~1 s stays cheap).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data.audio_io import SR, read_audio_native, resample
from train.data.sources import SOUNDFONT
from train.errors import DataError

COLOURS = ("white", "pink", "brown")


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a 1/f^alpha power spectrum (white 0, pink 1, brown 2)."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    spec = np.fft.rfft(rng.standard_normal(n + 1))
    f = np.fft.rfftfreq(n + 1, 1 / SR)
    f[0] = f[1]
    spec *= f ** (-alpha / 2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n + 1)[:n]
    return (x / (np.sqrt(np.mean(x * x)) + 1e-12)).astype(np.float32)


# ---------------------------------------------------------------- MIDI music

PROGRAMS = (0, 1, 4, 6, 11, 16, 19, 24, 25, 26, 32, 33, 40, 42, 48, 49, 52, 56, 60, 65, 68, 71, 73, 80, 81,
            88, 89, 95, 104, 105, 114)
SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 4, 7, 9), (0, 3, 5, 6, 7, 10))


@dataclass(frozen=True)
class MusicItem:
    index: int
    seconds: float = 30.0

    @property
    def id(self) -> str:
        return f"midi/{self.index:04d}"

    @property
    def group(self) -> str:
        return self.id

    def key(self) -> str:
        return f"midi-v1-{self.index}-{self.seconds}"


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_bytes(item: MusicItem) -> bytes:
    """A type-0 standard MIDI file: melody + chords (+ drums sometimes), random programs, tempo and key."""
    rng = np.random.default_rng([104729, item.index])
    tpq = 480
    bpm = int(rng.integers(60, 170))
    root = int(rng.integers(45, 60))
    scale = SCALES[int(rng.integers(len(SCALES)))]
    events: list[tuple[int, bytes]] = [(0, b"\xff\x51\x03" + int(60e6 / bpm).to_bytes(3, "big"))]
    for ch in (0, 1):
        events.append((0, bytes([0xC0 | ch, int(rng.choice(PROGRAMS))])))
    total = int(item.seconds * bpm / 60 * tpq)
    t = 0
    while t < total:  # melody on channel 0
        dur = int(rng.choice([tpq // 4, tpq // 2, tpq, tpq * 2]))
        if rng.random() < 0.85:
            deg = int(rng.integers(0, len(scale) * 2))
            note = root + 12 + scale[deg % len(scale)] + 12 * (deg // len(scale))
            vel = int(rng.integers(50, 115))
            events += [(t, bytes([0x90, note, vel])), (t + dur - 10, bytes([0x80, note, 0]))]
        t += dur
    t = 0
    while t < total:  # chords on channel 1
        dur = tpq * int(rng.choice([2, 4]))
        deg = int(rng.integers(0, len(scale)))
        for k in (0, 2, 4):
            d = deg + k
            note = root + scale[d % len(scale)] + 12 * (d // len(scale))
            events += [(t, bytes([0x91, note, 60])), (t + dur - 10, bytes([0x81, note, 0]))]
        t += dur
    if rng.random() < 0.5:  # drums on channel 10
        t = 0
        while t < total:
            for drum, step in ((36, tpq), (42, tpq // 2), (38, tpq * 2)):
                if (t % step) == 0:
                    events += [(t, bytes([0x99, drum, 90])), (t + 60, bytes([0x89, drum, 0]))]
            t += tpq // 2
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80))
    track, last = bytearray(), 0
    for tt, ev in events:
        track += _vlq(tt - last) + ev
        last = tt
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render_music(item: MusicItem, soundfont: Path = SOUNDFONT) -> np.ndarray:
    """16 kHz mono float32 rendering of the item with fluidsynth (no audio driver, file output)."""
    exe = shutil.which("fluidsynth")
    if exe is None or not Path(soundfont).is_file():
        raise DataError(f"music needs fluidsynth and {soundfont} (apt-get install fluidsynth fluid-soundfont-gm)")
    with tempfile.TemporaryDirectory(prefix="nb-midi-") as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        mid.write_bytes(midi_bytes(item))
        cmd = [exe, "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", str(wav), "-T", "wav", str(soundfont), str(mid)]
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        if r.returncode != 0 or not wav.is_file():
            raise DataError(f"{item.id}: fluidsynth failed: {r.stderr.decode(errors='replace')[:200]}")
        x, sr = read_audio_native(wav)
    return resample(x, sr, SR)


# ---------------------------------------------------------------- room impulse responses


def room_rir(index: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(rir to the speech source, rir to the noise source, rt60) of seeded room `index`, peak-aligned at 0."""
    import pyroomacoustics as pra

    rng = np.random.default_rng([15485863, index])
    dim = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
    rt60 = float(rng.uniform(0.2, 1.0))
    energy, _ = pra.inverse_sabine(rt60, dim.tolist())
    room = pra.ShoeBox(dim.tolist(), fs=SR, materials=pra.Material(float(energy)), max_order=8)
    mic = dim * rng.uniform(0.2, 0.8, 3)
    for _ in range(2):
        room.add_source((dim * rng.uniform(0.1, 0.9, 3)).tolist())
    room.add_microphone(mic.tolist())
    room.compute_rir()
    out = []
    for s in range(2):
        h = np.asarray(room.rir[0][s], dtype=np.float64)
        h = h[int(np.argmax(np.abs(h))):]  # direct path at 0: labels stay aligned with the dry source
        n = int(rt60 * SR)
        t = np.arange(n) / SR
        tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
        e0 = np.sqrt(np.mean(h[-200:] ** 2)) if len(h) > 200 else 0.05
        tail *= e0 / (np.sqrt(np.mean(tail[:200] ** 2)) + 1e-12)
        m = min(len(h), n)
        full = tail.copy()
        full[:m] = np.where(np.arange(m) < len(h), h[:m], 0) + tail[:m] * np.linspace(0, 1, m)
        if len(h) > n:
            full = h
        out.append((full / (np.abs(full).max() + 1e-12)).astype(np.float32))
    return out[0], out[1], rt60
