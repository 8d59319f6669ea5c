"""PyMoDAQ's own savers, loaders, exporters and browser on aioh5saver, through the documented
switch ``aioh5saver.pymodaq.install()``, compared with the same scenario run by pymodaq_data
5.3.0 alone.

One scenario (:func:`write_scenario`) drives every class of
``pymodaq_data.h5modules.data_saving`` that writes (DataSaverLoader, AxisSaverLoader,
BkgSaver, DataEnlargeableSaver, DataToExportSaver, DataToExportEnlargeableSaver,
DataToExportTimedSaver, DataToExportExtendedSaver) with real DataWithAxes / DataToExport
objects, with the saver class pymodaq_data's modules name at the time; :func:`load_everything`
reads the file back with DataLoader (load_data with and without background, load_all), the
axis loader, the browser and both exporters (txt, npy). The reference results come from
pymodaq_data alone (a module fixture, set up before any switch); each test installs the switch
and uninstalls it afterwards.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pymodaq_data.data
import pytest
from pymodaq_data.data import Axis, DataRaw, DataToExport, DataWithAxes
from pymodaq_data.h5modules import backends as pm_backends
from pymodaq_data.h5modules import browsing as pm_browsing
from pymodaq_data.h5modules import data_saving as ds
from pymodaq_data.h5modules import saving as pm_saving

import aioh5saver
import aioh5saver.pymodaq
from reference import canonical_dump

# pymodaq_data warns about its own data objects, run by itself as well as on aioh5saver: its
# slicing of a one-point axis (nd.inav[0]) averages an empty difference, and its loaders ask
# for axes that 0D data does not have.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::pymodaq_data.data.DataIndexWarning"),
    pytest.mark.filterwarnings("ignore::pymodaq_data.data.DataDimWarning"),
]

LOG_LINES = ["scan started", "ünïcødé ✓", "scan done"]
#: The nodes exported by both exporters: arrays (txt and npy) and a channel group (txt).
EXPORTED_ARRAYS = (
    "/RawData/Detector000/Data1D/CH00/Data00",
    "/RawData/Detector001/Data0D/CH00/EnlData00",
    "/RawData/Detector003/Data1D/CH00/Data00",
    "/RawData/Logger",
)
EXPORTED_GROUPS = ("/RawData/Detector000/Data1D/CH00", "/RawData/Detector000/Data0D/CH00")
#: pymodaq_data's own saver, taken before any test installs the switch.
PYMODAQ_SAVER = pm_saving.H5SaverLowLevel
TXT_FILTER = "Text files (*.txt)"
NPY_FILTER = "Binary NumPy format (*.npy)"


# -- the scenario -----------------------------------------------------------------------------


def _spectrum(name: str, shift: float, errors: bool = True) -> DataRaw:
    x = np.linspace(400.0, 800.0, 5)
    return DataRaw(
        name,
        data=[np.sin(x) + shift, np.cos(x) - shift],
        labels=["left", "right"],
        units="V",
        axes=[Axis("wavelength", "nm", data=x, index=0)],
        errors=[np.full(5, 0.1 + shift), np.full(5, 0.2)] if errors else None,
        origin="spectrometer",
    )


def _photodiode(shift: float) -> DataRaw:
    return DataRaw(
        "photodiode",
        data=[np.array([1.0 + shift]), np.array([-2.0 * shift])],
        labels=["pd0", "pd1"],
        units="mW",
        origin="pd",
    )


def _image(shift: int) -> DataRaw:
    return DataRaw(
        "camera",
        data=[np.arange(12, dtype=np.uint16).reshape(3, 4) + shift],
        labels=["frame"],
        axes=[
            Axis("y", "px", data=np.arange(3.0), index=0),
            Axis("x", "px", data=np.arange(4.0) * 2, index=1),
        ],
        origin="camera",
    )


def _stamped(dte: DataToExport, timestamp: float) -> DataToExport:
    """``dte`` with every timestamp set: the files are then the same, byte for byte."""
    dte.timestamp = timestamp
    for dwa in dte:
        dwa.timestamp = timestamp
    return dte


def write_scenario(path: Path) -> type:
    """Drive every writing class of pymodaq_data's data_saving with the ``H5SaverLowLevel``
    that data_saving names now (pymodaq_data's own, or aioh5saver's once installed), into a
    new file at ``path``; return the saver class used."""
    with pytest.MonkeyPatch.context() as patch:
        # The data objects pymodaq_data makes itself (error bars as DataWithAxes) take the
        # time of their making: a clock that ticks per call makes both runs write the same.
        clock = itertools.count(1_700_000_000)
        patch.setattr(pymodaq_data.data, "time", lambda: float(next(clock)))
        return _write_scenario(path)


def _write_scenario(path: Path) -> type:
    saver = ds.H5SaverLowLevel(save_type="scan", backend="h5py")
    saver.init_file(path, new_file=True, metadata={"sample": "Si"})
    try:
        saver.add_log(LOG_LINES[0])
        # Detector000: DataToExportSaver (data, axes, error bars) and its background.
        det = saver.add_det_group(saver.raw_group, title="spectrometer")
        dte = _stamped(
            DataToExport("snapshot", data=[_spectrum("spectrum", 0.0), _photodiode(0.5)]), 1e9
        )
        to_export = ds.DataToExportSaver(saver)
        to_export.add_data(det, dte, settings_as_xml="<settings/>")
        to_export.add_bkg(
            det, _stamped(DataToExport("bkg", data=[_spectrum("spectrum", 0.01)]), 1e9)
        )
        # Detector001: DataToExportEnlargeableSaver with two enlargeable (navigation) axes.
        enl_det = saver.add_det_group(saver.raw_group, title="enlargeable")
        enlargeable = ds.DataToExportEnlargeableSaver(
            saver, enl_axis_names=("z", "power"), enl_axis_units=("um", "W")
        )
        for step in range(4):
            rows = DataToExport("row", data=[_spectrum("spectrum", step), _photodiode(step)])
            enlargeable.add_data(
                enl_det, _stamped(rows, 1e9 + step), axis_values=[0.5 * step, 10.0 + step]
            )
        # Detector002: DataToExportTimedSaver (time axis from the timestamps).
        timed_det = saver.add_det_group(saver.raw_group, title="timed")
        timed = ds.DataToExportTimedSaver(saver)
        for step in range(3):
            timed.add_data(
                timed_det, _stamped(DataToExport("t", data=[_photodiode(step)]), 2e9 + step)
            )
        # Detector003: DataToExportExtendedSaver, a 2x3 scan with its navigation axes.
        scan_det = saver.add_det_group(saver.raw_group, title="scan")
        extended = ds.DataToExportExtendedSaver(saver, extended_shape=(2, 3))
        extended.add_nav_axes(
            scan_det,
            [
                Axis("u", "V", data=np.array([0.0, 1.0]), index=0),
                Axis("v", "V", data=np.array([0.0, 1.0, 2.0]), index=1),
            ],
        )
        for i in range(2):
            for j in range(3):
                point = DataToExport("point", data=[_spectrum("spectrum", i + 10 * j)])
                extended.add_data(scan_det, _stamped(point, 3e9), indexes=(i, j))
        # Detector004: DataEnlargeableSaver directly, with DataND of one navigation axis
        # (appended as that many rows) and an uint16 image channel.
        direct_det = saver.add_det_group(saver.raw_group, title="direct")
        channel = saver.get_set_group(direct_det, "CH00", "nd")
        nav = np.array([0.0, 0.25, 0.5])
        nd = DataRaw(
            "nd",
            data=[np.arange(15.0).reshape(3, 5)],
            labels=["nd"],
            axes=[Axis("t", "s", data=nav, index=0), Axis("x", "mm", data=np.arange(5.0), index=1)],
            nav_indexes=(0,),
        )
        nd.timestamp = 4e9
        ds.DataEnlargeableSaver(saver).add_data(channel, nd)
        image_channel = saver.get_set_group(direct_det, "CH01", "camera")
        image_saver = ds.DataEnlargeableSaver(saver, enl_axis_names=("n",), enl_axis_units=("",))
        for step in range(2):
            image = _image(step)
            image.timestamp = 4e9 + step
            image_saver.add_data(image_channel, image, axis_values=[float(step)])
        # Detector005: DataSaverLoader, AxisSaverLoader and BkgSaver directly.
        low_det = saver.add_det_group(saver.raw_group, title="low level")
        low_channel = saver.get_set_group(low_det, "CH00", "spectrum")
        spectrum = _spectrum("spectrum", 3.0, errors=False)
        spectrum.timestamp = 5e9
        ds.DataSaverLoader(saver).add_data(low_channel, spectrum, save_axes=False)
        ds.AxisSaverLoader(saver).add_axis(low_channel, spectrum.axes[0])
        background = _spectrum("spectrum", 0.5, errors=False)
        background.timestamp = 5e9
        ds.BkgSaver(saver).add_data(low_channel, background, save_axes=False)
        for line in LOG_LINES[1:]:
            saver.add_log(line)
        return type(saver)
    finally:
        saver.close_file()


# -- reading it back ----------------------------------------------------------------------------


def _axis_summary(axis: Axis) -> dict[str, Any]:
    return {
        "label": axis.label,
        "units": axis.units,
        "index": axis.index,
        "spread_order": axis.spread_order,
        "size": axis.size,
        "data": axis.get_data(),
    }


def summarise(dwa: DataWithAxes | None) -> Any:
    """Everything a DataWithAxes carries, as plain values and arrays."""
    if dwa is None:
        return None
    return {
        "name": dwa.name,
        "source": dwa.source.name,
        "dim": dwa.dim.name,
        "distribution": dwa.distribution.name,
        "labels": list(dwa.labels),
        "units": dwa.units,
        "origin": dwa.origin,
        "nav_indexes": tuple(dwa.nav_indexes),
        "timestamp": dwa.timestamp,
        "path": getattr(dwa, "path", None),
        "shape": dwa.shape,
        "data": list(dwa.data),
        "errors": None if dwa.errors is None else list(dwa.errors),
        "axes": sorted(
            (_axis_summary(axis) for axis in dwa.axes),
            key=lambda a: (a["index"], a["spread_order"], a["label"]),
        ),
        "extra": {name: getattr(dwa, name) for name in dwa.extra_attributes},
    }


def _attempt(function: Any, *args: Any, **kwargs: Any) -> Any:
    """The result of a call, or the name of what it raised (both sides must agree on that
    too)."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # compared, never hidden: the other side must raise the same
        return f"raised {type(exc).__name__}"


