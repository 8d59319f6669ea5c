"""Files written by aioh5saver read by pymodaq_data 5.3.0 (h5py and PyTables backends), and files
written by pymodaq_data read by aioh5saver: same tree, attributes, data, strings and log lines."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from packaging.version import Version
from pymodaq_data.h5modules import saving as pm_saving

import aioh5saver as h5s

REFERENCE_SCRIPT = Path(__file__).parents[1] / "reference.py"
ENVELOPE_KEYS = {"module", "type", "data"}
LOG_LINES = [
    "acquisition started",
    "ünïcødé ✓ 日本語 😀",
    "",
    "tab\there, newline\nthere",
    "a" * 255,  # the longest row pickled with SHORT_BINUNICODE
    "é" * 128,  # 256 UTF-8 bytes: BINUNICODE
    "b" * 70_000,  # longer than pickle's frame target: written unframed
    *(f"step {i} done" for i in range(40)),
]
STRINGS = ["hello", "wörld", "", "ß" * 300, "z" * 70_000, "last"]
METADATA = {
    "label": "signal é",
    "count": -42,
    "gain": 3.25,
    "enabled": False,
    "channels": [1, "two", 3.0, [4]],
    "roi": (1, ("a", 2.5)),
    "huge": 2**70,
}
SCAN_ATTRS = {"scan_type": "Scan2D", "n_steps": 8, "ready": True}


def write_rich(mod: ModuleType, path: Path) -> dict[str, Any]:
    """Write several scans and detectors with ``mod.H5SaverLowLevel``; return what was written:
    ``arrays`` (path -> data), ``strings`` (path -> list) and ``metadata_paths``."""
    saver = mod.H5SaverLowLevel(save_type="scan", backend="h5py")
    saver.init_file(path, new_file=True, metadata={"author": "tester", "n_runs": 3})
    arrays: dict[str, np.ndarray] = {}
    strings: dict[str, list[str]] = {}
    metadata_paths = []
    for scan_index in range(2):
        scan = saver.add_scan_group(
            saver.raw_group,
            title=f"scan {scan_index}",
            settings_as_xml="<s/>",
            metadata=dict(SCAN_ATTRS),
        )
        saver.add_act_group(scan, title="actuator", settings_as_xml="<a/>")
        for det_index in range(2):
            det = saver.add_det_group(scan, title=f"det {det_index}", metadata={"idx": det_index})
            saver.add_ch_group(det, title="channel")
            g0 = saver.add_data_group(det, "Data0D", title="0D")
            e0 = saver.add_array(
                g0,
                "enl0d",
                "data_enlargeable",
                data_shape=(1,),
                array_type=np.float64,
                enlargeable=True,
                data_dimension="Data0D",
                title="scalars",
            )
            for value in range(3):
                e0.append(np.array([value * 0.5]))
            e0.append(np.arange(4.0))  # a batch of four scalar rows
            arrays[e0.path] = np.array([[0.0], [0.5], [1.0], [0.0], [1.0], [2.0], [3.0]])
            g1 = saver.add_data_group(det, "Data1D", title="1D")
            fixed = np.arange(12, dtype=np.float64).reshape(3, 4) * (det_index + 1)
            carray = saver.add_array(
                g1,
                "data",
                "data",
                array_to_save=fixed,
                data_dimension="Data1D",
                title="carray",
                metadata=dict(METADATA),
            )
            arrays[carray.path] = fixed
            metadata_paths.append(carray.path)
            scan_shaped = saver.add_array(
                g1,
                "scan_shaped",
                "data",
                data_shape=(3,),
                array_type=np.float64,
                data_dimension="Data1D",
                scan_shape=(4, 2),
                add_scan_dim=True,
                title="init",
            )
            arrays[scan_shaped.path] = np.full((4, 2, 3), np.nan)
            e1 = saver.add_array(
                g1,
                "enl1d",
                "data_enlargeable",
                data_shape=(3,),
                array_type=np.int32,
                enlargeable=True,
                data_dimension="Data1D",
            )
            e1.append(np.array([1, 2, 3], dtype=np.int32))
            e1.append(np.arange(6, dtype=np.int32).reshape(2, 3))
            arrays[e1.path] = np.array([[1, 2, 3], [0, 1, 2], [3, 4, 5]], dtype=np.int32)
            g2 = saver.add_data_group(det, "Data2D", title="2D")
            e2 = saver.add_array(
                g2,
                "enl2d",
                "data_enlargeable",
                data_shape=(2, 3),
                array_type=np.uint16,
                enlargeable=True,
                data_dimension="Data2D",
            )
            frames = np.arange(24, dtype=np.uint16).reshape(4, 2, 3)
            e2.append(frames[0])
            e2.append(frames[1:])
            arrays[e2.path] = frames
            notes = saver.add_string_array(g2, "notes", title="notes", metadata={"k": 1})
            for text in STRINGS:
                notes.append(text)
            strings[notes.path] = list(STRINGS)
    for line in LOG_LINES:
        saver.add_log(line)
    strings["/RawData/Logger"] = list(LOG_LINES)
    saver.close_file()
    return {"arrays": arrays, "strings": strings, "metadata_paths": metadata_paths}


def pymodaq_view(path: Path, backend: str) -> dict[str, Any]:
    """What pymodaq_data reads: path -> (CLASS, decoded attributes, data), and the log lines."""
    saver = pm_saving.H5SaverLowLevel(backend=backend)
    saver.init_file(path, new_file=False, mode="r")
    try:
        nodes = {}
        for node in saver.walk_nodes("/"):
            attrs = saver.get_attr(node)
            data = None
            if attrs["CLASS"] == "VLARRAY" and attrs.get("subdtype") == "string":
                data = saver.get_node(node.path).read()  # a StringARRAY
            elif "ARRAY" in attrs["CLASS"]:
                data = node.read()
            nodes[node.path] = (str(attrs["CLASS"]), attrs, data)
        logs = saver.get_set_logger().read()
    finally:
        saver.close_file()
    return {"nodes": nodes, "logs": logs}


def aio_view(path: Path) -> dict[str, Any]:
    """What aioh5saver reads: path -> (kind, decoded attributes, data), and the log lines."""
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        nodes = {}
        for node in saver.walk_nodes("/"):
            data = node.read() if isinstance(node, h5s.CARRAY) else None
            nodes[node.path] = (node.kind, saver.get_attr(node), data)
        logs = saver.get_set_logger().read()
    finally:
        saver.close_file()
    return {"nodes": nodes, "logs": logs}


def assert_same_attr(name: str, pm_value: Any, aio_value: Any) -> None:
    """pymodaq's decoded value equals aioh5saver's; an envelope pymodaq leaves undecoded (an
    untrusted type) must describe aioh5saver's value exactly."""
    if isinstance(pm_value, dict) and set(pm_value) == ENVELOPE_KEYS:
        described = {"module": type(aio_value).__module__, "type": type(aio_value).__name__}
        assert pm_value == {**described, "data": repr(aio_value)}, name
        return
    assert aio_value == pm_value, name
    if not isinstance(pm_value, np.generic):  # PyTables gives np.str_ for CLASS and TITLE
        assert type(aio_value) is type(pm_value), name


