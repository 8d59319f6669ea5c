"""The producer sweep: its arithmetic (fairness, medians, verdicts) on given numbers, its
interleaving, and one tiny real sweep end to end through the bench's command line."""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path
from typing import Any

import pytest

import aioh5saver.aio.async_saver
from aioh5saver.tools.bench import sweep
from aioh5saver.tools.bench.cli import main
from aioh5saver.tools.bench.sweep import (
    Case,
    CaseSummary,
    Verdict,
    child_environment,
    evaluate,
    fairness,
    interleaved,
    summarize,
)
from aioh5saver.tools.bench.sweep_case import GcPauses
from aioh5saver.tools.bench.sweep_report import COLUMNS, verdict_lines

MIB = 1 << 20


def _summary(case: Case, **figures: Any) -> CaseSummary:
    """A summary that meets every target, with ``figures`` changed."""
    passing = CaseSummary(
        case=case,
        rounds=3,
        complete=True,
        rows_per_s=100_000.0,
        lag_p50_ms=0.3,
        lag_p99_ms=1.0,
        lag_max_ms=3.0,
        idle_p50_ms=0.1,
        idle_p99_ms=0.4,
        fair_min=0.9,
        fair_max=1.1,
        rss_growth_bytes=10 * MIB,
        budget_bytes=256 * MIB,
        gc_count=2,
        gc_p99_ms=0.1,
        gc_max_ms=0.1,
        gc_per_generation=(2, 0, 0),
        loop_us_per_row=3.0,
    )
    return dataclasses.replace(passing, **figures)


def _verdict(summaries: list[CaseSummary], target: str) -> Verdict:
    (verdict,) = [v for v in evaluate(summaries) if v.target == target]
    return verdict


CASE = Case(8, "0D", False)


def test_fairness_is_each_producers_accepted_rows_over_the_mean() -> None:
    """Counts 80, 120, 100, 100 have mean 100: the shares run from 0.8 to 1.2 of it; a run
    in which nothing was accepted has shares of zero, not a division by zero."""
    assert fairness([80, 120, 100, 100]) == pytest.approx((0.8, 1.2))
    assert fairness([50, 150]) == pytest.approx((0.5, 1.5))
    assert fairness([0, 0, 0]) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("fair_min", "fair_max", "met"),
    [(0.8, 1.2, True), (0.95, 1.05, True), (0.79, 1.0, False), (1.0, 1.21, False)],
)
def test_fairness_target_holds_only_within_20_percent_of_the_mean(
    fair_min: float, fair_max: float, met: bool
) -> None:
    """Shares of 0.8 and 1.2 of the mean hold; 0.79 or 1.21 miss."""
    summary = _summary(CASE, fair_min=fair_min, fair_max=fair_max)
    assert _verdict([summary], "fairness").met is met


@pytest.mark.parametrize(
    ("lag_p99", "idle_p99", "met"),
    [
        (1.9, 0.4, True),  # under 2 ms and under idle + 1.5 = 1.9
        (1.9, 0.3, False),  # under 2 ms but above idle + 1.5 = 1.8
        (2.1, 1.0, False),  # under idle + 1.5 = 2.5 but above 2 ms
    ],
)
def test_lag_p99_must_be_under_2_ms_and_under_idle_plus_1_5_ms(
    lag_p99: float, idle_p99: float, met: bool
) -> None:
    """The lag p99 target is the smaller of 2 ms and the idle loop's p99 + 1.5 ms."""
    summary = _summary(CASE, lag_p99_ms=lag_p99, idle_p99_ms=idle_p99)
    verdict = _verdict([summary], "lag p99")
    assert verdict.met is met
    assert f"limit {min(2.0, idle_p99 + 1.5):.2f} ms" in verdict.measured


