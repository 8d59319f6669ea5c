"""Wrappers around h5py groups and datasets with PyMoDAQ's node API.

``GROUP``, ``CARRAY`` (fixed array), ``EARRAY`` (enlargeable along the first axis), ``VLARRAY``
(variable-length rows) and ``StringARRAY`` (rows holding a pickled ``str``) have the names,
properties and methods of pymodaq_data's, so code written for PyMoDAQ runs on them. They differ
where pymodaq_data is unsafe or silent: attributes and strings are decoded without ``eval`` or
``pickle.loads``; appended data is checked against the array's row shape and dtype; writing
through a read-only file, or using a node after its file closed, raises a :class:`SaverError`.

The kind of a node is taken from the object itself (group, vlen dataset, resizable dataset),
so a ``CLASS`` attribute that lies cannot make a reader misuse it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import h5py
import numpy as np

from aioh5saver.engine.boundary import check_fits_in_memory, h5_errors, require_writable
from aioh5saver.engine.external import (
    UnresolvedPathError,
    check_stored_in_file,
    describe_outside,
    locate,
    resolve_inside_file,
    stored_outside,
)
from aioh5saver.errors import (
    InvalidNameError,
    NodeKindError,
    NodeNotFoundError,
    ShapeMismatchError,
    UncastableDTypeError,
    describe,
)
from aioh5saver.format.attrs import decode_attr, encode_attr
from aioh5saver.format.layout import fixed_kind, vlen_kind
from aioh5saver.format.pickled_str import decode_pickled_str, encode_pickled_str

if TYPE_CHECKING:
    from aioh5saver.sync.backend import H5Backend

__all__ = [
    "CARRAY",
    "EARRAY",
    "GROUP",
    "VLARRAY",
    "Attributes",
    "Node",
    "StringARRAY",
    "as_rows",
    "check_cast",
    "check_rows",
    "wrap_node",
]


class Attributes:
    """The attributes of a node, encoded and decoded the PyMoDAQ way (see :mod:`.attrs`).

    ``attrs["title"]`` is the ``TITLE`` attribute, as in PyMoDAQ.
    """

    def __init__(self, node: Node, backend: str = "h5py") -> None:
        self._node = node
        self.backend = backend

    @property
    def node(self) -> Node:
        """The node these attributes belong to."""
        return self._node

    @property
    def attrs_name(self) -> list[str]:
        """The attribute names."""
        obj = self._node.node
        with h5_errors(obj, "list attributes", reading=True):
            return list(obj.attrs.keys())

    def __getitem__(self, name: str) -> Any:
        if name == "title":
            name = "TITLE"
        obj = self._node.node
        with h5_errors(obj, f"read attribute {name!r}", reading=True):
            try:
                stored = obj.attrs[name]
            except KeyError:
                if obj.id.valid and name not in obj.attrs:
                    raise NodeNotFoundError(
                        f"{obj.name} has no attribute {name!r}; it has {sorted(obj.attrs)}"
                    ) from None
                raise
        return decode_attr(stored)

    def __setitem__(self, name: str, value: Any) -> None:
        if name == "title":
            name = "TITLE"
        if not isinstance(name, str) or not name or "\0" in name:
            raise InvalidNameError(
                f"set attribute of {self._node.path}: expected a non-empty attribute name "
                f"without NUL characters, got {describe(name)}"
            )
        obj = self._node.node
        require_writable(obj, f"set attribute {name!r}")
        encoded = encode_attr(value)
        with h5_errors(obj, f"set attribute {name!r}"):
            obj.attrs[name] = encoded

    def __contains__(self, name: object) -> bool:
        return name in self.attrs_name

    def __iter__(self) -> Iterator[str]:
        return iter(self.attrs_name)

    def __len__(self) -> int:
        return len(self.attrs_name)

    def get(self, name: str, default: Any = None) -> Any:
        """The attribute ``name``, or ``default`` if the node has none of that name."""
        return self[name] if name in self else default  # noqa: SIM401 (this *is* get)

    def to_dict(self) -> dict[str, Any]:
        """Every attribute, decoded, by name."""
        return {name: self[name] for name in self.attrs_name}

    def __str__(self) -> str:
        return f"{self._node.path}.attrs ({type(self).__name__}), {len(self)} attributes"

    def __repr__(self) -> str:
        lines = ",\n    ".join(f"{name} := {self[name]}" for name in self.attrs_name)
        return f"{self}:\n   [{lines}]" if lines else str(self)


class Node:
    """A node of the tree: a group or an array, wrapping the h5py object ``node``."""

    kind: ClassVar[str] = "Node"
    # The path the node was reached by (through soft links, it differs from where the object
    # lives), as HDF5 names an object it opened by traversing them itself; None: the object's.
    _path: str | None

    def __init__(self, node: Any, backend: str = "h5py", path: str | None = None) -> None:
        if isinstance(node, Node):
            path = node._path if path is None else path
            node = node.node
        self._node: Any = node
        self._path = path
        self.backend = backend

    @property
    def node(self) -> Any:
        """The wrapped h5py object."""
        return self._node

    @property
    def attrs(self) -> Attributes:
        """The node's attributes, decoded the PyMoDAQ way."""
        # Made on demand, not kept: a node and its attributes referring to each other would
        # keep the HDF5 object open until the cycle collector ran, and HDF5 must not see a
        # dataset deleted (staging folds) while a handle to it is still open.
        return Attributes(self, self.backend)

    @property
    def name(self) -> str:
        """The node's name: the last component of its path (``/`` for the root)."""
        path = self.path
        return path if path == "/" else path.rsplit("/", 1)[-1]

    @property
    def path(self) -> str:
        """The node's absolute path in the file, the one it was reached by (bytes of a name that
        is not UTF-8 are kept as lone surrogates, so that the path leads back to the node)."""
        if self._path is not None:
            return self._path
        with h5_errors(self._node, "read a node path"):
            name = self._node.name
        return name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)

    @property
    def title(self) -> Any:
        """The ``TITLE`` attribute."""
        return self.attrs["TITLE"]

    @property
    def h5file(self) -> h5py.File:
        """The h5py file the node lives in."""
        with h5_errors(self._node, "get a node's file"):
            return self._node.file

    @property
    def parent_node(self) -> GROUP | None:
        """The group holding this node, or None for the root."""
        path = self.path
        if path == "/":
            return None
        parent_path = path.rsplit("/", 1)[0] or "/"
        # Resolved here, link by link: h5py's ``parent`` lets HDF5 traverse the path, through
        # any external link on it.
        with h5_errors(self._node, "get a node's parent", reading=True):
            try:
                parent = locate(self._node.file, parent_path.encode("utf-8", "surrogateescape"))
            except UnresolvedPathError as exc:
                raise NodeNotFoundError(f"the parent of {path}: {exc}") from None
        return GROUP(parent, self.backend, parent_path)

    def to_h5_backend(self) -> H5Backend:
        """An :class:`H5Backend` bound to this node's file."""
        from aioh5saver.sync.backend import H5Backend

        backend = H5Backend(self.backend)
        backend.h5file = self.h5file
        return backend

    def set_attr(self, key: str, value: Any) -> None:
        """Set the attribute ``key`` (PyMoDAQ's JSON encoding)."""
        self.attrs[key] = value

    def get_attr(self, item: str) -> Any:
        """The decoded attribute ``item``."""
        return self.attrs[item]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return bool(self._node == other._node)

    def __hash__(self) -> int:
        return hash(self._node)

    def __str__(self) -> str:
        return f"{self.path} ({type(self).__name__}) {self.attrs.get('TITLE', '')!r}"


