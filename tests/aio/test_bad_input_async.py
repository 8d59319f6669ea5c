"""Bad input to and misuse of AsyncH5Saver, on asyncio and trio: each misuse raises its
documented error (a SaverError that is also the natural builtin, naming what was expected and
what was given) at the call, without hanging and without changing the file; the few inputs
accepted on purpose are shown to work. ``docs/bad-input.md`` lists every case with its test,
and the last test here keeps that table and the tests in step."""

from __future__ import annotations

import asyncio
import errno
import gc
import hashlib
import importlib.util
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest
import trio
from test_swmr_faults import (
    REPLACEMENTS,
    TRUNCATIONS,
    check_a_replaced_file_breaks_the_writer,
    check_a_truncated_file_breaks_the_writer,
)

import aioh5saver
from aioh5saver import (
    AsyncH5Saver,
    ChannelAxis,
    ForeignEventLoopError,
    H5SaverLowLevel,
    NodeRef,
)
from cast_cases import by_target
from helpers import OLDER_THAN_1_10, swmr_capable_in_an_older_format

pytestmark = pytest.mark.anyio

TESTS = Path(__file__).resolve().parents[1]
DOC = TESTS.parent / "docs" / "bad-input.md"

ROW = np.array([1.0, 2.0, 3.0], dtype=np.float32)


# -- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nodes:
    """An open saver holding /RawData/E (rows of 3 float32), /RawData/C (a CARRAY),
    /RawData/S (strings), /RawData/Det (a group) and /RawData/v (a VLARRAY)."""

    saver: AsyncH5Saver
    path: Path
    earray: NodeRef
    carray: NodeRef
    strings: NodeRef
    group: NodeRef
    vlarray: NodeRef


async def _earray(saver: AsyncH5Saver) -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(3,),
        array_type=np.float32,
        enlargeable=True,
        data_dimension="Data1D",
    )


async def _nodes(saver: AsyncH5Saver, path: Path) -> Nodes:
    return Nodes(
        saver=saver,
        path=path,
        earray=await _earray(saver),
        carray=await saver.add_array(
            saver.raw_group, "c", "data", array_to_save=np.ones(3), data_dimension="Data1D"
        ),
        strings=await saver.add_string_array(saver.raw_group, "S"),
        group=await saver.get_set_group(saver.raw_group, "Det"),
        vlarray=await saver.create_vlarray(saver.raw_group, "v", np.float64),
    )


async def _paths(saver: AsyncH5Saver) -> list[str]:
    return sorted(node.path for node in await saver.walk_nodes("/"))


def _assert_clear(
    exc: BaseException, error: type[Exception], builtin: type[Exception], words: tuple[str, ...]
) -> None:
    """``exc`` is ``error``, a SaverError and ``builtin``, and its message says what was
    expected (or that no such node exists) and contains ``words``."""
    assert isinstance(exc, error), repr(exc)
    assert isinstance(exc, aioh5saver.SaverError), repr(exc)
    assert isinstance(exc, builtin), repr(exc)
    message = str(exc)
    assert "expected" in message or "no node at" in message, message
    for word in words:
        assert word in message, (word, message)


