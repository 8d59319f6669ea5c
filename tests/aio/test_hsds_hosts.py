"""Several hosts writing one HSDS domain (two AsyncH5Savers here, as two hosts would): the
domain and its skeleton are get-or-create, whichever host starts first; each host appends to
its own arrays; a second appender to one array is refused with AppenderConflictError."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver import AppenderConflictError, AsyncH5Saver, NodeRef
from aioh5saver.engine.hsds_claims import CLAIM_ATTRIBUTE

pytestmark = pytest.mark.anyio


async def _instrument(saver: AsyncH5Saver, host: str) -> NodeRef:
    """The host's own detector group and enlargeable array, under the shared scan group."""
    scan = await saver.get_set_group(saver.raw_group, "Scan000", title="shared scan")
    group = await saver.get_set_group(scan, f"Host_{host}", title=host)
    return await saver.add_array(
        group, "data", "data_enlargeable", data_shape=(2,), array_type="int64",
        enlargeable=True, data_dimension="Data1D",
    )  # fmt: skip


@pytest.mark.parametrize("first", ["a", "b"])
async def test_two_hosts_share_a_domain_and_keep_their_rows(hsds_location: str, first: str) -> None:
    """Two writers open one domain with ``new_file=False`` in either order (the first creates
    it, the second continues it), get-or-create the same scan group and each its own array;
    all rows of both and both log lines are there after they close, with no appender claim
    left behind."""
    second = "b" if first == "a" else "a"
    async with AsyncH5Saver.open(hsds_location, new_file=False) as one:
        mine = await _instrument(one, first)
        await one.flush()
        async with AsyncH5Saver.open(hsds_location, new_file=False) as two:
            theirs = await _instrument(two, second)
            for row in range(30):
                await one.append(mine, np.array([1, row]))
                await two.append(theirs, np.array([2, row]))
            await two.add_log(f"host {second} done")
        await one.add_log(f"host {first} done")
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        for path, host in ((mine.path, 1), (theirs.path, 2)):
            rows = reader.get_node(path).read()
            assert rows.tolist() == [[host, row] for row in range(30)]
            assert CLAIM_ATTRIBUTE not in reader.get_node(path).attrs
        assert sorted(reader.get_set_logger().read()) == sorted(
            [f"host {first} done", f"host {second} done"]
        )
    finally:
        reader.close_file()


async def test_a_second_appender_to_one_array_is_refused(hsds_location: str) -> None:
    """While one writer appends to an array, another writer's append to it fails alone with
    AppenderConflictError naming the first (its other appends go on); once the first has
    closed, the array can be taken over."""
    async with AsyncH5Saver.open(hsds_location) as one:
        array = await _instrument(one, "a")
        await one.append(array, np.array([1, 0]))
        await one.flush()
        async with AsyncH5Saver.open(hsds_location, new_file=False) as two:
            own = await _instrument(two, "b")
            await two.append(array.path, np.array([2, 0]))
            await two.append(own, np.array([2, 1]))
            with pytest.raises(AppenderConflictError, match=r"appended to by .* pid") as caught:
                await two.flush()
            assert "expected an array no other writer appends to" in str(caught.value)
            await one.append(array, np.array([1, 1]))
    async with AsyncH5Saver.open(hsds_location, new_file=False) as three:
        await three.append(array.path, np.array([3, 2]))
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        assert reader.get_node(array.path).read().tolist() == [[1, 0], [1, 1], [3, 2]]
        assert reader.get_node(own.path).read().tolist() == [[2, 1]]
    finally:
        reader.close_file()


async def test_hosts_starting_at_once_share_one_skeleton(hsds_location: str) -> None:
    """Two writers opening a domain that does not exist yet at the same moment end with one
    raw group and one Logger holding both their lines (one of them continues the domain the
    other created)."""

    async def host(name: str) -> None:
        async with AsyncH5Saver.open(hsds_location, new_file=False) as saver:
            await saver.add_log(f"{name} started")

    async with anyio.create_task_group() as group:
        group.start_soon(host, "a")
        group.start_soon(host, "b")
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        assert sorted(reader.get_set_logger().read()) == ["a started", "b started"]
    finally:
        reader.close_file()
