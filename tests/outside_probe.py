"""Run by tests/sync/test_outside_file.py in a child process (a call that blocks on a named pipe
hangs only the child): every entry point of the synchronous reader on one path of a hostile
file, each result or error printed as JSON for the test to judge.

    python outside_probe.py FILE PATH TITLE

Values are rendered as text with array bytes decoded as latin-1, so that the test can look for
another file's bytes anywhere in the output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import aioh5saver as h5s


def render(value: Any) -> Any:
    """``value`` as JSON data holding every byte it carries."""
    if isinstance(value, h5s.Node):
        return f"{value.kind} {value.path} {value.attrs.to_dict()!r}"
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [render(item) for item in value.tolist()]
        return value.tobytes().decode("latin-1")
    if isinstance(value, np.generic):
        return render(np.asarray(value))
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {str(key): render(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item) for item in value]
    return repr(value)


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"value": render(call())}
    except Exception as exc:
        return {
            "error": type(exc).__name__,
            "saver_error": isinstance(exc, h5s.SaverError),
            "message": str(exc),
        }


def probe(file: str, path: str, title: str) -> dict[str, Any]:
    """Every entry point on ``path`` of ``file``; ``title`` is searched for by title."""
    parent, _, name = path.rpartition("/")
    results: dict[str, Any] = {}
    opened = outcome(lambda: h5s.H5SaverLowLevel.from_file(file, mode="r"))
    results["from_file"] = opened
    if "error" in opened:
        return results
    saver = h5s.H5SaverLowLevel.from_file(file, mode="r")
    try:
        calls: dict[str, Callable[[], Any]] = {
            "get_node": lambda: saver.get_node(path),
            "get_node(parent, name)": lambda: saver.get_node(parent, name),
            "get_node(h5py group, name)": lambda: saver.get_node(saver.get_node(parent).node, name),
            "get_children(parent)": lambda: saver.get_children(parent),
            "get_children": lambda: saver.get_children(path),
            "is_node_in_group": lambda: saver.is_node_in_group(parent, name),
            "walk_nodes": lambda: list(saver.walk_nodes("/")),
            "walk_nodes(path)": lambda: list(saver.walk_nodes(path)),
            "walk_groups": lambda: list(saver.walk_groups("/")),
            "walk_groups(path)": lambda: list(saver.walk_groups(path)),
            "get_attr": lambda: saver.get_attr(path),
            "get_attr TITLE": lambda: saver.get_attr(path, "TITLE"),
            "has_attr": lambda: saver.has_attr(path, "TITLE"),
            "read": lambda: saver.read(path),
            "read_strings": lambda: saver.read_strings(path),
            "node.read": lambda: saver.get_node(path).read(),
            "node[0]": lambda: saver.get_node(path)[0],
            "node[:]": lambda: saver.get_node(path)[:],
            "node.parent_node": lambda: saver.get_node(path).parent_node,
            "node.outside": lambda: saver.get_node(path).outside,
            "StringARRAY.read": lambda: h5s.StringARRAY(saver.get_node(path)).read(),
            "CARRAY.read": lambda: h5s.CARRAY(saver.get_node(path)).read(),
            "CARRAY[...]": lambda: h5s.CARRAY(saver.get_node(path))[...],
            "get_node_from_title": lambda: saver.get_node_from_title("/", title),
            "get_group_by_title": lambda: saver.get_group_by_title(parent, title),
            "get_node_from_attribute_match": lambda: saver.get_node_from_attribute_match(
                "/", "TITLE", title
            ),
            "get_set_logger": lambda: saver.get_set_logger(),
            "Logger read": lambda: saver.get_set_logger().read(),
        }
        for entry, call in calls.items():
            results[entry] = outcome(call)
    finally:
        saver.close_file()
    return results


if __name__ == "__main__":
    sys.stdout.write(json.dumps(probe(sys.argv[1], sys.argv[2], sys.argv[3])))