def _run_other_loop(library: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``call`` to completion in a new event loop of ``library``, in this thread."""
    if library == "asyncio":

        async def main() -> Any:
            return await call()

        return asyncio.run(main())
    return trio.run(call)


def _other_library(anyio_backend: str) -> str:
    return "trio" if anyio_backend == "asyncio" else "asyncio"


# -- the catalogue of misuses of an open saver ------------------------------------------------


@dataclass(frozen=True)
class Misuse:
    """One misuse of an open saver: the call, the error class, the builtin it also is, and
    words its message must contain."""

    id: str
    call: Callable[[Nodes], Awaitable[Any]]
    error: type[Exception]
    builtin: type[Exception]
    words: tuple[str, ...]


def _append(target: str, data: Any, *, copy: bool = True) -> Callable[[Nodes], Awaitable[Any]]:
    def call(nodes: Nodes) -> Awaitable[Any]:
        where = getattr(nodes, target) if target in Nodes.__dataclass_fields__ else target
        return nodes.saver.append(where, data, copy=copy)

    return call


def _in_folder(nodes: Nodes) -> Awaitable[Any]:
    return nodes.saver.save_file(nodes.path.parent)


MISUSES: list[Misuse] = [
    # appends: checked at the call, on the event loop
    Misuse(
        "append a row of the wrong shape",
        _append("earray", np.ones(4, dtype=np.float32)),
        aioh5saver.ShapeMismatchError,
        ValueError,
        ("/RawData/E", "(3,)", "(4,)"),
    ),
    Misuse(
        "append a batch of the wrong row shape",
        _append("earray", np.ones((2, 2), dtype=np.float32)),
        aioh5saver.ShapeMismatchError,
        ValueError,
        ("(3,)", "(2, 2)"),
    ),
    Misuse(
        "append a scalar to rows of 3",
        _append("earray", np.float32(1)),
        aioh5saver.ShapeMismatchError,
        ValueError,
        ("(3,)", "shape ()"),
    ),
    Misuse(
        "append text to a float array",
        _append("earray", np.array(["a", "b", "c"])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("float32", "<U1"),
    ),
    Misuse(
        "append complex numbers to a float array",
        _append("earray", np.ones(3, dtype=complex)),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("float32", "complex128", ".astype('float32')"),
    ),
    Misuse(
        "append an object array",
        _append("earray", np.array([1.0, "a", None], dtype=object)),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("float32", "dtype object"),
    ),
    Misuse(
        "append a structured array",
        _append("earray", np.zeros(3, dtype=[("a", "f4")])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("float32", "[('a', '<f4')]"),
    ),
    Misuse(
        "append a list instead of an array",
        _append("earray", [1.0, 2.0, 3.0]),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("numpy array", "list [1.0, 2.0, 3.0]"),
    ),
    Misuse(
        "append a str to a numeric array",
        _append("earray", "abc"),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("numpy array", "str 'abc'"),
    ),
    Misuse(
        "append None",
        _append("earray", None),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("numpy array", "NoneType None"),
    ),
    Misuse(
        "append copy=False of an uncastable dtype",
        _append("earray", np.ones(3, dtype=complex), copy=False),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("float32", "complex128"),
    ),
    Misuse(
        "append copy=False of a list",
        _append("earray", [1.0, 2.0, 3.0], copy=False),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("numpy array", "list"),
    ),
    Misuse(
        "append copy=False of the wrong shape",
        _append("earray", np.ones((4, 8), dtype=np.float32)[:, ::2], copy=False),
        aioh5saver.ShapeMismatchError,
        ValueError,
        ("(3,)", "(4, 4)"),
    ),
    Misuse(
        "append to a fixed CARRAY",
        _append("carray", np.ones(3)),
        aioh5saver.NodeKindError,
        TypeError,
        ("/RawData/C", "EARRAY", "CARRAY"),
    ),
    Misuse(
        "append to a group",
        _append("group", np.ones(3)),
        aioh5saver.NodeKindError,
        TypeError,
        ("/RawData/Det", "EARRAY", "GROUP"),
    ),
    Misuse(
        "append to a VLARRAY",
        _append("vlarray", np.ones(3)),
        aioh5saver.NodeKindError,
        TypeError,
        ("/RawData/v", "EARRAY", "VLARRAY"),
    ),
    Misuse(
        "append a number to a string array",
        _append("strings", 5),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/S", "a str", "int 5"),
    ),
    Misuse(
        "append an array to a string array",
        _append("strings", np.ones(3)),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("a str", "ndarray"),
    ),
    Misuse(
        "append bytes to a string array",
        _append("strings", b"abc"),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("a str", "bytes b'abc'"),
    ),
    Misuse(
        "add_log with a non-str message",
        lambda n: n.saver.add_log(42),  # type: ignore[arg-type]
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/Logger", "a str", "int 42"),
    ),
    Misuse(
        "append to a missing path",
        _append("/RawData/Nope", ROW),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("/RawData/Nope",),
    ),
    Misuse(
        "append where of a wrong type",
        lambda n: n.saver.append(42, ROW),  # type: ignore[arg-type]
        aioh5saver.NodeKindError,
        TypeError,
        ("where", "NodeRef", "int 42"),
    ),
    Misuse(
        "NodeRef of an unknown kind",
        lambda n: n.saver.append(NodeRef("/RawData/E", "TABLE"), ROW),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("kind", "EARRAY", "'TABLE'"),
    ),
    # errors raised on the writer thread keep their class on the way back
    Misuse(
        "name with a slash",
        lambda n: n.saver.add_string_array(n.saver.raw_group, "a/b"),
        aioh5saver.InvalidNameError,
        ValueError,
        ("single path component", "'a/b'"),
    ),
    Misuse(
        "empty name",
        lambda n: n.saver.get_set_group(n.saver.raw_group, ""),
        aioh5saver.InvalidNameError,
        ValueError,
        ("non-empty", "''"),
    ),
    Misuse(
        "name with a NUL character",
        lambda n: n.saver.add_string_array(n.saver.raw_group, "a\0b"),
        aioh5saver.InvalidNameError,
        ValueError,
        ("no NUL", "'a\\x00b'"),
    ),
    Misuse(
        "unknown DataDim",
        lambda n: n.saver.add_data_group(n.saver.raw_group, "Data3D"),
        aioh5saver.InvalidEnumError,
        ValueError,
        ("data_dim", "Data1D", "'Data3D'"),
    ),
    Misuse(
        "NaN fill value for an int array",
        lambda n: n.saver.add_array(
            n.saver.raw_group,
            "x",
            "data",
            data_shape=(2,),
            array_type="int8",
            scan_shape=(2,),
            add_scan_dim=True,
            fill_value=np.nan,
            data_dimension="Data1D",
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("fill_value", "int8", "float nan"),
    ),
    *[
        Misuse(
            f"zero-sized row shape {shape} for an enlargeable array",
            lambda n, shape=shape: n.saver.add_array(
                n.saver.raw_group,
                "x",
                "data",
                data_shape=shape,
                array_type="float64",
                enlargeable=True,
                data_dimension="Data1D",
            ),
            aioh5saver.InvalidArgumentError,
            ValueError,
            ("data_shape", "no dimension of size 0", str(shape)),
        )
        for shape in [(0,), (2, 0)]
    ],
    Misuse(
        "zero-sized row shape for create_earray",
        lambda n: n.saver.create_earray(n.saver.raw_group, "y", "f8", (0, 3)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_shape", "(0, 3)"),
    ),
    Misuse(
        "unknown dtype for an enlargeable array",
        lambda n: n.saver.create_earray(n.saver.raw_group, "y", "flaot", (2,)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("numpy dtype", "'flaot'"),
    ),
    Misuse(
        "read a missing node",
        lambda n: n.saver.read("/RawData/Nope"),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("/RawData/Nope",),
    ),
    Misuse(
        "read a group",
        lambda n: n.saver.read(n.group),
        aioh5saver.NodeKindError,
        TypeError,
        ("an array", "/RawData/Det"),
    ),
    Misuse(
        "read_strings of a numeric array",
        lambda n: n.saver.read_strings(n.earray),
        aioh5saver.NodeKindError,
        TypeError,
        ("a string array", "/RawData/E"),
    ),
    Misuse(
        "start_swmr on a saver opened without swmr",
        lambda n: n.saver.start_swmr(),
        aioh5saver.SwmrModeError,
        RuntimeError,
        ("swmr=True", "without"),
    ),
    Misuse(
        "set_swmr_flush_interval negative",
        lambda n: n.saver.set_swmr_flush_interval(-1),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("interval", "non-negative int", "int -1"),
    ),
    Misuse(
        "set_swmr_flush_interval NaN",
        lambda n: n.saver.set_swmr_flush_interval(float("nan")),  # type: ignore[arg-type]
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("interval", "float nan"),
    ),
    Misuse(
        "save_file without a path",
        lambda n: n.saver.save_file(None),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "NoneType None"),
    ),
    Misuse(
        "save_file path of a wrong type",
        lambda n: n.saver.save_file(5),  # type: ignore[arg-type]
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "int 5"),
    ),
    Misuse(
        "save_file onto the open file",
        lambda n: n.saver.save_file(n.path),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "other than the open file", "test.h5"),
    ),
    Misuse(
        "save_file into a folder",
        _in_folder,
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "a folder"),
    ),
    Misuse(
        "title with a NUL character",
        lambda n: n.saver.add_det_group(n.saver.raw_group, title="x\0y"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("title",),
    ),
    Misuse(
        "unknown dtype for a VLARRAY",
        lambda n: n.saver.create_vlarray(n.saver.raw_group, "w", "flaot"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("'flaot'",),
    ),
    Misuse(
        "attribute name with a NUL character",
        lambda n: n.saver.set_attr(n.earray, "x\0y", 1),
        aioh5saver.InvalidNameError,
        ValueError,
        ("'x\\x00y'",),
    ),
    Misuse(
        "unknown compression filter",
        lambda n: n.saver.define_compression("zip", 9),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("'zip'",),
    ),
    # channels of enlargeable data: every argument is checked before anything is written
    Misuse(
        "channel of DataND",
        lambda n: n.saver.add_enlargeable_channel(n.group, "DataND", data_shape=(2, 2)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_dim", "Data0D, Data1D or Data2D", "'DataND'"),
    ),
    Misuse(
        "channel without a row shape",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data1D"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_shape", "Data1D", "None"),
    ),
    Misuse(
        "channel row shape of another dimension",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data2D", data_shape=(5,)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_shape", "(rows, columns)", "(5,)"),
    ),
    Misuse(
        "0D channel with rows of 3",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data0D", data_shape=(3,)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("(1,) for Data0D", "(3,)"),
    ),
    Misuse(
        "channel axis of the wrong length",
        lambda n: n.saver.add_enlargeable_channel(
            n.group, "Data1D", data_shape=(5,), axes=[ChannelAxis("x", "mm", np.arange(4))]
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("'x'", "5 values", "got 4"),
    ),
    Misuse(
        "axis on a 0D channel",
        lambda n: n.saver.add_enlargeable_channel(
            n.group, "Data0D", axes=[ChannelAxis("x", "mm", [1.0])]
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("row dimension below 0", "index 0"),
    ),
    Misuse(
        "two channel axes for one row dimension",
        lambda n: n.saver.add_enlargeable_channel(
            n.group,
            "Data2D",
            data_shape=(2, 3),
            axes=[ChannelAxis("y", "mm", [0, 1]), ChannelAxis("z", "mm", [0, 1], index=0)],
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("one axis per row dimension", "dimension 0"),
    ),
    Misuse(
        "channel axis given as a tuple",
        lambda n: n.saver.add_enlargeable_channel(
            n.group, "Data1D", data_shape=(2,), axes=[("x", "mm", [0.0, 1.0])]
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("ChannelAxis", "tuple"),
    ),
    Misuse(
        "channel axis with NaN",
        lambda n: n.saver.add_enlargeable_channel(
            n.group, "Data1D", data_shape=(2,), axes=[ChannelAxis("x", "mm", [0.0, np.nan])]
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("'x'", "finite numbers", "nan"),
    ),
    Misuse(
        "channel metadata setting an attribute the channel sets",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data0D", metadata={"units": "V"}),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("metadata", "['units']", "units, origin"),
    ),
    Misuse(
        "channel metadata with an empty key",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data0D", metadata={"": 1}),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("metadata", "non-empty str keys", "{'': 1}"),
    ),
    Misuse(
        "channel of an unknown source",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data0D", source="simulated"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("source", "'raw', 'calculated'", "'simulated'"),
    ),
    Misuse(
        "channel of text rows",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data0D", dtype="U8"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("dtype", "numeric", "'U8'"),
    ),
    Misuse(
        "channel under an array",
        lambda n: n.saver.add_enlargeable_channel(n.earray, "Data0D"),
        aioh5saver.NodeKindError,
        TypeError,
        ("where", "a group", "/RawData/E"),
    ),
    Misuse(
        "channel under a missing group",
        lambda n: n.saver.add_enlargeable_channel("/RawData/Nope", "Data0D"),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("/RawData/Nope",),
    ),
    Misuse(
        "nav axis with a label that is not a str",
        lambda n: n.saver.add_nav_axis(n.group, 5),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("label", "int 5"),
    ),
    Misuse(
        "channel name with a NUL character",
        lambda n: n.saver.add_enlargeable_channel(n.group, "Data0D", name="a\0b"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("name", "without NUL characters", "'a\\x00b'"),
    ),
    Misuse(
        "nav axis of text values",
        lambda n: n.saver.add_nav_axis(n.group, "time", "s", dtype="U8"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("dtype", "numeric", "'U8'"),
    ),
]


def _params(cases: list[Any]) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in cases]


@pytest.mark.parametrize("case", _params(MISUSES))
async def test_misuse_raises_its_documented_error_and_changes_nothing(
    case: Misuse, h5_path: Path
) -> None:
    """Each misuse of an open saver raises its SaverError subclass (also the natural builtin)
    at the call, with a message saying what was expected and what was given; the file's
    nodes are unchanged and the saver keeps working (a good row appended after it is the only
    row written)."""
    async with AsyncH5Saver.open(h5_path) as saver:
        nodes = await _nodes(saver, h5_path)
        before = await _paths(saver)
        with pytest.raises(case.error) as caught:
            await case.call(nodes)
        _assert_clear(caught.value, case.error, case.builtin, case.words)
        await saver.append(nodes.earray, ROW)
        await saver.flush()
        assert await _paths(saver) == before
        rows = await saver.read(nodes.earray)
    np.testing.assert_array_equal(rows, [ROW])


# -- bad open() arguments -----------------------------------------------------------------------


@dataclass(frozen=True)
class BadOpen:
    """``AsyncH5Saver.open(path(tmp_path), **options)`` and what it raises, before anything is
    created."""

    id: str
    path: Callable[[Path], Any]
    options: dict[str, Any]
    error: type[Exception]
    builtin: type[Exception]
    words: tuple[str, ...]


def _file(tmp: Path) -> Path:
    return tmp / "x.h5"


BAD_OPENS: list[BadOpen] = [
    BadOpen(
        "path of a wrong type",
        lambda tmp: 3.5,
        {},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("path", "str or os.PathLike", "float 3.5"),
    ),
    BadOpen(
        "empty path",
        lambda tmp: "",
        {},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("path of a file", "str ''"),
    ),
    BadOpen(
        "path ending in a separator",
        lambda tmp: f"{tmp / 'out'}/",
        {},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("path of a file", "out/"),
    ),
    BadOpen(
        "path in a missing folder",
        lambda tmp: tmp / "missing" / "x.h5",
        {},
        aioh5saver.MissingFileError,
        FileNotFoundError,
        ("existing folder", "missing/x.h5", "does not exist"),
    ),
    BadOpen(
        "new_file not a bool or None",
        _file,
        {"new_file": "yes"},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("new_file", "None", "True", "False", "str 'yes'"),
    ),
    BadOpen(
        "unknown save_type",
        _file,
        {"save_type": "movie"},
        aioh5saver.InvalidEnumError,
        ValueError,
        ("save_type", "'scan'", "'movie'"),
    ),
    BadOpen(
        "metadata not a mapping",
        _file,
        {"metadata": 5},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("metadata", "mapping", "int 5"),
    ),
    BadOpen(
        "metadata with a non-str key",
        _file,
        {"metadata": {1: 2}},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("metadata", "str keys", "{1: 2}"),
    ),
    BadOpen(
        "flush_interval negative",
        _file,
        {"flush_interval": -1},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("flush_interval", "non-negative int", "int -1"),
    ),
    BadOpen(
        "flush_interval infinite",
        _file,
        {"flush_interval": float("inf")},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("flush_interval", "float inf"),
    ),
    BadOpen(
        "flush_period NaN",
        _file,
        {"flush_period": float("nan")},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("flush_period", "positive number of seconds", "float nan"),
    ),
    BadOpen(
        "flush_period negative",
        _file,
        {"flush_period": -1.0},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("flush_period", "float -1.0"),
    ),
    BadOpen(
        "flush_period a bool",
        _file,
        {"flush_period": True},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("flush_period", "bool True"),
    ),
    BadOpen(
        "max_pending_bytes infinite",
        _file,
        {"max_pending_bytes": float("inf")},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("max_pending_bytes", "positive int", "float inf"),
    ),
    BadOpen(
        "max_pending_bytes negative",
        _file,
        {"max_pending_bytes": -1},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("max_pending_bytes", "int -1"),
    ),
    BadOpen(
        "max_pending_seconds NaN",
        _file,
        {"max_pending_seconds": float("nan")},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("max_pending_seconds", "positive number of seconds", "float nan"),
    ),
    BadOpen(
        "max_pending_seconds zero",
        _file,
        {"max_pending_seconds": 0},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("max_pending_seconds", "int 0"),
    ),
    BadOpen(
        "switch_interval NaN",
        _file,
        {"switch_interval": float("nan")},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("switch_interval", "positive number of seconds", "float nan"),
    ),
    BadOpen(
        "switch_interval zero",
        _file,
        {"switch_interval": 0},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("switch_interval", "int 0"),
    ),
    BadOpen(
        "tuning not a WriterTuning",
        _file,
        {"tuning": {"batch_bytes": 1 << 20}},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("tuning", "WriterTuning", "dict"),
    ),
    BadOpen(
        "tuning size zero",
        _file,
        {"tuning": aioh5saver.WriterTuning(batch_bytes=0)},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("tuning.batch_bytes", "int >= 1", "int 0"),
    ),
    BadOpen(
        "tuning delay NaN",
        _file,
        {"tuning": aioh5saver.WriterTuning(swmr_resume_delay_s=float("nan"))},
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("tuning.swmr_resume_delay_s", "finite number >= 0", "float nan"),
    ),
]


@pytest.mark.parametrize("case", _params(BAD_OPENS))
async def test_bad_open_argument_raises_its_documented_error_and_creates_nothing(
    case: BadOpen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bad argument of ``AsyncH5Saver.open`` (checked at the call, or at entry for the
    folder) raises its SaverError subclass naming the argument and the value given, and no
    file is created anywhere under the working folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(case.error) as caught:
        async with AsyncH5Saver.open(case.path(tmp_path), **case.options):
            pytest.fail("the saver opened")
    _assert_clear(caught.value, case.error, case.builtin, case.words)
    assert list(tmp_path.rglob("*")) == []


# -- the saver's life cycle ---------------------------------------------------------------------


async def test_calls_on_a_saver_never_entered_raise_saver_closed_error(h5_path: Path) -> None:
    """A saver made by open() but never entered refuses every call with SaverClosedError
    saying it was not yet opened, and creates no file."""
    saver = AsyncH5Saver.open(h5_path)
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "append": lambda: saver.append("/RawData/E", ROW),
        "flush": saver.flush,
        "add_det_group": lambda: saver.add_det_group("/RawData"),
        "add_log": lambda: saver.add_log("hello"),
    }
    for name, call in calls.items():
        with pytest.raises(aioh5saver.SaverClosedError) as caught:
            await call()
        _assert_clear(
            caught.value,
            aioh5saver.SaverClosedError,
            ValueError,
            ("open saver", "not yet opened", "async with"),
        )
        assert str(caught.value).startswith(f"{name}: expected an open saver")
    with pytest.raises(aioh5saver.SaverClosedError) as caught:
        _ = saver.raw_group
    _assert_clear(
        caught.value, aioh5saver.SaverClosedError, ValueError, ("raw_group", "not yet opened")
    )
    await saver.aclose()  # closing a saver never opened does nothing
    assert not h5_path.exists()


async def test_calls_after_aclose_inside_async_with_raise_saver_closed_error(
    h5_path: Path,
) -> None:
    """After ``await saver.aclose()``, still inside ``async with``, every call raises
    SaverClosedError ('got a closed one'); what was appended before is in the file."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        await saver.append(array, ROW)
        await saver.aclose()
        for call in (
            lambda: saver.append(array, ROW),
            saver.flush,
            lambda: saver.read(array),
            lambda: saver.set_swmr_flush_interval(2),
        ):
            with pytest.raises(aioh5saver.SaverClosedError) as caught:
                await call()
            _assert_clear(caught.value, aioh5saver.SaverClosedError, ValueError, ("closed one",))
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 3)


