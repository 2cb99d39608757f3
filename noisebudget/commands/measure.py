"""`noisebudget measure`: build firmware, count its instructions per stage on QEMU, estimate cycles.

PATH is a firmware project folder (with project.json, see convert/measure.py) or an ELF built with the
board start-up code (then give --target and, optionally, --stages 1=frontend,2=conv0).
Writes measure.json (into the project folder, or next to the ELF, or --out) and prints a table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

NAME = "measure"
HELP = "Count executed instructions per stage on QEMU and estimate cycles, flash and RAM of firmware."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="firmware project folder (project.json) or an ELF file")
    add_measure_options(p)
    p.add_argument("--out", type=Path, default=None, help="where to write measure.json")


def add_measure_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default=None, help="target profile (default: project.json's, else cortex-m4)")
    p.add_argument("--board", default=None, help="QEMU board (default: the target's)")
    p.add_argument("--stages", default=None, help="stage names for an ELF: 1=frontend,2=conv0")
    p.add_argument("--warmup", type=int, default=None, help="warm-up hops excluded (default 1)")
    p.add_argument("--pipeline-factor", type=float, default=None, help="override the timing table's factor")
    p.add_argument("--timeout", type=float, default=None, help="QEMU timeout in seconds (default 120)")
    p.add_argument("--no-calibration", action="store_true", help="ignore a stored calibration factor")


def _parse_stages(s: str | None) -> dict[int, str]:
    from train.errors import UsageError

    out: dict[int, str] = {}
    for part in (s or "").split(","):
        if not part.strip():
            continue
        k, _, v = part.partition("=")
        try:
            out[int(k)] = v.strip() or f"stage{k}"
        except ValueError:
            raise UsageError(f"--stages: '{part}' is not ID=NAME") from None
    return out


def resolve_path(path: Path) -> Path:
    """A run folder of `noisebudget run` (RUN/firmware/project.json) means its firmware project."""
    if path.is_dir() and not (path / "project.json").is_file() and (path / "firmware" / "project.json").is_file():
        return path / "firmware"
    return path


def measure_path(args: argparse.Namespace) -> tuple[Any, Path]:
    """Resolve PATH and options to a Measurement; returns (measurement, default output folder)."""
    from convert.measure import build_project, load_project, measure_elf
    from noisebudget.commands.calibrate import load_calibration
    from noisebudget.target_profiles import load_target
    from train.errors import DataError, UsageError

    path: Path = resolve_path(args.path)
    if not path.exists():
        raise DataError(f"{path}: no such project folder or ELF file")
    if args.warmup is not None and args.warmup < 0:
        raise UsageError("--warmup must be >= 0")
    proj = None
    if path.is_dir() or path.name == "project.json":
        proj = load_project(path)
        target = load_target(args.target or proj.target)
        board = args.board or proj.board or target.qemu_board
        elf = build_project(proj, board)
        stages = proj.stages | _parse_stages(args.stages)
        warmup = proj.warmup_hops if args.warmup is None else args.warmup
        hop_rate = proj.hop_rate_hz or target.hop_rate_hz
        timeout = args.timeout or proj.timeout_s
        out_dir = proj.root
    else:
        target = load_target(args.target or "cortex-m4")
        board = args.board or target.qemu_board
        elf, stages = path, _parse_stages(args.stages)
        warmup = 1 if args.warmup is None else args.warmup
        hop_rate, timeout, out_dir = target.hop_rate_hz, args.timeout or 120.0, path.parent
    cal, cal_file = (1.0, None) if args.no_calibration else load_calibration(target.name, [out_dir])
    m = measure_elf(
        elf,
        board=board,
        table=target.timing_table,
        stage_names=stages,
        warmup=warmup,
        timeout_s=timeout,
        calibration_factor=cal,
        pipeline_factor=args.pipeline_factor,
        clock_hz=target.clock_hz,
        hop_rate_hz=hop_rate,
        target=target.name,
    )
    if cal_file:
        print(f"applied calibration factor {cal:.4f} from {cal_file}")
    return m, out_dir


def run(args: argparse.Namespace) -> int:
    from convert.measure import format_measurement
    from train.atomic import atomic_write_json

    m, out_dir = measure_path(args)
    out = args.out or out_dir / "measure.json"
    atomic_write_json(out, m.to_dict())
    print(format_measurement(m))
    print(f"wrote {out}")
    return 0
