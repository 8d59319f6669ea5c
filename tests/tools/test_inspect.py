"""inspect_file() and render_report(): the tree of PyMoDAQ and aioh5saver files, also while a
SWMR writer appends to them, read in a child process that hostile files cannot take over (no
eval, no unpickling, bounded time, memory and output), with clear errors for what it refuses."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import h5py
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver.tools import limits, sandbox
from aioh5saver.tools.report import ValueText


def _all_paths(path: Path) -> set[str]:
    found = {"/"}
    with h5py.File(path, "r") as file:
        file.visit(lambda name: found.add(f"/{name}"))
    return found


def _by_path(report: h5s.FileReport) -> dict[str, h5s.NodeInfo]:
    return {node.path: node for node in report.nodes}


def test_inspect_pymodaq_file_lists_every_node_with_its_kind_shape_and_attributes(
    pymodaq_reference_file: Path,
) -> None:
    """A file pymodaq_data wrote: every node is listed once, in tree order, with the kind it
    is, its shape, dtype and decoded attributes, and the Logger's lines."""
    reference_file = pymodaq_reference_file
    report = h5s.inspect_file(reference_file)
    nodes = _by_path(report)
    assert set(nodes) == _all_paths(reference_file)
    assert len(nodes) == len(report.nodes)
    assert report.nodes[0].path == "/"
    assert [n.path for n in report.nodes] == sorted(nodes, key=lambda p: p.split("/")[1:])
    assert report.size_bytes == reference_file.stat().st_size
    assert (report.writing, report.swmr, report.nodes_omitted) == (False, False, 0)
    with h5py.File(reference_file, "r") as file:
        for path, node in nodes.items():
            obj = file[path]
            if isinstance(obj, h5py.Dataset):
                assert node.shape == obj.shape, path
                assert node.kind in {"CARRAY", "EARRAY", "VLARRAY", "StringARRAY"}, path
            else:
                assert node.kind == "GROUP"
            assert set(node.attrs) == set(obj.attrs), path
    logger = nodes["/RawData/Logger"]
    assert logger.kind == "StringARRAY"
    assert logger.attrs["CLASS"] == "VLARRAY"
    assert nodes["/RawData/Scan000/Detector000/Data1D/Data"].attrs["shape"] == (2, 3)
    saver = h5s.H5SaverLowLevel.from_file(reference_file, mode="r")
    try:
        expected_log = saver.get_set_logger().read()
    finally:
        saver.close_file()
    assert report.log_path == "/RawData/Logger"
    assert list(report.log_lines) == expected_log[-5:]
    assert report.log_total == len(expected_log)


def _saver_file(path: Path, log_lines: int) -> None:
    saver = h5s.H5SaverLowLevel.from_file(path, new_file=True)
    scan = saver.add_scan_group(saver.raw_group, title="scan")
    det = saver.add_det_group(scan, title="det")
    earray = saver.add_array(
        det,
        "data",
        "data_enlargeable",
        enlargeable=True,
        data_shape=(3, 2),
        array_type=np.uint16,
        data_dimension="Data2D",
    )
    earray.append(np.ones((7, 3, 2), dtype=np.uint16))
    for index in range(log_lines):
        saver.add_log(f"line {index}")
    saver.close_file()


def test_inspect_shows_the_last_log_lines_asked_for(h5_path: Path) -> None:
    """log_lines=N gives the Logger's last N lines; the total counts them all."""
    _saver_file(h5_path, 20)
    report = h5s.inspect_file(h5_path, log_lines=3)
    assert report.log_lines == ("line 17", "line 18", "line 19")
    assert report.log_total == 20
    array = _by_path(report)["/RawData/Scan000/Detector000/Data"]
    assert (array.kind, array.shape, array.dtype) == ("EARRAY", (7, 3, 2), "uint16")
    assert h5s.inspect_file(h5_path, log_lines=0).log_lines == ()


