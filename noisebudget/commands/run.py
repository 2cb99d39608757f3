"""`noisebudget run`: the main job on the built-in default (for now: train the VAD under the Cortex-M4 budget
on the built-in corpus and print the result summary; later stages extend it)."""

from __future__ import annotations

import argparse
import os

NAME = "run"
HELP = (
    "Run the whole pipeline on the built-in default (offline VAD corpus, Cortex-M4 @ 80 MHz budget) "
    "or on a config; prints the result summary."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from noisebudget.commands.train import add_common

    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from noisebudget.commands.train import overrides
    from noisebudget.pipeline import build_config, run_default

    cfg = build_config(args.config, overrides(args))
    main = int(os.environ.get("RANK", "0")) == 0
    return run_default(cfg, args.out, progress=not args.no_progress, log=print if main else _quiet)


def _quiet(*_a, **_k) -> None:
    return None