class GROUP(Node):
    """A group: a node holding other nodes."""

    kind = "GROUP"

    def children(self) -> dict[str, Node]:
        """The nodes directly under this group, wrapped, by name."""
        children: dict[str, Node] = {}
        group = self._node
        with h5_errors(group, f"list the children of {self.path}", reading=True):
            prefix = self.path.rstrip("/")
            for name in group.id:  # the names as stored: bytes
                child = resolve_inside_file(group, name)
                # Committed datatypes are not nodes of PyMoDAQ's tree either.
                if isinstance(child, h5py.Group | h5py.Dataset):
                    key = name.decode("utf-8", "surrogateescape")
                    children[key] = wrap_node(child, self.backend, f"{prefix}/{key}")
        return children

    def get_child(self, name: str) -> Node:
        """The child called ``name``."""
        children = self.children()
        if name not in children:
            raise NodeNotFoundError(
                f"{self.path} has no child {name!r}; its children are {sorted(children)}"
            )
        return children[name]

    def children_name(self) -> list[str]:
        """The sorted names of the children (dangling links left out, as in children())."""
        return sorted(self.children())

    def remove_children(self) -> None:
        """Delete every child of this group."""
        require_writable(self._node, f"remove the children of {self.path}")
        with h5_errors(self._node, f"remove the children of {self.path}"):
            for name in list(self._node.keys()):
                del self._node[name]

    def __repr__(self) -> str:
        children = ", ".join(
            f"{name!r} ({type(c).__name__})" for name, c in self.children().items()
        )
        return f"{self}\n  children := [{children}]"