def load_everything(path: Path, out: Path) -> dict[str, Any]:
    """Read ``path`` back with pymodaq_data's DataLoader (from a path, so with the saver
    pymodaq_data names now), its axis loader, the browser and both exporters (writing into the
    folder ``out``); return what they gave, keyed by what was asked."""
    results: dict[str, Any] = {}
    loader = ds.DataLoader(path)
    try:
        results["saver class"] = type(loader.h5saver)
        # The first node of each kind in each channel (pymodaq_data's loaders take seconds
        # per dozen nodes): Data00 / EnlData00, Bkg00, ErrorBar00.
        data_nodes = [
            node.path
            for node in loader.walk_nodes("/")
            if "data_type" in node.attrs
            and node.attrs["data_type"] in {"data", "data_enlargeable", "bkg", "error"}
            and node.name.endswith("00")
        ]
        results["data nodes"] = sorted(data_nodes)
        for node_path in data_nodes:
            # Every node alone; the first of each channel with its background and with its
            # sibling channels (load_all).
            options = [(False, False)]
            if node_path.endswith("Data00"):
                options += [(True, False), (False, True)]
            for with_bkg, load_all in options:
                loaded = _attempt(loader.load_data, node_path, with_bkg=with_bkg, load_all=load_all)
                key = f"load_data {node_path} bkg={with_bkg} all={load_all}"
                results[key] = loaded if isinstance(loaded, str) else summarise(loaded)
        for where in ("/RawData/Detector000", "/RawData/Detector001", "/RawData/Detector003"):
            dte = loader.load_all(where)
            results[f"load_all {where}"] = [summarise(dwa) for dwa in dte]
        axes = ds.AxisSaverLoader(loader.h5saver)
        for data_path in (
            "/RawData/Detector001/Data1D/CH00/EnlData00",
            "/RawData/Detector003/Data1D/CH00/Data00",
        ):
            nav_group = loader.get_nav_group(data_path)
            assert nav_group is not None
            results[f"nav axes {data_path}"] = [
                _axis_summary(axis) for axis in axes.get_axes(nav_group)
            ]
        results["log"] = list(loader.get_node("/RawData/Logger").read())
    finally:
        loader.close_file()
    browser = pm_browsing.H5BrowserUtil()
    browser.open_file(str(path), "r")
    try:
        results["browser class"] = type(browser).__mro__[1]
        for node_path in EXPORTED_ARRAYS + EXPORTED_GROUPS:
            stem = node_path.strip("/").replace("/", "_")
            txt = out / f"{stem}.txt"
            # The txt exporter refuses 3-D arrays (numpy.savetxt): that is compared as well.
            failed = _attempt(browser.export_data, node_path, str(txt), TXT_FILTER)
            results[f"txt {node_path}"] = failed or txt.read_text(encoding="utf-8")
            if node_path in EXPORTED_ARRAYS:
                npy = out / f"{stem}.npy"
                browser.export_data(node_path, str(npy), NPY_FILTER)
                results[f"npy {node_path}"] = np.load(npy)
        results["attributes"] = browser.get_h5_attributes("/RawData/Detector000")[0]
    finally:
        browser.close_file()
    return results


