"""``aioh5saver inspect``, ``follow`` and ``recover`` on an HSDS domain (``hsds://...``), run as
a user runs them (``python -m aioh5saver ...``) against a real service on loopback: inspect
prints the tree a local file of the same content gives, follow shows rows as the writer
flushes and ends when it closes the domain (or exits 3 when its writer was killed), and a
missing domain or ``recover`` gives one error line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import aioh5saver as h5s
from reference import VOLATILE_ROOT_ATTRS, write_scenario

pytestmark = pytest.mark.timeout(120)


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aioh5saver", *arguments],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _start_follow(location: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aioh5saver", "follow", location, "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_until(process: subprocess.Popen[str], text: str) -> list[str]:
    """follow's lines up to the first that holds ``text`` (the test's timeout bounds it)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(f"follow ended before printing {text!r}: {lines}")


def _new_enlargeable(saver: h5s.H5SaverLowLevel) -> h5s.EnlargeableArrayNode:
    scan = saver.add_scan_group(saver.raw_group, title="scan")
    detector = saver.add_det_group(scan, title="det")
    data = saver.add_data_group(detector, "Data0D", title="power")
    return saver.add_array(
        data, "data", "data_enlargeable", data_shape=(1,), array_type="float64",
        enlargeable=True, data_dimension="Data0D",
    )  # fmt: skip


@pytest.mark.parametrize("attrs", ["--no-attrs", "--attrs"])
def test_inspect_of_a_domain_prints_the_tree_of_the_same_local_file(
    hsds_location: str, tmp_path: Path, attrs: str
) -> None:
    """The reference scenario written to a domain and to a local file: ``inspect`` of the
    domain prints the same tree (kinds, shapes, dtypes, decoded attributes) and the same last
    log lines as ``inspect`` of the file; only the first line differs, naming an HSDS domain
    with no appender left."""
    local = tmp_path / "local.h5"
    write_scenario("aioh5saver", local)
    write_scenario("aioh5saver", hsds_location)
    of_domain = _run("inspect", hsds_location, attrs)
    of_file = _run("inspect", str(local), attrs)
    assert of_domain.returncode == 0, of_domain.stderr
    assert of_file.returncode == 0, of_file.stderr
    domain_lines = of_domain.stdout.splitlines()
    assert domain_lines[0] == f"{hsds_location}  (HSDS domain, no appender)"
    # The root's volatile attributes (its name, when it was written) differ.
    assert _without_name(domain_lines[1:]) == _without_name(of_file.stdout.splitlines()[1:])
    assert any("Enl_uint16  [EARRAY]  shape (5, 2, 3)  uint16" in line for line in domain_lines)
    assert any("Logger  [StringARRAY]  shape (2,)" in line for line in domain_lines)
    assert domain_lines[-2:] == ["  log message 1", "  log message 2"]


def _without_name(lines: list[str]) -> list[str]:
    volatile = tuple(f"    @{name} = " for name in VOLATILE_ROOT_ATTRS)
    return [line for line in lines if not line.startswith(volatile)]


def test_inspect_of_a_domain_being_written_names_its_held_arrays(hsds_location: str) -> None:
    """While a writer holds an array (its first append claimed it), ``inspect`` says the
    domain is being written, shows the rows of the last flush, and notes the held array."""
    saver = h5s.H5SaverLowLevel(save_type="scan")
    saver.init_file(hsds_location, new_file=True)
    try:
        array = _new_enlargeable(saver)
        array.append(np.array([1.0, 2.0, 3.0]).reshape(3, 1))
        saver.flush()
        shown = _run("inspect", hsds_location)
    finally:
        saver.close_file()
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{hsds_location}  (HSDS domain, being written: an appender holds arrays)"
    assert any("[EARRAY]  shape (3, 1)  float64" in line for line in lines), lines
    assert "1 arrays are held by an appender" in shown.stdout


@pytest.mark.parametrize("command", ["inspect", "follow"])
def test_a_missing_domain_gives_one_error_line(hsds_location: str, command: str) -> None:
    """``inspect`` and ``follow`` of a domain that does not exist: exit status 2 and one line
    naming the domain and what was expected, nothing on stdout."""
    shown = _run(command, hsds_location)
    assert shown.returncode == 2
    assert shown.stdout == ""
    assert shown.stderr.count("\n") == 1
    assert hsds_location in shown.stderr
    assert "expected an existing domain" in shown.stderr


def test_recover_does_not_apply_to_a_domain(hsds_location: str) -> None:
    """``recover`` of a domain: exit status 2 and one line saying it does not apply."""
    shown = _run("recover", hsds_location)
    assert shown.returncode == 2
    assert shown.stderr.count("\n") == 1
    assert "recover does not apply to a domain" in shown.stderr


def test_follow_shows_flushed_rows_and_ends_when_the_writer_closes(hsds_location: str) -> None:
    """``follow`` of a domain shows each array's rows after the writer's flush, and ends (exit
    status 0) with the final rows once the writer has closed the domain."""
    saver = h5s.H5SaverLowLevel(save_type="scan")
    saver.init_file(hsds_location, new_file=True)
    with _start_follow(hsds_location) as follow:
        try:
            _follow_a_writer(saver, follow, hsds_location)
        finally:
            follow.kill()  # ended already, unless the test failed


def _follow_a_writer(
    saver: h5s.H5SaverLowLevel, follow: subprocess.Popen[str], hsds_location: str
) -> None:
    try:
        array = _new_enlargeable(saver)
        array.append(np.arange(4.0).reshape(4, 1))
        saver.flush()
        seen = _read_until(follow, f"{array.path}  4 rows")
        assert seen[0].startswith(f"following {hsds_location}")
        array.append(np.arange(3.0).reshape(3, 1))
        saver.flush()
        _read_until(follow, f"{array.path}  7 rows  +3")
        array.append(np.arange(2.0).reshape(2, 1))
    finally:
        saver.close_file()
    rest = _read_until(follow, "writer closed the file; final rows:")
    assert follow.wait(timeout=60) == 0
    assert follow.stdout is not None
    final = follow.stdout.read().splitlines()
    assert f"  {array.path}  9 rows" in final, (rest, final)


_KILLED_WRITER = """
import sys, time
import numpy as np
import aioh5saver as h5s
saver = h5s.H5SaverLowLevel(save_type="scan")
saver.init_file(sys.argv[1], new_file=True)
det = saver.add_det_group(saver.add_scan_group(saver.raw_group, title="scan"), title="det")
array = saver.add_array(
    saver.add_data_group(det, "Data0D", title="power"), "data", "data_enlargeable",
    data_shape=(1,), array_type="float64", enlargeable=True, data_dimension="Data0D",
)
array.append(np.arange(5.0).reshape(5, 1))
saver.flush()
print("flushed", flush=True)
time.sleep(600)
"""


def test_follow_exits_3_when_the_writer_was_killed(hsds_location: str) -> None:
    """A writer killed (SIGKILL) with the domain open leaves its claim: ``follow`` shows the
    rows it flushed and exits 3, saying which attribute to delete, once the claiming process
    is found gone from this machine."""
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, hsds_location],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "flushed"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    started = time.monotonic()
    shown = _run("follow", hsds_location, "--interval", "0.1")
    assert shown.returncode == 3, (shown.stdout, shown.stderr)
    assert "5 rows" in shown.stdout
    assert "aioh5saver_appender" in shown.stdout
    assert time.monotonic() - started < 60
