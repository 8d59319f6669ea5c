"""The HSDS rows of ``aioh5saver bench`` (``--hsds``, ``--hsds-only``): start a loopback HSDS,
run the measures in interleaved rounds with a progress line each, stop it, and give the
figures."""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from aioh5saver.tools.bench.hsds_measures import (
    FULL_SIZES,
    QUICK_SIZES,
    HsdsSizes,
    flush_cost,
    h5pyd_batched,
    h5pyd_per_row,
    saver_rows,
)
from aioh5saver.tools.bench.hsds_report import MEASURES, HsdsFigures
from aioh5saver.tools.bench.hsds_service import (
    DATA_NODE_PORT,
    HsdsService,
    hsds_missing,
    taken_data_node_ports,
)

__all__ = ["DATA_NODES", "add_hsds_options", "check_hsds_options", "run_hsds"]

#: The service's data nodes: 2 wrote fastest on 2 cores (issue 16: 1, 2 and 4 were tried).
DATA_NODES = 2
_QUICK_ROUNDS, _FULL_ROUNDS = 1, 5

Measure = Callable[[HsdsService, str], float]


def add_hsds_options(parser: argparse.ArgumentParser) -> None:
    """``--hsds`` and ``--hsds-only``."""
    group = parser.add_argument_group(
        "HSDS",
        f"the same appends on a loopback HSDS ({DATA_NODES} data nodes, started and stopped "
        "by the bench; its data-node ports 6101+ must be free): h5pyd per-row and hand-batched "
        "beside W1 and W2 through AsyncH5Saver, and the cost of flush(); needs the bench-hsds "
        f"extra. --rounds: default {_QUICK_ROUNDS} with --quick, {_FULL_ROUNDS} without",
    )
    group.add_argument("--hsds", action="store_true", help="also run the HSDS rows")
    group.add_argument(
        "--hsds-only", action="store_true", help="run the HSDS rows only (no local workloads)"
    )


def check_hsds_options(args: argparse.Namespace) -> None:
    """Refuse (``SystemExit`` with a message) HSDS options that cannot run, before any work."""
    if not (args.hsds or args.hsds_only):
        return
    if args.sweep:
        raise SystemExit("aioh5saver bench: error: --hsds: expected without --sweep, got both")
    missing = hsds_missing()
    if missing is not None:
        raise SystemExit(f"aioh5saver bench: error: --hsds: {missing}")
    taken = taken_data_node_ports(DATA_NODES)
    if taken:
        raise SystemExit(
            f"aioh5saver bench: error: --hsds: expected HSDS's data-node ports "
            f"{DATA_NODE_PORT}-{DATA_NODE_PORT + DATA_NODES - 1} free, got {taken} taken "
            "(another HSDS runs on this machine: one at a time)"
        )


def _measures(sizes: HsdsSizes, backend: str) -> dict[str, Measure]:
    s = sizes
    w1_rows = s.w1_producers * s.w1_rows
    w2_rows = s.w2_producers * s.w2_rows
    w2_shape = (s.w2_points,)
    measures: dict[str, Measure] = {
        "per_row": lambda service, name: h5pyd_per_row(service, name, s),
        "w1_batched": lambda service, name: h5pyd_batched(service, name, (), w1_rows, s.w1_batch),
        "w1_saver": lambda service, name: saver_rows(
            service, name, s.w1_producers, s.w1_rows, (), backend=backend
        ),
        "w2_batched": lambda service, name: h5pyd_batched(
            service, name, w2_shape, w2_rows, s.w2_batch
        ),
        "w2_saver": lambda service, name: saver_rows(
            service, name, s.w2_producers, s.w2_rows, w2_shape, backend=backend
        ),
        "flush": flush_cost,
    }
    assert set(measures) == set(MEASURES)
    return measures


def _versions() -> str:
    found = []
    for package in ("hsds", "h5pyd"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} ?")
    return ", ".join(found)


def run_hsds(folder: Path, *, quick: bool, rounds: int | None, backend: str) -> HsdsFigures:
    """Start a loopback HSDS storing in a temporary folder inside ``folder``, run every measure
    ``rounds`` times (their order rotated each round), stop the service, and give the
    figures."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    rounds = rounds or (_QUICK_ROUNDS if quick else _FULL_ROUNDS)
    measures = list(_measures(sizes, backend).items())
    figures = HsdsFigures(
        data_nodes=DATA_NODES,
        rounds=rounds,
        sizes=dataclasses.asdict(sizes),
        versions=_versions(),
        samples={key: [] for key, _ in measures},
    )
    total = rounds * len(measures)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder, prefix="hsds-") as root:
        print(f"HSDS: starting a loopback service with {DATA_NODES} data nodes...", flush=True)
        service = HsdsService(Path(root), DATA_NODES)
        # h5pyd reads its credentials once, at its first use: set before the service starts.
        with service.client_environment(), service:
            print(f"HSDS: ready after {time.perf_counter() - started:.1f}s", flush=True)
            done = 0
            for round_index in range(rounds):
                shift = round_index % len(measures)
                for key, measure in measures[shift:] + measures[:shift]:
                    value = measure(service, f"bench_{round_index}_{key}.h5")
                    figures.samples[key].append(value)
                    done += 1
                    _progress(done, total, key, value, started)
    return figures


def _progress(done: int, total: int, key: str, value: float, started: float) -> None:
    label, unit = MEASURES[key]
    shown = f"{value:>12,.0f} {unit}" if unit == "rows/s" else f"{value:>12.2f} {unit}"
    print(
        f"[{done:>3}/{total}] {time.perf_counter() - started:6.1f}s  HSDS {label:<42} {shown}",
        flush=True,
    )
