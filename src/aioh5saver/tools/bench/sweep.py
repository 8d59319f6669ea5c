"""The producer sweep: many producers on one event loop, each case in a child process of its
own with the idle loop measured just before it, rounds interleaved, medians, and a verdict per
target (issue 14's targets; DESIGN §5)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioh5saver.aio.async_saver import AsyncH5Saver
from aioh5saver.tools.bench import sweep_case

__all__ = [
    "TARGETS",
    "Case",
    "CaseSummary",
    "Failures",
    "Results",
    "SweepSettings",
    "Verdict",
    "child_environment",
    "evaluate",
    "fairness",
    "interleaved",
    "run_sweep",
    "scaling_base",
    "summarize",
]

# Rows per case at scale 1: enough for a case to last about a second on a 2-core machine.
TOTAL_ROWS = {"0D": 300_000, "1D": 60_000}

# The targets' limits.
LAG_P99_MS = 2.0
LAG_ABOVE_IDLE_MS = 1.5
LAG_P50_MS = 0.5
SCALING_RATIO = 0.8
FAIRNESS_SPREAD = 0.2
RSS_MARGIN_BYTES = 64 << 20

# A case that has not finished its rows after this long stops and says so (figures are then
# over the rows accepted); the child process itself is given longer.
MAX_CASE_SECONDS = 30.0
_CHILD_TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class Case:
    """One point of the sweep: how many producers append which rows, with or without SWMR,
    through which checkout's saver (``saver``: its ``src`` folder; empty: this package's)."""

    producers: int
    rows: str  # "0D": scalar float64 rows; "1D": 2048-float64 rows
    swmr: bool
    saver: str = ""

    @property
    def label(self) -> str:
        """How the reports name it."""
        point = f"{self.rows} {'SWMR' if self.swmr else 'no SWMR'} {self.producers} producers"
        return f"{point} [{self.saver}]" if self.saver else point

    @property
    def group(self) -> tuple[str, str, bool]:
        """The cases whose rows/s are compared across producer counts: same saver, rows
        and SWMR mode."""
        return (self.saver, self.rows, self.swmr)


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """What to sweep and how long: ``scale`` multiplies the rows of every case; with more
    than one saver, each point runs with each in turn (an A/B comparison, interleaved)."""

    producers: tuple[int, ...] = (8, 64, 512)
    rows: tuple[str, ...] = ("0D", "1D")
    swmr: tuple[bool, ...] = (False, True)
    rounds: int = 3
    scale: float = 1.0
    idle_seconds: float = 1.0
    backend: str = "asyncio"
    savers: tuple[str, ...] = ("",)

    def cases(self) -> list[Case]:
        """Every combination, in a stable order (the savers of one point next to each other)."""
        return [
            Case(producers, rows, swmr, saver)
            for rows in self.rows
            for swmr in self.swmr
            for producers in self.producers
            for saver in self.savers
        ]

    def total_rows(self, case: Case) -> int:
        """The fixed number of rows the producers of ``case`` share."""
        return max(case.producers, round(TOTAL_ROWS[case.rows] * self.scale))


def interleaved(cases: list[Case], rounds: int) -> list[Case]:
    """Round-robin over the cases, ``rounds`` times, each round starting one case later, so
    that no case always runs first nor all its rounds in a row."""
    order: list[Case] = []
    for round_index in range(rounds):
        shift = round_index % len(cases)
        order.extend(cases[shift:] + cases[:shift])
    return order


def fairness(counts: Iterable[int]) -> tuple[float, float]:
    """Each producer's accepted rows over the mean: the smallest and the largest ratio."""
    values = list(counts)
    mean = sum(values) / len(values)
    if mean == 0:
        return (0.0, 0.0)
    return (min(values) / mean, max(values) / mean)


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """The median over rounds of what one case measured (``None``: not measured)."""

    case: Case
    rounds: int
    complete: bool
    rows_per_s: float
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    idle_p50_ms: float | None
    idle_p99_ms: float | None
    fair_min: float
    fair_max: float
    rss_growth_bytes: float | None
    budget_bytes: float | None
    gc_count: float
    gc_p99_ms: float | None
    gc_max_ms: float | None
    gc_per_generation: tuple[float, float, float]
    loop_us_per_row: float | None


