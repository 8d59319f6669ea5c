"""The nodes of the served file as h5grove describes them (its ``/meta`` answer), found and
listed without leaving the file.

h5grove's own path lookup lets HDF5 traverse a path, which follows an external link met on the
way (opening another file, or a named pipe that blocks forever), and describes a group's
children by resolving each link the same way. Here a path is resolved link by link inside the
file (:func:`~aioh5saver.engine.external.locate`), a group's children are described from their
link info, and a link that leads outside (an external link, a soft link that dangles or goes
through one) is described as the link it is, never opened. h5grove's content classes describe
what was found (shape, type, filters, chunks, attributes' names and types).
"""

from __future__ import annotations

from typing import Any

import h5py
from h5grove.content import DatasetContent, DatatypeContent, ResolvedEntityContent

from aioh5saver.engine.external import UnresolvedPathError, locate, stored_outside
from aioh5saver.errors import NodeKindError, NodeNotFoundError
from aioh5saver.tools.view.source import refreshed

__all__ = [
    "MAX_CHILDREN",
    "describe",
    "find",
    "find_dataset",
    "link_name",
    "link_names",
    "path_bytes",
]

# Children listed per group: a crafted group can hold millions of links.
MAX_CHILDREN = 10_000


def path_bytes(path: str) -> bytes:
    """A path as sent by the browser (text), as HDF5 names it (bytes)."""
    return path.encode("utf-8", "surrogateescape")


def link_name(raw: bytes) -> str:
    """A link name as text for the browser; bytes that are not UTF-8 shown as ``\\xNN``."""
    return raw.decode("utf-8", "backslashreplace")


def find(file: h5py.File, path: str) -> Any:
    """The group, dataset or named datatype at ``path``, resolved inside ``file``; a dataset
    comes refreshed (its newest extent). Raises :class:`NodeNotFoundError` for a path that
    leads to nothing in the file, which includes one through an external link."""
    try:
        found = locate(file, path_bytes(path or "/"))
    except UnresolvedPathError as exc:
        # h5web shows "No entity found at <path>" for messages saying "not a valid path".
        raise NodeNotFoundError(f"{path} is not a valid path in {file.filename}: {exc}") from None
    if isinstance(found, h5py.Dataset) and stored_outside(found) is None:
        refreshed(found)
    return found


def find_dataset(file: h5py.File, path: str) -> h5py.Dataset:
    """The dataset at ``path`` (see :func:`find`); :class:`NodeKindError` for another node."""
    found = find(file, path)
    if not isinstance(found, h5py.Dataset):
        raise NodeKindError(f"expected a dataset at {path}, got a {_kind(found)}")
    return found


def _kind(obj: Any) -> str:
    return "group" if isinstance(obj, h5py.Group) else type(obj).__name__.lower()


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def describe(file: h5py.File, path: str, *, children: bool = True) -> dict[str, Any]:
    """h5grove's metadata of the node at ``path``: a group with its children (each described
    without its own children) if ``children``."""
    return _describe_object(path or "/", find(file, path), children=children)


def _describe_object(path: str, obj: Any, *, children: bool) -> dict[str, Any]:
    if isinstance(obj, h5py.Dataset):
        return dict(DatasetContent(path, obj).metadata())
    if isinstance(obj, h5py.Datatype):
        return dict(DatatypeContent(path, obj).metadata())
    metadata: dict[str, Any] = dict(ResolvedEntityContent(path, obj).metadata())
    metadata["kind"] = "group"
    if children:
        metadata["children"] = [_describe_link(obj, path, raw) for raw in link_names(obj)]
    return metadata


def link_names(group: h5py.Group, limit: int = MAX_CHILDREN) -> list[bytes]:
    """The names of ``group``'s links (at most ``limit``), read from the group alone."""
    names: list[bytes] = []

    def collect(name: bytes) -> bool | None:
        names.append(name)
        return True if len(names) >= limit else None  # anything but None stops the walk

    group.id.links.iterate(collect)
    return names


def _describe_link(group: h5py.Group, parent: str, raw: bytes) -> dict[str, Any]:
    """The metadata of the child ``raw`` of ``group``, from its link: an object in this file
    is described; a link that leads out of it is described as a link, and not followed."""
    name = link_name(raw)
    path = _join(parent, name)
    info = group.id.links.get_info(raw)
    if info.type == h5py.h5l.TYPE_EXTERNAL:
        file_name, object_path = group.id.links.get_val(raw)
        return {
            "name": name,
            "kind": "external_link",
            "target_file": link_name(file_name),
            "target_path": link_name(object_path),
        }
    if info.type not in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT):
        return {"name": name, "kind": "other"}
    try:
        obj = locate(group, raw)
    except UnresolvedPathError:
        target = group.id.links.get_val(raw) if info.type == h5py.h5l.TYPE_SOFT else b""
        return {"name": name, "kind": "soft_link", "target_path": link_name(target)}
    if isinstance(obj, h5py.Dataset) and stored_outside(obj) is None:
        refreshed(obj)
    return _describe_object(path, obj, children=False)
