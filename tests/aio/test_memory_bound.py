"""Memory held per open array is bounded: each array appended to keeps about one chunk in
memory (HDF5's chunk cache), and past MAX_OPEN_CHUNK_BYTES of them the arrays appended to least
recently are flushed and closed, without losing a row or a ``shape`` attribute."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import h5py
import numpy as np
import pytest

from aioh5saver import AsyncH5Saver
from aioh5saver.aio.tuning import DEFAULT_TUNING
from helpers import pymodaq_read

MAX_OPEN_CHUNK_BYTES = DEFAULT_TUNING.max_open_chunk_bytes

pytestmark = pytest.mark.anyio

# Rows of 64 KiB: arrays of 1 MiB chunks.
ROW_WIDTH = 8192


@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_arrays_beyond_the_chunk_memory_bound_are_closed_and_keep_every_row(
    h5_path: Path, anyio_backend: str, swmr: bool
) -> None:
    """Appending to more arrays of 1 MiB chunks than MAX_OPEN_CHUNK_BYTES holds keeps at most
    that many open (HDF5 has no more datasets open than that); arrays closed and opened again
    keep every row in order, and their ``shape`` attributes are right once the saver closes
    (under SWMR too), as pymodaq_data reads them."""
    count = MAX_OPEN_CHUNK_BYTES // 2**20 + 16
    async with AsyncH5Saver.open(h5_path, swmr=swmr) as saver:
        arrays = [
            await saver.add_array(
                saver.raw_group,
                f"array{index}",
                "data_enlargeable",
                data_shape=(ROW_WIDTH,),
                array_type="float64",
                enlargeable=True,
                data_dimension="Data1D",
            )
            for index in range(count)
        ]
        for round_index in range(3):
            for index, array in enumerate(arrays):
                await saver.append(array, np.full(ROW_WIDTH, float(index * 10 + round_index)))
            await saver.flush()
            core = saver._writer.runner
            file = core.saver.h5file
            assert file is not None
            assert sum(writer.chunk_bytes for writer in core._open.writers.values()) <= (
                MAX_OPEN_CHUNK_BYTES
            )
            open_datasets = h5py.h5f.get_obj_count(file.id, h5py.h5f.OBJ_DATASET)
            assert open_datasets <= MAX_OPEN_CHUNK_BYTES // 2**20 + 2, open_datasets
    paths = [array.path for array in arrays]
    data, _logs = pymodaq_read(h5_path, paths)
    with h5py.File(h5_path, "r") as file:
        for index, path in enumerate(paths):
            expected = [index * 10 + round_index for round_index in range(3)]
            np.testing.assert_array_equal(data[path][:, 0], expected)
            assert (data[path] == data[path][:, :1]).all()
            assert (
                file[path].attrs["shape"]
                == f'{{"module": "builtins", "type": "tuple", "data": "(3, {ROW_WIDTH})"}}'
            )


MEMORY_CHILD = textwrap.dedent(
    """
    import sys

    import anyio
    import numpy as np

    from aioh5saver import AsyncH5Saver


    def rss_mib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024


    async def main():
        async with AsyncH5Saver.open(sys.argv[1], max_pending_bytes=16 << 20) as saver:
            arrays = [
                await saver.add_array(
                    saver.raw_group, f"a{index}", "data_enlargeable", data_shape=(8192,),
                    array_type="float64", enlargeable=True, data_dimension="Data1D",
                )
                for index in range(int(sys.argv[3]))
            ]
            await saver.flush()
            before = rss_mib()
            for _ in range(2):
                for array in arrays:
                    await saver.append(array, np.ones(8192))
                await saver.flush()
            print(rss_mib() - before)


    anyio.run(main, backend=sys.argv[2])
    """
)


@pytest.mark.timeout(120)
async def test_memory_held_by_open_arrays_stays_flat_as_arrays_are_added(
    tmp_path: Path, anyio_backend: str
) -> None:
    """Resident memory after appending to 300 arrays of 1 MiB chunks grows by less than
    MAX_OPEN_CHUNK_BYTES plus 128 MiB for the queue, the copy segments and HDF5 (it grew by
    about 1.1 MiB per array, 334 MiB here, before the bound; 100-130 MiB with it), measured in a
    child process of its own."""
    script = tmp_path / "memory_child.py"
    script.write_text(MEMORY_CHILD)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, str(script), str(tmp_path / "many.h5"), anyio_backend, "300"]
    with anyio.fail_after(100):
        result = await anyio.run_process(command, check=False, env=env)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    growth_mib = float(result.stdout.decode())
    assert growth_mib < MAX_OPEN_CHUNK_BYTES / 2**20 + 128, growth_mib
