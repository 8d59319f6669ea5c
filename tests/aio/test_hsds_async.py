"""AsyncH5Saver on an HSDS domain (``hsds://`` locations): many producers' rows reach the
domain with one shape change and one write per array per batch, ``flush()`` is a server
flush, and SWMR calls are no-ops that ``statistics()`` states; on asyncio and trio."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import requests

import aioh5saver as h5s
from aioh5saver import AsyncH5Saver
from aioh5saver.engine.hsds_append import HsdsArrayWriter
from aioh5saver.engine.hsds_engine import HsdsEngine
from aioh5saver.errors import ExistingFileError

pytestmark = pytest.mark.anyio


def _read_rows(location: str, path: str) -> np.ndarray:
    reader = h5s.H5SaverLowLevel.from_file(location, mode="r")
    try:
        return np.asarray(reader.get_node(path).read())
    finally:
        reader.close_file()


async def test_producers_rows_reach_the_domain_in_order(hsds_location: str) -> None:
    """Eight producers append 50 rows each to their own array and one shared array; after
    ``flush()`` a second client reads every row, each producer's in its order, and
    statistics() says the engine is HSDS, without SWMR."""
    async with AsyncH5Saver.open(hsds_location, swmr=True) as saver:
        scan = await saver.add_scan_group(saver.raw_group, title="scan")
        det = await saver.add_det_group(scan, title="det")
        shared = await saver.add_array(
            det, "shared", "data_enlargeable", data_shape=(2,), array_type="int64",
            enlargeable=True, data_dimension="Data1D",
        )  # fmt: skip
        own = [
            await saver.add_array(
                det,
                f"own{index}",
                "data_enlargeable",
                data_shape=(1,),
                array_type="float64",
                enlargeable=True,
                data_dimension="Data0D",
            )
            for index in range(8)
        ]

        async def produce(index: int) -> None:
            for row in range(50):
                await saver.append(shared, np.array([index, row]))
                await saver.append(own[index], np.array([float(row)]))

        async with anyio.create_task_group() as group:
            for index in range(8):
                group.start_soon(produce, index)
        await saver.start_swmr()
        await saver.add_log("all appended")
        await saver.flush()
        stats = saver.statistics()
        assert stats.engine == "hsds"
        assert not stats.swmr_supported
        assert not stats.swmr_active
        assert stats.rows_appended == 800
        assert stats.strings_appended == 1
        rows = await anyio.to_thread.run_sync(_read_rows, hsds_location, shared.path)
        assert rows.shape == (400, 2)
        for index in range(8):
            mine = rows[rows[:, 0] == index, 1]
            assert mine.tolist() == list(range(50))
        ones = await anyio.to_thread.run_sync(_read_rows, hsds_location, own[3].path)
        assert ones.ravel().tolist() == [float(row) for row in range(50)]


async def test_an_existing_domain_is_not_replaced_by_default(hsds_location: str) -> None:
    """``new_file=None`` (the default) refuses a domain that exists, with ExistingFileError,
    before anything is written."""
    async with AsyncH5Saver.open(hsds_location) as saver:
        await saver.add_log("first")
    with pytest.raises(ExistingFileError, match="exists"):
        async with AsyncH5Saver.open(hsds_location):
            pass
    async with AsyncH5Saver.open(hsds_location, new_file=False) as saver:
        await saver.add_log("second")
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        assert reader.get_set_logger().read() == ["first", "second"]
    finally:
        reader.close_file()


async def test_a_domain_created_after_the_look_is_refused_not_replaced(
    hsds_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``new_file=None`` creates a domain exclusively: one that another host created after
    this saver looked (here, every look says "absent") is refused with ExistingFileError,
    and the other host's rows stay as they were, not replaced by an empty file."""
    async with AsyncH5Saver.open(hsds_location) as other_host:
        await other_host.add_log("the other host's line")
    monkeypatch.setattr(HsdsEngine, "file_exists", lambda self, path: False)
    with pytest.raises(ExistingFileError, match="exists") as caught:
        async with AsyncH5Saver.open(hsds_location):
            pass
    assert "new_file=False" in str(caught.value)
    monkeypatch.undo()
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        assert reader.get_set_logger().read() == ["the other host's line"]
    finally:
        reader.close_file()


