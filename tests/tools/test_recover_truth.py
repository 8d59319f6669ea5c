"""recover changes nothing unless it can finish, and --finish makes a killed SWMR writer's file
whole for PyMoDAQ: a file still unreadable once repaired is refused with every byte as it was
(it used to be changed, then refused); --dry-run says what would change and writes nothing;
the advice to copy the file comes before the first write; --finish folds the staged log
lines, fixes the stale shape attributes and clears swmr_active, so that pymodaq_data's
DataLoader and Logger read every row and line, and a failure while finishing leaves the file
as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules.data_saving import DataLoader
from pymodaq_data.h5modules.saving import H5SaverLowLevel as PymodaqSaver

import aioh5saver as h5s
from aioh5saver.engine.journal import JournaledFile, journal_path
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE
from aioh5saver.format.staging import STAGING_DTYPE
from aioh5saver.sync.staging import append_staged, create_staging
from aioh5saver.tools import finish as finishing
from aioh5saver.tools.finish import finish

COMMAND = [sys.executable, "-m", "aioh5saver"]
ENV = {**os.environ, "PYTHONWARNINGS": "error"}
WRITER = Path(__file__).with_name("paced_writer.py")
STAGING = "Logger__swmr_staging"


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120
    )


def set_flags(path: Path, flags: int) -> None:
    """Set the superblock's consistency flags (checksum recomputed), as a writer's open does."""
    superblock = read_superblock(path)
    with path.open("r+b") as handle:
        handle.seek(superblock.offset)
        handle.write(superblock.patched(flags=flags))


def killed_paced_writer(path: Path) -> None:
    """Run the paced SWMR writer until it flushed twice (rows and log lines under SWMR), then
    SIGKILL it."""
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), "300"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert writer.stdout is not None
        lines = [writer.stdout.readline() for _ in range(3)]
        assert lines[0] == "started\n", (lines, writer.poll())
        assert all(line.startswith("flushed ") for line in lines[1:]), lines
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL


def killed_demo(folder: Path) -> Path:
    """``aioh5saver demo`` killed with SIGKILL once it reported two flushes."""
    path = folder / "demo.h5"
    demo = subprocess.Popen(
        [*COMMAND, "demo", "--seconds", "60", "--out", str(path)],
        cwd=folder,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if any(f" {count} flushes" in line for count in (2, 3, 4)):
                break
        os.kill(demo.pid, signal.SIGKILL)
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.communicate(timeout=30)
    assert demo.returncode == -signal.SIGKILL
    return path


def pymodaq_view(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, object], list[str]]:
    """What pymodaq_data 5.3.0 reads: each enlargeable channel through DataLoader (checked
    against the rows stored), its ``shape`` attribute, and the Logger's lines."""
    with h5py.File(path, "r") as file:
        channels: list[str] = []
        file.visititems(
            lambda name, obj: channels.append(f"/{name}") if name.endswith("EnlData00") else None
        )
        stored = {channel: file[channel][()] for channel in channels}
    reader = PymodaqSaver(backend="h5py")
    reader.init_file(path, new_file=False, mode="r")
    try:
        loaded: dict[str, tuple[int, ...]] = {}
        for channel, rows in stored.items():
            data = np.asarray(DataLoader(reader).load_data(channel).data[0])
            np.testing.assert_array_equal(data, rows[:, 0] if rows.shape[1:] == (1,) else rows)
            loaded[channel] = rows.shape
        shapes = {channel: reader.get_node(channel).attrs["shape"] for channel in stored}
        lines = list(reader.get_set_logger().read())
    finally:
        reader.close_file()
    return loaded, shapes, lines


# -- recover changes nothing unless it can finish ------------------------------------------------


def cut_inside_the_metadata(path: Path) -> bytes:
    """A SWMR-format file whose flags name a writer, cut short inside its root group's object
    header (its recorded end of file past the cut): no repair of the superblock makes HDF5
    open it."""
    with h5py.File(path, "w", libver="latest") as file:
        group = file.create_group("RawData")
        for index in range(40):
            data = group.create_dataset(f"d{index}", data=np.arange(500.0))
            data.attrs["note"] = f"dataset {index}" * 10
    set_flags(path, FLAG_WRITE | FLAG_SWMR_WRITE)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"OHDR") + 16])
    return path.read_bytes()