def assert_same(ours: Any, theirs: Any, where: str = "") -> None:
    """Recursive equality, arrays compared value by value (NaN equal to NaN), dtypes too;
    other values by equality and type (a str subclass, or a number, may stand for another)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}/{key}")
    elif isinstance(theirs, list | tuple) and not isinstance(theirs, str):
        assert isinstance(ours, list | tuple), where
        assert len(ours) == len(theirs), where
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(mine, other, f"{where}[{index}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), where
        assert ours.dtype == theirs.dtype, where
        np.testing.assert_array_equal(ours, theirs, err_msg=where)
    elif isinstance(theirs, float) and math.isnan(theirs):
        assert isinstance(ours, float), where
        assert math.isnan(ours), where
    else:
        assert ours == theirs, where
        # pymodaq_data gives plain HDF5 string attributes (CLASS) as numpy.str_, aioh5saver
        # as str; numbers may differ in width. Any other type must be the same.
        if not isinstance(theirs, str | int | float):
            assert type(ours) is type(theirs), where


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The scenario written and read back by pymodaq_data alone (module-scoped, so set up
    before any test installs the switch)."""
    assert not aioh5saver.pymodaq.installed()
    folder = tmp_path_factory.mktemp("pymodaq_alone")
    path = folder / "pymodaq.h5"
    assert write_scenario(path) is PYMODAQ_SAVER
    exports = folder / "exports"
    exports.mkdir()
    return path, load_everything(path, exports)