def _count_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    original = requests.Session.request

    def counted(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        counts[method] += 1
        return original(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", counted)
    return counts


def test_a_batch_of_parts_costs_one_shape_change_and_one_write(
    hsds_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appending a batch of many parts (rows from many producers) to one array of a domain
    sends two requests: its new shape and one write of every row; no request per row."""
    saver = h5s.H5SaverLowLevel(save_type="scan")
    saver.init_file(hsds_location, new_file=True)
    try:
        array = saver.add_array(
            saver.raw_group, "rows", "data_enlargeable", data_shape=(1,),
            array_type="float64", enlargeable=True, data_dimension="Data0D",
        )  # fmt: skip
        saver.flush()
        writer = HsdsArrayWriter(array)
        counts = _count_requests(monkeypatch)
        writer.append([np.full((1, 1), float(row)) for row in range(100)])
        assert sum(counts.values()) == 2, counts
        assert array.read().ravel().tolist() == [float(row) for row in range(100)]
    finally:
        saver.close_file()


def test_flush_asks_the_service_to_store_the_domain(
    hsds_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``flush()`` ends with the service's own flush (``PUT /?flush=1``), answered before it
    returns: what it acknowledged is on the service's storage."""
    saver = h5s.H5SaverLowLevel(save_type="scan")
    saver.init_file(hsds_location, new_file=True)
    try:
        flushes: list[int] = []
        original = requests.Session.put

        def put(self: requests.Session, url: str, *args: Any, **kw: Any) -> Any:
            answer = original(self, url, *args, **kw)
            if (kw.get("params") or {}).get("flush"):
                flushes.append(answer.status_code)
            return answer

        monkeypatch.setattr(requests.Session, "put", put)
        saver.add_log("to be stored")
        saver.flush()
        assert flushes == [204]
    finally:
        saver.close_file()


def test_statistics_of_a_local_file_say_h5py_with_swmr() -> None:
    """The fields added for HSDS default to a local file's: engine h5py, SWMR supported."""
    fields = h5s.SaverStatistics.__dataclass_fields__
    assert fields["engine"].default == "h5py"
    assert fields["swmr_supported"].default is True


async def test_save_file_of_a_domain_points_to_export(hsds_location: str, tmp_path: Path) -> None:
    """``save_file`` copies local files only: on a domain it raises UnsupportedBackendError
    naming ``aioh5saver export``, writes nothing, and the saver goes on."""
    async with AsyncH5Saver.open(hsds_location) as saver:
        with pytest.raises(h5s.UnsupportedBackendError, match="aioh5saver export"):
            await saver.save_file(tmp_path / "copy.h5")
        await saver.add_log("still writing")
    assert not (tmp_path / "copy.h5").exists()


async def test_on_a_domain_the_queue_has_no_time_bound_unless_asked(
    hsds_location: str, h5_path: Path
) -> None:
    """By default the queue on a domain may hold the whole budget (a request to HSDS costs a
    round trip: only large batches pay), while on a local disk it is capped at what the
    writer writes in 0.05 s; a ``max_pending_seconds`` given is kept on a domain too."""
    budget = 1 << 30
    async with AsyncH5Saver.open(hsds_location, max_pending_bytes=budget) as saver:
        assert saver.statistics().pending_cap_bytes == budget
    async with AsyncH5Saver.open(h5_path, max_pending_bytes=budget) as saver:
        assert saver.statistics().pending_cap_bytes < budget
    async with AsyncH5Saver.open(
        hsds_location, new_file=True, max_pending_bytes=budget, max_pending_seconds=0.05
    ) as saver:
        assert saver.statistics().pending_cap_bytes < budget


async def test_a_flush_period_shorter_than_the_service_flush_is_refused(
    hsds_location: str,
) -> None:
    """A ``flush_period`` below the ~2 s a durable flush of HSDS takes cannot be kept: opening
    a domain with one raises InvalidArgumentError naming the least accepted and the given;
    2 s is accepted."""
    with pytest.raises(h5s.InvalidArgumentError, match=r"at least 2 s .* got float 0\.5"):
        AsyncH5Saver.open(hsds_location, flush_period=0.5)
    async with AsyncH5Saver.open(hsds_location, flush_period=2.0) as saver:
        await saver.add_log("kept every 2 s")
