"""Budget-constrained training of the anti-spoofing CNN (`train.spoof_model`) on a spoof corpus or ASVspoof root.

    result = train_spoof(settings, root, out_dir, budget_macs_per_s=400_000)

Same method and schedule as the VAD (`train.vad_train`), on utterance windows instead of frame labels:
1. Width phase (first `snap_at` of the epochs): balanced BCE on the bona fide logit + the dual-ascent budget
   penalty (`train.budget.BudgetConstraint`) on the soft MACs per utterance second (`CostModel.macs()` of one
   window / window seconds), the tracked budget annealed geometrically from the full model down to the budget.
2. Snap: `train.budget.snap_to_budget` fixes every width to an integer (lam in {0, 1}), trimming / growing until
   the exact MACs of a window fit the budget (lands in [~0.9, 1.0] x budget).
3. Fine-tune: weights only, the weight learning rate decayed to 0 by a cosine over the phase
   (`lr_schedule="cosine"`); the epoch with the best dev EER (ties: lower dev BCE) is kept (early stopping
   after `patience` epochs without improvement).
Windows: `window_frames` log-mel frames; training takes a random crop of each utterance per epoch (shorter
utterances are looped), evaluation the centre window (the same window the firmware scores).

Determinism / resume: crops from a generator seeded by (seed, epoch); torch's RNG (the noise) is seeded once and
saved in the per-epoch checkpoint (`out_dir/checkpoint.pt`), so `resume=True` ends with the same weights.
Features: `train.frontend.features_numpy` per utterance, cached under `.cache/features/spoof-<key>-<split>.npz`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from train.atomic import atomic_write_bytes
from train.errors import DataError, UsageError
from train.spoof_model import SpoofArch, SpoofCNN, SpoofNet, window_cost

CHECKPOINT = "checkpoint.pt"
FEATURE_CACHE = Path(".cache/features")


@dataclass
class SpoofTrainSettings:
    arch: SpoofArch = field(default_factory=SpoofArch)
    kappa_min: float = 0.0625
    width_mode: str = "ordered"
    input_width_mode: str = "per_unit"
    epochs: int = 30
    batch_size: int = 32
    windows_per_epoch: int = 2048  # 0 = one random window per training utterance
    lr: float = 3e-3
    width_lr: float = 1e-2
    weight_decay: float = 1e-4
    patience: int = 30
    seed: int = 0
    threads: int = 0
    budget_mode: str = "dual"
    budget_weight: float = 1.0
    dual_lr: float = 0.05
    dual_down: float = 4.0
    aim: float = 0.97
    freq_masks: int = 0  # SpecAugment on training windows (0 = off): masks of up to `freq_mask_bands` mel bands ...
    freq_mask_bands: int = 6
    time_masks: int = 0  # ... and of up to `time_mask_frames` frames (set to the band's window mean)
    time_mask_frames: int = 20
    snap_at: float = 0.3
    anneal: float = 0.6
    lr_schedule: str = "cosine"  # "constant" | "cosine": weight lr decays to 0 over the fine-tune phase
    frontend: dict[str, Any] = field(default_factory=dict)
    method: str = "noise"  # "noise" (learned widths) | "l1" (dense training, L1 filter pruning, fine-tune)


METHODS = ("noise", "l1")
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class SpoofSplit:
    feats: list[np.ndarray]  # [T, n_mels] raw log-mel per utterance
    utts: list[Any]  # train.data.spoof.SpoofUtt

    @property
    def bonafide(self) -> np.ndarray:
        return np.array([u.label == "bonafide" for u in self.utts], dtype=bool)


@dataclass
class SpoofTrainResult:
    model: SpoofCNN
    cost: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    budget_macs_per_s: int
    wall_time_s: float
    best_epoch: int
    interrupted: bool = False
    unseen_attacks: list[str] = field(default_factory=list)  # attack types of dev/test never seen in training


# ------------------------------------------------------------------------------------------------ data
def _cache_key(root: Path, spec: Any, utts: list[Any]) -> str:
    h = hashlib.sha256()
    h.update(str(root.resolve()).encode())
    h.update(spec.digest().encode())
    for u in utts:
        st = Path(u.audio).stat() if Path(u.audio).is_file() else None
        h.update(f"{u.id}|{u.audio}|{st.st_size if st else -1}|{int(st.st_mtime) if st else -1}\n".encode())
    return h.hexdigest()[:20]


def corpus_digest(root: str | Path) -> str:
    """Digest of a spoof corpus / ASVspoof root's content as the loader sees it (utterance ids, labels, attacks,
    splits, audio paths with size and mtime): a rebuilt corpus at the same path gets a new digest."""
    from train.data.spoof import load_spoof

    h = hashlib.sha256()
    for u in load_spoof(Path(root)):
        st = Path(u.audio).stat() if Path(u.audio).is_file() else None
        h.update(f"{u.id}|{u.split}|{u.label}|{u.attack}|{u.audio}|{st.st_size if st else -1}|"
                 f"{int(st.st_mtime) if st else -1}\n".encode())
    return h.hexdigest()[:20]


def load_spoof_splits(root: str | Path, spec: Any, splits=("train", "dev", "test"), *, progress: bool = True,
                      cache_dir: Path | None = FEATURE_CACHE) -> dict[str, SpoofSplit]:
    """Log-mel features of every utterance of `splits` (cached on disk). DataError names the folder when it is
    not a spoof corpus / ASVspoof root or a split is empty."""
    from tqdm import tqdm

    from train.data.spoof import load_spoof, read_utt
    from train.frontend import features_numpy

    root = Path(root)
    utts = load_spoof(root)
    out: dict[str, SpoofSplit] = {}
    for split in splits:
        us = [u for u in utts if u.split == split]
        if not us:
            raise DataError(f"spoof corpus {root}: split '{split}' has no utterances")
        key = _cache_key(root, spec, us)
        path = cache_dir / f"spoof-{key}-{split}.npz" if cache_dir is not None else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                flat, lens = z["feats"], z["lengths"]
            offs = np.concatenate([[0], np.cumsum(lens)])
            feats = [flat[offs[i]:offs[i + 1]] for i in range(len(lens))]
        else:
            feats = []
            for u in tqdm(us, desc=f"features {split}", disable=not progress, leave=False):
                f = features_numpy(read_utt(u), spec)
                if len(f) == 0:
                    raise DataError(f"spoof corpus {root}: utterance {u.id} ({u.audio}) is shorter than one hop")
                feats.append(np.asarray(f, np.float32))
            if path is not None:
                buf = io.BytesIO()
                np.savez(buf, feats=np.concatenate(feats), lengths=np.array([len(f) for f in feats]))
                atomic_write_bytes(path, buf.getvalue())
        out[split] = SpoofSplit(feats, us)
    return out


def window(feats: np.ndarray, frames: int, start: int | None = None) -> np.ndarray:
    """A window of `frames` frames: utterances shorter are looped; `start` None = the centre window."""
    n = len(feats)
    if n < frames:
        reps = -(-frames // n) + 1
        f = np.tile(feats, (reps, 1))
        s = 0 if start is None else int(start) % n
        return f[s:s + frames]
    s = (n - frames) // 2 if start is None else min(int(start), n - frames)
    return feats[s:s + frames]


def centre_windows(data: SpoofSplit, frames: int, bands: list[int] | None = None) -> np.ndarray:
    """[N, frames, K] centre windows of every utterance (kept bands if given)."""
    w = np.stack([window(f, frames) for f in data.feats]).astype(np.float32)
    return w if bands is None else w[:, :, bands]


def epoch_windows(data: SpoofSplit, frames: int, n: int, seed: int, epoch: int) -> list[tuple[int, int]]:
    """(utterance, start) of every training window of one epoch, shuffled, deterministic in (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch, 0x5F00F])
    k = len(data.feats)
    idx = rng.permutation(k) if n <= 0 else rng.choice(k, size=n, replace=n > k)
    out = []
    for i in idx:
        n_f = len(data.feats[i])
        start = rng.integers(0, n_f - frames + 1) if n_f >= frames else rng.integers(0, n_f)
        out.append((int(i), int(start)))
    return out


