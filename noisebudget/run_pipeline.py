"""`noisebudget run`: the whole pipeline from one config, with cached stages and a report.

    corpus -> train (learned widths under the target's budget) -> convert (int8 TFLite + ONNX, verify)
    -> firmware (C project for the target) -> measure (QEMU instruction counts -> estimated cycles, flash, RAM)
    -> check (budget gate: exit 0 within, 1 over) -> report (report.md + PNG plots)

Everything lands in one run folder (default `runs/default`):

    RUN/            the training run (model/, metrics.json, cost.json, widths.json, history.json, config.toml)
    RUN/model.tflite, model_float.tflite, model.onnx, model_io.json, verify.json       (convert)
    RUN/firmware/   the generated C project (project.json, firmware.json, measure.json)   (firmware, measure)
    RUN/check.json, RUN/check.junit.xml                                                    (check)
    RUN/report/report.md + *.png                                                           (report)
    RUN/stages.json the input digest of every finished stage

A stage is skipped when its input digest (config, upstream artifacts, the code version) equals the one recorded
after its last successful run and its outputs exist, so re-running with nothing changed takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from noisebudget import __version__
from noisebudget.config import RunConfig, dump_config
from train.atomic import atomic_write_json, atomic_write_text

STAGES_FILE = "stages.json"
DEFAULT_OUT = Path("runs/default")


def _digest(*parts: Any) -> str:
    h = hashlib.sha256(__version__.encode())
    for p in parts:
        if isinstance(p, Path):
            h.update(p.read_bytes() if p.is_file() else str(p).encode())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _code_digest(*dirs: str) -> str:
    """Digest of the source files a stage runs (so a code change invalidates its cache)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for d in dirs:
        for p in sorted((root / d).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".c", ".h", ".j2", ".mk", ".ld", ".S", ".toml"}:
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:20]


class Stages:
    """stages.json: stage name -> input digest of its last successful run."""

    def __init__(self, out: Path) -> None:
        self.path = out / STAGES_FILE
        self.done: dict[str, str] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def fresh(self, name: str, digest: str, *outputs: Path) -> bool:
        return self.done.get(name) == digest and all(p.exists() for p in outputs)

    def mark(self, name: str, digest: str) -> None:
        self.done[name] = digest
        atomic_write_json(self.path, self.done)


def run_pipeline(cfg: RunConfig, out_dir: str | Path | None = None, *, progress: bool = True,
                 log: Callable[..., None] = print, force: bool = False) -> int:
    """Run every stage; returns the budget check's exit code (0 within, 1 over)."""
    from noisebudget.pipeline import resolve_corpus

    out = Path(out_dir) if out_dir else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    st = Stages(out)
    if force:
        st.done = {}
    times: dict[str, float] = {}
    cfg_text = dump_config(cfg)

    def stage(name: str, digest: str, outputs: list[Path], fn: Callable[[], Any]) -> bool:
        t0 = time.perf_counter()
        if st.fresh(name, digest, *outputs):
            log(f"[{name}] up to date")
            times[name] = 0.0
            return False
        log(f"[{name}] running")
        fn()
        times[name] = time.perf_counter() - t0
        st.mark(name, digest)
        log(f"[{name}] done in {times[name]:.1f} s")
        return True

    # 1. corpus (built once, cached by folder)
    t0 = time.perf_counter()
    corpus = resolve_corpus(cfg, progress=progress)
    times["corpus"] = time.perf_counter() - t0
    manifest = corpus / "manifest.jsonl"

    # 2. train
    d_train = _digest(cfg_text, manifest, _code_digest("train"))

    def do_train() -> None:
        from noisebudget.pipeline import format_summary, train_run

        result, budget, _ = train_run(cfg, out, progress=progress, log=log)
        if result.interrupted:
            raise KeyboardInterrupt
        log(format_summary(result, budget, out))

    stage("train", d_train, [out / "model" / "weights.pt", out / "metrics.json"], do_train)

    # 3. convert + verify
    d_convert = _digest(d_train, out / "model" / "weights.pt", _code_digest("convert"))

    def do_convert() -> None:
        from noisebudget.commands.convert import convert_run_dir, format_report

        rep = convert_run_dir(out, progress=progress)
        log(format_report(rep))

    stage("convert", d_convert, [out / "model.tflite", out / "verify.json"], do_convert)

    # 4. firmware
    fw = out / "firmware"
    d_fw = _digest(d_convert, out / "model.tflite", cfg.budget.target, _code_digest("convert", "firmware_templates"))

    def do_firmware() -> None:
        from convert.codegen import Options, format_summary, generate

        clip = _test_clip(corpus)
        info = generate(out, fw, Options(target=cfg.budget.target, clip=clip))
        log(format_summary(info))

    stage("firmware", d_fw, [fw / "project.json"], do_firmware)

    # 5. measure
    d_measure = _digest(d_fw, fw / "project.json")

    def do_measure() -> None:
        from convert.measure import format_measurement

        m = measure_firmware(fw, cfg.budget.target)
        atomic_write_json(fw / "measure.json", m.to_dict())
        log(format_measurement(m))

    stage("measure", d_measure, [fw / "measure.json"], do_measure)

    # 6. check (always: it is cheap and its verdict is the exit code)
    code, items = check_budget(fw / "measure.json", cfg, out, log=log)

    # 7. report
    t0 = time.perf_counter()
    from noisebudget.report import write_report

    report = write_report(out, corpus, cfg, items, times)
    times["report"] = time.perf_counter() - t0
    log(f"report: {report}")
    log(f"verdict: {'WITHIN BUDGET' if code == 0 else 'OVER BUDGET'} (exit {code})")
    return code


