"""The benchmark's PNG plot: throughput and event-loop lag per workload, each bar labelled
with its value ("n/a" where a contender has no such figure), each workload defined."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aioh5saver.tools.bench.workloads import FULL

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


class Summary(Protocol):
    """What the plot reads of one contender's figures on one workload (the report's
    ``Summary``)."""

    @property
    def workload(self) -> str: ...
    @property
    def contender(self) -> str: ...
    @property
    def swmr(self) -> bool: ...
    @property
    def label(self) -> str: ...
    @property
    def mb_per_s(self) -> float: ...
    @property
    def lag_p99_ms(self) -> float: ...


__all__ = ["NOT_AVAILABLE", "WORKLOAD_TITLES", "build_figure", "plot"]

#: What a bar without a figure says (the idle loop writes nothing; raw os.write runs
#: without an event loop, so it has no loop lag).
NOT_AVAILABLE = "n/a"
#: Each workload's definition, shown in the plot and in report.md.
WORKLOAD_TITLES = {workload.name: workload.title for workload in FULL}
# Top to bottom: ours first, then the baselines from the fastest kind to the slowest.
_ORDER = ("aioh5saver", "raw os.write", "lock+to_thread", "pymodaq_data", "idle loop")
_OURS, _BASELINE = "tab:blue", "tab:gray"


def _ordered(summaries: Sequence[Summary]) -> list[Summary]:
    def key(summary: Summary) -> tuple[int, bool]:
        rank = _ORDER.index(summary.contender) if summary.contender in _ORDER else len(_ORDER)
        return rank, summary.swmr

    return sorted(summaries, key=key)


def _value_text(value: float, unit: str) -> str:
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 1:
        return f"{value:.2f} {unit}"
    return f"{value:.3g} {unit}"


def _decade_label(value: float, _position: float) -> str:
    """A log axis's tick label as a plain number (0.01, 1, 1,000), never 10^k."""
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _bars(axes: Axes, summaries: Sequence[Summary], values: Sequence[float], unit: str) -> None:
    """Horizontal bars on a log axis whose floor is a decade below the smallest value (so the
    smallest bar is a decade long, not a sliver), each labelled with its value; a missing
    value gets no bar and the text "n/a"."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    labels = [summary.label for summary in summaries]
    positions = list(range(len(summaries)))
    present = [value for value in values if not math.isnan(value) and value > 0]
    low = 10 ** math.floor(math.log10(min(present))) / 10 if present else 0.1
    # Room on the right for the value labels: 45% of the bars' span past the largest one.
    span = math.log10(max(present) / low) if present else 1.0
    high = max(present) * 10 ** (0.45 * span) if present else 10.0
    axes.set_xscale("log")
    axes.set_xlim(low, high)
    for position, summary, value in zip(positions, summaries, values, strict=True):
        colour = _OURS if summary.contender == "aioh5saver" else _BASELINE
        if math.isnan(value) or value <= 0:
            axes.text(
                low * 10 ** (0.02 * span), position, NOT_AVAILABLE, va="center", color="dimgray"
            )
            continue
        axes.barh(position, value - low, left=low, color=colour, height=0.7)
        axes.text(
            value * 10 ** (0.02 * span),
            position,
            _value_text(value, unit),
            va="center",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            zorder=3,
        )
    axes.set_yticks(positions, labels)
    axes.set_ylim(len(summaries) - 0.5, -0.5)  # the first contender on top
    # At most about six labelled decades, so that labels never run into each other.
    axes.xaxis.set_major_locator(LogLocator(base=10, numticks=6))
    axes.xaxis.set_major_formatter(FuncFormatter(_decade_label))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.grid(axis="x", which="major", color="0.9")
    axes.set_axisbelow(True)


def build_figure(
    summaries: Sequence[Summary],
    context: dict[str, Any] | None = None,
    *,
    lag_target_ms: float = 2.0,
) -> Figure:
    """The figure: per workload, throughput (MB/s) above and event-loop lag p99 (ms) below
    with its target, the workload's definition in its title, how the figures were made at the
    top."""
    from matplotlib.figure import Figure

    workloads = sorted({summary.workload for summary in summaries})
    figure = Figure(figsize=(6.2 * len(workloads), 9.5), layout="constrained")
    grid = figure.subplots(2, len(workloads), squeeze=False)
    for column, workload in enumerate(workloads):
        mine = _ordered([summary for summary in summaries if summary.workload == workload])
        definition = WORKLOAD_TITLES.get(workload, "")
        top, bottom = grid[0][column], grid[1][column]
        _bars(top, mine, [summary.mb_per_s for summary in mine], "MB/s")
        top.set_title(f"{workload}: {definition}\nthroughput, MB/s (log scale; higher is better)")
        _bars(bottom, mine, [summary.lag_p99_ms for summary in mine], "ms")
        bottom.axvline(lag_target_ms, color="tab:red", linestyle="--")
        bottom.text(
            lag_target_ms * 1.1,
            -0.45,
            f"target <= {lag_target_ms:g} ms",
            color="tab:red",
            fontsize=8,
            va="top",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
        )
        bottom.set_title(f"{workload}: event-loop lag p99, ms (log scale; lower is better)")
    heading = "aioh5saver benchmark: aioh5saver (blue) against its baselines (gray)"
    if context is not None:
        heading += (
            f"\n{context.get('mode', '?')} mode, median of {context.get('rounds', '?')} "
            f"rounds, {context.get('machine', '')}; baselines run without SWMR; "
            f"{NOT_AVAILABLE}: not measured for that contender (the idle loop writes nothing, "
            "raw os.write has no event loop)"
        )
    figure.suptitle(heading, fontsize=11)
    return figure


def plot(
    summaries: Sequence[Summary],
    path: Path,
    context: dict[str, Any] | None = None,
    *,
    lag_target_ms: float = 2.0,
) -> bool:
    """Write the figure to ``path`` as a PNG; False if matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    build_figure(summaries, context, lag_target_ms=lag_target_ms).savefig(path, dpi=90)
    return True