async def test_calls_after_leaving_async_with_raise_saver_closed_error(h5_path: Path) -> None:
    """After ``async with`` is left, calls raise SaverClosedError and a second aclose() does
    nothing."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
    with pytest.raises(aioh5saver.SaverClosedError, match="append: expected an open saver"):
        await saver.append(array, ROW)
    with pytest.raises(aioh5saver.SaverClosedError, match="add_log: expected an open saver"):
        await saver.add_log("late")
    await saver.aclose()
    assert not saver.isopen()


async def test_finalize_swmr_closes_the_saver_so_later_appends_raise(h5_path: Path) -> None:
    """``finalize_swmr()`` (keep_open=False, as in pymodaq_data) closes the saver: a later
    append raises SaverClosedError."""
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        array = await _earray(saver)
        await saver.append(array, ROW)
        await saver.finalize_swmr()
        with pytest.raises(aioh5saver.SaverClosedError, match="closed one"):
            await saver.append(array, ROW)
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 3)


async def test_entering_a_closed_saver_again_raises_and_leaves_the_file_alone(
    h5_path: Path,
) -> None:
    """``async with`` on a saver already closed raises SaverClosedError before touching the
    file: it is not created again (which would truncate it) and keeps its rows."""
    saver = AsyncH5Saver.open(h5_path)
    async with saver:
        array = await _earray(saver)
        await saver.append(array, np.stack([ROW, ROW]))
    with pytest.raises(aioh5saver.SaverClosedError) as caught:
        async with saver:
            pytest.fail("a closed saver was entered again")
    _assert_clear(
        caught.value,
        aioh5saver.SaverClosedError,
        ValueError,
        ("async with", "not yet entered", "closed one", "AsyncH5Saver.open"),
    )
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (2, 3)


async def test_entering_a_saver_inside_itself_raises_and_the_outer_one_works(
    h5_path: Path,
) -> None:
    """A nested ``async with saver`` raises InvalidArgumentError ('already entered'); the
    outer block still writes and closes normally."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        with pytest.raises(aioh5saver.InvalidArgumentError) as caught:
            async with saver:
                pytest.fail("a saver was entered twice")
        _assert_clear(
            caught.value,
            aioh5saver.InvalidArgumentError,
            ValueError,
            ("not yet entered", "already entered"),
        )
        await saver.append(array, ROW)
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 3)


