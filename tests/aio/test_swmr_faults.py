"""Another program changes the disk or the file under a SWMR writer: it fills the disk before
the close, renames, replaces or deletes the file, or truncates it. Every flushed row and log
line stays readable (after recover, and once a saver continues the file), nothing is written to
a file other than the one opened, nothing hangs, and the writer breaks with WriterBrokenError.

Each scenario runs in a child process with a timeout (HDF5 may block or crash on a file changed
underneath it); the child reports what each call raised as JSON lines."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import h5py
import numpy as np
import pytest

import aioh5saver
from aioh5saver import H5SaverLowLevel
from aioh5saver.engine.space import RESERVE_BYTES
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.format.staging import FOLD_BASE_ATTR, STAGING_SUFFIX
from aioh5saver.sync.staging import append_staged, create_staging, fold_staged_strings, read_staged
from helpers import pymodaq_read

ROWS = 48
ROW_WIDTH = 16
ARRAY = "/RawData/Data"
LOGGER = "/RawData/Logger"
LINES = [f"line {index}" for index in range(ROWS)]

CHILD = textwrap.dedent(
    """
    import hashlib
    import json
    import os
    import resource
    import signal
    import sys
    import time

    import anyio
    import h5py
    import numpy as np

    from aioh5saver import AsyncH5Saver, WriterBrokenError

    PATH, BACKEND, SCENARIO, PARAM = sys.argv[1:5]
    MOVED = os.path.join(os.path.dirname(PATH), "moved.h5")
    ROWS, WIDTH = int(sys.argv[5]), int(sys.argv[6])
    if SCENARIO == "disk":
        # Another program fills the disk after the last flush: the writer's own account of
        # the room left (measured before) does not see it.
        from aioh5saver.engine.space import SpaceGuard

        SpaceGuard.fits = lambda self, nbytes: True
        SpaceGuard.claim = lambda self, nbytes, action, kept_for_fold=0: None


    def report(**event):
        sys.stdout.write(json.dumps(event) + "\\n")
        sys.stdout.flush()


    def describe(exc):
        cause = exc.__cause__
        return {
            "type": type(exc).__name__,
            "broken": isinstance(exc, WriterBrokenError),
            "cause_type": None if cause is None else type(cause).__name__,
            "cause": None if cause is None else str(cause),
            "cause_errno": getattr(cause, "errno", None),
        }


    def digest(path):
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()


    def replace_file(kind):
        # What another program does to the path; returns the digest of a regular file it
        # leaves there (the writer must not change it).
        if kind == "deleted":
            os.remove(PATH)
            return None
        os.rename(PATH, MOVED)
        if kind == "renamed":
            return None
        if kind == "other_hdf5":
            with h5py.File(PATH, "w") as other:
                other["x"] = np.arange(5)
            return digest(PATH)
        if kind == "not_hdf5":
            with open(PATH, "wb") as other:
                other.write(b"not an HDF5 file\\n" * 100)
            return digest(PATH)
        if kind == "directory":
            os.mkdir(PATH)
            return None
        if kind == "fifo":
            os.mkfifo(PATH)
            return None
        if kind == "symlink":
            target = PATH + ".target.h5"
            with h5py.File(target, "w") as other:
                other["x"] = np.arange(5)
            os.symlink(target, PATH)
            return digest(target)
        raise ValueError(kind)


    def truncate(fraction, size):
        os.truncate(PATH, int(size * fraction))


    async def attempt(name, call, results):
        try:
            await call()
        except Exception as exc:
            results[name] = describe(exc)
        else:
            results[name] = None


    async def main():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        results = {}
        replaced = None
        start = None
        try:
            async with AsyncH5Saver.open(PATH, swmr=True) as saver:
                array = await saver.add_array(
                    saver.raw_group, "data", "data_enlargeable", data_shape=(WIDTH,),
                    array_type="float64", enlargeable=True, data_dimension="Data1D",
                )
                for index in range(ROWS):
                    await saver.append(array, np.full(WIDTH, float(index)))
                    await saver.add_log(f"line {index}")
                await saver.flush()
                size = os.stat(PATH).st_size
                start = time.monotonic()

                async def structure():
                    await saver.add_det_group(saver.raw_group)

                async def append_rows():
                    for index in range(ROWS, ROWS + 8):
                        await saver.append(array, np.full(WIDTH, float(index)))
                    await saver.flush()

                if SCENARIO == "disk":
                    extra, _, then = PARAM.partition(":")
                    limit = (size + int(extra), resource.RLIM_INFINITY)
                    resource.setrlimit(resource.RLIMIT_FSIZE, limit)
                    if then == "structure":
                        await attempt("structure", structure, results)
                        await attempt("log", lambda: saver.add_log("late"), results)
                elif SCENARIO == "identity":
                    replaced = replace_file(PARAM)
                    await attempt("structure", structure, results)
                    await attempt("append", append_rows, results)
                    await attempt("log", lambda: saver.add_log("late"), results)
                elif SCENARIO == "truncate":
                    point, fraction = PARAM.split(":")
                    if point == "appends":
                        truncate(float(fraction), size)
                        await attempt("append", append_rows, results)
                    elif point == "structure":
                        truncate(float(fraction), size)
                        await attempt("structure", structure, results)
                    elif point == "resume":
                        # SWMR is paused by the structure change; it starts again before the
                        # next rows are written, on a file truncated meanwhile. Cut from its
                        # size before the pause: until SWMR is on again, the file ends with
                        # the unused part of the pause's disk reservation, which is not its own.
                        await saver.add_det_group(saver.raw_group)
                        truncate(float(fraction), size)
                        await attempt("append", append_rows, results)
                    elif point == "regrown":
                        # Truncated, then grown again past its old end: a hole where bytes were.
                        truncate(float(fraction), size)
                        os.truncate(PATH, 2 * size)
                        await attempt("append", append_rows, results)
                    await attempt("flush", saver.flush, results)
                    await attempt("log", lambda: saver.add_log("late"), results)
        except Exception as exc:
            results["leave"] = describe(exc)
        else:
            results["leave"] = None
        seconds = None if start is None else time.monotonic() - start
        report(event="done", seconds=seconds, results=results, replaced=replaced)


    anyio.run(main, backend=BACKEND)
    """
)


async def _run_child(
    tmp_path: Path, path: Path, backend: str, scenario: str, param: str
) -> dict[str, Any]:
    """Run CHILD; it must exit normally within the timeout, having reported its results."""
    script = tmp_path / "swmr_fault_child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [
        sys.executable,
        str(script),
        str(path),
        backend,
        scenario,
        param,
        str(ROWS),
        str(ROW_WIDTH),
    ]
    with anyio.fail_after(60):
        result = await anyio.run_process(command, check=False, env=env)
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, (result.returncode, stdout, stderr[-3000:])
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [event["event"] for event in events] == ["done"], (stdout, stderr[-2000:])
    return dict(events[0])


def _expected_rows(count: int = ROWS) -> np.ndarray:
    return np.repeat(np.arange(float(count))[:, None], ROW_WIDTH, axis=1)


def _staged_and_logged(path: Path) -> list[str]:
    """Every log line the file holds, read with h5py: the Logger's, then the staged ones."""
    from aioh5saver.format.pickled_str import decode_pickled_str

    with h5py.File(path, "r") as file:
        lines = [decode_pickled_str(bytes(row)) for row in file[LOGGER][()]]
        staging = file.get(LOGGER + STAGING_SUFFIX)
        if staging is not None:
            lines += read_staged(staging)
    return lines


