"""The ``aioh5saver`` command line run as a user runs it, in a subprocess: ``inspect`` shows the
tree, ``follow`` follows a ``demo`` running in another process until it closes the file,
``recover`` makes a file whose writer was killed with SIGKILL readable again and changes
nothing else, Ctrl-C ends a demo with status 130 and a closed file, and every bad argument or
missing file ends with status 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

import aioh5saver.tools.bench.cli
from aioh5saver.tools import cli

SCAN = "/RawData/Scan000"
PHOTODIODE = f"{SCAN}/Detector000/Data0D/CH00/EnlData00"
SPECTROMETER = f"{SCAN}/Detector001/Data1D/CH00/EnlData00"
CAMERA = f"{SCAN}/Detector002/Data2D/CH00/EnlData00"
STAGE = f"{SCAN}/Actuator000/Data0D/CH00/EnlData00"
LOGGER = "/RawData/Logger"
ENV = {**os.environ, "PYTHONWARNINGS": "error"}  # as pytest here: every warning is an error
COMMAND = [sys.executable, "-m", "aioh5saver"]


def run_cli(*args: str | Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], prefix: str) -> str:
    """Read the process's stdout until a line starts with ``prefix``; return that line."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line
    _, stderr = process.communicate(timeout=30)
    raise AssertionError(f"the process ended without printing {prefix!r}: {stderr}")


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """The rest of the process's stdout and its stderr, once it ended. Read through the same
    buffered pipes as wait_for_line (communicate() would skip lines already buffered)."""
    assert process.stdout is not None
    assert process.stderr is not None
    with process.stdout, process.stderr:
        stdout = process.stdout.read()
        stderr = process.stderr.read()
    process.wait(timeout=timeout)
    return stdout, stderr