def test_recover_refuses_a_file_cut_inside_its_metadata_and_changes_no_byte(
    tmp_path: Path,
) -> None:
    """A file HDF5 cannot read even with its flags cleared and its end of file lowered exits 2
    with one line saying so and that nothing was changed: every byte is as it was (recover
    used to write the superblock first, then fail); the library raises CorruptFileError the
    same way."""
    path = tmp_path / "cut.h5"
    before = cut_inside_the_metadata(path)
    assert read_superblock(path).recorded_end > len(before)

    done = run_cli("recover", path, cwd=tmp_path)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("aioh5saver recover: error: "), line
    assert "expected a file HDF5 can read once recovered" in line
    assert line.endswith("nothing was changed"), line
    assert path.read_bytes() == before
    with pytest.raises(h5s.CorruptFileError, match="nothing was changed"):
        h5s.recover(path, timeout=20)
    assert path.read_bytes() == before


def test_recover_dry_run_says_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    """--dry-run on a killed SWMR writer's file exits 0, says the flags would be cleared and
    what the file would hold, and leaves every byte (and the modification time) as it was;
    the real run then says first that the file is changed in place and a copy is advised,
    and does what the dry run said."""
    path = tmp_path / "killed.h5"
    killed_paced_writer(path)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns

    dry = run_cli("recover", "--dry-run", path, cwd=tmp_path)

    assert dry.returncode == 0, dry.stderr
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime
    assert "The superblock's 'open for writing' flags would be cleared" in dry.stdout
    assert "Dry run: nothing was written" in dry.stdout
    assert "Changing" not in dry.stdout

    real = run_cli("recover", path, cwd=tmp_path)

    assert real.returncode == 0, real.stderr
    first, *rest = real.stdout.splitlines()
    assert first.startswith(f"Changing {path} in place ("), first
    assert "a copy of the file made first is advised" in first
    assert "The superblock's 'open for writing' flags were cleared" in rest
    assert path.read_bytes() != before
    # What the dry run said the file would hold is what it holds.
    assert [line for line in dry.stdout.splitlines() if line.startswith("  /")] == [
        line for line in rest if line.startswith("  /")
    ]


