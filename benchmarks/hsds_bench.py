"""``python -m benchmarks.hsds_bench``: AsyncH5Saver on a loopback HSDS (2 data nodes) beside
h5pyd appends written by hand, in one run, rounds interleaved, medians.

Rows written (every rate counts one durable flush at the end: ``flush()`` / a server flush):

- ``h5pyd per-row``: one scalar row at a time, each a resize, a write and h5pyd's flush;
- ``h5pyd hand-batched``: 1,000 scalar rows (W1) or 100 spectra (W2) a request;
- ``W1 AsyncH5Saver``: 8 producers appending scalar rows (0D float64);
- ``W2 AsyncH5Saver``: 4 producers appending 2048-float64 rows; beside it, hand-batched.

Also measured: the cost of one ``flush()`` (a server flush) after a batch. The service is
started in a temporary folder and stopped at the end; results go to
``benchmarks/results/hsds.json`` and ``.md``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from aioh5saver import AsyncH5Saver
from aioh5saver.engine.hsds_engine import HsdsEngine
from hsds_server import HsdsServer

RESULTS = Path(__file__).parent / "results"
ROUNDS = int(os.environ.get("HSDS_BENCH_ROUNDS", "3"))
W1_PRODUCERS, W1_ROWS = 8, 5_000  # rows per producer
W2_PRODUCERS, W2_ROWS, W2_POINTS = 4, 250, 2048
PER_ROW_ROWS = 100
MAX_PENDING_SECONDS: float | None = None


def _h5pyd_file(server: HsdsServer, name: str) -> Any:
    import h5pyd

    return h5pyd.File(server.domain(name), "w", **server.credentials)


def _server_flush(file: Any) -> None:
    HsdsEngine()._server_flush(file)


def h5pyd_per_row(server: HsdsServer, name: str) -> float:
    """Scalar rows/s, one resize + write + h5pyd flush per row, then a server flush."""
    file = _h5pyd_file(server, name)
    data = file.create_dataset("rows", shape=(0,), maxshape=(None,), dtype="f8", chunks=(8192,))
    file.flush()
    started = time.perf_counter()
    for row in range(PER_ROW_ROWS):
        data.resize((row + 1,))
        data[row] = float(row)
        file.flush()
    _server_flush(file)
    elapsed = time.perf_counter() - started
    file.close()
    return PER_ROW_ROWS / elapsed


def h5pyd_batched(
    server: HsdsServer, name: str, row_shape: tuple[int, ...], rows: int, per: int
) -> float:
    """Rows/s written ``per`` rows a request by hand (resize + write + flush), then a server
    flush."""
    file = _h5pyd_file(server, name)
    chunk_rows = max(1, (1 << 20) // (8 * int(np.prod(row_shape, dtype=np.int64))))
    data = file.create_dataset(
        "rows", shape=(0, *row_shape), maxshape=(None, *row_shape), dtype="f8",
        chunks=(chunk_rows, *row_shape),
    )  # fmt: skip
    file.flush()
    block = np.ones((per, *row_shape))
    started = time.perf_counter()
    for start in range(0, rows, per):
        data.resize((start + per, *row_shape))
        data[start : start + per] = block
        file.flush()
    _server_flush(file)
    elapsed = time.perf_counter() - started
    file.close()
    return rows / elapsed


async def _saver_run(location: str, producers: int, rows: int, row_shape: tuple[int, ...]) -> float:
    # No time bound on the queue (max_pending_seconds=None): a request to HSDS costs tens of
    # milliseconds whatever it holds, so the writer's batches should be as large as the byte
    # budget lets them be.
    async with AsyncH5Saver.open(location, max_pending_seconds=MAX_PENDING_SECONDS) as saver:
        arrays = [
            await saver.add_array(
                saver.raw_group,
                f"p{index}",
                "data_enlargeable",
                data_shape=row_shape or (1,),
                array_type="float64",
                enlargeable=True,
                data_dimension="Data0D" if not row_shape else "Data1D",
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
        stats = saver.statistics()
    assert stats.rows_appended == producers * rows
    return producers * rows / elapsed


def saver_rows(
    server: HsdsServer, name: str, producers: int, rows: int, shape: tuple[int, ...]
) -> float:
    """Rows/s through AsyncH5Saver (all producers' rows, then ``flush()``)."""
    return anyio.run(_saver_run, server.location(name), producers, rows, shape)


def flush_cost(server: HsdsServer, name: str) -> float:
    """Seconds one ``flush()`` takes after a small batch (the service's own flush)."""
    import aioh5saver as h5s

    saver = h5s.H5SaverLowLevel()
    saver.init_file(server.location(name), new_file=True)
    saver.flush()
    saver.add_log("one line")
    started = time.perf_counter()
    saver.flush()
    elapsed = time.perf_counter() - started
    saver.close_file()
    return elapsed


def main() -> None:
    measures: dict[str, Callable[[HsdsServer, str], float]] = {
        "W1 h5pyd per-row (rows/s)": h5pyd_per_row,
        "W1 h5pyd hand-batched 1000/request (rows/s)": lambda s, n: h5pyd_batched(
            s, n, (), W1_PRODUCERS * W1_ROWS, 1000
        ),
        "W1 AsyncH5Saver 8 producers (rows/s)": lambda s, n: saver_rows(
            s, n, W1_PRODUCERS, W1_ROWS, ()
        ),
        "W2 h5pyd hand-batched 100/request (rows/s)": lambda s, n: h5pyd_batched(
            s, n, (W2_POINTS,), W2_PRODUCERS * W2_ROWS, 100
        ),
        "W2 AsyncH5Saver 4 producers (rows/s)": lambda s, n: saver_rows(
            s, n, W2_PRODUCERS, W2_ROWS, (W2_POINTS,)
        ),
        "flush() after a batch (s)": flush_cost,
    }
    samples: dict[str, list[float]] = {name: [] for name in measures}
    with tempfile.TemporaryDirectory(dir=os.environ.get("HSDS_BENCH_TMP")) as folder:
        server = HsdsServer(Path(folder), data_nodes=2)
        os.environ["HS_USERNAME"] = server.username
        os.environ["HS_PASSWORD"] = server.password
        server.start()
        try:
            server.make_home()
            for round_ in range(ROUNDS):
                for index, (name, measure) in enumerate(measures.items()):
                    value = measure(server, f"bench_{round_}_{index}.h5")
                    samples[name].append(value)
                    print(f"round {round_}: {name}: {value:,.2f}", flush=True)
        finally:
            server.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    w1_row = medians["W1 h5pyd per-row (rows/s)"]
    w1_batch = medians["W1 h5pyd hand-batched 1000/request (rows/s)"]
    w1 = medians["W1 AsyncH5Saver 8 producers (rows/s)"]
    w2_batch = medians["W2 h5pyd hand-batched 100/request (rows/s)"]
    w2 = medians["W2 AsyncH5Saver 4 producers (rows/s)"]
    ratios = {
        "W1 / h5pyd per-row (target >= 50x)": w1 / w1_row,
        "W1 / hand-batched (target >= 0.8x)": w1 / w1_batch,
        "W2 / hand-batched (target >= 0.8x)": w2 / w2_batch,
        "W2 MB/s": w2 * W2_POINTS * 8 / 1e6,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hsds.json").write_text(
        json.dumps({"samples": samples, "medians": medians, "ratios": ratios}, indent=2)
    )
    lines = [
        "# HSDS: AsyncH5Saver beside h5pyd (loopback, 2 data nodes, 2 cores shared)",
        "",
        f"{ROUNDS} rounds interleaved, medians; every rate includes one durable flush at the end.",
        "",
        "| measure | median | samples |",
        "|---|---|---|",
        *(
            f"| {name} | {medians[name]:,.2f} | {', '.join(f'{v:,.2f}' for v in values)} |"
            for name, values in samples.items()
        ),
        "",
        "| ratio | value |",
        "|---|---|",
        *(f"| {name} | {value:,.2f} |" for name, value in ratios.items()),
        "",
    ]
    (RESULTS / "hsds.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
