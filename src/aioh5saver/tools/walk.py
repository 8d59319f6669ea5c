"""The child-side walk of an HDF5 file: its nodes, breadth first, bounded, each object once,
links shown and never followed; and what a node's kind is decided from.

Runs in the reading child only (:mod:`.child`): it calls h5py on a file that may be crafted.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h5py

from aioh5saver.engine.external import object_of
from aioh5saver.format.attrs import decode_attr
from aioh5saver.format.layout import PYMODAQ_CLASSES, fixed_kind, vlen_kind
from aioh5saver.tools.limits import COUNT_CAP, MAX_ATTR_BYTES, MAX_DEPTH, MAX_NAME
from aioh5saver.tools.wire import AnswerAllowance

__all__ = [
    "LABELS",
    "Entry",
    "WalkStats",
    "dataset_kind",
    "display_name",
    "hard_get",
    "iter_nodes",
    "open_h5",
    "read_labels",
]


def display_name(raw: bytes, allowance: AnswerAllowance | None = None) -> str:
    """A link or attribute name as text: UTF-8, undecodable bytes shown as ``\\xNN``, names
    longer than :data:`~.limits.MAX_NAME` characters cut, with their length and a digest of the
    whole name, so that two long names sharing their beginning stay two paths."""
    name = raw.decode("utf-8", "backslashreplace")
    if len(name) > MAX_NAME:
        digest = hashlib.blake2b(raw, digest_size=4).hexdigest()
        name = f"{name[:MAX_NAME]}…[{len(name)} chars, #{digest}]"
    if allowance is not None:
        allowance.left -= len(name)
    return name


def open_h5(where: str, swmr_read: bool) -> Any:
    """``where`` opened read-only, as a SWMR reader if ``swmr_read``, without taking HDF5's file
    lock (a reader must never stop the writer from reopening its file)."""
    return h5py.File(where, "r", swmr=swmr_read, locking=False)


@dataclass
class Entry:
    """One link met by :func:`iter_nodes`: the object (None for links and failures) and what
    was found out about it."""

    path: str
    kind: str
    obj: Any = None
    target: str | None = None
    error: str | None = None


@dataclass
class WalkStats:
    """Counts :func:`iter_nodes` keeps: links not listed, and whether counting hit its cap."""

    omitted: int = 0
    capped: bool = False


LABELS = (b"CLASS", b"subdtype")


def read_labels(obj: Any) -> dict[str, Any]:
    """The decoded ``CLASS`` and ``subdtype`` attributes of ``obj``, those that exist and are
    small: what its kind is decided from."""
    labels: dict[str, Any] = {}
    manager = obj.attrs
    for raw in LABELS:
        small = h5py.h5a.exists(obj.id, raw) and (
            h5py.h5a.open(obj.id, raw).get_storage_size() <= MAX_ATTR_BYTES
        )
        if small:
            labels[raw.decode()] = decode_attr(manager[raw])
    return labels


def dataset_kind(obj: Any, labels: dict[str, Any]) -> str:
    """The kind shown for a dataset, from what it is (the rule of :mod:`aioh5saver.format.layout`,
    applied to labels already read): ``"dataset"`` when its ``CLASS`` is no PyMoDAQ class."""
    label = labels.get("CLASS")
    if not isinstance(label, str) or label not in PYMODAQ_CLASSES:
        return "dataset"
    base = h5py.check_vlen_dtype(obj.dtype)
    if base is not None:
        return vlen_kind(base, labels.get("subdtype"))
    return fixed_kind(obj.maxshape, label)


def iter_nodes(
    file: Any,
    *,
    max_nodes: int,
    stats: WalkStats,
    allowance: AnswerAllowance | None = None,
    count_rest: bool = True,
) -> Iterator[Entry]:
    """The nodes of ``file``, breadth first from the root, each object once; at most
    ``max_nodes`` of them, the rest counted in ``stats`` (unless ``count_rest`` is False: then
    the walk stops there). Soft and external links are yielded as links, never followed; a
    second hard link to an object is yielded as a link to the path it was first met at.
    Datasets come as kind ``"dataset"``: :func:`dataset_kind` tells which array they are.

    Raises what h5py raises if the root group itself cannot be opened (a damaged file)."""
    root = file["/"]
    seen: dict[tuple[int, int], str] = {_object_key(root.id): "/"}
    queue: deque[tuple[str, Any, int]] = deque([("/", root, 0)])
    yield Entry("/", "GROUP", obj=root)
    listed = 1
    while queue:
        path, group, depth = queue.popleft()
        try:
            for raw in group.id:
                if listed >= max_nodes or (allowance is not None and allowance.exhausted):
                    if not count_rest:
                        return
                    stats.omitted += 1
                    if stats.omitted >= COUNT_CAP:
                        stats.capped = True
                        return
                    _queue_for_count(group, raw, seen, queue, depth)
                    continue
                child_path = f"{path.rstrip('/')}/{display_name(raw, allowance)}"
                entry = _entry(group, raw, child_path, seen, depth)
                listed += 1
                if entry.kind == "GROUP" and entry.error is None:
                    queue.append((child_path, entry.obj, depth + 1))
                yield entry
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            # The group itself was already yielded: this entry adds its error to it.
            yield Entry(path, "GROUP", error=f"its links could not all be listed: {exc}")


def _object_key(object_id: Any) -> tuple[int, int]:
    info = h5py.h5o.get_info(object_id)
    return int(info.fileno), int(info.addr)


def _entry(
    group: Any, raw: bytes, path: str, seen: dict[tuple[int, int], str], depth: int
) -> Entry:
    try:
        link = group.id.links.get_info(raw)
        if link.type == h5py.h5l.TYPE_SOFT:
            return Entry(path, "link", target=_link_text(group.id.links.get_val(raw)))
        if link.type != h5py.h5l.TYPE_HARD:
            value = group.id.links.get_val(raw)
            if isinstance(value, tuple) and len(value) == 2:
                return Entry(path, "link", target=f"{_link_text(value[0])}:{_link_text(value[1])}")
            return Entry(path, "link", target="(a user-defined link)")
        info = h5py.h5o.get_info(group.id, raw)
        key = (int(info.fileno), int(info.addr))
        if key in seen:
            return Entry(path, "link", target=seen[key])
        seen[key] = path
        if info.type == h5py.h5o.TYPE_GROUP and depth + 1 >= MAX_DEPTH:
            return Entry(path, "GROUP", error=f"nested deeper than {MAX_DEPTH} levels: not listed")
        obj = object_of(h5py.h5o.open(group.id, raw))
        kind = {h5py.h5o.TYPE_GROUP: "GROUP", h5py.h5o.TYPE_DATASET: "dataset"}
        return Entry(path, kind.get(info.type, "datatype"), obj=obj)
    except Exception as exc:  # a damaged object: shown with its error, the walk goes on
        return Entry(path, "unreadable", error=f"{type(exc).__name__}: {exc}")


def _link_text(value: Any) -> str:
    if isinstance(value, bytes):
        return display_name(value)
    return str(value)


def _queue_for_count(
    group: Any, raw: bytes, seen: dict[tuple[int, int], str], queue: deque[Any], depth: int
) -> None:
    """Past the listing, still walk into unseen groups so that they are counted."""
    try:
        if group.id.links.get_info(raw).type != h5py.h5l.TYPE_HARD:
            return
        info = h5py.h5o.get_info(group.id, raw)
        key = (int(info.fileno), int(info.addr))
        if info.type != h5py.h5o.TYPE_GROUP or key in seen or depth + 1 >= MAX_DEPTH:
            return
        seen[key] = ""
        queue.append(("", h5py.Group(h5py.h5o.open(group.id, raw)), depth + 1))
    except Exception:
        return  # a damaged link is counted, not walked


def hard_get(file: Any, path: str) -> Any:
    """The object at the absolute ``path`` if every link on the way is a hard link, else None
    (missing, damaged, or reached through a soft or external link: those are never followed,
    as an external link could point at another file, or at a named pipe that blocks)."""
    obj = file["/"]
    for name in path.strip("/").split("/"):
        raw = name.encode("utf-8", "surrogateescape")
        if not isinstance(obj, h5py.Group) or not obj.id.links.exists(raw):
            return None
        if obj.id.links.get_info(raw).type != h5py.h5l.TYPE_HARD:
            return None
        obj = object_of(h5py.h5o.open(obj.id, raw))
    return obj