def test_lag_p50_target_is_half_a_millisecond() -> None:
    """A lag p50 of 0.5 ms holds, 0.51 ms misses."""
    assert _verdict([_summary(CASE, lag_p50_ms=0.5)], "lag p50").met is True
    assert _verdict([_summary(CASE, lag_p50_ms=0.51)], "lag p50").met is False


def test_rss_target_is_the_budget_plus_64_mib_and_unmeasured_is_not_met() -> None:
    """With a 256 MiB budget, +320 MiB holds and +321 MiB misses; without a peak figure (no
    /proc) the verdict says it was not measured rather than that it held."""
    assert _verdict([_summary(CASE, rss_growth_bytes=320 * MIB)], "RSS").met is True
    assert _verdict([_summary(CASE, rss_growth_bytes=321 * MIB)], "RSS").met is False
    unmeasured = _verdict([_summary(CASE, rss_growth_bytes=None)], "RSS")
    assert unmeasured.met is None
    assert "UNMEASURED: RSS" in verdict_lines([unmeasured])[0]


@pytest.mark.parametrize(("rate_at_512", "met"), [(80_000.0, True), (79_000.0, False)])
def test_rows_per_s_at_most_producers_is_compared_with_the_fewest(
    rate_at_512: float, met: bool
) -> None:
    """Rows/s at 512 producers against 100,000 at 8 (same rows, same SWMR mode): 0.8x holds,
    0.79x misses; one verdict per rows/SWMR group, at its largest count, and the other group
    (SWMR on, which scales badly here) is judged on its own figures."""
    summaries = [
        _summary(Case(8, "0D", False), rows_per_s=100_000.0),
        _summary(Case(64, "0D", False), rows_per_s=10.0),  # not a scaling verdict's point
        _summary(Case(512, "0D", False), rows_per_s=rate_at_512),
        _summary(Case(8, "0D", True), rows_per_s=1_000.0),
        _summary(Case(512, "0D", True), rows_per_s=100.0),
    ]
    verdicts = [v for v in evaluate(summaries) if v.target == "rows/s scaling"]
    assert [(v.case, v.met) for v in verdicts] == [
        (Case(512, "0D", False), met),
        (Case(512, "0D", True), False),
    ]


def test_each_saver_is_judged_on_its_own_rows_per_s() -> None:
    """With two savers, rows/s scaling compares each saver's 512 producers with its own 8:
    saver A keeps 0.9x and holds, saver B falls to 0.5x and misses, and the verdicts are
    listed per saver."""
    summaries = [
        _summary(Case(8, "0D", False, "A"), rows_per_s=100_000.0),
        _summary(Case(8, "0D", False, "B"), rows_per_s=200_000.0),
        _summary(Case(512, "0D", False, "A"), rows_per_s=90_000.0),
        _summary(Case(512, "0D", False, "B"), rows_per_s=100_000.0),
    ]
    verdicts = evaluate(summaries)
    scaling = [(v.case.saver, v.met) for v in verdicts if v.target == "rows/s scaling"]
    assert scaling == [("A", True), ("B", False)]
    lines = verdict_lines(verdicts)
    assert lines[0] == "saver A:"
    assert "saver B:" in lines
    assert "missed at 0D no SWMR 512 producers [B]: 0.50x" in "\n".join(lines)


def test_verdict_lines_say_which_targets_hold_and_where_the_others_miss() -> None:
    """A target met everywhere reads HOLDS; one missed at a case reads MISSED and names the
    case with its figure."""
    summaries = [_summary(Case(8, "1D", True)), _summary(Case(512, "1D", True), lag_p50_ms=4.0)]
    lines = verdict_lines(evaluate(summaries))
    assert any(line.startswith("HOLDS: fairness") for line in lines)
    index = next(i for i, line in enumerate(lines) if line.startswith("MISSED: lag p50"))
    assert "holds at 1 of 2" in lines[index]
    assert lines[index + 1].strip() == "missed at 1D SWMR 512 producers: 4.00 ms"


