"""ASVspoof 2019 LA and 2021 LA/DF as users have them on disk.

ASVspoof 2019 LA (the extracted `LA.zip`; `root` may be the folder holding `LA/` or `LA/` itself):
    ASVspoof2019_LA_{train,dev,eval}/flac/<file>.flac
    ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
        lines: `speaker file - system_id key`, e.g. `LA_0079 LA_T_1138215 - - bonafide`,
        `LA_0079 LA_T_1271820 - A01 spoof` (system id "-" for bona fide)
    ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt  (optional, for t-DCF)
        lines: `speaker key score` with key target|nontarget|spoof (the 6-column variant of the t-DCF
        package, `... key score` with key and score last, is accepted too)
Splits: train/dev/eval -> train/dev/test; attack = system id (A01..A19); attack_seen = the system id (or the
algorithm it re-uses: A16 = A04, A19 = A06 per the ASVspoof 2019 evaluation plan) occurs in train.

ASVspoof 2021 LA / DF eval (audio `ASVspoof2021_{LA,DF}_eval*/flac/*.flac`, keys from the eval package
`keys/{LA,DF}/CM/trial_metadata.txt`, also found one folder deeper, e.g. `LA-keys-full/keys/...`):
    LA: `speaker file codec transmission attack key trim subset`
        e.g. `LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval`
    DF: `speaker file codec source attack key trim subset vocoder - - - -`
        e.g. `LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval traditional_vocoder - - - -`
All trials (subsets progress/eval/hidden) go to split test; `source` holds "codec/transmission" (LA) or
"codec/source" (DF); attack_seen follows the 2019 LA train attacks (A01..A06, and A16/A19).

Every malformed line or missing audio file is a DataError naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data.spoof import BONAFIDE, SpoofUtt
from train.errors import DataError

PARTS_2019 = (("train", "train.trn", "train"), ("dev", "dev.trl", "dev"), ("eval", "eval.trl", "test"))
TRAIN_ATTACKS_2019 = ("A01", "A02", "A03", "A04", "A05", "A06")
SAME_ALGORITHM = {"A16": "A04", "A19": "A06"}  # eval attacks that re-use a training algorithm
ASV_KEYS = ("target", "nontarget", "spoof")


# ---------------------------------------------------------------- detection


def la2019_root(root: str | Path) -> Path | None:
    """The folder holding ASVspoof2019_LA_cm_protocols (root itself or root/LA), or None."""
    root = Path(root)
    for cand in (root, root / "LA"):
        if (cand / "ASVspoof2019_LA_cm_protocols").is_dir():
            return cand
    return None


def keys_file(root: str | Path, track: str) -> Path | None:
    """`keys/<track>/CM/trial_metadata.txt` under root, one or two levels down, or None."""
    root = Path(root)
    rel = Path("keys") / track / "CM" / "trial_metadata.txt"
    for cand in [root / rel, *(p / rel for p in sorted(root.iterdir()) if p.is_dir()),
                 *(q / rel for p in sorted(root.iterdir()) if p.is_dir() for q in sorted(p.iterdir())
                   if q.is_dir())]:
        if cand.is_file():
            return cand
    return None


def detect(root: str | Path) -> str | None:
    """"asvspoof2019la" | "asvspoof2021la" | "asvspoof2021df" | None."""
    root = Path(root)
    if la2019_root(root) is not None:
        return "asvspoof2019la"
    for track in ("LA", "DF"):
        if keys_file(root, track) is not None:
            return f"asvspoof2021{track.lower()}"
    return None


def is_seen(system: str, train_attacks: set[str]) -> bool:
    return system == BONAFIDE or system in train_attacks or SAME_ALGORITHM.get(system) in train_attacks


# ---------------------------------------------------------------- audio


def _duration(path: Path, where: str) -> float:
    import soundfile as sf

    if not path.is_file():
        raise DataError(f"{where}: audio file {path} is missing")
    try:
        info = sf.info(str(path))
    except Exception as e:
        raise DataError(f"{where}: audio file {path} is unreadable ({e})") from None
    return info.frames / info.samplerate if info.samplerate else 0.0


def _audio_index(folders: list[Path]) -> dict[str, Path]:
    """file id (stem) -> audio path, for *.flac and *.wav in the given folders."""
    out: dict[str, Path] = {}
    for d in folders:
        for ext in ("*.flac", "*.wav"):
            for p in d.glob(ext):
                out.setdefault(p.stem, p)
    return out


# ---------------------------------------------------------------- ASVspoof 2019 LA


@dataclass(frozen=True)
class CmTrial:
    speaker: str
    file: str
    system: str  # "bonafide" or A01..A19
    key: str  # bonafide | spoof
    line: int


def _fields(path: Path, what: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, "file:line", whitespace-split fields) of every non-blank line of a protocol/key/score file."""
    if not path.is_file():
        raise DataError(f"{path}: {what} file is missing")
    for n, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        tok = raw.split()
        if tok:
            yield n, f"{path}:{n}", tok


