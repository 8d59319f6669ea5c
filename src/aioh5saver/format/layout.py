"""PyMoDAQ's layout rules that need no file: node names and their numbering, the attributes
each kind of node and the root carry, chunk shapes, and the one rule that tells a dataset's kind
from what it is (variable-length, resizable) rather than from its label alone."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

import numpy as np

from aioh5saver.errors import InvalidArgumentError, InvalidNameError, describe
from aioh5saver.format.attrs import encode_attr

__all__ = [
    "DEFAULT_TITLE",
    "ENLARGEABLE_KINDS",
    "LOGGER_NAME",
    "PYMODAQ_CLASSES",
    "array_attrs",
    "capitalize",
    "check_node_name",
    "check_title",
    "chunk_shape",
    "encode_shape",
    "fixed_kind",
    "format_version",
    "group_type_name",
    "incremental_group",
    "incremental_type",
    "node_marks",
    "package_version",
    "root_attrs",
    "vlen_kind",
]

#: The root's ``TITLE`` in a file PyMoDAQ creates.
DEFAULT_TITLE = "PyMoDAQ file"
#: The string array under the raw-data group that holds the log lines.
LOGGER_NAME = "Logger"

#: The ``CLASS`` labels PyMoDAQ writes on its nodes.
PYMODAQ_CLASSES = frozenset({"GROUP", "CARRAY", "EARRAY", "VLARRAY"})
#: The kinds of node that grow by rows.
ENLARGEABLE_KINDS = frozenset({"EARRAY", "VLARRAY", "StringARRAY"})


def vlen_kind(base: Any, subdtype: object) -> str:
    """The kind of a variable-length dataset of ``base`` elements whose ``subdtype`` label is
    given: ``StringARRAY`` for uint8 rows labelled ``"string"``, else ``VLARRAY``."""
    is_string = isinstance(subdtype, str) and subdtype == "string" and base == np.uint8
    return "StringARRAY" if is_string else "VLARRAY"


def fixed_kind(maxshape: tuple[int | None, ...] | None, label: object) -> str:
    """The kind of a dataset of fixed-size elements: ``EARRAY`` if it is labelled so and can
    grow along its first axis, else ``CARRAY`` (a label cannot make a fixed array grow)."""
    resizable = bool(maxshape) and maxshape is not None and maxshape[0] is None
    return "EARRAY" if resizable and isinstance(label, str) and label == "EARRAY" else "CARRAY"


def check_title(title: object, action: str) -> str:
    """``title`` as stored in a ``TITLE`` attribute: text without NUL (HDF5 strings end at
    one)."""
    text = str(title)
    if "\0" in text:
        raise InvalidArgumentError(
            f"{action}: expected a title without NUL characters, got {describe(title)}"
        )
    return text


def check_node_name(name: object, argument: str = "name") -> str:
    """``name`` if it is a valid node name: a non-empty str that is one path component."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{argument}: expected a node name as str, got {describe(name)}")
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise InvalidNameError(
            f"{argument}: expected a single path component (non-empty, no '/', not '.' or '..', "
            f"no NUL), got {name!r}"
        )
    return name


def capitalize(name: str) -> str:
    """``name`` with its first letter upper-cased, as PyMoDAQ names its nodes."""
    return name[:1].upper() + name[1:]


def group_type_name(group_type: object) -> str:
    """The name a ``group_type`` argument gives: an enum member's name, or the string."""
    if isinstance(group_type, Enum):
        return group_type.name
    if isinstance(group_type, str) and group_type:
        return group_type
    raise InvalidArgumentError(
        f"group_type: expected a GroupType member or a group type name, got {describe(group_type)}"
    )


def incremental_type(group_type: object) -> str:
    """The type name of incremental groups of ``group_type``, lower-cased (``detector``)."""
    return check_node_name(group_type_name(group_type), "group_type").lower()