def _child(rows_per_s: float, lag_p99: float, counts: list[int]) -> dict[str, Any]:
    return {
        "idle": {"lag_ms": {"p50": 0.1, "p99": 0.5, "max": 2.0}, "ticks": 900},
        "complete": True,
        "rows_per_s": rows_per_s,
        "lag_ms": {"p50": 0.2, "p99": lag_p99, "max": 9.0},
        "counts": counts,
        "gc": {"count": 4, "p99_ms": 0.2, "max_ms": 0.3, "per_generation": [4, 0, 0]},
        "loop_cpu_us_per_row": 3.0,
        "rss_growth_bytes": 5 * MIB,
        "budget_bytes": 256 * MIB,
        "saver": "/somewhere/src/aioh5saver",
    }


def test_summaries_are_medians_of_the_rounds_and_fairness_is_per_round() -> None:
    """Three rounds of rows/s 1, 3 and 200 (thousand) give 3,000; lag p99 the median too;
    fairness is computed within each round, then its median taken."""
    results = [
        (CASE, _child(1_000, 5.0, [50, 150])),
        (CASE, _child(200_000, 1.0, [100, 100])),
        (CASE, _child(3_000, 2.0, [90, 110])),
    ]
    (summary,) = summarize(results)
    assert summary.rounds == 3
    assert summary.rows_per_s == 3_000
    assert summary.lag_p99_ms == 2.0
    assert (summary.fair_min, summary.fair_max) == pytest.approx((0.9, 1.1))


def test_rounds_are_interleaved_and_each_starts_with_another_case() -> None:
    """Each round runs every case once, round-robin, the first case moving by one each round:
    no case runs its rounds back to back."""
    cases = [Case(8, "0D", False), Case(64, "0D", False), Case(512, "0D", False)]
    order = interleaved(cases, 3)
    assert order == [*cases, *cases[1:], cases[0], cases[2], *cases[:2]]


def test_gc_pauses_are_timed_per_generation_while_entered_only() -> None:
    """A full collection inside the block is recorded as one generation-2 pause with its
    duration; one after the block is not (the callback is gone)."""
    with GcPauses() as pauses:
        gc.collect(2)
    gc.collect(2)
    summary = pauses.summary()
    assert summary["per_generation"][2] == 1
    assert summary["max_ms_per_generation"][2] > 0