class CARRAY(Node):
    """A fixed-size array."""

    kind = "CARRAY"

    @property
    def array(self) -> h5py.Dataset:
        """The wrapped h5py dataset."""
        return self._node

    def read(self) -> Any:
        """The whole array as a numpy array (:class:`~aioh5saver.ExternalDataError` if its
        data are stored in other files)."""
        self._require_stored_here(f"read {self.path}")
        check_fits_in_memory(self._node, f"read {self.path}")
        with h5_errors(self._node, f"read {self.path}", reading=True):
            return self._node[()]

    # Checked once per wrapper (a dataset's layout never changes), so that appending row by
    # row does not pay for the check each time.
    _stored_here: bool = False

    def _require_stored_here(self, action: str) -> None:
        """:func:`check_stored_in_file`: reading or writing data stored in other files would
        open them (and write another file, or block on a named pipe)."""
        if not self._stored_here:
            check_stored_in_file(self._node, action)
            self._stored_here = True

    @property
    def outside(self) -> str | None:
        """None if the array's data are stored in its file; else which other files hold them
        (external raw storage, a virtual dataset), whose data are never read."""
        with h5_errors(self._node, f"inspect {self.path}", reading=True):
            storage = stored_outside(self._node)
        return None if storage is None else describe_outside(storage)

    def __getitem__(self, item: Any) -> Any:
        self._require_stored_here(f"read {self.path}")
        with h5_errors(self._node, f"read {self.path}", reading=True):
            return self._node[item]

    def __setitem__(self, key: Any, value: Any) -> None:
        require_writable(self._node, f"write into {self.path}")
        self._require_stored_here(f"write into {self.path}")
        with h5_errors(self._node, f"write into {self.path}"):
            self._node[key] = value

    def __len__(self) -> int:
        with h5_errors(self._node, f"get the length of {self.path}"):
            return len(self._node)

    def __repr__(self) -> str:
        shape, dtype = self.attrs.get("shape"), self.attrs.get("dtype")
        indent = " " * 16
        return f"{self}\n{indent}shape := {shape}\n{indent}dtype := {dtype}"


def check_rows(
    data: Any, row_shape: tuple[int, ...], dtype: np.dtype[Any], where: str
) -> np.ndarray:
    """``data`` as a batch of rows of shape ``(n, *row_shape)``, checked convertible to
    ``dtype`` without loss (a view where possible: nothing is copied or converted).

    PyMoDAQ's rule: data of exactly the row shape is one row; data of shape ``(n, *row_shape)``
    is ``n`` rows; for arrays of single-value rows (row shape ``(1,)``) or of scalars (row shape
    ``()``), a 1-D array of ``n`` values is ``n`` rows, and one value (a Python ``int``,
    ``float`` or ``bool``, or a 0-d numpy scalar) is one row. Anything else raises
    :class:`ShapeMismatchError`.

    The dtype rule is :func:`check_cast`: only a real loss is refused (values out of the
    array's range, floats into integers, complex into reals, text into numbers), with
    :class:`UncastableDTypeError`.
    """
    if not isinstance(data, np.ndarray | np.generic):
        if not (isinstance(data, bool | int | float) and row_shape in {(), (1,)}):
            raise UncastableDTypeError(
                f"append to {where}: expected a numpy array of rows of shape {row_shape}, "
                f"got {describe(data)}"
            )
        data = _python_number(data, dtype, where)
    array = np.asarray(data)
    if array.shape == row_shape:
        rows = array.reshape((1, *row_shape))
    elif array.shape[1:] == row_shape and array.ndim == len(row_shape) + 1:
        rows = array
    elif row_shape == (1,) and array.ndim <= 1:
        rows = array.reshape((-1, 1))
    else:
        raise ShapeMismatchError(
            f"append to {where}: expected one row of shape {row_shape} or a batch of shape "
            f"(n, {', '.join(map(str, row_shape))}), got an array of shape {array.shape}"
        )
    if rows.dtype != dtype:
        check_cast(rows, dtype, where)
    return rows