# -- 3: the disk filled by another program before the close ---------------------------------------


@pytest.mark.anyio
@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "param",
    ["0", f"{48 << 10}", "0:structure"],
    ids=["full-at-close", "nearly-full-at-close", "full-at-a-structure-change"],
)
async def test_a_disk_filled_by_another_program_before_close_loses_no_flushed_line(
    tmp_path: Path, anyio_backend: str, param: str
) -> None:
    """When another program fills the disk between the last flush and the end of SWMR (the
    close, or a structure change that pauses SWMR), the writer cannot fold the staged log lines
    into the Logger: it says so (WriterBrokenError, chained to an EFBIG OSError naming SWMR's
    end; every later call raises it too) and leaves the file whole: after recover, h5py reads
    every flushed row and every log line (the Logger's, then the staged ones), recover reports
    nothing unreadable, and a saver that continues the file folds the lines in once, so that
    pymodaq_data reads all of them, in order, none twice."""
    path = tmp_path / "full.h5"
    done = await _run_child(tmp_path, path, anyio_backend, "disk", param)
    for name in ("structure", "log"):
        if name in done["results"]:
            assert done["results"][name] is not None, done
            assert done["results"][name]["cause"] == done["results"]["leave"]["cause"], done
    leave = done["results"]["leave"]
    assert leave is not None, done
    assert leave["broken"], done
    assert leave["cause_errno"] == errno.EFBIG, leave
    assert "end SWMR" in leave["cause"], leave

    report = aioh5saver.recover(path)
    assert report.unreadable == {}, aioh5saver.render_recovery(report)
    assert report.arrays[ARRAY] == ROWS
    assert report.log_lines == ROWS
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(file[ARRAY][()], _expected_rows())
    assert _staged_and_logged(path) == LINES

    H5SaverLowLevel.from_file(path, new_file=False, mode="a").close_file()
    data, logs = pymodaq_read(path, [ARRAY])
    np.testing.assert_array_equal(data[ARRAY], _expected_rows())
    assert logs == LINES
    assert aioh5saver.recover(path).staged_strings == 0


