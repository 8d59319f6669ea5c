"""The README's snippet for calls from a thread anyio did not start (a vendor SDK's callback
thread) runs as written from a plain ``threading.Thread``, on asyncio and on trio, and every
row it appends reaches the file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
ENV = {**os.environ, "PYTHONWARNINGS": "error"}  # as pytest here: every warning is an error


def thread_snippet() -> str:
    """The README's Python example that calls the saver from a plain thread."""
    examples = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    found = [example for example in examples if "threading.Thread" in example]
    assert len(found) == 1, "expected one README example that starts a threading.Thread"
    return found[0]


def test_the_snippet_takes_the_loop_token_and_passes_it_from_the_plain_thread() -> None:
    """The documented way: the token is taken on the loop and handed to from_thread.run."""
    snippet = thread_snippet()
    assert "anyio.lowlevel.current_token()" in snippet
    assert "token=token" in snippet
    assert "anyio.run(main)" in snippet


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_readme_thread_snippet_appends_every_row_from_a_plain_thread(
    backend: str, tmp_path: Path
) -> None:
    """Run as written (on ``backend``), the snippet's plain thread appends its 50 spectra through
    ``anyio.from_thread.run(..., token=token)``: it prints 50, writes nothing on stderr (a
    thread that raised would), and the file holds the 50 rows."""
    code = thread_snippet().replace("anyio.run(main)", f"anyio.run(main, backend={backend!r})")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[-1] == "50"
    with h5py.File(tmp_path / "sdk.h5", "r") as file:
        rows = file["/RawData/Scan000/Detector000/Data1D/CH00/EnlData00"][()]
    assert rows.shape == (50, 2048)
    assert [row[0] for row in rows] == list(range(50))
