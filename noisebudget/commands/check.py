"""`noisebudget check`: the budget gate. Exit 0 within budget, 1 over budget, 2 on error.

PATH is a measure.json, a firmware project folder (measured first), an ELF, or a `noisebudget run` folder
(its firmware/measure.json and the CPU load in its config.toml). The cycle budget is
--cycles-per-hop and/or --cpu-load (else project.json's "budget", else the run default cpu_load 0.15);
flash and RAM limits default to the target profile's. Writes JSON (--json) and JUnit XML (--junit).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "check"
HELP = "Gate firmware on its cycle (or CPU load), flash and RAM budget: exit 0 within, 1 over, 2 error."

DEFAULT_CPU_LOAD = 0.15


def add_arguments(p: argparse.ArgumentParser) -> None:
    from noisebudget.commands.measure import add_measure_options

    p.add_argument("path", type=Path, help="measure.json, firmware project folder or ELF")
    add_measure_options(p)
    p.add_argument("--cycles-per-hop", type=float, default=None, help="cycle budget per hop (worst hop)")
    p.add_argument("--cpu-load", type=float, default=None, help="CPU-load budget as a fraction (0.08 = 8 %%)")
    p.add_argument("--flash-bytes", type=int, default=None, help="flash limit (default: target profile)")
    p.add_argument("--ram-bytes", type=int, default=None, help="RAM limit (default: target profile)")
    p.add_argument("--json", type=Path, default=None, help="write the result as JSON")
    p.add_argument("--junit", type=Path, default=None, help="write the result as JUnit XML")


def _run_budget(run_dir: Path) -> dict:
    """The CPU-load budget a `noisebudget run` folder was trained for (its config.toml)."""
    import tomllib

    cfg = run_dir / "config.toml"
    if not cfg.is_file():
        return {}
    return {"cpu_load": float(tomllib.loads(cfg.read_text()).get("budget", {}).get("cpu_load", DEFAULT_CPU_LOAD))}


def run(args: argparse.Namespace) -> int:
    from convert.check import Budget, evaluate, exit_code, format_table, to_json, to_junit
    from noisebudget.commands.measure import resolve_path
    from noisebudget.target_profiles import load_target
    from train.atomic import atomic_write_json, atomic_write_text
    from train.errors import DataError

    path: Path = resolve_path(args.path)
    proj_budget: dict = {}
    if path != args.path and (path / "measure.json").is_file():  # a run folder of `noisebudget run`
        proj_budget = _run_budget(args.path)
        path = path / "measure.json"
    if path.is_file() and path.suffix == ".json" and path.name != "project.json":
        try:
            m = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(m, dict):
            raise DataError(f"{path}: not a noisebudget measurement")
        target = load_target(args.target or m.get("target") or "cortex-m4")
    else:
        from noisebudget.commands.measure import measure_path

        if path.is_dir() or path.name == "project.json":
            from convert.measure import load_project

            proj_budget = dict(load_project(path).budget)
        meas, _ = measure_path(args)
        m = meas.to_dict()
        target = load_target(m["target"])
    cycles = args.cycles_per_hop if args.cycles_per_hop is not None else proj_budget.get("cycles_per_hop")
    load = args.cpu_load if args.cpu_load is not None else proj_budget.get("cpu_load")
    if cycles is None and load is None:
        load = DEFAULT_CPU_LOAD
    budget = Budget(
        cycles_per_hop=cycles,
        cpu_load=load,
        flash_bytes=args.flash_bytes or proj_budget.get("flash_bytes") or target.flash_bytes,
        ram_bytes=args.ram_bytes or proj_budget.get("ram_bytes") or target.ram_bytes,
    )
    items = evaluate(m, budget, clock_hz=target.clock_hz, hop_rate_hz=m.get("hop_rate_hz") or target.hop_rate_hz)
    print(format_table(items, title=f"budget check: {m.get('elf')} ({target.name})"))
    meta = {"elf": m.get("elf"), "target": target.name, "board": m.get("board"), "budget": budget.__dict__}
    if args.json:
        atomic_write_json(args.json, to_json(items, meta))
    if args.junit:
        atomic_write_text(args.junit, to_junit(items))
    return exit_code(items)
