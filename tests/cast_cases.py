"""The cases of the append dtype rule, with the outcome each should have, worked out here from
the rule as documented (docs/bad-input.md, ``aioh5saver.format.rows.check_cast``), not from
aioh5saver's code: shared by the sync sweep (tests/sync/test_bad_input.py) and the async one
(tests/aio/test_bad_input_async.py).

The rule: refuse only a real loss. Integers into integers pass when every value fits the
array's range; integers and floats into floats pass unless a finite value is beyond the
float's range; floats into integers, complex into reals are refused whatever the values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TARGETS = ("int8", "uint8", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64")
SOURCES = (
    "bool",
    "int8",
    "uint8",
    "int16",
    "int32",
    "int64",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex128",
)
VALUES: tuple[int | float, ...] = (
    0,
    1,
    -1,
    10,
    127,
    128,
    255,
    256,
    -129,
    70_000,
    2**31,
    2**32,
    -(2**31) - 1,
    2**63 - 1,
    2**64 - 1,
    -(2**63),
    1.5,
    2.0,
    -0.0,
    1e300,
    math.nan,
    math.inf,
    -math.inf,
)


@dataclass(frozen=True)
class CastCase:
    """One value of dtype ``source`` appended to an array of dtype ``target``."""

    source: str
    target: str
    value: int | float

    @property
    def id(self) -> str:
        return f"{self.value!r} {self.source}->{self.target}"

    def data(self) -> np.ndarray:
        """The value as a 1-element array of the source dtype."""
        return np.array([self.value], dtype=self.source)

    @property
    def accepted(self) -> bool:
        """Whether the rule accepts it."""
        source, target = np.dtype(self.source), np.dtype(self.target)
        if source.kind == "c":
            return target.kind == "c"
        if target.kind in "iu":
            if source.kind == "f":
                return False
            info = np.iinfo(target)
            return int(info.min) <= int(self.value) <= int(info.max)
        value = float(self.data()[0])
        return not (math.isfinite(value) and abs(value) > float(np.finfo(target).max))

    def stored(self) -> np.ndarray:
        """What an accepted case leaves in the array: the source value converted."""
        return self.data().astype(self.target)


def _representable(value: int | float, source: str) -> bool:
    """True if ``value`` exists in ``source`` (floats may round, but not overflow)."""
    dtype = np.dtype(source)
    if dtype.kind == "b":
        return isinstance(value, int) and value in (0, 1)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return isinstance(value, int) and int(info.min) <= value <= int(info.max)
    if dtype.kind == "c":
        return value in (1.5, 2.0)
    return not math.isfinite(value) or abs(value) <= float(np.finfo(dtype).max)


CASES: tuple[CastCase, ...] = tuple(
    CastCase(source, target, value)
    for target in TARGETS
    for source in SOURCES
    for value in VALUES
    if _representable(value, source)
)


def by_target() -> dict[str, list[CastCase]]:
    """The cases grouped by target dtype (one array per target)."""
    grouped: dict[str, list[CastCase]] = {target: [] for target in TARGETS}
    for case in CASES:
        grouped[case.target].append(case)
    return grouped