def parse_cm_protocol(path: str | Path) -> list[CmTrial]:
    """ASVspoof 2019 CM protocol lines `speaker file - system key`. DataError names file:line."""
    path = Path(path)
    out = []
    for n, where, tok in _fields(path, "CM protocol"):
        if len(tok) != 5:
            raise DataError(f"{where}: expected 5 fields 'speaker file - system_id bonafide|spoof', "
                            f"got {len(tok)}: {' '.join(tok)[:80]!r}")
        spk, fid, _, system, key = tok
        if key not in ("bonafide", "spoof"):
            raise DataError(f"{where}: key must be 'bonafide' or 'spoof', got {key!r}")
        if key == "spoof" and system == "-":
            raise DataError(f"{where}: spoof trial without a system id")
        if key == "bonafide" and system not in ("-", BONAFIDE):
            raise DataError(f"{where}: bona fide trial with system id {system!r}")
        out.append(CmTrial(spk, fid, BONAFIDE if key == "bonafide" else system, key, n))
    if not out:
        raise DataError(f"{path}: CM protocol file has no trials")
    return out


def protocol_path_2019(root: Path, part: str) -> Path:
    suffix = dict((p, s) for p, s, _ in PARTS_2019)[part]
    return root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{suffix}.txt"


def load_asvspoof2019_la(root: str | Path, parts: tuple[str, ...] = ("train", "dev", "eval")) -> list[SpoofUtt]:
    """The CM trials of the given parts whose protocol file exists (at least one must)."""
    la = la2019_root(root)
    if la is None:
        raise DataError(f"{root}: no ASVspoof2019_LA_cm_protocols folder (in it or in {Path(root) / 'LA'})")
    trials: dict[str, list[CmTrial]] = {}
    for part in parts:
        p = protocol_path_2019(la, part)
        if p.is_file():
            trials[part] = parse_cm_protocol(p)
    if not trials:
        raise DataError(f"{la / 'ASVspoof2019_LA_cm_protocols'}: none of the CM protocol files "
                        f"{[protocol_path_2019(la, p).name for p in parts]} exists")
    train_attacks = ({t.system for t in trials["train"] if t.key == "spoof"} if "train" in trials
                     else set(TRAIN_ATTACKS_2019))
    split_of = {p: s for p, _, s in PARTS_2019}
    out: list[SpoofUtt] = []
    for part, ts in trials.items():
        flac = la / f"ASVspoof2019_LA_{part}" / "flac"
        proto = protocol_path_2019(la, part)
        if not flac.is_dir():
            raise DataError(f"{flac}: audio folder is missing (needed by {proto})")
        for t in ts:
            audio = flac / f"{t.file}.flac"
            where = f"{proto}:{t.line}"
            out.append(SpoofUtt(id=t.file, split=split_of[part], audio=audio.resolve(), label=t.key,
                                attack=t.system, attack_seen=is_seen(t.system, train_attacks), speaker=t.speaker,
                                duration_s=_duration(audio, where)))
    return out


def asv_scores_path_2019(root: str | Path, part: str) -> Path | None:
    la = la2019_root(root)
    if la is None:
        return None
    p = la / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{part}.gi.trl.scores.txt"
    return p if p.is_file() else None


