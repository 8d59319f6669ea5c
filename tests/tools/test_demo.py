"""The demo acquisition: its simulated instruments keep their schedules, join late, log their
moves, and ``aioh5saver demo`` writes a PyMoDAQ file that h5py and pymodaq_data 5.3.0 read, with
every instrument's rows, shape and dtype, and the log lines; the progress display is a rich table
on a terminal and plain lines elsewhere."""

from __future__ import annotations

import itertools
import math
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import anyio
import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules.data_saving import DataLoader
from pymodaq_data.h5modules.saving import H5SaverLowLevel as PymodaqSaver

import aioh5saver
from aioh5saver import AsyncH5Saver
from aioh5saver.tools.demo.acquisition import (
    DemoProgress,
    default_instruments,
    late_join_delay,
    run_demo,
)
from aioh5saver.tools.demo.instruments import Camera, PointDetector, Spectrometer, Stage

SCAN = "/RawData/Scan000"
# Where each default instrument writes, its row shape and dtype: PyMoDAQ's logger layout.
ARRAYS = {
    "photodiode": (f"{SCAN}/Detector000/Data0D/CH00/EnlData00", (1,), np.float64),
    "spectrometer": (f"{SCAN}/Detector001/Data1D/CH00/EnlData00", (2048,), np.float64),
    "camera": (f"{SCAN}/Detector002/Data2D/CH00/EnlData00", (512, 512), np.uint16),
    "stage": (f"{SCAN}/Actuator000/Data0D/CH00/EnlData00", (1,), np.float64),
}
# Subprocesses turn every warning into an error, as pytest does here.
ENV = {**os.environ, "PYTHONWARNINGS": "error"}


