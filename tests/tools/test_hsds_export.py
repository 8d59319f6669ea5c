"""``aioh5saver export``: a PyMoDAQ scan written by AsyncH5Saver to an HSDS domain becomes a
local file that pymodaq_data's loader reads (tree, data, Logger)."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import numpy as np
import pytest
from pymodaq_data.h5modules import saving as pm_saving

from aioh5saver import AsyncH5Saver
from aioh5saver.tools.cli import EXIT_OK, EXIT_USAGE, main

pytestmark = pytest.mark.anyio


async def _write_scan(location: str) -> tuple[str, str]:
    """A scan as PyMoDAQ's DAQ_Scan writes it: a detector with a 0D and a 1D channel filled
    row by row by two producers, an actuator axis, and log lines."""
    async with AsyncH5Saver.open(location, metadata={"operator": "tester"}) as saver:
        scan = await saver.add_scan_group(saver.raw_group, title="scan", metadata={"steps": 20})
        actuator = await saver.add_act_group(scan, title="stage")
        axis = await saver.add_data_group(actuator, "Data0D", title="position")
        await saver.add_array(
            axis, "axis", "axis", array_to_save=np.linspace(0.0, 1.0, 20), data_dimension="Data0D"
        )
        detector = await saver.add_det_group(scan, title="spectrometer")
        data0d = await saver.add_data_group(detector, "Data0D", title="power")
        data1d = await saver.add_data_group(detector, "Data1D", title="spectra")
        power = await saver.add_array(
            data0d, "data", "data_enlargeable", data_shape=(1,), array_type="float64",
            enlargeable=True, data_dimension="Data0D",
        )  # fmt: skip
        spectra = await saver.add_array(
            data1d, "data", "data_enlargeable", data_shape=(64,), array_type="float64",
            enlargeable=True, data_dimension="Data1D",
        )  # fmt: skip

        async def power_meter() -> None:
            for step in range(20):
                await saver.append(power, np.array([float(step)]))

        async def spectrometer() -> None:
            for step in range(20):
                await saver.append(spectra, np.full(64, float(step)))

        async with anyio.create_task_group() as group:
            group.start_soon(power_meter)
            group.start_soon(spectrometer)
        await saver.add_log("scan done")
        return power.path, spectra.path


def _pymodaq_reads(path: Path) -> tuple[list[str], dict[str, np.ndarray], list[str]]:
    saver = pm_saving.H5SaverLowLevel(backend="h5py")
    saver.init_file(path, new_file=False, mode="r")
    try:
        nodes = list(saver.walk_nodes("/"))
        arrays = {
            node.path: np.asarray(node.read())
            for node in nodes
            if "ARRAY" in str(saver.get_attr(node, "CLASS"))
        }
        return [node.path for node in nodes], arrays, saver.get_set_logger().read()
    finally:
        saver.close_file()


async def test_pymodaq_reads_an_exported_scan(hsds_location: str, tmp_path: Path) -> None:
    """The scan written to a domain, exported with ``aioh5saver export``, is read by
    pymodaq_data: every row of both channels in order, the axis, and the log line."""
    power_path, spectra_path = await _write_scan(hsds_location)
    target = tmp_path / "exported.h5"
    status = await anyio.to_thread.run_sync(main, ["export", hsds_location, str(target)])
    assert status == EXIT_OK
    paths, arrays, logs = await anyio.to_thread.run_sync(_pymodaq_reads, target)
    assert "/RawData/Scan000/Actuator000/Data0D/Axis" in paths
    power = arrays[power_path]
    spectra = arrays[spectra_path]
    assert power.ravel().tolist() == [float(step) for step in range(20)]
    assert spectra.shape == (20, 64)
    assert spectra[:, 0].tolist() == [float(step) for step in range(20)]
    assert logs == ["scan done"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_existing_target_is_not_replaced_without_force(
    hsds_location: str, tmp_path: Path
) -> None:
    """Exporting onto an existing file is refused with one error line (exit status 2), and
    the file is left as it was; ``--force`` replaces it."""
    await _write_scan(hsds_location)
    target = tmp_path / "exported.h5"
    target.write_bytes(b"keep me")
    status = await anyio.to_thread.run_sync(main, ["export", hsds_location, str(target)])
    assert status == EXIT_USAGE
    assert target.read_bytes() == b"keep me"
    status = await anyio.to_thread.run_sync(main, ["export", "--force", hsds_location, str(target)])
    assert status == EXIT_OK
