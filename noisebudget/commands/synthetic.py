"""`noisebudget synthetic`: the synthetic case study of learned widths."""

from __future__ import annotations

import argparse

NAME = "synthetic"
HELP = ("Synthetic case study: learned widths vs post-hoc pruning vs an oracle grid "
        "(8 informative of 64 inputs); prints a table, writes a plot.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, action="append", metavar="N",
                        help="MAC budget per inference (repeatable; default 150 300 600 1200)")
    parser.add_argument("--seeds", type=int, default=None, metavar="K", help="seeds per method (default 10)")
    parser.add_argument("--quick", action="store_true", help="smoke run (fewer steps, budgets, grid points)")
    parser.add_argument("--out", default="runs/benchmarks/synthetic", metavar="DIR", help="output folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a train.synthetic.SynthConfig field (repeatable), e.g. hidden_temperature=1")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from train.synthetic import SynthConfig, apply_overrides, quick_config, run_and_report, validate

    torch.set_num_threads(1)
    cfg = quick_config() if args.quick else SynthConfig()
    if args.budget:
        cfg = dataclasses.replace(cfg, budgets=tuple(args.budget))
    if args.seeds is not None:
        cfg = dataclasses.replace(cfg, seeds=args.seeds)
    cfg = apply_overrides(cfg, args.set)
    validate(cfg)
    run_and_report(cfg, args.out)
    return 0
