"""Inventory of the audio sources installed from Debian packages (and of user class folders).

A `Source` is one file with its kind (speech or noise), category, speaker, language and *group*: the unit
that goes to one split as a whole (a speaker, or a language for voices of one synthesizer). Splits are
assigned per category to groups, never to files, so no speaker (and, for KLettres/espeak, no language of
that category) is shared between train, dev and test.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from train.data.audio_io import AUDIO_EXTS

ASTERISK = Path("/usr/share/asterisk/sounds")
MOH = Path("/usr/share/asterisk/moh")
KLETTRES = Path("/usr/share/klettres")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

SPLIT_TARGET = {"train": 0.8, "dev": 0.1, "test": 0.1}
SPLIT_SEED = 20260101  # fixed: corpora built with different --seed share one speaker split


@dataclass(frozen=True)
class Source:
    id: str
    path: str
    kind: str  # "speech" | "noise"
    category: str  # asterisk, klettres, pocketsphinx, freedesktop, moh, ui, speech-dir, noise-dir
    speaker: str
    group: str
    language: str
    native_sr: int


def _lang(code: str) -> str:
    return code.split("_")[0].split("-")[0].lower()


# Asterisk prompts that are tones, beeps, silence or animal noises, not speech
ASTERISK_NOT_SPEECH = re.compile(r"^(silence/.*|.*2tone|beep|beeperr|confbridge-(join|leave)(-in|-out)?|tt-monkeys)$")


def asterisk_sources(root: Path = ASTERISK, use_g722: bool = True) -> list[Source]:
    out = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        parts = d.name.split("_")  # en_US_f_Allison
        if len(parts) < 4:
            continue
        lang, voice = _lang(parts[0]), "_".join(parts[3:])
        spk = f"asterisk:{voice}"  # Allison reads the en and es sets: one speaker, one split
        for f in sorted(d.rglob("*")):
            ext = f.suffix.lower()
            if f.is_file() and (ext == ".wav" or (ext == ".g722" and use_g722)):
                sr = 16000 if ext == ".g722" else 8000
                rel = f.relative_to(root)
                if ASTERISK_NOT_SPEECH.match(f.relative_to(d).with_suffix("").as_posix()):
                    continue
                out.append(Source(f"asterisk/{rel}", str(f), "speech", "asterisk", spk, spk, lang, sr))
    return out


def klettres_sources(root: Path = KLETTRES) -> list[Source]:
    out = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        spk = f"klettres:{d.name}"  # one recorded voice per language folder
        for f in sorted(d.rglob("*.ogg")):
            rel = f.relative_to(root)
            out.append(Source(f"klettres/{rel}", str(f), "speech", "klettres", spk, spk, _lang(d.name), 44100))
    return out


def pocketsphinx_sources(root: Path = POCKETSPHINX) -> list[Source]:
    out = []
    if not root.is_dir():
        return out
    for f in sorted(list(root.rglob("*.wav")) + list(root.rglob("*.raw"))):
        rel = f.relative_to(root)
        spk = f"pocketsphinx:{rel.parts[0] if len(rel.parts) > 1 else f.stem}"
        out.append(Source(f"pocketsphinx/{rel}", str(f), "speech", "pocketsphinx", spk, spk, "en", 16000))
    return out


def freedesktop_sources(root: Path = FREEDESKTOP) -> list[Source]:
    """UI sounds are noise, except `audio-channel-*`, which are a spoken voice."""
    out = []
    if not root.is_dir():
        return out
    for f in sorted(root.glob("*.oga")):
        if f.name.startswith("audio-channel-"):
            out.append(Source(f"freedesktop/{f.name}", str(f), "speech", "freedesktop", "freedesktop:voice",
                              "freedesktop:voice", "en", 48000))
        else:
            out.append(Source(f"freedesktop/{f.name}", str(f), "noise", "ui", "", f"ui:{f.stem}", "", 44100))
    return out


def moh_sources(root: Path = MOH) -> list[Source]:
    if not root.is_dir():
        return []
    return [Source(f"moh/{f.name}", str(f), "noise", "moh", "", f"moh:{f.stem}", "", 8000)
            for f in sorted(root.glob("*.wav"))]


_ESC50 = re.compile(r"^(\d+)-(\d+)-[A-Z]-(\d+)$")
_SPEECH_COMMANDS = re.compile(r"^([0-9a-f]{8})_nohash_\d+$")


def _native_sr(path: Path) -> int:
    try:
        import soundfile as sf

        return int(sf.info(str(path)).samplerate)
    except Exception:
        return 16000


def folder_sources(root: str | Path, kind: str) -> list[Source]:
    """Class folders as extra sources (MUSAN, ESC-50, Speech Commands and the like), recursively.

    Groups: ESC-50 files by their source recording id; Speech Commands files by speaker hash; otherwise by
    the file's parent folder (speech: the folder is the speaker) or the file itself (noise).
    """
    root = Path(root)
    out = []
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTS):
        rel = f.relative_to(root)
        tag = f"{kind}-dir:{root.name}"
        m_esc, m_sc = _ESC50.match(f.stem), _SPEECH_COMMANDS.match(f.stem)
        if m_sc:
            spk = f"{tag}:{m_sc.group(1)}"
        elif m_esc:
            spk = f"{tag}:esc{m_esc.group(2)}"
        elif kind == "speech":
            spk = f"{tag}:{rel.parent}"
        else:
            spk = f"{tag}:{rel.with_suffix('')}"
        out.append(Source(f"{tag}/{rel}", str(f), kind, f"{kind}-dir", spk if kind == "speech" else "", spk,
                          "und" if kind == "speech" else "", _native_sr(f)))
    return out


def debian_sources(use_g722: bool = True) -> list[Source]:
    return (asterisk_sources(use_g722=use_g722) + klettres_sources() + pocketsphinx_sources()
            + freedesktop_sources() + moh_sources())


def _rank(key: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def assign_groups(weights: dict[str, float], seed: int = SPLIT_SEED,
                  target: dict[str, float] = SPLIT_TARGET) -> dict[str, str]:
    """Groups -> split, greedily filling the split furthest below its target share (by weight).

    With >= 3 groups every split gets at least one. Deterministic for a seed.
    """
    order = sorted(weights, key=lambda g: _rank(g, seed))
    total = sum(weights.values()) or 1.0
    have = dict.fromkeys(target, 0.0)
    out: dict[str, str] = {}
    if len(order) >= 3:  # the smallest shares first get one group each
        for split, g in zip(sorted(target, key=lambda s: target[s]), order[:2], strict=False):
            out[g] = split
            have[split] += weights[g]
        order = order[2:]
    for g in order:
        split = min(target, key=lambda s: (have[s] / total - target[s]) / target[s])
        out[g] = split
        have[split] += weights[g]
    return out


def split_sources(sources: list[Source], seed: int = SPLIT_SEED) -> dict[str, str]:
    """Group -> split, assigned within each category (weight = file count)."""
    out: dict[str, str] = {}
    cats = sorted({s.category for s in sources})
    for cat in cats:
        w: dict[str, float] = {}
        for s in sources:
            if s.category == cat:
                w[s.group] = w.get(s.group, 0.0) + 1.0
        out.update(assign_groups(w, seed))
    return out
