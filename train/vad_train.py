"""Budget-constrained training of the streaming VAD (`train.vad_model`) on a manifest corpus.

    result = train_vad(settings, corpus_dir, out_dir, budget_macs=20000)

Schedule (no per-budget tuning; every number below is a setting with a default):
1. Width phase (the first `snap_at` fraction of the epochs): task loss (frame BCE) + the budget penalty of
   `train.budget.BudgetConstraint` (dual ascent on the multiplier) on the soft MACs per hop. The constraint
   is annealed geometrically from the full model's MACs down to the budget over the first `anneal` fraction
   of the width phase, so the multiplier tracks a slowly moving target instead of overshooting.
2. Snap: every width is fixed to integers (lam in {0, 1}) by `VADNet.trimmed_indices` (drop the weakest units
   until the exact MACs fit the budget) and `grow_to_budget` (add units back while they fit).
3. Fine-tune phase: weights only. Early stopping on dev AUC (patience); the best fine-tune epoch is kept.
Each epoch: random crops (`crop_seconds`) of the training clips, batches of `batch_size` crops, whole-sequence
causal forward. Dev AUC is computed with the consolidated model (exactly what gets exported).

Determinism and resume: crops come from a generator seeded by (seed, epoch); the noise of crop g of an epoch
from a generator seeded by (seed, epoch, g). A checkpoint (model, optimizer, dual state, schedule, best model,
history) is written atomically after every epoch; `resume=True` continues from it and ends with the same
weights as an uninterrupted run.

Data parallel: under `torchrun` (WORLD_SIZE > 1) the process group is initialised (gloo on CPU, nccl on
CUDA), each rank takes its share of every global batch through a `DistributedSampler` (no shuffle: the crop
list is already shuffled), gradients are averaged by `DistributedDataParallel`, the running noise std is
all-reduced, so the run equals the single-process run up to floating-point order. Only rank 0 writes.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from train.atomic import atomic_write_bytes
from train.errors import DataError, UsageError
from train.vad_model import NoiseContext, StreamingVAD, VADArch, VADNet, macs_per_hop, step_cost

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainSettings:
    """Everything the trainer needs (the `noisebudget` config maps onto it)."""

    arch: VADArch = field(default_factory=VADArch)
    kappa_min: float = 0.0625
    width_mode: str = "ordered"
    input_width_mode: str = "ordered"
    round_to: int = 1
    epochs: int = 20
    batch_size: int = 16
    crop_seconds: float = 3.0
    crops_per_epoch: int = 0
    lr: float = 3e-3
    width_lr: float = 1e-2
    equal_unit_speed: bool = False  # `train.budget.make_optimizer`
    weight_decay: float = 0.0
    patience: int = 4
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    budget_mode: str = "dual"
    budget_weight: float = 1.0
    dual_lr: float = 0.05
    dual_down: float = 4.0
    aim: float = 0.97
    # lower side of the budget band: a second multiplier (>= 0, same dual_lr) rewards soft MACs while they are
    # below floor * aim * (annealed) budget, so widths that overshot below the budget grow back instead of
    # waiting for the snap; 0 = off (one-sided constraint)
    dual_floor: float = 0.0
    snap_at: float = 0.6
    anneal: float = 0.6
    frontend: dict[str, Any] = field(default_factory=dict)  # FrontEndSpec fields (recorded in the model)


@dataclass
class SplitData:
    feats: list[np.ndarray]  # [T, n_mels] float32 (raw log-mel)
    labels: list[np.ndarray]  # [T] uint8
    clips: list[Any]
    inputs: list[np.ndarray] | None = None  # model inputs (after the input stage), for training crops

    @property
    def frames(self) -> int:
        return int(sum(len(y) for y in self.labels))


@dataclass
class TrainResult:
    model: StreamingVAD
    cost: dict[str, int]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    budget_macs: int
    wall_time_s: float
    best_epoch: int
    interrupted: bool = False


# ------------------------------------------------------------------------------------------------ data
def load_splits(
    corpus_dir: str | Path, spec: Any, splits=("train", "dev", "test"), *, progress: bool = True
) -> dict[str, SplitData]:
    """Features and labels of every split via the feature cache (`train.featcache.load_features`)."""
    from train.featcache import load_features

    out: dict[str, SplitData] = {}
    for split in splits:
        items = load_features(corpus_dir, spec, split, progress=progress)
        feats, labels, clips = [], [], []
        for f, y, c in items:
            n = min(len(f), len(y))
            feats.append(np.asarray(f[:n], dtype=np.float32))
            labels.append(np.asarray(y[:n], dtype=np.uint8))
            clips.append(c)
        if not feats:
            raise DataError(f"corpus {corpus_dir}: split '{split}' has no clips (manifest.jsonl)")
        out[split] = SplitData(feats, labels, clips)
    return out


def feature_stats(data: SplitData) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate(data.feats, axis=0).astype(np.float64)
    return x.mean(axis=0).astype(np.float32), x.std(axis=0).astype(np.float32)


def make_crops(lengths: list[int], crop: int, n_crops: int, seed: int, epoch: int) -> list[tuple[int, int]]:
    """(clip index, start frame) of every crop of one epoch, shuffled, deterministic in (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch, 0xC409])
    lens = np.asarray(lengths)
    if n_crops <= 0:
        counts = np.maximum(1, np.round(lens / crop)).astype(int)
        clip_ix = np.repeat(np.arange(len(lens)), counts)
    else:
        clip_ix = rng.choice(len(lens), size=n_crops, p=lens / lens.sum())
    starts = [int(rng.integers(0, max(1, int(lens[c]) - crop + 1))) for c in clip_ix]
    order = rng.permutation(len(clip_ix))
    return [(int(clip_ix[i]), starts[i]) for i in order]