@pytest.mark.anyio
@pytest.mark.timeout(90)
async def test_a_swmr_close_with_room_folds_every_line_and_gives_back_the_room_it_reserved(
    tmp_path: Path, anyio_backend: str
) -> None:
    """With room left (a file-size limit well above the file), the close folds every staged
    line into the Logger, and the room it reserved on the disk for that (RESERVE_BYTES and
    more) is given back: the file ends where its superblock says, or at most a few KiB past it
    (HDF5 frees the deleted staging array's space at close, after the trim)."""
    path = tmp_path / "roomy.h5"
    done = await _run_child(tmp_path, path, anyio_backend, "disk", str(64 << 20))
    assert done["results"] == {"leave": None}, done
    assert done["results"]["leave"] is None, done
    data, logs = pymodaq_read(path, [ARRAY])
    np.testing.assert_array_equal(data[ARRAY], _expected_rows())
    assert logs == LINES
    eof = read_superblock(path).eof
    assert eof <= path.stat().st_size <= eof + (64 << 10) < eof + RESERVE_BYTES


def test_a_fold_interrupted_after_its_append_is_finished_without_appending_twice(
    h5_path: Path,
) -> None:
    """A fold whose flush fails (the disk full) keeps its staging array, marked with the row
    its lines start at; the saver that continues the file finishes the fold without appending
    a line twice, and pymodaq_data reads every line once, in order."""
    saver = H5SaverLowLevel()
    saver.init_file(h5_path, new_file=True, swmr_mode=True)
    saver.add_log("before")
    logger = saver.get_set_logger()
    append_staged(create_staging(logger), ["staged 1", "staged 2"])
    file = saver.h5file
    assert file is not None
    file.attrs["swmr_active"] = True

    def failing_flush() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        fold_staged_strings(file, flush=failing_flush)
    staging = file[LOGGER + STAGING_SUFFIX]
    assert staging.attrs[FOLD_BASE_ATTR] == 1
    assert file[LOGGER].shape == (3,)
    saver.close_file()

    H5SaverLowLevel.from_file(h5_path, new_file=False, mode="a").close_file()
    _data, logs = pymodaq_read(h5_path, [])
    assert logs == ["before", "staged 1", "staged 2"]
    with h5py.File(h5_path, "r") as check:
        assert LOGGER + STAGING_SUFFIX not in check
        assert not check.attrs["swmr_active"]


