"""`build_spoof_corpus`: the offline anti-spoofing corpus (contract G), deterministic from a seed.

Bona fide = the real read speech of the VAD corpus sources (Asterisk prompts, KLettres, pocketsphinx test
data, the freedesktop voice). Spoofed = TTS engines and vocoders resynthesising that real speech
(`train.data.spoof_attacks`).

Protocol
- Splits by speaker: real speakers use the VAD corpus speaker split (same SPLIT_SEED), TTS voices are split
  by voice group (an espeak language with all its variants, a flite/festival voice). Vocoded speech keeps the
  speaker (and therefore the split) of its source.
- Unseen attacks: the HELD_OUT attacks (default flite, festival, lpc) never occur in train OR dev: they
  appear in test only, as in ASVspoof 2019 LA (dev and train share their attacks; eval adds new ones).
  `attack_seen` is False exactly for them. Test has every attack; train and dev the seen ones.
- No trivial shortcut: every utterance, bona fide or spoof, gets the same processing chain with parameters
  drawn from the same distribution, independent of its class and attack:
  1. a window of the target duration (1-4 s, 10 ms grid) cut from a chain of trimmed source utterances
     (silence trimmed the same way for recorded and synthetic speech, gaps of 50-400 ms of silence);
  2. the attack itself (vocoders process the window plus 100 ms of context each side);
  3. narrow bands (upper edge <= 4 kHz): through 8 kHz sampling and back, so recorded 8 kHz prompts and
     wideband TTS share one anti-aliasing filter; then the shared band-pass [lo, hi] of the VAD corpus
     (mix.band_limit) -- wide bands only ever draw sources recorded at >= 16 kHz;
  4. a random smooth equaliser (spectral tilt +-3 dB/octave and two +-4 dB bumps): channel variety;
  5. a noise floor (white/pink/brown) 30-60 dB below the speech and never below -78 dBFS, so digital
     silence of TTS (or its rounding to PCM16 zeros in quiet utterances) is no cue;
  6. peak level `gain_dbfs` in [-35, -1] dBFS.
  Duration, band and gain come from a randomly shifted low-discrepancy (Halton) sequence per (split, attack)
  stream, so their distributions match between classes and attacks closely even in small corpora; EQ, floor
  and attack parameters are seeded iid draws.
- No dominant source: real source files are drawn under a crop budget (`CropBudget`): per split, a file gives
  at most one chain piece per second of its audio (1-4) per round, groups with budget left are drawn by category
  weight (down-weighted when the category holds little audio) and the square root of their budget left; a
  new round starts when the pool is spent. So a short clip that is a category of its own cannot supply a large
  share of a split (before: one 2.4 s clip was 31 % of the 120-min test bona fide side).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from train.atomic import atomic_path, atomic_write_json, atomic_write_text
from train.data import spoof_attacks as attacks_mod
from train.data.audio_io import SR, resample, wav_bytes
from train.data.build import (
    BANDS_HI,
    CACHE_VERSION,
    CATEGORY_WEIGHTS,
    Prepared,
    _Item,
    _pmap,
    _Pool,
    _sample_group_first,
    _store,
    _trim,
)
from train.data.build import prepare as prepare_file
from train.data.labels import HOP, speech_labels
from train.data.mix import band_limit, load_prepared
from train.data.noise import COLOURS, coloured_noise
from train.data.sources import SPLIT_SEED, Source, assign_groups, debian_sources, split_sources
from train.data.spoof import BONAFIDE, CORPUS_INFO, MANIFEST, SPLITS
from train.errors import DataError, UsageError

SPLIT_TARGET_SPOOF = {"train": 0.6, "dev": 0.15, "test": 0.25}
NARROW_MAX_HZ = 4000.0
FLOOR_MIN_DBFS = -78.0  # RMS of the noise floor at the output, at least (~4 LSB of PCM16)
# crop budget of a real source file (CropBudget): one piece per BUDGET_UNIT_S s of audio, 1..BUDGET_CAP per round
BUDGET_UNIT_S = 1.0
BUDGET_CAP = 4
BUDGET_REF_UNITS = 24.0


@dataclass
class SpoofConfig:
    minutes: float = 30.0
    seed: int = 0
    jobs: int = 2
    bonafide_share: float = 0.4
    split_target: dict[str, float] = field(default_factory=lambda: dict(SPLIT_TARGET_SPOOF))
    dur_s: tuple[float, float] = (1.0, 4.0)
    gain_dbfs: tuple[float, float] = (-35.0, -1.0)
    floor_db: tuple[float, float] = (30.0, 60.0)  # speech-to-noise-floor ratio
    tilt_db_per_octave: float = 3.0
    bump_db: float = 4.0
    bands_hi: tuple[tuple[float, float], ...] = BANDS_HI  # (upper band edge Hz, weight), as in the VAD corpus
    attacks: tuple[str, ...] | None = None  # default: every available attack
    held_out: tuple[str, ...] = attacks_mod.HELD_OUT
    use_g722: bool = True
    split_seed: int = SPLIT_SEED


def default_out(minutes: float, seed: int) -> Path:
    return Path(".cache") / "corpus" / f"spoof-{minutes:g}m-s{seed}"


def radical_inverse(k: int, base: int) -> float:
    out, f = 0.0, 1.0 / base
    while k > 0:
        k, d = divmod(k, base)
        out += d * f
        f /= base
    return out


# ---------------------------------------------------------------- TTS preparation (cache like build.prepare)


def prepare_tts(task: tuple[attacks_mod.TtsItem, str]) -> Prepared:
    """Render one TTS item into the source cache (16 kHz, peak 0.9, silence trimmed by its labels)."""
    item, cache_s = task
    cache = Path(cache_s)
    key = f"spoof-{CACHE_VERSION}-{item.key()}"
    path, rej = cache / key[:2] / f"{key}.npz", cache / key[:2] / f"{key}.rejected"
    if path.is_file():
        with np.load(path) as z:
            return Prepared(item.id, str(path), int(z["audio"].shape[0]), int(z["native_sr"]))
    if rej.is_file():
        return Prepared(item.id, None, 0, 0, rej.read_text())
    try:
        x, sr = attacks_mod.render_tts(item)
        x = resample(x, sr, SR)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak <= 0:
            raise DataError(f"{item.id}: silent")
        x = x / peak * 0.9
        lab = speech_labels(x, name=item.id)
        if not lab.any():
            raise DataError(f"{item.id}: no active frames")
        x, lab = _trim(x, lab)
    except DataError as e:
        from train.atomic import atomic_write_bytes

        atomic_write_bytes(rej, str(e).encode())
        return Prepared(item.id, None, 0, 0, str(e))
    p = _store(cache, key, x, lab, sr)
    return Prepared(item.id, str(p), len(x), sr)


def _prepare_any(task: tuple) -> Prepared:
    return prepare_tts(task[1:]) if task[0] == "tts" else prepare_file(task)


# ---------------------------------------------------------------- plan


def _bands(wide_ok: bool, bands_hi: tuple[tuple[float, float], ...] = BANDS_HI) -> list[tuple[float, float]]:
    bands = [(h, w) for h, w in bands_hi if wide_ok or h <= NARROW_MAX_HZ] or [(NARROW_MAX_HZ - 200, 1.0)]
    tot = sum(w for _, w in bands)
    return [(h, w / tot) for h, w in bands]


def _pick_band(u: float, bands: list[tuple[float, float]]) -> float:
    acc = 0.0
    for h, w in bands:
        acc += w
        if u < acc:
            return h
    return bands[-1][0]


def plan_skeleton(cfg: SpoofConfig, attacks: list[str], wide_ok: dict[str, bool]) -> list[dict]:
    """Split, label, attack, duration, band and gain of every utterance (no sources yet)."""
    rng = np.random.default_rng([cfg.seed, 11])
    seen = [a for a in attacks if a not in cfg.held_out]
    per_split = {s: [BONAFIDE, *(seen if s != "test" else attacks)] for s in SPLITS}
    shares = {s: {BONAFIDE: cfg.bonafide_share,
                  **{a: (1 - cfg.bonafide_share) / (len(per_split[s]) - 1) for a in per_split[s][1:]}}
              for s in SPLITS}
    # Cranley-Patterson shift per (split, attack) stream: each stream is a low-discrepancy sample of the same
    # distribution, and the streams differ from one another
    shift = {(s, a): rng.random(4) for s in SPLITS for a in per_split[s]}
    total = cfg.minutes * 60 * SR
    done = dict.fromkeys(SPLITS, 0)
    count = {s: dict.fromkeys(per_split[s], 0) for s in SPLITS}
    out = []
    lo_d, hi_d = cfg.dur_s
    while sum(done.values()) < total:
        split = min(SPLITS, key=lambda s: (done[s] / total - cfg.split_target[s]) / cfg.split_target[s])
        n_split = sum(count[split].values()) + 1
        attack = min(per_split[split], key=lambda a: (count[split][a] / n_split - shares[split][a]) / shares[split][a])
        k = count[split][attack]
        u = [(radical_inverse(k + 1, b) + shift[split, attack][j]) % 1.0 for j, b in enumerate((2, 3, 5, 7))]
        n = int(round((lo_d + (hi_d - lo_d) * u[0]) * SR / HOP)) * HOP
        hi = _pick_band(u[1], _bands(wide_ok[split], tuple(map(tuple, cfg.bands_hi))))
        gain = cfg.gain_dbfs[0] + (cfg.gain_dbfs[1] - cfg.gain_dbfs[0]) * u[2]
        lo = 300.0 * u[3]
        lo = 0.0 if lo < 50 else round(lo, 1)
        out.append({"id": f"u{len(out):05d}", "split": split, "label": BONAFIDE if attack == BONAFIDE else "spoof",
                    "attack": attack, "attack_seen": attack not in cfg.held_out, "n": n,
                    "band_hz": [lo, hi], "gain_dbfs": round(gain, 2)})
        count[split][attack] += 1
        done[split] += n
    return out


def _chain(rng: np.random.Generator, pool: _Pool, group: str, n_min: int,
           budget: CropBudget | None = None) -> tuple[list[list], int]:
    """Pieces [source id, offset] of one group laid end to end with 50-400 ms gaps until >= n_min samples
    (files drawn within the group's crop budget if `budget` is given)."""
    pieces, t = [], 0
    for _ in range(40):
        sid, _, ln, _, _ = budget.draw_file(rng, pool, group) if budget is not None else pool.draw(rng, [group])
        pieces.append([sid, t])
        t += ln
        if t >= n_min:
            break
        t += int(np.exp(rng.uniform(np.log(0.05), np.log(0.4))) * SR) // HOP * HOP
    return pieces, t


class CropBudget:
    """How often each real source file of one split may be used (chain pieces), so that no file dominates it.

    A file's budget per round is one piece per BUDGET_UNIT_S seconds of its trimmed audio, at least 1 and at most
    BUDGET_CAP; when every file of a pool is spent, all budgets of that pool grow by another round. Groups
    (speakers) are drawn as in `_Pool.pick_groups` (category weights, then groups) but only among groups with
    budget left, each weighted by the square root of its budget left, and a category holding little audio (less
    than BUDGET_REF_UNITS pieces left) is down-weighted in proportion: one short clip that is a category of its
    own (pocketsphinx/tidigits in test) no longer receives the whole category's share.
    """

    def __init__(self) -> None:
        self.used: dict[str, int] = {}
        self.rounds: dict[int, int] = {}

    @staticmethod
    def base(it: _Item) -> int:
        return int(min(BUDGET_CAP, max(1, int(np.ceil(it.n / SR / BUDGET_UNIT_S - 1e-9)))))

    def left(self, pool: _Pool, i: int) -> int:
        it = pool.items[i]
        return self.base(it) * self.rounds.setdefault(id(pool), 1) - self.used.get(it.id, 0)

    def pick_group(self, rng: np.random.Generator, pool: _Pool) -> str:
        while True:
            left = {g: sum(max(self.left(pool, i), 0) for i in idx) for g, idx in pool.by_group.items()}
            live = {c: [g for g in gs if left[g] > 0] for c, gs in pool.cat_groups.items()}
            cats = sorted(c for c, gs in live.items() if gs)
            if cats:
                break
            self.rounds[id(pool)] += 1
        cw = np.array([CATEGORY_WEIGHTS.get(c, 1.0) * min(1.0, sum(left[g] for g in live[c]) / BUDGET_REF_UNITS)
                       for c in cats])
        groups = live[cats[int(rng.choice(len(cats), p=cw / cw.sum()))]]
        w = np.sqrt([left[g] for g in groups])
        return groups[int(rng.choice(len(groups), p=w / w.sum()))]

    def draw_file(self, rng: np.random.Generator, pool: _Pool, group: str) -> _Item:
        idx = pool.by_group[group]
        w = np.array([max(self.left(pool, i), 0) for i in idx], dtype=np.float64)
        if w.sum() <= 0:  # the group ran out in the middle of a chain: any of its files
            w = np.ones(len(idx))
        it = pool.items[idx[int(rng.choice(len(idx), p=w / w.sum()))]]
        self.used[it.id] = self.used.get(it.id, 0) + 1
        return it


def assign_sources(cfg: SpoofConfig, skel: list[dict], real: dict[str, _Pool], tts: dict[str, dict[str, _Pool]],
                   paths: dict[str, str]) -> list[dict]:
    rng = np.random.default_rng([cfg.seed, 12])
    ctx = SR // 10
    plans = []
    budgets = {s: CropBudget() for s in SPLITS}  # real sources: one budget per split (wide and all bands share it)
    wide_pools = {s: pool.subset(16000) for s, pool in real.items()}
    for i, p in enumerate(skel):
        wide = p["band_hz"][1] > NARROW_MAX_HZ
        budget = None
        if p["attack"] in attacks_mod.TTS_ATTACKS:
            pool = tts[p["split"]].get(p["attack"])
            if not pool:
                raise DataError(f"no {p['attack']} voice rendered for split {p['split']!r}")
            group = pool.pick_groups(rng, 1)[0]
        else:
            pool = wide_pools[p["split"]] if wide else real[p["split"]]
            if not pool:
                raise DataError(f"no real speech source for split {p['split']!r} (wide band: {wide})")
            budget = budgets[p["split"]]
            group = budget.pick_group(rng, pool)
        pieces, total = _chain(rng, pool, group, p["n"] + 2 * ctx, budget)
        start = int(rng.integers(0, max(total - p["n"], 0) // HOP + 1)) * HOP
        q = dict(p)
        q.update({
            "speaker": group, "source": pieces[0][0], "pieces": pieces, "chain_n": total, "start": start,
            "paths": {sid: paths[sid] for sid, _ in pieces},
            "floor_db": round(float(rng.uniform(*cfg.floor_db)), 2), "floor_colour": str(rng.choice(COLOURS)),
            "eq": {"tilt": round(float(rng.uniform(-1, 1) * cfg.tilt_db_per_octave), 3),
                   "bumps": [[round(float(rng.uniform(100, 7000)), 1), round(float(rng.uniform(0.3, 1.5)), 3),
                              round(float(rng.uniform(-1, 1) * cfg.bump_db), 3)] for _ in range(2)]},
            "seed": [cfg.seed, 13, i],
        })
        plans.append(q)
    return plans


# ---------------------------------------------------------------- render


def equalise(x: np.ndarray, eq: dict) -> np.ndarray:
    """Zero-phase smooth EQ: tilt (dB/octave around 1 kHz) plus Gaussian bumps on a log-frequency axis."""
    n = len(x)
    f = np.fft.rfftfreq(n, 1 / SR)
    lf = np.log2(np.maximum(f, 50.0) / 1000.0)
    g_db = eq["tilt"] * lf
    for fc, width_oct, gain in eq["bumps"]:
        g_db = g_db + gain * np.exp(-0.5 * ((lf - np.log2(fc / 1000.0)) / width_oct) ** 2)
    return np.fft.irfft(np.fft.rfft(x.astype(np.float64)) * 10 ** (g_db / 20), n).astype(np.float32)


def _speech_rms(x: np.ndarray) -> float:
    n = len(x) // HOP
    e = np.mean(np.asarray(x[: n * HOP], dtype=np.float64).reshape(n, HOP) ** 2, axis=1)
    loud = e[e >= np.percentile(e, 50)] if n else np.array([np.mean(x.astype(np.float64) ** 2)])
    return float(np.sqrt(np.mean(loud) + 1e-20))


def render_utt(plan: dict) -> tuple[np.ndarray, dict]:
    """(float32 audio of plan["n"] samples, facts) for one planned utterance."""
    rng = np.random.default_rng(plan["seed"])
    chain = np.zeros(plan["chain_n"] + plan["n"], dtype=np.float32)
    for sid, off in plan["pieces"]:
        x, _ = load_prepared(plan["paths"][sid])
        m = min(len(x), len(chain) - off)
        chain[off : off + m] += x[:m]
    n, s0 = plan["n"], plan["start"]
    facts: dict = {}
    if plan["attack"] in attacks_mod.VOCODERS:
        ctx = SR // 10
        a, b = max(0, s0 - ctx), min(len(chain), s0 + n + ctx)
        y, facts = attacks_mod.vocode(plan["attack"], chain[a:b], rng)
        x = y[s0 - a : s0 - a + n]
    else:
        x = chain[s0 : s0 + n]
    x = np.asarray(x, dtype=np.float32)
    if len(x) < n:
        x = np.concatenate([x, np.zeros(n - len(x), np.float32)])
    lo, hi = plan["band_hz"]
    if hi <= NARROW_MAX_HZ:
        x = resample(resample(x, SR, 8000), 8000, SR)[:n]
        x = np.concatenate([x, np.zeros(n - len(x), np.float32)]) if len(x) < n else x
    x = equalise(band_limit(x, lo, hi), plan["eq"])
    ps = _speech_rms(x)
    if ps <= 1e-8:
        raise DataError(f"{plan['id']}: silent after processing ({plan['attack']}, sources {list(plan['paths'])})")
    floor = band_limit(coloured_noise(n, plan["floor_colour"], rng), lo, hi)
    floor /= np.sqrt(np.mean(floor.astype(np.float64) ** 2)) + 1e-20
    scale = 10 ** (plan["gain_dbfs"] / 20) * 0.999 / (float(np.max(np.abs(x))) + 1e-20)  # approx. output scale
    # the floor never drops below FLOOR_MIN_DBFS at the output: PCM16 must not round quiet TTS gaps to zeros
    floor_rms = max(ps * 10 ** (-plan["floor_db"] / 20), 10 ** (FLOOR_MIN_DBFS / 20) / scale)
    x = x + floor * floor_rms
    peak = float(np.max(np.abs(x)))
    x = x * (10 ** (plan["gain_dbfs"] / 20) * 0.999 / peak)
    return x.astype(np.float32), facts


def _render_task(task: tuple[dict, str]) -> tuple[str, dict]:
    plan, out_s = task
    audio, facts = render_utt(plan)
    (Path(out_s) / "audio" / f"{plan['id']}.wav").write_bytes(wav_bytes(audio))
    return plan["id"], facts


# ---------------------------------------------------------------- build


def _counts(plans: Iterable[dict], key: str) -> dict:
    out: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for p in plans:
        out[p["split"]][p[key]] = out[p["split"]].get(p[key], 0) + 1
    return {s: dict(sorted(d.items())) for s, d in out.items()}


def _parity(plans: list[dict]) -> dict:
    """Per split and class: mean duration, gain, upper band edge and the share of narrow bands."""
    out: dict = {}
    for s in SPLITS:
        for lab in ("bonafide", "spoof"):
            ps = [p for p in plans if p["split"] == s and p["label"] == lab]
            if not ps:
                continue
            out.setdefault(s, {})[lab] = {
                "n": len(ps), "mean_duration_s": round(float(np.mean([p["n"] / SR for p in ps])), 4),
                "mean_gain_dbfs": round(float(np.mean([p["gain_dbfs"] for p in ps])), 3),
                "mean_band_hi": round(float(np.mean([p["band_hz"][1] for p in ps])), 1),
                "narrow_share": round(float(np.mean([p["band_hz"][1] <= NARROW_MAX_HZ for p in ps])), 4)}
    return out


def build_spoof_corpus(out: str | Path | None = None, minutes: float = 30.0, seed: int = 0, *, jobs: int = 2,
                       cache_dir: str | Path = ".cache", progress: bool = False, **kw) -> Path:
    """Build the spoof corpus into `out` (default `.cache/corpus/spoof-<M>m-s<S>`); returns the folder.

    `kw`: any other SpoofConfig field (bonafide_share, held_out, attacks, use_g722, ...).
    """
    cfg = SpoofConfig(minutes=minutes, seed=seed, jobs=jobs, **kw)
    if not (0 < cfg.minutes <= 10000):
        raise UsageError(f"--minutes must be in (0, 10000], got {cfg.minutes}")
    if not (0 < cfg.bonafide_share < 1):
        raise UsageError(f"bona fide share must be in (0, 1), got {cfg.bonafide_share}")
    available = attacks_mod.available_attacks()
    attacks = list(cfg.attacks) if cfg.attacks is not None else list(available)
    unknown = [a for a in attacks + list(cfg.held_out) if a not in attacks_mod.ATTACKS]
    if unknown:
        raise UsageError(f"unknown attack(s) {unknown}; known: {list(attacks_mod.ATTACKS)}")
    missing = [a for a in attacks if a not in available]
    if missing:
        raise DataError(f"attack(s) {missing} need tools that are not installed (festival: apt-get install "
                        "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)")
    held = [a for a in attacks if a in cfg.held_out]
    if not [a for a in attacks if a not in cfg.held_out]:
        raise UsageError("every attack is held out: train would have no spoofed speech")
    out = Path(out) if out is not None else default_out(minutes, seed)
    cache = Path(cache_dir) / "data" / "sources"

    import importlib.util

    if cfg.use_g722 and importlib.util.find_spec("G722") is None:
        cfg.use_g722 = False
    sources = [s for s in debian_sources(use_g722=cfg.use_g722) if s.kind == "speech"]
    if not sources:
        raise DataError("no real speech sources found (install the asterisk/klettres/pocketsphinx packages)")
    gsplit = split_sources(sources, cfg.split_seed)
    wide_ok = {s: any(src.native_sr >= 16000 and gsplit[src.group] == s for src in sources) for s in SPLITS}
    skel = plan_skeleton(cfg, attacks, wide_ok)

    # what to prepare: real files (group-first sample per split), TTS items per (split, attack)
    rng = np.random.default_rng([cfg.seed, 10])
    tasks: list[tuple] = []
    meta: dict[str, dict] = {}
    for split in SPLITS:
        sk = [p for p in skel if p["split"] == split]
        n_real = sum(p["attack"] not in attacks_mod.TTS_ATTACKS for p in sk)
        n_wide = sum(p["attack"] not in attacks_mod.TTS_ATTACKS and p["band_hz"][1] > NARROW_MAX_HZ for p in sk)
        cand = [s for s in sources if gsplit[s.group] == split]
        chosen: dict[str, Source] = {}
        for c, k in ((cand, 2 * n_real + 12), ([s for s in cand if s.native_sr >= 16000], 3 * n_wide + 12)):
            for s in _sample_group_first(rng, c, k):
                chosen[s.id] = s
        for s in chosen.values():
            tasks.append(("file", s, str(cache)))
            meta[s.id] = {"split": split, "group": s.group, "category": s.category, "kind": "real"}
        for a in attacks_mod.TTS_ATTACKS:
            n_a = sum(p["attack"] == a for p in sk)
            if not n_a:
                continue
            groups = _tts_groups(a, split, cfg)
            need, i, got = 2 * n_a + 6, 0, 0
            while got < need and i < 20000:
                it = attacks_mod.tts_item(a, i)
                i += 1
                if it.group not in groups:
                    continue
                got += 1
                tasks.append(("tts", it, str(cache)))
                meta[it.id] = {"split": split, "group": it.group, "category": a, "kind": "tts"}
            if not got:
                raise DataError(f"attack {a}: no voice group in split {split!r}")

    ex = ProcessPoolExecutor(cfg.jobs, mp_context=get_context("forkserver")) if cfg.jobs > 1 else None
    try:
        prepared = _pmap(_prepare_any, tasks, ex, "sources", progress)
        paths = {p.id: p.path for p in prepared if p.path}
        rejected = sorted((p.id, p.reason) for p in prepared if not p.path)
        real: dict[str, list[_Item]] = {s: [] for s in SPLITS}
        tts: dict[str, dict[str, list[_Item]]] = {s: {} for s in SPLITS}
        for p in prepared:
            if not p.path:
                continue
            m = meta[p.id]
            item = _Item(p.id, m["group"], p.n, p.native_sr if m["kind"] == "real" else 16000, m["category"])
            if m["kind"] == "real":
                real[m["split"]].append(item)
            else:
                tts[m["split"]].setdefault(m["category"], []).append(item)
        real_pools = {s: _Pool(v) for s, v in real.items()}
        tts_pools = {s: {a: _Pool(v) for a, v in d.items()} for s, d in tts.items()}
        plans = assign_sources(cfg, skel, real_pools, tts_pools, paths)

        with atomic_path(out) as tmp:
            (tmp / "audio").mkdir(parents=True)
            results = dict(_pmap(_render_task, [(p, str(tmp)) for p in plans], ex, "utterances", progress))
            lines = []
            for p in plans:
                rec = {"id": p["id"], "split": p["split"], "audio": f"audio/{p['id']}.wav", "label": p["label"],
                       "attack": p["attack"], "attack_seen": p["attack_seen"], "speaker": p["speaker"],
                       "source": p["source"], "sources": sorted({sid for sid, _ in p["pieces"]}),
                       "gain_dbfs": p["gain_dbfs"], "band_hz": p["band_hz"], "duration_s": p["n"] / SR,
                       "floor_db": p["floor_db"], "eq_tilt": p["eq"]["tilt"], "attack_params": results[p["id"]]}
                lines.append(json.dumps(rec, sort_keys=True) + "\n")
            atomic_write_text(tmp / MANIFEST, "".join(lines))
            speakers = {s: sorted({p["speaker"] for p in plans if p["split"] == s}) for s in SPLITS}
            atomic_write_json(tmp / CORPUS_INFO, {
                "task": "spoof", "seed": cfg.seed, "minutes": cfg.minutes, "sample_rate": SR,
                "attacks": attacks, "held_out": held, "seen_attacks": [a for a in attacks if a not in held],
                "unseen_attacks_in": "test", "attack_descriptions": {a: attacks_mod.DESCRIPTION[a] for a in attacks},
                "counts": _counts(plans, "attack"), "labels": _counts(plans, "label"),
                "minutes_per_split": {s: round(sum(p["n"] for p in plans if p["split"] == s) / SR / 60, 3)
                                      for s in SPLITS},
                "speakers": speakers, "parity": _parity(plans),
                "rejected_sources": [{"id": i, "reason": r} for i, r in rejected],
                "config": {k: v for k, v in cfg.__dict__.items() if k != "jobs"},
            })
    finally:
        if ex is not None:
            ex.shutdown(cancel_futures=True)
    return out


def _tts_groups(attack: str, split: str, cfg: SpoofConfig) -> set[str]:
    """Voice groups of a TTS attack that belong to `split` (held-out attacks: every group, test only)."""
    from train.data import synth_speech

    voices = {"espeak": synth_speech.ESPEAK_LANGS, "espeak-klatt": synth_speech.ESPEAK_LANGS,
              "flite": synth_speech.FLITE_VOICES, "festival": attacks_mod.FESTIVAL_VOICES}[attack]
    engine = {"espeak-klatt": "espeak"}.get(attack, attack)
    groups = {f"{engine}:{v}": 1.0 for v in voices}
    if attack in cfg.held_out:
        return set(groups) if split == "test" else set()
    assign = assign_groups(groups, cfg.split_seed)
    return {g for g, s in assign.items() if s == split}


def corpus_info(corpus_dir: str | Path) -> dict:
    p = Path(corpus_dir) / CORPUS_INFO
    if not p.is_file():
        raise DataError(f"{p}: missing (not a spoof corpus built by `noisebudget data build --task spoof`)")
    return json.loads(p.read_text())