def crop_batch(data: SplitData, crops: list[tuple[int, int]], crop: int):
    """Stack crops: feats [B, crop, M], labels [B, crop] float, valid [B, crop] bool (short clips padded)."""
    src = data.inputs if data.inputs is not None else data.feats
    m = src[0].shape[1]
    x = np.zeros((len(crops), crop, m), np.float32)
    y = np.zeros((len(crops), crop), np.float32)
    v = np.zeros((len(crops), crop), bool)
    for b, (c, s) in enumerate(crops):
        f = src[c][s : s + crop]
        x[b, : len(f)] = f
        y[b, : len(f)] = data.labels[c][s : s + crop]
        v[b, : len(f)] = True
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(v)


# -------------------------------------------------------------------------------------------- process
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_process(settings: TrainSettings) -> Dist:
    """Device, threads and (under torchrun) the process group."""
    want = settings.device
    if want == "cuda" and not torch.cuda.is_available():
        raise UsageError("train.device = 'cuda' but CUDA is not available")
    use_cuda = want == "cuda" or (want == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        # 1 thread by default: the convs are small, intra-op threads cost more than they give (measured: the
        # default run used 105 s CPU on 1 thread, 712 s CPU on 2); scale out with torchrun instead.
        torch.set_num_threads(settings.threads if settings.threads > 0 else 1)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank=rank, world=world, device=device)


def _broadcast_obj(obj: Any, d: Dist) -> Any:
    if d.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ----------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(
    model: StreamingVAD, data: SplitData, *, device: torch.device | None = None, chunk: int = 16
) -> list[np.ndarray]:
    """Speech probabilities per clip (whole-sequence causal forward of the consolidated model)."""
    model = model.to(device or torch.device("cpu")).eval()
    bands = torch.tensor(model.desc["mel_bands"], dtype=torch.long)
    order = np.argsort([len(f) for f in data.feats])
    out: list[np.ndarray | None] = [None] * len(data.feats)
    for i in range(0, len(order), chunk):
        idx = order[i : i + chunk]
        tmax = max(len(data.feats[j]) for j in idx)
        x = torch.zeros(len(idx), tmax, len(bands))
        for b, j in enumerate(idx):
            f = torch.from_numpy(data.feats[j])[:, bands]
            x[b, : len(f)] = f
        p = torch.sigmoid(model(x.to(next(model.parameters()).device))).cpu().numpy()
        for b, j in enumerate(idx):
            out[j] = p[b, : len(data.feats[j])]
    return out  # type: ignore[return-value]


def clip_scores(data: SplitData, probs: list[np.ndarray]) -> list:
    from train.metrics import ClipScores

    out = []
    for y, p, c in zip(data.labels, probs, data.clips, strict=True):
        out.append(
            ClipScores(
                labels=y,
                scores=p,
                condition=str(getattr(c, "condition", "") or ""),
                snr_db=getattr(c, "snr_db", None),
                negative=bool(getattr(c, "negative", False)),
            )
        )
    return out


def dev_auc(model: StreamingVAD, data: SplitData, device: torch.device | None = None) -> float:
    from train.metrics import auc

    probs = predict(model, data, device=device)
    return float(auc(np.concatenate(data.labels), np.concatenate(probs)))


