"""Crash safety: AsyncH5Saver writers killed with SIGKILL (``kill -9``), with and without SWMR.

A writer child process (:data:`WRITER_SCRIPT`, on the test's anyio backend) appends rows whose
content encodes their index (:func:`expected_rows`: a torn, shifted, shuffled or unwritten row
shows), flushes from time to time and prints one JSON line after each *completed* ``flush()``
with the rows and log lines it acknowledges; at random it adds a late detector (a structure
change, which pauses SWMR inside the saver) or a log line. The test kills it at a moment of its
choosing, then checks the file it left:

- before :func:`aioh5saver.recover`: a SWMR reader opens it (writers killed under SWMR) and every
  array holds at least every acknowledged row, and every row it holds is whole and right;
- :func:`aioh5saver.recover` succeeds and reports at least the acknowledged rows and lines;
- after it, ``h5py.File(path, "a")`` opens it, ``AsyncH5Saver.open(path, new_file=False)``
  appends more rows to the same arrays and closes, and the final file holds the old rows then
  the new ones, with the log lines in order, as aioh5saver and pymodaq_data read it.

Everything that opens a killed file runs in a child process (:data:`CHECKER_SCRIPT`, one per
test, answering JSON lines), bounded in time: a damaged file may crash or hang HDF5. Kills are
ordered on the writer's lines; the only sleep is the random extra delay that places the kill.

``AIOH5SAVER_STRESS=full`` runs the random kills at full size; ``AIOH5SAVER_KILL_SEED`` changes
their base seed (every failure names the seed of its kill); ``AIOH5SAVER_KILL_ONLY=<seed>`` runs
only the kill of that seed (the kill lands at a time, so it may take several runs to recur);
``AIOH5SAVER_KILL_STRUCTURE_P`` sets the chance of a late detector after each ack (0.25 puts
most kills in a SWMR pause, where the rollback journal is at work).
"""

from __future__ import annotations

import inspect
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import numpy as np
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

import aioh5saver
from aioh5saver import AsyncH5Saver
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE
from conftest import FULL_STRESS
from helpers import pymodaq_read

pytestmark = pytest.mark.anyio

#: Random kills of a SWMR writer: (CI, AIOH5SAVER_STRESS=full), per backend.
SWMR_KILLS = (5, 300)
#: Base seed of the random kills (each kill draws its own seed from it).
BASE_SEED = int(os.environ.get("AIOH5SAVER_KILL_SEED", "20261124"))
#: The seed of the one random kill to run, if given (to reproduce a failure).
ONLY_SEED = (
    int(os.environ["AIOH5SAVER_KILL_ONLY"]) if os.environ.get("AIOH5SAVER_KILL_ONLY") else None
)
#: Rows appended to every array when the acquisition is continued after a kill.
MORE_ROWS = 3
#: What a checker request may take before the checker counts as hung.
CHECK_TIMEOUT_S = 60.0
#: The log line the continued acquisition adds.
CONTINUED = "continued after the kill"


def expected_rows(start: int, count: int, shape: Sequence[int], dtype: str) -> np.ndarray:
    """Rows ``start`` to ``start + count - 1`` of every test array: element ``j`` (flat) of row
    ``i`` holds ``(i + j) % 65535 + 1``, never 0 (the fill value), so that a row not written,
    torn, shifted or put at the wrong index does not match."""
    size = int(np.prod(shape, dtype=np.int64))
    values = (np.arange(start, start + count)[:, np.newaxis] + np.arange(size)) % 65535 + 1
    return values.astype(dtype).reshape(count, *shape)


ROWS_SOURCE = inspect.getsource(expected_rows)

