"""The report: medians over rounds, ratios to the baselines, the targets, and four outputs (a
terminal table, JSON, Markdown and a PNG plot)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioh5saver.tools.bench.contenders import SWMR_FLUSH_PERIOD_S, RunResult
from aioh5saver.tools.bench.hsds_report import HsdsFigures
from aioh5saver.tools.bench.plot import WORKLOAD_TITLES, plot
from aioh5saver.tools.bench.probes import percentiles

__all__ = ["QUICK_NOTE", "Summary", "Target", "evaluate_targets", "summarize", "write_reports"]

MIB = 1 << 20
#: Printed after the targets of a --quick run, and in its report.md.
QUICK_NOTE = (
    "quick mode: runs of 0.4 s on small sizes, a smoke test. NOT MET lines are expected "
    "here (a p99 of 400 loop ticks, ratios that move 2x between runs on a busy "
    "machine); judge the targets on a full run (aioh5saver bench, several minutes)."
)


@dataclass(frozen=True, slots=True)
class Summary:
    """One contender on one workload: the median over rounds of each figure."""

    workload: str
    contender: str
    swmr: bool
    rounds: int
    rows_per_s: float
    mb_per_s: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    append_p50_ms: float
    append_p99_ms: float
    rss_growth_mib: float
    visible_p50_ms: float
    visible_p99_ms: float

    @property
    def label(self) -> str:
        """The contender's name, with "+SWMR" for its SWMR runs."""
        return f"{self.contender}{' +SWMR' if self.swmr else ''}"


@dataclass(frozen=True, slots=True)
class Target:
    """One target of DESIGN.md section 5, measured."""

    name: str
    required: str
    measured: str
    met: bool


def summarize(results: Iterable[RunResult]) -> list[Summary]:
    """Group runs by (workload, contender, SWMR) and take the median of each figure."""
    groups: dict[tuple[str, str, bool], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.workload, result.contender, result.swmr), []).append(result)
    summaries = []
    for (workload, contender, swmr), runs in groups.items():

        def median(values: Iterable[float]) -> float:
            finite = [value for value in values if not math.isnan(value)]
            return statistics.median(finite) if finite else math.nan

        lag = [percentiles(run.lag_ms, 50, 99, 100) for run in runs]
        append = [percentiles(run.append_ms, 50, 99) for run in runs]
        visible = [percentiles(run.visible_ms, 50, 99) for run in runs]
        summaries.append(
            Summary(
                workload=workload,
                contender=contender,
                swmr=swmr,
                rounds=len(runs),
                rows_per_s=median(run.rows_per_s for run in runs),
                mb_per_s=median(run.mb_per_s for run in runs),
                lag_p50_ms=median(values[0] for values in lag),
                lag_p99_ms=median(values[1] for values in lag),
                lag_max_ms=median(values[2] for values in lag),
                append_p50_ms=median(values[0] for values in append),
                append_p99_ms=median(values[1] for values in append),
                rss_growth_mib=median(run.rss_growth_bytes / MIB for run in runs),
                visible_p50_ms=median(values[0] for values in visible),
                visible_p99_ms=median(values[1] for values in visible),
            )
        )
    return summaries


def _find(summaries: list[Summary], workload: str, contender: str, swmr: bool) -> Summary | None:
    for summary in summaries:
        if (summary.workload, summary.contender, summary.swmr) == (workload, contender, swmr):
            return summary
    return None


def ratio(summaries: list[Summary], subject: Summary, baseline: str) -> float:
    """``subject``'s throughput over ``baseline``'s on the same workload (baselines run
    without SWMR); NaN if the baseline did not run."""
    other = _find(summaries, subject.workload, baseline, False)
    if other is None or other.rows_per_s == 0:
        return math.nan
    return subject.rows_per_s / other.rows_per_s


# (workload, baseline, at least): DESIGN.md section 5.
_RATIO_TARGETS = (
    ("W1", "pymodaq_data", 100.0),
    ("W1", "lock+to_thread", 20.0),
    ("W2", "raw os.write", 0.7),
    ("W2", "pymodaq_data", 20.0),
    ("W3", "raw os.write", 0.9),
    ("W3", "pymodaq_data", 5.0),
)
LAG_P99_TARGET_MS = 2.0
SWMR_VISIBLE_TARGET_MS = SWMR_FLUSH_PERIOD_S * 1e3 + 50.0
MEMORY_SLACK_MIB = 64.0