def assert_same_data(path: str, left: Any, right: Any) -> None:
    if isinstance(left, list) or isinstance(right, list):
        assert list(left) == list(right), path
    else:
        assert left.dtype == right.dtype, path
        np.testing.assert_array_equal(left, right, err_msg=path)


@pytest.fixture(scope="module")
def aio_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("aio") / "rich.h5"
    return path, write_rich(h5s, path)


@pytest.fixture(scope="module")
def pm_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("pm") / "rich.h5"
    return path, write_rich(pm_saving, path)


@pytest.mark.parametrize("backend", ["h5py", "tables"])
def test_pymodaq_reads_aioh5saver_tree_and_classes(aio_file, backend):
    """pymodaq_data walks the same node paths with the same CLASS as aioh5saver wrote."""
    path, written = aio_file
    pm, aio = pymodaq_view(path, backend)["nodes"], aio_view(path)["nodes"]
    assert sorted(pm) == sorted(aio)
    assert set(written["arrays"]) | set(written["strings"]) <= set(pm)
    # /, /RawData, Logger; per scan: itself, an actuator, two detectors of 11 nodes each
    assert len(pm) == 3 + 2 * (2 + 2 * 11)
    for node_path, (pm_class, _, _) in pm.items():
        kind = aio[node_path][0]
        assert pm_class == ("VLARRAY" if kind == "StringARRAY" else kind), node_path


