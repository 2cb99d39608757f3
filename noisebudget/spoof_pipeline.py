"""The anti-spoofing task (`--task spoof`): config, budget, corpus, train, convert and the whole pipeline.

    cfg = build_spoof_config(path, overrides)      # SpoofRunConfig (defaults = configs/spoof.toml)
    budget = resolve_spoof_budget(cfg)             # MACs per utterance second
    result, budget, out = train_spoof_run(cfg, out_dir)
    rep = convert_spoof_run(run_dir)               # int8/float TFLite, ONNX, spoof_io.json, verify.json
    code = run_spoof_pipeline(cfg, out_dir)        # corpus -> train -> convert -> firmware -> measure -> check

Budget. The model scores one window of `model.window_frames` 10 ms frames (2.01 s by default). Its cost is
MACs per utterance second = MACs per window / window seconds. Given (`budget.macs`), or derived from the target
profile: cpu_load * clock / cycles per MAC (the model alone: the front end already runs for the VAD), with
`budget.cycles_per_mac` = 4.5 by default: measured 2.9-3.8 est. cycles/MAC on spoof firmware (Cortex-M4, QEMU
mps2-an386, DSP kernels: 3.25 M cycles for 845 k MACs and 5.24 M cycles for 1.78 M MACs per window; convolutions
over many time positions amortise the per-op overhead much better than the streaming VAD's one-position convs,
the target profile's "default" 9.5), plus margin; 0 = use the profile's "default".
The budget gate of `run`: the firmware is measured per invoke (one window) with the invoke rate set to
1 / window seconds, so `noisebudget check` compares estimated cycles per utterance second with
cpu_load * clock (and flash / RAM with the target's).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noisebudget.config import FrontEndConfig, _build, read_toml
from noisebudget.pipeline import Budget
from train.errors import DataError, UsageError

DEFAULT_SPOOF_CONFIG = Path(__file__).with_name("configs") / "spoof.toml"


@dataclass
class SpoofCorpusConfig:
    dir: str = ""  # a spoof corpus folder (manifest.jsonl) or an ASVspoof 2019 LA root; "" = built-in corpus
    minutes: float = 120.0  # size of the built-in spoof corpus when it has to be built (dev: 434 utterances)
    seed: int = 0


@dataclass
class SpoofModelConfig:
    window_frames: int = 201  # frames per scored window (odd lengths at every stride: no PAD ops)
    stem_channels: int = 32
    stem_kernel: int = 3
    channels: list[int] = field(default_factory=lambda: [32, 48, 64])  # one per residual stack
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1])
    strides: list[int] = field(default_factory=lambda: [2, 2, 2])
    kernel: int = 3
    kappa_min: float = 0.0625
    width_mode: str = "ordered"
    input_width_mode: str = "per_unit"  # mel bands: any subset may survive
    input_norm: str = "cmn"  # "cmn": subtract each band's mean over the window (gain/channel) | "global"


@dataclass
class SpoofTrainConfig:
    epochs: int = 30
    batch_size: int = 32
    windows_per_epoch: int = 2048  # random training windows per epoch (0 = one per training utterance)
    lr: float = 0.003
    width_lr: float = 0.01
    weight_decay: float = 0.0001
    snap_at: float = 0.3  # width phase = the first 30 % of the epochs; the fine-tune phase does most of the learning
    anneal: float = 0.6
    patience: int = 30  # early stopping off by default (the cosine schedule ends the run); best dev epoch is kept
    seed: int = 0
    threads: int = 0
    lr_schedule: str = "cosine"  # "constant" | "cosine" (weight lr decays to 0 over the fine-tune phase)
    freq_masks: int = 0  # SpecAugment on training windows (0 = off; off by default: worse dev EER, 2 seeds):
    freq_mask_bands: int = 6  # masks of up to freq_mask_bands mel bands ...
    time_masks: int = 0  # ... and of up to time_mask_frames frames
    time_mask_frames: int = 20


@dataclass
class SpoofBudgetConfig:
    macs: int = 0  # MACs per utterance second for the model; 0 = derive from target + cpu_load
    target: str = "cortex-m4"
    cpu_load: float = 0.05  # CPU fraction the spoof model may use while scoring audio continuously
    cycles_per_mac: float = 4.5  # for the derived budget; 0 = the target profile's "default" (streaming VAD) figure
    mode: str = "dual"
    weight: float = 1.0
    dual_lr: float = 0.05
    dual_down: float = 4.0
    aim: float = 0.97


@dataclass
class SpoofRunConfig:
    task: str = "spoof"
    corpus: SpoofCorpusConfig = field(default_factory=SpoofCorpusConfig)
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    model: SpoofModelConfig = field(default_factory=SpoofModelConfig)
    train: SpoofTrainConfig = field(default_factory=SpoofTrainConfig)
    budget: SpoofBudgetConfig = field(default_factory=SpoofBudgetConfig)


# ------------------------------------------------------------------------------------------------ config
def spoof_config_from_dict(data: dict[str, Any], *, source: str = "config") -> SpoofRunConfig:
    cfg = _build(SpoofRunConfig, data, "", source)
    validate_spoof(cfg, source=source)
    return cfg


def load_spoof_config(path: str | Path | None = None) -> SpoofRunConfig:
    if path is None:
        return SpoofRunConfig()
    return spoof_config_from_dict(read_toml(path), source=str(path))


def dump_spoof_config(cfg: SpoofRunConfig) -> str:
    import tomli_w

    return tomli_w.dumps(dataclasses.asdict(cfg))


def set_spoof_value(cfg: SpoofRunConfig, dotted: str, value: Any) -> None:
    from noisebudget.config import _check_value

    section, _, key = dotted.partition(".")
    sub = getattr(cfg, section, None)
    if sub is None or not dataclasses.is_dataclass(sub) or key not in {f.name for f in dataclasses.fields(sub)}:
        raise UsageError(f"unknown spoof config key '{dotted}'")
    import typing

    setattr(sub, key, _check_value(typing.get_type_hints(type(sub))[key], value, dotted, "command line"))


def build_spoof_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SpoofRunConfig:
    cfg = load_spoof_config(path)
    for key, value in (overrides or {}).items():
        if value is not None and key != "train.device":  # CPU only
            set_spoof_value(cfg, key, value)
    validate_spoof(cfg, source="command line")
    return cfg


def validate_spoof(cfg: SpoofRunConfig, *, source: str = "config") -> None:
    def bad(key: str, msg: str) -> UsageError:
        return UsageError(f"{source}: '{key}' {msg}")

    m, t, b = cfg.model, cfg.train, cfg.budget
    if cfg.task != "spoof":
        raise bad("task", f"must be 'spoof' in a spoof config (got {cfg.task!r})")
    if not (len(m.channels) == len(m.blocks) == len(m.strides)) or not m.channels:
        raise bad("model.channels", "model.channels, model.blocks and model.strides need one entry per stack")
    if min(m.channels) < 1 or min(m.blocks) < 1 or min(m.strides) < 1 or m.stem_channels < 1:
        raise bad("model.channels", "channels, blocks, strides and stem_channels must be >= 1")
    if m.kernel % 2 != 1 or m.stem_kernel % 2 != 1:
        raise bad("model.kernel", "kernels must be odd")
    if m.window_frames < 8:
        raise bad("model.window_frames", "must be >= 8")
    for key, v, allowed in (("model.width_mode", m.width_mode, ("ordered", "per_unit")),
                            ("model.input_width_mode", m.input_width_mode, ("ordered", "per_unit")),
                            ("model.input_norm", m.input_norm, ("global", "cmn")),
                            ("train.lr_schedule", t.lr_schedule, ("constant", "cosine")),
                            ("budget.mode", b.mode, ("dual", "fixed"))):
        if v not in allowed:
            raise bad(key, f"must be one of {', '.join(allowed)} (got {v!r})")
    if not 0.0 < m.kappa_min <= 1.0:
        raise bad("model.kappa_min", "must be in (0, 1]")
    if t.epochs < 2:
        raise bad("train.epochs", "must be >= 2 (width phase + fine-tuning)")
    if min(t.freq_masks, t.freq_mask_bands, t.time_masks, t.time_mask_frames) < 0:
        raise bad("train.freq_masks", "SpecAugment counts and sizes must be >= 0")
    if t.batch_size < 1 or t.patience < 1 or t.lr <= 0 or t.width_lr <= 0:
        raise bad("train", "batch_size, patience must be >= 1 and lr, width_lr > 0")
    if not 0.0 < t.snap_at < 1.0:
        raise bad("train.snap_at", "must be in (0, 1)")
    if not 0.0 <= t.anneal <= 1.0:
        raise bad("train.anneal", "must be in [0, 1]")
    if b.macs < 0:
        raise bad("budget.macs", "must be >= 0 (0 = derive from the target)")
    if not 0.0 < b.cpu_load <= 1.0:
        raise bad("budget.cpu_load", "must be in (0, 1]")
    if b.cycles_per_mac < 0:
        raise bad("budget.cycles_per_mac", "must be >= 0 (0 = the target profile's default)")
    if b.dual_down < 1.0 or not 0.5 <= b.aim <= 1.0:
        raise bad("budget", "dual_down must be >= 1 and aim in [0.5, 1]")
    if cfg.corpus.minutes <= 0:
        raise bad("corpus.minutes", "must be > 0")


def settings_from_spoof_config(cfg: SpoofRunConfig):
    from train.spoof_model import arch_from_config
    from train.spoof_train import SpoofTrainSettings

    m, t, b = cfg.model, cfg.train, cfg.budget
    return SpoofTrainSettings(
        arch=arch_from_config(m, cfg.frontend.n_mels, cfg.frontend.hop_length / cfg.frontend.sample_rate),
        kappa_min=m.kappa_min, width_mode=m.width_mode,
        input_width_mode=m.input_width_mode, epochs=t.epochs, batch_size=t.batch_size,
        windows_per_epoch=t.windows_per_epoch, lr=t.lr, width_lr=t.width_lr, weight_decay=t.weight_decay,
        patience=t.patience, seed=t.seed, threads=t.threads, budget_mode=b.mode, budget_weight=b.weight,
        dual_lr=b.dual_lr, dual_down=b.dual_down, aim=b.aim, snap_at=t.snap_at, anneal=t.anneal,
        lr_schedule=t.lr_schedule, freq_masks=t.freq_masks, freq_mask_bands=t.freq_mask_bands,
        time_masks=t.time_masks, time_mask_frames=t.time_mask_frames, frontend=dataclasses.asdict(cfg.frontend))


# ------------------------------------------------------------------------------------------------ budget
def resolve_spoof_budget(cfg: SpoofRunConfig) -> Budget:
    """MACs per utterance second: `budget.macs`, or cpu_load * clock / cycles_per_mac of the target."""
    b = cfg.budget
    if b.macs > 0:
        return Budget(int(b.macs), "macs", {"macs": int(b.macs), "unit": "MACs per utterance second"})
    from noisebudget.target_profiles import load_target

    p = load_target(b.target)
    cpm = b.cycles_per_mac if b.cycles_per_mac > 0 else p.cycles_per_mac.get("default")
    if not cpm:
        raise UsageError(f"target profile '{p.name}' has no default cycles_per_mac; give --budget-macs")
    cycles_s = b.cpu_load * p.clock_hz
    macs = int(cycles_s / cpm)
    return Budget(macs, "target", {"target": p.name, "clock_hz": float(p.clock_hz), "cpu_load": b.cpu_load,
                                   "cycles_per_second": cycles_s, "cycles_per_mac": float(cpm),
                                   "unit": "MACs per utterance second"})


def describe_budget(budget: Budget) -> str:
    if budget.source == "macs":
        return f"{budget.macs} MACs per utterance second (given)"
    d = budget.detail
    return (f"{budget.macs} MACs per utterance second from {d['target']} @ {d['clock_hz'] / 1e6:g} MHz, cpu load "
            f"{d['cpu_load']:.0%}: {d['cycles_per_second']:.0f} cycles/s / {d['cycles_per_mac']:g} cycles/MAC")


# ------------------------------------------------------------------------------------------------ corpus
def default_spoof_corpus_dir(cfg: SpoofRunConfig) -> Path:
    try:
        from train.data.spoof_build import default_out

        return Path(default_out(cfg.corpus.minutes, cfg.corpus.seed))
    except ImportError:
        return Path(".cache/corpus") / f"spoof-{cfg.corpus.minutes:g}m-s{cfg.corpus.seed}"


def resolve_spoof_corpus(cfg: SpoofRunConfig, *, progress: bool = True) -> Path:
    """`corpus.dir` (our spoof corpus or an ASVspoof root) or the default spoof corpus (built once by the
    SPOOF-DATA builder, `noisebudget data build --task spoof`)."""
    if cfg.corpus.dir:
        d = Path(cfg.corpus.dir)
        if not d.is_dir():
            raise DataError(f"corpus {d}: no such folder")
        return d
    d = default_spoof_corpus_dir(cfg)
    if (d / "manifest.jsonl").is_file():
        return d
    try:
        from train.data.spoof_build import build_spoof_corpus
    except ImportError as e:
        raise DataError(f"no spoof corpus at {d} and no spoof corpus builder ({e}); pass --corpus DIR") from e
    out = build_spoof_corpus(d, minutes=cfg.corpus.minutes, seed=cfg.corpus.seed, progress=progress)
    return Path(out) if isinstance(out, str | Path) else d


# ------------------------------------------------------------------------------------------------ train
def default_spoof_out_dir(budget: Budget, cfg: SpoofRunConfig) -> Path:
    return Path("runs") / f"spoof-b{budget.macs}-s{cfg.train.seed}"


def train_spoof_run(cfg: SpoofRunConfig, out_dir: str | Path | None = None, *, budget: Budget | None = None,
                    resume: bool = False, progress: bool = True, stop_after_epoch: int | None = None,
                    log: Callable[..., None] = print, data: Any = None):
    """Train under the budget and write the run folder. Returns (SpoofTrainResult, Budget, run dir)."""
    from train.spoof_train import check_budget, save_spoof_run, train_spoof

    budget = budget or resolve_spoof_budget(cfg)
    settings = settings_from_spoof_config(cfg)
    check_budget(settings, budget.macs)
    out = Path(out_dir) if out_dir else default_spoof_out_dir(budget, cfg)
    corpus = resolve_spoof_corpus(cfg, progress=progress) if data is None else Path(cfg.corpus.dir or ".")
    log(f"corpus {corpus}; budget {describe_budget(budget)}; run folder {out}")
    result = train_spoof(settings, corpus, out, budget_macs_per_s=budget.macs, resume=resume, progress=progress,
                         stop_after_epoch=stop_after_epoch, log=log, data=data)
    if not result.interrupted:
        cost = dict(result.cost)
        cost.update(budget_macs_per_second=budget.macs, budget_ratio=cost["macs_per_window"] /
                    (budget.macs * cost["window_seconds"]), budget_source=budget.source, budget_detail=budget.detail)
        metrics = dict(result.metrics)
        metrics.update(train_wall_time_s=result.wall_time_s, best_epoch=result.best_epoch,
                       epochs_run=len(result.history), corpus=str(corpus), task="spoof",
                       unseen_attacks=sorted({a for a in metrics.get("test", {}).get("per_attack", {})
                                              if a in result.unseen_attacks}))
        save_spoof_run(out, result, cost=cost, metrics=metrics, config_text=dump_spoof_config(cfg))
    return result, budget, out


def format_spoof_summary(result: Any, budget: Budget, out_dir: Path) -> str:
    from train.spoof_model import describe_widths

    c, d = result.cost, describe_widths(result.model.description())
    lines = [
        f"run folder        {out_dir}",
        f"budget            {describe_budget(budget)}",
        f"model             {c['macs_per_window']:,} MACs per {c['window_seconds']:g} s window = "
        f"{c['macs_per_second']:,} MACs/s ({c['macs_per_window'] / (budget.macs * c['window_seconds']):.1%} of "
        f"budget), {c['params']:,} params",
        f"widths            {d['mel_bands']}/{d['n_mels_full']} mel bands, stem {d['stem']}/{d['stem_full']}, "
        f"stacks {d['stacks']} (full {d['stacks_full']}), block-internal {[b['mid'] for b in d['blocks']]}",
    ]
    s = result.metrics.get("summary")
    if s:
        lines.append(f"EER               dev {s['dev_eer']:.4f} | test pooled {s['test_eer']:.4f} seen "
                     f"{s['test_eer_seen']:.4f} unseen {s['test_eer_unseen']:.4f}")
        pa = result.metrics["test"].get("per_attack", {})
        if pa:
            lines.append("per-attack (test) " + ", ".join(f"{k} {v:.3f}" for k, v in pa.items()))
    lines.append(f"training time     {result.wall_time_s:.0f} s, best epoch {result.best_epoch}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ convert
def run_config_of(run_dir: Path) -> SpoofRunConfig:
    p = Path(run_dir) / "config.toml"
    if not p.is_file():
        raise DataError(f"run folder {run_dir}: no config.toml (which corpus trained it?)")
    return spoof_config_from_dict(tomllib.load(io.BytesIO(p.read_bytes())), source=str(p))


def convert_spoof_run(run_dir: str | Path, out: str | Path | None = None, *, calib_windows: int = 200,
                      eval_split: str = "test", eval_windows: int = 0, progress: bool = True,
                      data: Any = None) -> dict:
    """Convert + verify a spoof run folder (artifacts next to it, see convert.spoof_export)."""
    import numpy as np
    import torch

    from convert.spoof_export import convert_spoof
    from train.frontend import FrontEndSpec
    from train.spoof_train import centre_windows, epoch_windows, load_spoof_model, load_spoof_splits, window

    run_dir = Path(run_dir)
    model = load_spoof_model(run_dir)
    cfg = run_config_of(run_dir)
    fe = model.desc.get("frontend")
    spec = FrontEndSpec.from_dict(fe) if fe else FrontEndSpec(**vars(cfg.frontend))
    if data is None:
        corpus = resolve_spoof_corpus(cfg, progress=progress)
        data = load_spoof_splits(corpus, spec, splits=("train", eval_split), progress=progress)
    bands = list(model.desc["mel_bands"])
    T = model.window_frames
    tr = data["train"]
    items = epoch_windows(tr, T, calib_windows, cfg.train.seed, 10_000)
    calib = np.stack([window(tr.feats[i], T, s)[:, bands] for i, s in items]).astype(np.float32)

    def norm(w: np.ndarray) -> np.ndarray:
        return model.normalize(torch.from_numpy(w)).numpy().astype(np.float32)

    ev = data[eval_split]
    n = len(ev.feats) if eval_windows <= 0 else min(eval_windows, len(ev.feats))
    ev_w = centre_windows(ev, T, bands)[:n]
    return convert_spoof(model, norm(calib), norm(ev_w), ev.utts[:n], out or run_dir)


# ------------------------------------------------------------------------------------------------ firmware
def example_windows(run_dir: Path, corpus: Path | None, n: int = 2, *, data: Any = None) -> list[list[Any]]:
    """int8 windows (quantized with the model's input parameters) of the first `n` test utterances (bona fide
    and spoof alternating) for the example app; random windows if no corpus is given."""
    import numpy as np
    import torch

    from convert.spoof_export import Runner
    from train.spoof_train import load_spoof_model, window

    model = load_spoof_model(run_dir)
    r = Runner((run_dir / "model.tflite").read_bytes(), "tflm")
    if data is None and corpus is None:
        rng = np.random.default_rng(0)
        return [[r.quantize(rng.standard_normal((model.window_frames, model.n_inputs)))] for _ in range(n)]
    if data is None:
        from train.frontend import FrontEndSpec
        from train.spoof_train import load_spoof_splits

        spec = FrontEndSpec.from_dict(model.desc["frontend"]) if model.desc.get("frontend") else FrontEndSpec()
        data = load_spoof_splits(corpus, spec, splits=("test",), progress=False)
    ts = data["test"]
    order = sorted(range(len(ts.utts)), key=lambda i: (ts.utts[i].label != "bonafide", ts.utts[i].id))
    bona = [i for i in order if ts.utts[i].label == "bonafide"]
    spoof = [i for i in order if ts.utts[i].label != "bonafide"]
    pick = [x for pair in zip(bona, spoof, strict=False) for x in pair][:n] or order[:n]
    bands = list(model.desc["mel_bands"])
    out = []
    for i in pick:
        w = window(ts.feats[i], model.window_frames)[:, bands]
        out.append([r.quantize(model.normalize(torch.from_numpy(w.astype(np.float32))).numpy())])
    return out


def firmware_bit_exact(fw: Path, model_bytes: bytes, inputs: list[list[Any]], *, sanitize: bool = False
                       ) -> dict[str, Any]:
    """Build the generated project for the host (optionally with AddressSanitizer/UBSan) and compare every
    invoke's output bytes with TFLM."""
    import subprocess

    import numpy as np

    from convert.spoof_export import Runner

    r = subprocess.run(["make", "-s", "-B", "-C", str(fw), "host", f"SANITIZE={int(sanitize)}"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise DataError(f"{fw}: host build failed:\n{r.stderr[-2000:]}")
    app = subprocess.run([str(fw / "build" / "host" / "app")], capture_output=True, text=True, timeout=600)
    if app.returncode != 0 or (sanitize and app.stderr):
        raise DataError(f"{fw}: host app failed (exit {app.returncode}):\n{app.stderr[-2000:]}")
    got = {}
    for line in app.stdout.splitlines():
        if line.startswith("O "):
            _, k, j, hx = line.split()
            got[(int(k), int(j))] = bytes.fromhex(hx)
    tflm = Runner(model_bytes, "tflm")
    res = []
    for k, row in enumerate(inputs):
        want = np.asarray(tflm.invoke_raw(row[0])[0]).reshape(-1).tobytes()
        res.append(got.get((k, 0)) == want)
    return {"invokes": len(inputs), "bit_exact": bool(res and all(res)), "per_invoke": res}


# ------------------------------------------------------------------------------------------------ pipeline
def run_spoof_pipeline(cfg: SpoofRunConfig, out_dir: str | Path | None = None, *, progress: bool = True,
                       log: Callable[..., None] = print, force: bool = False) -> int:
    """corpus -> train -> convert -> firmware (+ host bit-exactness vs TFLM) -> measure -> check -> report.
    Returns the budget check's exit code (0 within, 1 over). Stages are cached like `noisebudget run`'s."""
    from noisebudget.run_pipeline import Stages, _code_digest, _digest, check_budget, measure_firmware
    from train.atomic import atomic_write_json

    out = Path(out_dir) if out_dir else Path("runs/spoof-default")
    out.mkdir(parents=True, exist_ok=True)
    st = Stages(out)
    if force:
        st.done = {}
    times: dict[str, float] = {}
    cfg_text = dump_spoof_config(cfg)

    def stage(name: str, digest: str, outputs: list[Path], fn: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        if st.fresh(name, digest, *outputs):
            log(f"[{name}] up to date")
            times[name] = 0.0
            return
        log(f"[{name}] running")
        fn()
        times[name] = time.perf_counter() - t0
        st.mark(name, digest)
        log(f"[{name}] done in {times[name]:.1f} s")

    t0 = time.perf_counter()
    corpus = resolve_spoof_corpus(cfg, progress=progress)
    times["corpus"] = time.perf_counter() - t0
    manifest = corpus / "manifest.jsonl"

    d_train = _digest(cfg_text, manifest if manifest.is_file() else str(corpus), _code_digest("train"))

    def do_train() -> None:
        result, budget, _ = train_spoof_run(cfg, out, progress=progress, log=log)
        if result.interrupted:
            raise KeyboardInterrupt
        log(format_spoof_summary(result, budget, out))

    stage("train", d_train, [out / "model" / "weights.pt", out / "metrics.json"], do_train)

    d_convert = _digest(d_train, out / "model" / "weights.pt", _code_digest("convert"))

    def do_convert() -> None:
        from convert.spoof_export import format_report

        log(format_report(convert_spoof_run(out, progress=progress)))

    stage("convert", d_convert, [out / "model.tflite", out / "verify.json"], do_convert)

    fw = out / "firmware"
    d_fw = _digest(d_convert, out / "model.tflite", cfg.budget.target, _code_digest("convert", "firmware_templates"))

    def do_firmware() -> None:
        from convert.codegen import Options, format_summary, generate
        from train.spoof_train import load_spoof_model

        model = load_spoof_model(out)
        inputs = example_windows(out, corpus, 3)
        info = generate(out, fw, Options(target=cfg.budget.target, test_inputs=inputs,
                                         hop_rate_hz=1.0 / model.window_seconds))
        log(format_summary(info))
        be = firmware_bit_exact(fw, (out / "model.tflite").read_bytes(), inputs)
        atomic_write_json(fw / "bit_exact.json", be)
        log(f"generated C (host build) vs TFLM: {'bit-exact' if be['bit_exact'] else 'DIFFERS'} on "
            f"{be['invokes']} windows")
        if not be["bit_exact"]:
            raise DataError(f"{fw}: generated firmware output differs from TFLM ({be})")

    stage("firmware", d_fw, [fw / "project.json", fw / "bit_exact.json"], do_firmware)

    d_measure = _digest(d_fw, fw / "project.json")

    def do_measure() -> None:
        from convert.measure import format_measurement

        m = measure_firmware(fw, cfg.budget.target)
        atomic_write_json(fw / "measure.json", m.to_dict())
        log(format_measurement(m))

    stage("measure", d_measure, [fw / "measure.json"], do_measure)
    code, items = check_budget(fw / "measure.json", cfg, out, log=log)
    report = write_spoof_report(out, corpus, cfg, times)
    log(f"report: {report}")
    log(f"verdict: {'WITHIN BUDGET' if code == 0 else 'OVER BUDGET'} (exit {code})")
    return code


def write_spoof_report(out: Path, corpus: Path, cfg: SpoofRunConfig, times: dict[str, float]) -> Path:
    """report/report.md: budget, widths, EER (float/int8, pooled/seen/unseen/per attack), cycles, memory; and
    report/scores.png (int8 score histograms, bona fide vs spoof)."""
    from train.atomic import atomic_write_text

    def js(p: Path) -> dict:
        return json.loads(p.read_text()) if p.is_file() else {}

    cost, metrics, widths = js(out / "cost.json"), js(out / "metrics.json"), js(out / "widths.json")
    ver, meas, chk = js(out / "verify.json"), js(out / "firmware" / "measure.json"), js(out / "check.json")
    fwi = js(out / "firmware" / "firmware.json")
    rep = out / "report"
    rep.mkdir(exist_ok=True)
    lines = ["# noisebudget anti-spoofing run", "", f"- corpus: `{corpus}`",
             f"- budget: {cost.get('budget_macs_per_second')} MACs per utterance second ({cost.get('budget_source')})",
             f"- model: {cost.get('macs_per_window')} MACs per {cost.get('window_seconds', 0):.2f} s window = "
             f"{cost.get('macs_per_second')} MACs/s ({_pct(cost.get('budget_ratio'))} of budget), "
             f"{cost.get('params')} params",
             f"- widths: {widths.get('mel_bands')}/{widths.get('n_mels_full')} mel bands, stem {widths.get('stem')}, "
             f"stacks {widths.get('stacks')} (full {widths.get('stacks_full')})", "",
             f"- dev EER (float, centre windows): {_f(metrics.get('summary', {}).get('dev_eer'))}; training "
             f"{metrics.get('train_wall_time_s', 0):.0f} s, best epoch {metrics.get('best_epoch')}", "",
             "| EER (test) | pooled | seen | unseen |", "|---|---|---|---|"]
    e = ver.get("eer", {})
    for name in ("torch_float", "tflite_float", "tflite_int8"):
        if name in e:
            d = e[name]
            lines.append(f"| {name} | {_f(d.get('pooled'))} | {_f(d.get('seen'))} | {_f(d.get('unseen'))} |")
    if "tflite_int8" in e:
        lines += ["", "| attack (test; * = held out of training) | EER float | EER int8 |", "|---|---|---|"]
        unseen = set(metrics.get("unseen_attacks", []))
        for a, v in e["torch_float"]["per_attack"].items():
            lines.append(f"| {a}{'*' if a in unseen else ''} | {_f(v)} | {_f(e['tflite_int8']['per_attack'].get(a))} |")
    if meas:
        lines += ["", f"- firmware: {meas.get('board')} — {_stage_cycles(meas)}",
                  f"- flash / RAM: {_mem(meas)}; arena {fwi.get('arena_bytes')} B, weights {fwi.get('weight_bytes')} B"]
    if chk:
        lines += ["", "| budget check | measured | limit | ok |", "|---|---|---|---|"]
        for c in chk.get("checks", []):
            lines.append(f"| {c.get('name')} | {c.get('measured'):.4g} | {c.get('limit'):.4g} | {c.get('ok')} |")
    lines += ["", "stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items())]
    atomic_write_text(rep / "report.md", "\n".join(lines) + "\n")
    _score_plot(out, rep)
    return rep / "report.md"


def _score_plot(out: Path, rep: Path) -> None:
    hist = out / "history.json"
    if not hist.is_file():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = json.loads(hist.read_text())
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [r["epoch"] for r in h]
    ax[0].plot(ep, [r["macs_per_s"] for r in h], label="MACs/s (kept)")
    ax[0].plot(ep, [r["soft_macs_per_s"] for r in h], label="MACs/s (soft)")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    ax[1].plot(ep, [r["dev_eer"] if r["dev_eer"] is not None else math.nan for r in h])
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("dev EER")
    fig.tight_layout()
    fig.savefig(rep / "training.png", dpi=100)
    plt.close(fig)


def _stage_cycles(m: dict) -> str:
    c = m.get("cycles_per_hop_max")
    if c is None:
        return "n/a"
    rate = m.get("hop_rate_hz") or 0
    load = m.get("cpu_load")
    return (f"{c:,.0f} est. cycles per window (max over measured invokes), {c * rate:,.0f} cycles per utterance "
            f"second" + (f", CPU load {load:.2%}" if load is not None else ""))


def _mem(m: dict) -> str:
    mem = m.get("memory") or {}
    return ", ".join(f"{k} {mem[k]:,} B" for k in ("flash_bytes", "ram_bytes") if k in mem) or "n/a"


def _f(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4f}"


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{v:.1%}"
