"""Enlargeable channels written through AsyncH5Saver load in pymodaq_data 5.3.0's DataLoader as
what was appended: data, signal axes, navigation axes, labels, units, nav_indexes; on asyncio
and trio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymodaq_data.data import DataWithAxes
from pymodaq_data.h5modules.data_saving import DataLoader
from pymodaq_data.h5modules.saving import H5SaverLowLevel as PymodaqSaver

import aioh5saver
from aioh5saver import AsyncH5Saver, ChannelAxis, H5SaverLowLevel

# pymodaq_data warns that an enlargeable array's data_dimension (Data1D...) is not the
# dimension of what it loads (DataND: the rows are a navigation dimension); it does the same
# on the files its own DataToExportEnlargeableSaver writes.
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::pymodaq_data.data.DataDimWarning"),
]


def load(path: Path, where: str) -> DataWithAxes:
    """What pymodaq_data's DataLoader loads from ``where`` in the file at ``path``."""
    reader = PymodaqSaver(backend="h5py")
    reader.init_file(path, new_file=False, mode="r")
    try:
        return DataLoader(reader).load_data(where)
    finally:
        reader.close_file()


def axes_of(data: DataWithAxes) -> dict[str, tuple[str, int, np.ndarray]]:
    """The loaded axes by label: units, index, values."""
    return {axis.label: (axis.units, axis.index, axis.get_data()) for axis in data.axes}


@dataclass(frozen=True)
class Channel:
    """One channel to write: its dimension, row shape, dtype and signal axes."""

    dim: str
    row_shape: tuple[int, ...]
    dtype: str
    axes: tuple[ChannelAxis, ...]

    def rows(self, count: int, start: int = 0) -> np.ndarray:
        """``count`` rows, each different, of the channel's shape and dtype."""
        size = int(np.prod(self.row_shape))
        values = np.arange(start * size, (start + count) * size) % 60_000
        return values.reshape(count, *self.row_shape).astype(self.dtype)


CHANNELS = {
    "Data0D": Channel("Data0D", (1,), "float64", ()),
    "Data1D": Channel(
        "Data1D", (16,), "float32", (ChannelAxis("wavelength", "nm", np.linspace(400, 800, 16)),)
    ),
    "Data2D": Channel(
        "Data2D",
        (4, 6),
        "uint16",
        (
            # Unevenly spaced: saved as a 'spread' axis, its values as they are.
            ChannelAxis("y", "mm", np.array([0.0, 0.5, 2.0, 4.5])),
            ChannelAxis("x", "pixel", np.arange(6.0)),
        ),
    ),
}


@pytest.mark.parametrize("dim", list(CHANNELS))
async def test_dataloader_loads_a_channel_as_appended_with_its_axes(
    dim: str, h5_path: Path
) -> None:
    """A channel added with add_enlargeable_channel, appended row by row and in a batch, with a
    time axis appended in step, loads in DataLoader as exactly the rows appended (along
    navigation dimension 0), with its name, origin, label, units, source, timestamp, extra
    metadata, each signal axis at its row dimension + 1 and the time axis at 0."""
    channel = CHANNELS[dim]
    rows = channel.rows(7)
    times = 1_800_000_000.0 + np.arange(7) * 0.25
    async with AsyncH5Saver.open(h5_path) as saver:
        scan = await saver.add_scan_group(saver.raw_group, title="scan")
        det = await saver.add_det_group(scan, title="camera")
        array = await saver.add_enlargeable_channel(
            det,
            channel.dim,
            data_shape=None if dim == "Data0D" else channel.row_shape,
            dtype=channel.dtype,
            label="intensity",
            units="V",
            axes=list(channel.axes),
            origin="lab camera",
            timestamp=1_700_000_000.5,
            metadata={"exposure_ms": 10.0},
        )
        clock = await saver.add_nav_axis(det, "time", "s")
        for index in range(3):
            await saver.append(array, rows[index])
            await saver.append(clock, np.float64(times[index]))
        await saver.append(array, rows[3:])
        await saver.append(clock, times[3:])
    assert array.path == f"/RawData/Scan000/Detector000/{dim}/CH00/EnlData00"
    assert clock.path == "/RawData/Scan000/Detector000/NavAxes/Axis00"

    data = load(h5_path, array.path)
    expected = rows[:, 0] if dim == "Data0D" else rows
    assert data.shape == expected.shape
    assert data.nav_indexes == (0,)
    assert len(data) == 1
    assert data.data[0].dtype == np.dtype(channel.dtype)
    np.testing.assert_array_equal(data.data[0], expected)
    assert (data.name, data.origin, data.labels, data.units) == (
        "camera",
        "lab camera",
        ["intensity"],
        "V",
    )
    assert data.source.name == "raw"
    assert data.distribution.name == "spread"
    assert data.timestamp == 1_700_000_000.5
    assert data.exposure_ms == 10.0
    loaded = axes_of(data)
    assert set(loaded) == {"time"} | {axis.label for axis in channel.axes}
    units, index, values = loaded["time"]
    assert (units, index) == ("s", 0)
    np.testing.assert_array_equal(values, times)
    for row_dimension, axis in enumerate(channel.axes):
        units, index, values = loaded[axis.label]
        assert (units, index) == (axis.units, row_dimension + 1)
        np.testing.assert_allclose(values, axis.values)


