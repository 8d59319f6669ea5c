"""A SWMR writer killed between any two of its writes during a SWMR pause (a structure change,
the fold of staged log lines, flushes without SWMR, SWMR starting again, the close) leaves a
file that ``recover`` makes whole, with every acknowledged row and log line.

Random kills (``test_kill9.py``) land in a pause only now and then, and within a pause rarely
inside a flush, where HDF5 without SWMR writes in any order. Here the writer child is preloaded
with ``tests/native/kill_at_write.c`` and kills itself at its k-th write to a file after it
arms the counter, for k = 1, 2, ... through the whole pause: every state the disk can be left
in is checked. ``AIOH5SAVER_STRESS=full`` checks every k; a plain run every twelfth k (a
different twelfth per backend and SWMR setting, so that the four runs cover a third).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

import aioh5saver
from aioh5saver.engine.journal import journal_path
from conftest import FULL_STRESS

NATIVE = Path(__file__).parents[1] / "native" / "kill_at_write.c"

WRITER = textwrap.dedent(
    """
    import ctypes, json, os, sys

    import anyio
    import numpy as np

    from aioh5saver import AsyncH5Saver
    from aioh5saver.aio.tuning import WriterTuning

    PATH, BACKEND, KILL_AT, RESUME = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    # "never": SWMR stays paused until the close; "at_once": it starts again at the next append.
    TUNING = WriterTuning(swmr_resume_delay_s=1e9 if RESUME == "never" else 0.0)
    counter = ctypes.CDLL(os.environ["KILL_AT_WRITE"])


    def say(**event):
        sys.stdout.write(json.dumps(event) + "\\n")
        sys.stdout.flush()


    def rows(start, count):
        return (np.arange(start, start + count)[:, None] * 10 + np.arange(4)).astype("float64")


    async def main():
        async with AsyncH5Saver.open(PATH, swmr=True, tuning=TUNING) as saver:
            scan = await saver.add_scan_group(saver.raw_group, title="scan")
            det = await saver.add_det_group(scan, title="det 0")
            group = await saver.add_data_group(det, "Data1D")
            channel = await saver.add_ch_group(group, title="spectrum")
            array = await saver.add_array(
                channel, "data", "data_enlargeable", data_shape=(4,), array_type="float64",
                enlargeable=True, data_dimension="Data1D",
            )
            count = logs = 0

            async def append_and_log(times):
                nonlocal count, logs
                for _ in range(times):
                    await saver.append(array, rows(count, 2))
                    count += 2
                    await saver.add_log(f"log {logs}")
                    logs += 1

            for _ in range(3):
                await saver.add_log(f"log {logs}")
                logs += 1
            await append_and_log(5)
            await saver.flush()
            say(event="ack", rows=count, logs=logs)
            counter.kill_at_write_arm(KILL_AT)
            late = await saver.add_det_group(scan, title="det 1")
            await saver.set_attr(late, "heartbeat", 1)
            await append_and_log(3)
            await saver.flush()
            say(event="ack", rows=count, logs=logs)
            await append_and_log(3)
        say(event="ack", rows=count, logs=logs, writes=counter.kill_at_write_count())


    anyio.run(main, backend=BACKEND)
    """
)

CHECKER = textwrap.dedent(
    """
    import json, sys

    import h5py
    import numpy as np

    from aioh5saver.format.pickled_str import decode_pickled_str
    from aioh5saver.format.staging import STAGING_SUFFIX
    from aioh5saver.sync.staging import read_staged

    answer = {}
    with h5py.File(sys.argv[1], "r") as file:
        arrays = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.attrs.get("CLASS") == "EARRAY":
                if obj.dtype.kind == "f":
                    data = obj[()]
                    expected = np.arange(data.shape[0])[:, None] * 10 + np.arange(4)
                    wrong = int((~(data == expected).all(axis=1)).sum())
                    arrays[name] = {"rows": int(data.shape[0]), "wrong": wrong}

        file.visititems(visit)
        answer["arrays"] = arrays
        logger = "/RawData/Logger"
        lines = [decode_pickled_str(row.tobytes()) for row in file[logger][()]]
        if logger + STAGING_SUFFIX in file:
            lines += read_staged(file[logger + STAGING_SUFFIX])
        answer["logs"] = lines
    print(json.dumps(answer))
    """
)


@pytest.fixture(scope="module")
def kill_at_write(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The preload library, built here with the C compiler (every CI machine has one)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None, "this test builds tests/native/kill_at_write.c: install gcc"
    library = tmp_path_factory.mktemp("native") / "kill_at_write.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(NATIVE), "-ldl"],
        check=True,
    )
    return library


def _write_scripts(tmp_path: Path) -> None:
    """The writer's and the checker's scripts, written once: kill points run two at a time."""
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "checker.py").write_text(CHECKER)


async def _run_writer(
    tmp_path: Path, library: Path, backend: str, kill_at: int, resume: str
) -> tuple[Path, int, list[dict[str, Any]], str]:
    path = tmp_path / f"kill{kill_at}.h5"
    script = tmp_path / "writer.py"
    env = {**os.environ, "KILL_AT_WRITE": str(library), "LD_PRELOAD": str(library)}
    command = [sys.executable, str(script), str(path), backend, str(kill_at), resume]
    with anyio.fail_after(60):
        result = await anyio.run_process(command, check=False, env=env)
    events = [json.loads(line) for line in result.stdout.decode().splitlines() if line]
    return path, result.returncode, events, result.stderr.decode()[-2000:]


async def _problems(tmp_path: Path, path: Path, ack: dict[str, Any]) -> list[str]:
    """What is wrong with the killed writer's file once recovered."""
    try:
        await anyio.to_thread.run_sync(aioh5saver.recover, path)
    except Exception as exc:
        return [f"recover failed: {exc!r}"]
    if journal_path(path).exists():
        return ["recover left the journal behind"]
    script = tmp_path / "checker.py"
    with anyio.fail_after(60):
        result = await anyio.run_process([sys.executable, str(script), str(path)], check=False)
    if result.returncode != 0:
        return [f"h5py cannot read it after recover: {result.stderr.decode()[-600:]}"]
    answer = json.loads(result.stdout)
    problems = []
    data = [found for name, found in answer["arrays"].items() if name.endswith("Ch000/Data")]
    if not data or data[0]["rows"] < ack["rows"]:
        problems.append(f"rows {answer['arrays']}, {ack['rows']} acknowledged")
    for name, found in answer["arrays"].items():
        if found["wrong"]:
            problems.append(f"{name}: {found['wrong']} of {found['rows']} rows are wrong")
    logs = answer["logs"]
    if logs != [f"log {index}" for index in range(len(logs))] or len(logs) < ack["logs"]:
        problems.append(f"log lines {logs}, {ack['logs']} acknowledged")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("resume", ["never", "at_once"])