async def test_entering_one_saver_from_two_tasks_lets_one_in_and_refuses_the_other(
    h5_path: Path,
) -> None:
    """Two tasks entering the same saver at once: the first opens it, the second raises
    InvalidArgumentError at once, while the first is still opening (before, both got in and
    the file was opened twice); the saver works and closes normally."""
    saver = AsyncH5Saver.open(h5_path)
    entered: list[int] = []
    refused: list[BaseException] = []

    async def enter(task: int) -> None:
        try:
            async with saver:
                entered.append(task)
                array = await _earray(saver)
                await saver.append(array, ROW)
        except aioh5saver.InvalidArgumentError as exc:
            refused.append(exc)

    async with anyio.create_task_group() as tg:
        # Both start in the same scheduling round: the second checks the saver while the
        # first waits for the worker thread that opens the file.
        tg.start_soon(enter, 1)
        tg.start_soon(enter, 2)
    assert len(entered) == 1
    assert len(refused) == 1
    _assert_clear(
        refused[0], aioh5saver.InvalidArgumentError, ValueError, ("already entered", "one task")
    )
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 3)


async def test_append_while_another_task_closes_raises_saver_closed_error(
    h5_path: Path,
) -> None:
    """Once another task has started aclose(), an append raises SaverClosedError instead of
    being accepted after the close; everything appended before is written."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        await saver.append(array, np.zeros((500, 3), dtype=np.float32))
        async with anyio.create_task_group() as tg:
            tg.start_soon(saver.aclose)
            while saver.isopen():
                await anyio.lowlevel.checkpoint()
            with pytest.raises(aioh5saver.SaverClosedError, match="closed one"):
                await saver.append(array, ROW)
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (500, 3)


async def test_a_second_aclose_waits_until_the_first_has_closed_the_file(h5_path: Path) -> None:
    """aclose() called while another task's aclose() is still closing returns only once the
    file is closed (it used to return at once, with the file still open)."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        await saver.append(array, np.zeros((20_000, 3), dtype=np.float32))
        async with anyio.create_task_group() as tg:
            tg.start_soon(saver.aclose)
            while saver.isopen():
                await anyio.lowlevel.checkpoint()
            await saver.aclose()
            assert saver._writer.stopped
            assert saver._writer.runner.closed
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (20_000, 3)


