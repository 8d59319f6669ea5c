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

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import h5py
import numpy as np

from aioh5saver.engine.appenders import append_variable_rows, open_appender
from aioh5saver.engine.boundary import check_fits_in_memory, h5_errors, require_writable
from aioh5saver.engine.external import (
    UnresolvedPathError,
    check_stored_in_file,
    describe_outside,
    locate,
    resolve_inside_file,
    stored_outside,
)
from aioh5saver.engine.h5py_append import record_shape
from aioh5saver.engine.objects import (
    child_names,
    identity_key,
    is_dataset,
    is_group,
    is_open,
    set_attribute,
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
from aioh5saver.format.layout import fixed_kind, node_marks, vlen_kind
from aioh5saver.format.pickled_str import decode_pickled_str, encode_pickled_str
from aioh5saver.format.rows import as_rows, check_cast

__all__ = [
    "CARRAY",
    "EARRAY",
    "GROUP",
    "VLARRAY",
    "Attributes",
    "Node",
    "StringARRAY",
    "mark_node",
    "wrap_node",
]


class Attributes:
    """The attributes of a node, encoded and decoded the PyMoDAQ way (see :mod:`.format.attrs`).

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
                if is_open(obj) and name not in obj.attrs:
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
            set_attribute(obj, name, encoded)

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
    # Builds an ``H5Backend`` on an open file (:meth:`to_h5_backend`): set by the module that
    # defines it, which builds on the nodes, so that a node gives one without importing it.
    _backend_factory: ClassVar[Callable[[str, h5py.File], Any]]
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

    def to_h5_backend(self) -> Any:
        """An :class:`~aioh5saver.H5Backend` bound to this node's file."""
        return Node._backend_factory(self.backend, self.h5file)

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
        return hash(identity_key(self._node))

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
            for name in child_names(group):  # the names as stored: bytes
                child = resolve_inside_file(group, name)
                # Committed datatypes are not nodes of PyMoDAQ's tree either.
                if is_group(child) or is_dataset(child):
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
        """Write a checked batch of rows (of the array's row shape and dtype) at the end of the
        array, as the writer thread does (:func:`open_appender`), and update its ``shape``
        attribute (deferred while SWMR is on: readers cannot see attribute changes then)."""
        dataset = self._node
        require_writable(dataset, f"append to {self.path}")
        self._require_stored_here(f"append to {self.path}")
        writer = open_appender(self)
        writer.append([data])
        with h5_errors(dataset, f"append to {self.path}"):
            swmr = dataset.file.swmr_mode
        if not swmr:
            writer.record_shape()


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
        """Write variable-length rows with one resize, one write and one ``shape`` update."""
        dataset = self._node
        require_writable(dataset, f"append to {self.path}")
        self._require_stored_here(f"append to {self.path}")
        with h5_errors(dataset, f"append to {self.path}"):
            append_variable_rows(dataset, rows)
            if not dataset.file.swmr_mode:
                record_shape(dataset)


def mark_node(obj: h5py.Group | h5py.Dataset, kind: str, title: str) -> None:
    """Write the plain attributes that make ``obj`` a PyMoDAQ node of ``kind``."""
    for key, value in node_marks(kind, title).items():
        obj.attrs[key] = value


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
    if is_group(obj):
        return "GROUP"
    if not is_dataset(obj):
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