WRITER_SCRIPT = (
    textwrap.dedent(
        """
        from __future__ import annotations

        import json
        import random
        import sys

        import anyio
        import numpy as np

        from aioh5saver import AsyncH5Saver

        PATH, BACKEND, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3])
        CONFIG = json.loads(sys.argv[4])
        KINDS = {
            "scalar": ((1,), "float64", "Data0D"),
            "spectrum": ((256,), "float64", "Data1D"),
            "frame": ((64, 64), "uint16", "Data2D"),
        }
        """
    )
    + ROWS_SOURCE
    + textwrap.dedent(
        '''

        def say(**event):
            sys.stdout.write(json.dumps(event) + "\\n")
            sys.stdout.flush()


        async def main():
            """CONFIG: swmr, mode ("stream": until killed; "idle": stop after ``acks`` acks;
            "pause": after ``acks`` acks add a detector, then keep SWMR paused by changing an
            attribute before every flush), structure_p (chance of a late detector after an
            ack), log_p (chance of a log line after an append), pace (seconds)."""
            rng = random.Random(SEED)
            mode = CONFIG["mode"]
            async with AsyncH5Saver.open(PATH, swmr=CONFIG["swmr"]) as saver:
                scan = await saver.add_scan_group(saver.raw_group, title="kill -9 run")
                arrays = {}
                logs = 0
                acks = 0

                async def add_detector(kind):
                    det = await saver.add_det_group(scan, title=f"{kind} {len(arrays)}")
                    shape, dtype, dim = KINDS[kind]
                    group = await saver.add_data_group(det, dim)
                    channel = await saver.add_ch_group(group, title=kind)
                    ref = await saver.add_array(
                        channel, "data", "data_enlargeable", data_shape=shape, array_type=dtype,
                        enlargeable=True, data_dimension=dim,
                    )
                    arrays[ref.path] = [ref, shape, dtype, 0]
                    return det

                async def append_some():
                    nonlocal logs
                    entry = rng.choice(list(arrays.values()))
                    ref, shape, dtype, count = entry
                    n = rng.choice([1, 1, 1, 2, 5])
                    rows = expected_rows(count, n, shape, dtype)
                    await saver.append(ref, rows if n > 1 else rows[0])
                    entry[3] += n
                    if rng.random() < CONFIG["log_p"]:
                        await saver.add_log(f"log {logs}")
                        logs += 1
                    await anyio.sleep(CONFIG["pace"] if rng.random() < 0.5 else 0)

                async def flush_and_ack(**extra):
                    nonlocal acks
                    await saver.flush()
                    acks += 1
                    say(event="ack", n=acks, rows={p: e[3] for p, e in arrays.items()},
                        logs=logs, swmr=saver.statistics().swmr_active, **extra)

                for kind in KINDS:
                    await add_detector(kind)
                while mode == "stream" or acks < CONFIG["acks"]:
                    for _ in range(rng.randint(1, 40)):
                        await append_some()
                    await flush_and_ack()
                    if mode == "stream" and rng.random() < CONFIG["structure_p"]:
                        say(event="structure", arrays=len(arrays))
                        await add_detector(rng.choice(list(KINDS)))
                        say(event="structure_done", arrays=len(arrays))
                if mode == "idle":
                    say(event="idle")
                    await anyio.sleep_forever()
                late = await add_detector(rng.choice(list(KINDS)))
                beat = 0
                while True:
                    for _ in range(rng.randint(1, 10)):
                        await append_some()
                    beat += 1
                    # A structure change: SWMR stays paused while they keep coming.
                    await saver.set_attr(late, "heartbeat", beat)
                    await flush_and_ack(beat=beat)
                    if beat == 3:
                        say(event="paused", swmr=saver.statistics().swmr_active)


        anyio.run(main, backend=BACKEND)
        '''
    )
)

