"""Producers faster than the writer: does memory stay within the back-pressure budget?

Run in a process of its own (``python -m aioh5saver.tools.bench.outrun``), so that its resident
memory is not that of earlier runs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

from aioh5saver.aio.async_saver import AsyncH5Saver
from aioh5saver.tools.bench.probes import RssSampler

__all__ = ["measure"]


async def measure(
    folder: Path, *, budget_bytes: int, producers: int, frames: int
) -> dict[str, float]:
    """Producers append 1024x1024 uint16 frames flat out through a saver whose budget is
    ``budget_bytes``; returns the peak memory growth, the most bytes ever pending and how many
    producers were seen waiting for room."""
    frame_sets = [
        np.random.default_rng(index).integers(0, 4096, (1024, 1024)).astype("uint16")
        for index in range(producers)
    ]
    most_pending = 0
    most_waiting = 0
    path = folder / "outrun.h5"
    with RssSampler() as rss:
        started = time.perf_counter()
        # The byte budget alone bounds the queue here: the time bound (max_pending_seconds)
        # would keep it smaller, and the budget's own bound would go untested.
        async with AsyncH5Saver.open(
            path, new_file=True, max_pending_bytes=budget_bytes, max_pending_seconds=None
        ) as saver:
            scan = await saver.add_scan_group(saver.raw_group)
            arrays = []
            for index in range(producers):
                detector = await saver.add_det_group(scan, title=f"camera {index}")
                arrays.append(
                    await saver.add_array(
                        detector,
                        "data",
                        "data_enlargeable",
                        data_shape=(1024, 1024),
                        array_type="uint16",
                        enlargeable=True,
                        data_dimension="Data2D",
                    )
                )

            async def produce(index: int) -> None:
                nonlocal most_pending, most_waiting
                for _ in range(frames):
                    await saver.append(arrays[index], frame_sets[index])
                    statistics = saver.statistics()
                    most_pending = max(most_pending, statistics.bytes_pending)
                    most_waiting = max(most_waiting, statistics.producers_waiting)

            async with anyio.create_task_group() as group:
                for index in range(producers):
                    group.start_soon(produce, index)
        seconds = time.perf_counter() - started
    path.unlink(missing_ok=True)
    return {
        "budget_bytes": budget_bytes,
        "rss_growth_bytes": rss.growth_bytes,
        "most_pending_bytes": most_pending,
        "most_producers_waiting": most_waiting,
        "frames": producers * frames,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget-mib", type=int, default=64)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        result = anyio.run(
            functools.partial(
                measure,
                Path(folder),
                budget_bytes=args.budget_mib << 20,
                producers=args.producers,
                frames=args.frames,
            )
        )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
