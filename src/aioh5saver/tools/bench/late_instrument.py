"""The late-instrument probe: how long a new instrument's structure calls take under W2 load.

W2's producers append 2048-float64 rows to their own arrays as fast as they can; meanwhile,
one late instrument after another creates its detector group and two enlargeable arrays, each
call timed. With SWMR, each late instrument pauses SWMR (HDF5 forbids structure changes under
it): the saver's statistics say how many pauses there were and how long SWMR stayed off.

Run it with ``python -m aioh5saver.tools.bench.late_instrument [--instruments N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from aioh5saver.aio.async_saver import AsyncH5Saver
from aioh5saver.tools.bench.contenders import SWMR_FLUSH_PERIOD_S, add_workload_array
from aioh5saver.tools.bench.probes import LagTicker, percentiles
from aioh5saver.tools.bench.workloads import FULL, Workload

__all__ = ["LateRun", "main", "measure_late_instruments"]

CALLS = ("add_det_group", "add_array data", "add_array time")


@dataclass
class LateRun:
    """What one run measured: seconds per call (by call name) and per late instrument (its
    three calls end to end), the SWMR pauses the saver counted (and the windows the event
    loop saw SWMR off), and rows appended meanwhile."""

    swmr: bool
    calls_s: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CALLS})
    instruments_s: list[float] = field(default_factory=list)
    pauses: int = 0
    paused_s: float = 0.0
    longest_pause_s: float = 0.0
    rows: int = 0
    lag_p99_ms: float = float("nan")
    # SWMR-off windows as the event loop saw them (statistics() polled every millisecond):
    # comparable with a saver that does not time its pauses.
    off_windows_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Milliseconds at p50, p99 and max for each call and for the instrument, and the
        pause figures."""
        out: dict[str, Any] = {}
        for name, samples in [*self.calls_s.items(), ("instrument", self.instruments_s)]:
            p50, p99 = percentiles(samples, 50, 99)
            out[name] = (p50 * 1e3, p99 * 1e3, max(samples, default=float("nan")) * 1e3)
        out["pauses"] = self.pauses
        out["paused_ms"] = self.paused_s * 1e3
        out["longest_pause_ms"] = self.longest_pause_s * 1e3
        out["off_windows"] = len(self.off_windows_s)
        out["off_window_ms"] = tuple(
            value * 1e3
            for value in (
                *percentiles(self.off_windows_s, 50),
                max(self.off_windows_s, default=float("nan")),
            )
        )
        out["rows"] = self.rows
        out["lag_p99_ms"] = self.lag_p99_ms
        return out


async def measure_late_instruments(
    path: Path,
    *,
    swmr: bool,
    instruments: int = 10,
    gap_s: float = 0.5,
    warmup_s: float = 0.5,
    workload: Workload = FULL[1],
) -> LateRun:
    """Run ``workload``'s producers without end, then ``instruments`` late instruments one
    after another, ``gap_s`` apart; the saver is opened as the bench opens it."""
    run = LateRun(swmr=swmr)
    ticker = LagTicker()
    async with AsyncH5Saver.open(
        path, new_file=True, swmr=swmr, flush_period=SWMR_FLUSH_PERIOD_S if swmr else None
    ) as saver:
        scan = await saver.add_scan_group(saver.raw_group, title="late instruments")
        arrays = []
        for index in range(workload.producers):
            detector = await saver.add_det_group(scan, title=f"producer {index}")
            arrays.append(await add_workload_array(saver, detector, workload))
        if swmr:
            await saver.start_swmr()
        stop = anyio.Event()
        before = saver.statistics()

        async def watch_swmr() -> None:
            off_since: float | None = None
            while not stop.is_set():
                active = saver.statistics().swmr_active
                now = time.perf_counter()
                if not active and off_since is None:
                    off_since = now
                elif active and off_since is not None:
                    run.off_windows_s.append(now - off_since)
                    off_since = None
                await anyio.sleep(0.001)

        async def produce(index: int) -> None:
            row = workload.make_row(index)
            while not stop.is_set():
                await saver.append(arrays[index], row)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker.run)
            if swmr:
                tasks.start_soon(watch_swmr)
            for index in range(workload.producers):
                tasks.start_soon(produce, index)
            await anyio.sleep(warmup_s)
            clock = time.perf_counter
            for index in range(instruments):
                begin = clock()
                detector = await saver.add_det_group(scan, title=f"late {index}")
                created = clock()
                await add_workload_array(saver, detector, workload)
                data_made = clock()
                await saver.add_array(
                    detector,
                    "time",
                    "data_enlargeable",
                    data_shape=(),
                    array_type="float64",
                    enlargeable=True,
                    data_dimension="Data0D",
                )
                end = clock()
                for name, seconds in zip(
                    CALLS, (created - begin, data_made - created, end - data_made), strict=True
                ):
                    run.calls_s[name].append(seconds)
                run.instruments_s.append(end - begin)
                await anyio.sleep(gap_s)
            # Past the resume delay of the last instrument: its SWMR pause has ended.
            stop.set()
            ticker.stop()
        await saver.flush()
        after = saver.statistics()
    run.rows = after.rows_appended - before.rows_appended
    # Figures a saver without pause statistics does not have stay 0 (a baseline run).
    run.pauses = getattr(after, "swmr_pauses", 0) - getattr(before, "swmr_pauses", 0)
    run.paused_s = getattr(after, "swmr_paused_seconds", 0.0) - getattr(
        before, "swmr_paused_seconds", 0.0
    )
    run.longest_pause_s = getattr(after, "swmr_longest_pause_seconds", 0.0)
    run.lag_p99_ms = percentiles(ticker.lags_ms, 99)[0]
    return run


def _print(run: LateRun) -> None:
    summary = run.summary()
    print(
        f"SWMR {'on ' if run.swmr else 'off'}: rows {summary['rows']}, "
        f"loop lag p99 {summary['lag_p99_ms']:.1f} ms"
    )
    for name in (*CALLS, "instrument"):
        p50, p99, top = summary[name]
        print(f"  {name:<16} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  max {top:8.1f} ms")
    if run.swmr:
        print(
            f"  SWMR pauses {summary['pauses']}, paused {summary['paused_ms']:.1f} ms in all, "
            f"longest {summary['longest_pause_ms']:.1f} ms; seen from the loop: "
            f"{summary['off_windows']} windows, p50 {summary['off_window_ms'][0]:.1f} ms, "
            f"max {summary['off_window_ms'][1]:.1f} ms"
        )


def main(argv: list[str] | None = None) -> None:
    """Measure late instruments with and without SWMR, ``--rounds`` times, and print each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between instruments")
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="late-instrument-") as folder:
        for _ in range(arguments.rounds):
            for swmr in (False, True):
                run = anyio.run(
                    functools.partial(
                        measure_late_instruments,
                        Path(folder) / "late.h5",
                        swmr=swmr,
                        instruments=arguments.instruments,
                        gap_s=arguments.gap,
                    ),
                    backend=arguments.backend,
                )
                _print(run)


if __name__ == "__main__":
    main()