async def _new_array(saver: h5s.AsyncH5Saver, where: Any, name: str) -> h5s.NodeRef:
    return await saver.add_array(
        where,
        name,
        "data_enlargeable",
        data_shape=(2,),
        array_type=np.float64,
        enlargeable=True,
        data_dimension="Data1D",
    )


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_inspect_reads_a_file_while_a_swmr_writer_appends(h5_path: Path) -> None:
    """While an AsyncH5Saver writes under SWMR, inspect (in another process) sees the flushed
    rows, the staged log lines, and a node created after the first look."""
    async with h5s.AsyncH5Saver.open(h5_path, swmr=True) as saver:
        det = await saver.add_det_group(saver.raw_group, title="det")
        first = await _new_array(saver, det, "first")
        await saver.add_log("first line")  # an append: SWMR starts before it
        await saver.append(first, np.zeros((10, 2)))
        await saver.add_log("second line")
        await saver.flush()
        report = await anyio.to_thread.run_sync(h5s.inspect_file, h5_path)
        assert (report.writing, report.swmr) == (True, True)
        assert _by_path(report)[first.path].shape == (10, 2)
        assert report.log_lines == ("first line", "second line")
        assert (report.log_total, report.log_staged) == (2, 2)
        assert report.notes == ()

        late = await _new_array(saver, det, "late")
        await saver.append(late, np.ones((4, 2)))
        await saver.append(first, np.ones((5, 2)))
        await saver.flush()
        report = await anyio.to_thread.run_sync(h5s.inspect_file, h5_path)
        nodes = _by_path(report)
        assert nodes[late.path].shape == (4, 2)
        assert nodes[first.path].shape == (15, 2)
        assert report.swmr
    report = await anyio.to_thread.run_sync(h5s.inspect_file, h5_path)
    assert (report.writing, report.swmr, report.log_staged, report.log_total) == (
        False,
        False,
        0,
        2,
    )


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_inspect_refuses_a_file_written_without_swmr(h5_path: Path, libver: str) -> None:
    """A file another writer has open without SWMR (HDF5's lock held, or the superblock's
    write flag set) raises FileInUseError saying it is written without SWMR."""
    with h5py.File(h5_path, "w", libver=libver) as file:
        file.create_dataset("x", data=[1, 2])
        file.flush()
        with pytest.raises(h5s.FileInUseError, match=r"test\.h5.*without SWMR") as caught:
            h5s.inspect_file(h5_path, timeout=0.5)
    assert isinstance(caught.value, OSError)
    assert h5s.inspect_file(h5_path).nodes[1].path == "/x"


def test_inspect_refuses_a_missing_file_or_a_directory(tmp_path: Path) -> None:
    """A missing path raises MissingFileError, a directory CorruptFileError; both name it."""
    with pytest.raises(h5s.MissingFileError, match=r"absent\.h5"):
        h5s.inspect_file(tmp_path / "absent.h5")
    with pytest.raises(h5s.CorruptFileError, match="directory"):
        h5s.inspect_file(tmp_path)


def _valid_bytes(path: Path) -> bytes:
    _saver_file(path, 30)
    return path.read_bytes()


