"""One module per CLI subcommand.

Each module defines `NAME: str`, `HELP: str`, `add_arguments(parser)` and `run(args) -> int`.
Modules import heavy dependencies inside `run` so `noisebudget --help` stays fast.
"""
