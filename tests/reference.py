"""The reference scenario and the canonical dump that compare our files with pymodaq_data's.

:func:`write_scenario` makes the same calls on the ``H5SaverLowLevel`` of a given module
(``aioh5saver`` or ``pymodaq_data.h5modules.saving``); :func:`canonical_dump` prints a file as
text that two files share exactly when their trees, shapes, dtypes, attributes (value and
HDF5 type, byte for byte) and data are the same. What differs on purpose is left out and said
so here: chunk shapes (aioh5saver sizes chunks to its rows), and the root attributes that hold
the moment and name of writing or the writer's version (their HDF5 type is still compared).

Run as a script: ``python tests/reference.py write MODULE OUT.h5`` or ``... dump FILE.h5``.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np

#: Root attributes whose values depend on when, as what, and by which version a file was
#: written; the dump shows their HDF5 type and hides their value.
VOLATILE_ROOT_ATTRS = frozenset({"date", "time", "file", "pymodaq_data_version"})
#: Arrays up to this many elements are printed value by value; larger ones by digest.
_PRINTED_ELEMENTS = 64

REFERENCE_LOGS = ["log message 1", "log message 2"]
REFERENCE_STRINGS = ["hello", "wörld"]
REFERENCE_METADATA = {"author": "ref"}


def write_scenario(module_name: str, path: Path | str) -> None:
    """Write the reference scenario to ``path`` (or an ``hsds://`` location, for aioh5saver)
    with ``module_name``'s ``H5SaverLowLevel``: a scan with an actuator, two detectors,
    channels and data groups, fixed, scan-shaped and enlargeable arrays of several dtypes, a
    string array, log lines and attributes of every type PyMoDAQ encodes."""
    module = importlib.import_module(module_name)
    saver = module.H5SaverLowLevel(save_type="scan", backend="h5py")
    target = path if str(path).startswith("hsds://") else Path(path)
    saver.init_file(target, new_file=True, metadata=dict(REFERENCE_METADATA))
    try:
        saver.add_log(REFERENCE_LOGS[0])
        scan = saver.add_scan_group(
            saver.raw_group, title="scan", settings_as_xml="<scan/>", metadata={"steps": 3}
        )
        actuator = saver.add_act_group(scan, title="stage", settings_as_xml="<act/>")
        act_data = saver.add_data_group(actuator, "Data0D", title="position")
        saver.add_array(
            act_data,
            "axis",
            "axis",
            array_to_save=np.linspace(0.0, 1.0, 3),
            data_dimension="Data0D",
            metadata={"units": "mm", "label": "x"},
        )
        detector = saver.add_det_group(scan, title="spectrometer", metadata={"serial": 42})
        saver.add_det_group(scan, title="camera")
        channel = saver.add_ch_group(detector, title="ch0")
        data1d = saver.add_data_group(detector, "Data1D", title="spectra")
        saver.add_array(
            data1d,
            "data",
            "data",
            array_to_save=np.arange(6, dtype=np.float64).reshape(2, 3),
            data_dimension="Data1D",
            title="spectrum",
            metadata={"units": "counts"},
        )
        saver.add_array(
            data1d,
            "scan_data",
            "data",
            data_shape=(4,),
            array_type=np.float32,
            data_dimension="Data1D",
            scan_shape=(3,),
            add_scan_dim=True,
        )
        enlargeable = {
            "float64": ((1,), np.float64),
            "uint16": ((2, 3), np.uint16),
            "int32": ((4,), np.int32),
        }
        for label, (row_shape, dtype) in enlargeable.items():
            array = saver.add_array(
                channel,
                f"enl_{label}",
                "data_enlargeable",
                data_shape=row_shape,
                array_type=dtype,
                enlargeable=True,
                data_dimension="Data1D",
                title=label,
            )
            for row in range(3):
                array.append(np.full(row_shape, row, dtype=dtype))
            array.append(np.ones((2, *row_shape), dtype=dtype))
        strings = saver.add_string_array(data1d, "strings", title="notes")
        for text in REFERENCE_STRINGS:
            strings.append(text)
        for name, value in {
            "text": "é",
            "integer": -7,
            "real": 2.5,
            "flag": True,
            "nothing": None,
            "pair": (1, "a"),
            "items": [1, 2.0, "three"],
            "mapping": {"k": [1, 2]},
        }.items():
            saver.set_attr(detector, name, value)
        saver.add_log(REFERENCE_LOGS[1])
    finally:
        saver.close_file()


def _attribute_line(obj: h5py.HLObject, name: str, volatile: bool) -> str:
    attribute_id = h5py.h5a.open(obj.id, name.encode("utf-8", "surrogateescape"))
    stored_type = attribute_id.get_type()
    type_text = f"{type(stored_type).__name__} size={stored_type.get_size()}"
    if isinstance(stored_type, h5py.h5t.TypeStringID):
        type_text += f" vlen={stored_type.is_variable_str()} cset={stored_type.get_cset()}"
    value = "<volatile>" if volatile else repr(obj.attrs[name])
    return f"    @{name} [{type_text}] = {value}"


def _data_line(dataset: h5py.Dataset) -> str:
    if h5py.check_vlen_dtype(dataset.dtype) is not None:
        rows = [np.asarray(row).tobytes().hex() for row in dataset[()]]
        return f"    rows = {rows}"
    data = dataset[()]
    if np.size(data) <= _PRINTED_ELEMENTS:
        return f"    data = {np.asarray(data).tolist()!r}"
    digest = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
    return f"    data sha256 = {digest}"


def canonical_dump(path: Path) -> str:
    """The file at ``path`` as canonical text (see the module docstring)."""
    lines: list[str] = []
    with h5py.File(path, "r") as file:
        objects: list[tuple[str, Any]] = [("/", file)]
        file.visititems(lambda name, obj: objects.append((f"/{name}", obj)))
        for object_path, obj in sorted(objects, key=lambda item: item[0]):
            if isinstance(obj, h5py.Dataset):
                lines.append(f"{object_path} Dataset")
                lines.append(
                    f"    shape={obj.shape} maxshape={obj.maxshape} dtype={obj.dtype!r} "
                    f"vlen={h5py.check_vlen_dtype(obj.dtype)!r} chunked={obj.chunks is not None}"
                )
                lines.append(_data_line(obj))
            else:
                lines.append(f"{object_path} Group")
            for name in sorted(obj.attrs):
                volatile = object_path == "/" and name in VOLATILE_ROOT_ATTRS
                lines.append(_attribute_line(obj, name, volatile))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "write":
        write_scenario(arguments[0], Path(arguments[1]))
    elif command == "dump":
        sys.stdout.write(canonical_dump(Path(arguments[0])))
    else:
        sys.exit(f"usage: {sys.argv[0]} write MODULE OUT.h5 | dump FILE.h5")
