"""The readers people have open the files aioh5saver writes: pymodaq_data 5.3.0 with its
``h5py`` backend and with its ``tables`` backend (PyTables, which bundles HDF5 1.14), and
``h5dump`` / ``h5ls`` from Debian's hdf5-tools (HDF5 1.10).

Files written in HDF5 2.0's newest format (h5py ``libver='latest'``) made PyTables segfault at
open and h5dump 1.10 fail with "error getting attribute information"; aioh5saver writes the
1.10 format (``h5py_engine.LIBVER_SWMR``, ``h5py_engine.LIBVER_PLAIN``).

The files, each written once per test run (:class:`Files`):

- ``sync``: :class:`aioh5saver.H5SaverLowLevel` without SWMR: groups, a CARRAY axis, two
  EARRAYs, a string array, log lines, attributes of many types;
- ``swmr-closed``: :class:`aioh5saver.AsyncH5Saver` with ``swmr=True`` in a child process on
  asyncio or trio (:data:`WRITER_SCRIPT`): log lines under SWMR, a detector and an array added
  while SWMR is on (a structure change), closed normally;
- ``recovered``: the same writer killed with SIGKILL while appending under SWMR after a
  completed flush, then :func:`aioh5saver.recover`;
- ``continued``: a ``swmr-closed`` file opened again with ``new_file=False, swmr=True``, more
  rows and a log line appended.

Every reader runs in a child process with a timeout, so a segfault or a hang fails its test
only. h5dump and h5ls must be installed (``apt-get install hdf5-tools``, which ``.ci/run``
does): without them the tests fail when ``CI=true`` and are skipped otherwise.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from pymodaq_utils.utils import JsonConverter

import aioh5saver
from aioh5saver import H5SaverLowLevel
from aioh5saver.format.pickled_str import decode_pickled_str
from aioh5saver.format.staging import STAGING_SUFFIX

#: What one reader or writer child may take.
CHILD_TIMEOUT_S = 90.0
BACKENDS = ("asyncio", "trio")
LOGGER = "/RawData/Logger"


def row_values(start: int, count: int, shape: Sequence[int], dtype: str) -> np.ndarray:
    """Rows ``start`` to ``start + count - 1`` of every test array: element ``j`` (flat) of row
    ``i`` holds ``(i + j) % 65535 + 1``, so that a row missing, torn or misplaced shows."""
    size = int(np.prod(shape, dtype=np.int64))
    values = (np.arange(start, start + count)[:, np.newaxis] + np.arange(size)) % 65535 + 1
    return values.astype(dtype).reshape(count, *shape)


#: The attributes the tests set, and the Python values every reader must decode them to.
DETECTOR_ATTRS: dict[str, Any] = {
    "exposure_ms": 12.5,
    "gain": 3,
    "cooled": True,
    "roi": (0, 0, 3, 4),
    "note": "café ✓",
    "empty": None,
    "settings_map": {"a": 1, "b": [1.5, "x"]},
}
LATE_ATTRS: dict[str, Any] = {"joined_s": 0.25, "model": "late camera"}

WRITER_SCRIPT = (
    textwrap.dedent(
        """
        from __future__ import annotations

        import json
        import sys

        import anyio
        import numpy as np

        from aioh5saver import AsyncH5Saver

        PATH, BACKEND, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
        DETECTOR_ATTRS = json.loads(sys.argv[4])
        LATE_ATTRS = json.loads(sys.argv[5])
        ROWS = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
        """
    )
    + inspect.getsource(row_values)
    + textwrap.dedent(
        '''

        def say(**event):
            sys.stdout.write(json.dumps(event) + "\\n")
            sys.stdout.flush()


        async def add_detector(saver, scan, title, shape, dtype, dim):
            det = await saver.add_det_group(scan, title=title)
            group = await saver.add_data_group(det, dim)
            channel = await saver.add_ch_group(group, title=title)
            array = await saver.add_array(
                channel, "data", "data_enlargeable", data_shape=shape, array_type=dtype,
                enlargeable=True, data_dimension=dim, title=title,
            )
            return det, array


        async def write():
            """MODE "close": write, flush, report, close. "kill": the same, then keep
            appending (reporting once) until killed."""
            async with AsyncH5Saver.open(PATH, swmr=True, new_file=True) as saver:
                scan = await saver.add_scan_group(saver.raw_group, title="readers scan")
                det, spectrum = await add_detector(
                    saver, scan, "spectrometer", (4,), "float64", "Data1D"
                )
                for name, value in DETECTOR_ATTRS.items():
                    value = tuple(value) if name == "roi" else value
                    await saver.set_attr(det, name, value)
                arrays = {spectrum.path: [spectrum, (4,), "float64", 0]}
                logs = 0

                async def append(path, count):
                    ref, shape, dtype, done = arrays[path]
                    await saver.append(ref, row_values(done, count, shape, dtype))
                    arrays[path][3] += count

                async def log():
                    nonlocal logs
                    await saver.add_log(f"line {logs}")
                    logs += 1

                await append(spectrum.path, 5)  # SWMR starts here
                for _ in range(3):
                    await log()
                assert saver.statistics().swmr_active
                # A structure change while SWMR is on.
                late, frames = await add_detector(
                    saver, scan, "camera", (3, 4), "uint16", "Data2D"
                )
                for name, value in LATE_ATTRS.items():
                    await saver.set_attr(late, name, value)
                arrays[frames.path] = [frames, (3, 4), "uint16", 0]
                await saver.start_swmr()  # at once, so that the next lines are staged
                for _ in range(4):
                    await append(spectrum.path, 2)
                    await append(frames.path, 1)
                for _ in range(2):
                    await log()
                await saver.flush()
                say(event="ack", rows={p: a[3] for p, a in arrays.items()}, logs=logs,
                    detectors=[det.path, late.path], swmr=saver.statistics().swmr_active)
                if MODE == "kill":
                    told = False
                    while True:
                        await append(spectrum.path, 1)
                        await append(frames.path, 1)
                        if not told and arrays[frames.path][3] > 40:
                            say(event="appending")
                            told = True
                        await anyio.sleep(0)


        async def continue_():
            """Open the file again under SWMR, append 3 rows to every array in ROWS (path ->
            [rows, shape, dtype]) and one log line."""
            async with AsyncH5Saver.open(PATH, swmr=True, new_file=False) as saver:
                for path, (done, shape, dtype) in ROWS.items():
                    await saver.append(path, row_values(done, 3, shape, dtype))
                await saver.add_log("continued")
                await saver.flush()
                say(event="ack", rows={p: r[0] + 3 for p, r in ROWS.items()},
                    swmr=saver.statistics().swmr_active)


        anyio.run(continue_ if MODE == "continue" else write, backend=BACKEND)
        '''
    )
)

#: pymodaq_data reads the file with one backend and prints the tree, attributes (their repr,
#: as pymodaq_data decodes them), arrays and strings as one JSON document.
PYMODAQ_READER_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import warnings
    from pathlib import Path

    import numpy as np
    from pymodaq_data.h5modules import saving

    warnings.simplefilter("ignore")  # PyTables warns about the bool (enum) root attributes
    path, backend = Path(sys.argv[1]), sys.argv[2]
    saver = saving.H5SaverLowLevel(backend=backend)
    saver.init_file(path, new_file=False, mode="r")
    nodes, arrays, strings, unreadable = {}, {}, {}, {}
    for walked in saver.walk_nodes("/"):
        node = saver.get_node(walked.path)  # get_node tells string arrays apart, walking not
        kind = type(node).__name__
        attrs = {}
        for name in node.attrs.attrs_name:
            value = node.attrs[name]
            # PyTables gives plain attributes as numpy scalars (np.str_('GROUP')).
            attrs[name] = repr(value.item() if isinstance(value, np.generic) else value)
        nodes[node.path] = {"kind": kind, "attrs": attrs}
        if kind == "StringARRAY":
            strings[node.path] = node.read()
        elif kind in ("CARRAY", "EARRAY"):
            try:
                data = np.asarray(node.read())
            except Exception as exc:
                unreadable[node.path] = repr(exc)
                continue
            if data.dtype.fields is None:
                arrays[node.path] = {"dtype": str(data.dtype), "data": data.tolist()}
    saver.close_file()
    print(json.dumps({"nodes": nodes, "arrays": arrays, "strings": strings,
                      "unreadable": unreadable}))
    """
)


