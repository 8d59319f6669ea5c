"""Several hosts writing one HSDS domain (two AsyncH5Savers here, as two hosts would): the
domain and its skeleton are get-or-create, whichever host starts first; each host appends to
its own arrays; a second appender to one array is refused with AppenderConflictError."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver import AppenderConflictError, AsyncH5Saver, NodeRef
from aioh5saver.engine.hsds_claims import CLAIM_ATTRIBUTE
from aioh5saver.engine.hsds_engine import HsdsEngine

pytestmark = pytest.mark.anyio

#: Seconds a held writer waits for the other one at most (a broken ordering fails the test
#: instead of hanging it).
_HOLD_SECONDS = 30.0


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


async def _two_hosts_log_their_start(location: str) -> None:
    """Hosts a and b open ``location`` at once (continuing it, or creating it if there is none
    yet) and each logs that it started."""

    async def host(name: str) -> None:
        async with AsyncH5Saver.open(location, new_file=False) as saver:
            await saver.add_log(f"{name} started")

    async with anyio.create_task_group() as group:
        group.start_soon(host, "a")
        group.start_soon(host, "b")


async def test_hosts_starting_at_once_share_one_skeleton(hsds_location: str) -> None:
    """Two writers opening a domain that does not exist yet at the same moment end with one
    raw group and one Logger holding both their lines (one of them continues the domain the
    other created)."""

    await _two_hosts_log_their_start(hsds_location)
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        assert sorted(reader.get_set_logger().read()) == ["a started", "b started"]
    finally:
        reader.close_file()


def _hold_two_writers_at_the_worst_moment(patch: pytest.MonkeyPatch) -> None:
    """Order two writers opening one new domain (each on its own thread) as hosts starting at
    the same moment may run: both look for the domain before either creates it (their first
    two looks wait for each other), and the one that did not create it publishes its skeleton
    before the creator publishes its own (each writer's first publish)."""
    import h5pyd

    looked = threading.Barrier(2)
    continuer_published = threading.Event()
    mine = threading.local()
    real_is_hdf5, real_open, real_publish = h5pyd.is_hdf5, HsdsEngine.open, HsdsEngine.publish

    def is_hdf5_together(domain: str, **client: Any) -> bool:
        found = bool(real_is_hdf5(domain, **client))
        mine.looks = getattr(mine, "looks", 0) + 1
        if mine.looks <= 2:
            looked.wait(_HOLD_SECONDS)
        return found

    def open_noting_the_continuer(self: HsdsEngine, *args: Any, **options: Any) -> Any:
        try:
            return real_open(self, *args, **options)
        except FileExistsError:
            mine.continuer = True
            raise

    def publish_continuer_first(self: HsdsEngine, file: Any) -> None:
        first = not getattr(mine, "published", False)
        mine.published = True
        continuer = getattr(mine, "continuer", False)
        if first and not continuer:
            continuer_published.wait(_HOLD_SECONDS)
        try:
            real_publish(self, file)
        finally:
            if first and continuer:
                continuer_published.set()

    patch.setattr(h5pyd, "is_hdf5", is_hdf5_together)
    patch.setattr(HsdsEngine, "open", open_noting_the_continuer)
    patch.setattr(HsdsEngine, "publish", publish_continuer_first)


async def test_hosts_finding_no_domain_at_once_create_it_once(
    hsds_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers that both find no domain, then both create it, at the same moment: exactly
    one creates it, the other continues it, even when the other's skeleton is published
    first; both write their line, and the domain has every attribute of a new file, written
    once (the creator's), with no conflict between the writers."""

    with monkeypatch.context() as patch:
        _hold_two_writers_at_the_worst_moment(patch)
        await _two_hosts_log_their_start(hsds_location)
    reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
    try:
        assert sorted(reader.get_set_logger().read()) == ["a started", "b started"]
        root = reader.root().attrs
        for name in ("TITLE", "CLASS", "pymodaq_data_version", "file", "date", "time"):
            assert name in root, f"the new domain's root has no {name!r} attribute"
        assert reader.get_node("/RawData").attrs["type"] == "scan"
    finally:
        reader.close_file()