# ------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def score_windows(model: torch.nn.Module, windows: np.ndarray, chunk: int = 128) -> np.ndarray:
    """Logits (bona fide scores) of windows [N, T, K] (K = what the model takes)."""
    model.eval()
    out = [model(torch.from_numpy(windows[i:i + chunk])).numpy() for i in range(0, len(windows), chunk)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def split_metrics(scores: np.ndarray, data: SpoofSplit) -> dict[str, Any]:
    from train.spoof_metrics import summarize

    m = summarize(scores, data.utts)
    y = data.bonafide.astype(np.float64)
    m["bce"] = float(F.binary_cross_entropy_with_logits(torch.from_numpy(scores), torch.from_numpy(y)))
    return m


def evaluate_model(model: SpoofCNN, data: dict[str, SpoofSplit], splits=("dev", "test")) -> dict[str, Any]:
    bands = list(model.desc["mel_bands"])
    res: dict[str, Any] = {}
    for s in splits:
        res[s] = split_metrics(score_windows(model, centre_windows(data[s], model.window_frames, bands)), data[s])
    if "dev" in res and "test" in res:
        res["summary"] = {"dev_eer": res["dev"]["pooled"], "test_eer": res["test"]["pooled"],
                          "test_eer_seen": res["test"]["seen"], "test_eer_unseen": res["test"]["unseen"]}
    return res


# ------------------------------------------------------------------------------------------- training
def build_model(settings: SpoofTrainSettings) -> SpoofNet:
    return SpoofNet(settings.arch, kappa_min=settings.kappa_min, width_mode=settings.width_mode,
                    input_width_mode=settings.input_width_mode)


def macs_range(settings: SpoofTrainSettings) -> tuple[int, int]:
    """(smallest, full) MACs per utterance second of the family."""
    m = build_model(settings)
    cm = m.cost_model()
    ws = m.window_seconds
    return int(math.ceil(cm.min_macs() / ws)), int(math.ceil(cm.max_macs() / ws))


def check_budget(settings: SpoofTrainSettings, budget: int) -> None:
    lo, _ = macs_range(settings)
    if budget < lo:
        raise UsageError(
            f"budget {budget} MACs per utterance second is below the smallest model of this family: {lo} "
            f"(every width at kappa_min={settings.kappa_min}); raise the budget or shrink the model")


def _freeze_widths(model: SpoofNet) -> None:
    from train.noise import width_parameters

    for p in width_parameters(model):
        p.requires_grad_(False)
        p.grad = None


def spec_augment(x: np.ndarray, rng: np.random.Generator, settings: SpoofTrainSettings) -> np.ndarray:
    """SpecAugment-style masks on windows [B, T, M] (in place): masked cells take the band's mean over the
    window, i.e. zero after the "cmn" level normalisation."""
    b, t, m = x.shape
    for k in range(b):
        mean = x[k].mean(axis=0)
        for _ in range(settings.freq_masks):
            w = int(rng.integers(0, settings.freq_mask_bands + 1))
            f0 = int(rng.integers(0, max(1, m - w + 1)))
            x[k, :, f0:f0 + w] = mean[f0:f0 + w]
        for _ in range(settings.time_masks):
            w = int(rng.integers(0, settings.time_mask_frames + 1))
            t0 = int(rng.integers(0, max(1, t - w + 1)))
            x[k, t0:t0 + w] = mean
    return x


@torch.no_grad()
def l1_prune(model: SpoofNet, cm: Any, budget_window: int, *, step: float = 0.005) -> dict[str, int]:
    """Post-hoc L1-norm filter pruning (Li et al. 2017) of a dense-trained SpoofNet: units of every prunable
    dimension ranked by the L1 norm of their (BN-folded) filters, summed over every layer writing that
    dimension (a residual stack: its conv2 and projection filters); mel bands by the L1 norm of the stem
    weights reading them. One keep ratio for every dimension, the largest whose exact MACs per window fit;
    the kept units are fixed (lam in {0, 1}) like the snapped noise widths."""
    from train.layers import PBlock

    widths = model.widths()
    scores = {id(w): torch.zeros(w.n) for w in widths.values()}
    for mod in model.modules():
        if isinstance(mod, PBlock) and mod.out_width is not None and id(mod.out_width) in scores:
            wt, _ = mod._folded()
            scores[id(mod.out_width)] += wt.abs().reshape(wt.shape[0], -1).sum(dim=1)
    scores[id(model.in_noise.width)] = model.stem.weight.abs().sum(dim=(0, 2))
    by_name = list(widths.items())

    def counts(r: float) -> dict:
        return {w: min(w.n, max(max(1, w.min_units()), math.ceil(r * w.n - 1e-9))) for _, w in by_name}

    r = 1.0
    while r > 0 and cm.macs_at(counts(r)) > budget_window:
        r -= step
    k = counts(max(r, 0.0))
    out = {}
    for name, w in by_name:
        order = torch.argsort(-scores[id(w)], stable=True)
        mask = torch.zeros(w.n, dtype=torch.bool)
        mask[order[:k[w]]] = True
        w.fix_mask(mask)
        out[name] = k[w]
    return out


def _batch(data: SpoofSplit, items: list[tuple[int, int]], frames: int,
           aug: tuple[np.random.Generator, SpoofTrainSettings] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.stack([window(data.feats[i], frames, s) for i, s in items]).astype(np.float32)
    if aug is not None:
        x = spec_augment(x, *aug)
    y = np.array([data.utts[i].label == "bonafide" for i, _ in items], dtype=np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def train_spoof(settings: SpoofTrainSettings, root: str | Path, out_dir: str | Path, *, budget_macs_per_s: int,
                resume: bool = False, progress: bool = True, stop_after_epoch: int | None = None, log=print,
                data: dict[str, SpoofSplit] | None = None) -> SpoofTrainResult:
    """Train, select and consolidate (checkpoint in `out_dir`); the caller writes the run folder."""
    from tqdm import tqdm

    from train.budget import BudgetConstraint, make_optimizer, snap_to_budget
    from train.frontend import FrontEndSpec
    from train.noise import project_widths
    from train.vad_train import _anneal_budget, _dual_step, _state_bytes

    torch.set_num_threads(settings.threads if settings.threads > 0 else 1)
    out_dir = Path(out_dir)
    spec = FrontEndSpec.from_dict(settings.frontend) if settings.frontend else FrontEndSpec()
    if settings.arch.n_mels != spec.n_mels:
        raise UsageError(f"model has {settings.arch.n_mels} mel inputs but frontend.n_mels = {spec.n_mels}")
    budget = int(budget_macs_per_s)
    if budget <= 0:
        raise UsageError(f"budget must be a positive number of MACs per utterance second (got {budget})")
    check_budget(settings, budget)
    if settings.lr_schedule not in LR_SCHEDULES:
        raise UsageError(f"unknown lr_schedule {settings.lr_schedule!r} (known: {', '.join(LR_SCHEDULES)})")
    if settings.method not in METHODS:
        raise UsageError(f"unknown method {settings.method!r} (known: {', '.join(METHODS)})")
    dense = settings.method == "l1"
    torch.manual_seed(settings.seed)
    model = build_model(settings)
    if dense:  # every width fixed at full size: lam = 1, no noise, no penalty
        for w in model.widths().values():
            w.fix_width(w.n)
        model.in_noise.width.fix_width(model.in_noise.width.n)
    cm = model.cost_model()
    ws = model.window_seconds
    budget_window = int(math.floor(budget * ws))
    full = cm.max_macs() / ws
    if budget >= full:
        log(f"note: budget {budget} >= full model {full:.0f} MACs/s; the constraint is inactive")

    if data is None:
        data = load_spoof_splits(root, spec, progress=progress)
    tr, dev = data["train"], data["dev"]
    if len(tr.feats) < settings.batch_size:
        raise DataError(f"spoof corpus {root}: {len(tr.feats)} training utterances, fewer than one batch "
                        f"of {settings.batch_size}")
    if tr.bonafide.all() or not tr.bonafide.any():
        raise DataError(f"spoof corpus {root}: the training split needs both bona fide and spoofed utterances")
    frames = settings.arch.window_frames
    lw = model.level(torch.from_numpy(centre_windows(tr, frames))).numpy().astype(np.float64)
    model.set_normalization(torch.from_numpy(lw.mean(axis=(0, 1)).astype(np.float32)),
                            torch.from_numpy(lw.std(axis=(0, 1)).astype(np.float32)))
    n_bona = float(tr.bonafide.sum())
    pos_weight = torch.tensor((len(tr.utts) - n_bona) / n_bona)
    dev_w = centre_windows(dev, frames)

    opt = make_optimizer(model, lr=settings.lr, width_lr=settings.width_lr, weight_decay=settings.weight_decay)
    constraint = BudgetConstraint(budget, mode=settings.budget_mode, weight=settings.budget_weight,
                                  dual_lr=settings.dual_lr, target=settings.aim)
    n_items = len(epoch_windows(tr, frames, settings.windows_per_epoch, settings.seed, 0))
    n_batches = max(1, n_items // settings.batch_size)
    snap_epoch = max(1, min(settings.epochs - 1, int(round(settings.snap_at * settings.epochs))))
    anneal_steps = int(settings.anneal * snap_epoch * n_batches)

    st: dict[str, Any] = {"epoch": 0, "step": 0, "phase": "width", "best": None, "best_key": None,
                          "best_epoch": -1, "bad_epochs": 0, "history": [], "elapsed": 0.0, "done": False}
    ckpt_path = out_dir / CHECKPOINT
    if resume:
        if not ckpt_path.is_file():
            raise UsageError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("task") != "spoof" or ck["budget_macs_per_s"] != budget:
            raise UsageError(f"--resume: checkpoint {ckpt_path} is not a spoof run for budget {budget} MACs/s")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        constraint.load_state_dict(ck["constraint"])
        st = ck["state"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resuming {ckpt_path} after epoch {st['epoch']} ({st['phase']} phase)")
    if st["phase"] == "finetune":
        _freeze_widths(model)

    interrupted = False
    while not st["done"] and st["epoch"] < settings.epochs:
        epoch = st["epoch"]
        t0 = time.perf_counter()
        if epoch == snap_epoch and st["phase"] == "width":
            if dense:
                for w in model.widths().values():
                    w.unfix()
                l1_prune(model, cm, budget_window)
            else:
                snap_to_budget(model, cm, budget_window)
            _freeze_widths(model)
            st["phase"] = "finetune"
            log(f"epoch {epoch}: widths snapped to {model.width_summary()}: "
                f"{cm.hard_macs() / ws:.0f} MACs/s (budget {budget})")
        items = epoch_windows(tr, frames, settings.windows_per_epoch, settings.seed, epoch)
        if settings.lr_schedule == "cosine" and st["phase"] == "finetune":  # a function of the epoch: resumable
            frac = (epoch - snap_epoch) / max(1, settings.epochs - snap_epoch)
            opt.param_groups[0]["lr"] = settings.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
        model.train()
        losses = []
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{settings.epochs} {st['phase']}",
                   disable=not progress, leave=False, dynamic_ncols=True)
        for j in range(n_batches):
            x, y = _batch(tr, items[j * settings.batch_size:(j + 1) * settings.batch_size], frames,
                          (np.random.default_rng([settings.seed, epoch, j, 0xA06]), settings))
            logits = model(x)
            task = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
            loss = task
            soft = None
            if st["phase"] == "width" and not dense:
                constraint.budget = _anneal_budget(st["step"], anneal_steps, float(full), float(budget))
                soft = cm.macs() / ws
                loss = loss + constraint.penalty(soft)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if soft is not None:
                project_widths(model)
                _dual_step(constraint, float(soft.detach()), settings.dual_down)
            st["step"] += 1
            losses.append(float(task.detach()))
            post = {"loss": f"{np.mean(losses[-20:]):.4f}"}
            if soft is not None:
                post.update(macs_s=f"{float(soft.detach()):.0f}", target=f"{constraint.budget:.0f}",
                            mult=f"{constraint.multiplier:.3g}")
            bar.set_postfix(post)
            bar.update(1)
        bar.close()
        # epoch end: dev EER of the model as it would be consolidated now (noise off, kept units)
        model.eval()
        dm = split_metrics(score_windows(model, dev_w), dev)
        rec: dict[str, Any] = {"epoch": epoch + 1, "phase": st["phase"], "loss": float(np.mean(losses)),
                               "soft_macs_per_s": float(cm.macs().detach()) / ws,
                               "macs_per_s": cm.hard_macs() / ws, "multiplier": constraint.multiplier,
                               "dev_eer": dm["pooled"], "dev_bce": dm["bce"], "widths": model.width_summary()}
        if st["phase"] == "finetune":
            key = (_nan_big(dm["pooled"]), dm["bce"])
            if st["best_key"] is None or key < tuple(st["best_key"]):
                cons = model.consolidate(extra={"frontend": spec.to_dict(), "budget_macs_per_s": budget})
                st.update(best_key=list(key), best_epoch=epoch + 1, bad_epochs=0,
                          best={"desc": cons.description(), "state_dict": cons.state_dict()})
            else:
                st["bad_epochs"] += 1
            if st["bad_epochs"] >= settings.patience:
                st["done"] = True
        log(f"epoch {epoch + 1}/{settings.epochs} [{st['phase']}] loss {rec['loss']:.4f} dev EER "
            f"{rec['dev_eer']:.4f} MACs/s {rec['macs_per_s']:.0f} (soft {rec['soft_macs_per_s']:.0f}, budget "
            f"{budget}, mult {constraint.multiplier:.3g})")
        st["history"].append(rec)
        st["epoch"] = epoch + 1
        st["elapsed"] += time.perf_counter() - t0
        ck = {"task": "spoof", "model": model.state_dict(), "optimizer": opt.state_dict(),
              "constraint": constraint.state_dict(), "state": st, "budget_macs_per_s": budget,
              "torch_rng": torch.get_rng_state()}
        atomic_write_bytes(ckpt_path, _state_bytes(ck))
        if stop_after_epoch is not None and st["epoch"] >= stop_after_epoch and not st["done"] \
                and st["epoch"] < settings.epochs:
            interrupted = True
            break

    t1 = time.perf_counter()
    if st["best"] is None:  # interrupted or no fine-tune epoch: snap what we have
        if st["phase"] == "width" and dense:
            for w in model.widths().values():
                w.unfix()
            l1_prune(model, cm, budget_window)
        elif st["phase"] == "width":
            snap_to_budget(model, cm, budget_window)
        cons = model.consolidate(extra={"frontend": spec.to_dict(), "budget_macs_per_s": budget})
        best_epoch = st["epoch"]
    else:
        cons = SpoofCNN.from_description(st["best"]["desc"], st["best"]["state_dict"])
        best_epoch = st["best_epoch"]
    cost = window_cost(cons)
    metrics: dict[str, Any] = {}
    if not interrupted:
        metrics = evaluate_model(cons, data)
    unseen = sorted({u.attack for sp in data.values() for u in sp.utts if u.label != "bonafide" and not u.attack_seen})
    return SpoofTrainResult(model=cons, cost=cost, metrics=metrics, history=st["history"],
                            budget_macs_per_s=budget, wall_time_s=st["elapsed"] + time.perf_counter() - t1,
                            best_epoch=best_epoch, interrupted=interrupted, unseen_attacks=unseen)


def _nan_big(v: float) -> float:
    return v if isinstance(v, float) and math.isfinite(v) else 1e9


# ------------------------------------------------------------------------------------------ run folder
ARCH = "model/arch.json"
WEIGHTS = "model/weights.pt"


def save_spoof_run(run_dir: str | Path, result: SpoofTrainResult, *, cost: dict[str, Any], metrics: dict[str, Any],
                   config_text: str) -> Path:
    """The run folder (same layout as the VAD's, `train.run_dir`): config.toml, model/arch.json, model/weights.pt,
    widths.json, cost.json, metrics.json, history.json."""
    from train.atomic import atomic_write_json, atomic_write_text
    from train.run_dir import _finite
    from train.spoof_model import describe_widths

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.toml", config_text)
    atomic_write_json(run_dir / ARCH, result.model.description())
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in result.model.state_dict().items()}, buf)
    atomic_write_bytes(run_dir / WEIGHTS, buf.getvalue())
    atomic_write_json(run_dir / "widths.json", describe_widths(result.model.description()))
    atomic_write_json(run_dir / "cost.json", _finite(cost))
    atomic_write_json(run_dir / "metrics.json", _finite(metrics))
    atomic_write_json(run_dir / "history.json", _finite(result.history))
    return run_dir


def is_spoof_run(run_dir: str | Path) -> bool:
    p = Path(run_dir) / ARCH
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text(encoding="utf-8")).get("family") == "noisebudget-spoof-resnet"
    except json.JSONDecodeError:
        return False


def load_spoof_model(run_dir: str | Path) -> SpoofCNN:
    run_dir = Path(run_dir)
    for rel in (ARCH, WEIGHTS):
        if not (run_dir / rel).is_file():
            raise DataError(f"run folder {run_dir}: missing {rel} (train a model first)")
    try:
        desc = json.loads((run_dir / ARCH).read_text(encoding="utf-8"))
        sd = torch.load(run_dir / WEIGHTS, map_location="cpu", weights_only=True)
        return SpoofCNN.from_description(desc, sd)
    except (ValueError, KeyError, RuntimeError) as e:
        raise DataError(f"run folder {run_dir}: cannot rebuild the spoof model from {ARCH} + {WEIGHTS}: {e}") from e


def settings_dict(settings: SpoofTrainSettings) -> dict[str, Any]:
    return asdict(settings)
