"""What leads outside a file (external and soft links, external raw storage, virtual
datasets), found from the file's own metadata and never followed: a path is resolved link by
link inside the file, and data stored elsewhere is named, not read."""

from __future__ import annotations

from typing import Any

import h5py

from aioh5saver.engine.boundary import h5_errors
from aioh5saver.engine.objects import is_group, is_h5py
from aioh5saver.errors import ExternalDataError, SaverError

__all__ = [
    "MAX_SOFT_LINKS",
    "UnresolvedPathError",
    "check_stored_in_file",
    "describe_outside",
    "locate",
    "object_of",
    "resolve_inside_file",
    "stored_outside",
]


# HDF5's own limit on the soft links one path may traverse (H5L_NUM_LINKS).
MAX_SOFT_LINKS = 16


class UnresolvedPathError(Exception):
    """A path that leads to no object of this file: missing, a dangling or looping soft link,
    or an external link on the way (never followed). Internal: callers turn it into their
    :class:`SaverError`."""


def object_of(object_id: Any) -> Any:
    """The h5py object (group, dataset or named datatype) of an open HDF5 object id."""
    if isinstance(object_id, h5py.h5g.GroupID):
        return h5py.Group(object_id)
    if isinstance(object_id, h5py.h5d.DatasetID):
        return h5py.Dataset(object_id)
    return h5py.Datatype(object_id)