@pytest.fixture
def installed() -> Iterator[None]:
    """The switch on for one test, and off again after it, whatever happened."""
    aioh5saver.pymodaq.install()
    try:
        yield
    finally:
        aioh5saver.pymodaq.uninstall()


def _ours(results: dict[str, Any], reference: dict[str, Any]) -> None:
    """Check that ``results`` were read by aioh5saver and ``reference`` by pymodaq_data, then
    compare everything else."""
    assert results.pop("saver class") is aioh5saver.H5SaverLowLevel
    assert results.pop("browser class") is aioh5saver.H5SaverLowLevel
    theirs = dict(reference)
    assert theirs.pop("saver class") is PYMODAQ_SAVER
    assert theirs.pop("browser class") is PYMODAQ_SAVER
    assert_same(results, theirs)


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("installed")
def test_every_saver_class_writes_through_the_switch_the_file_pymodaq_data_writes(
    reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """DataSaverLoader, AxisSaverLoader, BkgSaver, DataEnlargeableSaver, DataToExportSaver,
    DataToExportEnlargeableSaver (enlargeable navigation axes: EARRAYs of single values),
    DataToExportTimedSaver and DataToExportExtendedSaver, run on aioh5saver's saver, write a
    file whose canonical dump is pymodaq_data's own (timestamps set; the moment of writing and
    the writer's version are the dump's volatile root attributes)."""
    path = tmp_path / "ours.h5"
    assert write_scenario(path) is aioh5saver.H5SaverLowLevel
    ours, theirs = canonical_dump(path), canonical_dump(reference[0])
    assert "/RawData/Detector001/NavAxes/Axis00 Dataset" in theirs
    assert ours == theirs


@pytest.mark.usefixtures("installed")
def test_everything_loads_through_the_switch_as_pymodaq_data_loads_it(
    reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A file written through the switch, read back through it (DataLoader.load_data with and
    without background and load_all, DataLoader.load_all, the navigation axes, the log, the
    browser and the txt and npy exporters) gives what pymodaq_data gives for its own file:
    values, axes, navigation axes, error bars, timestamps, background, logs, exports."""
    path = tmp_path / "ours.h5"
    write_scenario(path)
    exports = tmp_path / "exports"
    exports.mkdir()
    results = load_everything(path, exports)
    assert results["log"] == LOG_LINES
    loaded = results["load_data /RawData/Detector000/Data1D/CH00/Data00 bkg=False all=False"]
    assert loaded["errors"] is not None  # error bars found next to the data
    _ours(results, reference[1])


@pytest.mark.usefixtures("installed")
def test_pymodaq_data_s_own_file_loads_through_the_switch_as_without_it(
    reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The file pymodaq_data wrote, read through the switch (aioh5saver's safe reader), gives
    what pymodaq_data's own reader gives."""
    exports = tmp_path / "exports"
    exports.mkdir()
    _ours(load_everything(reference[0], exports), reference[1])


def test_install_rebinds_pymodaq_data_s_names_and_uninstall_restores_them() -> None:
    """install() makes data_saving, saving and browsing name aioh5saver's saver and nodes,
    rebuilds H5BrowserUtil on aioh5saver's saver (reading through h5py, also when asked for
    PyTables) and makes NodeNotFoundError a pymodaq NodeError; a second install() changes
    nothing; uninstall() (twice) puts every name back."""
    originals = {
        (module, name): getattr(module, name)
        for module in (ds, pm_saving, pm_browsing)
        for name in ("H5SaverLowLevel", "GROUP", "CARRAY", "EARRAY", "Node", "H5BrowserUtil")
        if hasattr(module, name)
    }
    assert not issubclass(aioh5saver.NodeNotFoundError, pm_backends.NodeError)
    try:
        for _ in range(2):
            aioh5saver.pymodaq.install()
            assert aioh5saver.pymodaq.installed()
            assert ds.H5SaverLowLevel is aioh5saver.H5SaverLowLevel
            assert pm_saving.H5SaverLowLevel is aioh5saver.H5SaverLowLevel
            assert pm_browsing.H5SaverLowLevel is aioh5saver.H5SaverLowLevel
            assert (ds.GROUP, ds.CARRAY, ds.EARRAY, ds.Node) == (
                aioh5saver.GROUP,
                aioh5saver.CARRAY,
                aioh5saver.EARRAY,
                aioh5saver.Node,
            )
            assert issubclass(pm_browsing.H5BrowserUtil, aioh5saver.H5SaverLowLevel)
            assert pm_browsing.H5BrowserUtil.__name__ == "H5BrowserUtil"
            # The browser's default backend (PyTables) and an explicit one read through h5py.
            assert pm_browsing.H5BrowserUtil().backend == "h5py"
            assert pm_browsing.H5BrowserUtil(backend="tables").backend == "h5py"
            assert issubclass(aioh5saver.NodeNotFoundError, pm_backends.NodeError)
            assert issubclass(aioh5saver.NodeNotFoundError, KeyError)
        # pymodaq_data's own classes are left as they were.
        assert pm_backends.GROUP is originals[(ds, "GROUP")]
    finally:
        aioh5saver.pymodaq.uninstall()
    aioh5saver.pymodaq.uninstall()
    assert not aioh5saver.pymodaq.installed()
    for (module, name), original in originals.items():
        assert getattr(module, name) is original, (module.__name__, name)
    assert not issubclass(aioh5saver.NodeNotFoundError, pm_backends.NodeError)
    assert aioh5saver.NodeNotFoundError.__mro__[1:3] == (aioh5saver.SaverError, KeyError)


@pytest.mark.usefixtures("installed")
def test_a_missing_node_is_caught_where_pymodaq_data_catches_node_error(tmp_path: Path) -> None:
    """Once installed, get_node on a missing child raises aioh5saver's NodeNotFoundError, which
    ``except NodeError`` catches (as DataSaverLoader does probing for an ErrorBar), and which is
    still a SaverError and a KeyError; a DataWithAxes saved without error bars loads."""
    saver = aioh5saver.H5SaverLowLevel()
    saver.init_file(tmp_path / "x.h5", new_file=True)
    try:
        with pytest.raises(pm_backends.NodeError) as caught:
            saver.get_node(saver.raw_group, "ErrorBar00")
        assert isinstance(caught.value, aioh5saver.SaverError)
        assert isinstance(caught.value, KeyError)
        channel = saver.get_set_group(saver.raw_group, "CH00", "pd")
        data = _photodiode(1.0)
        ds.DataSaverLoader(saver).add_data(channel, data)
        loaded = ds.DataLoader(saver).load_data("/RawData/CH00/Data00")
    finally:
        saver.close_file()
    assert loaded.errors is None
    np.testing.assert_array_equal(loaded.data[0], [2.0])


def test_enable_swmr_without_swmr_mode_raises_runtime_error_like_pymodaq_data(
    tmp_path: Path,
) -> None:
    """enable_swmr() on a file opened without swmr_mode raises a RuntimeError with
    pymodaq_data and with aioh5saver (there a SwmrModeError, also a ValueError), so callers
    written for pymodaq_data catch it."""
    for module in (pm_saving, aioh5saver):
        saver = module.H5SaverLowLevel(backend="h5py")
        saver.init_file(tmp_path / f"{module.__name__}.h5", new_file=True)
        try:
            with pytest.raises(RuntimeError) as caught:
                saver.enable_swmr()
        finally:
            saver.close_file()
        if module is aioh5saver:
            assert isinstance(caught.value, aioh5saver.SwmrModeError)
            assert isinstance(caught.value, ValueError)


@pytest.mark.usefixtures("installed")
def test_the_extended_saver_turns_swmr_on_after_its_first_point_through_the_switch(
    tmp_path: Path,
) -> None:
    """DataToExportExtendedSaver on a file opened with swmr_mode=True (pymodaq_data's DAQ_Scan
    flow) creates its arrays at the first point, turns SWMR on and writes the other points
    under SWMR; DataLoader then loads every point."""
    saver = aioh5saver.H5SaverLowLevel()
    saver.init_file(tmp_path / "swmr.h5", new_file=True, swmr_mode=True)
    try:
        det = saver.add_det_group(saver.raw_group, title="scan")
        extended = ds.DataToExportExtendedSaver(saver, extended_shape=(3,))
        extended.add_nav_axes(det, [Axis("u", "V", data=np.arange(3.0), index=0)])
        for i in range(3):
            extended.add_data(det, DataToExport("p", data=[_photodiode(i)]), indexes=(i,))
            assert saver.is_swmr_active
    finally:
        saver.close_file()
    loaded = ds.DataLoader(tmp_path / "swmr.h5").load_data(
        "/RawData/Detector000/Data0D/CH00/Data00", load_all=True
    )
    np.testing.assert_array_equal(loaded.data[0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(loaded.data[1], [0.0, -2.0, -4.0])
    assert [axis.label for axis in loaded.axes] == ["u"]


def test_importing_aioh5saver_does_not_import_pymodaq_data() -> None:
    """``import aioh5saver`` and ``import aioh5saver.pymodaq`` leave pymodaq_data unimported
    (in a fresh interpreter); only install() imports it."""
    code = (
        "import sys, aioh5saver, aioh5saver.pymodaq\n"
        "assert not any(m.startswith('pymodaq') for m in sys.modules), sorted(sys.modules)\n"
        "aioh5saver.pymodaq.install()\n"
        "assert 'pymodaq_data.h5modules.data_saving' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
