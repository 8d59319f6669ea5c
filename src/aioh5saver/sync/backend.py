"""The tree of one HDF5 file: nodes found, walked, read and created with PyMoDAQ's attributes.

:class:`H5Backend` has the methods and properties of pymodaq_data's ``H5Backend``; it holds
its file through :class:`~aioh5saver.sync.file_access.FileAccess` (a storage engine) and writes
PyMoDAQ's layout (:mod:`aioh5saver.format.layout`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.boundary import check_fits_in_memory, h5_errors
from aioh5saver.engine.external import UnresolvedPathError, check_stored_in_file, locate
from aioh5saver.engine.h5py_append import record_shape
from aioh5saver.engine.objects import identity_key, is_dataset, is_group
from aioh5saver.errors import (
    CorruptFileError,
    InvalidArgumentError,
    InvalidNameError,
    NodeKindError,
    NodeNotFoundError,
    describe,
)
from aioh5saver.format.enums import GroupType
from aioh5saver.format.layout import (
    array_attrs,
    capitalize,
    check_node_name,
    check_title,
    chunk_shape,
    group_type_name,
)
from aioh5saver.format.rows import as_shape
from aioh5saver.sync.file_access import FileAccess
from aioh5saver.sync.nodes import (
    CARRAY,
    EARRAY,
    GROUP,
    VLARRAY,
    Node,
    StringARRAY,
    mark_node,
    wrap_node,
)

__all__ = [
    "H5Backend",
    "reconcile_swmr_attrs_of",
]


def reconcile_swmr_attrs_of(
    backend: H5Backend, paths: Iterable[str] | None, *, clear_flag: bool = True
) -> None:
    """:meth:`H5Backend.reconcile_swmr_attrs` for the arrays at ``paths`` only, or for all if
    None (a writer that knows which arrays grew under SWMR need not walk the file). The
    ``swmr_active`` flag is cleared last (unless ``clear_flag`` is false: the caller has more
    to finish first), so that a writer interrupted before leaves it set for the next one."""
    file = backend._writable_file("reconcile attributes after SWMR")
    nodes = backend.walk_nodes("/") if paths is None else map(backend.get_node, paths)
    for node in nodes:
        if isinstance(node, EARRAY):
            with h5_errors(node.node, f"reconcile {node.path}"):
                record_shape(node.node)
    if clear_flag:
        with h5_errors(file, "reconcile attributes after SWMR"):
            if "swmr_active" in file.attrs:
                file.attrs["swmr_active"] = False


def _says_missing(exc: KeyError) -> bool:
    """True if h5py's KeyError says a link does not exist, rather than that HDF5 could not read
    the objects on the way (a damaged file)."""
    text = str(exc)
    return "doesn't exist" in text or "not found" in text or "does not exist" in text


def _h5_name(path: str) -> str | bytes:
    """``path`` as h5py takes it: bytes where it holds a name that is not UTF-8 (kept as lone
    surrogates in the paths this package gives)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")
    return path


