"""The `noisebudget` command: discovers subcommands in `noisebudget.commands`, maps errors to exit codes.

Exit codes: 0 success / within budget, 1 over budget (check), 2 usage or data error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from noisebudget import __version__
from noisebudget import commands as _commands
from train.errors import NoisebudgetError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep one format
        self.print_usage(sys.stderr)
        print(f"noisebudget: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _command_modules() -> list:
    mods = []
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"{_commands.__name__}.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="noisebudget",
        description="Train a speech model under an MCU budget, convert it to int8 TFLite Micro, "
        "generate Cortex-M firmware, measure it and gate the budget.",
    )
    parser.add_argument("--version", action="version", version=f"noisebudget {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except NoisebudgetError as e:
        print(f"noisebudget {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
