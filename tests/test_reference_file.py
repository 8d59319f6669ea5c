"""The reference scenario gives the same file as pymodaq_data 5.3.0 wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES


def test_reference_scenario_dump_matches_pymodaq_data_reference(tmp_path: Path) -> None:
    """scenario_reference.py run with aioh5saver, printed by h5tree.py, is exactly
    reference_pymodaq_h5py.txt (nodes, shapes, dtypes, attributes byte for byte, data)."""
    out = tmp_path / "out.h5"
    subprocess.run(
        [sys.executable, FIXTURES / "scenario_reference.py", "aioh5saver", out], check=True
    )
    dump = subprocess.run(
        [sys.executable, FIXTURES / "h5tree.py", out], check=True, capture_output=True, text=True
    ).stdout
    assert dump == (FIXTURES / "reference_pymodaq_h5py.txt").read_text()
