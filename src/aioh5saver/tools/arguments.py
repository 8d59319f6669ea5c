"""The tools' argument checks: counts and durations, for the library calls and the command line.

The library calls (:func:`check_count`, :func:`check_seconds`) raise
:class:`InvalidArgumentError`; the command line's argument types (:func:`positive_seconds`,
:func:`non_negative_int`, :func:`positive_int`) raise :class:`argparse.ArgumentTypeError`,
which argparse turns into a usage error.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

from aioh5saver.errors import InvalidArgumentError, describe

__all__ = [
    "check_count",
    "check_seconds",
    "non_negative_int",
    "positive_int",
    "positive_seconds",
]

Number = TypeVar("Number", int, float)


def _is_seconds(value: object) -> bool:
    """A finite number > 0 (bools are not numbers here)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def check_count(value: object, name: str, minimum: int = 0) -> None:
    """Raise :class:`InvalidArgumentError` unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name}: expected an int >= {minimum}, got {describe(value)}")


def check_seconds(
    value: object,
    name: str,
    *,
    allow_none: bool = False,
    expected: str = "a finite number of seconds > 0",
) -> None:
    """Raise :class:`InvalidArgumentError` unless ``value`` is a finite number of seconds > 0
    (or None, if ``allow_none``); the message says ``expected``."""
    if value is None and allow_none:
        return
    if not _is_seconds(value):
        expected = f"None or {expected}" if allow_none else expected
        raise InvalidArgumentError(f"{name}: expected {expected}, got {describe(value)}")


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
    return _parsed(text, float, _is_seconds, "a positive number of seconds")


def non_negative_int(text: str) -> int:
    """A whole number, 0 or more."""
    return _parsed(text, int, lambda value: value >= 0, "a whole number >= 0")


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    return _parsed(text, int, lambda value: value > 0, "a positive integer")