CHECKER_SCRIPT = (
    textwrap.dedent(
        """
        from __future__ import annotations

        import json
        import sys

        import h5py
        import numpy as np

        from aioh5saver.format.pickled_str import decode_pickled_str
        from aioh5saver.format.staging import STAGING_SUFFIX
        from aioh5saver.sync.staging import read_staged

        LOGGER = "/RawData/Logger"
        """
    )
    + ROWS_SOURCE
    + textwrap.dedent(
        '''

        def check_arrays(file):
            """Every numeric EARRAY: its rows, row shape, dtype, and the rows that are wrong."""
            found = {}

            def visit(name, obj):
                if (
                    isinstance(obj, h5py.Dataset)
                    and obj.attrs.get("CLASS") == "EARRAY"
                    and not name.endswith(STAGING_SUFFIX)
                    and obj.dtype.kind in "fiu"
                ):
                    data = obj[()]
                    rows, shape = data.shape[0], data.shape[1:]
                    expected = expected_rows(0, rows, shape, data.dtype.str)
                    size = int(np.prod(shape, dtype=np.int64))
                    right = (data == expected).reshape(rows, size).all(axis=1)
                    bad = np.flatnonzero(~right).tolist()
                    found[obj.name] = {
                        "rows": rows, "shape": list(shape), "dtype": data.dtype.str,
                        "bad": bad[:10], "bad_count": len(bad),
                    }

            file.visititems(visit)
            return found


        def log_lines(file):
            """The Logger's lines, then those still staged under SWMR (their order in time)."""
            lines = [decode_pickled_str(row.tobytes()) for row in file[LOGGER][()]]
            if LOGGER + STAGING_SUFFIX in file:
                lines += read_staged(file[LOGGER + STAGING_SUFFIX])
            return lines


        for line in sys.stdin:
            request = json.loads(line)
            try:
                options = {"libver": "latest", "swmr": True} if request["swmr"] else {}
                with h5py.File(request["path"], request["mode"], **options) as file:
                    answer = {"ok": True, "arrays": check_arrays(file)}
                    try:
                        answer["logs"] = log_lines(file)
                    except Exception as exc:
                        answer["logs_error"] = f"{type(exc).__name__}: {exc}"
                # answered once the file is closed
            except Exception as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(answer) + "\\n")
            sys.stdout.flush()
        '''
    )
)


