"""The README's Python examples run as written, and every file its async examples write loads in
pymodaq_data 5.3.0's DataLoader: each enlargeable channel as exactly the rows in the file, with
its signal and navigation axes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules.data_saving import DataLoader
from pymodaq_data.h5modules.saving import H5SaverLowLevel as PymodaqSaver

README = Path(__file__).resolve().parent.parent / "README.md"


def python_examples() -> list[str]:
    """The README's ```python blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def printed_as_documented(example: str) -> list[str]:
    """The output an example documents: the ``# ...`` lines right after a ``print(...)`` line."""
    documented: list[str] = []
    following_print = False
    for line in example.splitlines():
        if following_print and line.startswith("# "):
            documented.append(line[2:])
            continue
        following_print = line.startswith("print(")
    return documented


def enlargeable_channels(path: Path) -> list[str]:
    """The paths of the enlargeable data arrays (``data_type`` 'data_enlargeable') in a file."""
    found: list[str] = []

    def visit(name: str, node: object) -> None:
        if isinstance(node, h5py.Dataset) and "data_enlargeable" in str(
            node.attrs.get("data_type", "")
        ):
            found.append(f"/{name}")

    with h5py.File(path, "r") as file:
        file.visititems(visit)
    return found


def test_the_readme_has_async_examples_and_says_what_they_print() -> None:
    """The extraction below finds the README's async example(s) and the read-back example's
    documented output (so that the test after it checks something)."""
    examples = python_examples()
    assert sum("AsyncH5Saver" in example for example in examples) >= 1
    assert any(printed_as_documented(example) for example in examples)


@pytest.mark.filterwarnings("ignore::pymodaq_data.data.DataDimWarning")
def test_every_readme_example_runs_and_its_files_load_in_dataloader(tmp_path: Path) -> None:
    """Each README Python example runs as written (in order, in one folder, without a
    warning), prints what the README says it prints, and after each async example every
    enlargeable channel of every file written loads in DataLoader as the rows in the file,
    along navigation dimension 0, with each axis's values as stored."""
    checked = 0
    for number, example in enumerate(python_examples()):
        done = subprocess.run(
            [sys.executable, "-c", example],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (number, done.stderr)
        assert done.stderr == "", (number, done.stderr)
        documented = printed_as_documented(example)
        if documented:
            assert done.stdout.splitlines()[-len(documented) :] == documented, number
        if "AsyncH5Saver" not in example:
            continue
        files = sorted(tmp_path.glob("*.h5"))
        assert files, number
        for path in files:
            channels = enlargeable_channels(path)
            assert channels, (number, path)
            for channel in channels:
                check_loads_as_stored(path, channel)
                checked += 1
    assert checked >= 1


def check_loads_as_stored(path: Path, channel: str) -> None:
    """DataLoader loads ``channel`` as the rows stored, with every axis stored beside it and in
    the NavAxes group of its detector."""
    with h5py.File(path, "r") as file:
        rows = file[channel][()]
        parent = file[channel].parent
        detector = parent.parent.parent
        stored_axes = {
            str(node.attrs["TITLE"]): node[()]
            for group in (parent, detector.get("NavAxes", {}))
            for name, node in group.items()
            if name.startswith("Axis")
        }
    reader = PymodaqSaver(backend="h5py")
    reader.init_file(path, new_file=False, mode="r")
    try:
        data = DataLoader(reader).load_data(channel)
    finally:
        reader.close_file()
    expected = rows[:, 0] if rows.shape[1:] == (1,) else rows
    assert data.nav_indexes == (0,), channel
    np.testing.assert_array_equal(data.data[0], expected)
    loaded = {axis.label: axis.get_data() for axis in data.axes}
    assert set(loaded) == set(stored_axes), channel
    for label, values in stored_axes.items():
        np.testing.assert_allclose(loaded[label], values, err_msg=f"{channel} {label}")
