"""Writing never opens a file other than the one given either: the async writer's appends and
the fold of staged log lines, met in a hostile file that a saver continues, refuse arrays whose
data are stored in another file (external raw storage) instead of writing or reading there."""

from __future__ import annotations

from pathlib import Path

import anyio
import h5py
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver.format.staging import STAGING_DTYPE, STAGING_SUFFIX

SECRET = b"secret bytes of another file " * 40


def _continued_file(path: Path, other: Path) -> None:
    """A saver's file holding ``/RawData/Outside``, an enlargeable float64 array whose rows are
    stored in ``other``, and ``/RawData/Inside``, an ordinary one."""
    saver = h5s.H5SaverLowLevel.from_file(path, new_file=True)
    saver.add_array(
        saver.raw_group,
        "inside",
        "data_enlargeable",
        data_shape=(1,),
        array_type=np.float64,
        enlargeable=True,
        data_dimension="Data0D",
    )
    saver.close_file()
    with h5py.File(path, "a") as file:
        outside = file["/RawData"].create_dataset(
            "Outside",
            shape=(0, 1),
            maxshape=(None, 1),
            dtype="f8",
            external=[(str(other), 0, h5py.h5f.UNLIMITED)],
        )
        outside.attrs["CLASS"] = "EARRAY"


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_async_appends_to_an_array_stored_in_another_file_fail_alone(
    tmp_path: Path,
) -> None:
    """Appends accepted for an array whose rows live in another file fail with
    ExternalDataError (at flush, like every accepted append the writer refuses), the other file
    keeps its bytes, and the saver goes on: rows for the file's own array and log lines land."""
    path, other = tmp_path / "run.h5", tmp_path / "other.bin"
    other.write_bytes(SECRET)
    _continued_file(path, other)
    with anyio.fail_after(50):
        async with h5s.AsyncH5Saver.open(path, new_file=False) as saver:
            await saver.append("/RawData/Outside", np.array([1.0, 2.0]))
            await saver.append("/RawData/Inside", np.array([3.0, 4.0]))
            with pytest.raises(h5s.ExternalDataError, match=r"other\.bin"):
                await saver.flush()
            await saver.append("/RawData/Inside", 5.0)
            await saver.add_log("still writing")
            await saver.flush()
    assert other.read_bytes() == SECRET
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(file["/RawData/Inside"][()].ravel(), [3.0, 4.0, 5.0])
        assert file["/RawData/Outside"].shape == (0, 1)


def _killed_swmr_file_with_outside_staging(path: Path, other: Path) -> None:
    """A file as a SWMR writer killed mid-run leaves it (``swmr_active`` set), except that its
    Logger's staging array keeps its rows in ``other``."""
    h5s.H5SaverLowLevel.from_file(path, new_file=True).close_file()
    staged = np.zeros(3, STAGING_DTYPE)
    staged["size"], staged["text"] = 6, b"secret"
    other.write_bytes(staged.tobytes())
    with h5py.File(path, "a") as file:
        file.attrs["swmr_active"] = True
        file["/RawData"].create_dataset(
            "Logger" + STAGING_SUFFIX,
            shape=(3,),
            maxshape=(None,),
            dtype=STAGING_DTYPE,
            external=[(str(other), 0, h5py.h5f.UNLIMITED)],
        )


def test_continuing_a_file_whose_staged_lines_are_stored_elsewhere_is_refused(
    tmp_path: Path,
) -> None:
    """Continuing a killed SWMR writer's file folds its staged log lines; a staging array whose
    rows are stored in another file is refused with ExternalDataError naming that file, and
    nothing of it reaches the Logger."""
    path, other = tmp_path / "run.h5", tmp_path / "other.bin"
    _killed_swmr_file_with_outside_staging(path, other)
    before = other.read_bytes()
    with pytest.raises(h5s.ExternalDataError, match=r"other\.bin"):
        h5s.H5SaverLowLevel.from_file(path, new_file=False)
    assert other.read_bytes() == before
    with h5py.File(path, "r") as file:
        assert file["/RawData/Logger"].shape == (0,)


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_an_async_saver_continuing_that_file_is_refused_too(tmp_path: Path) -> None:
    """The async saver continuing the same file raises the same ExternalDataError at entry."""
    path, other = tmp_path / "run.h5", tmp_path / "other.bin"
    _killed_swmr_file_with_outside_staging(path, other)
    with anyio.fail_after(50), pytest.raises(h5s.ExternalDataError, match=r"other\.bin"):
        async with h5s.AsyncH5Saver.open(path, new_file=False):
            pytest.fail("the saver opened")
    with h5py.File(path, "r") as file:
        assert file["/RawData/Logger"].shape == (0,)
