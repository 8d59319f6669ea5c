"""Checks of the numeric settings callers pass (counts, sizes, seconds), with messages that say
what was expected and what was given."""

from __future__ import annotations

import math

from aioh5saver.errors import InvalidArgumentError, describe

__all__ = ["check_count", "check_positive_int", "check_seconds", "is_seconds"]


def check_count(value: object, name: str, *, minimum: int = 0, expected: str | None = None) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``; else
    :class:`InvalidArgumentError`, whose message says ``expected`` (default: ``an int >= N``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = expected if expected is not None else f"an int >= {minimum}"
        raise InvalidArgumentError(f"{name}: expected {wanted}, got {describe(value)}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """``value`` if it is a positive int (not a bool)."""
    return check_count(value, name, minimum=1, expected="a positive int")


def is_seconds(value: object, *, allow_infinity: bool = False) -> bool:
    """True for a number of seconds > 0 (not a bool; infinite only if ``allow_infinity``)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and value > 0
        and (allow_infinity or math.isfinite(value))
    )


def check_seconds(
    value: object,
    name: str,
    *,
    allow_none: bool = False,
    allow_infinity: bool = False,
    expected: str = "a finite number of seconds > 0",
) -> None:
    """Raise :class:`InvalidArgumentError` unless ``value`` is a number of seconds > 0 (see
    :func:`is_seconds`), or None if ``allow_none``; the message says ``expected``."""
    if value is None and allow_none:
        return
    if not is_seconds(value, allow_infinity=allow_infinity):
        wanted = f"None or {expected}" if allow_none else expected
        raise InvalidArgumentError(f"{name}: expected {wanted}, got {describe(value)}")
