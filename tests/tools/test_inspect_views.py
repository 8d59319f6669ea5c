"""inspect's views, run as a user runs them: by default the tree without attributes (each node
says how many it has), --attrs every attribute, --depth N only the nodes N levels deep at most
(the rest counted), --flat one line per node with its full path, listing the paths h5ls -r
lists; and the rendering of each view from a report, deterministically."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver.tools.render import render_report

COMMAND = [sys.executable, "-m", "aioh5saver"]
ENV = {**os.environ, "PYTHONWARNINGS": "error"}
CHANNEL = "/RawData/Scan000/Detector000/Data1D/Ch000"


def run_inspect(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "inspect", str(path), *options],
        cwd=path.parent,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def scan_file(h5_path: Path) -> Path:
    """A PyMoDAQ scan: a detector's 1D channel with an axis (units in nm), an enlargeable
    array of 5 rows, and a log line."""
    saver = h5s.H5SaverLowLevel.from_file(h5_path, new_file=True)
    scan = saver.add_scan_group(saver.raw_group, title="scan")
    det = saver.add_det_group(scan, title="spectrometer")
    data = saver.add_data_group(det, "Data1D")
    channel = saver.add_ch_group(data, title="CH00")
    axis = saver.add_array(
        channel, "axis", "axis", array_to_save=np.linspace(0, 1, 8), data_dimension="Data1D"
    )
    saver.set_attr(axis, "units", "nm")
    array = saver.add_array(
        channel,
        "data",
        "data",
        data_shape=(8,),
        array_type=np.float64,
        enlargeable=True,
        data_dimension="Data1D",
    )
    array.append(np.ones((5, 8)))
    saver.add_log("one line")
    saver.close_file()
    return h5_path


def tree_lines(stdout: str) -> list[str]:
    """The lines of the tree: after the heading, up to the first blank line."""
    return stdout.split("\n\n")[0].splitlines()[1:]


def test_inspect_shows_the_tree_without_attributes_by_default(scan_file: Path) -> None:
    """The default: one line per node, indented by depth, with its kind, shape, dtype and how
    many attributes it has; no attribute line; the log lines after the tree."""
    done = run_inspect(scan_file)
    assert done.returncode == 0, done.stderr
    tree = tree_lines(done.stdout)
    assert not any(line.lstrip().startswith("@") for line in tree), tree
    assert re.search(r"^  RawData  \[GROUP\]  \(\d+ attributes\)$", done.stdout, re.M)
    assert re.search(
        r"^ {12}Data  \[EARRAY\]  shape \(5, 8\)  float64  \(\d+ attributes\)$",
        done.stdout,
        re.M,
    ), done.stdout
    assert done.stdout.rstrip().endswith("one line")
    assert len(tree) == 9  # / RawData Logger Scan000 Detector000 Data1D Ch000 Axis Data
    shown = run_inspect(scan_file, "--attrs")
    assert shown.returncode == 0, shown.stderr
    assert "@units = nm" in shown.stdout
    assert len(tree_lines(shown.stdout)) > 3 * len(tree)


def test_inspect_depth_shows_the_nodes_down_to_that_level_and_counts_the_rest(
    scan_file: Path,
) -> None:
    """--depth 0 shows the root alone, --depth 2 the root and two levels; a last line counts
    the nodes left out; the log is still shown; a negative depth exits 2 with one line."""
    root_only = run_inspect(scan_file, "--depth", "0")
    assert root_only.returncode == 0, root_only.stderr
    assert tree_lines(root_only.stdout)[0].startswith("/  [GROUP]")
    assert "… and 8 nodes deeper than 0 levels not shown (see --depth)" in root_only.stdout

    two = run_inspect(scan_file, "--depth", "2")
    assert two.returncode == 0, two.stderr
    names = [line.split("  [")[0].strip() for line in tree_lines(two.stdout)[:-1]]
    assert names == ["/", "RawData", "Logger", "Scan000"]
    assert "… and 5 nodes deeper than 2 levels not shown" in two.stdout
    assert "one line" in two.stdout

    bad = run_inspect(scan_file, "--depth", "-1")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1
    assert bad.stderr.startswith("aioh5saver inspect: error: argument --depth")


def test_inspect_flat_lists_the_full_paths_h5ls_lists(scan_file: Path) -> None:
    """--flat prints one line per node starting with its full path, no indentation: the same
    paths, in the same order, as `h5ls -r` (hdf5-tools); with --attrs each node's attributes
    follow its line."""
    done = run_inspect(scan_file, "--flat")
    assert done.returncode == 0, done.stderr
    tree = tree_lines(done.stdout)
    assert all(line.startswith("/") for line in tree), tree
    paths = [line.split("  [")[0] for line in tree]
    assert f"{CHANNEL}/Data" in paths
    h5ls = shutil.which("h5ls")
    if h5ls is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but h5ls (hdf5-tools) is not installed")
        pytest.skip("h5ls is not installed (apt-get install hdf5-tools)")
    listed = subprocess.run([h5ls, "-r", str(scan_file)], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert paths == [line.split()[0] for line in listed.stdout.splitlines()]

    with_attrs = run_inspect(scan_file, "--flat", "--attrs")
    lines = tree_lines(with_attrs.stdout)
    at = lines.index(next(line for line in lines if line.startswith(f"{CHANNEL}/Axis  [")))
    block = []
    for line in lines[at + 1 :]:
        if line.startswith("/"):
            break
        block.append(line)
    assert "    @units = nm" in block, block


def test_render_report_views_of_one_report() -> None:
    """From one report: attributes below their node or counted on its line; nodes past the
    depth counted; flat lines carry the full path; errors and outside notes shown in every
    view."""
    report = h5s.FileReport(
        path="f.h5",
        size_bytes=10,
        writing=False,
        swmr=False,
        nodes=(
            h5s.NodeInfo("/", "GROUP", None, None, {"CLASS": "GROUP"}),
            h5s.NodeInfo("/a", "GROUP", None, None, {}),
            h5s.NodeInfo("/a/b", "EARRAY", (3, 2), "float64", {"units": "s", "x": 1}, error="!"),
            h5s.NodeInfo("/a/b2", "CARRAY", (2,), "int8", {}, outside="other.bin"),
        ),
        log_lines=(),
    )
    tree = render_report(report, attrs=False).splitlines()[1:]
    assert tree == [
        "/  [GROUP]  (1 attribute)",
        "  a  [GROUP]",
        "    b  [EARRAY]  shape (3, 2)  float64  (2 attributes)",
        "        ! !",
        "    b2  [CARRAY]  shape (2,)  int8",
        "        ! data in other files, never read: other.bin",
    ]
    assert render_report(report).splitlines()[1:5] == [
        "/  [GROUP]",
        "    @CLASS = GROUP",
        "  a  [GROUP]",
        "    b  [EARRAY]  shape (3, 2)  float64",
    ]
    assert render_report(report, attrs=False, depth=1).splitlines()[1:] == [
        "/  [GROUP]  (1 attribute)",
        "  a  [GROUP]",
        "… and 2 nodes deeper than 1 level not shown (see --depth)",
    ]
    assert render_report(report, attrs=False, flat=True, depth=2).splitlines()[4:7] == [
        "    ! !",
        "/a/b2  [CARRAY]  shape (2,)  int8",
        "    ! data in other files, never read: other.bin",
    ]