DAMAGE = {
    "empty": lambda data: b"",
    "random_bytes": lambda data: np.random.default_rng(0).bytes(len(data)),
    "cut_to_an_eighth": lambda data: data[: len(data) // 8],
    "cut_to_half": lambda data: data[: len(data) // 2],
    "text": lambda data: b"a text file, not HDF5\n" * 50,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_inspect_refuses_a_damaged_file_with_corrupt_file_error(h5_path: Path, damage: str) -> None:
    """Truncated, random, empty and non-HDF5 files raise CorruptFileError naming the file."""
    h5_path.write_bytes(DAMAGE[damage](_valid_bytes(h5_path)))
    with pytest.raises(h5s.CorruptFileError, match=r"test\.h5") as caught:
        h5s.inspect_file(h5_path)
    assert isinstance(caught.value, h5s.SaverError)


def _hostile_file(path: Path, sentinel: Path) -> None:
    payload = f"__import__('pathlib').Path({str(sentinel)!r}).touch()"

    class Touch:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (sentinel,))

    with h5py.File(path, "w", libver="latest") as file:
        raw = file.create_group("RawData")
        logger = raw.create_dataset(
            "Logger", shape=(2,), maxshape=(None,), dtype=h5py.vlen_dtype(np.uint8)
        )
        logger[0] = np.frombuffer(pickle.dumps("a real line"), np.uint8)
        logger[1] = np.frombuffer(pickle.dumps(Touch()), np.uint8)
        raw.attrs["evil"] = json.dumps({"module": "builtins", "type": "int", "data": payload})
        raw.attrs["huge"] = np.zeros(300_000)  # 2.4 MB
        raw.attrs["long"] = "x" * 10_000
        raw.attrs["\x1b[31mred"] = "\x1b[2Jcleared"
        fake = raw.create_dataset("fake_earray", data=np.arange(3.0))
        fake.attrs["CLASS"] = "EARRAY"
        raw.create_dataset("absurd", shape=(2**40, 2**20), dtype="u1", chunks=(1, 1))
        raw.create_group(b"bad\xffname\x07")
        loop = raw.create_group("loop")
        loop["to_root"] = file["/"]
        loop["dangling"] = h5py.SoftLink("/nowhere")
        loop["external"] = h5py.ExternalLink("/etc/passwd", "/x")
        deep = raw
        for _ in range(limits.MAX_DEPTH + 20):
            deep = deep.create_group("d")


@pytest.mark.timeout(60)
def test_inspect_shows_a_hostile_file_without_running_or_following_anything(
    tmp_path: Path,
) -> None:
    """Code in attributes and pickles in log rows is shown, never run; a lying CLASS, absurd
    shapes, cycles, links, deep nesting, odd names and huge attributes are shown for what they
    are, and the rendering has no terminal control characters."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "hostile.h5"
    _hostile_file(path, sentinel)
    report = h5s.inspect_file(path)
    nodes = _by_path(report)
    raw = nodes["/RawData"]
    assert isinstance(raw.attrs["evil"], str)
    assert "__import__" in raw.attrs["evil"]
    assert raw.attrs["huge"] == ValueText(f"<{300_000 * 8} bytes: too large to show>")
    cut = 10_000 - limits.MAX_TEXT
    assert raw.attrs["long"] == "x" * limits.MAX_TEXT + f"… [{cut} more characters]"
    assert nodes["/RawData/fake_earray"].kind == "CARRAY"
    assert nodes["/RawData/absurd"].shape == (2**40, 2**20)
    assert nodes["/RawData/absurd"].kind == "dataset"
    assert nodes["/RawData/loop/to_root"] == h5s.NodeInfo(
        "/RawData/loop/to_root", "link", None, None, {}, target="/"
    )
    assert nodes["/RawData/loop/dangling"].target == "/nowhere"
    assert nodes["/RawData/loop/external"].target == "/etc/passwd:/x"
    assert "/RawData/bad\\xffname\x07" in nodes
    deepest = max(nodes, key=lambda p: p.count("/"))
    assert deepest.count("/") == limits.MAX_DEPTH
    assert "nested deeper" in (nodes[deepest].error or "")
    assert report.log_lines[0] == "a real line"
    assert report.log_lines[1].startswith("<row 1 not shown")
    assert not sentinel.exists()
    text = h5s.render_report(report)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\x1b[31mred = \\x1b[2Jcleared" in text
    assert max(len(line) for line in text.splitlines()) < 400


def test_inspect_lists_at_most_max_nodes_and_counts_the_rest(h5_path: Path) -> None:
    """Past max_nodes, nodes are counted, not listed, and the rendering says how many."""
    with h5py.File(h5_path, "w") as file:
        for group in range(5):
            for index in range(40):
                file.create_dataset(f"g{group}/d{index}", data=[index])
    report = h5s.inspect_file(h5_path, max_nodes=50)
    assert len(report.nodes) == 50
    assert report.nodes_omitted == 1 + 5 + 200 - 50
    assert f"… and {report.nodes_omitted} more nodes not listed" in h5s.render_report(report)


@pytest.mark.timeout(60)
def test_inspect_kills_a_child_that_does_not_answer_in_time(
    tmp_path: Path, h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reading process that hangs (as HDF5 does on one crafted file) is killed at the timeout,
    and CorruptFileError names the file and the timeout."""
    _saver_file(h5_path, 1)
    pid_file = tmp_path / "child.pid"
    hang = (
        "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
        "sys.stdout.flush(); time.sleep(600)"
    )

    def hanging_child(arguments: list[str], max_memory: int) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-c", hang, str(pid_file)], dict(os.environ)

    monkeypatch.setattr(sandbox, "child_command", hanging_child)
    with pytest.raises(h5s.CorruptFileError, match=r"test\.h5.*timeout of 1 s"):
        h5s.inspect_file(h5_path, timeout=1.0)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_inspect_child_runs_under_a_memory_limit(h5_path: Path) -> None:
    """The child's address space is limited: a log row larger than the limit allows is
    reported as unreadable while the rest of the tree is still shown."""
    with h5py.File(h5_path, "w") as file:
        logger = file.create_group("RawData").create_dataset(
            "Logger", shape=(1,), maxshape=(None,), dtype=h5py.vlen_dtype(np.uint8)
        )
        logger[0] = np.zeros(128 << 20, dtype=np.uint8)
    limited = h5s.inspect_file(h5_path, max_memory=256 << 20)
    assert "/RawData/Logger" in _by_path(limited)
    assert limited.log_lines == ()
    assert [note[:22] for note in limited.notes] == ["log lines: OSError: Ca"], limited.notes
    # With the default limit, the same row is read (and refused: it is no pickled str).
    unlimited = h5s.inspect_file(h5_path)
    assert unlimited.log_lines[0].startswith("<row 0 not shown: expected a pickled str")
    assert unlimited.notes == ()


def test_render_report_shows_nodes_attributes_and_log(h5_path: Path) -> None:
    """The rendering names the file, shows each node with kind, shape and dtype, its
    attributes (long ones shortened) and the last log lines."""
    _saver_file(h5_path, 2)
    with h5py.File(h5_path, "a") as file:
        file["RawData"].attrs["long"] = "y" * 500
    text = h5s.render_report(h5s.inspect_file(h5_path))
    assert str(h5_path) in text
    assert "Data  [EARRAY]  shape (7, 3, 2)  uint16" in text
    assert "@TITLE = det" in text
    assert "@description = ''" in text
    assert "@long = " + "y" * 99 + "…" in text
    assert "  line 1" in text
    assert "Log /RawData/Logger (2 lines)" in text


@pytest.mark.parametrize(
    ("argument", "value"),
    [("log_lines", -1), ("timeout", 0), ("timeout", float("nan")), ("max_nodes", 0)],
)
def test_inspect_rejects_bad_arguments(h5_path: Path, argument: str, value: object) -> None:
    """Bad limits raise InvalidArgumentError naming the argument and the value given."""
    _saver_file(h5_path, 1)
    with pytest.raises(h5s.InvalidArgumentError, match=argument):
        h5s.inspect_file(h5_path, **{argument: value})  # type: ignore[arg-type]