def evaluate_targets(summaries: list[Summary], outrun: dict[str, Any] | None) -> list[Target]:
    """Each target, with what was measured and whether it is met."""
    targets = []
    for swmr in (False, True):
        mode = " (SWMR)" if swmr else ""
        for workload, baseline, least in _RATIO_TARGETS:
            subject = _find(summaries, workload, "aioh5saver", swmr)
            if subject is None:
                continue
            value = ratio(summaries, subject, baseline)
            if math.isnan(value):
                continue  # that baseline did not run
            targets.append(
                Target(
                    f"{workload}{mode} vs {baseline}",
                    f">= {least:g}x",
                    f"{value:.2f}x",
                    value >= least,
                )
            )
        for subject in summaries:
            if subject.contender == "aioh5saver" and subject.swmr == swmr:
                idle = _find(summaries, subject.workload, "idle loop", False)
                floor = "" if idle is None else f" (idle loop: {idle.lag_p99_ms:.2f} ms)"
                targets.append(
                    Target(
                        f"{subject.workload}{mode} loop lag p99",
                        f"<= {LAG_P99_TARGET_MS:g} ms",
                        f"{subject.lag_p99_ms:.2f} ms{floor}",
                        subject.lag_p99_ms <= LAG_P99_TARGET_MS,
                    )
                )
    for subject in summaries:
        if subject.contender == "aioh5saver" and subject.swmr:
            targets.append(
                Target(
                    f"{subject.workload} SWMR append->visible p99",
                    f"<= {SWMR_VISIBLE_TARGET_MS:g} ms",
                    f"{subject.visible_p99_ms:.1f} ms",
                    subject.visible_p99_ms <= SWMR_VISIBLE_TARGET_MS,
                )
            )
    if outrun is not None:
        allowed = outrun["budget_bytes"] / MIB + MEMORY_SLACK_MIB
        growth = outrun["rss_growth_bytes"] / MIB
        targets.append(
            Target(
                "producers faster than the disk: peak RSS - idle",
                f"<= {allowed:.0f} MiB (budget + {MEMORY_SLACK_MIB:g})",
                f"{growth:.0f} MiB (most pending {outrun['most_pending_bytes'] / MIB:.0f} MiB, "
                f"{outrun['most_producers_waiting']} producers waiting)",
                growth <= allowed,
            )
        )
    return targets


_COLUMNS = (
    ("workload", "{0.workload}"),
    ("contender", "{0.label}"),
    ("rows/s", "{0.rows_per_s:,.0f}"),
    ("MB/s", "{0.mb_per_s:,.1f}"),
    ("lag p50/p99/max ms", "{0.lag_p50_ms:.2f} / {0.lag_p99_ms:.2f} / {0.lag_max_ms:.1f}"),
    ("append p50/p99 ms", "{0.append_p50_ms:.3f} / {0.append_p99_ms:.3f}"),
    ("peak RSS +MiB", "{0.rss_growth_mib:.0f}"),
    ("SWMR visible p50/p99 ms", "{0.visible_p50_ms:.0f} / {0.visible_p99_ms:.0f}"),
)
_BASELINES = ("pymodaq_data", "lock+to_thread", "raw os.write")


def _rows(summaries: list[Summary]) -> tuple[list[str], list[list[str]]]:
    header = [name for name, _ in _COLUMNS] + [f"x {name}" for name in _BASELINES]
    rows = []
    for summary in summaries:
        cells = [pattern.format(summary).replace("nan", "-") for _, pattern in _COLUMNS]
        for baseline in _BASELINES:
            value = ratio(summaries, summary, baseline)
            mine = summary.contender == "aioh5saver"
            cells.append(f"{value:,.2f}" if mine and not math.isnan(value) else "")
        rows.append(cells)
    return header, rows


def terminal_table(
    summaries: list[Summary], targets: list[Target], hsds: HsdsFigures | None = None
) -> str:
    """The figures (the HSDS rows after the local ones) and the targets as aligned plain
    text."""
    lines = []
    if summaries:
        header, rows = _rows(summaries)
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            for line in (header, *rows)
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        lines.append("")
    if hsds is not None:
        lines += [hsds.table(), ""]
    for target in targets:
        mark = "met    " if target.met else "NOT MET"
        lines.append(f"{mark}  {target.name}: {target.measured} (target {target.required})")
    return "\n".join(lines)


def markdown(
    summaries: list[Summary],
    targets: list[Target],
    context: dict[str, Any],
    hsds: HsdsFigures | None = None,
) -> str:
    """The report as Markdown: how it was run, the figures (local, then HSDS), and the
    targets."""
    out = [
        "# aioh5saver benchmark",
        "",
        f"- When: {context['when']}; machine: {context['machine']}",
    ]
    if summaries:
        out += _local_markdown(summaries, context)
    else:
        out.append(f"- Mode: {context['mode']}; event loop: {context['backend']}")
    out += ["", *(hsds.markdown() if hsds is not None else [])]
    out += ["## Targets", ""]
    if context.get("mode") == "quick":
        out += [QUICK_NOTE, ""]
    out += ["| target | required | measured | met |", "|---|---|---|---|"]
    out += [
        f"| {target.name} | {target.required} | {target.measured} | "
        f"{'yes' if target.met else '**no**'} |"
        for target in targets
    ]
    return "\n".join(out) + "\n"