@pytest.mark.timeout(30)
async def test_a_cancelled_aclose_still_closes_and_leaving_async_with_does_not_hang(
    h5_path: Path,
) -> None:
    """aclose() in a cancelled scope still closes the file (shielded), so that leaving
    ``async with`` afterwards returns (it used to wait forever for a writer never told to
    stop)."""
    with anyio.fail_after(20):
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _earray(saver)
            await saver.append(array, ROW)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await saver.aclose()
            assert saver._writer.runner.closed
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 3)


async def test_plain_with_is_refused_by_python_before_anything_is_opened(
    tmp_path: Path,
) -> None:
    """``with`` instead of ``async with`` raises Python's TypeError; no file is created."""
    path = tmp_path / "x.h5"
    saver = AsyncH5Saver.open(path)

    def enter_without_async() -> None:
        with saver:  # type: ignore[attr-defined]
            pytest.fail("a plain with entered the saver")

    with pytest.raises(TypeError, match="context manager protocol"):
        enter_without_async()
    assert not path.exists()


async def test_append_without_await_accepts_nothing_and_python_warns(h5_path: Path) -> None:
    """Forgetting ``await`` on append: Python warns that the coroutine was never awaited, and
    nothing is accepted or written."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        with pytest.warns(RuntimeWarning, match="was never awaited"):
            saver.append(array, ROW)  # no await: the misuse under test
            gc.collect()
        assert saver.statistics().bytes_pending == 0
        await saver.flush()
        assert (await saver.read(array)).shape == (0, 3)


# -- threads and event loops --------------------------------------------------------------------


@pytest.mark.parametrize("library", ["asyncio", "trio"])
async def test_calls_from_a_plain_thread_with_its_own_loop_raise_foreign_event_loop_error(
    h5_path: Path, library: str
) -> None:
    """A thread that runs its own event loop (asyncio.run or trio.run) and calls the saver
    gets ForeignEventLoopError (a RuntimeError) naming both threads, for appends, awaited
    calls and aclose alike (these used to hang, or to queue rows from the wrong thread); the
    saver keeps working and holds no row from that thread."""
    outcome: dict[str, BaseException | None] = {}
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "append": lambda: saver.append(array, ROW),
            "flush": saver.flush,
            "add_det_group": lambda: saver.add_det_group(saver.raw_group),
            "aclose": saver.aclose,
        }

        def in_thread() -> None:
            for name, call in calls.items():
                try:
                    _run_other_loop(library, call)
                except BaseException as exc:
                    outcome[name] = exc
                else:
                    outcome[name] = None

        thread = threading.Thread(target=in_thread, name="foreign")
        thread.start()
        await anyio.to_thread.run_sync(thread.join)
        assert set(outcome) == set(calls)
        for name, exc in outcome.items():
            assert isinstance(exc, ForeignEventLoopError), (name, exc)
            assert isinstance(exc, RuntimeError)
            message = str(exc)
            assert message.startswith(f"{name}: expected a call from the event loop"), message
            assert "in thread 'MainThread', got one from thread 'foreign'" in message, message
            assert "anyio.from_thread.run" in message
        assert saver.isopen()
        await saver.append(array, ROW)
        await saver.flush()
        rows = await saver.read(array)
    np.testing.assert_array_equal(rows, [ROW])


async def test_calls_from_another_event_loop_in_the_same_thread_raise(
    h5_path: Path, anyio_backend: str
) -> None:
    """Code that starts another event loop inside the saver's own thread (trio.run inside
    asyncio, asyncio.run inside trio) and calls the saver from it gets ForeignEventLoopError
    for every call that would wait (these used to deadlock or crash the loop), naming both
    loops; the saver keeps working."""
    other = _other_library(anyio_backend)
    names = {"asyncio": "an asyncio loop", "trio": "a trio run"}
    async with AsyncH5Saver.open(h5_path, max_pending_bytes=4096) as saver:
        array = await _earray(saver)
        # Held in the budget until written: the writer cannot run while the other loop
        # blocks this one, so the next large append would have to wait.
        await saver.append(array, np.zeros((100, 3), dtype=np.float32))
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "flush": saver.flush,
            "add_det_group": lambda: saver.add_det_group(saver.raw_group),
            "append": lambda: saver.append(array, np.zeros((300, 3), dtype=np.float32)),
            "aclose": saver.aclose,
        }
        for name, call in calls.items():
            with pytest.raises(ForeignEventLoopError) as caught:
                _run_other_loop(other, call)
            message = str(caught.value)
            assert message.startswith(f"{name}: expected a call from the event loop"), message
            assert f"opened the saver ({names[anyio_backend]})" in message, message
            assert f"another event loop ({names[other]})" in message, message
        await saver.append(array, ROW)
        await saver.flush()
        rows = await saver.read(array)
    assert rows.shape == (101, 3)


async def test_worker_threads_calling_through_from_thread_run_are_served_in_order(
    h5_path: Path,
) -> None:
    """The right way from a worker thread, ``anyio.from_thread.run(saver.append, ...)``, is
    accepted: the rows arrive in order."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)

        def work() -> None:
            for value in range(5):
                anyio.from_thread.run(saver.append, array, np.full(3, value, np.float32))
            anyio.from_thread.run(saver.flush)

        await anyio.to_thread.run_sync(work)
        rows = await saver.read(array)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]