def assert_one_line_error(
    done: subprocess.CompletedProcess[str], command: str, *needles: str
) -> None:
    """Exit status 2, nothing on stdout, and exactly one line on stderr, from the command,
    saying error, holding each needle, and no traceback."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{command}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file written by ``aioh5saver demo --seconds 1``."""
    folder = tmp_path_factory.mktemp("cli_demo")
    done = run_cli("demo", "--seconds", "1", "--out", "demo.h5", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "demo.h5"


# -- help and bad arguments --------------------------------------------------------------------


def test_help_lists_every_command_and_each_command_has_help(tmp_path: Path) -> None:
    """--help exits 0 listing the five commands; each command's --help exits 0 and shows its
    options."""
    done = run_cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("demo", "inspect", "follow", "recover", "bench"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), command
    options = {
        "demo": ["--out", "--force", "--seconds", "--no-swmr", "--backend"],
        "inspect": ["PATH", "--log-lines"],
        "follow": ["PATH", "--seconds"],
        "recover": ["PATH"],
        "bench": ["--quick", "--out", "--rounds", "--workloads", "--contenders", "--sweep"],
    }
    for command, expected in options.items():
        done = run_cli(command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: aioh5saver {command}")
        for option in expected:
            assert option in done.stdout, (command, option)


def test_console_script_runs_the_same_command_line(tmp_path: Path) -> None:
    """The installed ``aioh5saver`` script (next to the interpreter) is this command line."""
    script = Path(sys.executable).parent / "aioh5saver"
    if not script.exists():
        pytest.skip("the console script is not installed beside this interpreter")
    done = subprocess.run(
        [script, "inspect", tmp_path / "missing.h5"], capture_output=True, text=True, timeout=60
    )
    assert_one_line_error(done, "aioh5saver inspect", "no such file")


BAD_ARGUMENTS = {
    "no command": ([], "aioh5saver", ["expected a command"]),
    "unknown command": (["frobnicate"], "aioh5saver", ["invalid choice", "frobnicate"]),
    "zero seconds": (["demo", "--seconds", "0"], "aioh5saver demo", ["--seconds", "'0'"]),
    "negative seconds": (["demo", "--seconds", "-2"], "aioh5saver demo", ["--seconds", "-2"]),
    "nan seconds": (["demo", "--seconds", "nan"], "aioh5saver demo", ["positive", "nan"]),
    "inf seconds": (["demo", "--seconds", "inf"], "aioh5saver demo", ["positive", "inf"]),
    "text seconds": (["demo", "--seconds", "ten"], "aioh5saver demo", ["positive", "ten"]),
    "unknown option": (["demo", "--frames", "3"], "aioh5saver demo", ["unrecognized", "--frames"]),
    "unknown backend": (["demo", "--backend", "curio"], "aioh5saver demo", ["curio"]),
    "follow zero seconds": (
        ["follow", "x.h5", "--seconds", "0"],
        "aioh5saver follow",
        ["--seconds", "positive"],
    ),
    "inspect without a path": (["inspect"], "aioh5saver inspect", ["PATH"]),
    "negative log lines": (
        ["inspect", "x.h5", "--log-lines", "-1"],
        "aioh5saver inspect",
        ["--log-lines", "-1"],
    ),
    "demo into a missing folder": (
        ["demo", "--out", "no/such/folder/d.h5"],
        "aioh5saver demo",
        ["no/such/folder", "does not exist"],
    ),
    "inspect a missing file": (["inspect", "gone.h5"], "aioh5saver inspect", ["no such file"]),
    "follow a missing file": (["follow", "gone.h5"], "aioh5saver follow", ["no such file"]),
    "recover a missing file": (["recover", "gone.h5"], "aioh5saver recover", ["no such file"]),
    "inspect a folder": (["inspect", "."], "aioh5saver inspect", ["is a folder"]),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_and_missing_files_exit_2_with_one_line(tmp_path: Path, case: str) -> None:
    """Each bad argument or missing file: exit status 2, one line on stderr naming the command
    and the problem, nothing on stdout, no traceback, and no file written."""
    args, command, needles = BAD_ARGUMENTS[case]
    done = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(done, command, *needles)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["inspect", "follow", "recover"])
def test_a_file_that_is_not_hdf5_exits_2_with_one_line_and_is_left_alone(
    tmp_path: Path, command: str
) -> None:
    """inspect, follow and recover on a text file: status 2, one line, the file unchanged."""
    path = tmp_path / "notes.h5"
    path.write_text("not an HDF5 file\n" * 100)
    before = path.read_bytes()
    done = run_cli(command, path, cwd=tmp_path)
    assert_one_line_error(done, f"aioh5saver {command}", str(path))
    assert path.read_bytes() == before


def test_demo_refuses_to_overwrite_a_file_unless_forced(tmp_path: Path) -> None:
    """An existing --out file is refused (status 2, the file untouched); with --force it is
    replaced by the demo's HDF5 file."""
    out = tmp_path / "taken.h5"
    out.write_bytes(b"precious")
    done = run_cli("demo", "--seconds", "0.3", "--out", out, cwd=tmp_path)
    assert_one_line_error(done, "aioh5saver demo", str(out), "exists", "--force")
    assert out.read_bytes() == b"precious"
    done = run_cli("demo", "--seconds", "0.3", "--out", out, "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with h5py.File(out, "r") as f:
        assert f[PHOTODIODE].shape == (300, 1)


def test_demo_out_may_name_a_folder_to_write_in(tmp_path: Path) -> None:
    """--out naming an existing folder writes demo-YYYYmmdd-HHMMSS.h5 inside it."""
    folder = tmp_path / "runs"
    folder.mkdir()
    done = run_cli("demo", "--seconds", "0.3", "--out", folder, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (written,) = folder.iterdir()
    assert re.fullmatch(r"demo-\d{8}-\d{6}\.h5", written.name)
    assert done.stdout.splitlines()[-1] == f"file: {written.resolve()}"


# -- inspect -----------------------------------------------------------------------------------


def test_inspect_shows_groups_arrays_shapes_dtypes_attributes_and_last_logs(
    demo_file: Path,
) -> None:
    """inspect prints the groups, each array with its shape and dtype, decoded attributes and
    the last log lines, and leaves the file's bytes as they were."""
    before = demo_file.read_bytes()
    done = run_cli("inspect", demo_file, "--attrs", cwd=demo_file.parent)
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    with h5py.File(demo_file, "r") as f:
        rows = {path: f[path].shape[0] for path in (PHOTODIODE, SPECTROMETER, CAMERA, STAGE)}
    for group in ("RawData", "Scan000", "Detector000", "Detector001", "Detector002"):
        assert re.search(rf"^\s+{group}\s+\[GROUP\]", shown, re.MULTILINE), group
    assert re.search(rf"EnlData00\s+\[EARRAY\]\s+shape \({rows[PHOTODIODE]}, 1\)\s+float64", shown)
    assert re.search(
        rf"EnlData00\s+\[EARRAY\]\s+shape \({rows[SPECTROMETER]}, 2048\)\s+float64", shown
    )
    assert re.search(
        rf"EnlData00\s+\[EARRAY\]\s+shape \({rows[CAMERA]}, 512, 512\)\s+uint16", shown
    )
    assert re.search(r"Axis00\s+\[CARRAY\]\s+shape \(2048,\)\s+float64", shown)
    assert "@units = nm" in shown  # a decoded attribute, not its JSON envelope
    assert '"module"' not in shown
    assert shown.rstrip().endswith("demo finished after 1 s")
    assert demo_file.read_bytes() == before


def test_output_cut_short_by_its_reader_ends_quietly_with_141(demo_file: Path) -> None:
    """When the program reading the output quits (``aioh5saver inspect f | head``), the
    command ends with status 141 (128 + SIGPIPE) and writes nothing on stderr."""
    process = subprocess.Popen(
        [*COMMAND, "inspect", demo_file], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.close()  # long before the child has read the file and prints its tree
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141
    assert stderr == b""


# -- follow against a demo in another process --------------------------------------------------


def _rows_by_path(lines: list[str]) -> dict[str, list[tuple[int, str]]]:
    """For each array path in follow's update lines: (rows, the rest of the line), in order."""
    found: dict[str, list[tuple[int, str]]] = {}
    for line in lines:
        match = re.match(r"\s*[\d.]+ s  (/\S+)  (\d+) rows?  \+\d+  (.*)$", line)
        if match:
            found.setdefault(match[1], []).append((int(match[2]), match[3]))
    return found


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``aioh5saver demo --seconds 7.5`` started in another process; yielded once it printed
    that it started (its camera joins 2.5 s later). Killed if the test leaves it running."""
    out = tmp_path / "live.h5"
    demo = start_cli("demo", "--seconds", "7.5", "--out", out, cwd=tmp_path)
    try:
        wait_for_line(demo, "demo: started")
        assert out.exists()
        yield demo, out
    finally:
        if demo.poll() is None:
            demo.kill()
        if demo.stdout is not None and not demo.stdout.closed:
            finish(demo)


def test_follow_reports_a_running_demo_until_it_closes_the_file(
    running_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    """follow, started once the demo runs, reports every array with growing row counts and
    rates, the late camera as a new array, and exits 0 when the demo closes the file, with
    the file's final row counts."""
    demo, out = running_demo
    follow = start_cli("follow", out, cwd=out.parent)
    try:
        first = wait_for_line(follow, "following ")
        assert first == f"following {out} until the writer closes it\n"
        rest, follow_stderr = finish(follow)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=30)
    demo_stdout, demo_stderr = finish(demo)
    assert demo.returncode == 0, demo_stderr
    assert follow.returncode == 0, follow_stderr
    assert follow_stderr == ""
    lines = [first.rstrip("\n"), *rest.splitlines()]

    updates = _rows_by_path(lines)
    assert set(updates) == {LOGGER, PHOTODIODE, SPECTROMETER, CAMERA, STAGE}
    for path in (LOGGER, PHOTODIODE, SPECTROMETER, STAGE):
        assert updates[path][0][1] == "(found)", path
    assert updates[CAMERA][0][1] == "(new array)"  # it joined after follow's first look
    photodiode = [rows for rows, _ in updates[PHOTODIODE]]
    assert len(photodiode) >= 5
    assert photodiode == sorted(photodiode)
    assert updates[PHOTODIODE][1][1] == "(rate from its next change)"
    assert all(re.fullmatch(r"[\d.]+ rows/s", rest) for _, rest in updates[PHOTODIODE][2:])

    closed = lines.index(next(line for line in lines if "writer closed the file" in line))
    final = dict(re.findall(r"^\s+(/\S+)\s+(\d+) rows$", "\n".join(lines[closed + 1 :]), re.M))
    with h5py.File(out, "r") as f:
        for path in (PHOTODIODE, SPECTROMETER, CAMERA, STAGE):
            assert int(final[path]) == f[path].shape[0], path
    assert f"file: {out.resolve()}" in demo_stdout


def test_inspect_reads_the_file_while_the_demo_writes_it(
    running_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    """inspect, run again and again while the demo writes under SWMR (the late camera's
    arrays created meanwhile), always exits 0 with the tree, the writer undisturbed."""
    demo, out = running_demo
    looks = 0
    while demo.poll() is None:
        done = run_cli("inspect", out, "--log-lines", "2", cwd=out.parent)
        if done.returncode != 0 and demo.poll() is not None:
            break  # the demo ended while inspect was starting: not what is tested
        assert done.returncode == 0, done.stderr
        assert re.search(r"Detector000\s+\[GROUP\]", done.stdout)
        looks += 1
    _, demo_stderr = finish(demo)
    assert demo.returncode == 0, demo_stderr
    assert looks >= 3
    with h5py.File(out, "r") as f:
        assert f[PHOTODIODE].shape == (7500, 1)


def test_follow_stops_after_its_seconds_while_the_writer_goes_on(
    running_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    """follow --seconds 3 on a demo still running reports its arrays, exits 0 after 3 s and
    says the writer still has the file open."""
    demo, out = running_demo
    done = run_cli("follow", out, "--seconds", "3", cwd=out.parent)
    assert done.returncode == 0, done.stderr
    assert demo.poll() is None  # the demo is still writing
    assert PHOTODIODE in done.stdout
    assert done.stdout.splitlines()[-1] == "stopped after 3 s; the writer still has the file open"


# -- Ctrl-C ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_ends_the_demo_with_130_and_a_closed_file(tmp_path: Path, backend: str) -> None:
    """SIGINT during a demo: exit status 130, one line on stderr naming the file, no
    traceback, and the file closed properly with at least the rows reported before it."""
    out = tmp_path / "interrupted.h5"
    demo = start_cli("demo", "--seconds", "60", "--backend", backend, "--out", out, cwd=tmp_path)
    wait_for_line(demo, "demo: started")
    progress = wait_for_line(demo, "  1.0/60 s |")  # acquiring for a second already
    shown = re.search(r"photodiode (\d+) rows", progress)
    assert shown is not None
    demo.send_signal(signal.SIGINT)
    _, stderr = finish(demo)
    assert demo.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines() == [
        f"aioh5saver demo: interrupted; the file was closed with what was written: {out.resolve()}"
    ]
    with h5py.File(out, "r") as f:  # opens without recovery: the writer closed it
        assert f[PHOTODIODE].shape[0] >= int(shown[1]) > 0


# -- recover a file whose writer was killed -----------------------------------------------------

WRITER_SCRIPT = textwrap.dedent(
    """
    import sys

    import anyio
    import numpy as np

    from aioh5saver import AsyncH5Saver


    async def main(path):
        async with AsyncH5Saver.open(path, swmr=True) as saver:
            det = await saver.add_det_group(saver.raw_group, title="doomed")
            array = await saver.add_array(
                det, "data", "data_enlargeable", data_shape=(4,), array_type="float64",
                enlargeable=True, data_dimension="Data1D",
            )
            await saver.append(array, np.arange(40.0).reshape(10, 4))
            await saver.add_log("before the kill")
            await saver.flush()
            print("flushed", flush=True)
            await anyio.sleep_forever()


    anyio.run(main, sys.argv[1])
    """
)
KILLED_ARRAY = "/RawData/Detector000/Data"
# The version 2/3 superblock with 8-byte addresses: signature, versions and sizes, flags, four
# addresses, checksum. recover may rewrite it, and nothing after it.
SUPERBLOCK_BYTES = 48


@pytest.fixture
def killed_writer_file(tmp_path: Path) -> Path:
    """A file whose SWMR writer flushed 10 rows and a log line, then was killed with SIGKILL;
    recover is tried once while the writer still runs, and must refuse."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    path = tmp_path / "killed.h5"
    writer = subprocess.Popen(
        [sys.executable, script, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "flushed\n", writer.stderr
        before = path.read_bytes()
        busy = run_cli("recover", path, cwd=tmp_path)
        assert_one_line_error(busy, "aioh5saver recover", str(path))
        assert path.read_bytes() == before
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    return path


def test_recover_makes_a_killed_writers_file_readable_and_changes_only_the_superblock(
    killed_writer_file: Path,
) -> None:
    """HDF5 refuses the killed writer's file; recover exits 0 and reports the array's 10 rows;
    then h5py reads the rows written, and only the superblock's bytes changed. A second
    recover finds nothing to do and changes nothing."""
    path = killed_writer_file
    with pytest.raises(OSError, match=r"(?i)open for (swmr )?writ"):
        h5py.File(path, "r").close()
    before = path.read_bytes()

    done = run_cli("recover", path, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert re.search(rf"{re.escape(KILLED_ARRAY)}\s+10 rows", done.stdout)

    after = path.read_bytes()
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed
    assert max(changed) < SUPERBLOCK_BYTES
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f[KILLED_ARRAY][()], np.arange(40.0).reshape(10, 4))

    again = run_cli("recover", path, cwd=path.parent)
    assert again.returncode == 0, again.stderr
    assert "Nothing to do" in again.stdout
    assert path.read_bytes() == after


# -- bench -------------------------------------------------------------------------------------


def test_bench_forwards_its_options_to_the_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench --quick --out DIR, and any other harness option, reach the harness parsed as it
    parses them, and its exit status is the command's."""
    seen: list[argparse.Namespace] = []

    def fake_run_bench(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(aioh5saver.tools.bench.cli, "run_bench", fake_run_bench)
    status = cli.main(["bench", "--quick", "--out", str(tmp_path), "--rounds", "1"])
    assert status == 0
    assert [(args.quick, args.out, args.rounds) for args in seen] == [(True, tmp_path, 1)]


def test_bench_harness_refusal_becomes_one_line_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A harness that exits with a message (an unknown workload) ends the command with status
    2 and that one line."""

    def refusing_run_bench(args: argparse.Namespace) -> int:
        raise SystemExit("aioh5saver bench: error: --workloads: expected names among W1, W2")

    monkeypatch.setattr(aioh5saver.tools.bench.cli, "run_bench", refusing_run_bench)
    assert cli.main(["bench", "--workloads", "W9"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "aioh5saver bench: error: --workloads: expected names among W1, W2\n"
