"""What the benchmark measures on HSDS: appends by hand through h5pyd (one row a request, or
many), the same workloads through AsyncH5Saver, and the cost of one durable ``flush()``.

Every rate counts the rows written and one durable flush at the end (a server flush, which
makes the rows survive a kill of the whole service), as ``AsyncH5Saver.flush()`` does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np

from aioh5saver.aio.async_saver import AsyncH5Saver
from aioh5saver.engine.hsds_engine import HsdsEngine
from aioh5saver.sync.saver import H5SaverLowLevel
from aioh5saver.tools.bench.hsds_service import HsdsService

__all__ = [
    "FULL_SIZES",
    "QUICK_SIZES",
    "HsdsSizes",
    "flush_cost",
    "h5pyd_batched",
    "h5pyd_per_row",
    "saver_rows",
]

# A chunk of about this many bytes for the hand-written arrays.
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class HsdsSizes:
    """How much each measure writes: W1 scalar float64 rows, W2 rows of ``w2_points``
    float64, and the rows a hand-batched request holds."""

    per_row_rows: int
    w1_producers: int
    w1_rows: int  # per producer
    w1_batch: int
    w2_producers: int
    w2_rows: int  # per producer
    w2_points: int
    w2_batch: int


# Each rate ends with the service's flush (about 2 s): the writes should take longer than it,
# so that the rates compare the appends, not the flush.
FULL_SIZES = HsdsSizes(300, 8, 25_000, 1_000, 4, 1_000, 2048, 100)
# A smoke test: each measure is mostly the service's flush (about 2 s).
QUICK_SIZES = HsdsSizes(10, 8, 250, 1_000, 4, 25, 2048, 100)


def _create(service: HsdsService, name: str, row_shape: tuple[int, ...]) -> tuple[Any, Any]:
    """A new domain with one enlargeable float64 array of ``row_shape`` rows, sent."""
    import h5pyd

    file = h5pyd.File(service.domain(name), "w", **service.credentials)
    chunk_rows = max(1, _CHUNK_BYTES // (8 * math.prod(row_shape)))
    data = file.create_dataset(
        "rows",
        shape=(0, *row_shape),
        maxshape=(None, *row_shape),
        dtype="f8",
        chunks=(chunk_rows, *row_shape),
    )
    file.flush()
    return file, data


def h5pyd_per_row(service: HsdsService, name: str, sizes: HsdsSizes) -> float:
    """Scalar rows/s, one resize, write and h5pyd flush per row (what a saver that writes each
    row as it comes does), then a server flush."""
    file, data = _create(service, name, ())
    try:
        started = time.perf_counter()
        for row in range(sizes.per_row_rows):
            data.resize((row + 1,))
            data[row] = float(row)
            file.flush()
        HsdsEngine().flush(file)
        return sizes.per_row_rows / (time.perf_counter() - started)
    finally:
        file.close()


def h5pyd_batched(
    service: HsdsService, name: str, row_shape: tuple[int, ...], rows: int, per: int
) -> float:
    """Rows/s written ``per`` rows a request by hand (resize, write, h5pyd flush), then a
    server flush: what a program that batches its own rows gets."""
    file, data = _create(service, name, row_shape)
    try:
        block = np.ones((per, *row_shape))
        started = time.perf_counter()
        for start in range(0, rows, per):
            stop = min(rows, start + per)
            data.resize((stop, *row_shape))
            data[start:stop] = block[: stop - start]
            file.flush()
        HsdsEngine().flush(file)
        return rows / (time.perf_counter() - started)
    finally:
        file.close()


async def _saver_rows(
    location: str, producers: int, rows: int, row_shape: tuple[int, ...]
) -> float:
    """Rows/s of ``producers`` tasks each appending ``rows`` rows to its own array, then
    ``flush()``. The queue's time bound is the engine's (none on HSDS: a request costs a round
    trip whatever it holds, so the writer's batches are as large as the byte budget allows)."""
    async with AsyncH5Saver.open(location) as saver:
        arrays = [
            await saver.add_array(
                saver.raw_group,
                f"p{index}",
                "data_enlargeable",
                data_shape=row_shape or (1,),
                array_type="float64",
                enlargeable=True,
                data_dimension="Data1D" if row_shape else "Data0D",
            )
            for index in range(producers)
        ]
        row = np.ones(row_shape or (1,))

        async def produce(index: int) -> None:
            for _ in range(rows):
                await saver.append(arrays[index], row)

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for index in range(producers):
                group.start_soon(produce, index)
        await saver.flush()
        elapsed = time.perf_counter() - started
        appended = saver.statistics().rows_appended
    assert appended == producers * rows, f"expected {producers * rows} rows, got {appended}"
    return producers * rows / elapsed


def saver_rows(
    service: HsdsService,
    name: str,
    producers: int,
    rows: int,
    row_shape: tuple[int, ...],
    *,
    backend: str,
) -> float:
    """Rows/s through AsyncH5Saver on ``backend``'s event loop (every producer's rows, then
    ``flush()``); credentials from the environment (:meth:`HsdsService.client_environment`)."""
    rate: float = anyio.run(
        _saver_rows, service.location(name), producers, rows, row_shape, backend=backend
    )
    return rate


def flush_cost(service: HsdsService, name: str) -> float:
    """Seconds one ``flush()`` takes after a small change (a Logger line): the service's own
    flush, waited for."""
    saver = H5SaverLowLevel()
    saver.init_file(service.location(name), new_file=True)
    try:
        saver.flush()
        saver.add_log("one line")
        started = time.perf_counter()
        saver.flush()
        return time.perf_counter() - started
    finally:
        saver.close_file()