def _test_clip(corpus: Path):
    """The first test clip that has speech (int16), at most 4 s: the example app's embedded audio."""
    import numpy as np

    from train.data.corpus import load_manifest, read_clip

    clips = [c for c in load_manifest(corpus) if c.split == "test"]
    clips.sort(key=lambda c: (c.negative, c.id))
    audio, _ = read_clip(corpus, clips[0])
    return np.clip(np.round(audio[: 4 * 16000] * 32768.0), -32768, 32767).astype(np.int16)


def measure_firmware(fw: Path, target_name: str):
    from convert.measure import build_project, load_project, measure_elf
    from noisebudget.commands.calibrate import load_calibration
    from noisebudget.target_profiles import load_target

    proj = load_project(fw)
    target = load_target(target_name)
    board = proj.board or target.qemu_board
    elf = build_project(proj, board)
    cal, _ = load_calibration(target.name, [fw])
    return measure_elf(elf, board=board, table=target.timing_table, stage_names=proj.stages,
                       warmup=proj.warmup_hops, timeout_s=proj.timeout_s, calibration_factor=cal,
                       clock_hz=target.clock_hz, hop_rate_hz=proj.hop_rate_hz or target.hop_rate_hz,
                       target=target.name)


def check_budget(measure_json: Path, cfg: RunConfig, out: Path, *, log: Callable[..., None] = print):
    """The budget gate of the run: the config's CPU load on its target, the target's flash and RAM."""
    from convert.check import Budget, evaluate, exit_code, format_table, to_json, to_junit
    from noisebudget.target_profiles import load_target

    m = json.loads(measure_json.read_text())
    target = load_target(cfg.budget.target)
    budget = Budget(cycles_per_hop=None, cpu_load=cfg.budget.cpu_load, flash_bytes=target.flash_bytes,
                    ram_bytes=target.ram_bytes)
    items = evaluate(m, budget, clock_hz=target.clock_hz, hop_rate_hz=m.get("hop_rate_hz") or target.hop_rate_hz)
    log(format_table(items, title=f"budget check ({target.name}, CPU load <= {cfg.budget.cpu_load:.0%})"))
    meta = {"elf": m.get("elf"), "target": target.name, "board": m.get("board"), "budget": budget.__dict__}
    atomic_write_json(out / "check.json", to_json(items, meta))
    atomic_write_text(out / "check.junit.xml", to_junit(items))
    return exit_code(items), items
