"""The producer sweep's report: one Markdown table row per case with the idle loop beside it,
the verdict per target in plain words, and everything as JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from aioh5saver.tools.bench.sweep import (
    FAIRNESS_SPREAD,
    RSS_MARGIN_BYTES,
    TARGETS,
    Case,
    CaseSummary,
    Failures,
    Results,
    Verdict,
    scaling_base,
)

__all__ = ["COLUMNS", "markdown_table", "verdict_lines", "write_sweep_reports"]

COLUMNS = (
    "rows",
    "SWMR",
    "producers",
    "rows/s",
    "x rows/s at fewest",
    "lag p50 / p99 / max ms",
    "idle loop p50 / p99 ms",
    "fairness min / max",
    "peak RSS - idle MiB (limit)",
    "GC collections (gen 0/1/2)",
    "GC pause p99 / max ms",
    "loop us/row",
    "targets missed",
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"


def _saver_name(case: Case) -> str:
    return case.saver or "(this package)"


def _row(summary: CaseSummary, summaries: list[CaseSummary], verdicts: list[Verdict]) -> list[str]:
    case = summary.case
    base = scaling_base(summaries, case)
    ratio = "" if base is None else f"{summary.rows_per_s / base.rows_per_s:.2f}"
    limit = (
        "-"
        if summary.budget_bytes is None
        else f"{(summary.budget_bytes + RSS_MARGIN_BYTES) / 2**20:.0f}"
    )
    missed = [v.target for v in verdicts if v.case == case and v.met is False]
    unknown = [v.target for v in verdicts if v.case == case and v.met is None]
    verdict = ", ".join(missed) if missed else "none"
    if unknown:
        verdict += f" (not measured: {', '.join(unknown)})"
    generations = "/".join(f"{count:.0f}" for count in summary.gc_per_generation)
    cells = [
        case.rows,
        "yes" if case.swmr else "no",
        str(case.producers),
        f"{summary.rows_per_s:,.0f}" + ("" if summary.complete else " (time limit)"),
        ratio,
        f"{_ms(summary.lag_p50_ms)} / {_ms(summary.lag_p99_ms)} / {_ms(summary.lag_max_ms)}",
        f"{_ms(summary.idle_p50_ms)} / {_ms(summary.idle_p99_ms)}",
        f"{summary.fair_min:.2f} / {summary.fair_max:.2f}",
        f"{_mib(summary.rss_growth_bytes)} ({limit})",
        f"{summary.gc_count:.0f} ({generations})",
        f"{_ms(summary.gc_p99_ms)} / {_ms(summary.gc_max_ms)}",
        "-" if summary.loop_us_per_row is None else f"{summary.loop_us_per_row:.1f}",
        verdict,
    ]
    return cells


def markdown_table(summaries: list[CaseSummary], verdicts: list[Verdict]) -> str:
    """One row per case, medians over its rounds; a first column names the saver when more
    than one was measured."""
    several = len({summary.case.saver for summary in summaries}) > 1
    columns = ["saver", *COLUMNS] if several else list(COLUMNS)
    rows = [
        ([_saver_name(summary.case)] if several else []) + _row(summary, summaries, verdicts)
        for summary in summaries
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    """Per target (and per saver, when more than one was measured): whether it holds at every
    case, and where it does not, with the figures."""
    savers = list(dict.fromkeys(verdict.case.saver for verdict in verdicts))
    lines = []
    for saver in savers:
        if len(savers) > 1:
            lines.append(f"saver {saver or '(this package)'}:")
        lines += _target_lines([verdict for verdict in verdicts if verdict.case.saver == saver])
    return lines


def _target_lines(verdicts: list[Verdict]) -> list[str]:
    lines = []
    for target in TARGETS:
        mine = [verdict for verdict in verdicts if verdict.target == target]
        if not mine:
            continue
        missed = [verdict for verdict in mine if verdict.met is False]
        unknown = [verdict for verdict in mine if verdict.met is None]
        held = len(mine) - len(missed) - len(unknown)
        word = "HOLDS" if not missed and not unknown else "MISSED" if missed else "UNMEASURED"
        lines.append(f"{word}: {target} ({mine[0].limit}): holds at {held} of {len(mine)}")
        lines += [f"    missed at {v.case.label}: {v.measured}" for v in missed]
        lines += [f"    not measured at {v.case.label}" for v in unknown]
    return lines


def write_sweep_reports(
    out: Path,
    summaries: list[CaseSummary],
    verdicts: list[Verdict],
    outcome: tuple[Results, Failures],
    context: dict[str, Any],
) -> tuple[str, list[Path]]:
    """Write ``producer-sweep.md`` and ``producer-sweep.json`` into ``out``; return the
    Markdown table with the verdicts and the paths written."""
    results, failures = outcome
    table = markdown_table(summaries, verdicts)
    lines = verdict_lines(verdicts) + [
        f"FAILED run: {case.label}: {(message.strip().splitlines() or [''])[-1]}"
        for case, message in failures
    ]
    savers = sorted({result["saver"] for _, result in results})
    markdown = "\n".join(
        [
            "# Producer sweep",
            "",
            f"{context['when']}, {context['machine']}; {context['rounds']} rounds, interleaved, "
            f"medians; backend {context['backend']}; saver from {', '.join(savers)}; "
            f"{context['versions']}.",
            "",
            "Each case runs in a fresh process: first the idle loop (a 1 ms ticker alone on the "
            "event loop), then the producers (8 arrays shared, producer i appending to array "
            "i % 8, one awaited row at a time, a fixed total of rows) beside the same ticker. "
            f"Fairness: each producer's accepted rows over the mean (target 1 +- "
            f"{FAIRNESS_SPREAD:g}). RSS: peak during the case less the resident memory after "
            "the idle loop. GC: the cyclic collector's collections during the case, timed "
            "through gc.callbacks. Loop us/row: CPU time of the event loop's thread per row.",
            "",
            table,
            "",
            "## Verdicts",
            "",
            "```",
            *lines,
            "```",
            "",
        ]
    )
    data = {
        "context": {**context, "savers": savers},
        "summaries": [dataclasses.asdict(summary) for summary in summaries],
        "verdicts": [dataclasses.asdict(verdict) for verdict in verdicts],
        "runs": [{**result, "case": dataclasses.asdict(case)} for case, result in results],
        "failures": [
            {"case": dataclasses.asdict(case), "error": message} for case, message in failures
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    markdown_path = out / "producer-sweep.md"
    json_path = out / "producer-sweep.json"
    markdown_path.write_text(markdown)
    json_path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    return table + "\n\n" + "\n".join(lines), [markdown_path, json_path]
