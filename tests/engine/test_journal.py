"""The rollback journal: what it saves, what roll_back puts back, and what it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

import aioh5saver
from aioh5saver.engine.journal import (
    PAGE_BYTES,
    journal_path,
    roll_back,
)
from helpers import ORIGINAL, journal_started


def test_roll_back_puts_back_every_overwritten_byte_and_cuts_what_was_appended(
    tmp_path: Path,
) -> None:
    """Writes over the file, across page ends, past its end and a shortening truncate are all
    undone: the file is byte for byte as at the checkpoint, and the journal is gone."""
    path = tmp_path / "f.h5"
    journaled = journal_started(path, ORIGINAL)
    journaled.seek(PAGE_BYTES - 10)
    journaled.write(b"x" * 30)  # across the first page end
    journaled.seek(len(ORIGINAL) + 100)
    journaled.write(b"y" * 5000)  # past the end
    journaled.seek(5)
    journaled.write(b"z")  # a page saved already
    journaled.truncate(PAGE_BYTES * 2 + 7)
    journaled.close()  # as a kill leaves it: the journal stays

    rollback = roll_back(path)

    assert path.read_bytes() == ORIGINAL
    assert rollback is not None
    assert rollback.size == len(ORIGINAL)
    assert rollback.pages == 3  # pages 0 and 1 written over, page 2 cut by the truncate
    assert not journal_path(path).exists()


def test_a_checkpoint_makes_the_file_as_it_is_then_the_one_rolled_back_to(tmp_path: Path) -> None:
    """Writes made before a checkpoint (a completed flush) stay; later ones are undone."""
    path = tmp_path / "f.h5"
    journaled = journal_started(path, ORIGINAL)
    journaled.seek(0)
    journaled.write(b"kept")
    journaled.checkpoint()
    journaled.seek(0)
    journaled.write(b"gone")
    journaled.close()

    roll_back(path)

    assert path.read_bytes() == b"kept" + ORIGINAL[4:]


def test_a_record_cut_short_by_a_kill_is_ignored(tmp_path: Path) -> None:
    """A last record whose bytes are incomplete protected a write that never happened: the
    records before it are applied, it is not."""
    path = tmp_path / "f.h5"
    journaled = journal_started(path, ORIGINAL)
    journaled.seek(0)
    journaled.write(b"first")
    journaled.seek(PAGE_BYTES)
    journaled.write(b"second")
    journaled.close()
    journal = journal_path(path)
    content = journal.read_bytes()
    end = content.rstrip(b"\0")
    journal.write_bytes(end[:-100])  # the second record cut short
    os.pwrite(os.open(path, os.O_RDWR), ORIGINAL[PAGE_BYTES : PAGE_BYTES + 6], PAGE_BYTES)

    roll_back(path)

    assert path.read_bytes() == ORIGINAL


def test_records_left_from_before_a_checkpoint_are_never_put_back(tmp_path: Path) -> None:
    """A kill that cuts the first record after a checkpoint at a page boundary of the journal
    (SIGKILL stops a write between pages) leaves the zeros that end the journal unwritten; when
    that record repeats the one the previous checkpoint left at the same place (a page written
    again with the same bytes, as HDF5 rewrites a part-filled chunk), the older records after it
    are whole. They must still not be put back: the file is rolled back to its last
    checkpoint, not to a mix with the one before (seen as rows lost from a completed flush,
    and as "bad heap index")."""
    path = tmp_path / "f.h5"
    journaled = journal_started(path, ORIGINAL)
    same_bytes = ORIGINAL[:PAGE_BYTES]
    journaled.seek(0)
    journaled.write(same_bytes)  # record 1 of the first checkpoint: page 0
    journaled.seek(PAGE_BYTES)
    journaled.write(b"B" * PAGE_BYTES)  # record 2: page 1's original bytes
    journaled.checkpoint()  # flushed: page 1 holds the Bs now
    flushed = path.read_bytes()
    journal = journal_path(path)
    before = journal.read_bytes()
    journaled.seek(0)
    journaled.write(same_bytes)  # record 1 again, the same bytes at the same place
    journaled.close()
    after = journal.read_bytes()
    # Killed in that record's write, once its first page of the journal was copied: the rest of
    # the journal is as the first checkpoint left it.
    journal.write_bytes(after[:PAGE_BYTES] + before[PAGE_BYTES:])

    roll_back(path)

    assert path.read_bytes() == flushed


def test_a_journal_without_a_header_was_never_used_and_is_deleted(tmp_path: Path) -> None:
    """Killed while the journal was being created: the file is left as it is."""
    path = tmp_path / "f.h5"
    path.write_bytes(ORIGINAL)
    journal_path(path).write_bytes(bytes(1000))

    assert roll_back(path) is None
    assert path.read_bytes() == ORIGINAL
    assert not journal_path(path).exists()


def test_creating_a_file_deletes_a_journal_left_by_the_one_it_replaces(tmp_path: Path) -> None:
    """A new file never inherits the journal of an old one at the same path (recover would
    otherwise write the old file's pages into it)."""
    path = tmp_path / "f.h5"
    journal_path(path).write_bytes(b"stale journal")
    saver = aioh5saver.H5SaverLowLevel()
    saver.init_file(path, new_file=True)
    saver.close_file()
    assert not journal_path(path).exists()
    assert aioh5saver.recover(path).rolled_back is None


async def test_a_swmr_writer_leaves_no_journal_and_a_closed_superblock(
    tmp_path: Path, anyio_backend: str
) -> None:
    """After a SWMR run with a pause (a late detector), the file is closed whole: no journal
    beside it, a superblock with no "open for writing" flag, every row there."""
    path = tmp_path / "run.h5"
    async with aioh5saver.AsyncH5Saver.open(path, swmr=True) as saver:
        array = await saver.add_array(
            saver.raw_group, "rows", "data_enlargeable", data_shape=(2,),
            array_type="float64", enlargeable=True, data_dimension="Data1D",
        )  # fmt: skip
        await saver.append(array, np.zeros((3, 2)))
        await saver.add_det_group(saver.raw_group, title="late")
        await saver.append(array, np.ones((2, 2)))
        await saver.add_log("done")
    assert not journal_path(path).exists()
    assert aioh5saver.recover(path).changed is False
    with h5py.File(path, "r") as file:
        assert file["RawData/Rows"].shape == (5, 2)