@pytest.mark.parametrize("backend", ["h5py", "tables"])
def test_pymodaq_decodes_aioh5saver_attributes(aio_file, backend):
    """Every attribute pymodaq_data decodes equals aioh5saver's value, metadata types included."""
    path, written = aio_file
    pm, aio = pymodaq_view(path, backend)["nodes"], aio_view(path)["nodes"]
    for node_path, (_, pm_attrs, _) in pm.items():
        aio_attrs = aio[node_path][1]
        assert sorted(pm_attrs) == sorted(aio_attrs), node_path
        for name, value in pm_attrs.items():
            assert_same_attr(f"{node_path}@{name}", value, aio_attrs[name])
    for node_path in written["metadata_paths"]:
        for name, value in METADATA.items():
            decoded = pm[node_path][1][name]
            assert decoded == value, name
            assert type(decoded) is type(value), name
    scan_attrs = pm["/RawData/Scan001"][1]
    assert {k: scan_attrs[k] for k in SCAN_ATTRS} == SCAN_ATTRS
    assert pm["/RawData"][1]["n_runs"] == 3
    assert pm["/RawData/Scan000/Detector001/Data1D/Enl1d"][1]["shape"] == (3, 3)


@pytest.mark.parametrize("backend", ["h5py", "tables"])
def test_pymodaq_reads_aioh5saver_arrays_strings_and_logs(aio_file, backend):
    """pymodaq_data reads the arrays, string arrays and Logger lines aioh5saver wrote."""
    path, written = aio_file
    view = pymodaq_view(path, backend)
    for node_path, expected in [*written["arrays"].items(), *written["strings"].items()]:
        assert_same_data(node_path, view["nodes"][node_path][2], expected)
    assert view["logs"] == LOG_LINES


def test_aioh5saver_reads_pymodaq_tree_data_and_strings(pm_file):
    """aioh5saver reads a pymodaq_data file as pymodaq_data does: paths, kinds, data, strings."""
    path, written = pm_file
    pm, aio = pymodaq_view(path, "h5py"), aio_view(path)
    assert sorted(aio["nodes"]) == sorted(pm["nodes"])
    for node_path, (kind, aio_attrs, aio_data) in aio["nodes"].items():
        pm_class, pm_attrs, pm_data = pm["nodes"][node_path]
        is_string = pm_class == "VLARRAY" and pm_attrs.get("subdtype") == "string"
        assert kind == ("StringARRAY" if is_string else pm_class), node_path
        if pm_data is not None:
            assert_same_data(node_path, aio_data, pm_data)
        for name, value in pm_attrs.items():
            assert_same_attr(f"{node_path}@{name}", value, aio_attrs[name])
    for node_path, expected in [*written["arrays"].items(), *written["strings"].items()]:
        assert_same_data(node_path, aio["nodes"][node_path][2], expected)
    assert aio["logs"] == LOG_LINES


def test_rich_scenario_has_same_layout_from_both_writers(aio_file, pm_file):
    """aioh5saver and pymodaq_data write the rich scenario with the same nodes and attributes."""
    varies = {"date", "time", "pymodaq_version", "pymodaq_data_version"}
    aio, pm = pymodaq_view(aio_file[0], "h5py")["nodes"], pymodaq_view(pm_file[0], "h5py")["nodes"]
    assert sorted(aio) == sorted(pm)
    for node_path, (pm_class, pm_attrs, pm_data) in pm.items():
        aio_class, aio_attrs, aio_data = aio[node_path]
        assert aio_class == pm_class, node_path
        assert sorted(aio_attrs) == sorted(pm_attrs), node_path
        for name in set(pm_attrs) - varies:
            assert_same_attr(f"{node_path}@{name}", pm_attrs[name], aio_attrs[name])
        if pm_data is not None:
            assert_same_data(node_path, aio_data, pm_data)


