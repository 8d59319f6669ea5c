"""``aioh5saver import``: a local file written by aioh5saver or by pymodaq_data becomes an HSDS
domain that exports back to the same file (canonical dump) and that aioh5saver's saver reads as
it reads the local file; run as a user runs it, against a real service on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import aioh5saver as h5s
from reference import canonical_dump, write_scenario

pytestmark = pytest.mark.timeout(120)


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aioh5saver", *arguments],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _saver_reads(location: str | Path) -> tuple[list[str], dict[str, str], list[str]]:
    """What aioh5saver's saver reads: every node's path, each array's dtype and rows (as text,
    so that NaN equals NaN), the log."""
    saver = h5s.H5SaverLowLevel.from_file(location, mode="r")
    try:
        nodes = list(saver.walk_nodes("/"))
        arrays = {
            node.path: f"{np.asarray(node.read()).dtype} {np.asarray(node.read()).tolist()}"
            for node in nodes
            if "ARRAY" in str(saver.get_attr(node, "CLASS")) and "Logger" not in node.path
        }
        return [node.path for node in nodes], arrays, saver.get_set_logger().read()
    finally:
        saver.close_file()


@pytest.mark.parametrize("writer", ["aioh5saver", "pymodaq_data.h5modules.saving"])
def test_an_imported_file_exports_back_to_the_same_file(
    hsds_location: str, tmp_path: Path, writer: str
) -> None:
    """The reference scenario written locally (by aioh5saver, by pymodaq_data), imported to a
    domain and exported again, is the same file in the canonical dump (tree, attributes with
    their HDF5 types, data, Logger rows); aioh5saver's saver reads the domain as the file."""
    local = tmp_path / "local.h5"
    back = tmp_path / "back.h5"
    write_scenario(writer, local)
    imported = _run("import", str(local), hsds_location)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"{hsds_location}: 8 groups, 8 arrays")
    exported = _run("export", hsds_location, str(back))
    assert exported.returncode == 0, exported.stderr
    assert canonical_dump(back) == canonical_dump(local)
    assert _saver_reads(hsds_location) == _saver_reads(local)


def test_hard_links_are_imported_as_hard_links(hsds_location: str, tmp_path: Path) -> None:
    """An object reached by two hard links is one object on the domain: exported back, the
    file is the same, with the second link pointing to the first object."""
    local = tmp_path / "local.h5"
    back = tmp_path / "back.h5"
    write_scenario("aioh5saver", local)
    with h5py.File(local, "a") as file:
        file["/RawData/again"] = file["/RawData/Scan000/Detector000"]
    imported = _run("import", str(local), hsds_location)
    assert imported.returncode == 0, imported.stderr
    assert "1 hard links" in imported.stdout
    assert _run("export", hsds_location, str(back)).returncode == 0
    assert canonical_dump(back) == canonical_dump(local)
    with h5py.File(back, "r") as file:
        assert file["/RawData/again"] == file["/RawData/Scan000/Detector000"]


def test_an_existing_domain_is_not_replaced_without_force(
    hsds_location: str, tmp_path: Path
) -> None:
    """Importing onto an existing domain: exit status 2, one error line, the domain as it
    was; ``--force`` replaces it."""
    first = tmp_path / "first.h5"
    second = tmp_path / "second.h5"
    write_scenario("aioh5saver", first)
    with h5py.File(second, "w") as file:
        file.attrs["only"] = "second"
    assert _run("import", str(first), hsds_location).returncode == 0
    refused = _run("import", str(second), hsds_location)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "which exists" in refused.stderr
    assert "RawData" in _run("inspect", hsds_location).stdout
    assert _run("import", "--force", str(second), hsds_location).returncode == 0
    shown = _run("inspect", hsds_location, "--attrs").stdout
    assert "RawData" not in shown
    assert "@only = second" in shown


def test_a_missing_source_gives_one_error_line(hsds_location: str, tmp_path: Path) -> None:
    """Importing a file that does not exist: exit status 2, one line naming it."""
    shown = _run("import", str(tmp_path / "absent.h5"), hsds_location)
    assert shown.returncode == 2
    assert shown.stderr.count("\n") == 1
    assert "absent.h5" in shown.stderr