# -- sizes and values ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_a_batch_larger_than_the_whole_budget_is_accepted_alone_without_hanging(
    h5_path: Path,
) -> None:
    """An append bigger than ``max_pending_bytes`` is not an error and does not wait forever:
    it waits until nothing else is pending, then passes alone (DESIGN section 4)."""
    async with AsyncH5Saver.open(h5_path, max_pending_bytes=1024) as saver:
        array = await _earray(saver)
        await saver.append(array, ROW)
        big = np.arange(3000 * 3, dtype=np.float32).reshape(3000, 3)
        with anyio.fail_after(10):
            await saver.append(array, big)
        assert saver.statistics().bytes_pending > 1024
        await saver.flush()
        rows = await saver.read(array)
    assert rows.shape == (3001, 3)
    np.testing.assert_array_equal(rows[1:], big)


async def test_a_batch_too_large_to_copy_raises_memory_error_and_accepts_nothing(
    h5_path: Path,
) -> None:
    """A batch whose copy cannot be allocated (a broadcast view of 2**60 bytes) raises
    numpy's MemoryError at the call; its budget is given back and the saver keeps working."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        huge = np.broadcast_to(np.float32(0), (2**60 // 12, 3))
        with pytest.raises(MemoryError, match="Unable to allocate"):
            await saver.append(array, huge)
        assert saver.statistics().bytes_pending == 0
        await saver.append(array, ROW)
        await saver.flush()
        rows = await saver.read(array)
    np.testing.assert_array_equal(rows, [ROW])


async def test_copy_false_takes_non_contiguous_read_only_and_castable_buffers(
    h5_path: Path,
) -> None:
    """``copy=False`` with a strided view, a read-only array or a float64 batch (cast within
    its kind) is accepted, and the file holds exactly those values."""
    strided = np.arange(12, dtype=np.float32).reshape(2, 6)[:, ::2]
    read_only = np.full((2, 3), 7, dtype=np.float32)
    read_only.flags.writeable = False
    wider = np.full((1, 3), 0.5, dtype=np.float64)
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        for buffer in (strided, read_only, wider):
            await saver.append(array, buffer, copy=False)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(
            file["RawData/E"][()], np.concatenate([strided, read_only, wider])
        )


async def test_nan_and_inf_in_float_data_are_stored_as_given(h5_path: Path) -> None:
    """NaN and infinities in a float array's rows are data, not errors: stored unchanged."""
    row = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        await saver.append(array, row)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file["RawData/E"][()], [row])


async def test_the_dtype_rule_refuses_only_a_real_loss_at_the_async_append(
    h5_path: Path,
) -> None:
    """``await saver.append`` applies the sync rule at the call: every case of
    tests/cast_cases.py (every source dtype and value into EARRAYs of every integer and float
    dtype), with ``copy=True`` and ``copy=False``, is accepted and written as the value
    converted exactly when nothing is lost, and refused with UncastableDTypeError at the call
    otherwise, accepting nothing."""
    async with AsyncH5Saver.open(h5_path) as saver:
        expected: dict[str, list[np.ndarray]] = {}
        for target, cases in by_target().items():
            for copy in (True, False):
                array = await saver.add_array(
                    saver.raw_group,
                    f"a_{target}_{copy}",
                    "data_enlargeable",
                    data_shape=(1,),
                    array_type=target,
                    enlargeable=True,
                    data_dimension="Data0D",
                )
                stored = expected[array.path] = []
                for case in cases:
                    if case.accepted:
                        await saver.append(array, case.data(), copy=copy)
                        stored.append(case.stored())
                    else:
                        with pytest.raises(aioh5saver.UncastableDTypeError, match=target):
                            await saver.append(array, case.data(), copy=copy)
        await saver.flush()
    with h5py.File(h5_path, "r") as file:
        for path, stored in expected.items():
            rows = file[path][()]
            assert rows.dtype == np.dtype(path.split("_")[1])
            np.testing.assert_array_equal(rows[:, 0], np.concatenate(stored), err_msg=path)


async def test_a_python_number_or_a_0d_scalar_is_one_row_at_the_async_append(
    h5_path: Path,
) -> None:
    """``await saver.append`` on a 0D array (data_shape (1,)) takes a Python float, int or bool
    and a 0-d numpy scalar as one row each (with ``copy=True`` and ``copy=False``); a fraction
    into an int32 0D array is refused at the call."""
    values: list[Any] = [1.5, 7, True, np.float64(2.25), np.int8(-3), np.array(0.5)]
    async with AsyncH5Saver.open(h5_path) as saver:
        floats = await saver.add_array(
            saver.raw_group,
            "f",
            "data_enlargeable",
            data_shape=(1,),
            enlargeable=True,
            data_dimension="Data0D",
        )
        ints = await saver.add_array(
            saver.raw_group,
            "i",
            "data_enlargeable",
            data_shape=(1,),
            array_type="int32",
            enlargeable=True,
            data_dimension="Data0D",
        )
        for copy in (True, False):
            for value in values:
                await saver.append(floats, value, copy=copy)
        await saver.append(ints, 5)
        await saver.append(ints, np.int64(6), copy=False)
        with pytest.raises(aioh5saver.UncastableDTypeError, match="int32"):
            await saver.append(ints, 2.5)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file["RawData/F"][()], [[float(v)] for v in values * 2])
        np.testing.assert_array_equal(file["RawData/I"][()], [[5], [6]])


async def test_log_lines_with_nul_surrogates_or_a_megabyte_round_trip_under_swmr(
    h5_path: Path,
) -> None:
    """Log messages have no length limit and may hold NUL or lone surrogates: written under
    SWMR (staged in pieces), they read back unchanged once the file is closed."""
    lines = ["a\0b", "lone \udcff surrogate", "y" * (1 << 20), ""]
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        await saver.start_swmr()
        for line in lines:
            await saver.add_log(line)
        await saver.flush()
        assert saver.statistics().swmr_active
    reader = H5SaverLowLevel.from_file(h5_path, mode="r")
    try:
        assert reader.get_set_logger().read() == lines
    finally:
        reader.close_file()


