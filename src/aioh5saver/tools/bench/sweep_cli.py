"""The producer sweep's options on ``aioh5saver bench`` (``--sweep``), and its run from them."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aioh5saver.tools.bench.sweep import TOTAL_ROWS, SweepSettings, evaluate, run_sweep, summarize
from aioh5saver.tools.bench.sweep_report import write_sweep_reports

__all__ = ["add_sweep_options", "sweep_main"]

# --quick: a smoke run, a few seconds a case.
_QUICK_SCALE = 0.02
_QUICK_IDLE_S = 0.2


def _producer_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated producer counts >= 1, got {text!r}"
        )
    return counts


def _row_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    if not kinds or any(kind not in TOTAL_ROWS for kind in kinds):
        raise argparse.ArgumentTypeError(f"expected a subset of 0D,1D, got {text!r}")
    return kinds


def _swmr_modes(text: str) -> tuple[bool, ...]:
    words = {"off": False, "on": True}
    modes = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    if not modes or any(mode not in words for mode in modes):
        raise argparse.ArgumentTypeError(f"expected a subset of off,on, got {text!r}")
    return tuple(words[mode] for mode in modes)


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """``--sweep`` and the options that shape it."""
    group = parser.add_argument_group(
        "producer sweep",
        "--sweep runs many producers on one event loop instead of the workloads, and writes "
        "producer-sweep.md and producer-sweep.json (--rounds: default 3, 1 with --quick)",
    )
    group.add_argument("--sweep", action="store_true", help="run the producer sweep")
    group.add_argument(
        "--sweep-producers",
        type=_producer_counts,
        default=(8, 64, 512),
        help="producer counts (default: 8,64,512)",
    )
    group.add_argument(
        "--sweep-rows",
        type=_row_kinds,
        default=("0D", "1D"),
        help="row kinds: 0D scalar float64, 1D 2048 float64 (default: 0D,1D)",
    )
    group.add_argument(
        "--sweep-swmr", type=_swmr_modes, default=(False, True), help="off,on (default: both)"
    )
    group.add_argument(
        "--sweep-scale",
        type=_scale,
        default=None,
        help=f"multiply each case's rows ({TOTAL_ROWS['0D']:,} scalar, {TOTAL_ROWS['1D']:,} "
        f"1D at 1; default 1, {_QUICK_SCALE:g} with --quick)",
    )
    group.add_argument(
        "--saver-src",
        type=Path,
        action="append",
        default=None,
        help="measure the saver of another checkout: its src folder (e.g. /work/before/src); "
        "given twice or more, each point runs with each saver in turn (A/B, interleaved)",
    )


def sweep_main(
    args: argparse.Namespace, describe: Callable[[argparse.Namespace, int], dict[str, Any]]
) -> int:
    """Run the sweep the options ask for, print its table and verdicts, write its reports;
    the exit status is 1 if a run failed."""
    for source in args.saver_src or []:
        if not (source / "aioh5saver").is_dir():
            raise SystemExit(
                f"aioh5saver bench: error: --saver-src: expected a folder holding the "
                f"aioh5saver package, got {str(source)!r}"
            )
    settings = SweepSettings(
        producers=args.sweep_producers,
        rows=args.sweep_rows,
        swmr=args.sweep_swmr,
        rounds=args.rounds or (1 if args.quick else 3),
        scale=args.sweep_scale or (_QUICK_SCALE if args.quick else 1.0),
        idle_seconds=_QUICK_IDLE_S if args.quick else 1.0,
        backend=args.backend,
        savers=tuple(dict.fromkeys(str(source.resolve()) for source in args.saver_src or []))
        or ("",),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.data_dir or args.out, prefix="data-") as data:
        results, failures = run_sweep(settings, Path(data))
    summaries = summarize(results)
    verdicts = evaluate(summaries)
    context = describe(args, settings.rounds) | {"scale": settings.scale}
    text, written = write_sweep_reports(args.out, summaries, verdicts, (results, failures), context)
    print()
    print(text)
    print()
    for path in written:
        print(f"wrote {path}")
    return 1 if failures else 0
