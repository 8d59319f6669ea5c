"""What kind an open object of any engine's library is (a group, a dataset; open or closed),
and the few questions whose answer differs between h5py and h5pyd, asked in one place so that
the saver above never tells the libraries apart.

h5pyd (the HSDS client) has h5py's high-level API, but not its low-level one: its objects are
no ``h5py.Group`` or ``h5py.Dataset``, their ids have no ``valid`` flag and no hash, and a
group's links are not listed through its id.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import h5py
import numpy as np

from aioh5saver.errors import ServiceError, SharedNodeConflictError

__all__ = [
    "child_names",
    "hsds_library",
    "identity_key",
    "is_dataset",
    "is_group",
    "is_h5py",
    "is_open",
    "send_pending",
    "set_attribute",
]


def hsds_library() -> Any:
    """The h5pyd module, or None if it is not installed (the ``hsds`` extra)."""
    try:
        import h5pyd
    except ImportError:
        return None
    return h5pyd


def _h5pyd_loaded() -> Any:
    """h5pyd if something imported it (no h5pyd object exists otherwise), else None: h5pyd
    is imported only when a domain is opened, not with aioh5saver."""
    return sys.modules.get("h5pyd")


def is_h5py(obj: Any) -> bool:
    """True if ``obj`` is an h5py object (a local file's), with h5py's low-level API."""
    return isinstance(obj, h5py.HLObject)


def is_group(obj: Any) -> bool:
    """True if ``obj`` is a group (a file's root included) of h5py or h5pyd."""
    if isinstance(obj, h5py.Group):
        return True
    h5pyd = _h5pyd_loaded()
    return h5pyd is not None and isinstance(obj, h5pyd.Group)


def is_dataset(obj: Any) -> bool:
    """True if ``obj`` is a dataset of h5py or h5pyd."""
    if isinstance(obj, h5py.Dataset):
        return True
    h5pyd = _h5pyd_loaded()
    return h5pyd is not None and isinstance(obj, h5pyd.Dataset)


def is_open(obj: Any) -> bool:
    """True if ``obj``'s file is still open (h5py: its id is valid; h5pyd: its id is set)."""
    object_id = getattr(obj, "id", None)
    if object_id is None:
        return False
    valid = getattr(object_id, "valid", None)
    return bool(object_id) if valid is None else bool(valid)


def identity_key(obj: Any) -> Any:
    """A hashable key that is the same for every handle on one object of one file (h5py's
    object id; h5pyd's object uuid)."""
    return obj.id if is_h5py(obj) else obj.id.uuid


def child_names(group: Any) -> Iterator[bytes]:
    """The names of ``group``'s links, as stored (bytes)."""
    if is_h5py(group):
        yield from group.id
        return
    for name in group:
        yield name.encode("utf-8", "surrogateescape")


def set_attribute(obj: Any, name: str, value: Any) -> None:
    """Set the attribute ``name`` of ``obj`` to ``value``, replacing one of that name.

    h5pyd 1.0.0 sends a changed attribute as a new one, which HSDS refuses (HTTP 409) once the
    old one was stored: an attribute that exists is replaced on the service itself, in one
    request (``replace=1``), which another host replacing it at the same moment cannot make
    fail."""
    if not is_h5py(obj) and name in obj.attrs:
        _replace_on_service(obj, name, value)
        return
    obj.attrs[name] = value


def _replace_on_service(obj: Any, name: str, value: Any) -> None:
    from h5json.hdf5dtype import getTypeItem
    from h5pyd._hl.objectid import getCollectionForId

    send_pending(obj, f"set attribute {name!r}")  # what is pending goes first, in order
    if isinstance(value, str):
        type_item = getTypeItem(h5py.string_dtype())
        shape: dict[str, Any] = {"class": "H5S_SCALAR"}
        data: Any = value
    else:
        array = np.asarray(value)
        type_item = getTypeItem(array.dtype)
        shape = (
            {"class": "H5S_SCALAR"}
            if array.ndim == 0
            else {"class": "H5S_SIMPLE", "dims": list(array.shape)}
        )
        data = array.tolist()
    collection = getCollectionForId(obj.id.uuid)
    request = f"/{collection}/{obj.id.uuid}/attributes/{quote(name, safe='')}"
    answer = obj.id.db.plugin.http_conn.PUT(
        request, body={"type": type_item, "shape": shape, "value": data}, params={"replace": 1}
    )
    if answer.status_code not in (200, 201):
        raise OSError(
            f"set attribute {name!r} of {obj.name}: expected the service to replace it "
            f"(HTTP 200), got HTTP {answer.status_code}"
        )
    obj.id.refresh()  # the cached attributes, as the service has them now


def send_pending(obj: Any, action: str) -> None:
    """Send what h5pyd holds of ``obj``'s domain (every pending change, in order), for
    ``action``: :class:`SharedNodeConflictError` if another writer created one of the same
    nodes or attributes first, :class:`ServiceError` if the service failed it."""
    try:
        obj.id.flush()
    except Exception as exc:
        text = str(exc)
        # h5pyd says 409 for attributes; for links, only that they failed (a link is refused
        # when its name exists, as another writer's).
        if "409" in text or "unable to update links" in text:
            raise SharedNodeConflictError(
                f"{action}: expected nodes no other writer created, got one created by "
                f"another writer first ({type(exc).__name__}: {text[:200]})"
            ) from exc
        raise ServiceError(
            f"{action}: expected the HSDS service to take the changes, got "
            f"{type(exc).__name__}: {text[:200]}"
        ) from exc