def _python_number(value: bool | int | float, dtype: np.dtype[Any], where: str) -> np.ndarray:
    """One Python number as a 0-d array: of ``dtype`` if it holds the value exactly, otherwise
    of numpy's own type for it (which :func:`check_cast` then judges)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if not info.min <= value <= info.max:
                raise UncastableDTypeError(
                    f"append to {where}: expected values that fit {dtype} (from {info.min} to "
                    f"{info.max}), got {describe(value)}"
                )
            return np.asarray(value, dtype)
        if dtype.kind in "fc":
            return _checked_float(value, dtype, where)
    return np.asarray(value)


def _checked_float(value: int, dtype: np.dtype[Any], where: str) -> np.ndarray:
    """A Python int too large for numpy's integers, into a float array: as the float it
    rounds to, unless it is beyond the dtype's range."""
    try:
        return np.asarray(float(value), dtype if dtype.kind == "f" else np.float64)
    except OverflowError:
        raise UncastableDTypeError(
            f"append to {where}: expected values within the range of {dtype}, got {describe(value)}"
        ) from None


def check_cast(rows: np.ndarray, dtype: np.dtype[Any], where: str) -> None:
    """Raise :class:`UncastableDTypeError` unless ``rows`` convert to ``dtype`` without loss.

    The rule, the same for EARRAY and VLARRAY, sync and async:

    - a cast numpy calls safe (same dtype, int16 into int32, uint8 into int16, any integer
      into float64...) is accepted without looking at the values (the fast path);
    - integers (and bools) into a narrower or differently signed integer array are accepted
      when every value fits (``np.array([10])``, an int64, into uint32 or int8); a value out of
      range (-1 into uint32, 300 into uint8) is refused;
    - integers and floats into a float (or complex) array are accepted, rounded to the nearest
      value of the array's precision, as numpy rounds float64 into float32; a finite value
      beyond its range (1e300 into float32, 70000 into float16) is refused; NaN and infinities
      stay what they are;
    - floats into an integer array are refused, whatever their values (NaN, inf, 1.5, but
      also 2.0: cast them yourself with ``.astype``), and so are complex into reals, text,
      bytes, objects or records into numbers.

    Values are only read when numpy does not call the cast safe.
    """
    source = rows.dtype
    if source == dtype or np.can_cast(source, dtype, casting="safe"):
        return
    if dtype.kind in "biu" and source.kind in "biu":
        _check_integer_range(rows, dtype, where)
        return
    if (dtype.kind in "fc" and source.kind in "biuf") or dtype.kind == source.kind == "c":
        _check_within_float_range(rows, dtype, where)
        return
    if dtype.kind not in "biufc" and np.can_cast(source, dtype, casting="same_kind"):
        return
    raise UncastableDTypeError(
        f"append to {where}: expected data castable to {dtype} without loss, got dtype "
        f"{source}; convert it explicitly with .astype({str(dtype)!r})"
    )


def _check_integer_range(rows: np.ndarray, dtype: np.dtype[Any], where: str) -> None:
    if rows.size == 0:
        return
    low, high = _integer_limits(dtype)
    if rows.size == 1:  # one scalar row, the common case: no reductions
        smallest = largest = int(rows.item())
    else:
        smallest, largest = int(rows.min()), int(rows.max())
    if smallest < low or largest > high:
        raise UncastableDTypeError(
            f"append to {where}: expected values that fit {dtype} (from {low} to {high}), "
            f"got {rows.dtype} values from {smallest} to {largest}"
        )