class Checker:
    """The checker child: opens a file as asked (in HDF5, which a damaged file may crash or
    hang), checks every row of its arrays and answers; restarted after a crash or a hang."""

    def __init__(self, tmp_path: Path) -> None:
        self.script = tmp_path / "kill9_checker.py"
        self.script.write_text(CHECKER_SCRIPT)
        self.stderr_path = tmp_path / "kill9_checker.err"
        self._process: anyio.abc.Process | None = None
        self._lines: BufferedByteReceiveStream | None = None

    async def _start(self) -> tuple[anyio.abc.Process, BufferedByteReceiveStream]:
        if self._process is None or self._lines is None:
            with self.stderr_path.open("ab") as stderr:
                self._process = await anyio.open_process(
                    [sys.executable, str(self.script)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                )
            assert self._process.stdout is not None
            self._lines = BufferedByteReceiveStream(self._process.stdout)
        return self._process, self._lines

    async def read(self, path: Path, *, mode: str = "r", swmr: bool = False) -> dict[str, Any]:
        """Open ``path`` with ``h5py.File(path, mode)`` (as a SWMR reader if ``swmr``), check
        its arrays, close it; ``{"ok": True, "arrays": ...}`` or ``{"ok": False, "error": ...}``
        (the checker crashing or hanging is an error too)."""
        process, lines = await self._start()
        assert process.stdin is not None
        request = json.dumps({"path": str(path), "mode": mode, "swmr": swmr}) + "\n"
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                await process.stdin.send(request.encode())
                answer: dict[str, Any] = json.loads(await lines.receive_until(b"\n", 1 << 24))
            return answer
        except (TimeoutError, anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            await self.aclose()
            return {"ok": False, "error": f"HDF5 crashed or hung opening {path} (mode {mode})"}

    async def aclose(self) -> None:
        """Stop the checker (it is started again by the next request)."""
        process, self._process, self._lines = self._process, None, None
        if process is not None:
            with anyio.CancelScope(shield=True):
                if process.returncode is None:
                    process.kill()
                await process.wait()
                await process.aclose()


@asynccontextmanager
async def checker_process(tmp_path: Path) -> AsyncIterator[Checker]:
    """A :class:`Checker` for the test, stopped at the end."""
    checker = Checker(tmp_path)
    try:
        yield checker
    finally:
        await checker.aclose()


@dataclass
class Kill:
    """What the writer said before it was killed, and the state it left the file in."""

    seed: int
    events: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    flags: int | None = None
    delay: float = 0.0
    trigger: int = 0  # the index of the line after which the kill was sent

    @property
    def last_ack(self) -> dict[str, Any]:
        """The last acknowledged flush (every ack counts, also those read after the kill)."""
        acks = [event for event in self.events if event["event"] == "ack"]
        assert acks, f"seed {self.seed}: the writer was killed before its first ack"
        return acks[-1]

    @property
    def state(self) -> str:
        """What the superblock's flags say the writer was doing when it died."""
        if self.flags is None:
            return "no flags (superblock v0: a file written without SWMR)"
        if self.flags & FLAG_SWMR_WRITE:
            return "SWMR on"
        if self.flags & FLAG_WRITE:
            return "SWMR paused (open for writing without SWMR)"
        return "closed (between the close and the reopen that pause SWMR)"

    @property
    def moment(self) -> str:
        """When the kill came, as far as the writer's lines and the superblock tell."""
        return (
            f"killed {self.delay * 1000:.0f} ms after line {self.trigger + 1} "
            f"({_describe(self.events[self.trigger])}), last line {len(self.events)} "
            f"({_describe(self.events[-1])}); superblock flags {self.flags}: {self.state}"
        )


def _is_ack(event: dict[str, Any], at_least: int) -> bool:
    return event["event"] == "ack" and int(event["n"]) >= at_least


def _describe(event: dict[str, Any]) -> str:
    if event["event"] == "ack":
        swmr = "on" if event["swmr"] else "off"
        return f"ack {event['n']}, {sum(event['rows'].values())} rows, SWMR {swmr}"
    if event["event"] == "structure":
        return f"adding detector {event['arrays']}"
    if event["event"] == "structure_done":
        return f"detector {event['arrays'] - 1} added"
    return str(event["event"])


class WriterExitedError(AssertionError):
    """The writer child ended by itself, before the test killed it."""


async def run_and_kill(
    tmp_path: Path,
    path: Path,
    backend: str,
    seed: int,
    config: dict[str, Any],
    kill_after: Callable[[dict[str, Any]], bool],
    delay: float = 0.0,
) -> Kill:
    """Run the writer child until it prints a line ``kill_after`` accepts, wait ``delay``
    seconds more (it runs on meanwhile), SIGKILL it, and collect every line it printed."""
    script = tmp_path / "kill9_writer.py"
    script.write_text(WRITER_SCRIPT)
    kill = Kill(seed=seed, delay=delay)
    command = [sys.executable, str(script), str(path), backend, str(seed), json.dumps(config)]
    stderr_path = tmp_path / f"{path.stem}.writer.err"
    with stderr_path.open("wb") as stderr:
        process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=stderr)
    async with process:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        try:
            with anyio.fail_after(60):
                while True:
                    try:
                        line = await lines.receive_until(b"\n", 1 << 24)
                    except (anyio.EndOfStream, anyio.IncompleteRead):
                        raise WriterExitedError(
                            f"seed {seed}: the writer exited before it was killed: "
                            f"{stderr_path.read_text()[-3000:]}"
                        ) from None
                    kill.events.append(json.loads(line))
                    if kill_after(kill.events[-1]):
                        kill.trigger = len(kill.events) - 1
                        break
                await anyio.sleep(delay)  # places the kill at random: not an ordering
        finally:
            if process.returncode is None:
                process.kill()  # SIGKILL
        with anyio.fail_after(30):
            while True:  # the lines it printed before it died: acks count even if read now
                try:
                    line = await lines.receive_until(b"\n", 1 << 24)
                except (anyio.EndOfStream, anyio.IncompleteRead):
                    break  # a line cut by the kill is no ack
                kill.events.append(json.loads(line))
            kill.returncode = await process.wait()
    assert kill.returncode == -signal.SIGKILL, (kill.returncode, stderr_path.read_text()[-3000:])
    kill.flags = read_superblock(path).flags
    return kill


def _content_problems(
    answer: dict[str, Any],
    ack: dict[str, Any],
    when: str,
    *,
    continued: bool = False,
    exact: bool = False,
) -> list[str]:
    """What a checker's answer shows wrong: an acknowledged row or log line missing (with
    ``exact``: any row or line more than acknowledged, too), a row that is not whole and right,
    log lines out of order or unreadable."""
    problems = []
    arrays = answer["arrays"]
    for path, rows in ack["rows"].items():
        if path not in arrays:
            problems.append(f"{when}: {path} is missing ({rows} rows acknowledged)")
        elif arrays[path]["rows"] < rows or (exact and arrays[path]["rows"] != rows):
            problems.append(
                f"{when}: {path} holds {arrays[path]['rows']} rows, {rows} were acknowledged"
            )
    if exact and set(arrays) != set(ack["rows"]):
        problems.append(f"{when}: arrays {sorted(arrays)}, acknowledged {sorted(ack['rows'])}")
    for path, found in arrays.items():
        if found["bad_count"]:
            problems.append(
                f"{when}: {path}: {found['bad_count']} of {found['rows']} rows are wrong "
                f"(torn, shuffled or garbage), first at {found['bad']}"
            )
    if "logs_error" in answer:
        return [*problems, f"{when}: the Logger cannot be read: {answer['logs_error']}"]
    logs: list[str] = answer["logs"]
    tail = [CONTINUED] if continued else []
    written = [f"log {index}" for index in range(len(logs) - len(tail))]
    if (
        logs != written + tail
        or len(written) < ack["logs"]
        or (exact and len(written) != ack["logs"])
    ):
        problems.append(
            f"{when}: the log lines are {logs[:3]}...{logs[-3:]} ({len(logs)}), expected "
            f"'log 0' to at least 'log {ack['logs'] - 1}' in order"
            + (", then " + CONTINUED)
            * continued
        )
    return problems


def _logger_lines(path: Path) -> list[str]:
    """The Logger's lines as aioh5saver's safe reader decodes them."""
    saver = aioh5saver.H5SaverLowLevel.from_file(path, mode="r")
    try:
        lines = saver.read_strings("/RawData/Logger")
    finally:
        saver.close_file()
    return lines


async def check_killed_file(
    path: Path, kill: Kill, checker: Checker, *, swmr_reader: bool, exact: bool = False
) -> list[str]:
    """Every check of a file left by a killed writer; the problems found (empty if none).

    ``swmr_reader``: open the file as a SWMR reader before recovering it (a writer killed under
    SWMR); otherwise as a plain reader (a file written without SWMR). ``exact``: the writer
    appended nothing after its last ack, so the file must hold exactly what it acknowledged."""
    ack = kill.last_ack
    before = await checker.read(path, swmr=swmr_reader)
    reader = "a SWMR reader" if swmr_reader else "a reader"
    # Killed while SWMR was paused for a structure change (HDF5 creates nothing under SWMR),
    # the superblock says "open for writing without SWMR", and HDF5 lets no reader in until
    # recover clears that flag: the documented exception (docs/crash-safety.md). Everything
    # else is checked after recover as for any kill.
    paused = swmr_reader and kill.flags == FLAG_WRITE
    if before["ok"]:
        problems = _content_problems(before, ack, "before recover", exact=exact)
    elif paused and "not already open for SWMR writing" in before["error"]:
        problems = []
    else:
        problems = [f"{reader} cannot open the file before recover: {before['error']}"]

    try:
        report = await anyio.to_thread.run_sync(aioh5saver.recover, path)
    except Exception as exc:
        return [*problems, f"recover failed: {exc!r}"]
    for array, rows in ack["rows"].items():
        if report.arrays.get(array, -1) < rows:
            problems.append(f"recover reports {report.arrays.get(array)} rows in {array}")
    if report.log_lines < ack["logs"]:
        problems.append(f"recover reports {report.log_lines} log lines, {ack['logs']} acked")

    after = await checker.read(path, mode="a")
    if not after["ok"]:
        return [*problems, f"h5py.File(path, 'a') fails after recover: {after['error']}"]
    problems += _content_problems(after, ack, "after recover", exact=exact)

    arrays: dict[str, Any] = after["arrays"]
    try:
        with anyio.fail_after(60):
            async with AsyncH5Saver.open(path, new_file=False) as saver:
                for array, found in arrays.items():
                    new = expected_rows(found["rows"], MORE_ROWS, found["shape"], found["dtype"])
                    await saver.append(array, new)
                await saver.add_log(CONTINUED)
    except Exception as exc:
        return [*problems, f"continuing with AsyncH5Saver(new_file=False) failed: {exc!r}"]

    final = await checker.read(path)
    if not final["ok"]:
        return [*problems, f"the continued file cannot be opened: {final['error']}"]
    for array, found in arrays.items():
        rows = final["arrays"].get(array, {}).get("rows")
        if rows != found["rows"] + MORE_ROWS:
            problems.append(f"continued: {array} holds {rows} rows, not {found['rows']} + 3")
    problems += _content_problems(final, ack, "continued", continued=True)
    if problems:
        return problems

    logs = _logger_lines(path)
    if logs != final["logs"]:
        problems.append(f"aioh5saver reads the log lines as {logs}, h5py as {final['logs']}")
    pm_data, pm_logs = pymodaq_read(path, list(arrays))
    if pm_logs != logs:
        problems.append(f"pymodaq_data reads the log lines as {pm_logs}, aioh5saver as {logs}")
    for array, found in arrays.items():
        rows = found["rows"] + MORE_ROWS
        expected = expected_rows(0, rows, found["shape"], found["dtype"])
        if not np.array_equal(pm_data[array].reshape(expected.shape), expected):
            problems.append(f"pymodaq_data reads {array} differently")
    return problems


STREAM_CONFIG = {
    "mode": "stream",
    "structure_p": float(os.environ.get("AIOH5SAVER_KILL_STRUCTURE_P", "0.02")),
    "log_p": 0.05,
    "pace": 0.001,
}

KILL_TIMEOUT_S = 60 + 8 * SWMR_KILLS[1 if FULL_STRESS else 0]


@pytest.mark.slow
@pytest.mark.timeout(KILL_TIMEOUT_S)
async def test_swmr_kills_at_random_moments_leave_readable_files_with_every_flushed_row(
    tmp_path: Path, anyio_backend: str, stress_size: Callable[[int, int], int]
) -> None:
    """A SWMR writer killed with SIGKILL at random moments (appending, flushing, adding a late
    detector while SWMR is paused, logging) leaves a file that a SWMR reader opens (after
    recover() if the kill came while SWMR was paused), holding every row acknowledged by a
    completed flush() and only whole, right rows; recover() makes it writable, and the
    acquisition continues in the same arrays."""
    kills = stress_size(*SWMR_KILLS)
    base = BASE_SEED + (0 if anyio_backend == "asyncio" else 1)
    seeds = random.Random(base)
    failures: list[str] = []
    states: list[str] = []
    async with checker_process(tmp_path) as checker:
        drawn = [seeds.randrange(2**32) for _ in range(kills)]
        chosen = drawn if ONLY_SEED is None else [ONLY_SEED]
        for index, seed in enumerate(chosen):
            choose = random.Random(seed)
            acks, delay = choose.randint(1, 40), choose.uniform(0.0, 0.1)
            path = tmp_path / f"kill{index}.h5"
            try:
                kill = await run_and_kill(
                    tmp_path,
                    path,
                    anyio_backend,
                    seed,
                    {**STREAM_CONFIG, "swmr": True},
                    partial(_is_ack, at_least=acks),
                    delay,
                )
            except WriterExitedError as exc:
                failures.append(str(exc))
                continue
            states.append(kill.state)
            problems = await check_killed_file(path, kill, checker, swmr_reader=True)
            if problems:
                failures.append(f"seed {seed}, {kill.moment}:\n    " + "\n    ".join(problems))
            else:
                path.unlink()
    summary = ", ".join(f"{count} {state}" for state, count in Counter(states).most_common())
    assert not failures, (
        f"{len(failures)} of {len(chosen)} kills failed (base seed {base}, {anyio_backend}; "
        f"states at the kill: {summary}):\n" + "\n".join(failures)
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("swmr", [True, False], ids=["swmr", "no-swmr"])
async def test_kill_while_idle_after_a_flush_leaves_a_readable_file_with_every_flushed_row(
    tmp_path: Path, anyio_backend: str, swmr: bool
) -> None:
    """A writer killed after a completed flush() and before any later call, with or without
    SWMR, leaves a file that opens for reading without recover() and holds every flushed row,
    whole; recover() makes it writable and the acquisition continues in the same arrays."""
    seed = BASE_SEED + 7
    config = {**STREAM_CONFIG, "mode": "idle", "acks": 5, "swmr": swmr}
    path = tmp_path / "idle.h5"
    kill = await run_and_kill(
        tmp_path, path, anyio_backend, seed, config, lambda event: event["event"] == "idle"
    )
    assert kill.last_ack["n"] == 5
    if swmr:
        assert kill.flags == FLAG_WRITE | FLAG_SWMR_WRITE, kill.moment
    else:
        assert kill.flags is None, kill.moment  # superblock version 0: no flags to clear
    async with checker_process(tmp_path) as checker:
        problems = await check_killed_file(path, kill, checker, swmr_reader=swmr, exact=True)
    assert problems == [], f"seed {seed}, {kill.moment}"


@pytest.mark.timeout(60)
async def test_kill_while_swmr_is_paused_leaves_a_file_readable_after_recover(
    tmp_path: Path, anyio_backend: str
) -> None:
    """A SWMR writer killed while SWMR is paused for structure changes (a late detector is
    added, then an attribute changed before every flush, so that SWMR cannot resume) leaves a
    file that readers are refused until recover() (HDF5: open for writing without SWMR); after
    it the file holds every row flushed before and during the pause, whole, and the
    acquisition continues in the same arrays."""
    seed = BASE_SEED + 11
    config = {**STREAM_CONFIG, "mode": "pause", "acks": 3, "swmr": True}
    path = tmp_path / "paused.h5"
    kill = await run_and_kill(
        tmp_path, path, anyio_backend, seed, config, lambda event: event["event"] == "paused"
    )
    assert [event for event in kill.events if event["event"] == "paused"] == [
        {"event": "paused", "swmr": False}
    ]
    paused_acks = [event for event in kill.events if "beat" in event]
    assert len(paused_acks) >= 3
    assert not any(event["swmr"] for event in paused_acks), paused_acks
    assert kill.flags == FLAG_WRITE, kill.moment  # open for writing, without SWMR
    async with checker_process(tmp_path) as checker:
        refused = await checker.read(path, swmr=True)
        assert not refused["ok"], "a SWMR reader opened a file HDF5 says is open for writing"
        problems = await check_killed_file(path, kill, checker, swmr_reader=True)
    assert problems == [], f"seed {seed}, {kill.moment}"
