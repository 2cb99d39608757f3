"""Errors shared by every stage. The CLI maps them to exit codes (2 = usage or data error)."""

from __future__ import annotations


class NoisebudgetError(Exception):
    """Base class: a problem the user can act on. `exit_code` is what the CLI returns."""

    exit_code = 2


class UsageError(NoisebudgetError):
    """Bad arguments, options or configuration keys."""


class DataError(NoisebudgetError):
    """A file that is missing, empty, corrupt, unsupported or of the wrong shape. Name the file."""


class ConversionError(NoisebudgetError):
    """A model that cannot be read, converted or generated (unsupported op, float where int8 needed)."""