def parse_asv_scores(path: str | Path) -> dict[str, np.ndarray]:
    """ASV score file -> {"target": scores, "nontarget": scores, "spoof": scores} (float64 arrays)."""
    path = Path(path)
    got: dict[str, list[float]] = {k: [] for k in ASV_KEYS}
    for _n, where, tok in _fields(path, "ASV score"):
        if len(tok) < 3:
            raise DataError(f"{where}: expected 'speaker target|nontarget|spoof score', got {' '.join(tok)[:80]!r}")
        key, val = tok[-2], tok[-1]
        if key not in ASV_KEYS:
            raise DataError(f"{where}: key must be one of {ASV_KEYS}, got {key!r}")
        try:
            s = float(val)
        except ValueError:
            raise DataError(f"{where}: score {val!r} is not a number") from None
        if not np.isfinite(s):
            raise DataError(f"{where}: score {val!r} is not finite")
        got[key].append(s)
    if not got["target"] or not got["nontarget"]:
        raise DataError(f"{path}: needs both target and nontarget trials "
                        f"(got {len(got['target'])} target, {len(got['nontarget'])} nontarget)")
    return {k: np.asarray(v, dtype=np.float64) for k, v in got.items()}


def load_asv_scores_2019(root: str | Path, part: str = "eval") -> dict[str, np.ndarray] | None:
    """The organisers' ASV scores of `part` (dev|eval) if the file is present, else None."""
    if part not in ("dev", "eval"):
        raise DataError(f"ASV scores exist for dev and eval only, not {part!r}")
    p = asv_scores_path_2019(root, part)
    return parse_asv_scores(p) if p is not None else None


# ---------------------------------------------------------------- ASVspoof 2021 LA / DF


def parse_trial_metadata(path: str | Path, track: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a 2021 `trial_metadata.txt` (LA: 8 fields, DF: >= 8). DataError on bad lines."""
    path = Path(path)
    out = []
    for n, where, tok in _fields(path, "trial metadata"):
        if len(tok) < 8:
            layout = ("speaker file codec transmission attack key trim subset" if track == "LA"
                      else "speaker file codec source attack key trim subset vocoder ...")
            raise DataError(f"{where}: expected >= 8 fields '{layout}', got {len(tok)}: {' '.join(tok)[:80]!r}")
        if tok[5] not in ("bonafide", "spoof"):
            raise DataError(f"{where}: key (6th field) must be 'bonafide' or 'spoof', got {tok[5]!r}")
        if tok[5] == "spoof" and tok[4] == "-":
            raise DataError(f"{where}: spoof trial without an attack id")
        out.append((n, tok))
    if not out:
        raise DataError(f"{path}: no trials")
    return out


def load_asvspoof2021(root: str | Path, track: str = "LA") -> list[SpoofUtt]:
    """ASVspoof 2021 LA or DF eval trials (split test)."""
    if track not in ("LA", "DF"):
        raise DataError(f"ASVspoof 2021 track must be LA or DF, got {track!r}")
    root = Path(root)
    keys = keys_file(root, track)
    if keys is None:
        raise DataError(f"{root}: no keys/{track}/CM/trial_metadata.txt (from the ASVspoof 2021 eval package)")
    rows = parse_trial_metadata(keys, track)
    folders = sorted({p for p in root.glob(f"ASVspoof2021_{track}_eval*/flac") if p.is_dir()}
                     | {p for p in root.glob(f"*/ASVspoof2021_{track}_eval*/flac") if p.is_dir()})
    if not folders:
        raise DataError(f"{root}: no ASVspoof2021_{track}_eval*/flac audio folder (needed by {keys})")
    index = _audio_index(folders)
    train = set(TRAIN_ATTACKS_2019)
    out = []
    for n, tok in rows:
        spk, fid, codec, chan, attack, key = tok[:6]
        where = f"{keys}:{n}"
        audio = index.get(fid)
        if audio is None:
            raise DataError(f"{where}: audio file {fid}.flac is missing from {', '.join(map(str, folders))}")
        system = BONAFIDE if key == "bonafide" else attack
        out.append(SpoofUtt(id=fid, split="test", audio=audio.resolve(), label=key, attack=system,
                            attack_seen=is_seen(system, train), speaker=spk, duration_s=_duration(audio, where),
                            source=f"{codec}/{chan}"))
    return out
