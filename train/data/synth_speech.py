"""Synthetic speech: espeak-ng (many languages and voice variants, random speed and pitch) and flite.

Item `i` of the pool is fully determined by `i` (voice, text, speed, pitch), so a bigger pool extends a
smaller one and rendered items are shared through the cache. Text is digits (spoken natively by every
espeak language) mixed with pseudo-words built from common syllables.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data.audio_io import read_audio_native
from train.errors import DataError

ESPEAK_LANGS = ("en-us", "en-gb", "es", "fr-fr", "de", "it", "pt", "pt-br", "nl", "pl", "ru", "sv", "cs",
                "da", "fi", "el", "hu", "ro", "tr", "id", "hi", "vi", "sk", "hr", "bg", "uk", "ca", "nb")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "adam", "Alex",
                   "Andrea", "Annie", "antonio", "belinda", "benjamin", "david", "edward", "gustave",
                   "john", "linda", "max", "michel", "norbert", "paul", "pablo", "robert", "steph",
                   "victor", "klatt", "klatt2", "klatt3")
FLITE_VOICES = ("awb", "rms", "slt", "kal16")  # the 16 kHz voices (kal is 8 kHz)
_SYL = ("ka", "to", "mi", "ne", "ra", "lu", "so", "be", "da", "fi", "go", "pa", "ti", "ve", "sha", "lo",
        "ma", "ri", "en", "an", "or", "el", "us", "in", "ko", "za", "ju", "he", "wa", "de")
_EN_WORDS = ("the", "people", "water", "number", "please", "call", "again", "later", "morning", "house",
             "open", "river", "system", "message", "record", "after", "before", "green", "small", "city",
             "light", "music", "today", "thank", "you", "your", "account", "press", "seven", "nine", "hello",
             "world", "station", "weather", "coffee", "window", "travel", "letter", "simple", "quiet")


@dataclass(frozen=True)
class SynthItem:
    index: int
    engine: str  # espeak | flite
    voice: str  # espeak language or flite voice
    variant: str
    speed: int
    pitch: int
    text: str

    @property
    def group(self) -> str:  # split unit: all variants of one espeak language together
        return f"espeak:{self.voice}" if self.engine == "espeak" else f"flite:{self.voice}"

    @property
    def speaker(self) -> str:
        return f"espeak:{self.voice}+{self.variant}" if self.engine == "espeak" else f"flite:{self.voice}"

    @property
    def language(self) -> str:
        return self.voice.split("-")[0] if self.engine == "espeak" else "en"

    @property
    def id(self) -> str:
        return f"synth/{self.engine}/{self.index:05d}"

    def key(self) -> str:
        return hashlib.sha1(repr(self).encode()).hexdigest()


def synth_item(i: int, flite_share: float = 0.2) -> SynthItem:
    rng = np.random.default_rng([7919, i])
    n_words = int(rng.integers(2, 9))
    words = []
    engine = "flite" if rng.random() < flite_share else "espeak"
    for _ in range(n_words):
        r = rng.random()
        if r < 0.35:
            words.append(str(int(rng.integers(0, 10 ** int(rng.integers(1, 5))))))
        elif engine == "flite" or r < 0.55:
            words.append(str(rng.choice(_EN_WORDS)))
        else:
            words.append("".join(rng.choice(_SYL) for _ in range(int(rng.integers(1, 4)))))
    text = " ".join(words)
    if engine == "flite":
        return SynthItem(i, "flite", str(rng.choice(FLITE_VOICES)), "", int(rng.integers(80, 125)),
                         int(rng.integers(80, 180)), text)
    return SynthItem(i, "espeak", str(rng.choice(ESPEAK_LANGS)), str(rng.choice(ESPEAK_VARIANTS)),
                     int(rng.integers(110, 230)), int(rng.integers(20, 85)), text)


def render(item: SynthItem) -> tuple[np.ndarray, int]:
    """(float32 mono samples, native sample rate) of one item."""
    with tempfile.TemporaryDirectory(prefix="nb-tts-") as tmp:
        out = Path(tmp) / "x.wav"
        if item.engine == "espeak":
            exe = shutil.which("espeak-ng")
            cmd = [exe or "espeak-ng", "-v", f"{item.voice}+{item.variant}", "-s", str(item.speed), "-p",
                   str(item.pitch), "-w", str(out), item.text]
        else:
            exe = shutil.which("flite")
            # speed as duration stretch (100 = normal), pitch as the F0 target mean in Hz
            cmd = [exe or "flite", "-voice", item.voice, "--setf", f"duration_stretch={100 / item.speed:.3f}",
                   "--setf", f"int_f0_target_mean={item.pitch}", "-t", item.text, "-o", str(out)]
        if exe is None:
            raise DataError(f"{cmd[0]} not found (apt-get install espeak-ng flite)")
        r = subprocess.run(cmd, capture_output=True, timeout=60)
        if r.returncode != 0 or not out.is_file():
            raise DataError(f"{item.id}: {cmd[0]} failed: {r.stderr.decode(errors='replace')[:200]}")
        return read_audio_native(out)
