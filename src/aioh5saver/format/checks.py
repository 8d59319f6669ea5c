"""Checks of the numeric settings callers pass (seconds, sizes), with messages that say what
was expected and what was given."""

from __future__ import annotations

from aioh5saver.errors import InvalidArgumentError, describe

__all__ = ["check_positive_int", "check_seconds"]


def check_seconds(value: object, name: str) -> None:
    """Raise unless ``value`` is None or a positive number of seconds (infinity included)."""
    if value is not None and not (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        raise InvalidArgumentError(
            f"{name}: expected None or a positive number of seconds, got {describe(value)}"
        )


def check_positive_int(value: object, name: str) -> None:
    """Raise unless ``value`` is a positive int (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidArgumentError(f"{name}: expected a positive int, got {describe(value)}")