class H5Backend(FileAccess):
    """One HDF5 file and the operations on its tree (pymodaq_data's ``H5Backend``): nodes
    found, walked, read and created with PyMoDAQ's attributes."""

    # -- attributes ---------------------------------------------------------------------------

    def get_attr(self, node: Any, attr_name: str | None = None) -> Any:
        """One decoded attribute of ``node``, or all of them as a dict if ``attr_name`` is None."""
        wrapped = self.get_node(node)
        if attr_name is None:
            return wrapped.attrs.to_dict()
        return wrapped.attrs[attr_name]

    def set_attr(self, node: Any, attr_name: str, attr_value: Any) -> None:
        """Set an attribute of ``node`` (PyMoDAQ's JSON encoding)."""
        self.get_node(node).attrs[attr_name] = attr_value

    def has_attr(self, node: Any, attr_name: str) -> bool:
        """True if ``node`` has the attribute ``attr_name``."""
        return attr_name in self.get_node(node).attrs

    # -- SWMR ---------------------------------------------------------------------------------

    def reconcile_swmr_attrs(self) -> None:
        """Record each enlargeable array's real shape in its ``shape`` attribute (deferred while
        SWMR was on) and clear the ``swmr_active`` flag."""
        reconcile_swmr_attrs_of(self, None)

    def finalize_swmr(self, keep_open: bool = False) -> None:
        """End SWMR: close the file, reopen it for appending (:meth:`reopen`) and reconcile the
        deferred attributes; then close it unless ``keep_open``."""
        self.reopen()
        self.reconcile_swmr_attrs()
        if not keep_open:
            self.close_file()

    # -- nodes --------------------------------------------------------------------------------

    def get_node(self, where: Any, name: str | None = None) -> Node:
        """The node at ``where`` (a path, a node or an h5py object), or its child ``name``."""
        file = self._file()
        reached_by: str | None = None  # the path a node given as where was reached by
        if isinstance(where, Node):
            reached_by = where.path
            where = where.node
        if name is not None:
            check_node_name(name)
        shown: str | None
        if isinstance(where, str):
            path = where if name is None else f"{where.rstrip('/')}/{name}"
            h5_path = _h5_name(path)
            raw = h5_path if isinstance(h5_path, bytes) else h5_path.encode("utf-8")
            shown = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
            obj = self._locate(file, raw, path)
        elif is_group(where) or is_dataset(where):
            obj = where
            shown = reached_by
            if name is not None:
                if not is_group(where):
                    raise NodeKindError(
                        f"expected a group to hold {name!r}, got the array {where.name}"
                    )
                obj = self._locate(where, name.encode("utf-8", "surrogateescape"), name)
                with h5_errors(where, f"find {where.name}/{name}"):
                    shown = f"{(reached_by or where.name).rstrip('/')}/{name}"
        else:
            raise NodeKindError(
                f"where: expected a node path (str) or a node, got {describe(where)}"
            )
        return wrap_node(obj, self.backend, shown)

    def _locate(self, start: h5py.Group, raw: bytes, path: str) -> Any:
        """The object at ``raw`` from ``start``, resolved inside the file (:func:`locate`)."""
        with h5_errors(start, f"find {path}", reading=True):
            try:
                return locate(start, raw)
            except UnresolvedPathError as exc:
                raise NodeNotFoundError(f"no node at {path!r} in {self.file_path}: {exc}") from None
            except (KeyError, ValueError) as exc:
                if isinstance(exc, KeyError) and not _says_missing(exc):
                    raise CorruptFileError(
                        f"cannot find {path} in {self.file_path}: expected readable HDF5 "
                        f"structures, got a damaged file ({exc})"
                    ) from exc
                raise NodeNotFoundError(f"no node at {path!r} in {self.file_path}") from exc

    def _get_group(self, where: Any) -> GROUP:
        node = self.get_node(where)
        if not isinstance(node, GROUP):
            raise NodeKindError(f"expected a group at {node.path}, got a {node.kind}")
        return node

    def get_node_name(self, node: Any) -> str:
        """The name of ``node``."""
        return self.get_node(node).name

    def get_node_path(self, node: Any) -> str:
        """The absolute path of ``node``."""
        return self.get_node(node).path

    def get_parent_node(self, node: Any) -> GROUP | None:
        """The group holding ``node``, or None for the root."""
        return self.get_node(node).parent_node

    def get_children(self, where: Any) -> dict[str, Node]:
        """The nodes directly under the group ``where``, by name."""
        return self._get_group(where).children()

    def is_node_in_group(self, where: Any, name: str) -> bool:
        """True if ``where`` has a child called ``name`` (case-insensitive)."""
        lowered = name.lower()
        return any(child.lower() == lowered for child in self.get_children(where))

    def walk_groups(self, where: Any) -> Iterator[GROUP]:
        """``where`` and every group below it, in pymodaq_data's order; each group once, even
        where hard links make the tree a graph."""
        start = self.get_node(where)
        if not isinstance(start, GROUP):
            return
        seen = {identity_key(start.node)}
        stack = [start]
        yield start
        while stack:
            group = stack.pop()
            for child in group.children().values():
                if isinstance(child, GROUP) and identity_key(child.node) not in seen:
                    seen.add(identity_key(child.node))
                    stack.append(child)
                    yield child

    def walk_nodes(
        self, where: Any, depth: int | None = None, only_groups: bool = False
    ) -> Iterator[Node]:
        """``where`` and the nodes below it down to ``depth`` levels (all if None), in
        pymodaq_data's order; only groups if ``only_groups``."""
        start = self.get_node(where)
        if not (only_groups and not isinstance(start, GROUP)):
            yield start
        if depth == 0:
            return
        prefix = len(start.path.rstrip("/")) + 1
        for group in self.walk_groups(start):
            for child in group.children().values():
                relative = child.path[prefix:]
                if depth is not None and relative.count("/") >= depth:
                    return
                if only_groups and not isinstance(child, GROUP):
                    continue
                yield child

    def get_group_by_title(self, where: Any, title: str) -> GROUP | None:
        """The first child group of ``where`` whose ``TITLE`` is ``title``, or None."""
        for child in self.get_children(where).values():
            if isinstance(child, GROUP) and child.attrs.get("TITLE") == title:
                return child
        return None

    def read(self, array: Any, *args: Any, **kwargs: Any) -> Any:
        """The data of an array node, as stored (string rows are returned raw: use
        ``StringARRAY.read()`` for the strings)."""
        node = self.get_node(array)
        if not isinstance(node, CARRAY):
            raise NodeKindError(f"read: expected an array, got the group {node.path}")
        check_stored_in_file(node.node, f"read {node.path}")
        check_fits_in_memory(node.node, f"read {node.path}")
        with h5_errors(node.node, f"read {node.path}", reading=True):
            return node.node[()]

    def read_strings(self, where: Any) -> list[str]:
        """The strings of a string array (the Logger included), decoded without unpickling."""
        node = self.get_node(where)
        if not isinstance(node, StringARRAY):
            raise NodeKindError(
                f"read_strings: expected a string array, got a {node.kind} at {node.path}"
            )
        return node.read()

    # -- creation -----------------------------------------------------------------------------

    def _new_child_parent(self, where: Any, name: str, action: str) -> h5py.Group:
        self._writable_file(action)
        check_node_name(name)
        parent = self._get_group(where)
        with h5_errors(parent.node, action):
            if name in parent.node:
                raise InvalidNameError(
                    f"{action}: expected a name not yet used in {parent.path}, got {name!r}, "
                    "which exists"
                )
        return parent.node

    def _describe_array(
        self, array: CARRAY, shape: tuple[int, ...], dtype: np.dtype[Any], subdtype: str
    ) -> None:
        for key, value in array_attrs(shape, dtype, subdtype, self.backend).items():
            array.attrs[key] = value

    def create_carray(self, where: Any, name: str, obj: Any = None, title: str = "") -> CARRAY:
        """A fixed array holding ``obj``."""
        if obj is None:
            raise InvalidArgumentError(
                f"create_carray {name!r}: expected the data to store (a numpy array), got None"
            )
        action = f"create the array {name!r}"
        title = check_title(title, action)
        parent = self._new_child_parent(where, name, action)
        data = np.asarray(obj)
        if data.dtype == object:
            raise InvalidArgumentError(
                f"{action}: expected numeric or fixed-width data, got an object array"
            )
        with h5_errors(parent, action):
            dataset = parent.create_dataset(name, data=data, **(self.compression or {}))
            mark_node(dataset, "CARRAY", title)
        array = CARRAY(dataset, self.backend)
        self._describe_array(array, data.shape, data.dtype, "")
        return array

    def create_earray(
        self, where: Any, name: str, dtype: Any, data_shape: Any = None, title: str = ""
    ) -> EARRAY:
        """An array enlargeable along its first axis, with rows of shape ``data_shape``."""
        action = f"create the enlargeable array {name!r}"
        title = check_title(title, action)
        row_shape = as_shape(data_shape, "data_shape")
        if 0 in row_shape:
            # pymodaq_data creates such an array (h5py guesses chunks larger than the zero
            # dimension); its rows would hold nothing but their count, and appending them has
            # no byte to queue or write: refused here, before anything is created.
            raise InvalidArgumentError(
                f"data_shape: expected the shape of a row of at least one element (no "
                f"dimension of size 0) for an enlargeable array, got {describe(data_shape)}"
            )
        try:
            dtype = np.dtype(dtype)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"{action}: expected a numpy dtype, got {describe(dtype)}"
            ) from exc
        parent = self._new_child_parent(where, name, action)
        options: dict[str, Any] = {"chunks": chunk_shape(row_shape, dtype.itemsize)}
        options.update(self.compression or {})
        with h5_errors(parent, action):
            dataset = parent.create_dataset(
                name, shape=(0, *row_shape), dtype=dtype, maxshape=(None, *row_shape), **options
            )
            mark_node(dataset, "EARRAY", title)
        array = EARRAY(dataset, self.backend)
        self._describe_array(array, (0, *row_shape), dtype, "")
        return array

    def create_vlarray(self, where: Any, name: str, dtype: Any, title: str = "") -> VLARRAY:
        """An enlargeable array of variable-length rows; ``dtype='string'`` makes a
        :class:`StringARRAY`."""
        action = f"create the variable-length array {name!r}"
        title = check_title(title, action)
        is_string = isinstance(dtype, str) and dtype == "string"
        try:
            base = np.dtype(np.uint8) if is_string else np.dtype(dtype)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"{action}: expected a numpy dtype or 'string', got {describe(dtype)}"
            ) from exc
        parent = self._new_child_parent(where, name, action)
        options: dict[str, Any] = dict(self.compression or {})
        with h5_errors(parent, action):
            dataset = parent.create_dataset(
                name, shape=(0,), dtype=h5py.vlen_dtype(base), maxshape=(None,), **options
            )
            mark_node(dataset, "VLARRAY", title)
        array: VLARRAY = (StringARRAY if is_string else VLARRAY)(dataset, self.backend)
        self._describe_array(array, (0,), base, "string" if is_string else "")
        return array

    def get_set_group(self, where: Any, name: str, title: str = "", **kwargs: Any) -> GROUP:
        """The group ``name`` under ``where``, created (with ``TITLE`` and ``CLASS``, and
        ``kwargs`` as plain attributes) if absent."""
        check_node_name(name)
        parent = self._get_group(where)
        with h5_errors(parent.node, f"find {name!r} in {parent.path}"):
            exists = name in parent.node
        if exists:
            group = self.get_node(parent.node, name)
            if not isinstance(group, GROUP):
                raise NodeKindError(
                    f"expected {group.path} to be a group, got an existing {group.kind}"
                )
            return group
        action = f"create the group {name!r} in {parent.path}"
        self._writable_file(action)
        title = check_title(title, action)
        with h5_errors(parent.node, action):
            created = parent.node.create_group(name)
            mark_node(created, "GROUP", title)
            for key, value in kwargs.items():
                created.attrs[key] = value
        return GROUP(created, self.backend)

    def add_group(
        self,
        group_name: str,
        group_type: GroupType | str,
        where: Any,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> GROUP:
        """The group ``group_name`` under ``where``, created with the ``type`` attribute and
        ``metadata`` if absent; its name is capitalised on creation, as in PyMoDAQ."""
        check_node_name(group_name, "group_name")
        type_name = group_type_name(group_type)
        if group_name in self.get_children(where):
            node = self._get_group(self.get_node(where, group_name))
        else:
            node = self.get_set_group(where, capitalize(group_name), title)
            node.attrs["type"] = type_name.lower()
            for key, value in (metadata or {}).items():
                node.attrs[key] = value
        node.attrs["backend"] = self.backend
        return node


def _backend_of(backend: str, file: h5py.File) -> H5Backend:
    """An :class:`H5Backend` bound to the open ``file`` (what a node's ``to_h5_backend``
    gives)."""
    layer = H5Backend(backend)
    layer.h5file = file
    return layer


Node._backend_factory = _backend_of
