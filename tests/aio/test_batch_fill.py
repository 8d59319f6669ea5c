"""The writer lets a batch fill (``EngineCapabilities.batch_fill_seconds``, HSDS's): rows that
trickle in go out in one batch, and nothing awaited waits for the fill."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import anyio
import numpy as np
import pytest

from aioh5saver import AsyncH5Saver, NodeRef
from aioh5saver.engine.h5py_engine import H5pyEngine

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

# Longer than any of these tests may take: a test that waited for the fill to run out fails
# its fail_after first.
FILL_SECONDS = 30.0
BOUND_SECONDS = 10.0
ROWS = 200
TRICKLE_ROWS = 40
TRICKLE_SECONDS = 0.01


@pytest.fixture
def filling_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local engine, with a long batch fill."""
    capabilities = dataclasses.replace(H5pyEngine.capabilities, batch_fill_seconds=FILL_SECONDS)
    monkeypatch.setattr(H5pyEngine, "capabilities", capabilities)


async def _array(saver: AsyncH5Saver, row_points: int) -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        "rows",
        "data_enlargeable",
        data_shape=(row_points,),
        array_type="float64",
        enlargeable=True,
        data_dimension="Data1D",
    )


async def _trickle(saver: AsyncH5Saver, array: NodeRef, rows: int, points: int) -> None:
    """One row every ``TRICKLE_SECONDS``: rows that come slowly (the writer, not waiting for
    a batch to fill, would write them a few at a time)."""
    for index in range(rows):
        await saver.append(array, np.full(points, float(index)))
        await anyio.sleep(TRICKLE_SECONDS)


async def test_rows_that_trickle_in_go_out_in_one_batch_and_a_flush_does_not_wait_for_the_fill(
    tmp_path: Path, filling_engine: None
) -> None:
    """With a fill time, 40 rows appended 10 ms apart are written in one batch with the flush
    that follows them, which returns without waiting for the fill to run out; every row is in
    the file, in order."""
    async with AsyncH5Saver.open(tmp_path / "fill.h5") as saver:
        array = await _array(saver, 4)
        before = saver.statistics().batches
        with anyio.fail_after(BOUND_SECONDS):
            await _trickle(saver, array, TRICKLE_ROWS, 4)
            await saver.flush()
        batches = saver.statistics().batches - before
        rows = await saver.read(array)
    assert batches <= 2, f"expected the rows and the flush in at most 2 batches, got {batches}"
    assert rows[:, 0].tolist() == [float(index) for index in range(TRICKLE_ROWS)]


async def test_producers_waiting_for_room_end_the_fill(
    tmp_path: Path, filling_engine: None
) -> None:
    """With a budget smaller than the rows, producers soon wait for room: the writer writes
    what is queued at once instead of waiting for a batch that cannot fill."""
    async with AsyncH5Saver.open(tmp_path / "room.h5", max_pending_bytes=64 << 10) as saver:
        array = await _array(saver, 2048)
        with anyio.fail_after(BOUND_SECONDS):
            for index in range(ROWS):
                await saver.append(array, np.full(2048, float(index)))
        with anyio.fail_after(BOUND_SECONDS):
            await saver.flush()
        assert saver.statistics().rows_appended == ROWS


async def test_the_close_does_not_wait_for_the_fill(tmp_path: Path, filling_engine: None) -> None:
    """Rows queued while the writer lets a batch fill are written at the close, which returns
    without waiting for the fill to run out."""
    path = tmp_path / "close.h5"
    with anyio.fail_after(BOUND_SECONDS):
        async with AsyncH5Saver.open(path) as saver:
            array = await _array(saver, 4)
            await _trickle(saver, array, 10, 4)
    async with AsyncH5Saver.open(path, new_file=False) as saver:
        rows = await saver.read(array.path)
    assert rows.shape == (10, 4)
