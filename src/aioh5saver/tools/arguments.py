"""The command line's argument types (counts and durations parsed from text) and its usage
error.

The library calls check theirs with :mod:`aioh5saver.format.checks`; the command line's
argument types here raise :class:`argparse.ArgumentTypeError`, which argparse turns into a
usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from aioh5saver.format.checks import is_seconds

__all__ = [
    "UsageError",
    "non_negative_int",
    "positive_int",
    "positive_seconds",
]

Number = TypeVar("Number", int, float)


class UsageError(Exception):
    """A mistake the user can fix: reported as one line, exit status 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message


def _parsed(
    text: str, convert: Callable[[str], Number], valid: Callable[[Number], bool], expected: str
) -> Number:
    """``text`` converted, if it converts and the value is valid; else an argparse error."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds (0, negative, nan and inf are refused)."""
    return _parsed(text, float, is_seconds, "a positive number of seconds")


def non_negative_int(text: str) -> int:
    """A whole number, 0 or more."""
    return _parsed(text, int, lambda value: value >= 0, "a whole number >= 0")


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    return _parsed(text, int, lambda value: value > 0, "a positive integer")