def test_recover_lists_a_logger_it_cannot_read(h5_path: Path) -> None:
    """A Logger whose lines lie past the end of the file (a write that failed) is reported by
    recover as unreadable, with the reason, never silently left out."""
    saver = H5SaverLowLevel()
    saver.init_file(h5_path, new_file=True)
    for index in range(5):
        saver.add_log(f"line {index} " + "x" * 20_000)
    saver.close_file()
    os.truncate(h5_path, h5_path.stat().st_size - 30_000)
    report = aioh5saver.recover(h5_path)
    assert report.eof_repaired is not None
    assert list(report.unreadable) == [f"{LOGGER} (its lines)"], report.unreadable
    assert "addr overflow" in report.unreadable[f"{LOGGER} (its lines)"]
    rendered = aioh5saver.render_recovery(report)
    assert "1 could not be read:" in rendered
    assert f"{LOGGER} (its lines): OSError" in rendered


def test_recover_reports_nothing_unreadable_in_a_sound_file(h5_path: Path) -> None:
    """A sound file has no unreadable node in its recovery report."""
    saver = H5SaverLowLevel()
    saver.init_file(h5_path, new_file=True)
    saver.add_log("fine")
    saver.close_file()
    report = aioh5saver.recover(h5_path)
    assert report.unreadable == {}
    assert "could not be read" not in aioh5saver.render_recovery(report)


# -- 4 and 6: the file renamed, replaced, deleted or truncated during a SWMR run ------------------
# The tests are in test_bad_input_async.py, whose every case is a row of docs/bad-input.md.

REPLACEMENTS = ["renamed", "deleted", "other_hdf5", "not_hdf5", "directory", "fifo", "symlink"]


