"""recover(): the superblock of a file left by a killed writer is patched by hand (flags cleared,
an end of file past the real size lowered, checksum recomputed with lookup3), nothing else
changes, and files that are not HDF5, missing, damaged or still written are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import h5py
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver.engine.superblock import Superblock, read_superblock
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE, lookup3

# Published with lookup3.c (Bob Jenkins, 2006), in its self-test driver5().
LOOKUP3_VECTORS = [
    (b"", 0, 0xDEADBEEF),
    (b"", 0xDEADBEEF, 0xBD5B7DDE),
    (b"Four score and seven years ago", 0, 0x17770551),
    (b"Four score and seven years ago", 1, 0xCD628161),
]


@pytest.mark.parametrize(("data", "initval", "expected"), LOOKUP3_VECTORS)
def test_lookup3_gives_the_published_hashes(data: bytes, initval: int, expected: int) -> None:
    """lookup3 gives the hashes lookup3.c's own test driver prints."""
    assert lookup3(data, initval) == expected


@pytest.mark.parametrize(
    ("libver", "userblock", "version"),
    [
        ("latest", 0, 3),
        (("v110", "v110"), 0, 3),
        (("earliest", "v110"), 0, 0),
        (("v108", "v108"), 0, 2),
        ("latest", 512, 3),
        ("latest", 4096, 3),
        ("earliest", 0, 0),
        ("earliest", 1024, 0),
    ],
)
def test_lookup3_matches_superblock_checksums_hdf5_wrote(
    h5_path: Path, libver: object, userblock: int, version: int
) -> None:
    """The superblock of files HDF5 wrote (versions 0, 2 and 3, after a user block or not) is
    found and parsed; for versions 2 and 3 its stored checksum equals lookup3 of its bytes."""
    with h5py.File(h5_path, "w", libver=libver, userblock_size=userblock) as file:
        file.create_dataset("x", data=np.arange(1000.0))
        file.attrs["note"] = "checksummed"
    superblock = read_superblock(h5_path)
    flags = None if version == 0 else 0
    assert (superblock.offset, superblock.version, superblock.flags) == (userblock, version, flags)
    assert superblock.base == userblock
    assert superblock.recorded_end == h5_path.stat().st_size
    if version == 0:
        assert superblock.checksum_ok is None
        return
    assert superblock.checksum_ok is True
    stored = int.from_bytes(superblock.raw[-4:], "little")
    assert stored == lookup3(superblock.raw[:-4])
    assert superblock.recorded_end == h5_path.stat().st_size


WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    from aioh5saver import AsyncH5Saver

    async def main(path, rows):
        saver = AsyncH5Saver.open(path, swmr=True)
        await saver.__aenter__()
        await saver.add_log("before SWMR")
        scan = await saver.add_scan_group(saver.raw_group, title="killed run")
        det = await saver.add_det_group(scan, title="det")
        array = await saver.add_array(
            det, "data", "data_enlargeable", data_shape=(4,), array_type=np.float64,
            enlargeable=True, data_dimension="Data1D",
        )
        for index in range(rows):
            await saver.append(array, np.full(4, float(index)))
        await saver.start_swmr()  # at once: SWMR would resume by itself a moment later
        await saver.add_log("staged under SWMR 1")
        await saver.add_log("staged under SWMR 2")
        await saver.flush()
        print(array.path, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def _masked(superblock: Superblock) -> bytes:
    """The superblock's bytes without its flags, end of file and checksum."""
    raw = bytearray(superblock.raw)
    raw[11] = 0
    raw[superblock.eof_field : superblock.eof_field + superblock.offset_size] = bytes(
        superblock.offset_size
    )
    return bytes(raw[:-4])


def _killed_writer_file(tmp_path: Path, path: Path, rows: int) -> str:
    """Run a SWMR writer in a child process until it has flushed ``rows`` rows, then SIGKILL
    it; return the path of its array."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(path), str(rows)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None
    array_path = writer.stdout.readline().decode().strip()
    try:
        assert array_path.startswith("/RawData/"), writer.communicate(timeout=30)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    return array_path


@pytest.mark.timeout(60)
def test_recover_makes_a_killed_swmr_writers_file_writable_and_keeps_its_rows(
    tmp_path: Path, h5_path: Path
) -> None:
    """A SWMR writer killed after a flush leaves flags HDF5 refuses to open for writing; after
    recover() the file opens for appending, the flushed rows are there, and AsyncH5Saver
    continues appending to the same array."""
    rows = 37
    array_path = _killed_writer_file(tmp_path, h5_path, rows)
    before = read_superblock(h5_path)
    assert before.flags is not None
    assert before.flags & FLAG_WRITE
    assert before.flags & FLAG_SWMR_WRITE
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(h5_path, "a").close()

    report = h5s.recover(h5_path)

    assert report.flags_cleared
    assert report.flags_before == before.flags
    # The line logged before SWMR is in the Logger; the two logged under SWMR are staged.
    assert report.arrays == {array_path: rows, "/RawData/Logger": 1}
    assert report.log_lines == 3
    assert report.staged_strings == 2
    after = read_superblock(h5_path)
    assert after.flags == 0
    assert after.checksum_ok is True
    assert _masked(after) == _masked(before)  # only the flags (and maybe the EOF) changed
    with h5py.File(h5_path, "a") as file:
        np.testing.assert_array_equal(file[array_path][:, 0], np.arange(rows, dtype=np.float64))

    async def append_more() -> None:
        async with h5s.AsyncH5Saver.open(h5_path, new_file=False) as saver:
            await saver.append(array_path, np.full((5, 4), -1.0))

    anyio.run(append_more)
    with h5py.File(h5_path, "r") as file:
        data = file[array_path][()]
        staging_left = [name for name in file["RawData"] if name.endswith("__swmr_staging")]
    assert data.shape == (rows + 5, 4)
    assert (data[rows:] == -1.0).all()
    np.testing.assert_array_equal(data[:rows, 0], np.arange(rows, dtype=np.float64))
    # Continuing folded the staged log lines in and brought the shape attributes up to date,
    # so that PyMoDAQ reads what the killed writer logged.
    assert staging_left == []
    saver = h5s.H5SaverLowLevel.from_file(h5_path, mode="r")
    try:
        assert saver.get_node("/RawData/Logger").read() == [
            "before SWMR",
            "staged under SWMR 1",
            "staged under SWMR 2",
        ]
        assert saver.get_node(array_path).attrs["shape"] == (rows + 5, 4)
    finally:
        saver.close_file()


def _set_eof(path: Path, eof: int) -> None:
    superblock = read_superblock(path)
    with path.open("r+b") as handle:
        handle.seek(superblock.offset)
        handle.write(superblock.patched(eof=eof))


@pytest.mark.parametrize("userblock", [0, 512])
@pytest.mark.parametrize("libver", ["latest", "earliest"])
def test_recover_lowers_an_end_of_file_past_the_real_size(
    h5_path: Path, libver: str, userblock: int
) -> None:
    """A superblock whose end of file lies past the file's real size (a failed write on a full
    disk) makes HDF5 refuse the file; recover() sets it to the real size and says so."""
    with h5py.File(h5_path, "w", libver=libver, userblock_size=userblock) as file:
        file.create_dataset("data", data=np.arange(100.0))
    size = h5_path.stat().st_size
    _set_eof(h5_path, size + 8192)
    with pytest.raises(OSError, match="truncated file"):
        h5py.File(h5_path, "r").close()

    report = h5s.recover(h5_path)

    assert report.eof_repaired == (size + 8192, size)
    assert not report.flags_cleared
    superblock = read_superblock(h5_path)
    assert superblock.recorded_end == size
    assert superblock.checksum_ok in (True, None)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file["data"][()], np.arange(100.0))
    assert "lowered from" in h5s.render_recovery(report)


@pytest.mark.parametrize("libver", ["latest", "earliest"])
def test_recover_changes_nothing_in_a_sound_file(h5_path: Path, libver: str) -> None:
    """A file closed properly is left byte for byte as it was, with nothing to do reported."""
    saver = h5s.H5SaverLowLevel.from_file(h5_path, new_file=True, swmr_mode=libver == "latest")
    earray = saver.add_array(
        saver.raw_group,
        "frames",
        "data",
        enlargeable=True,
        data_shape=(2,),
        array_type=np.float64,
        data_dimension="Data1D",
    )
    earray.append(np.ones((6, 2)))
    saver.add_log("one line")
    saver.close_file()
    before, mtime = h5_path.read_bytes(), h5_path.stat().st_mtime_ns

    report = h5s.recover(h5_path)

    assert h5_path.read_bytes() == before
    assert h5_path.stat().st_mtime_ns == mtime
    assert not report.changed
    assert report.arrays == {"/RawData/Frames": 6, "/RawData/Logger": 1}
    assert report.log_lines == 1
    assert "Nothing to do" in h5s.render_recovery(report)


def test_recover_refuses_a_missing_file(tmp_path: Path) -> None:
    """A missing file raises MissingFileError naming it."""
    with pytest.raises(h5s.MissingFileError, match=r"nothere\.h5"):
        h5s.recover(tmp_path / "nothere.h5")


@pytest.mark.parametrize(
    "content", [b"", b"not an HDF5 file at all" * 100, np.random.default_rng(1).bytes(5000)]
)
def test_recover_refuses_a_file_that_is_not_hdf5(h5_path: Path, content: bytes) -> None:
    """A file without the HDF5 signature raises CorruptFileError and is not touched."""
    h5_path.write_bytes(content)
    with pytest.raises(h5s.CorruptFileError, match=r"test\.h5.*not an HDF5 file"):
        h5s.recover(h5_path)
    assert h5_path.read_bytes() == content


def test_recover_refuses_a_superblock_whose_checksum_is_wrong(h5_path: Path) -> None:
    """A version 3 superblock whose checksum does not match is damaged: refused, unchanged."""
    with h5py.File(h5_path, "w", libver="latest") as file:
        file.create_group("g")
    data = bytearray(h5_path.read_bytes())
    data[11] = FLAG_WRITE  # a flag set without updating the checksum
    h5_path.write_bytes(bytes(data))
    with pytest.raises(h5s.CorruptFileError, match="checksum"):
        h5s.recover(h5_path)
    assert h5_path.read_bytes() == bytes(data)


@pytest.mark.parametrize("swmr", [False, True])
def test_recover_refuses_a_file_a_live_process_writes(h5_path: Path, swmr: bool) -> None:
    """A file open for writing (without SWMR: HDF5's lock is held; with SWMR: the lock is
    released, /proc shows the writer) raises FileInUseError and is not touched."""
    file = h5py.File(h5_path, "w", libver="latest")
    try:
        file.create_dataset("x", shape=(0,), maxshape=(None,), dtype="f8")
        if swmr:
            file.swmr_mode = True
        file.flush()
        before = h5_path.read_bytes()
        with pytest.raises(h5s.FileInUseError, match=r"test\.h5") as caught:
            h5s.recover(h5_path)
        assert isinstance(caught.value, OSError)
        assert h5_path.read_bytes() == before
    finally:
        file.close()


def test_render_recovery_says_what_was_done(h5_path: Path) -> None:
    """The rendering names the file, the flags cleared and the arrays with their rows."""
    report = h5s.RecoveryReport(
        path=str(h5_path),
        flags_cleared=True,
        eof_repaired=None,
        arrays={"/RawData/Data": 12},
        log_lines=4,
        superblock_version=3,
        staged_strings=1,
    )
    text = h5s.render_recovery(report)
    assert str(h5_path) in text
    assert "flags were cleared" in text
    assert "/RawData/Data  12 rows" in text
    assert "4 log lines, 1 of them" in text


def test_the_sync_saver_continuing_a_killed_swmr_writers_file_folds_its_staged_lines_first(
    h5_path: Path,
) -> None:
    """A file left as a SWMR writer leaves it when killed (``swmr_active`` set, log lines in
    the Logger's staging array, a stale ``shape`` attribute) is brought up to date when the
    synchronous saver opens it to continue: the staged lines come before the new one, the
    staging array is gone and the shapes are true."""
    from aioh5saver.format.staging import STAGING_SUFFIX
    from aioh5saver.sync.staging import append_staged, create_staging

    saver = h5s.H5SaverLowLevel()
    saver.init_file(h5_path, new_file=True, swmr_mode=True)
    saver.add_log("before the crash")
    array = saver.add_array(
        saver.raw_group,
        "data",
        "data_enlargeable",
        data_shape=(2,),
        array_type=np.int64,
        enlargeable=True,
        data_dimension="Data1D",
    )
    array_path = array.path
    staging = create_staging(saver.get_set_logger())
    append_staged(staging, ["staged one", "staged two"])
    array.node.resize((3, 2))  # rows written under SWMR: the shape attribute still says 0
    saver.h5file.attrs["swmr_active"] = True
    saver.close_file()

    saver = h5s.H5SaverLowLevel.from_file(h5_path, new_file=False, swmr_mode=True)
    try:
        saver.add_log("after the crash")
        lines = saver.get_set_logger().read()
        shape = saver.get_attr(array_path, "shape")
    finally:
        saver.close_file()
    assert lines == ["before the crash", "staged one", "staged two", "after the crash"]
    assert shape == (3, 2)
    with h5py.File(h5_path, "r") as file:
        assert not any(name.endswith(STAGING_SUFFIX) for name in file["RawData"])
        assert not file.attrs["swmr_active"]
