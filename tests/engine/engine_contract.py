"""What every storage engine must do, as a class of tests any engine's test module runs (zarr's
``testing/store.py`` StoreTests): subclass :class:`EngineContract` as ``Test<Engine>`` and give
it an ``engine`` fixture. Tests of a feature an engine's capabilities do not claim are skipped."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

import aioh5saver
from aioh5saver.engine.base import EngineCapabilities, StorageEngine
from aioh5saver.engine.journal import journal_path
from aioh5saver.errors import (
    CorruptFileError,
    FileChangedError,
    FileInUseError,
    InvalidArgumentError,
    UnfinishedWriteError,
)
from aioh5saver.format.attrs import encode_attr


def _require(engine: StorageEngine, capability: str) -> None:
    if not getattr(engine.capabilities, capability):
        pytest.skip(f"the {engine.name} engine has no {capability}")


def _require_local(path: Path | str, why: str) -> Path:
    """``path`` if it names a local file; else the test is skipped: ``why`` it needs one."""
    if not isinstance(path, Path):
        pytest.skip(f"{path} is no local file: {why}")
    return path


def _sibling(path: Path | str, name: str) -> Path | str:
    """Another file (or domain) in ``path``'s folder."""
    return path.with_name(name) if isinstance(path, Path) else f"{path.rpartition('/')[0]}/{name}"


