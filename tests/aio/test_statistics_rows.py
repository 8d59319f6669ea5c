"""``statistics()`` counts the rows of the enlargeable arrays in ``rows_appended`` and log lines
(and other strings) apart, in ``strings_appended``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aioh5saver import AsyncH5Saver

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("swmr", [False, True])
async def test_rows_appended_counts_array_rows_and_log_lines_are_counted_apart(
    tmp_path: Path, swmr: bool
) -> None:
    """7 rows appended to an array and 3 log lines plus 2 strings of a string array: after a
    flush rows_appended is 7 (no log line in it) and strings_appended is 5, with or without
    SWMR (whose log lines are staged before they are folded)."""
    async with AsyncH5Saver.open(tmp_path / "counts.h5", swmr=swmr) as saver:
        scan = await saver.add_scan_group(saver.raw_group)
        det = await saver.add_det_group(scan, title="det")
        array = await saver.add_enlargeable_channel(det, "Data1D", data_shape=(4,))
        notes = await saver.add_string_array(det, "notes")
        if swmr:
            await saver.start_swmr()
        await saver.add_log("start")
        await saver.append(array, np.zeros((5, 4)))
        await saver.append(notes, "first note")
        await saver.add_log("middle")
        await saver.append(array, np.ones((2, 4)))
        await saver.append(notes, "second note")
        await saver.add_log("end")
        await saver.flush()
        stats = saver.statistics()
    assert (stats.rows_appended, stats.strings_appended) == (7, 5)
    assert stats.bytes_written == 7 * 4 * 8 + len("startmiddleendfirst notesecond note")