def _local_markdown(summaries: list[Summary], context: dict[str, Any]) -> list[str]:
    """How the local workloads were run, and their figures."""
    header, rows = _rows(summaries)
    out = [
        f"- Mode: {context['mode']}, {context['rounds']} rounds, contenders interleaved in each "
        f"round; every figure is the median over rounds; event loop: {context['backend']}",
        f"- Versions: {context['versions']}",
        "- Baselines run without SWMR; `x baseline` is aioh5saver's rows/s over the baseline's.",
        "- Workloads (each producer awaits one append per row, to its own array; quick mode "
        "writes fewer rows of the same shapes):",
        *(
            f"  - {name}: {WORKLOAD_TITLES.get(name, '?')}"
            for name in sorted({summary.workload for summary in summaries})
        ),
        "- `-` in a cell: not measured for that contender (the idle loop writes nothing; raw "
        "os.write runs without an event loop, so it has no loop lag).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _nan_to_null(value: Any) -> Any:
    """JSON has no NaN: a figure that was not measured is written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_null(item) for item in value]
    return value


def write_reports(
    folder: Path,
    results: list[RunResult],
    outrun: dict[str, Any] | None,
    context: dict[str, Any],
    hsds: HsdsFigures | None = None,
) -> tuple[str, list[Path]]:
    """Write ``report.json``, ``report.md`` and ``report.png`` (of the local workloads, if
    any ran) in ``folder``; return the terminal table and the files written."""
    summaries = summarize(results)
    targets = evaluate_targets(summaries, outrun)
    if hsds is not None:
        targets += [Target(t.name, t.required, t.measured, t.met) for t in hsds.targets()]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    data = {
        "context": context,
        "summaries": [
            {field: getattr(summary, field) for field in Summary.__slots__} for summary in summaries
        ],
        "targets": [
            {"name": t.name, "required": t.required, "measured": t.measured, "met": t.met}
            for t in targets
        ],
        "outrun": outrun,
        "hsds": None if hsds is None else hsds.as_json(),
        "runs": [
            {
                "workload": run.workload,
                "contender": run.contender,
                "swmr": run.swmr,
                "rows": run.rows,
                "seconds": run.seconds,
                "rows_per_s": run.rows_per_s,
                "mb_per_s": run.mb_per_s,
                "lag_ms_p50_p99_max": percentiles(run.lag_ms, 50, 99, 100),
                "append_ms_p50_p99": percentiles(run.append_ms, 50, 99),
                "visible_ms_p50_p99": percentiles(run.visible_ms, 50, 99),
                "rss_growth_bytes": run.rss_growth_bytes,
            }
            for run in results
        ],
    }
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(_nan_to_null(data), indent=2, allow_nan=False) + "\n")
    written.append(json_path)
    markdown_path = folder / "report.md"
    markdown_path.write_text(markdown(summaries, targets, context, hsds))
    written.append(markdown_path)
    png_path = folder / "report.png"
    png_path.unlink(missing_ok=True)  # an earlier run's: not this report's figures
    if summaries and plot(summaries, png_path, context, lag_target_ms=LAG_P99_TARGET_MS):
        written.append(png_path)
    return terminal_table(summaries, targets, hsds), written


def rewrite_from_json(folder: Path) -> list[Path]:
    """Write ``report.md`` and ``report.png`` in ``folder`` again from its ``report.json``
    (after a change to how they are drawn, without running the benchmark again)."""
    data = json.loads((folder / "report.json").read_text())
    summaries = []
    for item in data["summaries"]:
        fields: dict[str, Any] = {
            key: math.nan if value is None else value for key, value in item.items()
        }
        summaries.append(Summary(**fields))
    targets = [Target(**item) for item in data["targets"]]
    hsds = HsdsFigures.from_json(data["hsds"]) if data.get("hsds") else None
    markdown_path = folder / "report.md"
    markdown_path.write_text(markdown(summaries, targets, data["context"], hsds))
    written = [markdown_path]
    if summaries and plot(
        summaries, folder / "report.png", data["context"], lag_target_ms=LAG_P99_TARGET_MS
    ):
        written.append(folder / "report.png")
    return written


if __name__ == "__main__":  # python -m aioh5saver.tools.bench.report FOLDER
    import sys

    for path in rewrite_from_json(Path(sys.argv[1])):
        print(f"wrote {path}")