def evaluate(model: StreamingVAD, dev: SplitData, test: SplitData) -> dict[str, Any]:
    """Dev and test metrics (`train.metrics`); the operating point gives 95% recall on dev."""
    from train.metrics import evaluate_scorer, summarize, threshold_for_recall

    sd = clip_scores(dev, predict(model, dev))
    st = clip_scores(test, predict(model, test))
    report = evaluate_scorer(st, sd, default_threshold=0.5)
    yd = np.concatenate([c.labels for c in sd])
    pd = np.concatenate([c.scores for c in sd])
    thr = threshold_for_recall(yd, pd, 0.95)
    dev_sum = summarize(sd, thr)
    t = report["dev95"]
    return {
        "dev": dev_sum,
        "test": report,
        "summary": {
            "dev_auc": dev_sum["auc"],
            "dev_eer": dev_sum["eer"],
            "test_auc": t["auc"],
            "test_eer": t["eer"],
            "test_f1": t.get("f1"),
            "test_fa_neg": t.get("fa_neg"),
            "threshold": thr,
        },
    }


# ------------------------------------------------------------------------------------------- widths
def _set_masks(model: VADNet, indices: list[torch.Tensor]) -> None:
    for w, ix in zip(model.all_widths(), indices, strict=True):
        mask = torch.zeros(w.n, dtype=torch.bool)
        mask[ix] = True
        w.fix_mask(mask)


def grow_to_budget(
    model: VADNet, indices: list[torch.Tensor], budget: int, *, round_to: int = 1, max_ratio: float = 1.0
) -> list[torch.Tensor]:
    """Add units back while the exact MACs stay <= budget: live units (lam > 0) first, then the dimension
    that is smallest relative to its learned soft width (so the learned allocation scales up evenly)."""
    lams = [w.lam().detach().float() for w in model.all_widths()]
    soft = [max(1.0, float(w.soft_width().detach())) for w in model.all_widths()]
    keep = [set(ix.tolist()) for ix in indices]

    def macs(counts: list[int]) -> int:
        return int(macs_per_hop(model.arch, counts[0], counts[1:]))

    while True:
        counts = [len(k) for k in keep]
        cur = macs(counts)
        best = None
        for d, w in enumerate(model.all_widths()):
            step = round_to if (d > 0 and round_to > 1) else 1
            free = [j for j in range(w.n) if j not in keep[d]]
            if len(free) < step:
                continue
            if w.mode == "ordered":
                add = sorted(free)[:step]
            else:
                add = sorted(free, key=lambda j, d=d: (-float(lams[d][j]), j))[:step]
            trial = list(counts)
            trial[d] += step
            m = macs(trial)
            if m > budget * max_ratio:
                continue
            live = max(float(lams[d][j]) for j in add) > 0
            key = (not live, (counts[d] + step) / soft[d], m - cur, d)
            if best is None or key < best[0]:
                best = (key, d, add)
        if best is None:
            break
        keep[best[1]].update(best[2])
    return [torch.tensor(sorted(k), dtype=torch.long) for k in keep]


def snap_indices(model: VADNet, budget: int, round_to: int = 1) -> list[torch.Tensor]:
    ix = model.trimmed_indices(budget, round_to=round_to)
    return grow_to_budget(model, ix, budget, round_to=round_to)


# ------------------------------------------------------------------------------------------- training
def _state_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _anneal_budget(step: int, total: int, start: float, budget: float) -> float:
    if total <= 0 or step >= total or start <= budget:
        return budget
    return float(budget * (start / budget) ** (1.0 - step / total))


def build_model(settings: TrainSettings) -> VADNet:
    return VADNet(
        settings.arch,
        kappa_min=settings.kappa_min,
        width_mode=settings.width_mode,
        input_width_mode=settings.input_width_mode,
    )


def check_budget(model: VADNet, budget: int) -> None:
    lo = model.min_macs()
    if budget < lo:
        mel = max(1, model.in_width.min_units())
        ch = [max(1, w.min_units()) for w in model.widths]
        raise UsageError(
            f"budget {budget} MACs per hop is below the smallest model of this family: {lo} MACs per hop "
            f"({mel} mel bands, channels {ch} at kappa_min={model.widths[0].kappa_min}); "
            "raise the budget or use smaller model.kappa_min / fewer blocks"
        )