def _shown(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def locate(start: Any, path: bytes) -> Any:
    """The object at ``path`` (absolute, or relative to the group ``start``), resolved link by
    link inside ``start``'s file.

    HDF5 is never left to traverse a path itself: it would follow an external link met on the
    way (directly, in the middle of the path, or at the end of a soft link), and so open
    another file, or a named pipe that blocks forever. Here each name is looked up in its group
    with ``H5Lget_info``: a hard link is opened, a soft link is resolved the same way (from the
    group holding it, as HDF5 does; at most :data:`MAX_SOFT_LINKS` of them per path), and any
    other link (external, user-defined) raises :class:`UnresolvedPathError`, as do a missing
    name and a path through something that is not a group. Errors of a damaged file pass as
    h5py raises them.
    """
    with h5_errors(start, "find a node", reading=True):
        if not is_h5py(start):
            return _locate_by_links(start, path, [MAX_SOFT_LINKS])
        start_id = start.id
        root_id = h5py.h5o.open(start_id, b"/") if path.startswith(b"/") else start_id
        return object_of(_locate(root_id, path, [MAX_SOFT_LINKS]))


def _locate(start_id: Any, path: bytes, hops: list[int]) -> Any:
    current = start_id
    walked: list[bytes] = []
    for name in path.split(b"/"):
        if not name or name == b".":
            continue  # HDF5 skips empty and "." components too
        shown = "/".join(_shown(part) for part in walked)
        shown = f"/{shown}" if path.startswith(b"/") else shown or "."
        if not isinstance(current, h5py.h5g.GroupID):
            raise UnresolvedPathError(f"{shown} is not a group, so it holds no {_shown(name)!r}")
        if not current.links.exists(name):
            raise UnresolvedPathError(f"{shown} has no link {_shown(name)!r}")
        info = current.links.get_info(name)
        walked.append(name)
        if info.type == h5py.h5l.TYPE_HARD:
            current = h5py.h5o.open(current, name)
        elif info.type == h5py.h5l.TYPE_SOFT:
            hops[0] -= 1
            target = current.links.get_val(name)
            if hops[0] < 0:
                raise UnresolvedPathError(
                    f"more than {MAX_SOFT_LINKS} soft links on the way (a loop?) at "
                    f"{_shown(name)!r} -> {_shown(target)!r}"
                )
            base = h5py.h5o.open(current, b"/") if target.startswith(b"/") else current
            try:
                current = _locate(base, target, hops)
            except UnresolvedPathError as exc:
                raise UnresolvedPathError(
                    f"{_shown(name)!r} is a soft link to {_shown(target)!r}, where {exc}"
                ) from None
        elif info.type == h5py.h5l.TYPE_EXTERNAL:
            file_name, object_path = current.links.get_val(name)
            raise UnresolvedPathError(
                f"{_shown(name)!r} is an external link to {_shown(file_name)}:"
                f"{_shown(object_path)}, which is never followed"
            )
        else:
            raise UnresolvedPathError(
                f"{_shown(name)!r} is a user-defined link, which is never followed"
            )
    return current


def _locate_by_links(start: Any, path: bytes, hops: list[int]) -> Any:
    """:func:`locate` through the high-level API only (h5pyd's objects, which have no
    low-level one): each link's class read with ``get(name, getlink=True)``."""
    current = start.file["/"] if path.startswith(b"/") else start
    walked: list[str] = []
    for raw in path.split(b"/"):
        if not raw or raw == b".":
            continue
        name = _shown(raw)
        shown = "/" + "/".join(walked) if path.startswith(b"/") else "/".join(walked) or "."
        if not is_group(current):
            raise UnresolvedPathError(f"{shown} is not a group, so it holds no {name!r}")
        link = current.get(name, getlink=True)
        walked.append(name)
        kind = type(link).__name__
        if link is None:
            raise UnresolvedPathError(f"{shown} has no link {name!r}")
        if kind == "HardLink":
            current = current[name]
        elif kind == "SoftLink":
            hops[0] -= 1
            target = str(link.path)
            if hops[0] < 0:
                raise UnresolvedPathError(
                    f"more than {MAX_SOFT_LINKS} soft links on the way (a loop?) at "
                    f"{name!r} -> {target!r}"
                )
            try:
                current = _locate_by_links(current, target.encode("utf-8"), hops)
            except UnresolvedPathError as exc:
                raise UnresolvedPathError(
                    f"{name!r} is a soft link to {target!r}, where {exc}"
                ) from None
        else:
            raise UnresolvedPathError(
                f"{name!r} is a link of another file ({kind}), which is never followed"
            )
    return current


def resolve_inside_file(group: h5py.Group, name: bytes) -> Any:
    """The object the link ``name`` of ``group`` leads to inside this file, or None if it leads
    nowhere in it (an external link, a soft link that dangles, loops, or goes through an
    external link: see :func:`locate`). A hard link to a damaged object raises."""
    if is_h5py(group):
        soft = group.id.links.get_info(name).type == h5py.h5l.TYPE_SOFT
    else:
        link = group.get(_shown(name), getlink=True)
        soft = type(link).__name__ == "SoftLink"
    try:
        return locate(group, name)
    except UnresolvedPathError:
        return None
    except (KeyError, RuntimeError, OSError, SaverError):
        if soft:
            return None
        raise


# At most this many other files are named in a message (a crafted virtual dataset can have
# millions of mappings).
_NAMED_FILES = 8


def stored_outside(dataset: h5py.Dataset) -> tuple[str, list[str], int] | None:
    """How ``dataset``'s data are stored outside its file, if they are: ``("external raw
    storage" | "virtual dataset", the first file names, how many mappings or files)``; None
    for data stored in the file (a virtual dataset without mappings holds only its fill value).
    Nothing but the file's own metadata is read: a virtual dataset's sources are not opened,
    nor are external raw storage files. A source in the same file (``.``) counts as outside
    too: HDF5 would find it by traversing its path, through any external link on it. An
    h5pyd dataset (HSDS) has its data in its domain's storage: None."""
    if not is_h5py(dataset):
        return None
    plist = dataset.id.get_create_plist()
    names: list[str] = []
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        count = plist.get_virtual_count()
        if count == 0:
            return None  # no mapping: its data are its fill value, read from this file
        for index in range(count):
            name = plist.get_virtual_filename(index)
            name = name if name != "." else "this file (a source in the same file)"
            if name not in names:
                names.append(name)
            if len(names) >= _NAMED_FILES:
                break
        return "virtual dataset", names, count
    count = plist.get_external_count()
    if count == 0:
        return None
    for index in range(min(count, 4 * _NAMED_FILES)):
        name = _shown(plist.get_external(index)[0])
        if name not in names:
            names.append(name)
        if len(names) >= _NAMED_FILES:
            break
    return "external raw storage", names, count


def describe_outside(storage: tuple[str, list[str], int]) -> str:
    """``storage`` (from :func:`stored_outside`) as text: what kind, and which files."""
    kind, names, count = storage
    shown = ", ".join(repr(name) for name in names)
    if kind == "virtual dataset":
        more = f" ({count} mappings)" if count > len(names) else ""
        return f"a virtual dataset with its sources in {shown}{more}"
    more = f" ({count} segments)" if count > len(names) else ""
    return f"an array with external raw storage in {shown}{more}"


def check_stored_in_file(dataset: h5py.Dataset, action: str) -> None:
    """Raise :class:`ExternalDataError` if ``dataset``'s data are stored outside its file
    (external raw storage, a virtual dataset): reading or writing them would open other
    files."""
    with h5_errors(dataset, action, reading=True):
        storage = stored_outside(dataset)
        file_name = dataset.file.filename
    if storage is not None:
        raise ExternalDataError(
            f"{action}: expected an array whose data are stored in {file_name}, got "
            f"{describe_outside(storage)}; such data are never read or written (that would "
            "open those files)"
        )
