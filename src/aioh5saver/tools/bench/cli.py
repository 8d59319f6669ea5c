"""``aioh5saver bench`` / ``python -m benchmarks``: run the workloads, interleaved, and report."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from aioh5saver.errors import SaverError
from aioh5saver.tools.arguments import positive_int
from aioh5saver.tools.bench.contenders import CONTENDERS, RunResult, pymodaq_available, run
from aioh5saver.tools.bench.hsds_report import HsdsFigures
from aioh5saver.tools.bench.hsds_run import add_hsds_options, check_hsds_options, run_hsds
from aioh5saver.tools.bench.report import QUICK_NOTE, write_reports
from aioh5saver.tools.bench.sweep_cli import add_sweep_options, sweep_main
from aioh5saver.tools.bench.workloads import FULL, QUICK, Workload

__all__ = ["DESCRIPTION", "add_bench_options", "build_parser", "main", "run_bench"]

DESCRIPTION = (
    "Benchmark aioh5saver against pymodaq_data, lock+to_thread h5py and raw os.write, "
    "interleaved, with an idle event loop's lag as the machine's own, and write report.json, "
    "report.md and report.png. Workloads: W1, 8 producers x scalar float64 rows; W2, 4 "
    "producers x 2048-float64 rows; W3, 2 producers x 1024x1024 uint16 frames. --hsds adds "
    "W1 and W2 on a loopback HSDS beside h5pyd's own appends."
)


def build_parser() -> argparse.ArgumentParser:
    """The bench options, for ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(prog="aioh5saver bench", description=DESCRIPTION)
    add_bench_options(parser)
    return parser


def add_bench_options(parser: argparse.ArgumentParser) -> None:
    """Add the bench options to ``parser`` (``aioh5saver bench`` gives its own parser)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, runs of 0.4 s: a smoke test (about 40 s on 2 cores); too short "
        "to judge the targets",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-report"),
        metavar="DIR",
        help="report folder (default: ./bench-report, in the current folder)",
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=None, help="rounds (default: 3 quick, 5 full)"
    )
    parser.add_argument(
        "--workloads", default="W1,W2,W3", help="comma-separated subset of W1,W2,W3"
    )
    parser.add_argument(
        "--contenders",
        default=",".join(PLAN_NAMES),
        help="comma-separated subset of: %(default)s",
    )
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder for the files written (default: a temporary folder inside --out)",
    )
    add_sweep_options(parser)
    add_hsds_options(parser)


# Each contender without SWMR, then aioh5saver with it (baselines run without SWMR).
PLAN_NAMES = (*CONTENDERS, "aioh5saver+SWMR")


def _plan(names: str, *, pymodaq: bool) -> list[tuple[str, bool]]:
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in PLAN_NAMES]
    if unknown or not wanted:
        raise SystemExit(
            f"aioh5saver bench: error: --contenders: expected names among {list(PLAN_NAMES)}, "
            f"got {names!r}"
        )
    if not pymodaq and "pymodaq_data" in wanted:
        print(
            "pymodaq_data is not installed (pip install 'aioh5saver[bench]'): "
            "its baseline is left out",
            file=sys.stderr,
        )
        wanted.remove("pymodaq_data")
    return [(name.removesuffix("+SWMR"), name.endswith("+SWMR")) for name in wanted]


def _select(workloads: tuple[Workload, ...], names: str) -> list[Workload]:
    wanted = [name.strip().upper() for name in names.split(",") if name.strip()]
    known = {workload.name: workload for workload in workloads}
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise SystemExit(
            f"aioh5saver bench: error: --workloads: expected names among {sorted(known)}, "
            f"got {names!r}"
        )
    return [known[name] for name in wanted]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    return run_bench(build_parser().parse_args(argv))


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the parsed options ask for; returns the exit status."""
    check_hsds_options(args)
    if args.sweep:
        return sweep_main(args, context)
    workloads: list[Workload] = []
    if not args.hsds_only:
        workloads = _select(QUICK if args.quick else FULL, args.workloads)
        plan = _plan(args.contenders, pymodaq=pymodaq_available())
    rounds = args.rounds or (3 if args.quick else 5)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[RunResult] = []
    outrun = None
    hsds: HsdsFigures | None = None
    status = 0
    with tempfile.TemporaryDirectory(dir=args.data_dir or args.out, prefix="data-") as data:
        folder = Path(data)
        if workloads:
            _warm_up(workloads, folder, args.backend)
            total = rounds * len(workloads) * len(plan)
            for round_index in range(rounds):
                for workload in workloads:
                    # Rotate the order each round, so that no contender always runs first.
                    shift = round_index % len(plan)
                    for contender, swmr in plan[shift:] + plan[:shift]:
                        result = run(contender, workload, folder, swmr=swmr, backend=args.backend)
                        results.append(result)
                        _progress(len(results), total, result, started)
            outrun = _outrun(folder, quick=args.quick)
        if args.hsds or args.hsds_only:
            try:
                hsds = run_hsds(folder, quick=args.quick, rounds=args.rounds, backend=args.backend)
            except (SaverError, OSError) as exc:
                # The service or a write through it failed: the local figures are written
                # all the same.
                print(f"aioh5saver bench: error: --hsds: {exc}", file=sys.stderr)
                status = 1
    table, written = write_reports(args.out, results, outrun, context(args, rounds), hsds=hsds)
    print()
    print(table)
    if args.quick:
        print()
        print(QUICK_NOTE)
    print()
    for path in written:
        print(f"wrote {path}")
    return status


def _warm_up(workloads: list[Workload], folder: Path, backend: str) -> None:
    """Touch the memory and page cache the timed runs will use (free memory that has not been
    used for a while is much slower to write on a VM)."""
    for workload in workloads:
        small = workload.scaled(max(1, workload.rows // 10), 0.5)
        run("raw os.write", small, folder, swmr=False, backend=backend)
        run("aioh5saver", small, folder, swmr=False, backend=backend)


def _progress(done: int, total: int, result: RunResult, started: float) -> None:
    label = result.contender + (" +SWMR" if result.swmr else "")
    print(
        f"[{done:>3}/{total}] {time.perf_counter() - started:6.1f}s  {result.workload} "
        f"{label:<20} {result.rows_per_s:>12,.0f} rows/s {result.mb_per_s:>9,.1f} MB/s",
        flush=True,
    )


def _outrun(folder: Path, *, quick: bool) -> dict[str, Any] | None:
    """The memory check, in a process of its own."""
    command = [
        sys.executable,
        "-m",
        "aioh5saver.tools.bench.outrun",
        "--folder",
        str(folder),
        "--frames",
        "60" if quick else "200",
    ]
    # Our own interpreter and module, with arguments we built.
    completed = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=300, check=False
    )
    if completed.returncode != 0:
        print(f"the memory check failed: {completed.stderr.strip()}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def context(args: argparse.Namespace, rounds: int) -> dict[str, Any]:
    """When, where and with what the run was made, for the reports."""
    versions = {
        "python": platform.python_version(),
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "numpy": np.__version__,
    }
    if pymodaq_available():
        import pymodaq_data

        versions["pymodaq_data"] = getattr(pymodaq_data, "__version__", "?")
    return {
        "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "mode": "quick" if args.quick else "full",
        "rounds": rounds,
        "backend": args.backend,
        "versions": ", ".join(f"{name} {version}" for name, version in versions.items()),
    }