def train_vad(
    settings: TrainSettings,
    corpus_dir: str | Path,
    out_dir: str | Path,
    *,
    budget_macs: int,
    resume: bool = False,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    log=print,
    data: dict[str, SplitData] | None = None,
) -> TrainResult:
    """Train, select and consolidate; checkpoints go to `out_dir/checkpoint.pt` (rank 0 only).

    Returns the best consolidated model with its exact cost and dev/test metrics (the caller writes the run
    folder, see `train.run_dir.save_run`). `stop_after_epoch=k` stops after writing the checkpoint of epoch k
    (used to test resume); the result then has `interrupted=True`.
    """
    from tqdm import tqdm

    from train.budget import BudgetConstraint, make_optimizer
    from train.frontend import FrontEndSpec

    dist_ = setup_process(settings)
    out_dir = Path(out_dir)
    spec = FrontEndSpec.from_dict(settings.frontend) if settings.frontend else FrontEndSpec()
    if settings.arch.n_mels != spec.n_mels:
        raise UsageError(f"model has {settings.arch.n_mels} mel inputs but frontend.n_mels = {spec.n_mels}")
    budget = int(budget_macs)
    if budget <= 0:
        raise UsageError(f"budget must be a positive number of MACs per hop (got {budget})")

    torch.manual_seed(settings.seed)
    model = build_model(settings)
    check_budget(model, budget)
    full_macs = model.max_macs()
    if budget >= full_macs and dist_.main:
        log(f"note: budget {budget} >= full model {full_macs} MACs/hop; the constraint is inactive")

    if data is None:
        if dist_.world > 1 and not dist_.main:
            import torch.distributed as dist

            dist.barrier()  # rank 0 fills the feature cache first
        data = load_splits(corpus_dir, spec, progress=progress and dist_.main)
        if dist_.world > 1 and dist_.main:
            import torch.distributed as dist

            dist.barrier()
    train_d, dev_d = data["train"], data["dev"]
    raw_mean, _ = feature_stats(train_d)
    model.set_ema_init(torch.from_numpy(raw_mean))
    train_d.inputs = [model.input_transform(f) for f in train_d.feats]
    mean, std = feature_stats(SplitData(train_d.inputs, train_d.labels, train_d.clips))
    model.set_normalization(torch.from_numpy(mean), torch.from_numpy(std))
    model.to(dist_.device)

    opt = make_optimizer(model, lr=settings.lr, width_lr=settings.width_lr, weight_decay=settings.weight_decay,
                         equal_unit_speed=settings.equal_unit_speed)
    constraint = BudgetConstraint(
        budget,
        mode=settings.budget_mode,
        weight=settings.budget_weight,
        dual_lr=settings.dual_lr,
        target=settings.aim,
    )
    crop = max(8, int(round(settings.crop_seconds * spec.sample_rate / spec.hop_length)))
    lengths = [len(y) for y in train_d.labels]
    n_batches = len(make_crops(lengths, crop, settings.crops_per_epoch, settings.seed, 0)) // settings.batch_size
    if n_batches < 1:
        raise DataError(
            f"corpus {corpus_dir}: too little training audio for one batch of "
            f"{settings.batch_size} crops of {settings.crop_seconds} s"
        )
    if settings.batch_size % dist_.world:
        raise UsageError(
            f"train.batch_size {settings.batch_size} must be divisible by the number of processes ({dist_.world})"
        )
    snap_epoch = max(1, min(settings.epochs - 1, int(round(settings.snap_at * settings.epochs))))
    if settings.epochs == 1:
        snap_epoch = 1
    anneal_steps = int(settings.anneal * snap_epoch * n_batches)

    st: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "phase": "width",
        "best": None,
        "best_auc": -1.0,
        "best_epoch": -1,
        "bad_epochs": 0,
        "history": [],
        "elapsed": 0.0,
        "done": False,
        "floor_mult": 0.0,
    }
    ckpt_path = out_dir / CHECKPOINT
    if resume:
        if not ckpt_path.exists():
            raise UsageError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["budget_macs"] != budget:
            raise UsageError(
                f"--resume: checkpoint {ckpt_path} was trained for budget {ck['budget_macs']} "
                f"MACs per hop, not {budget}"
            )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        constraint.load_state_dict(ck["constraint"])
        st = ck["state"]
        torch.set_rng_state(ck["torch_rng"])
        if dist_.main:
            log(f"resuming {ckpt_path} after epoch {st['epoch']} ({st['phase']} phase)")
    if st["phase"] == "finetune":
        _freeze_widths(model, opt)

    def wrap(m: VADNet):
        if dist_.world == 1:
            return m
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(
            m,
            forward_sync_buffers=False,
            device_ids=[dist_.device.index] if dist_.device.type == "cuda" else None,
        )

    net = wrap(model)
    bar = None
    interrupted = False
    while not st["done"] and st["epoch"] < settings.epochs:
        epoch = st["epoch"]
        t_epoch = time.perf_counter()
        if epoch == snap_epoch and st["phase"] == "width":
            ix = snap_indices(model, budget, settings.round_to)
            _set_masks(model, ix)
            _freeze_widths(model, opt)
            st["phase"] = "finetune"
            net = wrap(model)
            if dist_.main:
                mel, ch = model.kept_counts()
                log(
                    f"epoch {epoch}: widths snapped to {mel} mel bands, channels {ch}: "
                    f"{model.hard_macs()} MACs/hop (budget {budget})"
                )
        crops = make_crops(lengths, crop, settings.crops_per_epoch, settings.seed, epoch)
        crops = crops[: n_batches * settings.batch_size]
        local_bs = settings.batch_size // dist_.world
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(crops)), num_replicas=dist_.world, rank=dist_.rank, shuffle=False)
        my_ix = list(iter(sampler))  # global indices rank, rank+world, ... : batch j = crops [j*B, (j+1)*B)
        model.train()
        bar = tqdm(
            total=n_batches,
            desc=f"epoch {epoch + 1}/{settings.epochs} {st['phase']}",
            disable=not (progress and dist_.main),
            leave=False,
            dynamic_ncols=True,
        )
        losses = []
        for j in range(n_batches):
            gix = my_ix[j * local_bs : (j + 1) * local_bs]
            x, y, v = crop_batch(train_d, [crops[g] for g in gix], crop)
            n_valid = float(
                sum(
                    min(crop, lengths[c] - s0)
                    for c, s0 in crops[j * settings.batch_size : (j + 1) * settings.batch_size]
                )
            )
            x, y, v = x.to(dist_.device), y.to(dist_.device), v.to(dist_.device)
            seeds = [_noise_seed(settings.seed, epoch, g) for g in gix]
            ctx = NoiseContext.for_samples(seeds, sync=dist_.world > 1, valid=v)
            logits = net(x, noise=ctx)
            bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
            task = (bce * v).sum() * (dist_.world / n_valid)  # DDP averages: global frame mean
            loss = task
            soft = None
            if st["phase"] == "width":
                constraint.budget = _anneal_budget(st["step"], anneal_steps, float(full_macs), float(budget))
                soft = model.soft_macs()
                loss = loss + constraint.penalty(soft)
                if st.get("floor_mult", 0.0) > 0:
                    loss = loss - st["floor_mult"] * (soft / constraint.budget)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if st["phase"] == "width":
                from train.noise import project_widths

                project_widths(model)
                _dual_step(constraint, float(soft.detach()), settings.dual_down)
                if settings.dual_floor > 0:
                    st["floor_mult"] = _floor_step(st.get("floor_mult", 0.0), constraint, float(soft.detach()),
                                                   settings.dual_floor, settings.dual_down)
            st["step"] += 1
            losses.append(float(task.detach()))  # this rank's estimate of the global frame mean
            if bar is not None:
                post = {"loss": f"{np.mean(losses[-20:]):.4f}"}
                if soft is not None:
                    post.update(
                        macs=f"{float(soft.detach()):.0f}",
                        target=f"{constraint.budget:.0f}",
                        mult=f"{constraint.multiplier:.3g}",
                    )
                else:
                    post.update(macs=model.hard_macs(), budget=budget)
                if st["history"]:
                    post["devAUC"] = f"{st['history'][-1]['dev_auc']:.4f}"
                bar.set_postfix(post)
                bar.update(1)
        if bar is not None:
            bar.close()
        # ---- epoch end: dev AUC of the consolidated (trimmed to budget) model, selection, checkpoint
        rec: dict[str, Any] = {
            "epoch": epoch + 1,
            "phase": st["phase"],
            "loss": float(np.mean(losses)),
            "soft_macs": float(model.soft_macs().detach()),
            "multiplier": constraint.multiplier,
        }
        if dist_.main:
            cons = _consolidate(model, budget, settings, spec)
            rec["macs"] = step_cost(cons)["macs_per_hop"]
            rec["dev_auc"] = dev_auc(cons, dev_d)
            mel, ch = model.kept_counts()
            rec["mel_bands"], rec["channels"] = mel, ch
            if st["phase"] == "finetune":
                if rec["dev_auc"] > st["best_auc"]:
                    st.update(
                        best_auc=rec["dev_auc"],
                        best_epoch=epoch + 1,
                        bad_epochs=0,
                        best={"desc": cons.description(), "state_dict": cons.state_dict()},
                    )
                else:
                    st["bad_epochs"] += 1
                if st["bad_epochs"] >= settings.patience:
                    st["done"] = True
            log(
                f"epoch {epoch + 1}/{settings.epochs} [{st['phase']}] loss {rec['loss']:.4f} "
                f"dev AUC {rec['dev_auc']:.4f} MACs/hop {rec['macs']} (soft {rec['soft_macs']:.0f}, "
                f"budget {budget}, mult {constraint.multiplier:.3g}) mel {mel} ch {ch}"
            )
        st["history"].append(rec)
        st["epoch"] = epoch + 1
        st["elapsed"] += time.perf_counter() - t_epoch
        st = _broadcast_obj(st, dist_)
        if dist_.main:
            ck = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "constraint": constraint.state_dict(),
                "state": st,
                "budget_macs": budget,
                "torch_rng": torch.get_rng_state(),
            }
            atomic_write_bytes(ckpt_path, _state_bytes(ck))
        if (
            stop_after_epoch is not None
            and st["epoch"] >= stop_after_epoch
            and not st["done"]
            and st["epoch"] < settings.epochs
        ):
            interrupted = True
            break

    t_final = time.perf_counter()
    best = st["best"]
    if best is None:  # no fine-tune epoch ran (interrupted, or epochs == 1): snap what we have
        cons = _consolidate(model, budget, settings, spec)
        best_epoch = st["epoch"]
    else:
        cons = StreamingVAD.from_description(best["desc"], best["state_dict"])
        best_epoch = st["best_epoch"]
    cost = step_cost(cons)
    metrics: dict[str, Any] = {}
    if dist_.main and not interrupted:
        metrics = evaluate(cons, dev_d, data["test"])
    wall = st["elapsed"] + (time.perf_counter() - t_final)
    return TrainResult(
        model=cons,
        cost=cost,
        metrics=metrics,
        history=st["history"],
        budget_macs=budget,
        wall_time_s=wall,
        best_epoch=best_epoch,
        interrupted=interrupted,
    )


