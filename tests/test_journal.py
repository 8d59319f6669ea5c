"""The rollback journal: what it saves, what roll_back puts back, and what it refuses."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

import aioh5saver
from aioh5saver import CorruptJournalError, UnfinishedWriteError
from aioh5saver.journal import (
    _HEADER,
    _RECORD,
    PAGE_BYTES,
    JournaledFile,
    journal_path,
    roll_back,
)

ORIGINAL = bytes(range(256)) * 40  # 10,240 bytes: two whole pages and a part


def _journaled(path: Path) -> JournaledFile:
    path.write_bytes(ORIGINAL)
    journaled = JournaledFile(path, os.open(path, os.O_RDWR))
    journaled.start_journal()
    return journaled


def test_roll_back_puts_back_every_overwritten_byte_and_cuts_what_was_appended(
    tmp_path: Path,
) -> None:
    """Writes over the file, across page ends, past its end and a shortening truncate are all
    undone: the file is byte for byte as at the checkpoint, and the journal is gone."""
    path = tmp_path / "f.h5"
    journaled = _journaled(path)
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
    journaled = _journaled(path)
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
    journaled = _journaled(path)
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


def test_a_journal_without_a_header_was_never_used_and_is_deleted(tmp_path: Path) -> None:
    """Killed while the journal was being created: the file is left as it is."""
    path = tmp_path / "f.h5"
    path.write_bytes(ORIGINAL)
    journal_path(path).write_bytes(bytes(1000))

    assert roll_back(path) is None
    assert path.read_bytes() == ORIGINAL
    assert not journal_path(path).exists()


@pytest.mark.parametrize(
    "damage",
    ["magic", "header_crc", "record_past_the_end"],
)
def test_a_journal_aioh5saver_did_not_write_is_refused_and_changes_nothing(
    tmp_path: Path, damage: str
) -> None:
    """A foreign or crafted journal (wrong magic, header checksum, a page outside the file)
    raises CorruptJournalError naming the journal; the file and the journal stay as they are."""
    path = tmp_path / "f.h5"
    journaled = _journaled(path)
    journaled.seek(0)
    journaled.write(b"changed")
    journaled.close()
    journal = journal_path(path)
    content = bytearray(journal.read_bytes())
    if damage == "magic":
        content[0:8] = b"NOTAJRNL"
    elif damage == "header_crc":
        content[10] ^= 0xFF  # the recorded size, no longer matching its checksum
    else:
        record = struct.pack("<QI", len(ORIGINAL), 4)  # a page that starts past the end
        content[_HEADER.size : _HEADER.size + _RECORD.size + 4] = (
            _RECORD.pack(len(ORIGINAL), 4, zlib.crc32(b"evil", zlib.crc32(record))) + b"evil"
        )
    journal.write_bytes(bytes(content))
    before = path.read_bytes()

    with pytest.raises(CorruptJournalError, match=str(journal)):
        roll_back(path)

    assert path.read_bytes() == before
    assert journal.read_bytes() == bytes(content)


def test_a_file_with_a_journal_is_not_opened_for_writing_until_recovered(tmp_path: Path) -> None:
    """A journal beside a file means its writer was killed mid-write: opening it for writing
    raises UnfinishedWriteError saying to run recover; recover applies the journal, after which
    the file opens."""
    path = tmp_path / "f.h5"
    saver = aioh5saver.H5SaverLowLevel()
    saver.init_file(path, new_file=True, swmr_mode=True)
    saver.close_file()
    journal = journal_path(path)
    journaled = JournaledFile(path, os.open(path, os.O_RDWR))
    journaled.start_journal()
    journaled.close()

    saver = aioh5saver.H5SaverLowLevel()
    with pytest.raises(UnfinishedWriteError, match="aioh5saver recover"):
        saver.init_file(path, new_file=False)
    assert journal.exists()

    report = aioh5saver.recover(path)
    assert report.rolled_back is not None
    assert "rolled back" in aioh5saver.render_recovery(report)
    assert not journal.exists()
    saver.init_file(path, new_file=False)
    saver.close_file()


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
