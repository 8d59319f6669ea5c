"""The inspect child's work: walk an open file and describe its nodes, attributes and log as
the JSON answer :func:`.inspect.inspect_file` reads.

Runs in the reading child only (:mod:`.child`). Datasets are never read, except the last log
lines; attributes are decoded safely and cut to the answer's allowance.
"""

from __future__ import annotations

from typing import Any

import h5py

from aioh5saver.engine.external import describe_outside, stored_outside
from aioh5saver.format.attrs import decode_attr
from aioh5saver.tools.limits import ANSWER_CHARS, MAX_ATTR_BYTES, MAX_ATTRS
from aioh5saver.tools.log_tail import read_log
from aioh5saver.tools.patched_view import PatchedView, read_patches
from aioh5saver.tools.report import ValueText
from aioh5saver.tools.walk import (
    LABELS,
    WalkStats,
    dataset_kind,
    display_name,
    iter_nodes,
    open_h5,
    read_labels,
)
from aioh5saver.tools.wire import AnswerAllowance, attr_to_json

__all__ = ["dtype_text", "inspect_in_child"]


def inspect_in_child(
    where: str, swmr_read: bool, log_lines: int, max_nodes: int, patches: str | None = None
) -> dict[str, Any]:
    """The answer describing the file at ``where``: its first ``max_nodes`` nodes (the rest
    counted) and its last ``log_lines`` log lines; ``{"fatal": ..., "message": ...}`` if HDF5
    cannot open it. With ``patches`` (a file :func:`.patched_view.write_patches` wrote), the
    file is read as those patches would leave it, without being changed."""
    try:
        if patches is None:
            file = open_h5(where, swmr_read)
        else:
            size, laid_over = read_patches(patches)
            file = h5py.File(PatchedView(where, size, laid_over), "r")
    except Exception as exc:
        return {"fatal": type(exc).__name__, "message": str(exc)}
    allowance = AnswerAllowance(ANSWER_CHARS)
    stats = WalkStats()
    nodes: list[dict[str, Any]] = []
    by_path: dict[str, dict[str, Any]] = {}
    with file:
        for entry in iter_nodes(file, max_nodes=max_nodes, stats=stats, allowance=allowance):
            if entry.path in by_path:  # a group's listing failed after it was shown
                by_path[entry.path]["error"] = entry.error
                continue
            node: dict[str, Any] = {"path": entry.path, "kind": entry.kind}
            by_path[entry.path] = node
            if entry.target is not None:
                node["target"] = entry.target
            if entry.obj is not None:
                try:
                    node["shape"], node["dtype"] = _shape_and_dtype(entry.obj)
                    node["attrs"], node["attrs_omitted"], labels = _attributes(entry.obj, allowance)
                    if entry.kind == "dataset":
                        if node["attrs_omitted"]:
                            labels = read_labels(entry.obj)
                        node["kind"] = dataset_kind(entry.obj, labels)
                        storage = stored_outside(entry.obj)
                        if storage is not None:
                            node["outside"] = allowance.text(describe_outside(storage), 1000)
                except MemoryError:
                    entry.error = "too large to read"
                except Exception as exc:
                    entry.error = f"{type(exc).__name__}: {exc}"
            if entry.error is not None:
                node["error"] = entry.error
            nodes.append(node)
        log = read_log(file, log_lines)
    nodes.sort(key=_sort_key)
    return {
        "nodes": nodes,
        "omitted": stats.omitted,
        "capped": stats.capped,
        "log": log,
        "allowance_exhausted": allowance.exhausted,
    }


def _shape_and_dtype(obj: Any) -> tuple[list[int] | None, str | None]:
    if isinstance(obj, h5py.Dataset):
        shape = obj.shape
        return (list(shape) if shape is not None else None), dtype_text(obj.dtype)
    if isinstance(obj, h5py.Datatype):
        return None, dtype_text(obj.dtype)
    return None, None


def dtype_text(dtype: Any) -> str:
    """A dtype as text: numpy's name, ``vlen(uint8)`` for variable-length rows, ``str`` for
    variable-length strings."""
    string = h5py.check_string_dtype(dtype)
    if string is not None:
        size = "variable" if string.length is None else f"{string.length} bytes"
        return f"str ({string.encoding}, {size})"
    base = h5py.check_vlen_dtype(dtype)
    if base is not None:
        return f"vlen({base})"
    text = str(dtype)
    return text if len(text) <= 200 else text[:199] + "…"


def _attributes(obj: Any, allowance: AnswerAllowance) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The attributes shown (as wire values), how many were left out, and the labels."""
    count = h5py.h5a.get_num_attrs(obj.id)
    manager = obj.attrs
    shown: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for index in range(min(count, MAX_ATTRS)):
        if allowance.exhausted:
            return shown, count - index, labels
        try:
            attribute = h5py.h5a.open(obj.id, index=index)
            raw = attribute.name
            size = attribute.get_storage_size()
        except Exception as exc:
            shown[f"#{index}"] = {"t": "text", "v": f"<unreadable: {exc}>"}
            continue
        name = display_name(raw, allowance)
        if size > MAX_ATTR_BYTES:
            shown[name] = {"t": "text", "v": f"<{size} bytes: too large to show>"}
            continue
        try:
            value = decode_attr(manager[raw])
        except MemoryError:
            value = ValueText("<too large to read>")
        except Exception as exc:
            value = ValueText(f"<unreadable: {type(exc).__name__}: {exc}>")
        if raw in LABELS:
            labels[name] = value
        shown[name] = attr_to_json(value, allowance)
    return shown, max(0, count - MAX_ATTRS), labels


def _sort_key(node: dict[str, Any]) -> list[str]:
    path: str = node["path"]
    return [] if path == "/" else path.split("/")[1:]
