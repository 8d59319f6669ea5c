"""``aioh5saver view`` as a user runs it: it says where to reach the view, stops cleanly on
Ctrl-C, and says in one line what is wrong (no such file, the extra not installed, the port
taken)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

pytest.importorskip("h5grove")

from view_client import api, view_process

pytestmark = pytest.mark.timeout(90)


def run_cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``aioh5saver ARGS`` in a child process, after the Python code ``prelude``."""
    code = (
        f"{prelude or 'pass'}; import sys; from aioh5saver.tools.cli import main; sys.exit(main())"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def small_file(h5_path: Path) -> Path:
    with h5py.File(h5_path, "w", libver="latest") as file:
        file["x"] = [1.0, 2.0]
    return h5_path


def test_view_prints_its_url_serves_and_stops_on_ctrl_c(small_file: Path) -> None:
    """The command prints the URL it serves at (127.0.0.1, a free port for ``--port 0``),
    answers there, and Ctrl-C ends it with status 130 and one line, no traceback."""
    with view_process(small_file) as view:
        assert view.url.startswith("http://127.0.0.1:")
        assert api(view, "meta", path="/x")[1]["shape"] == [2]
        view.process.send_signal(signal.SIGINT)
        _, stderr = view.process.communicate(timeout=30)
    assert view.process.returncode == 130
    assert stderr.strip() == "aioh5saver view: interrupted"


def test_view_without_the_extra_says_how_to_install_it(small_file: Path) -> None:
    """Without h5grove, one line says which extra to install; exit status 2."""
    result = run_cli("view", str(small_file), prelude="import sys; sys.modules['h5grove'] = None")
    assert result.returncode == 2
    assert result.stderr == (
        "aioh5saver view: error: the live view needs the 'view' extra: "
        "pip install 'aioh5saver[view]'\n"
    )


def test_view_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    """A path that names no file: one line, exit status 2."""
    result = run_cli("view", str(tmp_path / "absent.h5"))
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "no such file" in result.stderr


def test_view_on_a_port_in_use_says_so(small_file: Path) -> None:
    """A port another program listens on: one line naming it and the way out (--port 0)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("view", str(small_file), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr == (
        f"aioh5saver view: error: --port {port}: already in use; choose another, or 0 for "
        "any free one\n"
    )


def test_view_refuses_a_port_out_of_range(small_file: Path) -> None:
    """A port TCP cannot have: one line saying the range, exit status 2."""
    result = run_cli("view", str(small_file), "--port", "70000")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "expected a port from 0 to 65535, got '70000'" in result.stderr