def test_a_failed_run_is_reported_and_the_others_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When one case's child process fails (a saver that crashes), the sweep goes on with the
    other runs, writes their table, names the failed run with the last line of its error,
    and exits with status 1."""
    ran: list[Case] = []

    def fake_child(case: Case, settings: sweep.SweepSettings, folder: Path) -> dict[str, Any]:
        ran.append(case)
        if case.producers == 3:
            raise RuntimeError("Traceback ...\nValueError: the saver broke")
        return _child(1_000.0 * case.producers, 1.0, [10] * case.producers)

    monkeypatch.setattr(sweep, "run_child", fake_child)
    out = tmp_path / "report"
    arguments = ["--sweep", "--rounds", "2", "--out", str(out), "--sweep-producers", "2,3"]
    assert main([*arguments, "--sweep-rows", "0D", "--sweep-swmr", "off"]) == 1
    two, three = Case(2, "0D", False), Case(3, "0D", False)
    assert ran == [two, three, three, two]  # interleaved: round 2 starts with the next case
    markdown = (out / "producer-sweep.md").read_text()
    assert "| 0D | no | 2 | 2,000 |" in markdown
    assert "| 0D | no | 3 |" not in markdown
    assert "FAILED run: 0D no SWMR 3 producers: ValueError: the saver broke" in markdown
    data = json.loads((out / "producer-sweep.json").read_text())
    assert len(data["runs"]) == 2
    assert [failure["case"]["producers"] for failure in data["failures"]] == [3, 3]


def test_saver_src_comes_first_on_the_childs_path(tmp_path: Path) -> None:
    """--saver-src puts that checkout's sources before everything else the child imports;
    without it the child imports the same package as the parent."""
    assert child_environment(str(tmp_path))["PYTHONPATH"].split(":")[0] == str(tmp_path)
    own = Path(aioh5saver.aio.async_saver.__file__).parents[2]
    assert child_environment("")["PYTHONPATH"].split(":")[0] == str(own)


def test_tiny_sweep_writes_a_table_with_every_column_and_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-round sweep at a tiny size (2 and 3 producers, 0D and 1D rows, with and without
    SWMR) through the bench's command line measures every case in a child process running
    this checkout's saver, and writes producer-sweep.md with every column filled for each
    case, producer-sweep.json, and the verdicts."""
    out = tmp_path / "report"
    arguments = ["--sweep", "--quick", "--rounds", "1", "--out", str(out)]
    arguments += ["--sweep-producers", "2,3", "--sweep-scale", "0.002"]
    assert main(arguments) == 0
    markdown = (out / "producer-sweep.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert table[0] == "| " + " | ".join(COLUMNS) + " |"
    rows = [line.strip("|").split(" | ") for line in table[2:]]
    assert len(rows) == 8
    for cells in rows:
        assert len(cells) == len(COLUMNS)
        assert all(cell.strip() for cell in cells), cells
        assert float(cells[3].replace(",", "")) > 0  # rows/s
        assert cells[6].strip() != "- / -"  # the idle loop beside each case
    assert {(cells[0].strip(), cells[1], cells[2]) for cells in rows} == {
        (rows_kind, swmr, producers)
        for rows_kind in ("0D", "1D")
        for swmr in ("no", "yes")
        for producers in ("2", "3")
    }
    assert "## Verdicts" in markdown
    data = json.loads((out / "producer-sweep.json").read_text())
    assert len(data["summaries"]) == 8
    assert {verdict["target"] for verdict in data["verdicts"]} == {
        "lag p99",
        "lag p50",
        "rows/s scaling",
        "fairness",
        "RSS",
    }
    own = Path(aioh5saver.aio.async_saver.__file__).parents[1]
    assert data["context"]["savers"] == [str(own)]
    assert all(run["complete"] for run in data["runs"])  # every row of every case accepted
    assert not list(out.glob("data-*")), "the sweep's data files are removed"
    assert "RSS" in capsys.readouterr().out  # the verdicts are printed too


def test_two_saver_sources_are_measured_side_by_side(tmp_path: Path) -> None:
    """--saver-src given twice runs each point with each checkout's saver, the children
    importing the package from that checkout: the table gains a saver column, and the JSON
    names both packages measured."""
    own_src = Path(aioh5saver.aio.async_saver.__file__).parents[2]
    other_src = tmp_path / "other-checkout" / "src"
    other_src.mkdir(parents=True)
    (other_src / "aioh5saver").symlink_to(own_src / "aioh5saver", target_is_directory=True)
    out = tmp_path / "report"
    arguments = ["--sweep", "--quick", "--rounds", "1", "--out", str(out)]
    arguments += ["--sweep-producers", "2", "--sweep-rows", "0D", "--sweep-swmr", "off"]
    arguments += ["--sweep-scale", "0.002", "--saver-src", str(own_src)]
    arguments += ["--saver-src", str(other_src)]
    assert main(arguments) == 0
    table = [
        line
        for line in (out / "producer-sweep.md").read_text().splitlines()
        if line.startswith("|")
    ]
    assert table[0] == "| " + " | ".join(["saver", *COLUMNS]) + " |"
    assert [line.split(" | ")[0] for line in table[2:]] == [f"| {own_src}", f"| {other_src}"]
    data = json.loads((out / "producer-sweep.json").read_text())
    assert set(data["context"]["savers"]) == {
        str(own_src / "aioh5saver"),
        str(other_src / "aioh5saver"),
    }