@functools.cache
def _integer_limits(dtype: np.dtype[Any]) -> tuple[int, int]:
    """The smallest and largest value of an integer (or bool) dtype (np.iinfo is slow)."""
    if dtype.kind == "b":
        return 0, 1
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


@functools.cache
def _float_limit(dtype: np.dtype[Any]) -> float:
    """The largest finite magnitude of a float (or complex) dtype."""
    return float(np.finfo(dtype).max)


def _check_within_float_range(rows: np.ndarray, dtype: np.dtype[Any], where: str) -> None:
    if rows.size == 0:
        return
    limit = _float_limit(dtype)
    if rows.size == 1 and rows.dtype.kind != "c":
        value = float(rows.item())
        if not (math.isfinite(value) and abs(value) > limit):
            return
    elif rows.dtype.kind != "c":
        # Two reductions that skip NaN and allocate nothing settle the common case; only data
        # reaching beyond the limit (or holding infinities, which may stay) is looked at whole.
        low, high = np.fmin.reduce(rows, axis=None), np.fmax.reduce(rows, axis=None)
        if not (low < -limit or high > limit):
            return
    with np.errstate(over="ignore", invalid="ignore"):
        converted = rows.astype(dtype)
        overflowed = np.isinf(converted) & np.isfinite(rows)
    if overflowed.any():
        overflowing = rows[overflowed].flat[0].item()
        raise UncastableDTypeError(
            f"append to {where}: expected values within the range of {dtype} (magnitude up to "
            f"{np.finfo(dtype).max!s}), got {rows.dtype} {overflowing!r}"
        )


def as_rows(data: Any, row_shape: tuple[int, ...], dtype: np.dtype[Any], where: str) -> np.ndarray:
    """:func:`check_rows`, converted to ``dtype`` (the values were checked: the cast loses
    nothing :func:`check_cast` protects)."""
    rows = check_rows(data, row_shape, dtype, where)
    return rows if rows.dtype == dtype else rows.astype(dtype, casting="unsafe")


class EARRAY(CARRAY):
    """An array enlargeable along its first axis, one row per acquisition."""

    kind = "EARRAY"

    @property
    def row_shape(self) -> tuple[int, ...]:
        """The shape of one row (the array's shape without its first axis)."""
        with h5_errors(self._node, f"read the shape of {self.path}"):
            return tuple(self._node.shape[1:])

    def append(self, data: Any, expand: bool = True) -> None:
        """Append one row (data of the row shape) or a batch of rows (shape ``(n, *row)``).

        ``expand`` is accepted for compatibility with pymodaq_data; 1-D data for an array of
        single-value rows is always read as ``n`` rows.
        """
        with h5_errors(self._node, f"append to {self.path}"):
            dtype = self._node.dtype
        rows = as_rows(data, self.row_shape, dtype, self.path)
        self.append_backend(rows)

    def append_backend(self, data: np.ndarray) -> None:
        """Write a checked batch of rows at the end of the array and update its ``shape``
        attribute (deferred while SWMR is on: readers cannot see attribute changes then)."""
        dataset = self._node
        require_writable(dataset, f"append to {self.path}")
        self._require_stored_here(f"append to {self.path}")
        with h5_errors(dataset, f"append to {self.path}"):
            start = dataset.shape[0]
            dataset.resize(start + data.shape[0], axis=0)
            dataset[start:] = data
            _record_shape(dataset)


