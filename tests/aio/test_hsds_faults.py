"""Faults of the HSDS service under AsyncH5Saver: the rows acknowledged by the last completed
``flush()`` survive a kill of the whole service, and a dead data node breaks the writer
(WriterBrokenError) within a bounded time instead of hanging; on asyncio and trio.

Each test kills the session's service and starts it again on the same storage and port.
"""

from __future__ import annotations

import os
import signal
import time

import anyio
import anyio.to_thread
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver import AsyncH5Saver, WriterBrokenError
from hsds_server import HsdsServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

#: A dead node must break the writer within this many seconds (request timeout 10 s, one
#: retry, and the service's own wait for its node).
BROKEN_WITHIN_S = 60.0


def _read_rows(location: str, path: str) -> np.ndarray:
    reader = h5s.H5SaverLowLevel.from_file(location, mode="r")
    try:
        return np.asarray(reader.get_node(path).read())
    finally:
        reader.close_file()


async def _rows_array(saver: AsyncH5Saver) -> h5s.NodeRef:
    return await saver.add_array(
        saver.raw_group, "rows", "data_enlargeable", data_shape=(4,), array_type="float64",
        enlargeable=True, data_dimension="Data1D",
    )  # fmt: skip


def _batch(start: int, count: int) -> np.ndarray:
    return np.arange(start * 4, (start + count) * 4, dtype=np.float64).reshape(count, 4)


async def test_acknowledged_rows_survive_a_kill_of_the_service(
    hsds_location: str, hsds_server: HsdsServer
) -> None:
    """Rows acknowledged by a completed ``flush()`` are all there, each with its values, after
    the whole service is killed (SIGKILL, right after the flush, with more rows accepted but
    not flushed) and started again; closing the saver meanwhile raises WriterBrokenError
    within a bounded time."""
    acknowledged = False
    with pytest.raises(WriterBrokenError), anyio.fail_after(BROKEN_WITHIN_S):
        async with AsyncH5Saver.open(hsds_location) as saver:
            rows = await _rows_array(saver)
            for start in range(0, 2000, 100):
                await saver.append(rows, _batch(start, 100))
            await saver.flush()
            acknowledged = True
            await saver.append(rows, _batch(2000, 100))  # accepted, never acknowledged
            await anyio.to_thread.run_sync(hsds_server.kill)
    assert acknowledged
    await anyio.to_thread.run_sync(hsds_server.start)
    kept = await anyio.to_thread.run_sync(_read_rows, hsds_location, rows.path)
    assert kept.shape[0] >= 2000
    np.testing.assert_array_equal(kept[:2000], _batch(0, 2000))


async def test_a_dead_data_node_breaks_the_writer_in_bounded_time(
    hsds_location: str, hsds_server: HsdsServer
) -> None:
    """With the service's data node killed, the next flush raises WriterBrokenError within
    BROKEN_WITHIN_S seconds (no hang), later calls and the close raise it too, and the rows
    acknowledged before are there once the service is started again."""
    broke_at_flush = False
    with pytest.raises(WriterBrokenError):
        async with AsyncH5Saver.open(hsds_location) as saver:
            rows = await _rows_array(saver)
            await saver.append(rows, _batch(0, 500))
            await saver.flush()
            for pid in hsds_server.node_pids("dn"):
                os.kill(pid, signal.SIGKILL)
            await saver.append(rows, _batch(500, 100))
            started = time.monotonic()
            with pytest.raises(WriterBrokenError), anyio.fail_after(BROKEN_WITHIN_S):
                await saver.flush()
            assert time.monotonic() - started < BROKEN_WITHIN_S
            broke_at_flush = True
            with pytest.raises(WriterBrokenError):
                await saver.append(rows, _batch(600, 1))
    assert broke_at_flush
    await anyio.to_thread.run_sync(hsds_server.restart)
    kept = await anyio.to_thread.run_sync(_read_rows, hsds_location, rows.path)
    np.testing.assert_array_equal(kept[:500], _batch(0, 500))


async def test_a_flush_notices_rows_the_service_lost(
    hsds_location: str, hsds_server: HsdsServer
) -> None:
    """Rows the service no longer holds (the array cut short behind the writer's back, as a
    restarted data node loses them) fail the next flush with WriterBrokenError saying how
    many rows were expected: never read later as zeros or a short array."""
    import h5pyd

    with pytest.raises(WriterBrokenError, match="expected the service to hold the 300 rows"):
        async with AsyncH5Saver.open(hsds_location) as saver:
            rows = await _rows_array(saver)
            await saver.append(rows, _batch(0, 300))
            await saver.flush()
            domain = hsds_location.removeprefix(f"hsds://{hsds_server.host}:{hsds_server.port}")
            other = h5pyd.File(domain, "a", endpoint=hsds_server.endpoint)
            other[rows.path].resize((100, 4))
            other.close()
            await saver.flush()