class EngineContract:
    """The behaviour the synchronous saver relies on from an engine."""

    @pytest.fixture
    def engine(self) -> StorageEngine:
        """The engine under test (subclasses override this)."""
        raise NotImplementedError

    @pytest.fixture
    def path(self, tmp_path: Path) -> Path | str:
        """Where the test's file goes (a local path; another engine's location)."""
        return tmp_path / "engine.h5"

    def _new_file(self, engine: StorageEngine, path: Path | str, rows: int = 4) -> None:
        """A closed file at ``path`` holding ``/data`` = ``arange(rows)``, resizable."""
        file = engine.open(path, "w", swmr=engine.capabilities.swmr)
        file.create_dataset("data", data=np.arange(rows), maxshape=(None,), chunks=(8,))
        engine.close(file)

    def test_is_a_storage_engine_with_frozen_capabilities(self, engine: StorageEngine) -> None:
        """The engine has every method of the interface, and its capability flags cannot be
        changed by whoever reads them."""
        assert isinstance(engine, StorageEngine)
        assert isinstance(engine.capabilities, EngineCapabilities)
        with pytest.raises(dataclasses.FrozenInstanceError):
            engine.capabilities.swmr = not engine.capabilities.swmr  # type: ignore[misc]

    def test_a_created_file_reopens_with_what_was_written(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """What is written to a new file, once it is closed, is read back from it."""
        self._new_file(engine, path)
        file = engine.open(path, "r", swmr=False)
        try:
            assert file["data"][()].tolist() == [0, 1, 2, 3]
        finally:
            engine.close(file)

    def test_a_flushed_change_is_seen_by_a_new_reader(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """Rows appended and flushed are read by a handle opened afterwards, while the writer
        still has the file open."""
        self._new_file(engine, path)
        file = engine.open(path, "a", swmr=False, locking=False)
        try:
            file["data"].resize((6,))
            file["data"][4:] = [4, 5]
            engine.flush(file)
            reader = engine.open(path, "r", swmr=False, locking=False)
            try:
                assert reader["data"][()].tolist() == [0, 1, 2, 3, 4, 5]
            finally:
                engine.close(reader)
        finally:
            engine.close(file)

    def test_refuses_a_mode_it_does_not_know(self, engine: StorageEngine, path: Path | str) -> None:
        """An unknown mode raises InvalidArgumentError, and no file is created."""
        with pytest.raises(InvalidArgumentError, match="mode"):
            engine.open(path, "rw", swmr=False)
        assert not engine.file_exists(path)

    def test_a_file_that_is_not_hdf5_is_corrupt(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """Opening something that is not an HDF5 file raises CorruptFileError."""
        path = _require_local(path, "a domain has no bytes of its own to damage")
        path.write_bytes(b"not an HDF5 file at all" * 100)
        with pytest.raises(CorruptFileError):
            engine.open(path, "r", swmr=False)

    def test_a_missing_file_cannot_be_read(self, engine: StorageEngine, path: Path | str) -> None:
        """Opening a file that does not exist, to read it, raises FileNotFoundError."""
        with pytest.raises(FileNotFoundError):
            engine.open(path, "r", swmr=False)

    def test_refuses_a_second_writer_until_the_first_closes(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """While a file is open for writing, opening it to write again raises FileInUseError;
        once it is closed, it opens again."""
        _require(engine, "file_lock")
        self._new_file(engine, path)
        first = engine.open(path, "a", swmr=False)
        with pytest.raises(FileInUseError):
            engine.open(path, "a", swmr=False, locking=False)
        engine.close(first)
        engine.close(engine.open(path, "a", swmr=False))

    def test_swmr_starts_and_a_reader_sees_flushed_rows(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """On a file created for SWMR, SWMR starts (the root's ``swmr_active`` flag set), and
        a reader opened meanwhile sees the rows appended and flushed since."""
        _require(engine, "swmr")
        self._new_file(engine, path)
        file = engine.open(path, "a", swmr=True, locking=False)
        try:
            engine.start_swmr(file)
            assert file.swmr_mode
            assert bool(file.attrs["swmr_active"])
            reader = engine.open(path, "r", swmr=True, locking=False)
            try:
                file["data"].resize((6,))
                file["data"][4:] = [4, 5]
                engine.flush(file)
                reader["data"].refresh()
                assert reader["data"][()].tolist() == [0, 1, 2, 3, 4, 5]
            finally:
                engine.close(reader)
        finally:
            engine.close(file)

    def test_whole_chunks_are_written_directly(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """With ``direct_chunk_write``, a chunk written as it is in memory reads back."""
        _require(engine, "direct_chunk_write")
        file = engine.open(path, "w", swmr=False)
        try:
            dataset = file.create_dataset(
                "rows", shape=(8,), dtype="int64", maxshape=(None,), chunks=(4,)
            )
            chunk = np.arange(4, dtype=dataset.dtype)
            dataset.id.write_direct_chunk((4,), chunk.tobytes())
            assert dataset[4:].tolist() == chunk.tolist()
        finally:
            engine.close(file)

    def test_the_identity_names_the_same_file_only(
        self, engine: StorageEngine, path: Path | str, tmp_path: Path
    ) -> None:
        """A file has the same identity each time it is opened, another file another one; the
        path check passes for the file's path and fails once it is renamed."""
        self._new_file(engine, path)
        other = _sibling(path, "other.h5")
        self._new_file(engine, other)
        file = engine.open(path, "a", swmr=False)
        identity = engine.identity(file)
        engine.check_path_names(path, identity, "check")
        engine.close(file)
        again = engine.open(path, "r", swmr=False)
        second = engine.open(other, "r", swmr=False)
        try:
            assert engine.identity(again) == identity
            assert engine.identity(second) != identity
        finally:
            engine.close(again)
            engine.close(second)
        path = _require_local(path, "a domain is reached by its location only")
        path.rename(tmp_path / "renamed.h5")
        with pytest.raises(FileChangedError, match="renamed"):
            engine.check_path_names(path, identity, "check")

    def test_a_held_file_is_reached_where_it_moved_only_when_allowed(
        self, engine: StorageEngine, path: Path | str, tmp_path: Path
    ) -> None:
        """While its path names it, a held file is reached by that path; once it is moved,
        holding it raises FileChangedError, unless a move is allowed: it is then reached where
        it is now, also after it was closed."""
        path = _require_local(path, "a domain is reached by its location only")
        self._new_file(engine, path)
        file = engine.open(path, "a", swmr=False)
        with engine.held(file, path, moved_ok=False) as target:
            assert target == path
        path.rename(tmp_path / "moved.h5")
        with pytest.raises(FileChangedError), engine.held(file, path, moved_ok=False):
            pass
        with engine.held(file, path, moved_ok=True) as target:
            engine.close(file)
            # The descriptor held shares the file's lock: opened without it, as a reopen is.
            reopened = engine.open(target, "r", swmr=False, locking=False)
            assert reopened["data"][()].tolist() == [0, 1, 2, 3]
            engine.close(reopened)

    def test_a_truncated_file_is_noticed(self, engine: StorageEngine, path: Path | str) -> None:
        """With ``file_size``: the descriptor holds every byte flushed, and a file cut short by
        another program fails the intact check."""
        _require(engine, "file_size")
        self._new_file(engine, path)
        file = engine.open(path, "a", swmr=False)
        try:
            engine.flush(file)
            handle = engine.descriptor(file)
            written = os.fstat(handle).st_size
            assert written == path.stat().st_size > 0
            engine.check_file_intact(handle, path, written, "check")
            os.truncate(path, written // 2)
            with pytest.raises(FileChangedError, match="truncated"):
                engine.check_file_intact(handle, path, written, "check")
        finally:
            engine.let_go(file)

    def test_let_go_leaves_the_file_as_a_killed_writers(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """With a journal: a file let go of is refused until recovered, and recovering it
        (``recover``: the journal rolled back, the flags cleared) gives the file as its last
        flush left it, without what was written after."""
        _require(engine, "journal")
        self._new_file(engine, path)
        file = engine.open(path, "a", swmr=True, journaled=True, locking=False)
        file["data"].resize((5,))
        file["data"][4] = 4
        engine.flush(file)
        file["data"].resize((7,))
        file["data"][5:] = [5, 6]
        file.create_group("after_the_flush")
        engine.let_go(file)
        assert journal_path(path).exists()
        with pytest.raises(UnfinishedWriteError):
            engine.open(path, "a", swmr=True)
        assert aioh5saver.recover(path).rolled_back is not None
        reopened = engine.open(path, "r", swmr=False)
        try:
            assert reopened["data"][()].tolist() == [0, 1, 2, 3, 4]
            assert "after_the_flush" not in reopened
        finally:
            engine.close(reopened)

    def test_a_file_let_go_of_stays_its_failed_writers(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """Without a journal, a file let go of stays its failed writer's: another writer of
        this process is refused."""
        _require(engine, "file_lock")
        self._new_file(engine, path)
        file = engine.open(path, "a", swmr=False)
        file.create_dataset("unflushed", data=np.zeros(1000))
        engine.let_go(file)
        with pytest.raises(FileInUseError):
            engine.open(path, "a", swmr=False, locking=False)

    def test_a_forgotten_file_is_closed_and_free(
        self, engine: StorageEngine, path: Path | str
    ) -> None:
        """A file forgotten right after it was opened is closed, and opens for writing again."""
        self._new_file(engine, path)
        engine.forget(engine.open(path, "a", swmr=False))
        engine.close(engine.open(path, "a", swmr=False))

    def test_tells_a_file_created_for_swmr(
        self, engine: StorageEngine, path: Path | str, tmp_path: Path
    ) -> None:
        """A file whose root says ``swmr_compatible`` is SWMR-compatible; a file without it,
        and a path that is no HDF5 file, are not."""
        _require(engine, "swmr")
        self._new_file(engine, path)
        assert not engine.is_swmr_compatible(path)
        file = engine.open(path, "a", swmr=False)
        file.attrs["swmr_compatible"] = encode_attr(True)
        engine.close(file)
        assert engine.is_swmr_compatible(path)
        assert not engine.is_swmr_compatible(_sibling(path, "missing.h5"))