def incremental_group(type_name: str, existing: Iterable[str]) -> tuple[str, str]:
    """The name and ``type`` attribute of a new incremental group of ``type_name``
    (:func:`incremental_type`) beside the ``existing`` names: ``<Type>NNN`` numbered one past
    the highest there (``Detector000``, ``Detector001``...); channel groups have the type
    ``""``."""
    prefix = capitalize(type_name)
    numbered = re.compile(re.escape(prefix) + r"(\d{3,})")
    indices = [int(match.group(1)) for name in existing if (match := numbered.fullmatch(name))]
    index = max(indices, default=-1) + 1
    return f"{prefix}{index:03d}", "" if type_name == "ch" else type_name


def node_marks(kind: str, title: str) -> dict[str, Any]:
    """The plain (not JSON) attributes that mark a node of ``kind`` (``GROUP``, ``CARRAY``,
    ``EARRAY`` or ``VLARRAY``), in the order they are written: ``TITLE``, ``CLASS``, and
    ``EXTDIM`` (the growing axis) on the enlargeable ones."""
    marks: dict[str, Any] = {"TITLE": title, "CLASS": kind}
    if kind in ENLARGEABLE_KINDS:
        marks["EXTDIM"] = 0
    return marks


def array_attrs(
    shape: tuple[int, ...], dtype: np.dtype[Any], subdtype: str, backend: str
) -> dict[str, Any]:
    """The attributes (PyMoDAQ's JSON encoding) that describe a new array, in order."""
    return {"shape": shape, "dtype": dtype.name, "subdtype": subdtype, "backend": backend}


def encode_shape(shape: Iterable[int]) -> str:
    """The ``shape`` attribute of an array of ``shape``, encoded as PyMoDAQ reads it."""
    return encode_attr(tuple(shape))


@functools.cache
def package_version() -> str:
    """The installed package's version, from its metadata (pyproject.toml), never copied
    into the source; "0+unknown" for a source tree that was never installed."""
    # Imported here: importlib.metadata costs every process that imports aioh5saver tens of
    # milliseconds, and most never ask for the version.
    from importlib import metadata

    try:
        return metadata.version("aioh5saver")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def format_version() -> str:
    """What the ``pymodaq_data_version`` attribute records: the pymodaq_data file format this
    package writes, marked as written by aioh5saver (a PEP 440 local version)."""
    own = package_version()
    own = "0" if own == "0+unknown" else own
    return f"5.3.0+aioh5saver{own.replace('.', '_').replace('-', '_')}"


def root_attrs(title: str, swmr_compatible: bool) -> dict[str, Any]:
    """The attributes of a new file's root group as stored, in order: ``CLASS`` plain, the
    others in PyMoDAQ's JSON encoding (``swmr_compatible`` marks a file created for SWMR)."""
    attrs: dict[str, Any] = {
        "TITLE": encode_attr(title),
        "CLASS": "GROUP",
        "pymodaq_version": encode_attr("0.0.0"),
        "pymodaq_data_version": encode_attr(format_version()),
    }
    if swmr_compatible:
        attrs["swmr_compatible"] = encode_attr(True)
    return attrs


# Enlargeable arrays get chunks of about this many bytes (and at least one row), so that an
# append of a batch writes whole chunks; small rows get smaller chunks, so that a file with many
# scalar channels does not reserve a mebibyte for each.
CHUNK_BYTES_LARGE_ROWS = 1 << 20
CHUNK_BYTES_SMALL_ROWS = 64 << 10
SMALL_ROW_BYTES = 4 << 10


def chunk_shape(row_shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """The chunk shape of an enlargeable array with rows of ``row_shape``: whole rows, about
    1 MiB per chunk for large rows and 64 KiB for small ones."""
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * itemsize)
    target = CHUNK_BYTES_SMALL_ROWS if row_bytes < SMALL_ROW_BYTES else CHUNK_BYTES_LARGE_ROWS
    return (max(1, target // row_bytes), *(max(1, n) for n in row_shape))