ATTRIBUTE_VALUES = {
    "str": "héllo 'quoted' \"double\"\n",
    "int": -(2**40),
    "float": 2.5,
    "float_nan": float("nan"),
    "bool": True,
    "none": None,
    "tuple": (1, "a", (2.5, None)),
    "list": [1, [2, 3], {"k": "v"}],
    "dict": {"a": 1, "b": [1, 2], (3, 4): "tuple key"},
    "bytes": b"\x00ab\xff",
    "np_float64": np.float64(1.25),
    "np_int32": np.int32(-7),
    "np_bool": np.bool_(True),
    "datetime": dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    "date": dt.date(2024, 5, 6),
    "time": dt.time(7, 8, 9, 10),
    "empty_str": "",
    "str_with_33_open_brackets": "(" * 33,  # a plain str: nesting of its text is irrelevant
}


@pytest.fixture(scope="module")
def pm_attr_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pm_attrs") / "attrs.h5"
    saver = pm_saving.H5SaverLowLevel(backend="h5py")
    saver.init_file(path, new_file=True)
    for name, value in ATTRIBUTE_VALUES.items():
        saver.set_attr(saver.raw_group, name, value)
    saver.close_file()
    return path


@pytest.mark.parametrize("name", list(ATTRIBUTE_VALUES))
def test_aioh5saver_preserves_pymodaq_attribute_types(pm_attr_file, name):
    """An attribute pymodaq_data's set_attr wrote reads back equal and of the same type."""
    expected = ATTRIBUTE_VALUES[name]
    saver = h5s.H5SaverLowLevel.from_file(pm_attr_file, mode="r")
    try:
        value = saver.get_attr(saver.raw_group, name)
    finally:
        saver.close_file()
    assert type(value) is type(expected)
    if name == "float_nan":
        assert np.isnan(value)
    else:
        assert value == expected


def test_reference_fixture_reads_logs_and_strings(tmp_path, pymodaq_reference_file):
    """The reference file pymodaq_data wrote opens read-only with its logs and strings."""
    path = tmp_path / "reference.h5"
    shutil.copyfile(pymodaq_reference_file, path)
    before = path.read_bytes()
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        assert saver.get_set_logger().read() == ["log message 1", "log message 2"]
        strings = saver.get_node("/RawData/Scan000/Detector000/Data1D/strings")
        assert isinstance(strings, h5s.StringARRAY)
        assert strings.read() == ["hello", "wörld"]
        assert saver.get_attr("/RawData", "author") == "ref"
    finally:
        saver.close_file()
    assert path.read_bytes() == before


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_scenario_dumps_match_between_pymodaq_and_aioh5saver(tmp_path):
    """The reference scenario run with pymodaq_data and with aioh5saver, each in its own
    process, dumps identically (tree, shapes, dtypes, attributes byte for byte, data)."""
    dumps = {}
    for module in ("pymodaq_data.h5modules.saving", "aioh5saver"):
        out = tmp_path / f"{module}.h5"
        run(REFERENCE_SCRIPT, "write", module, out, cwd=tmp_path)
        dumps[module] = run(REFERENCE_SCRIPT, "dump", out, cwd=tmp_path)
    assert "/RawData/Logger Dataset" in dumps["aioh5saver"]
    assert dumps["aioh5saver"] == dumps["pymodaq_data.h5modules.saving"]


def test_reading_aioh5saver_file_read_only_leaves_it_unchanged(aio_file, tmp_path):
    """Opening, walking and reading an aioh5saver file read-only changes neither bytes nor mtime."""
    path = tmp_path / "copy.h5"
    shutil.copyfile(aio_file[0], path)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    view = aio_view(path)
    assert view["logs"] == LOG_LINES
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("backend", ["h5py", "tables"])
def test_version_attributes_are_strings_pymodaq_decodes(aio_file, backend):
    """pymodaq_data decodes pymodaq_version and pymodaq_data_version as PEP 440 version strings."""
    root_attrs = pymodaq_view(aio_file[0], backend)["nodes"]["/"][1]
    for name in ("pymodaq_version", "pymodaq_data_version"):
        assert isinstance(root_attrs[name], str), name
        Version(root_attrs[name])  # raises InvalidVersion otherwise
    assert Version(root_attrs["pymodaq_data_version"]).release == (5, 3, 0)