def _median(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def summarize(results: list[tuple[Case, dict[str, Any]]]) -> list[CaseSummary]:
    """Medians over rounds of each case's child results, in the order cases first appear."""
    by_case: dict[Case, list[dict[str, Any]]] = {}
    for case, result in results:
        by_case.setdefault(case, []).append(result)
    summaries = []
    for case, runs in by_case.items():
        spreads = [fairness(run["counts"]) for run in runs]
        gc_runs = [run["gc"] for run in runs]
        summaries.append(
            CaseSummary(
                case=case,
                rounds=len(runs),
                complete=all(run["complete"] for run in runs),
                rows_per_s=statistics.median(run["rows_per_s"] for run in runs),
                lag_p50_ms=_median(run["lag_ms"]["p50"] for run in runs),
                lag_p99_ms=_median(run["lag_ms"]["p99"] for run in runs),
                lag_max_ms=_median(run["lag_ms"]["max"] for run in runs),
                idle_p50_ms=_median(run["idle"]["lag_ms"]["p50"] for run in runs),
                idle_p99_ms=_median(run["idle"]["lag_ms"]["p99"] for run in runs),
                fair_min=statistics.median(low for low, _ in spreads),
                fair_max=statistics.median(high for _, high in spreads),
                rss_growth_bytes=_median(run["rss_growth_bytes"] for run in runs),
                budget_bytes=_median(run["budget_bytes"] for run in runs),
                gc_count=statistics.median(gc["count"] for gc in gc_runs),
                gc_p99_ms=_median(gc["p99_ms"] for gc in gc_runs),
                gc_max_ms=_median(gc["max_ms"] for gc in gc_runs),
                gc_per_generation=(
                    statistics.median(gc["per_generation"][0] for gc in gc_runs),
                    statistics.median(gc["per_generation"][1] for gc in gc_runs),
                    statistics.median(gc["per_generation"][2] for gc in gc_runs),
                ),
                loop_us_per_row=_median(run["loop_cpu_us_per_row"] for run in runs),
            )
        )
    return summaries


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target at one case: what was measured, the limit, and whether it holds
    (``None``: it could not be measured)."""

    target: str
    case: Case
    measured: str
    limit: str
    met: bool | None


TARGETS = (
    "lag p99",
    "lag p50",
    "rows/s scaling",
    "fairness",
    "RSS",
)


def _lag_p99(summary: CaseSummary) -> Verdict:
    lag, idle = summary.lag_p99_ms, summary.idle_p99_ms
    if lag is None or idle is None:
        return Verdict("lag p99", summary.case, "not measured", "", None)
    limit = min(LAG_P99_MS, idle + LAG_ABOVE_IDLE_MS)
    return Verdict(
        "lag p99",
        summary.case,
        f"{lag:.2f} ms (idle {idle:.2f} ms: limit {limit:.2f} ms)",
        f"<= {LAG_P99_MS:g} ms and <= idle + {LAG_ABOVE_IDLE_MS:g} ms",
        lag <= limit,
    )


def _lag_p50(summary: CaseSummary) -> Verdict:
    lag = summary.lag_p50_ms
    if lag is None:
        return Verdict("lag p50", summary.case, "not measured", "", None)
    return Verdict(
        "lag p50", summary.case, f"{lag:.2f} ms", f"<= {LAG_P50_MS:g} ms", lag <= LAG_P50_MS
    )


def _fairness(summary: CaseSummary) -> Verdict:
    low, high = 1 - FAIRNESS_SPREAD, 1 + FAIRNESS_SPREAD
    return Verdict(
        "fairness",
        summary.case,
        f"{summary.fair_min:.2f} .. {summary.fair_max:.2f} x mean",
        f"{low:.2f} .. {high:.2f} x mean",
        summary.fair_min >= low and summary.fair_max <= high,
    )


def _rss(summary: CaseSummary) -> Verdict:
    growth, budget = summary.rss_growth_bytes, summary.budget_bytes
    if growth is None or budget is None:
        return Verdict("RSS", summary.case, "not measured", "", None)
    limit = budget + RSS_MARGIN_BYTES
    return Verdict(
        "RSS",
        summary.case,
        f"+{growth / 2**20:.0f} MiB",
        f"<= max_pending_bytes + 64 MiB = {limit / 2**20:.0f} MiB",
        growth <= limit,
    )


def scaling_base(summaries: list[CaseSummary], case: Case) -> CaseSummary | None:
    """The case with the fewest producers among those of the same saver, rows and SWMR mode."""
    group = [s for s in summaries if s.case.group == case.group]
    return min(group, key=lambda s: s.case.producers) if group else None


def _scaling(summaries: list[CaseSummary]) -> list[Verdict]:
    """Rows/s at the most producers against rows/s at the fewest, per saver, rows and SWMR
    mode."""
    groups: dict[tuple[str, str, bool], list[CaseSummary]] = {}
    for summary in summaries:
        groups.setdefault(summary.case.group, []).append(summary)
    verdicts = []
    for group in groups.values():
        base = min(group, key=lambda s: s.case.producers)
        top = max(group, key=lambda s: s.case.producers)
        if top is base:
            continue
        ratio = top.rows_per_s / base.rows_per_s
        verdicts.append(
            Verdict(
                "rows/s scaling",
                top.case,
                f"{ratio:.2f}x ({top.rows_per_s:,.0f} vs {base.rows_per_s:,.0f} rows/s)",
                f">= {SCALING_RATIO:g}x rows/s at {base.case.producers} producers",
                ratio >= SCALING_RATIO,
            )
        )
    return verdicts


def evaluate(summaries: list[CaseSummary]) -> list[Verdict]:
    """Every target at every case it applies to (scaling: at the largest producer count)."""
    verdicts = [
        check(summary) for summary in summaries for check in (_lag_p99, _lag_p50, _fairness, _rss)
    ]
    return verdicts + _scaling(summaries)


def child_environment(saver_src: str) -> dict[str, str]:
    """The child's PYTHONPATH: the chosen checkout's sources (``saver_src``), or, if empty,
    those of the package this parent runs."""
    own = Path(sys.modules[AsyncH5Saver.__module__].__file__ or "").parents[2]
    source = saver_src or str(own)
    environment = dict(os.environ)
    inherited = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), inherited]))
    return environment


def run_child(case: Case, settings: SweepSettings, folder: Path) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return what it printed."""
    spec = {
        "producers": case.producers,
        "rows": case.rows,
        "swmr": case.swmr,
        "total_rows": settings.total_rows(case),
        "idle_seconds": settings.idle_seconds,
        "max_seconds": MAX_CASE_SECONDS,
        "folder": str(folder),
        "backend": settings.backend,
    }
    # Our own interpreter and script, with a spec we built; -P keeps the script's folder off
    # sys.path, so that aioh5saver comes from PYTHONPATH only.
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-P", sweep_case.__file__, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT_S,
        check=False,
        env=child_environment(case.saver),
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the sweep case {case.label} failed (exit {completed.returncode}): "
            f"{completed.stderr.strip()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


Results = list[tuple[Case, dict[str, Any]]]
Failures = list[tuple[Case, str]]


def run_sweep(settings: SweepSettings, folder: Path) -> tuple[Results, Failures]:
    """Run every case ``settings.rounds`` times, interleaved, printing progress; return what
    each run measured and, for the runs that failed (a saver that crashed or hung), why:
    one failed run does not lose the others."""
    order = interleaved(settings.cases(), settings.rounds)
    results: Results = []
    failures: Failures = []
    started = time.perf_counter()
    for done, case in enumerate(order, start=1):
        prefix = f"[{done:>3}/{len(order)}] {time.perf_counter() - started:6.1f}s  {case.label:<28}"
        try:
            result = run_child(case, settings, folder)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failures.append((case, str(exc)))
            print(f"{prefix} FAILED: {exc}", flush=True)
            continue
        results.append((case, result))
        lag = result["lag_ms"]["p99"]
        idle = result["idle"]["lag_ms"]["p99"]
        print(
            f"{prefix} {result['rows_per_s']:>10,.0f} rows/s  lag p99 {_figure(lag):>7} ms  "
            f"idle p99 {_figure(idle):>5} ms",
            flush=True,
        )
    return results, failures


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
