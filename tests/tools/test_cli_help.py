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


def test_bench_help_lists_the_harness_options_with_their_real_defaults(tmp_path: Path) -> None:
    """``aioh5saver bench --help`` exits 0 and shows every harness option (not only after a
    bad argument), the workloads' definitions, and the report folder's real default."""
    done = run_cli("bench", "--help", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    text = " ".join(done.stdout.split())
    for option in ("--quick", "--out DIR", "--rounds", "--workloads", "--contenders", "--sweep"):
        assert option in text, option
    assert "default: ./bench-report, in the current folder" in text
    assert "the harness's" not in text
    assert "W1, 8 producers x scalar float64 rows" in text


def test_bench_bad_option_is_one_line_and_status_2(tmp_path: Path) -> None:
    """A bad harness option ends with one line on stderr naming it, status 2, no usage dump."""
    done = run_cli("bench", "--rounds", "zero", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("aioh5saver bench: error: argument --rounds:")


def test_bench_quick_says_its_not_met_lines_are_expected(tmp_path: Path) -> None:
    """A --quick run prints, after its targets, that NOT MET lines are expected in quick mode
    and that a full run judges the targets; report.md says it too."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aioh5saver",
            "bench",
            "--quick",
            "--rounds",
            "1",
            "--workloads",
            "W2",
            "--contenders",
            "aioh5saver,idle loop",
            "--out",
            str(tmp_path / "report"),
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    targets_end = text.rindex("(target ")
    note = text.index("quick mode: runs of 0.4 s on small sizes, a smoke test.")
    assert note > targets_end
    assert "NOT MET lines are expected here" in text
    assert "judge the targets on a full run" in (tmp_path / "report" / "report.md").read_text()
