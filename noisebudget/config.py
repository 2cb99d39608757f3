"""The run configuration: a TOML file read into small dataclasses, with defaults and strict key checking.

A config file only needs the keys it changes; everything else comes from the dataclass defaults, which are
the same values as the built-in `noisebudget/configs/default.toml`. Unknown sections or keys are rejected
with the key named (`UsageError`, exit 2), and so are values of the wrong type.

    cfg = load_config("my.toml")          # RunConfig
    cfg = default_config()                # the built-in default
    text = dump_config(cfg)               # TOML text (written into every run folder)

Sentinels (TOML has no null): `corpus.dir = ""` means "build/use the default corpus";
`budget.macs = 0` means "derive the budget from `budget.target` and `budget.cpu_load`".
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.errors import UsageError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("configs") / "default.toml"


@dataclass
class CorpusConfig:
    dir: str = ""  # an existing corpus folder (manifest.jsonl); "" = the default built-in corpus
    minutes: float = 60.0  # size of the built-in corpus when it has to be built
    seed: int = 0


@dataclass
class FrontEndConfig:
    """Log-mel front end (one frame per 10 ms hop): the fields of `train.frontend.FrontEndSpec`."""

    sample_rate: int = 16000
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 8000.0
    window: str = "hann_periodic"
    mel_scale: str = "htk"
    log_floor: float = 1e-6
    log_mode: str = "add"


@dataclass
class ModelConfig:
    """The streaming VAD family (`train.vad_model`): causal conv stem + dilated depthwise-separable blocks."""

    first_kernel: int = 3  # temporal kernel of the stem conv (mel bands -> channels[0])
    channels: list[int] = field(default_factory=lambda: [128, 128, 128, 128, 128, 128])  # stem + one per block
    kernel: int = 3  # temporal kernel of every depthwise conv
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])  # one per block
    ema_alpha: float = 0.01  # input stage: per-band running level (~1 s) subtracted from each frame; 0 = off
    kappa_min: float = 0.0625  # lower bound of every learned width fraction
    width_mode: str = "ordered"  # "ordered" | "per_unit" (hidden channels)
    input_width_mode: str = "ordered"  # "ordered" (the first K bands: front end computes K filters) | "per_unit"
    round_to: int = 1  # round kept channel counts down to a multiple of this (1 = no rounding)


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 16
    crop_seconds: float = 3.0  # random crops of clips, whole-sequence causal forward
    crops_per_epoch: int = 0  # 0 = about one pass over the training audio per epoch
    lr: float = 0.003  # Adam, weights
    width_lr: float = 0.01  # Adam, learned width fractions
    equal_unit_speed: bool = False  # width rates scaled by 1/width: every width moves the same units per step
    weight_decay: float = 0.0
    snap_at: float = 0.6  # fraction of the epochs spent learning widths; then widths are fixed, weights tuned
    anneal: float = 0.6  # fraction of the width phase over which the budget anneals from full size down
    patience: int = 4  # early stopping (fine-tune phase): epochs without a better dev AUC
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present) | "cpu" | "cuda"
    threads: int = 0  # torch intra-op threads per process on CPU; 0 = 1 (small convs; use torchrun to scale)


@dataclass
class BudgetConfig:
    macs: int = 0  # MACs per 10 ms hop for the model alone; 0 = derive from target + cpu_load
    target: str = "cortex-m4"  # a target profile name (noisebudget/targets/<name>.toml)
    cpu_load: float = 0.15  # fraction of the CPU the whole VAD (front end + model) may use
    mode: str = "dual"  # "dual" (Lagrange multiplier by dual ascent) | "fixed" (fixed penalty weight)
    weight: float = 1.0  # penalty weight in "fixed" mode
    dual_lr: float = 0.05  # dual ascent step on the multiplier
    dual_down: float = 4.0  # below the aim the multiplier falls this many times faster than it rises
    aim: float = 0.97  # train towards aim * budget; the final model is trimmed to <= budget


@dataclass
class RunConfig:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)


_CHOICES = {
    "model.width_mode": ("ordered", "per_unit"),
    "model.input_width_mode": ("ordered", "per_unit"),
    "train.device": ("auto", "cpu", "cuda"),
    "budget.mode": ("dual", "fixed"),
}


def default_config() -> RunConfig:
    """The built-in default (the same values as `configs/default.toml`)."""
    return RunConfig()


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's table; a missing file or bad TOML raises `UsageError` naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path} is not valid TOML: {e}") from None


def load_config(path: str | Path | None = None) -> RunConfig:
    """Read a TOML run config; missing keys take the defaults, unknown keys raise `UsageError`."""
    if path is None:
        return default_config()
    return config_from_dict(read_toml(path), source=str(path))


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> RunConfig:
    cfg = _build(RunConfig, data, "", source)
    validate(cfg, source=source)
    return cfg


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_config(cfg: RunConfig) -> str:
    import tomli_w

    return tomli_w.dumps(config_to_dict(cfg))


def set_value(cfg: RunConfig, dotted: str, value: Any, *, check: bool = True) -> None:
    """Set `section.key` (e.g. from a CLI flag), with the same checks as the file loader (`check=False`
    defers the consistency checks to a later `validate(cfg)`, for setting several keys together)."""
    section, _, key = dotted.partition(".")
    sub = getattr(cfg, section, None)
    if sub is None or not dataclasses.is_dataclass(sub) or key not in {f.name for f in dataclasses.fields(sub)}:
        raise UsageError(f"unknown config key '{dotted}'")
    hints = typing.get_type_hints(type(sub))
    setattr(sub, key, _check_value(hints[key], value, dotted, "command line"))
    if check:
        validate(cfg, source="command line")


def validate(cfg: RunConfig, *, source: str = "config") -> None:
    """Range and consistency checks; messages name the key."""

    def bad(key: str, msg: str) -> UsageError:
        return UsageError(f"{source}: '{key}' {msg}")

    for key, allowed in _CHOICES.items():
        sec, name = key.split(".")
        v = getattr(getattr(cfg, sec), name)
        if v not in allowed:
            raise bad(key, f"must be one of {', '.join(allowed)} (got {v!r})")
    m, t, b, f = cfg.model, cfg.train, cfg.budget, cfg.frontend
    if not m.channels or any(c < 1 for c in m.channels):
        raise bad("model.channels", "must be a non-empty list of positive channel counts")
    if len(m.channels) != len(m.dilations) + 1:
        raise bad(
            "model.channels",
            f"needs one entry for the stem plus one per block: len(dilations)+1 = {len(m.dilations) + 1} "
            f"(got {len(m.channels)})",
        )
    if any(d < 1 for d in m.dilations):
        raise bad("model.dilations", "must be positive")
    if m.first_kernel < 1 or m.kernel < 1:
        raise bad("model.kernel", "kernels must be >= 1")
    if not 0.0 < m.kappa_min <= 1.0:
        raise bad("model.kappa_min", "must be in (0, 1]")
    if not 0.0 <= m.ema_alpha < 1.0:
        raise bad("model.ema_alpha", "must be in [0, 1)")
    if m.round_to < 1:
        raise bad("model.round_to", "must be >= 1")
    if f.n_mels < 1 or f.hop_length < 1:
        raise bad("frontend.n_mels", "and frontend.hop_length must be >= 1")
    if t.epochs < 1:
        raise bad("train.epochs", "must be >= 1")
    if t.batch_size < 1:
        raise bad("train.batch_size", "must be >= 1")
    if t.crop_seconds <= 0:
        raise bad("train.crop_seconds", "must be > 0")
    if t.lr <= 0:
        raise bad("train.lr", "must be > 0")
    if not 0.0 < t.snap_at < 1.0:
        raise bad("train.snap_at", "must be in (0, 1)")
    if not 0.0 <= t.anneal <= 1.0:
        raise bad("train.anneal", "must be in [0, 1]")
    if t.width_lr <= 0:
        raise bad("train.width_lr", "must be > 0")
    if t.patience < 1:
        raise bad("train.patience", "must be >= 1")
    if b.macs < 0:
        raise bad("budget.macs", "must be >= 0 (0 = derive from the target)")
    if not 0.0 < b.cpu_load <= 1.0:
        raise bad("budget.cpu_load", "must be in (0, 1]")
    if b.dual_down < 1.0:
        raise bad("budget.dual_down", "must be >= 1")
    if not 0.5 <= b.aim <= 1.0:
        raise bad("budget.aim", "must be in [0.5, 1]")
    if cfg.corpus.minutes <= 0:
        raise bad("corpus.minutes", "must be > 0")


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    where = prefix or "top level"
    if not isinstance(data, dict):
        raise UsageError(f"{source}: '{prefix}' must be a table [{prefix}]")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            dotted = f"{prefix}.{key}" if prefix else key
            raise UsageError(f"{source}: unknown key '{dotted}' in {where} (allowed: {', '.join(sorted(fields))})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        dotted = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, dotted, source)
        else:
            kwargs[name] = _check_value(hint, value, dotted, source)
    return cls(**kwargs)


def _check_value(hint: Any, value: Any, dotted: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise UsageError(f"{source}: '{dotted}' must be a list (got {type(value).__name__})")
        return [_check_value(item, v, f"{dotted}[{i}]", source) for i, v in enumerate(value)]
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - schema uses only the types above
        ok = True
    if not ok:
        raise UsageError(f"{source}: '{dotted}' must be {hint.__name__} (got {value!r})")
    return value
