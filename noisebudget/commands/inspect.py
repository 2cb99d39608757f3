"""`noisebudget inspect FILE.tflite [--json] [--no-arena] [--allow-float]`: per-op costs and TFLM arena."""

from __future__ import annotations

import argparse
import json

NAME = "inspect"
HELP = "Show per-op MACs, params, weight bytes, shapes and the TFLM arena size of an int8 .tflite model."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="FILE.tflite", help="int8 TFLite flatbuffer")
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON summary")
    parser.add_argument(
        "--no-arena", action="store_true", help="skip the TFLM arena measurement (tflite-micro interpreter)"
    )
    parser.add_argument(
        "--allow-float",
        action="store_true",
        help="accept float / non-int8 tensors (by default an int8 model is required, as for code generation)",
    )


def run(args: argparse.Namespace) -> int:
    from convert.inspect import format_report, inspect_model

    summary = inspect_model(args.model, arena=not args.no_arena, require_int8=not args.allow_float)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_report(summary))
    return 0
