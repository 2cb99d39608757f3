"""`noisebudget run`: the whole pipeline on the built-in default (offline VAD corpus, Cortex-M4 @ 80 MHz budget)
or on a config: data -> train -> convert -> verify -> firmware -> build -> measure -> check -> report.
Stages are cached in the run folder; the exit code is the budget check's (0 within, 1 over, 2 error)."""

from __future__ import annotations

import argparse
import os

NAME = "run"
HELP = (
    "Run the whole pipeline (data, train, convert, firmware, measure, check, report) on the built-in default "
    "or a config; exit 0 within budget, 1 over budget."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from noisebudget.commands.train import add_common

    add_common(parser)
    parser.add_argument("--force", action="store_true", help="recompute every stage (ignore the stage cache)")


def run(args: argparse.Namespace) -> int:
    from noisebudget.commands.train import overrides, task_of
    from noisebudget.pipeline import build_config
    from noisebudget.run_pipeline import run_pipeline

    if task_of(args) == "spoof":
        from noisebudget.spoof_pipeline import build_spoof_config, run_spoof_pipeline

        cfg = build_spoof_config(args.config, overrides(args))
        return run_spoof_pipeline(cfg, args.out, progress=not args.no_progress, force=args.force)
    cfg = build_config(args.config, overrides(args))
    main = int(os.environ.get("RANK", "0")) == 0
    return run_pipeline(cfg, args.out, progress=not args.no_progress, log=print if main else _quiet,
                        force=args.force)


def _quiet(*_a, **_k) -> None:
    return None