async def test_a_kill_at_any_write_of_a_swmr_pause_is_undone_by_recover(
    tmp_path: Path, anyio_backend: str, kill_at_write: Path, resume: str
) -> None:
    """Killed before any one of its writes during a SWMR pause (SWMR kept off until the close,
    or started again at once), the writer leaves a file that recover makes readable by h5py,
    with every acknowledged row (all of them right) and every acknowledged log line, in
    order, and no journal left behind."""
    _write_scripts(tmp_path)
    path, returncode, events, stderr = await _run_writer(
        tmp_path, kill_at_write, anyio_backend, 0, resume
    )
    assert returncode == 0, stderr
    writes = events[-1]["writes"]
    assert writes > 20, f"expected the pause to write the file many times, got {writes} writes"
    path.unlink()
    # In CI, each of the four cases kills at every 12th write, the four at different ones.
    stride = 1 if FULL_STRESS else 12
    offset = 1 + 3 * (
        ["asyncio", "trio"].index(anyio_backend) + 2 * ["never", "at_once"].index(resume)
    )
    failures: list[str] = []

    async def kill_and_check(kill_at: int) -> None:
        path, returncode, events, stderr = await _run_writer(
            tmp_path, kill_at_write, anyio_backend, kill_at, resume
        )
        if returncode != -signal.SIGKILL:
            failures.append(f"killed at write {kill_at}: exit status {returncode}, {stderr}")
            return
        acks = [event for event in events if event["event"] == "ack"]
        problems = await _problems(tmp_path, path, acks[-1])
        if problems:
            failures.append(f"killed at write {kill_at} of {writes}: " + "; ".join(problems))
        path.unlink()

    # Two kill points at a time: each is two child processes that keep a core busy, while
    # this process only waits for them.
    limiter = anyio.CapacityLimiter(2)

    async def limited(kill_at: int) -> None:
        async with limiter:
            await kill_and_check(kill_at)

    async with anyio.create_task_group() as tg:
        for kill_at in range(offset, writes + 1, stride):
            tg.start_soon(limited, kill_at)
    assert not failures, "\n".join(sorted(failures))
