"""h5grove's HTTP API on the served file: ``info``, ``meta``, ``attr``, ``data``, ``stats`` and
``paths``, each a function of the query that returns a :class:`Reply`.

The answers are h5grove's (its content classes, its slicing, its encoders: JSON, bin, csv,
npy, tiff), with the file's own limits on what a request may make the server do: the ``file``
argument must name the served file (no other file, no folder is reachable), paths resolve
inside it (:mod:`.entities`), data stored outside the file are refused (403), and a selection
larger than :data:`MAX_DATA_BYTES` is refused (413) rather than read.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h5py
from h5grove.content import DatasetContent
from h5grove.encoders import encode, orjson_encode
from h5grove.utils import QueryArgumentError, parse_bool_arg, parse_slice

from aioh5saver.engine.external import check_stored_in_file
from aioh5saver.errors import (
    ArrayTooLargeError,
    CorruptFileError,
    ExternalDataError,
    FileInUseError,
    InvalidArgumentError,
    NodeKindError,
    NodeNotFoundError,
    SaverError,
)
from aioh5saver.tools.limits import MAX_DEPTH
from aioh5saver.tools.view.attributes import attribute_values
from aioh5saver.tools.view.entities import describe, find, find_dataset, link_name, link_names
from aioh5saver.tools.view.source import ServedFile

__all__ = ["ENDPOINTS", "MAX_DATA_BYTES", "MAX_PATHS", "Reply", "answer"]

# The most bytes of data one request reads (a whole camera series is refused; a frame is not).
MAX_DATA_BYTES = 256 << 20
# Paths listed by ``paths`` (what h5web's search looks through).
MAX_PATHS = 100_000

Query = dict[str, list[str]]

# The status of each refusal: what the request asked is impossible (422), outside the file
# (403), too large (413), or not readable now (503).
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (NodeNotFoundError, 404),
    (ExternalDataError, 403),
    (ArrayTooLargeError, 413),
    (FileInUseError, 503),
    (CorruptFileError, 500),
    (NodeKindError, 422),
    (InvalidArgumentError, 422),
    (QueryArgumentError, 422),
    (ValueError, 422),
    (SaverError, 500),
)


@dataclass
class Reply:
    """An HTTP answer: status, body and content type (and any other headers)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, content: Any) -> Reply:
    return Reply(status, orjson_encode(content))


def _error(status: int, message: str) -> Reply:
    return _json(status, {"message": " ".join(message.split())})


def answer(served: ServedFile, endpoint: str, query: Query, refresh_seconds: float) -> Reply:
    """The reply to ``GET /api/<endpoint>?<query>``."""
    if endpoint == "info":
        return _json(200, {"file": served.name, "refresh_seconds": refresh_seconds})
    handler = ENDPOINTS.get(endpoint)
    if handler is None:
        return _error(404, f"no endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")
    asked = _one(query, "file")
    if asked != served.name:
        # Only the served file is reachable, whatever name is asked (h5web says "File not
        # found" for this message).
        return _error(404, f"File not found: expected {served.name!r}, got {asked!r}")
    try:
        return served.read(lambda file: handler(file, query))
    except (SaverError, QueryArgumentError, ValueError, OSError) as exc:
        return _error(_status_of(exc), str(exc) or type(exc).__name__)


def _status_of(exc: BaseException) -> int:
    found = [code for kind, code in _STATUS if isinstance(exc, kind)]
    return found[0] if found else 500


def _one(query: Query, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[-1] if values else default


def _path(query: Query) -> str:
    return _one(query, "path") or "/"


def _meta(file: h5py.File, query: Query) -> Reply:
    return _json(200, describe(file, _path(query)))


def _attr(file: h5py.File, query: Query) -> Reply:
    obj = find(file, _path(query))
    return _json(200, attribute_values(obj, query.get("attr_keys")))


def _selected_bytes(dataset: h5py.Dataset, selection: str | None) -> int:
    """How many bytes reading ``selection`` (h5grove's slice syntax) of ``dataset`` takes."""
    shape = dataset.shape or ()
    counts: list[int] = [int(extent) for extent in shape]
    if selection:
        parts = parse_slice(selection)
        if len(parts) > len(shape):
            raise InvalidArgumentError(
                f"expected a selection of at most {len(shape)} members for a dataset of shape "
                f"{shape}, got {selection!r}"
            )
        for axis, part in enumerate(parts):
            counts[axis] = len(range(*part.indices(shape[axis]))) if isinstance(part, slice) else 1
    return int(math.prod(counts)) * max(int(dataset.dtype.itemsize), 1)


def _readable(file: h5py.File, query: Query, action: str) -> tuple[h5py.Dataset, str | None]:
    path = _path(query)
    dataset = find_dataset(file, path)
    check_stored_in_file(dataset, f"{action} {path}")
    selection = _one(query, "selection")
    size = _selected_bytes(dataset, selection)
    if size > MAX_DATA_BYTES:
        raise ArrayTooLargeError(
            f"expected a selection of at most {MAX_DATA_BYTES} bytes, got {size} bytes "
            f"({path}, selection {selection or 'all'}); select a slice"
        )
    return dataset, selection


def _data(file: h5py.File, query: Query) -> Reply:
    dataset, selection = _readable(file, query, "read")
    content = DatasetContent(_path(query), dataset)
    flatten = parse_bool_arg(_one(query, "flatten"), fallback=False)
    data = content.data(selection, flatten, _one(query, "dtype"))
    response = encode(data, _one(query, "format"))
    headers = {k: v for k, v in response.headers.items() if k not in ("Content-Type",)}
    headers.pop("Content-Length", None)
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    return Reply(200, response.content, content_type, headers)


def _stats(file: h5py.File, query: Query) -> Reply:
    dataset, selection = _readable(file, query, "compute statistics of")
    return _json(200, DatasetContent(_path(query), dataset).data_stats(selection))


def _paths(file: h5py.File, query: Query) -> Reply:
    """Every path under ``path`` reached through hard links (each object once), links of
    other kinds listed but not followed; at most :data:`MAX_PATHS`, :data:`MAX_DEPTH` deep."""
    base = _path(query)
    start = find(file, base)
    if not isinstance(start, h5py.Group):
        raise NodeKindError(f"expected a group at {base}, got a dataset or datatype")
    found = [base]
    seen = {h5py.h5o.get_info(start.id).addr}
    queue: deque[tuple[h5py.Group, str, int]] = deque([(start, base, 0)])
    while queue and len(found) < MAX_PATHS:
        group, path, depth = queue.popleft()
        for raw in link_names(group, MAX_PATHS - len(found)):
            child = f"{path.rstrip('/')}/{link_name(raw)}"
            found.append(child)
            if depth + 1 >= MAX_DEPTH:
                continue
            if group.id.links.get_info(raw).type != h5py.h5l.TYPE_HARD:
                continue
            inner = h5py.h5o.open(group.id, raw)
            if isinstance(inner, h5py.h5g.GroupID):
                address = h5py.h5o.get_info(inner).addr
                if address not in seen:
                    seen.add(address)
                    queue.append((h5py.Group(inner), child, depth + 1))
    return _json(200, found)


ENDPOINTS: dict[str, Callable[[h5py.File, Query], Reply]] = {
    "meta": _meta,
    "attr": _attr,
    "data": _data,
    "stats": _stats,
    "paths": _paths,
}