async def check_a_replaced_file_breaks_the_writer(tmp_path: Path, backend: str, kind: str) -> None:
    """The body of the sweep in test_bad_input_async.py (one row of docs/bad-input.md per
    ``kind``): when the path of a SWMR file no longer names it, the next SWMR pause (a
    structure change) breaks the writer with WriterBrokenError chained to FileChangedError, at
    once (no hang on a named pipe); every later call raises WriterBrokenError too. No file is
    created at the path, what is there is left unchanged, and the file that was opened,
    wherever it is now, is closed whole: every row and log line in it, folded, readable by
    pymodaq_data."""
    path = tmp_path / "run.h5"
    moved = tmp_path / "moved.h5"
    done = await _run_child(tmp_path, path, backend, "identity", kind)
    results = done["results"]
    assert done["seconds"] is not None, done
    assert done["seconds"] < 20, done
    first = results["structure"]
    assert first is not None, results
    assert first["broken"], results
    assert first["cause_type"] == "FileChangedError", first
    assert f"expected the file that was opened at {path}" in first["cause"], first
    for name in ("append", "log", "leave"):
        later = results[name]
        assert later is not None, (name, later)
        assert later["broken"], (name, later)
        assert later["cause"] == first["cause"], name

    if kind == "deleted":
        assert not path.exists()
        assert not path.is_symlink()
        return
    if kind == "renamed":
        assert not path.exists()
    elif kind in ("other_hdf5", "not_hdf5"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == done["replaced"]
    elif kind == "directory":
        assert path.is_dir()
        assert not list(path.iterdir())
    elif kind == "fifo":
        assert stat.S_ISFIFO(path.lstat().st_mode)
    elif kind == "symlink":
        target = Path(str(path) + ".target.h5")
        assert path.is_symlink()
        assert hashlib.sha256(target.read_bytes()).hexdigest() == done["replaced"]
    assert not aioh5saver.recover(moved).changed
    data, logs = pymodaq_read(moved, [ARRAY])
    np.testing.assert_array_equal(data[ARRAY], _expected_rows())
    assert logs == LINES
    with h5py.File(moved, "r") as file:
        assert LOGGER + STAGING_SUFFIX not in file
        assert not file.attrs["swmr_active"]


TRUNCATIONS = [
    "appends:0",
    "appends:0.5",
    "appends:0.99",
    "structure:0",
    "structure:0.5",
    "resume:0.9",
    "regrown:0.5",
]


async def check_a_truncated_file_breaks_the_writer(
    tmp_path: Path, backend: str, point: str
) -> None:
    """The body of the sweep in test_bad_input_async.py (one row of docs/bad-input.md per
    ``point``): when another program truncates the file under a SWMR writer (to nothing, to
    half, by a few bytes; during appends, before a structure change that pauses SWMR, before
    SWMR starts again; or truncated and grown again, which leaves a hole), the next write
    breaks the writer with WriterBrokenError chained to FileChangedError, before writing
    anything; every later call raises it too, leaving the saver returns, and the child exits
    within its timeout."""
    path = tmp_path / "cut.h5"
    done = await _run_child(tmp_path, path, backend, "truncate", point)
    results = done["results"]
    assert done["seconds"] is not None, done
    assert done["seconds"] < 20, done
    first = results.get("append") or results.get("structure")
    assert first is not None, results
    assert first["broken"], results
    assert first["cause_type"] == "FileChangedError", first
    assert "truncated" in first["cause"], first
    for name in ("flush", "log", "leave"):
        later = results[name]
        assert later is not None, (name, later)
        assert later["broken"], (name, later)
        assert later["cause"] == first["cause"], name


# -- save_file: the file renamed while it is closed for the copy ---------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_a_file_renamed_during_save_file_is_not_reopened_by_its_old_path(
    tmp_path: Path, anyio_backend: str, monkeypatch: pytest.MonkeyPatch, swmr: bool
) -> None:
    """save_file closes the file for the copy and opens it again; if another program renamed
    it meanwhile and put another HDF5 file at its path, the writer does not open that one: it
    breaks (WriterBrokenError chained to FileChangedError, for every later call), the file at
    the path is left byte for byte as it was, and the renamed file holds every row and log
    line accepted before save_file."""
    import aioh5saver.aio.writer_task

    path = tmp_path / "run.h5"
    moved = tmp_path / "moved.h5"
    copy_file = aioh5saver.aio.writer_task.copy_file

    async def copy_then_replace(source: Path, target: Path) -> None:
        await copy_file(source, target)
        os.rename(path, moved)
        with h5py.File(path, "w") as other:
            other["x"] = np.arange(3)

    monkeypatch.setattr(aioh5saver.aio.writer_task, "copy_file", copy_then_replace)
    broken: list[BaseException] = []
    with pytest.raises(aioh5saver.WriterBrokenError) as left:
        async with aioh5saver.AsyncH5Saver.open(path, swmr=swmr) as saver:
            array = await saver.add_array(
                saver.raw_group,
                "data",
                "data_enlargeable",
                data_shape=(ROW_WIDTH,),
                array_type="float64",
                enlargeable=True,
                data_dimension="Data1D",
            )
            for index in range(ROWS):
                await saver.append(array, np.full(ROW_WIDTH, float(index)))
                await saver.add_log(f"line {index}")
            await saver.save_file(tmp_path / "copy.h5")
            replaced = hashlib.sha256(path.read_bytes()).hexdigest()
            for call in (
                lambda: saver.append(array, np.zeros(ROW_WIDTH)),
                saver.flush,
                lambda: saver.add_det_group(saver.raw_group),
            ):
                with pytest.raises(aioh5saver.WriterBrokenError) as later:
                    await call()
                broken.append(later.value)
    assert isinstance(left.value.__cause__, aioh5saver.FileChangedError)
    for error in broken:
        assert error.__cause__ is left.value.__cause__
    assert "expected the file that was opened at" in str(left.value.__cause__)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == replaced
    data, logs = pymodaq_read(moved, [ARRAY])
    np.testing.assert_array_equal(data[ARRAY], _expected_rows())
    assert logs == LINES
