"""The workloads: how many producers append rows of which shape, and how many."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["FULL", "QUICK", "Workload"]


@dataclass(frozen=True, slots=True)
class Workload:
    """``producers`` coroutines, each appending ``rows`` rows of ``row_shape`` and ``dtype``
    to its own enlargeable array. A contender stops early after ``max_seconds``, so that the
    slow baselines finish in bounded time: rates are measured over what was written."""

    name: str
    title: str
    producers: int
    row_shape: tuple[int, ...]
    dtype: str
    rows: int
    max_seconds: float

    @property
    def row_nbytes(self) -> int:
        """Bytes in one row."""
        return int(np.dtype(self.dtype).itemsize * math.prod(self.row_shape))

    @property
    def data_dimension(self) -> str:
        """PyMoDAQ's name for the dimension of one row."""
        return ("Data0D", "Data1D", "Data2D")[min(len(self.row_shape), 2)]

    def make_row(self, producer: int) -> Any:
        """One row of data, different for each producer (a numpy scalar for 0-D rows)."""
        generator = np.random.default_rng(producer)
        if not self.row_shape:
            return np.dtype(self.dtype).type(generator.random())
        if np.dtype(self.dtype).kind == "f":
            return generator.random(self.row_shape).astype(self.dtype)
        return generator.integers(0, 4096, self.row_shape).astype(self.dtype)

    def scaled(self, rows: int, max_seconds: float) -> Workload:
        """The same workload with another size."""
        return replace(self, rows=rows, max_seconds=max_seconds)


FULL = (
    Workload("W1", "8 producers x scalar float64 rows", 8, (), "float64", 50_000, 8.0),
    Workload("W2", "4 producers x 2048-float64 rows", 4, (2048,), "float64", 8_000, 8.0),
    Workload("W3", "2 producers x 1024x1024 uint16 frames", 2, (1024, 1024), "uint16", 300, 8.0),
)

# A smoke test: every contender stops after 0.4 s, so that the whole run (3 rounds
# of 18 runs, the memory check, the plot) stays well under a minute on 2 busy cores.
QUICK = (
    FULL[0].scaled(6_000, 0.4),
    FULL[1].scaled(1_000, 0.4),
    FULL[2].scaled(40, 0.4),
)
