"""`build_corpus`: the offline VAD corpus, deterministic from a seed.

Three stages: (1) prepare the sources it needs (decode, resample to 16 kHz, derive labels, reject sources
with too little dynamic range), cached under `<cache>/data/`; (2) plan every clip in one seeded pass
(split, band, sources and offsets, SNR, gain, reverb), so the synthetic-speech cap and split shares are
exact; (3) render the clips in parallel into a temporary folder that is renamed onto the output at the
end (an interrupted build leaves nothing half-written).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

import numpy as np

from train.atomic import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text
from train.data import noise as noise_mod
from train.data import synth_speech
from train.data.audio_io import SR, read_audio_native, resample, wav_bytes
from train.data.corpus import SPLITS, Clip, manifest_text, split_stats
from train.data.labels import HOP, speech_labels
from train.data.mix import npy_bytes, render_clip
from train.data.sources import (
    SPLIT_SEED,
    SPLIT_TARGET,
    Source,
    assign_groups,
    debian_sources,
    folder_sources,
    split_sources,
)
from train.errors import DataError, UsageError

CACHE_VERSION = "v1"
N_ROOMS = 24
BANDS_HI = ((3400.0, 0.3), (3800.0, 0.25), (5500.0, 0.1), (7000.0, 0.15), (7900.0, 0.2))
CATEGORY_WEIGHTS = {"asterisk": 4.0, "klettres": 1.5, "pocketsphinx": 1.5, "freedesktop": 0.3, "speech-dir": 4.0,
                    "espeak": 3.0, "flite": 1.0, "music": 1.0, "moh": 1.0, "ui": 1.0, "noise-dir": 1.0}
NOISE_KINDS = (("colour", 0.3), ("music", 0.25), ("moh", 0.15), ("ui", 0.15), ("extra", 0.2))


@dataclass
class BuildConfig:
    minutes: float = 60.0
    seed: int = 0
    jobs: int = 2
    synth_share: float = 0.3
    synth_cap: float = 0.35
    negative_share: float = 0.15
    reverb_share: float = 0.3
    clip_s: tuple[float, float] = (6.0, 12.0)
    gap_s: tuple[float, float] = (0.3, 3.0)
    snr_db: tuple[float, float] = (-5.0, 20.0)
    gain_dbfs: tuple[float, float] = (-40.0, 0.0)
    noise_dirs: list[str] = field(default_factory=list)
    speech_dirs: list[str] = field(default_factory=list)
    use_g722: bool = True
    skip_bad: bool = False  # unreadable files in --noise-dir/--speech-dir: skip (listed) instead of DataError
    split_seed: int = SPLIT_SEED


def default_out(minutes: float, seed: int) -> Path:
    return Path(".cache") / "corpus" / f"vad-{minutes:g}m-s{seed}"


# ---------------------------------------------------------------- stage 1: prepared sources (cached)


@dataclass(frozen=True)
class Prepared:
    id: str
    path: str | None  # cache file (npz: audio int16, labels uint8) or None if rejected
    n: int
    native_sr: int
    reason: str = ""


def _file_key(src: Source) -> str:
    st = os.stat(src.path)
    return hashlib.sha1(f"{CACHE_VERSION}|{src.path}|{st.st_size}|{st.st_mtime_ns}|{src.kind}".encode()).hexdigest()


def _store(cache: Path, key: str, audio: np.ndarray, labels: np.ndarray | None, native_sr: int) -> Path:
    import io

    path = cache / key[:2] / f"{key}.npz"
    buf = io.BytesIO()
    arrays = {"audio": np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16),
              "native_sr": np.array(native_sr)}
    if labels is not None:
        arrays["labels"] = labels
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _trim(x: np.ndarray, lab: np.ndarray, pad: int = 10) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(lab)
    a, b = max(int(idx[0]) - pad, 0), min(int(idx[-1]) + 1 + pad, len(lab))
    return x[a * HOP : b * HOP], lab[a:b]


def prepare(task: tuple[str, object, str]) -> Prepared:
    """Decode/synthesize one source into the cache (or find it there). Runs in worker processes."""
    kind, obj, cache_s = task
    cache = Path(cache_s)
    if kind == "file":
        src: Source = obj  # type: ignore[assignment]
        key, sid, is_speech = _file_key(src), src.id, src.kind == "speech"
    elif kind == "synth":
        key, sid, is_speech = obj.key(), obj.id, True  # type: ignore[attr-defined]
    else:
        key, sid, is_speech = obj.key(), obj.id, False  # type: ignore[attr-defined]
    path, rej = cache / key[:2] / f"{key}.npz", cache / key[:2] / f"{key}.rejected"
    if path.is_file():
        with np.load(path) as z:
            return Prepared(sid, str(path), int(z["audio"].shape[0]), int(z["native_sr"]))
    if rej.is_file():
        return Prepared(sid, None, 0, 0, rej.read_text())
    try:
        if kind == "file":
            try:
                x, sr = read_audio_native(src.path)
            except DataError as e:
                raise DataError(f"unreadable: {e}") from None
        elif kind == "synth":
            x, sr = synth_speech.render(obj)  # type: ignore[arg-type]
        else:
            x, sr = noise_mod.render_music(obj), SR  # type: ignore[arg-type]
        x = resample(x, sr, SR)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak <= 0:
            raise DataError(f"{sid}: silent")
        x = x / peak * 0.9
        lab = None
        if is_speech:
            lab = speech_labels(x, name=sid)
            if not lab.any():
                raise DataError(f"{sid}: no active frames")
            x, lab = _trim(x, lab)
        elif len(x) < SR // 10:
            raise DataError(f"{sid}: shorter than 0.1 s")
    except DataError as e:
        atomic_write_bytes(rej, str(e).encode())
        return Prepared(sid, None, 0, 0, str(e))
    p = _store(cache, key, x, lab, sr)
    return Prepared(sid, str(p), len(x), sr)


def _rir_task(task: tuple[int, str]) -> tuple[int, str]:
    index, cache_s = task
    path = Path(cache_s) / "rir" / f"room-{CACHE_VERSION}-{index:03d}.npz"
    if not path.is_file():
        import io

        h_s, h_n, rt60 = noise_mod.room_rir(index)
        buf = io.BytesIO()
        np.savez(buf, speech=h_s, noise=h_n, rt60=np.array(rt60))
        atomic_write_bytes(path, buf.getvalue())
    return index, str(path)


def _pmap(fn: Callable, tasks: list, ex: ProcessPoolExecutor | None, desc: str, progress: bool) -> list:
    """[fn(t) for t in tasks], in order, in the worker pool `ex` (inline if None or few tasks)."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="it", disable=not progress, leave=False)
    out = []
    try:
        if ex is None or len(tasks) < 8:
            for t in tasks:
                out.append(fn(t))
                bar.update()
        else:
            for r in ex.map(fn, tasks, chunksize=max(1, min(16, len(tasks) // (ex._max_workers * 8)))):
                out.append(r)
                bar.update()
    finally:
        bar.close()
    return out


# ---------------------------------------------------------------- stage 2: the plan


def _choice(rng: np.random.Generator, pairs: Iterable[tuple[str, float]]) -> str:
    pairs = [(k, w) for k, w in pairs if w > 0]
    w = np.array([p[1] for p in pairs], dtype=np.float64)
    return pairs[int(rng.choice(len(pairs), p=w / w.sum()))][0]


class _Item(NamedTuple):
    id: str
    group: str
    n: int
    native_sr: int
    category: str


class _Pool:
    """Prepared sources of one kind in one split, drawn category first (CATEGORY_WEIGHTS), then group
    (weight sqrt(size)), then file: a few big groups or many small ones do not swamp the corpus."""

    def __init__(self, items: list[_Item]):
        self.items = items
        self.by_group: dict[str, list[int]] = {}
        self.cat_groups: dict[str, list[str]] = {}
        for i, it in enumerate(items):
            if it.group not in self.by_group:
                self.cat_groups.setdefault(it.category, []).append(it.group)
            self.by_group.setdefault(it.group, []).append(i)

    def subset(self, min_sr: int) -> _Pool:
        return _Pool([it for it in self.items if it.native_sr >= min_sr])

    def __bool__(self) -> bool:
        return bool(self.items)

    def pick_groups(self, rng: np.random.Generator, k: int) -> list[str]:
        if not self.items:
            return []
        cats = sorted(self.cat_groups)
        cw = np.array([CATEGORY_WEIGHTS.get(c, 1.0) for c in cats])
        out = []
        for _ in range(k):
            groups = self.cat_groups[cats[int(rng.choice(len(cats), p=cw / cw.sum()))]]
            w = np.sqrt([len(self.by_group[g]) for g in groups])
            out.append(groups[int(rng.choice(len(groups), p=w / w.sum()))])
        return out

    def draw(self, rng: np.random.Generator, groups: list[str] | None = None) -> _Item:
        """One source: from one of `groups` (the clip's speakers) if given, else category/group first."""
        g = groups[int(rng.integers(len(groups)))] if groups else self.pick_groups(rng, 1)[0]
        return self.items[self.by_group[g][int(rng.integers(len(self.by_group[g])))]]


def _fill(rng: np.random.Generator, pool: _Pool, n: int) -> list[list]:
    """Excerpts of pool sources laid end to end over n samples: [id, start, dst, length]."""
    items, t = [], 0
    while t < n:
        sid, _, ln, _, _ = pool.draw(rng)
        length = min(n - t, ln)
        start = int(rng.integers(0, ln - length + 1))
        items.append([sid, start, t, length])
        t += length
    return items


def _events(rng: np.random.Generator, pool: _Pool, n: int) -> list[list]:
    items, t = [], int(rng.uniform(0, 1.0) * SR)
    while t < n:
        sid, _, ln, _, _ = pool.draw(rng)
        length = min(ln, n - t)
        items.append([sid, 0, t, length])
        t += length + int(rng.uniform(0.2, 2.5) * SR)
    return items


def _gap(rng: np.random.Generator, lo_hi: tuple[float, float]) -> int:
    """A pause between utterances: log-uniform in lo_hi seconds, on the 10 ms grid."""
    lo, hi = lo_hi
    return int(np.exp(rng.uniform(np.log(lo), np.log(hi))) * SR) // HOP * HOP


def plan_clips(cfg: BuildConfig, pools: dict[str, dict[str, _Pool]], paths: dict[str, str],
               meta: dict[str, dict]) -> list[dict]:
    rng = np.random.default_rng([cfg.seed, 1])
    total = cfg.minutes * 60 * SR
    done = dict.fromkeys(SPLITS, 0)
    speech_s = dict.fromkeys(SPLITS, 0.0)
    synth_s = dict.fromkeys(SPLITS, 0.0)
    plans, i = [], 0
    while sum(done.values()) < total:
        split = min(SPLITS, key=lambda s: (done[s] / total - SPLIT_TARGET[s]) / SPLIT_TARGET[s])
        p = pools[split]
        n = int(rng.uniform(*cfg.clip_s) * SR) // HOP * HOP
        negative = bool(rng.random() < cfg.negative_share)
        hi = float(_choice(rng, [(str(h), w) for h, w in BANDS_HI]))
        lo = float(rng.uniform(0, 300))
        lo = 0.0 if lo < 50 else round(lo, 1)
        wide = hi > 4000
        min_sr = 16000 if wide else 8000
        real, synth = p["speech"].subset(min_sr), p["synth"].subset(min_sr)
        if not negative and not real and not synth:
            hi, wide, min_sr = 3800.0, False, 8000
            real, synth = p["speech"], p["synth"]
        if not real and not synth:
            raise DataError(f"no usable speech source for split {split!r}")
        speech, used = [], []
        if not negative:
            t = _gap(rng, cfg.gap_s)
            k = 1 if rng.random() < 0.6 else 2  # one or two talkers per clip
            g_real, g_syn = real.pick_groups(rng, k), synth.pick_groups(rng, k)
            while True:
                below = synth_s[split] <= cfg.synth_share * speech_s[split]  # steer to the target share
                want_syn = bool(synth) and (not real or (below and rng.random() < 0.5))
                sid, grp, ln, _, _ = synth.draw(rng, g_syn) if want_syn else real.draw(rng, g_real)
                d = ln / SR
                if want_syn and (synth_s[split] + d) / (speech_s[split] + d) > cfg.synth_cap and real:
                    sid, grp, ln, _, _ = real.draw(rng, g_real)
                    d, want_syn = ln / SR, False
                if t + ln > n:
                    if speech:
                        break
                    n = min(((t + ln) // HOP + 1) * HOP + _gap(rng, cfg.gap_s),
                            int(30 * SR))
                    ln = min(ln, n - t)
                speech.append([sid, t, round(float(rng.uniform(-6, 6)), 2)])
                used.append(sid)
                speech_s[split] += d
                synth_s[split] += d if want_syn else 0.0
                t += ln + _gap(rng, cfg.gap_s)
                if t >= n:
                    break
        npool = {k: v.subset(min_sr) for k, v in p.items() if k in ("music", "moh", "ui", "extra")}
        kind = _choice(rng, [(k, w) for k, w in NOISE_KINDS if k == "colour" or npool[k]])
        bed, bed_db = None, 0.0
        if kind == "colour":
            kind = str(rng.choice(noise_mod.COLOURS))
            items: list[list] = []
        elif kind == "ui":
            items = _events(rng, npool["ui"], n)
            bed, bed_db = str(rng.choice(noise_mod.COLOURS)), float(rng.uniform(-35, -15))
        else:
            items = _fill(rng, npool[kind], n)
        if bed is None and rng.random() < 0.3:
            bed, bed_db = str(rng.choice(noise_mod.COLOURS)), float(rng.uniform(-30, -10))
        reverb = int(rng.integers(N_ROOMS)) if rng.random() < cfg.reverb_share else None
        ids = sorted({*used, *(it[0] for it in items)})
        plans.append({
            "id": f"c{i:05d}", "split": split, "n": n, "negative": negative, "band_hz": [lo, hi],
            "snr_db": None if negative else round(float(rng.uniform(*cfg.snr_db)), 2),
            "gain_dbfs": round(float(rng.uniform(*cfg.gain_dbfs)), 2), "reverb": reverb,
            "seed": [cfg.seed, 2, i], "speech": speech,
            "noise": {"kind": kind, "items": items, "bed": bed, "bed_db": round(bed_db, 2)},
            "paths": {k: paths[k] for k in ids},
            "condition": f"{'neg' if negative else 'speech'}+{kind}",
            "speech_sources": sorted(set(used)),
            "noise_sources": sorted({it[0] for it in items}),
            "speakers": sorted({meta[s]["speaker"] for s in used}),
            "languages": sorted({meta[s]["language"] for s in used}),
        })
        done[split] += n
        i += 1
    return plans


# ---------------------------------------------------------------- stage 3: render


_RIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _render_task(task: tuple[dict, str, dict[int, str]]) -> tuple[str, int, int]:
    plan, out_s, rir_paths = task
    rirs = None
    if plan["reverb"] is not None:
        r = plan["reverb"]
        if r not in _RIRS:
            with np.load(rir_paths[r]) as z:
                _RIRS[r] = (z["speech"], z["noise"])
        rirs = _RIRS
    audio, labels, _ = render_clip(plan, rirs)
    out = Path(out_s)
    (out / "audio" / f"{plan['id']}.wav").write_bytes(wav_bytes(audio))
    (out / "labels" / f"{plan['id']}.npy").write_bytes(npy_bytes(labels))
    return plan["id"], int(labels.sum()), len(labels)


def _need(minutes: float, per_minute: float, split: str, extra: int) -> int:
    return int(math.ceil(minutes * per_minute * SPLIT_TARGET[split])) + extra


def build_corpus(out: str | Path | None = None, minutes: float = 60.0, seed: int = 0, *, jobs: int = 2,
                 cache_dir: str | Path = ".cache", progress: bool = False, task: str = "vad", **kw) -> Path:
    """Build the corpus into `out` (default `.cache/corpus/vad-<M>m-s<S>`); returns the corpus folder.

    `kw`: any other BuildConfig field (noise_dirs, speech_dirs, synth_share, synth_cap, skip_bad, ...).
    """
    if task != "vad":
        raise UsageError(f"corpus task {task!r} is not supported (only 'vad')")
    cfg = BuildConfig(minutes=minutes, seed=seed, jobs=jobs, **kw)
    if not (0 < cfg.minutes <= 10000):
        raise UsageError(f"--minutes must be in (0, 10000], got {cfg.minutes}")
    if not (0 <= cfg.synth_share <= cfg.synth_cap <= 1):
        raise UsageError(f"synthetic share {cfg.synth_share} must be within [0, cap={cfg.synth_cap}]")
    out = Path(out) if out is not None else default_out(minutes, seed)
    cache = Path(cache_dir) / "data" / "sources"

    # inventory and speaker splits
    import importlib.util

    if cfg.use_g722 and importlib.util.find_spec("G722") is None:
        cfg.use_g722 = False  # the `g722` package is missing: the 8 kHz wav set of the same voice remains
    sources = debian_sources(use_g722=cfg.use_g722)
    for d in cfg.speech_dirs:
        sources += _user_dir(d, "speech")
    for d in cfg.noise_dirs:
        sources += _user_dir(d, "noise")
    if not any(s.kind == "speech" for s in sources):
        raise DataError("no speech sources found (install the asterisk/klettres/pocketsphinx packages "
                        "or pass --speech-dir)")
    gsplit = split_sources(sources, cfg.split_seed)
    espeak_split = assign_groups({f"espeak:{v}": 1.0 for v in synth_speech.ESPEAK_LANGS}, cfg.split_seed)
    flite_split = assign_groups({f"flite:{v}": 1.0 for v in synth_speech.FLITE_VOICES}, cfg.split_seed)
    gsplit.update(espeak_split)
    gsplit.update(flite_split)

    # choose what to prepare: a seeded, group-first sample per split (small builds decode little)
    rng = np.random.default_rng([cfg.seed, 0])
    tasks: list[tuple[str, object, str]] = []
    meta: dict[str, dict] = {}
    for split in SPLITS:
        for kind, per_min in (("speech", 24.0), ("noise", 1e9)):
            cand = [s for s in sources if s.kind == kind and gsplit[s.group] == split]
            if kind == "speech":
                cand = _sample_group_first(rng, cand, _need(cfg.minutes, per_min, split, 12))
            for s in cand:
                tasks.append(("file", s, str(cache)))
                meta[s.id] = {"group": s.group, "speaker": s.speaker, "language": s.language,
                              "category": s.category, "split": split, "kind": s.kind}
        if cfg.synth_share > 0:
            need, i, got = _need(cfg.minutes, 8.0, split, 6), 0, 0
            while got < need and i < 100000:
                it = synth_speech.synth_item(i)
                i += 1
                if gsplit[it.group] != split:
                    continue
                got += 1
                tasks.append(("synth", it, str(cache)))
                meta[it.id] = {"group": it.group, "speaker": it.speaker, "language": it.language,
                               "category": it.engine, "split": split, "kind": "synth"}
    n_music = max(4, int(math.ceil(cfg.minutes / 3)))
    for i in range(n_music * 2):
        m = noise_mod.MusicItem(i)
        split = "train" if i % 10 < 8 else ("dev" if i % 10 == 8 else "test")
        if sum(1 for v in meta.values() if v["kind"] == "music" and v["split"] == split) >= max(
                1, round(n_music * SPLIT_TARGET[split])):
            continue
        tasks.append(("music", m, str(cache)))
        meta[m.id] = {"group": m.group, "speaker": "", "language": "", "category": "music", "split": split,
                      "kind": "music"}

    ex = ProcessPoolExecutor(cfg.jobs, mp_context=get_context("forkserver")) if cfg.jobs > 1 else None
    try:
        return _build(cfg, out, cache_dir, progress, tasks, meta, ex)
    finally:
        if ex is not None:
            ex.shutdown(cancel_futures=True)


def _build(cfg: BuildConfig, out: Path, cache_dir: str | Path, progress: bool, tasks: list, meta: dict,
           ex: ProcessPoolExecutor | None) -> Path:
    prepared = _pmap(prepare, tasks, ex, "sources", progress)
    rir_paths = dict(_pmap(_rir_task, [(i, str(Path(cache_dir) / "data")) for i in range(N_ROOMS)], ex,
                           "rooms", progress))
    paths = {p.id: p.path for p in prepared if p.path}
    lengths = {p.id: p.n for p in prepared if p.path}
    rejected = sorted((p.id, p.reason) for p in prepared if not p.path)
    bad_user = [(i, r) for i, r in rejected if r.startswith("unreadable") and meta[i]["category"].endswith("-dir")]
    if bad_user and not cfg.skip_bad:
        more = f" (and {len(bad_user) - 1} more; --skip-bad skips them)" if len(bad_user) > 1 else ""
        raise DataError(bad_user[0][1].removeprefix("unreadable: ") + more)

    pools: dict[str, dict[str, list]] = {s: {k: [] for k in ("speech", "synth", "music", "moh", "ui", "extra")}
                                         for s in SPLITS}
    for p in prepared:
        if not p.path:
            continue
        m = meta[p.id]
        k = {"speech": "speech", "synth": "synth", "music": "music"}.get(m["kind"])
        if k is None:
            k = {"moh": "moh", "ui": "ui"}.get(m["category"], "extra")
        pools[m["split"]][k].append(_Item(p.id, m["group"], p.n, p.native_sr, m["category"]))
    for split in SPLITS:
        if not pools[split]["speech"] and not pools[split]["synth"]:
            raise DataError(f"no speech source left for split {split!r} ({len(rejected)} rejected)")
    pool_objs = {s: {k: _Pool(v) for k, v in d.items()} for s, d in pools.items()}
    plans = plan_clips(cfg, pool_objs, paths, meta)

    with atomic_path(out) as tmp:
        (tmp / "audio").mkdir(parents=True)
        (tmp / "labels").mkdir()
        results = _pmap(_render_task, [(p, str(tmp), rir_paths) for p in plans], ex, "clips", progress)
        frames = {cid: (s, n) for cid, s, n in results}
        clips = [Clip(id=p["id"], split=p["split"], audio=f"audio/{p['id']}.wav", labels=f"labels/{p['id']}.npy",
                      speech_sources=p["speech_sources"], noise_sources=p["noise_sources"],
                      speakers=p["speakers"], languages=p["languages"], snr_db=p["snr_db"],
                      condition=p["condition"], gain_dbfs=p["gain_dbfs"], reverb=p["reverb"] is not None,
                      band_hz=p["band_hz"], negative=p["negative"], duration_s=p["n"] / SR) for p in plans]
        atomic_write_text(tmp / "manifest.jsonl", manifest_text(clips))
        stats = split_stats(clips)
        for s in SPLITS:
            f1 = sum(frames[c.id][0] for c in clips if c.split == s)
            fn = sum(frames[c.id][1] for c in clips if c.split == s)
            stats[s]["speech_fraction"] = round(f1 / fn, 4) if fn else 0.0
            syn = [u for c in clips if c.split == s for u in c.speech_sources if u.startswith("synth/")]
            stats[s]["synthetic_utterances"] = len(syn)
        used = sorted({u for c in clips for u in c.speech_sources + c.noise_sources})
        cats: dict[str, int] = {}
        for u in used:
            cats[meta[u]["category"]] = cats.get(meta[u]["category"], 0) + 1
        conditions: dict[str, int] = {}
        for c in clips:
            conditions[c.condition] = conditions.get(c.condition, 0) + 1
        atomic_write_json(tmp / "corpus.json", {
            "task": "vad", "seed": cfg.seed, "minutes": cfg.minutes, "sample_rate": SR, "hop": HOP,
            "splits": stats, "conditions": dict(sorted(conditions.items())),
            "synthetic_speech_share": {s: _syn_share(plans, meta, lengths, s) for s in SPLITS},
            "sources_used_by_category": dict(sorted(cats.items())),
            "groups": dict(sorted({meta[u]["group"]: meta[u]["split"] for u in used}.items())),
            "rejected_sources": [{"id": i, "reason": r} for i, r in rejected],
            "config": {k: v for k, v in cfg.__dict__.items() if k not in ("jobs",)},
        })
    return out


def _syn_share(plans: list[dict], meta: dict, lengths: dict[str, int], split: str) -> float:
    tot = syn = 0.0
    for p in plans:
        if p["split"] != split:
            continue
        for sid, _, _ in p["speech"]:
            n = lengths[sid]
            tot += n
            syn += n if meta[sid]["kind"] == "synth" else 0
    return round(syn / tot, 4) if tot else 0.0


def _sample_group_first(rng: np.random.Generator, cand: list[Source], k: int) -> list[Source]:
    by: dict[str, list[Source]] = {}
    for s in cand:
        by.setdefault(s.group, []).append(s)
    for g in by:
        by[g] = [by[g][j] for j in rng.permutation(len(by[g]))]
    groups = sorted(by)
    out, pos = [], dict.fromkeys(groups, 0)
    while len(out) < k and any(pos[g] < len(by[g]) for g in groups):
        live = [g for g in groups if pos[g] < len(by[g])]
        w = np.sqrt([len(by[g]) for g in live])
        g = live[int(rng.choice(len(live), p=w / w.sum()))]
        out.append(by[g][pos[g]])
        pos[g] += 1
    return out


def _user_dir(d: str, kind: str) -> list[Source]:
    p = Path(d)
    if not p.is_dir():
        raise UsageError(f"--{kind}-dir {d}: not a folder")
    found = folder_sources(p, kind)
    if not found:
        raise DataError(f"--{kind}-dir {d}: no audio files found")
    return found


def corpus_summary(corpus_dir: str | Path) -> dict:
    return json.loads((Path(corpus_dir) / "corpus.json").read_text())