def test_recover_dry_run_of_a_journal_rolls_nothing_back_and_the_real_run_does(
    tmp_path: Path,
) -> None:
    """A file with a rollback journal (writes made through it after a checkpoint, the writer
    gone): --dry-run reports the pages it would put back and leaves the file and the journal
    as they are; recover then puts the file back byte for byte and deletes the journal."""
    path = tmp_path / "journaled.h5"
    with h5py.File(path, "w", libver=("v110", "v110")) as file:
        file.create_dataset("data", data=np.arange(4096.0))
    original = path.read_bytes()
    journaled = JournaledFile(path, os.open(path, os.O_RDWR))
    journaled.start_journal()
    journaled.seek(len(original) // 2)
    journaled.write(b"\xff" * 5000)  # a write the writer never finished with a flush
    os.close(journaled.fd)  # the writer dies: no checkpoint, the journal stays
    damaged, journal = path.read_bytes(), journal_path(path).read_bytes()
    assert damaged != original

    dry = h5s.recover(path, dry_run=True)

    assert dry.dry_run
    assert dry.rolled_back is not None
    assert dry.rolled_back.pages == 2
    assert "would be rolled back" in h5s.render_recovery(dry)
    assert path.read_bytes() == damaged
    assert journal_path(path).read_bytes() == journal

    done = h5s.recover(path)

    assert not done.dry_run
    assert path.read_bytes() == original
    assert not journal_path(path).exists()


# -- --finish --------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
# pymodaq_data warns that a 0D channel's rows are not 0D data when it loads them: its own words.
@pytest.mark.filterwarnings("ignore::pymodaq_data.data.DataDimWarning")
def test_recover_finish_lets_pymodaq_read_every_row_and_line_of_a_killed_demo(
    tmp_path: Path,
) -> None:
    """After a demo killed with SIGKILL and `recover` alone, pymodaq_data reads stale shape
    attributes and misses the log lines staged under SWMR; `recover --finish` (exit 0) says
    it folded them, fixed each shape attribute and cleared swmr_active, and then DataLoader
    loads every channel as the rows stored, each shape attribute is the real shape, the
    Logger holds every line in order, and no staging array or flag is left. A second run
    has nothing to do and changes nothing."""
    path = killed_demo(tmp_path)
    recovered = run_cli("recover", path, cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "still in SWMR staging arrays" in recovered.stdout
    loaded, shapes, lines = pymodaq_view(path)
    assert any(shapes[channel] != loaded[channel] for channel in loaded), (shapes, loaded)
    with h5py.File(path, "r") as file:
        staged = int(file[f"RawData/{STAGING}"].shape[0])
    assert staged > 0

    done = run_cli("recover", "--finish", path, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert f"Finished {path} for PyMoDAQ:" in done.stdout
    assert f"from /RawData/{STAGING}, which is deleted" in done.stdout
    assert "/: swmr_active cleared" in done.stdout
    after_loaded, after_shapes, after_lines = pymodaq_view(path)
    assert after_loaded == loaded
    assert after_shapes == loaded
    assert len(after_lines) > len(lines)
    assert after_lines[: len(lines)] == lines
    assert after_lines[0].startswith("demo started")
    with h5py.File(path, "r") as file:
        assert STAGING not in file["RawData"]
        assert not file.attrs["swmr_active"]
    settled = path.read_bytes()

    again = run_cli("recover", "--finish", path, cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert "Nothing to do" in again.stdout
    assert "Nothing to finish" in again.stdout
    assert path.read_bytes() == settled


def test_recover_finish_dry_run_on_a_killed_writer_changes_nothing(tmp_path: Path) -> None:
    """`recover --finish --dry-run` on a file still flagged by its killed writer says what
    recovering and finishing would do (read from the file as recovering would leave it) and
    leaves every byte as it was."""
    path = tmp_path / "killed.h5"
    killed_paced_writer(path)
    before = path.read_bytes()

    done = run_cli("recover", "--finish", "--dry-run", path, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"Would finish {path} for PyMoDAQ:" in done.stdout
    assert f"staged strings to fold from /RawData/{STAGING}, which is to be deleted" in done.stdout
    assert "shape attribute (0, 1) to be set to (" in done.stdout
    assert "/: swmr_active to be cleared" in done.stdout
    assert path.read_bytes() == before


def test_finish_that_fails_part_way_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the staged lines were folded (while the shapes are reconciled) rolls
    the file back through its journal: every byte as before finishing, no journal left; the
    next finish does it all."""
    path = tmp_path / "killed.h5"
    killed_paced_writer(path)
    h5s.recover(path)
    before = path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(finishing, "reconcile_swmr_attrs_of", fail)
    with pytest.raises(OSError, match="No space left"):
        finish(path)
    assert path.read_bytes() == before
    assert not journal_path(path).exists()

    monkeypatch.undo()
    report = finish(path)
    assert report.changed
    assert report.folded == {"/RawData/Logger": 2}
    assert report.flag_cleared


KILLED_FINISH = """
import os, signal, sys
from aioh5saver.tools import finish as finishing

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

finishing.reconcile_swmr_attrs_of = killed  # killed once the staged lines are folded
finishing.finish(sys.argv[1])
"""


def test_a_finish_killed_part_way_is_undone_by_recover(tmp_path: Path) -> None:
    """A finish killed with SIGKILL after folding the staged lines leaves its journal; recover
    puts every byte back as before the finish began, and finishing again completes."""
    path = tmp_path / "killed.h5"
    killed_paced_writer(path)
    h5s.recover(path)
    before = path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_FINISH, str(path)], env=ENV, capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert journal_path(path).exists()

    report = h5s.recover(path)

    assert report.rolled_back is not None
    assert path.read_bytes() == before
    assert not journal_path(path).exists()
    assert finish(path).folded == {"/RawData/Logger": 2}


def test_finish_refuses_a_file_still_flagged_or_with_a_journal(tmp_path: Path) -> None:
    """finish alone on a file whose flags still name a writer raises FileInUseError, and on
    one with a rollback journal UnfinishedWriteError, both pointing at recover and changing
    nothing."""
    path = tmp_path / "killed.h5"
    killed_paced_writer(path)
    before = path.read_bytes()
    with pytest.raises(h5s.FileInUseError, match="'aioh5saver recover'"):
        finish(path)
    h5s.recover(path)
    recovered = path.read_bytes()
    journal_path(path).write_bytes(b"")
    with pytest.raises(h5s.UnfinishedWriteError, match="'aioh5saver recover'"):
        finish(path)
    assert path.read_bytes() == recovered != before


# -- hostile files ---------------------------------------------------------------------------------


def swmr_left_file(path: Path) -> str:
    """A file as a killed SWMR writer leaves it, made by hand: swmr_active set, two lines in
    the Logger's staging array, an array of 3 rows whose shape attribute says 0; returns that
    array's path."""
    saver = h5s.H5SaverLowLevel()
    saver.init_file(path, new_file=True, swmr_mode=True)
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
    append_staged(create_staging(saver.get_set_logger()), ["staged one", "staged two"])
    array.node.resize((3, 2))
    saver.h5file.attrs["swmr_active"] = True
    array_path = array.path
    saver.close_file()
    return array_path


def test_finish_refuses_a_staging_array_stored_in_another_file(tmp_path: Path) -> None:
    """A staging array whose rows are external raw storage (another file) is refused with
    ExternalDataError naming it: neither file is read into the Logger or changed."""
    path = tmp_path / "external.h5"
    swmr_left_file(path)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes(STAGING_DTYPE.itemsize * 4))
    with h5py.File(path, "a") as file:
        del file[f"RawData/{STAGING}"]
        storage = [(str(outside), 0, h5py.h5f.UNLIMITED)]
        staging = file["RawData"].create_dataset(
            STAGING, shape=(4,), dtype=STAGING_DTYPE, external=storage
        )
        staging.attrs["CLASS"] = "EARRAY"
    before, outside_before = path.read_bytes(), outside.read_bytes()
    with pytest.raises(h5s.ExternalDataError, match=STAGING):
        finish(path)
    assert path.read_bytes() == before
    assert outside.read_bytes() == outside_before
    assert not journal_path(path).exists()


@pytest.mark.timeout(60)
def test_finish_never_follows_an_external_link_named_like_a_staging_array(
    tmp_path: Path,
) -> None:
    """A staging array that is an external link to a named pipe, and another external link to
    it, are left as links and never opened (opening the pipe would block for ever): the
    Logger's real staging array is folded, the shapes fixed and the flag cleared; the links
    stay. `recover --finish --dry-run` shows the same without following them either."""
    path = tmp_path / "links.h5"
    array_path = swmr_left_file(path)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with h5py.File(path, "a") as file:
        file["RawData/Other__swmr_staging"] = h5py.ExternalLink(str(pipe), "/x")
        file["RawData/Elsewhere"] = h5py.ExternalLink(str(pipe), "/")

    dry = run_cli("recover", "--finish", "--dry-run", path, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "Other__swmr_staging" not in dry.stdout

    report = finish(path)

    assert report.folded == {"/RawData/Logger": 2}
    assert report.shapes == {array_path: ((0, 2), (3, 2))}
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        assert saver.get_node("/RawData/Logger").read() == [
            "before the crash",
            "staged one",
            "staged two",
        ]
    finally:
        saver.close_file()
    with h5py.File(path, "r") as file:
        links = {
            name: file["RawData"].get(name, getlink=True)
            for name in ("Other__swmr_staging", "Elsewhere", STAGING)
        }
        assert not file.attrs["swmr_active"]
    assert isinstance(links["Other__swmr_staging"], h5py.ExternalLink)
    assert isinstance(links["Elsewhere"], h5py.ExternalLink)
    assert links[STAGING] is None
