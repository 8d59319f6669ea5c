"""What ``aioh5saver`` tells a user about itself, run as a user runs it (in a subprocess): its
version, what ``demo --help`` says about the file it writes and its "dropped" column, what
``bench --help`` lists, and the extras that ``pip install '.[cli]'`` brings."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import aioh5saver

ENV = {**os.environ, "PYTHONWARNINGS": "error", "COLUMNS": "100"}
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aioh5saver", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_option_prints_the_package_metadata_version(tmp_path: Path) -> None:
    """``aioh5saver --version`` prints "aioh5saver X" with X the installed metadata's version,
    which ``aioh5saver.__version__`` gives too, and exits 0."""
    done = run_cli("--version", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    expected = importlib.metadata.version("aioh5saver")
    assert done.stdout.strip() == f"aioh5saver {expected}"
    assert aioh5saver.__version__ == expected


def test_the_cli_extra_brings_trio_for_demo_backend_trio() -> None:
    """``pip install '.[cli]'`` installs trio, which ``demo --backend trio`` needs, and rich."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    names = {requirement.split(">")[0].split("=")[0].strip() for requirement in extras["cli"]}
    assert {"trio", "rich"} <= names