async def test_a_noderef_of_another_saver_raises_a_saver_error_naming_both_files(
    tmp_path: Path,
) -> None:
    """A NodeRef made by another saver (same path in another file, another row shape) is
    refused at the call, by append and by every call taking a ``where``, with an
    InvalidArgumentError naming both files (it used to be accepted, and refused only by the
    writer at the next flush); its path string names this file's node and works."""
    async with AsyncH5Saver.open(tmp_path / "other.h5") as other_saver:
        other = await other_saver.add_array(
            other_saver.raw_group,
            "e",
            "data_enlargeable",
            data_shape=(5,),
            array_type=np.int16,
            enlargeable=True,
            data_dimension="Data1D",
        )
    async with AsyncH5Saver.open(tmp_path / "this.h5") as saver:
        await _earray(saver)
        for call in (
            lambda: saver.append(other, np.ones(5, dtype=np.int16)),
            lambda: saver.read(other),
            lambda: saver.set_attr(other, "x", 1),
            lambda: saver.add_det_group(other_saver.raw_group),
        ):
            with pytest.raises(aioh5saver.SaverError) as caught:
                await call()
            _assert_clear(
                caught.value,
                aioh5saver.InvalidArgumentError,
                ValueError,
                ("another saver", str(tmp_path / "this.h5"), str(tmp_path / "other.h5")),
            )
        await saver.append(other.path, ROW)
        await saver.flush()
        assert saver.statistics().bytes_pending == 0
        np.testing.assert_array_equal(await saver.read(other.path), [ROW])


@pytest.mark.parametrize("bounds", list(OLDER_THAN_1_10.values()), ids=list(OLDER_THAN_1_10))
async def test_swmr_continuation_of_a_file_older_than_1_10_is_refused_at_open(
    h5_path: Path, bounds: tuple[str, str]
) -> None:
    """AsyncH5Saver.open(new_file=False, swmr=True) on a SWMR-capable file in a format older
    than HDF5 1.10 raises InvalidArgumentError at entry (not WriterBrokenError at the first
    append, when SWMR would start) and leaves the file's bytes as they were."""
    digest = swmr_capable_in_an_older_format(h5_path, bounds)
    with pytest.raises(aioh5saver.InvalidArgumentError, match=r"HDF5 1\.10 format"):
        async with AsyncH5Saver.open(h5_path, new_file=False, swmr=True):
            pass
    assert hashlib.sha256(h5_path.read_bytes()).hexdigest() == digest


async def test_a_second_saver_creating_a_file_already_open_raises_a_saver_error(
    h5_path: Path,
) -> None:
    """A second saver asked to create (new_file=True) a file another saver of this process
    has open raises a SaverError (an OSError) saying the file is in use; the first saver is
    unaffected."""
    async with AsyncH5Saver.open(h5_path) as first:
        array = await _earray(first)
        with pytest.raises(aioh5saver.SaverError) as caught:
            async with AsyncH5Saver.open(h5_path, new_file=True):
                pytest.fail("a second saver created an open file")
        _assert_clear(caught.value, aioh5saver.FileInUseError, OSError, ("one saver per file",))
        await first.append(array, ROW)


async def test_a_second_saver_continuing_a_file_another_saver_writes_is_refused(
    h5_path: Path,
) -> None:
    """A second saver asked to continue (new_file=False) a file another saver of this process
    writes raises FileInUseError instead of writing the same file unknown to the first; the
    first goes on, and once it is closed the file can be continued."""
    async with AsyncH5Saver.open(h5_path) as first:
        array = await _earray(first)
        with pytest.raises(aioh5saver.FileInUseError) as caught:
            async with AsyncH5Saver.open(h5_path, new_file=False):
                pytest.fail("a second saver opened a file another saver writes")
        _assert_clear(caught.value, aioh5saver.FileInUseError, OSError, ("one saver per file",))
        await first.append(array, ROW)
    async with AsyncH5Saver.open(h5_path, new_file=False) as again:
        await again.append(array.path, ROW)  # a NodeRef belongs to the saver that made it
    with h5py.File(h5_path, "r") as file:
        assert file[array.path].shape[0] == 2


# -- opening does not destroy: new_file=None refuses an existing file ------------------------


async def _acquisition(path: Path, rows: int) -> NodeRef:
    """Write a small acquisition at ``path`` (replacing whatever is there): ``rows`` rows of
    /RawData/E."""
    async with AsyncH5Saver.open(path, new_file=True) as saver:
        array = await _earray(saver)
        for index in range(rows):
            await saver.append(array, ROW + index)
    return array


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a folder's or a link's kind and target."""
    entries: dict[str, bytes | str] = {}
    for entry in sorted(folder.rglob("*")):
        name = str(entry.relative_to(folder))
        if entry.is_symlink():
            entries[name] = f"link to {entry.readlink()}"
        elif entry.is_dir():
            entries[name] = "folder"
        else:
            entries[name] = entry.read_bytes()
    return entries


# What is at the path: each is refused by open(path) with the default new_file=None.
EXISTING = [
    "an HDF5 acquisition",
    "a file that is not HDF5",
    "an empty file",
    "the .h5 file a path without h5 suffix stands for",
    "a dangling symbolic link",
    "a folder",
]


@pytest.mark.parametrize("existing", EXISTING)
async def test_open_refuses_what_exists_at_the_path_by_default_and_leaves_it_untouched(
    existing: str, tmp_path: Path
) -> None:
    """``AsyncH5Saver.open(path)`` (new_file=None, the default) refuses anything that exists
    where the file would be written with ExistingFileError, a SaverError that is also a
    FileExistsError, naming the path and both ways on (new_file=True replaces it,
    new_file=False continues it); not a byte under the folder changes."""
    path = tmp_path / "lab_keep.h5"
    target = path
    if existing == "an HDF5 acquisition":
        await _acquisition(path, rows=3)
    elif existing == "a file that is not HDF5":
        path.write_bytes(b"1.6 MB of someone's notes\n" * 1000)
    elif existing == "an empty file":
        path.touch()
    elif existing == "the .h5 file a path without h5 suffix stands for":
        await _acquisition(path, rows=2)
        path = tmp_path / "lab_keep.dat"  # PyMoDAQ writes lab_keep.h5 for it
    elif existing == "a dangling symbolic link":
        path.symlink_to(tmp_path / "elsewhere.h5")
    else:
        path.mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(aioh5saver.ExistingFileError) as caught:
        async with AsyncH5Saver.open(path):
            pytest.fail("the saver opened an existing file")
    words = (str(target), "a folder") if existing == "a folder" else (str(target), "exists")
    _assert_clear(caught.value, aioh5saver.ExistingFileError, FileExistsError, words)
    if existing != "a folder":
        assert "new_file=True to replace it" in str(caught.value)
        assert "new_file=False to continue it" in str(caught.value)
    assert caught.value.errno == errno.EEXIST
    assert _snapshot(tmp_path) == before


async def test_open_creates_a_missing_file_by_default(h5_path: Path) -> None:
    """With the default new_file=None, a path where nothing exists gets a new PyMoDAQ file,
    holding what was appended."""
    assert not h5_path.exists()
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _earray(saver)
        await saver.append(array, ROW)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file[array.path][()], [ROW])
        assert "Logger" in file["RawData"]


@pytest.mark.parametrize("existing", ["an HDF5 acquisition", "a file that is not HDF5"])
async def test_new_file_true_replaces_an_existing_file(existing: str, h5_path: Path) -> None:
    """``new_file=True`` replaces what is at the path with a new file: only the new rows are
    in it."""
    if existing == "an HDF5 acquisition":
        await _acquisition(h5_path, rows=3)
    else:
        h5_path.write_bytes(b"not HDF5" * 100)
    async with AsyncH5Saver.open(h5_path, new_file=True) as saver:
        array = await _earray(saver)
        await saver.append(array, ROW * 10)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file[array.path][()], [ROW * 10])


async def test_new_file_false_continues_an_existing_file(h5_path: Path) -> None:
    """``new_file=False`` continues the file at the path: its rows stay and new ones follow."""
    array = await _acquisition(h5_path, rows=2)
    async with AsyncH5Saver.open(h5_path, new_file=False) as saver:
        await saver.append(array.path, ROW + 7)  # a NodeRef belongs to the saver that made it
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file[array.path][()], [ROW, ROW + 1, ROW + 7])


async def test_a_creation_that_fails_leaves_no_file_behind(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name claimed for a new file (new_file=None) is given back when creating the file
    fails: the error reaches the caller and nothing is left at the path."""

    def failing_init_file(self: H5SaverLowLevel, *args: Any, **kwargs: Any) -> bool:
        assert h5_path.exists()  # claimed before the file is created
        raise aioh5saver.InvalidArgumentError("init_file: expected to fail, got this test")

    monkeypatch.setattr(H5SaverLowLevel, "init_file", failing_init_file)
    with pytest.raises(aioh5saver.InvalidArgumentError, match="got this test"):
        async with AsyncH5Saver.open(h5_path):
            pytest.fail("the saver opened")
    assert not h5_path.exists()
    assert list(h5_path.parent.iterdir()) == []


