"""The run folder: what `noisebudget train` leaves behind and what later stages read.

    RUN_DIR/
      config.toml          the run configuration used (all keys, defaults filled in)
      checkpoint.pt        training state for --resume (model with noise widths, optimizer, dual state, ...)
      model/arch.json      architecture description of the consolidated model (`StreamingVAD.description()`):
                           family, kept mel band indices, channels, kernels, dilations, layers with their
                           streaming state sizes, input normalisation, front-end spec, budget
      model/weights.pt     state dict of the consolidated plain model (no noise layers)
      widths.json          learned widths: mel bands kept (count, indices), channels per layer, full sizes
      cost.json            exact per-hop MACs / params / activation and state elements; budget and ratio
      metrics.json         dev / test metrics (`train.metrics`), summary, training wall time, best epoch
      history.json         one record per epoch (loss, dev AUC, MACs, widths, multiplier)

`load_run(run_dir) -> Run` rebuilds the consolidated model from arch.json + weights.pt without the training
code's noise layers (`Run.model` is a `train.vad_model.StreamingVAD` in eval mode).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from train.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from train.errors import DataError
from train.vad_model import StreamingVAD, describe_widths

ARCH = "model/arch.json"
WEIGHTS = "model/weights.pt"
WIDTHS = "widths.json"
COST = "cost.json"
METRICS = "metrics.json"
HISTORY = "history.json"
CONFIG = "config.toml"


@dataclass
class Run:
    path: Path
    model: StreamingVAD
    description: dict[str, Any]
    widths: dict[str, Any]
    cost: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    config_text: str

    @property
    def frontend(self) -> dict[str, Any]:
        return dict(self.description.get("frontend", {}))


def save_model(run_dir: str | Path, model: StreamingVAD) -> None:
    run_dir = Path(run_dir)
    atomic_write_json(run_dir / ARCH, model.description())
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    atomic_write_bytes(run_dir / WEIGHTS, buf.getvalue())


def load_model(run_dir: str | Path) -> StreamingVAD:
    run_dir = Path(run_dir)
    arch, weights = run_dir / ARCH, run_dir / WEIGHTS
    for p in (arch, weights):
        if not p.is_file():
            raise DataError(f"run folder {run_dir}: missing {p.relative_to(run_dir)} (train a model first)")
    try:
        desc = json.loads(arch.read_text(encoding="utf-8"))
        desc.pop("layers", None)  # derived; rebuilt from the description
        sd = torch.load(weights, map_location="cpu", weights_only=True)
        return StreamingVAD.from_description(desc, sd)
    except (ValueError, KeyError, RuntimeError) as e:
        raise DataError(f"run folder {run_dir}: cannot rebuild the model from {ARCH} + {WEIGHTS}: {e}") from e


def save_run(
    run_dir: str | Path,
    model: StreamingVAD,
    *,
    cost: dict[str, Any],
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    config_text: str,
) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG, config_text)
    save_model(run_dir, model)
    atomic_write_json(run_dir / WIDTHS, describe_widths(model.description()))
    atomic_write_json(run_dir / COST, cost)
    atomic_write_json(run_dir / METRICS, _finite(metrics))
    atomic_write_json(run_dir / HISTORY, _finite(history))
    return run_dir


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run folder {run_dir} does not exist")
    model = load_model(run_dir)

    def js(name: str, default: Any) -> Any:
        p = run_dir / name
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else default

    cfg = run_dir / CONFIG
    return Run(
        path=run_dir,
        model=model,
        description=model.description(),
        widths=js(WIDTHS, describe_widths(model.description())),
        cost=js(COST, {}),
        metrics=js(METRICS, {}),
        history=js(HISTORY, []),
        config_text=cfg.read_text(encoding="utf-8") if cfg.is_file() else "",
    )


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return _finite(obj.item())
    return obj