async def test_channels_of_one_detector_are_numbered_and_each_loads_its_own_rows(
    h5_path: Path,
) -> None:
    """Two Data1D channels and a Data0D channel of one detector are CH00 and CH01 of Data1D
    and CH00 of Data0D; DataLoader loads each with its own rows, and load_all finds all
    three (named apart: PyMoDAQ keeps one data of a name per detector)."""
    first, second = CHANNELS["Data1D"].rows(3), CHANNELS["Data1D"].rows(3, start=5)
    scalars = CHANNELS["Data0D"].rows(3, start=9)
    async with AsyncH5Saver.open(h5_path) as saver:
        det = await saver.add_det_group(await saver.add_scan_group(), title="spectrometer")
        refs = [
            await saver.add_enlargeable_channel(
                det,
                "Data1D",
                data_shape=(16,),
                name=f"{label} spectrum",
                label=label,
                axes=CHANNELS["Data1D"].axes,
            )
            for label in ("left", "right")
        ]
        power = await saver.add_enlargeable_channel(
            det, "Data0D", name="power", label="power", units="W"
        )
        await saver.append(refs[0], first)
        await saver.append(refs[1], second)
        await saver.append(power, scalars)
    assert [ref.path.rsplit("/", 2)[-2] for ref in (*refs, power)] == ["CH00", "CH01", "CH00"]
    for ref, rows, label in ((refs[0], first, "left"), (refs[1], second, "right")):
        data = load(h5_path, ref.path)
        assert data.labels == [label]
        np.testing.assert_array_equal(data.data[0], rows)
    np.testing.assert_array_equal(load(h5_path, power.path).data[0], scalars[:, 0])
    reader = PymodaqSaver(backend="h5py")
    reader.init_file(h5_path, new_file=False, mode="r")
    try:
        everything = DataLoader(reader).load_all("/RawData/Scan000/Detector000")
    finally:
        reader.close_file()
    assert sorted(label for data in everything for label in data.labels) == [
        "left",
        "power",
        "right",
    ]


async def test_two_nav_axes_load_in_their_spread_order(h5_path: Path) -> None:
    """Two navigation axes of a detector (an adaptive scan's x and y) are NavAxes/Axis00 and
    Axis01 with spread orders 0 and 1, and both load with the data, at index 0."""
    xs, ys = np.array([0.0, 1.5, 0.25]), np.array([3.0, -1.0, 2.0])
    async with AsyncH5Saver.open(h5_path) as saver:
        det = await saver.add_det_group(await saver.add_scan_group(), title="probe")
        array = await saver.add_enlargeable_channel(det, "Data0D", label="signal")
        x = await saver.add_nav_axis(det, "x", "mm")
        y = await saver.add_nav_axis(det, "y", "mm")
        await saver.append(array, np.array([[1.0], [2.0], [3.0]]))
        await saver.append(x, xs)
        await saver.append(y, ys)
        orders = [await saver.get_attr(ref, "spread_order") for ref in (x, y)]
    assert [x.path, y.path] == [
        "/RawData/Scan000/Detector000/NavAxes/Axis00",
        "/RawData/Scan000/Detector000/NavAxes/Axis01",
    ]
    assert orders == [0, 1]
    data = load(h5_path, array.path)
    loaded = {axis.label: axis for axis in data.axes}
    assert {label: (a.index, a.spread_order) for label, a in loaded.items()} == {
        "x": (0, 0),
        "y": (0, 1),
    }
    np.testing.assert_array_equal(loaded["x"].get_data(), xs)
    np.testing.assert_array_equal(loaded["y"].get_data(), ys)