@dataclass
class Written:
    """A file for the readers, and what it must hold."""

    path: Path
    arrays: dict[str, np.ndarray]
    logs: list[str]
    attrs: dict[str, dict[str, Any]]
    strings: dict[str, list[str]] = field(default_factory=dict)
    #: Arrays that may hold rows past those in ``arrays`` (appended after the last flush).
    at_least: bool = False


def run_child(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run a child to its end within :data:`CHILD_TIMEOUT_S`, failing the test (not the run)
    if it hangs."""
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {CHILD_TIMEOUT_S} s: {command}")


def _ack_of(stdout: str) -> dict[str, Any]:
    acks = [json.loads(line) for line in stdout.splitlines() if '"ack"' in line]
    assert len(acks) == 1, stdout
    ack: dict[str, Any] = acks[0]
    return ack


class Files:
    """The files of :mod:`this module <test_real_readers>`, each written on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.script = folder / "readers_writer.py"
        self.script.write_text(WRITER_SCRIPT, encoding="utf-8")
        self.made: dict[str, Written] = {}

    def get(self, kind: str) -> Written:
        """The file ``kind`` (``sync``, or ``swmr-closed``/``recovered``/``continued`` with
        ``-asyncio`` or ``-trio``), written now if it was not yet."""
        if kind not in self.made:
            name, _, backend = kind.rpartition("-") if kind != "sync" else ("sync", "", "")
            make = {
                "sync": self._sync,
                "swmr-closed": self._swmr_closed,
                "recovered": self._recovered,
                "continued": self._continued,
            }[name]
            self.made[kind] = make(self.folder / f"{kind}.h5", backend)
        return self.made[kind]

    def _sync(self, path: Path, backend: str) -> Written:
        saver = H5SaverLowLevel.from_file(path, new_file=True)
        scan = saver.add_scan_group(title="sync scan")
        det = saver.add_det_group(scan, title="spectrometer")
        for name, value in DETECTOR_ATTRS.items():
            saver.set_attr(det, name, value)
        group = saver.add_data_group(det, "Data1D")
        channel = saver.add_ch_group(group, title="spectrometer")
        axis = np.linspace(400.0, 800.0, 4)
        axis_array = saver.add_array(
            channel, "axis", "axis", array_to_save=axis, data_dimension="Data1D"
        )
        spectra = saver.add_array(
            channel,
            "data",
            "data_enlargeable",
            data_shape=(4,),
            array_type="float64",
            enlargeable=True,
            data_dimension="Data1D",
        )
        frames = saver.add_array(
            channel,
            "frames",
            "data_enlargeable",
            data_shape=(3, 4),
            array_type="uint16",
            enlargeable=True,
            data_dimension="Data2D",
        )
        notes = saver.add_string_array(channel, "notes", title="notes")
        for index in range(7):
            spectra.append(row_values(index, 1, (4,), "float64")[0])
        frames.append(row_values(0, 5, (3, 4), "uint16"))
        texts = ["first", "naïve ✓", ""]
        for text in texts:
            notes.append(text)
        logs = [f"sync line {index}" for index in range(4)]
        for line in logs:
            saver.add_log(line)
        arrays = {
            spectra.path: row_values(0, 7, (4,), "float64"),
            frames.path: row_values(0, 5, (3, 4), "uint16"),
        }
        arrays[axis_array.path] = axis
        written = Written(
            path,
            arrays,
            logs,
            {det.path: {"TITLE": "spectrometer", **DETECTOR_ATTRS}},
            strings={notes.path: texts},
        )
        saver.close_file()
        return written

    def _write(self, path: Path, backend: str, mode: str, rows: str = "") -> dict[str, Any]:
        command = [
            sys.executable,
            str(self.script),
            str(path),
            backend,
            mode,
            json.dumps(DETECTOR_ATTRS),
            json.dumps(LATE_ATTRS),
        ]
        if rows:
            command.append(rows)
        if mode != "kill":
            done = run_child(command, f"the {mode} writer")
            assert done.returncode == 0, done.stderr[-3000:]
            return _ack_of(done.stdout)
        return _write_and_kill(command)

    def _expected(self, path: Path, ack: dict[str, Any], logs: list[str]) -> Written:
        spectrum, frames = ack["rows"]
        arrays = {
            spectrum: row_values(0, ack["rows"][spectrum], (4,), "float64"),
            frames: row_values(0, ack["rows"][frames], (3, 4), "uint16"),
        }
        det, late = ack["detectors"]
        attrs = {
            det: {"TITLE": "spectrometer", **DETECTOR_ATTRS},
            late: {"TITLE": "camera", **LATE_ATTRS},
        }
        return Written(path, arrays, logs, attrs)

    def _swmr_closed(self, path: Path, backend: str) -> Written:
        ack = self._write(path, backend, "close")
        assert ack["swmr"] is True, ack
        written = self._expected(path, ack, [f"line {index}" for index in range(ack["logs"])])
        written.attrs = {
            **written.attrs,
            **{p: {"shape": (len(a), *a.shape[1:])} for p, a in written.arrays.items()},
        }
        return written

    def _recovered(self, path: Path, backend: str) -> Written:
        ack = self._write(path, backend, "kill")
        assert ack["swmr"] is True, ack
        report = aioh5saver.recover(path)
        for array, rows in ack["rows"].items():
            assert report.arrays[array] >= rows, (report, ack)
        # Lines logged under SWMR wait in a staging array until the file is continued: the
        # Logger holds the 3 folded in when SWMR paused for the late detector, not the others.
        logs = [f"line {index}" for index in range(3)]
        written = self._expected(path, ack, logs)
        written.at_least = True
        return written

    def _continued(self, path: Path, backend: str) -> Written:
        closed = self.get(f"swmr-closed-{backend}")
        shutil.copyfile(closed.path, path)
        rows = {p: [len(a), a.shape[1:], str(a.dtype)] for p, a in closed.arrays.items()}
        ack = self._write(path, backend, "continue", json.dumps(rows))
        assert ack["swmr"] is True, ack
        arrays = {
            p: row_values(0, ack["rows"][p], shape, dtype) for p, (_, shape, dtype) in rows.items()
        }
        attrs = {**closed.attrs, **{p: {"shape": a.shape} for p, a in arrays.items()}}
        return Written(path, arrays, [*closed.logs, "continued"], attrs)


def _write_and_kill(command: list[str]) -> dict[str, Any]:
    """Run the writer until it reports that it appends past its last flush, then SIGKILL it;
    its ack."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # A watchdog, so that a writer that hangs before its report fails the test, not the run.
    watchdog = threading.Timer(CHILD_TIMEOUT_S, process.kill)
    watchdog.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if '"appending"' in line:
                break
    finally:
        process.kill()  # SIGKILL
        watchdog.cancel()
        _, stderr = process.communicate(timeout=CHILD_TIMEOUT_S)
    assert any('"appending"' in line for line in lines), (lines, stderr[-3000:])
    assert process.returncode == -signal.SIGKILL, stderr[-3000:]
    return _ack_of("".join(lines))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """The files for the readers, written once per module."""
    return Files(tmp_path_factory.mktemp("readers"))


KINDS = (
    "sync",
    *(
        f"{kind}-{backend}"
        for kind in ("swmr-closed", "recovered", "continued")
        for backend in BACKENDS
    ),
)


def _groups_of(paths: list[str]) -> set[str]:
    groups = {"/", "/RawData"}
    for path in paths:
        parts = path.split("/")
        groups.update("/".join(parts[:end]) for end in range(2, len(parts)))
    return groups


# -- pymodaq_data ---------------------------------------------------------------------------------


def pymodaq_repr(value: Any) -> str:
    """The repr of ``value`` as pymodaq_data decodes it from its own attribute encoding: the
    value itself, except the types it leaves in their JSON envelope (None, dict)."""
    return repr(JsonConverter.json2object(JsonConverter.object2json(value)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["h5py", "tables"])
def test_pymodaq_data_reads_the_tree_attributes_arrays_and_log_lines(
    files: Files, kind: str, backend: str, tmp_path: Path
) -> None:
    """pymodaq_data 5.3.0, with its h5py backend and with its tables backend (PyTables, HDF5
    1.14), opens the file in a child process, walks every node, decodes every attribute,
    reads every array, string array and the Logger, and gets the values written."""
    written = files.get(kind)
    script = tmp_path / "pymodaq_reader.py"
    script.write_text(PYMODAQ_READER_SCRIPT, encoding="utf-8")
    done = run_child(
        [sys.executable, str(script), str(written.path), backend], f"pymodaq_data ({backend})"
    )
    assert done.returncode == 0, (
        f"pymodaq_data ({backend}) failed on the {kind} file with exit status "
        f"{done.returncode}: {done.stderr[-3000:]}"
    )
    found = json.loads(done.stdout)
    nodes = found["nodes"]
    # A killed SWMR writer leaves its staged log lines in a staging array (folded in when the
    # file is continued), a compound-typed array that PyTables has no class for.
    staging = {f"{LOGGER}{STAGING_SUFFIX}"} if kind.startswith("recovered") else set()
    assert set(found["unreadable"]) == (staging if backend == "tables" else set()), found[
        "unreadable"
    ]
    assert staging <= set(nodes)
    for group in _groups_of(list(written.arrays)):
        assert nodes.get(group, {}).get("kind") == "GROUP", (group, sorted(nodes))
    for path, expected in written.arrays.items():
        kind_expected = "CARRAY" if "/Axis" in path else "EARRAY"
        assert nodes[path]["kind"] == kind_expected, path
        data = np.asarray(found["arrays"][path]["data"], dtype=expected.dtype)
        assert found["arrays"][path]["dtype"] == str(expected.dtype)
        if written.at_least:
            assert len(data) >= len(expected), path
            expected = row_values(0, len(data), expected.shape[1:], str(expected.dtype))
        np.testing.assert_array_equal(data, expected, err_msg=path)
    assert nodes[LOGGER]["kind"] == "StringARRAY"
    assert found["strings"][LOGGER] == written.logs
    for path, texts in written.strings.items():
        assert found["strings"][path] == texts
    for path, attrs in written.attrs.items():
        for name, value in attrs.items():
            assert nodes[path]["attrs"][name] == pymodaq_repr(value), (path, name)
    root = nodes["/"]["attrs"]
    assert root["TITLE"] == repr("PyMoDAQ file")


def test_pymodaq_reader_sees_a_wrong_value(files: Files, tmp_path: Path) -> None:
    """The pymodaq_data reader child reports what the file holds: a value changed after
    writing is seen changed (so the comparisons above can fail)."""
    written = files.get("sync")
    changed = tmp_path / "changed.h5"
    shutil.copyfile(written.path, changed)
    path = next(p for p in written.arrays if p.endswith("/Data"))
    with h5py.File(changed, "a") as file:
        file[path][0, 0] = -1.0
    script = tmp_path / "pymodaq_reader.py"
    script.write_text(PYMODAQ_READER_SCRIPT, encoding="utf-8")
    done = run_child([sys.executable, str(script), str(changed), "tables"], "pymodaq_data")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["arrays"][path]["data"][0][0] == -1.0


# -- hdf5-tools -----------------------------------------------------------------------------------


def hdf5_tool(name: str) -> str:
    """The path of an hdf5-tools program; a test without it fails in CI (``CI=true``) and is
    skipped elsewhere."""
    found = shutil.which(name)
    if found is None:
        reason = (
            f"{name} is not installed (Debian's hdf5-tools: apt-get install hdf5-tools, which "
            ".ci/run does)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


def _tool_output(command: list[str], what: str) -> str:
    done = run_child(command, what)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{what} exited with {done.returncode}: {output[-3000:]}"
    assert "error" not in output.lower(), f"{what} reported an error: {output[-3000:]}"
    return done.stdout


_DATA_BLOCK = re.compile(r"DATA \{(.*?)\n\s*\}", re.DOTALL)


def _dumped_values(dump: str) -> list[str]:
    """The values of the one dataset in ``h5dump -A 0 -d ... -y -w 0`` output, as text."""
    blocks = _DATA_BLOCK.findall(dump)
    assert len(blocks) == 1, dump[-3000:]
    return [value for value in re.split(r"[\s,()]+", blocks[0]) if value]


def _dumped_rows(dump: str) -> list[bytes]:
    """The rows of a vlen(uint8) dataset in ``h5dump -A 0 -d ... -y -w 0`` output."""
    blocks = _DATA_BLOCK.findall(dump)
    assert len(blocks) == 1, dump[-3000:]
    return [
        bytes(int(v) for v in row.split(",") if v.strip())
        for row in re.findall(r"\(([^()]*)\)", blocks[0])
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_h5dump_dumps_the_file_every_array_and_every_log_line(files: Files, kind: str) -> None:
    """h5dump (hdf5-tools, HDF5 1.10) dumps the whole file without an error, and dumps every
    array with the values written and the Logger with the lines written."""
    h5dump = hdf5_tool("h5dump")
    written = files.get(kind)
    where = str(written.path)
    whole = _tool_output([h5dump, where], "h5dump")
    for path in written.arrays:
        assert f'DATASET "{path.rsplit("/", 1)[1]}"' in whole, path
    for path, expected in written.arrays.items():
        dump = _tool_output(
            [h5dump, "-A", "0", "-d", path, "-y", "-w", "0", "-m", "%.17g", where], "h5dump -d"
        )
        values = np.array(_dumped_values(dump), dtype=np.float64)
        if written.at_least:
            rows = len(values) // int(np.prod(expected.shape[1:], dtype=np.int64))
            assert rows >= len(expected), path
            expected = row_values(0, rows, expected.shape[1:], str(expected.dtype))
        np.testing.assert_array_equal(values, expected.ravel().astype(np.float64), err_msg=path)
    dump = _tool_output(
        [h5dump, "-A", "0", "-d", LOGGER, "-y", "-w", "0", where], "h5dump -d Logger"
    )
    assert [decode_pickled_str(row) for row in _dumped_rows(dump)] == written.logs
    for path, attrs in written.attrs.items():
        if "TITLE" in attrs:
            dump = _tool_output([h5dump, "-a", f"{path}/TITLE", where], "h5dump -a")
            assert f'"{attrs["TITLE"]}"' in dump, path


@pytest.mark.parametrize("kind", KINDS)
def test_h5ls_lists_every_node_with_its_shape(files: Files, kind: str) -> None:
    """``h5ls -r`` (hdf5-tools, HDF5 1.10) lists the file without an error: every group, every
    array with its rows and row shape, and the Logger with one entry per log line."""
    h5ls = hdf5_tool("h5ls")
    written = files.get(kind)
    listing = _tool_output([h5ls, "-r", str(written.path)], "h5ls -r")
    entries = {}
    for line in listing.splitlines():
        path, _, what = line.partition(" ")
        entries[path] = what.strip()
    for group in _groups_of(list(written.arrays)) - {"/"}:
        assert entries.get(group) == "Group", (group, listing)
    for path, expected in written.arrays.items():
        match = re.fullmatch(r"Dataset \{(\d+)(?:/Inf)?((?:, \d+)*)\}", entries.get(path, ""))
        assert match is not None, (path, listing)
        rows, row_shape = int(match[1]), tuple(int(d) for d in match[2].split(", ")[1:])
        assert row_shape == expected.shape[1:], path
        assert rows >= len(expected) if written.at_least else rows == len(expected), path
    assert re.fullmatch(r"Dataset \{(\d+)/Inf\}", entries[LOGGER])[1] == str(len(written.logs))