def run_cli(*args: str | Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aioh5saver", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- the instruments, in process, on asyncio and trio ------------------------------------------


@pytest.mark.anyio
async def test_buffered_detector_delivers_every_sample_of_its_schedule(h5_path: Path) -> None:
    """A 1 kHz 0D detector run for 0.3 s delivers exactly 300 rows: ticks it woke up late for
    are delivered in a batch, none lost and none added, so the rate does not drift."""
    detector = PointDetector(period=1e-3, seed=0)
    async with AsyncH5Saver.open(h5_path) as saver:
        scan = await saver.add_scan_group(saver.raw_group)
        await detector.connect(saver, scan)
        start = anyio.current_time()
        await detector.run(saver, scan, start, start + 0.3)
    assert (detector.rows, detector.dropped) == (300, 0)
    with h5py.File(h5_path, "r") as f:
        assert detector.array is not None
        rows = f[detector.array.path][()]
    assert rows.shape == (300, 1)
    assert 0.8 < rows.mean() < 1.2  # the simulated signal is around 1 V


@pytest.mark.anyio
async def test_buffered_detector_started_late_still_owes_every_tick_from_the_start(
    h5_path: Path,
) -> None:
    """A 1 kHz 0D detector whose task first runs 5 ms after the run's start (the loop was
    busy) still delivers the run's 300 samples: the ticks are counted from the start, and the
    5 it missed come in its first batch."""
    detector = PointDetector(period=1e-3, seed=0)
    async with AsyncH5Saver.open(h5_path) as saver:
        scan = await saver.add_scan_group(saver.raw_group)
        await detector.connect(saver, scan)
        start = anyio.current_time() - 0.005
        await detector.run(saver, scan, start, start + 0.3)
    assert (detector.rows, detector.dropped) == (300, 0)


@pytest.mark.anyio
async def test_frame_instrument_accounts_for_every_tick_as_a_frame_or_a_drop(
    h5_path: Path,
) -> None:
    """A 100 Hz spectrometer run for 0.3 s delivers one frame per tick or counts it dropped:
    30 in all, the schedule's exact count."""
    spectrometer = Spectrometer(period=1e-2, seed=0)
    async with AsyncH5Saver.open(h5_path) as saver:
        scan = await saver.add_scan_group(saver.raw_group)
        await spectrometer.connect(saver, scan)
        start = anyio.current_time()
        await spectrometer.run(saver, scan, start, start + 0.3)
    assert spectrometer.rows + spectrometer.dropped == 30
    with h5py.File(h5_path, "r") as f:
        assert spectrometer.array is not None
        spectra = f[spectrometer.array.path][()]
    assert spectra.shape == (spectrometer.rows, 2048)
    # A Gaussian line well above the background, between 550 and 650 nm.
    peak = spectrometer.wavelengths[spectra.mean(axis=0).argmax()]
    assert 550 <= peak <= 650
    assert spectra.max() > 10 * np.median(spectra)


@pytest.mark.anyio
async def test_late_instrument_joins_after_its_delay_adds_its_arrays_and_logs_it(
    h5_path: Path,
) -> None:
    """A camera with join_after=0.2 s joins no earlier than that, creates its detector group
    and array mid-run (under SWMR), writes frames from then on, and logs that it joined."""
    camera = Camera(size=64, seed=0, join_after=0.2)
    detector = PointDetector(seed=0)
    starts: list[bool] = []
    summary = await run_demo(
        h5_path,
        0.6,
        True,
        instruments=[detector, camera],
        on_started=lambda path: starts.append(path.exists()),
    )
    assert starts == [True]  # called once, with the file already there
    by_name = {inst.name: inst for inst in summary.instruments}
    assert by_name["camera"].joined_after is not None
    assert by_name["camera"].joined_after >= 0.2
    assert by_name["photodiode"].joined_after == 0.0
    assert 0 < by_name["camera"].rows <= math.ceil(0.4 / camera.period)
    with h5py.File(h5_path, "r") as f:
        assert list(f[SCAN]) == ["Detector000", "Detector001"]
        frames = f[by_name["camera"].array]
        assert frames.shape == (by_name["camera"].rows, 64, 64)
        assert frames.dtype == np.uint16
        assert f[SCAN]["Detector001"].attrs["TITLE"] == "camera"
    logs = _pymodaq_logs(h5_path)
    assert "camera joined 0.2 s late" in logs
    assert logs[0].startswith("demo started: photodiode (0D detector), camera (2D camera)")
    assert logs[-1] == "demo finished after 0.6 s"
    assert summary.log_lines == len(logs)


@pytest.mark.anyio
async def test_progress_reports_grow_while_the_demo_runs(h5_path: Path) -> None:
    """run_demo calls progress every interval while it runs, after on_started: elapsed and
    every instrument's rows only grow, and the saver's statistics come along."""
    events: list[str | DemoProgress] = []
    summary = await run_demo(
        h5_path,
        0.5,
        True,
        instruments=[PointDetector(seed=0), Stage(seed=0)],
        on_started=lambda path: events.append("started"),
        progress=events.append,
        progress_interval=0.1,
    )
    assert events[0] == "started"
    reports = [e for e in events[1:] if isinstance(e, DemoProgress)]
    assert len(reports) == len(events) - 1
    assert 3 <= len(reports) <= 5
    assert [r.elapsed for r in reports] == sorted(r.elapsed for r in reports)
    for before, after in itertools.pairwise(reports):
        pairs = zip(after.instruments, before.instruments, strict=True)
        assert all(a.rows >= b.rows for a, b in pairs)
    assert reports[-1].saver.swmr_active
    assert reports[-1].instruments[0].rows > 0
    # Every row the instruments counted, and every log line, reached the writer.
    assert summary.rows == sum(inst.rows for inst in summary.instruments)
    assert summary.saver.rows_appended == summary.rows
    assert summary.saver.strings_appended == summary.log_lines


@pytest.mark.anyio
@pytest.mark.parametrize("seconds", [0, -1.0, math.nan, math.inf])
async def test_run_demo_refuses_a_non_positive_or_non_finite_duration(
    h5_path: Path, seconds: float
) -> None:
    """0, negative, nan and inf seconds raise InvalidArgumentError before any file is made."""
    with pytest.raises(aioh5saver.InvalidArgumentError, match="positive"):
        await run_demo(h5_path, seconds, True)
    assert not h5_path.exists()


@pytest.mark.anyio
async def test_run_demo_refuses_an_existing_file_unless_told_to_overwrite_it(
    h5_path: Path,
) -> None:
    """run_demo on an existing file raises ExistingFileError and leaves the file as it was;
    with overwrite=True (the command's --force) it replaces it with the new acquisition."""
    h5_path.write_bytes(b"an earlier acquisition")
    with pytest.raises(aioh5saver.ExistingFileError, match="new_file=True"):
        await run_demo(h5_path, 0.2, False, instruments=[PointDetector(seed=0)])
    assert h5_path.read_bytes() == b"an earlier acquisition"
    summary = await run_demo(
        h5_path, 0.2, False, instruments=[PointDetector(seed=0)], overwrite=True
    )
    with h5py.File(h5_path, "r") as f:
        assert f[ARRAYS["photodiode"][0]].shape[0] == summary.rows > 0


def test_stage_logs_every_move_and_arrival_and_reads_back_its_positions() -> None:
    """The stage steps 0.5 mm every 0.5 s (at 5 mm/s): it logs 'moving to' when a move
    starts and 'moved to' when it arrives, and its read-back positions ramp then settle."""
    stage = Stage(period=0.05, seed=0)
    positions = stage.sample(np.arange(30, dtype=np.int64))[:, 0]  # 1.5 s of read-back
    assert stage.messages == [
        "actuator moving to 0.500 mm",
        "actuator moved to 0.500 mm",
        "actuator moving to 1.000 mm",
        "actuator moved to 1.000 mm",
        "actuator moving to 1.500 mm",
        "actuator moved to 1.500 mm",
    ]
    settled = positions[[0, 2, 9, 10, 12, 19]]
    np.testing.assert_allclose(settled, [0, 0.5, 0.5, 0.5, 1.0, 1.0], atol=2e-3)
    assert positions[11] == pytest.approx(0.75, abs=2e-3)  # half-way through the second move


def test_default_instruments_have_the_documented_rates_shapes_and_late_camera() -> None:
    """The default set: 0D at 1 kHz, spectrometer 2048 points at 100 Hz, 512x512 uint16 camera
    at 20 Hz joining min(3 s, seconds/3) late, and the stage; nothing else joins late."""
    instruments = default_instruments(10)
    summary = {
        type(i).__name__: (1 / i.period, i.row_shape, i.dtype, i.join_after) for i in instruments
    }
    assert summary == {
        "PointDetector": (1000, (1,), np.float64, 0.0),
        "Spectrometer": (100, (2048,), np.float64, 0.0),
        "Camera": (20, (512, 512), np.uint16, 3.0),
        "Stage": (20, (1,), np.float64, 0.0),
    }
    assert late_join_delay(2) == pytest.approx(2 / 3)
    assert late_join_delay(100) == 3.0


# -- aioh5saver demo, as a user runs it --------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``aioh5saver demo --seconds 2`` run once in a fresh folder: the file and stdout."""
    folder = tmp_path_factory.mktemp("demo")
    out = folder / "run.h5"
    done = run_cli("demo", "--seconds", "2", "--out", out, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return out, done.stdout


def test_demo_command_writes_every_instrument_with_its_shape_and_dtype(
    demo_run: tuple[Path, str],
) -> None:
    """Each instrument's enlargeable array has rows, of its row shape and dtype; the 1 kHz
    detector has exactly its 2,000 samples; the late camera has fewer frames than 2 s worth."""
    out, _ = demo_run
    with h5py.File(out, "r") as f:
        rows = {}
        for name, (path, row_shape, dtype) in ARRAYS.items():
            array = f[path]
            assert array.shape[1:] == row_shape, name
            assert array.dtype == dtype, name
            assert array.maxshape == (None, *row_shape), name
            assert array.attrs["CLASS"] == "EARRAY", name
            rows[name] = array.shape[0]
    assert rows["photodiode"] == 2000
    assert 100 <= rows["spectrometer"] <= 200
    # Joined a third into the run: at most the 20 Hz ticks due in the last two thirds, the
    # first one included (27 when joining takes no time).
    assert 0 < rows["camera"] <= math.ceil(40 * (1 - 1 / 3))
    assert 30 <= rows["stage"] <= 40


def test_demo_command_summary_matches_the_file_and_ends_with_its_path(
    demo_run: tuple[Path, str],
) -> None:
    """stdout says it started with the path, reports per-instrument rows equal to the file's,
    and ends with 'file: <absolute path>'."""
    out, stdout = demo_run
    lines = stdout.splitlines()
    assert lines[0].startswith(f"demo: started, writing {out} for 2 s, SWMR on")
    assert lines[-1] == f"file: {out.resolve()}"
    assert any(line.startswith("demo: finished in ") for line in lines)
    with h5py.File(out, "r") as f:
        for name, (path, _, _) in ARRAYS.items():
            reported = [line.split() for line in lines if line.startswith(f"  {name} ")]
            assert len(reported) == 1, name
            assert int(reported[0][-6]) == f[path].shape[0], name  # the rows column
    assert re.search(r"total: \d+ rows, [\d.]+ MB written, [\d.]+ MB/s, \d+ flushes", stdout)


# pymodaq_data warns that an enlargeable array's data_dimension (Data1D...) is not the
# dimension of what it loads (DataND: the enlargeable axis is a navigation axis): it does the
# same on the files its own DataEnlargeableSaver writes.
@pytest.mark.filterwarnings("ignore::pymodaq_data.data.DataDimWarning")
def test_pymodaq_data_reads_the_demo_file_arrays_and_log_lines(demo_run: tuple[Path, str]) -> None:
    """pymodaq_data 5.3.0 reads the demo file: its DataLoader loads each instrument as
    enlargeable data with the rows in the file, its name, label, units and signal axes, and
    the Logger has the start, the stage's moves, the late camera and the end."""
    out, _ = demo_run
    with h5py.File(out, "r") as f:
        stored = {name: f[path][()] for name, (path, _, _) in ARRAYS.items()}
    saver = PymodaqSaver(backend="h5py")
    saver.init_file(out, new_file=False, mode="r")
    try:
        loader = DataLoader(saver)
        axes = {}
        labels = {}
        for name, (path, _, _) in ARRAYS.items():
            data = loader.load_data(path)
            assert (data.name, data.origin, data.nav_indexes) == (name, name, (0,))
            rows = stored[name]
            expected = rows[:, 0] if rows.shape[1:] == (1,) else rows
            assert data.shape == expected.shape, name
            np.testing.assert_array_equal(data.data[0], expected, err_msg=name)
            labels[name] = (data.labels, data.units)
            axes[name] = [(axis.label, axis.units, axis.index, axis.size) for axis in data.axes]
        logs = saver.get_set_logger().read()
    finally:
        saver.close_file()
    assert labels == {
        "photodiode": (["signal (V)"], "V"),
        "spectrometer": (["counts"], "counts"),
        "camera": (["intensity"], "counts"),
        "stage": (["position (mm)"], "mm"),
    }
    assert axes == {
        "photodiode": [],
        "spectrometer": [("wavelength", "nm", 1, 2048)],
        "camera": [("y", "pixels", 1, 512), ("x", "pixels", 2, 512)],
        "stage": [],
    }
    assert logs[0].startswith("demo started: photodiode (0D detector)")
    assert "actuator moved to 0.500 mm" in logs
    assert "camera joined 0.7 s late" in logs
    assert logs[-1] == "demo finished after 2 s"


def test_demo_command_without_swmr_on_trio_writes_the_same_layout(tmp_path: Path) -> None:
    """--no-swmr --backend trio: the same arrays and log lines, and the summary says SWMR off."""
    out = tmp_path / "plain.h5"
    done = run_cli(
        "demo", "--seconds", "1", "--no-swmr", "--backend", "trio", "--out", out, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "SWMR off" in done.stdout
    with h5py.File(out, "r") as f:
        for name, (path, row_shape, dtype) in ARRAYS.items():
            assert f[path].shape[0] > 0, name
            assert (f[path].shape[1:], f[path].dtype) == (row_shape, dtype), name
    assert _pymodaq_logs(out)[-1] == "demo finished after 1 s"


def test_demo_command_defaults_to_a_timestamped_file_in_the_current_folder(
    tmp_path: Path,
) -> None:
    """Without --out, the file is ./demo-YYYYmmdd-HHMMSS.h5 in the folder it is run from."""
    done = run_cli("demo", "--seconds", "0.5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = list(tmp_path.iterdir())
    assert len(written) == 1
    assert re.fullmatch(r"demo-\d{8}-\d{6}\.h5", written[0].name)
    assert done.stdout.splitlines()[-1] == f"file: {written[0].resolve()}"


def _run_on_terminal(code: str, cwd: Path) -> str:
    """Run ``python -c code`` with stdout on a pseudo-terminal; return all it printed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**ENV, "COLUMNS": "120", "TERM": "xterm"},
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    return b"".join(chunks).decode()


def test_demo_on_a_terminal_shows_a_live_rich_table(tmp_path: Path) -> None:
    """On a terminal, with rich installed, progress is a live table per instrument with rows,
    MB/s and the saver's queue and flushes; the summary follows."""
    code = (
        "import sys; from aioh5saver.tools.cli import main; "
        f"sys.exit(main(['demo', '--seconds', '1', '--out', {str(tmp_path / 'tty.h5')!r}]))"
    )
    shown = _run_on_terminal(code, tmp_path)
    assert "\x1b[" in shown  # rich drives the terminal
    for heading in ("instrument", "rows/s", "MB/s", "dropped", "queue", "flushes"):
        assert heading in shown, heading
    assert "photodiode" in shown
    assert f"file: {(tmp_path / 'tty.h5').resolve()}" in shown


def test_demo_without_rich_prints_plain_progress_lines_on_a_terminal(tmp_path: Path) -> None:
    """rich is optional: without it, even on a terminal, progress is a plain line per second
    with rows, MB/s, queue and flushes."""
    code = (
        "import sys; sys.modules['rich'] = None; from aioh5saver.tools.cli import main; "
        f"sys.exit(main(['demo', '--seconds', '1.2', '--out', {str(tmp_path / 'plain.h5')!r}]))"
    )
    shown = _run_on_terminal(code, tmp_path)
    assert "\x1b[" not in shown
    progress = [line for line in shown.splitlines() if re.match(r"\s*1\.0/1\.2 s \|", line)]
    assert len(progress) == 1, shown
    assert re.search(r"photodiode \d+ rows [\d.]+ MB/s", progress[0])
    assert re.search(r"queue \d+ ops [\d.]+ MB, \d+ flushes", progress[0])


def _pymodaq_logs(path: Path) -> list[str]:
    saver = PymodaqSaver(backend="h5py")
    saver.init_file(path, new_file=False, mode="r")
    try:
        return list(saver.get_set_logger().read())
    finally:
        saver.close_file()