def test_sync_saver_writes_the_same_channel_that_dataloader_loads(h5_path: Path) -> None:
    """H5SaverLowLevel.add_enlargeable_channel and add_nav_axis write the same layout
    synchronously: appended with EARRAY.append, the rows and axes load in DataLoader."""
    rows = CHANNELS["Data1D"].rows(4)
    saver = H5SaverLowLevel.from_file(h5_path, new_file=True)
    try:
        det = saver.add_det_group(saver.add_scan_group(saver.raw_group), title="spectrometer")
        array = saver.add_enlargeable_channel(
            det, "Data1D", data_shape=(16,), dtype="float32", axes=CHANNELS["Data1D"].axes
        )
        clock = saver.add_nav_axis(det, "time", "s")
        array.append(rows)
        clock.append(np.arange(4.0))
        path = array.path
    finally:
        saver.close_file()
    data = load(h5_path, path)
    np.testing.assert_array_equal(data.data[0], rows)
    assert data.labels == ["CH00"]  # the default label: the channel's name
    assert sorted(axes_of(data)) == ["time", "wavelength"]


async def test_channel_layout_matches_what_pymodaq_data_writes_for_the_same_data(
    tmp_path: Path,
) -> None:
    """The nodes, node kinds and the attributes DataLoader reads are those that pymodaq_data's
    own DataToExportTimedSaver writes for the same 1D data with a time axis, apart from the
    time stamps, ``units`` (which pymodaq_data leaves out of enlargeable arrays) and the time
    axis's placeholders (offset 0, scaling 1, 'uniform', and a ``size`` counted per row only
    without SWMR)."""
    from pymodaq_data.data import Axis, DataRaw, DataToExport
    from pymodaq_data.h5modules.data_saving import DataToExportTimedSaver

    rows = CHANNELS["Data1D"].rows(3)
    wavelengths = CHANNELS["Data1D"].axes[0].values
    theirs = tmp_path / "theirs.h5"
    saver = PymodaqSaver(backend="h5py")
    saver.init_file(theirs, new_file=True)
    det = saver.add_det_group(saver.add_scan_group(saver.raw_group), title="spectrometer")
    timed = DataToExportTimedSaver(saver)
    for row in rows:
        dwa = DataRaw(
            "spectrometer",
            data=[row],
            labels=["counts"],
            axes=[Axis("wavelength", "nm", data=wavelengths.copy(), index=0)],
            origin="spectrometer",
        )
        timed.add_data(det, DataToExport("spectro", data=[dwa]))
    saver.close_file()

    ours = tmp_path / "ours.h5"
    async with AsyncH5Saver.open(ours) as ours_saver:
        det_ref = await ours_saver.add_det_group(
            await ours_saver.add_scan_group(), title="spectrometer"
        )
        array = await ours_saver.add_enlargeable_channel(
            det_ref,
            "Data1D",
            data_shape=(16,),
            dtype="float32",
            label="counts",
            axes=list(CHANNELS["Data1D"].axes),
        )
        clock = await ours_saver.add_nav_axis(det_ref, "time", "s")
        await ours_saver.append(array, rows)
        await ours_saver.append(clock, np.arange(3.0))

    def layout(path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
        reader = H5SaverLowLevel.from_file(path, mode="r")
        try:
            nodes = reader.walk_nodes("/RawData/Scan000/Detector000")
            ignored = {"timestamp", "units"}
            return {
                node.path: (
                    node.kind,
                    {k: v for k, v in node.attrs.to_dict().items() if k not in ignored},
                )
                for node in nodes
            }
        finally:
            reader.close_file()

    mine, reference = layout(ours), layout(theirs)
    assert sorted(mine) == sorted(reference)
    placeholders = {"offset", "scaling", "distribution", "size"}
    nav = "/RawData/Scan000/Detector000/NavAxes/Axis00"
    for path in reference:
        kind, attrs = reference[path]
        if path == nav:
            attrs = {k: v for k, v in attrs.items() if k not in placeholders}
            mine_attrs = {k: v for k, v in mine[path][1].items() if k not in placeholders}
            assert (mine[path][0], mine_attrs) == (kind, attrs), path
        else:
            assert mine[path] == (kind, attrs), path
    assert (_units(ours, array.path), _units(ours, nav)) == ("", "s")


def _units(path: Path, where: str) -> Any:
    reader = H5SaverLowLevel.from_file(path, mode="r")
    try:
        return reader.get_node(where).attrs["units"]
    finally:
        reader.close_file()


def test_channel_axis_is_an_immutable_copy() -> None:
    """ChannelAxis keeps a read-only float64 copy of the values it is given: changing the
    caller's array afterwards changes nothing."""
    values = np.arange(4)
    axis = ChannelAxis("x", "mm", values)
    values[0] = 99
    assert axis.values.dtype == np.float64
    np.testing.assert_array_equal(axis.values, [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="read-only"):
        axis.values[0] = 5.0
    assert aioh5saver.ChannelAxis is ChannelAxis
