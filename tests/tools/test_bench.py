"""The benchmark harness: its arithmetic on known runs, and one small real run end to end."""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path

import pytest

from aioh5saver.tools.bench import contenders
from aioh5saver.tools.bench.cli import main
from aioh5saver.tools.bench.contenders import RunResult
from aioh5saver.tools.bench.probes import SwmrReader
from aioh5saver.tools.bench.report import evaluate_targets, summarize
from aioh5saver.tools.bench.workloads import FULL


def _run(
    contender: str, rows_per_s: float, *, workload: str = "W1", swmr: bool = False, lag: float = 1.0
) -> RunResult:
    return RunResult(
        contender=contender,
        workload=workload,
        swmr=swmr,
        rows=int(rows_per_s),
        nbytes=int(rows_per_s) * 8,
        seconds=1.0,
        lag_ms=[lag] * 100,
        append_ms=[0.01] * 100,
    )


def test_summaries_are_medians_over_rounds_and_targets_use_their_ratios() -> None:
    """Each figure is the median of its rounds; W1 meets ">= 100x pymodaq_data" at 150x and
    misses ">= 20x lock+to_thread" at 15x; a lag p99 of 3 ms misses the 2 ms target."""
    runs = [
        _run("aioh5saver", 150_000, lag=3.0),
        _run("aioh5saver", 140_000, lag=3.0),
        _run("aioh5saver", 900_000, lag=3.0),
        _run("pymodaq_data", 1_000),
        _run("pymodaq_data", 900),
        _run("pymodaq_data", 1_100),
        _run("lock+to_thread", 10_000),
    ]
    summaries = {summary.contender: summary for summary in summarize(runs)}
    assert summaries["aioh5saver"].rows_per_s == 150_000
    assert summaries["aioh5saver"].rounds == 3
    assert summaries["pymodaq_data"].rows_per_s == 1_000
    targets = {target.name: target for target in evaluate_targets(list(summaries.values()), None)}
    assert targets["W1 vs pymodaq_data"].met
    assert targets["W1 vs pymodaq_data"].measured == "150.00x"
    assert not targets["W1 vs lock+to_thread"].met
    assert targets["W1 vs lock+to_thread"].measured == "15.00x"
    assert not targets["W1 loop lag p99"].met
    assert "W1 vs raw os.write" not in targets  # not a W1 target
    assert "W2 vs raw os.write" not in targets  # W2 did not run


def test_memory_target_compares_growth_with_budget_plus_64_mib() -> None:
    """Peak growth of budget + 60 MiB meets the memory target; budget + 70 MiB misses it."""
    mib = 1 << 20
    for growth, met in ((64 + 60, True), (64 + 70, False)):
        outrun = {
            "budget_bytes": 64 * mib,
            "rss_growth_bytes": growth * mib,
            "most_pending_bytes": 60 * mib,
            "most_producers_waiting": 3,
        }
        (target,) = evaluate_targets([], outrun)
        assert target.met is met


def test_swmr_latency_is_time_from_append_to_first_reader_sight_of_that_row() -> None:
    """An append holding row 3 that returned at t=1.0 s, first seen by the reader at t=1.25 s
    (when it saw 4 rows), waited 250 ms; rows never seen are left out."""
    appended = [(1, 0.5), (3, 1.0), (9, 2.0)]
    visible = [(2, 0.75), (4, 1.25)]
    latencies = SwmrReader.latencies_ms(appended, visible)
    assert latencies == pytest.approx([250.0, 250.0])


def test_small_real_run_writes_json_markdown_and_png(tmp_path: Path) -> None:
    """One round of W1 (aioh5saver, raw os.write and the idle loop) at quick size writes the
    three reports, with positive rates, the idle loop's lag beside aioh5saver's, and the
    memory check."""
    out = tmp_path / "report"
    status = main(
        [
            "--quick",
            "--rounds",
            "1",
            "--workloads",
            "W1",
            "--contenders",
            "aioh5saver,raw os.write,idle loop",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    data = json.loads((out / "report.json").read_text())
    rates = {summary["contender"]: summary["rows_per_s"] for summary in data["summaries"]}
    assert set(rates) == {"aioh5saver", "raw os.write", "idle loop"}
    assert rates["aioh5saver"] > 0
    assert rates["raw os.write"] > 0
    assert rates["idle loop"] == 0  # it writes nothing
    assert data["outrun"]["frames"] > 0
    lags = {summary["contender"]: summary["lag_p99_ms"] for summary in data["summaries"]}
    assert math.isfinite(lags["aioh5saver"])  # the ticker ran beside the producers
    assert lags["raw os.write"] is None  # no event loop there: not measured, written as null
    assert math.isfinite(lags["idle loop"])
    lag_target = next(t for t in data["targets"] if t["name"] == "W1 loop lag p99")
    assert f"(idle loop: {lags['idle loop']:.2f} ms)" in lag_target["measured"]
    markdown = (out / "report.md").read_text()
    assert "| W1 | aioh5saver |" in markdown
    assert (out / "report.png").read_bytes().startswith(b"\x89PNG")
    assert not list(out.glob("data-*")), "the benchmark's data files are removed"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_run_keeps_its_per_append_records_out_of_the_cyclic_gc(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A W1 run under SWMR records each append's latency (and producer 0's rows and times)
    in arrays of numbers, not in lists: the cyclic GC would traverse such a list whole, and a
    rare collection stalled the loop for 3-11 ms, counted in the contender's lag. When the
    producers are done, no list of at least a producer's rows has appeared, and the GC visits
    none of the values the run recorded."""
    workload = FULL[0].scaled(2_000, 30.0)
    before = {id(value) for value in gc.get_objects() if isinstance(value, list)}
    grown: list[int] = []
    finish = contenders._AioH5Saver.finish

    async def finish_and_look(self: contenders._AioH5Saver) -> None:
        grown.extend(
            len(value)
            for value in gc.get_objects()
            if isinstance(value, list) and len(value) >= workload.rows and id(value) not in before
        )
        await finish(self)

    monkeypatch.setattr(contenders._AioH5Saver, "finish", finish_and_look)
    result = contenders.run("aioh5saver", workload, tmp_path, swmr=True, backend=backend)
    assert result.rows == workload.producers * workload.rows
    assert grown == []
    assert len(result.append_ms) == result.rows
    assert len(result.visible_ms) > 0
    for records in (result.append_ms, result.lag_ms, result.visible_ms):
        assert not any(isinstance(value, float) for value in gc.get_referents(records))
