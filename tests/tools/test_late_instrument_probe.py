"""The late-instrument probe runs W2's producers and times each late instrument's calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from aioh5saver.tools.bench.late_instrument import CALLS, measure_late_instruments

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("swmr", [False, True])
async def test_probe_times_every_call_of_every_late_instrument_under_load(
    tmp_path: Path, swmr: bool
) -> None:
    """Two late instruments under W2 load: each of their three calls is timed, rows were
    appended meanwhile, and with SWMR the saver counted the pause of the first one."""
    run = await measure_late_instruments(
        tmp_path / "late.h5", swmr=swmr, instruments=2, gap_s=0.0, warmup_s=0.05
    )
    assert [len(run.calls_s[name]) for name in CALLS] == [2, 2, 2]
    assert len(run.instruments_s) == 2
    assert run.rows > 0
    summary = run.summary()
    assert set(summary) >= {*CALLS, "instrument", "pauses", "paused_ms", "rows"}
    if swmr:
        assert run.pauses >= 1
        assert run.paused_s > 0
    else:
        assert run.pauses == 0