# -- the catalogue in the docs ------------------------------------------------------------------


_SYNC_FILE = "test_bad_input.py"
_THIS_FILE = Path(__file__).name


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", REPLACEMENTS)
async def test_the_file_renamed_or_replaced_under_a_swmr_writer_breaks_it(
    tmp_path: Path, anyio_backend: str, kind: str
) -> None:
    """A SWMR file renamed, deleted, or replaced by another HDF5 file, a file that is not HDF5,
    a directory, a named pipe or a symlink to another file: the next structure change breaks
    the writer with WriterBrokenError (chained to FileChangedError), nothing is written to
    what is at the path, and the file that was opened is closed whole where it is now (see
    test_swmr_faults.check_a_replaced_file_breaks_the_writer)."""
    await check_a_replaced_file_breaks_the_writer(tmp_path, anyio_backend, kind)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("point", TRUNCATIONS)
async def test_the_file_truncated_under_a_swmr_writer_breaks_it_without_hanging(
    tmp_path: Path, anyio_backend: str, point: str
) -> None:
    """A SWMR file truncated by another program (during appends, before a structure change,
    before SWMR resumes, truncated then grown again): the next write breaks the writer with
    WriterBrokenError (chained to FileChangedError) before writing, and nothing hangs (see
    test_swmr_faults.check_a_truncated_file_breaks_the_writer)."""
    await check_a_truncated_file_breaks_the_writer(tmp_path, anyio_backend, point)


def _test_ids(module: Any) -> set[str]:
    """The ids of the tests a test module defines, as pytest names them, without the backend
    parameter: ``file::test`` or ``file::test[case]`` (explicit ids, ``pytest.param`` ids, or
    str values: the only forms the two bad-input files use)."""
    file = Path(module.__file__).name
    ids: set[str] = set()
    for name, function in vars(module).items():
        if not name.startswith("test_") or not callable(function):
            continue
        marks = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
        if not marks:
            ids.add(f"{file}::{name}")
            continue
        assert len(marks) == 1, name
        values = marks[0].args[1]
        explicit = marks[0].kwargs.get("ids")
        for index, value in enumerate(values):
            if explicit is not None:
                case = explicit[index]
            elif getattr(value, "id", None) is not None:
                case = value.id
            else:
                assert isinstance(value, str), (name, value)
                case = value
            ids.add(f"{file}::{name}[{case}]")
    return ids


@dataclass(frozen=True)
class Row:
    """One row of the table in docs/bad-input.md."""

    misuse: str
    exception: str
    test_id: str


def _doc_rows() -> list[Row]:
    lines = [line.strip() for line in DOC.read_text(encoding="utf-8").splitlines()]
    table = [line for line in lines if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header == ["misuse", "example", "exception raised", "what the message says", "test"]
    assert set(table[1]) <= set("|-: ")
    rows = []
    for line in table[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
        assert len(cells) == 5, line
        test_id = re.fullmatch(r"`([^`]+)`", cells[4])
        assert test_id is not None, f"the test column must be one `id`: {line}"
        rows.append(Row(cells[0], cells[2], test_id.group(1)))
    return rows


def _sync_module() -> Any:
    """tests/sync/test_bad_input.py, loaded under another name (its cases are plain data)."""
    spec = importlib.util.spec_from_file_location(
        "_bad_input_sync_cases", TESTS / "sync" / _SYNC_FILE
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_table_and_the_tests_name_the_same_cases() -> None:
    """docs/bad-input.md has one row per case: every row's test id names a test of the two
    bad-input files, every case of both (the sync table, every test here) has a row, no row
    repeats, and for table-driven cases the exception column names the class the test
    expects."""
    rows = _doc_rows()
    assert len(rows) >= 30
    ids = [row.test_id for row in rows]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    sync = _sync_module()
    sync_ids = _test_ids(sync)
    our_ids = _test_ids(sys.modules[__name__])
    unknown = set(ids) - sync_ids - our_ids
    assert not unknown, sorted(unknown)
    this_test = f"{_THIS_FILE}::test_docs_table_and_the_tests_name_the_same_cases"
    sync_catalogue = {i for i in sync_ids if "::test_bad_input_raises_a_clear_saver_error[" in i}
    assert len(sync_catalogue) == len(sync.CASES)
    missing = (sync_catalogue | our_ids - {this_test}) - set(ids)
    assert not missing, sorted(missing)

    expected_class = {
        f"{_SYNC_FILE}::test_bad_input_raises_a_clear_saver_error[{case[0]}]": case[2].__name__
        for case in sync.CASES
    }
    for misuse in MISUSES:
        test = "test_misuse_raises_its_documented_error_and_changes_nothing"
        expected_class[f"{_THIS_FILE}::{test}[{misuse.id}]"] = misuse.error.__name__
    for bad in BAD_OPENS:
        test = "test_bad_open_argument_raises_its_documented_error_and_creates_nothing"
        expected_class[f"{_THIS_FILE}::{test}[{bad.id}]"] = bad.error.__name__
    for row in rows:
        if row.test_id in expected_class:
            named = re.match(r"`([A-Za-z]+)`", row.exception)
            assert named is not None, row
            assert named.group(1) == expected_class[row.test_id], row
