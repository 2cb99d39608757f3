"""The training loop shared by the baselines (the same data pipeline as `train.vad_train`: random crops of
the training clips, seeded by (seed, epoch), masked frame BCE, Adam, dev AUC of the exported model after every
epoch, early stopping with the same patience in fine-tuning)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from train.baselines.surgery import GatedVAD
from train.vad_model import StreamingVAD
from train.vad_train import SplitData, TrainSettings, crop_batch, dev_auc, make_crops


@dataclass
class FitResult:
    model: StreamingVAD  # the selected consolidated model (gates folded)
    gated: GatedVAD  # the trained wrapper (last epoch)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def crop_frames(settings: TrainSettings) -> int:
    from train.frontend import FrontEndSpec

    spec = FrontEndSpec.from_dict(settings.frontend) if settings.frontend else FrontEndSpec()
    return max(8, int(round(settings.crop_seconds * spec.sample_rate / spec.hop_length)))


def phase_epochs(settings: TrainSettings) -> tuple[int, int]:
    """(first phase, fine-tune) epochs: the same split as the noise-width trainer's snap epoch."""
    e = int(settings.epochs)
    if e <= 1:
        return 1, 0
    snap = max(1, min(e - 1, int(round(settings.snap_at * e))))
    return snap, e - snap


def fit(
    gated: GatedVAD,
    data: dict[str, SplitData],
    settings: TrainSettings,
    *,
    epochs: int,
    first_epoch: int = 0,
    export: Callable[[GatedVAD], StreamingVAD],
    penalty: Callable[[GatedVAD], torch.Tensor] | None = None,
    after_step: Callable[[GatedVAD, int], None] | None = None,
    gate_lr: float | None = None,
    select_best: bool = True,
    early_stop: bool = True,
    desc: str = "fit",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train `gated` for `epochs` epochs (crop draws continue from `first_epoch`, so pretrain + fine-tune use
    the same crops as epochs 0..E-1 of the noise-width run). After each epoch `export(gated)` gives the model
    that would be deployed; its dev AUC selects the best epoch (`select_best`) or the last one is kept."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    if epochs <= 0:
        gated.eval()
        return FitResult(model=export(gated), gated=gated, best_epoch=first_epoch)
    train_d, dev_d = data["train"], data["dev"]
    crop = crop_frames(settings)
    lengths = [len(y) for y in train_d.labels]
    gate_params = [p for n, p in gated.named_parameters() if n.startswith("gates")]
    weight_params = [p for n, p in gated.named_parameters() if not n.startswith("gates")]
    groups = [{"params": weight_params, "lr": settings.lr, "weight_decay": settings.weight_decay}]
    if gate_params:
        groups.append({"params": gate_params, "lr": gate_lr or settings.lr, "weight_decay": 0.0})
    opt = torch.optim.Adam(groups)
    history: list[dict[str, Any]] = []
    best, best_auc, best_epoch, bad = None, -1.0, 0, 0
    step = 0
    bands = torch.tensor(gated.base.desc["mel_bands"], dtype=torch.long)
    if train_d.inputs is None:
        raise ValueError("fit: data['train'].inputs is not set (call train.baselines.surgery.prepare_inputs)")
    for e in range(epochs):
        epoch = first_epoch + e
        crops = make_crops(lengths, crop, settings.crops_per_epoch, settings.seed, epoch)
        n_batches = max(1, len(crops) // settings.batch_size)
        crops = crops[: n_batches * settings.batch_size]
        torch.manual_seed(np.random.SeedSequence([settings.seed, epoch, 0xBA5E]).generate_state(1)[0])
        gated.train()
        losses = []
        for j in tqdm(range(n_batches), desc=f"{desc} {e + 1}/{epochs}", disable=not progress, leave=False):
            x, y, v = crop_batch(train_d, crops[j * settings.batch_size : (j + 1) * settings.batch_size], crop)
            logits = gated(x[..., bands])
            bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
            task = (bce * v).sum() / v.sum().clamp_min(1)
            loss = task if penalty is None else task + penalty(gated)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(gated, step)
            step += 1
            losses.append(float(task.detach()))
        gated.eval()
        model = export(gated)
        rec = {"epoch": epoch + 1, "phase": desc, "loss": float(np.mean(losses)), "dev_auc": dev_auc(model, dev_d)}
        history.append(rec)
        if log:
            log(f"{desc} epoch {epoch + 1}: loss {rec['loss']:.4f} dev AUC {rec['dev_auc']:.4f}")
        if not select_best or rec["dev_auc"] > best_auc:
            best, best_auc, best_epoch, bad = model, rec["dev_auc"], epoch + 1, 0
        else:
            bad += 1
            if early_stop and bad >= settings.patience:
                break
    assert best is not None
    return FitResult(model=best, gated=gated, history=history, best_epoch=best_epoch,
                     seconds=time.perf_counter() - t0)