def _dual_step(constraint: Any, cost: float, down: float) -> None:
    """Dual ascent with a faster descent: below the aim the violation counts `down` times, so the multiplier
    unwinds quickly once the widths reach the (annealed) budget instead of shrinking them far below it."""
    aim_cost = constraint.target * constraint.budget
    if cost < aim_cost and constraint.mode == "dual":
        cost = aim_cost - down * (aim_cost - cost)
    constraint.update(cost)


def _floor_step(mult: float, constraint: Any, cost: float, floor: float, down: float) -> float:
    """Dual ascent of the lower-bound multiplier: rises (at dual_lr) while the soft cost is below
    floor * aim * budget, falls `down` times faster above it (mirror of `_dual_step`), clipped like the upper."""
    lo = floor * constraint.target * constraint.budget
    v = 1.0 - cost / lo
    if v < 0:
        v *= down
    v = max(-constraint.max_violation, min(constraint.max_violation, v))
    return max(0.0, mult + constraint.dual_lr * v)


def _noise_seed(seed: int, epoch: int, g: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, g, 0x5EED]).generate_state(1, np.uint64)[0] >> 1)


def _freeze_widths(model: VADNet, opt: torch.optim.Optimizer) -> None:
    for w in model.all_widths():
        w._param().requires_grad_(False)
        w._param().grad = None


def _consolidate(model: VADNet, budget: int, settings: TrainSettings, spec: Any) -> StreamingVAD:
    was = model.training
    dev = _device_of(model)
    model.eval()
    ix = model.kept_indices() if _all_fixed(model) else snap_indices(model.cpu(), budget, settings.round_to)
    extra = {"frontend": spec.to_dict(), "budget_macs": budget}
    cons = model.cpu().consolidate(ix, extra=extra)
    model.to(dev).train(was)
    return cons


def _all_fixed(model: VADNet) -> bool:
    return all(bool(w.fixed) for w in model.all_widths())


def _device_of(model: VADNet) -> torch.device:
    return next(model.parameters()).device


def settings_macs_range(settings: TrainSettings) -> tuple[int, int]:
    m = build_model(settings)
    return m.min_macs(), m.max_macs()


def finite_or_none(x: Any) -> Any:
    return x if isinstance(x, int | float) and math.isfinite(x) else None