class VLARRAY(EARRAY):
    """An enlargeable array of variable-length rows."""

    kind = "VLARRAY"

    def append(self, data: Any, expand: bool = True) -> None:
        """Append one variable-length row."""
        dataset = self._node
        with h5_errors(dataset, f"append to {self.path}"):
            base = h5py.check_vlen_dtype(dataset.dtype)
        row = np.asarray(data)
        if row.ndim != 1:
            raise ShapeMismatchError(
                f"append to {self.path}: expected one 1-D row, got an array of shape {row.shape}"
            )
        check_cast(row, base, self.path)
        self.append_backend(row.astype(base, copy=False, casting="unsafe"))

    def append_backend(self, data: np.ndarray) -> None:
        """Write one variable-length row at the end of the array."""
        self._append_rows([data])

    def _append_rows(self, rows: list[np.ndarray]) -> None:
        """Write variable-length rows with one resize and one ``shape`` update (row by row:
        h5py cannot slice-write equal-length vlen rows)."""
        dataset = self._node
        require_writable(dataset, f"append to {self.path}")
        self._require_stored_here(f"append to {self.path}")
        with h5_errors(dataset, f"append to {self.path}"):
            start = dataset.shape[0]
            dataset.resize(start + len(rows), axis=0)
            for index, row in enumerate(rows):
                dataset[start + index] = row
            _record_shape(dataset)


def _record_shape(dataset: h5py.Dataset) -> None:
    """Update the ``shape`` attribute, except under SWMR, which forbids attribute changes
    (the shapes are reconciled when SWMR ends)."""
    if not dataset.file.swmr_mode:
        dataset.attrs["shape"] = encode_attr(tuple(dataset.shape))


class StringARRAY(VLARRAY):
    """An enlargeable array of strings, each row a pickled ``str`` (PyMoDAQ's format).

    Rows are decoded without unpickling: a row that is not a plain pickled ``str`` raises
    :class:`~aioh5saver.UnsafeContentError`.
    """

    kind = "StringARRAY"

    def __getitem__(self, item: Any) -> Any:
        rows = super().__getitem__(item)
        if isinstance(rows, np.ndarray) and rows.dtype == object:
            return [self.array_to_string(row) for row in rows]
        return self.array_to_string(rows)

    def read(self) -> list[str]:
        """Every string of the array."""
        return [self.array_to_string(row) for row in super().read()]

    def append(self, string: Any, expand: bool = True) -> None:
        """Append one string."""
        self.extend([string])

    def extend(self, strings: list[str]) -> None:
        """Append several strings with one resize and one write."""
        for string in strings:
            if not isinstance(string, str):
                raise UncastableDTypeError(
                    f"append to {self.path}: expected a str, got {describe(string)}"
                )
        if strings:
            self._append_rows([self.string_to_array(string) for string in strings])

    @staticmethod
    def array_to_string(array: Any) -> str:
        """The string a stored row holds (decoded, never unpickled)."""
        return decode_pickled_str(np.asarray(array, dtype=np.uint8).tobytes())

    @staticmethod
    def string_to_array(string: str) -> np.ndarray:
        """The row that stores ``string``: its protocol-4 pickle as uint8."""
        return np.frombuffer(encode_pickled_str(string), np.uint8)


_WRAPPERS: dict[str, type[Node]] = {
    cls.kind: cls for cls in (GROUP, CARRAY, EARRAY, VLARRAY, StringARRAY)
}


def node_kind(obj: Any) -> str:
    """The kind of an h5py object, read from the object itself, not from its ``CLASS`` label:
    ``GROUP``, ``CARRAY``, ``EARRAY``, ``VLARRAY`` or ``StringARRAY``."""
    if isinstance(obj, h5py.Group):
        return "GROUP"
    if not isinstance(obj, h5py.Dataset):
        raise NodeKindError(f"expected a group or a dataset, got {describe(obj)}")
    with h5_errors(obj, "inspect a node", reading=True):
        base = h5py.check_vlen_dtype(obj.dtype)
        if base is not None:
            subdtype = decode_attr(obj.attrs["subdtype"]) if "subdtype" in obj.attrs else ""
            return vlen_kind(base, subdtype)
        label = decode_attr(obj.attrs["CLASS"]) if "CLASS" in obj.attrs else "EARRAY"
        return fixed_kind(obj.maxshape, label)


def wrap_node(obj: Any, backend: str = "h5py", path: str | None = None) -> Node:
    """The wrapper of the right kind for the h5py object ``obj``, reached by ``path`` (None:
    where the object lives)."""
    if obj is None:
        raise NodeNotFoundError(f"no node at {path!r} (a dangling link or an unresolved path)")
    return _WRAPPERS[node_kind(obj)](obj, backend, path)
