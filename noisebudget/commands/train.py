"""`noisebudget train [--config FILE] [--budget-macs N | --target NAME --cpu-load P] [--corpus DIR]
[--out RUN_DIR] [--resume]`.

Trains the streaming VAD with learned widths under a MAC budget per 10 ms hop and writes the run folder
(consolidated model + architecture JSON, widths, exact cost, metrics, config; see `train.run_dir`).
Runs data-parallel under `torchrun` (only rank 0 writes)."""

from __future__ import annotations

import argparse
import os

NAME = "train"
HELP = (
    "Train the VAD with learned widths under a MAC budget per hop (given, or derived from a target "
    "profile and CPU load) into a run folder; --resume continues a killed run."
)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=("vad", "spoof"), default=None,
                        help="vad (default) or spoof (anti-spoofing CNN, budget in MACs per utterance second; "
                             "default config noisebudget/configs/spoof.toml); a config file may set task = \"spoof\"")
    parser.add_argument("--config", metavar="FILE", help="TOML run config (default: the built-in default)")
    parser.add_argument("--corpus", metavar="DIR", help="corpus folder (default: build/use the built-in corpus)")
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/vad-b<budget>-s<seed>)")
    parser.add_argument("--budget-macs", type=int, metavar="N", help="model MACs per 10 ms hop")
    parser.add_argument("--target", metavar="NAME", help="target profile to derive the budget from (e.g. cortex-m4)")
    parser.add_argument("--cpu-load", type=float, metavar="P", help="CPU fraction for front end + model (0..1]")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--seed", type=int, help="training seed")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="training device (default: auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")


def overrides(args: argparse.Namespace) -> dict:
    from train.errors import UsageError

    if args.budget_macs is not None and (args.target is not None or args.cpu_load is not None):
        raise UsageError("give either --budget-macs or --target/--cpu-load, not both")
    ov = {
        "corpus.dir": args.corpus,
        "budget.macs": args.budget_macs,
        "budget.target": args.target,
        "budget.cpu_load": args.cpu_load,
        "train.epochs": args.epochs,
        "train.seed": args.seed,
        "train.device": args.device,
    }
    if args.target is not None or args.cpu_load is not None:
        ov["budget.macs"] = 0  # derive from the target even if the config file gives MACs
    return ov


def task_of(args: argparse.Namespace) -> str:
    """--task, else the config file's top-level `task` key, else "vad"."""
    if getattr(args, "task", None):
        return args.task
    if args.config:
        import tomllib
        from pathlib import Path

        from train.errors import UsageError

        try:
            task = tomllib.loads(Path(args.config).read_text(encoding="utf-8")).get("task", "vad")
        except (OSError, tomllib.TOMLDecodeError):
            return "vad"  # the config loader reports the problem
        if task not in ("vad", "spoof"):
            raise UsageError(f"config file {args.config}: 'task' must be vad or spoof (got {task!r})")
        return task
    return "vad"


def run(args: argparse.Namespace) -> int:
    from noisebudget.pipeline import build_config, format_summary, train_run

    if args.resume and not args.out:
        from train.errors import UsageError

        raise UsageError("--resume needs --out RUN_DIR (the folder of the run to continue)")
    if task_of(args) == "spoof":
        from noisebudget.spoof_pipeline import build_spoof_config, format_spoof_summary, train_spoof_run

        cfg = build_spoof_config(args.config, overrides(args))
        result, budget, out = train_spoof_run(cfg, args.out, resume=args.resume, progress=not args.no_progress)
        print(format_spoof_summary(result, budget, out))
        return 0
    cfg = build_config(args.config, overrides(args))
    result, budget, out = train_run(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(format_summary(result, budget, out))
    return 0
