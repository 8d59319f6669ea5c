"""The JSON wire format between a reading child and its parent: attribute values tagged where
JSON has no such type, and the allowance that caps the size of the child's answer.

The child encodes (:func:`attr_to_json`, charged to an :class:`AnswerAllowance`); the parent
decodes (:func:`attr_from_json`, :func:`node_from_json`) into the report's model. Nothing on
the wire is evaluated: a tag the parent does not know is shown as text.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import numpy as np

from aioh5saver.tools.limits import MAX_ITEMS, MAX_TEXT
from aioh5saver.tools.report import NodeInfo, ValueText

__all__ = ["AnswerAllowance", "attr_from_json", "attr_to_json", "node_from_json"]


class AnswerAllowance:
    """Characters the child may still put in its answer."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    @property
    def exhausted(self) -> bool:
        """True once the answer reached its size limit."""
        return self.left <= 0

    def text(self, text: str, limit: int = MAX_TEXT) -> str:
        """``text`` cut to ``limit`` characters, charged to the allowance."""
        if len(text) > limit:
            text = f"{text[:limit]}… [{len(text) - limit} more characters]"
        self.left -= len(text)
        return text


def attr_to_json(value: Any, allowance: AnswerAllowance, depth: int = 0) -> Any:
    """A decoded attribute value as plain JSON data (tagged where JSON has no such type),
    cut to fit the allowance."""
    if depth > 16:
        return {"t": "text", "v": "…"}
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) < 1 << 63:
            return value
        return {"t": "text", "v": f"<an int of {value.bit_length()} bits>"}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
    if isinstance(value, str):
        return allowance.text(value)
    if isinstance(value, bytes):
        return {"t": "bytes", "v": allowance.text(value[:MAX_TEXT].decode("latin-1"))}
    if isinstance(value, complex):
        return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return {"t": type(value).__name__, "v": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"t": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, list | tuple | set | frozenset):
        items = [attr_to_json(item, allowance, depth + 1) for item in list(value)[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append({"t": "text", "v": f"… and {len(value) - MAX_ITEMS} more"})
        if isinstance(value, list):
            return items
        return {"t": "tuple" if isinstance(value, tuple) else "set", "v": items}
    if isinstance(value, dict):
        pairs = [
            [attr_to_json(key, allowance, depth + 1), attr_to_json(item, allowance, depth + 1)]
            for key, item in list(value.items())[:MAX_ITEMS]
        ]
        return {"t": "dict", "v": pairs}
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=20, edgeitems=3):
            return {"t": "text", "v": allowance.text(repr(value), 1000)}
    return {"t": "text", "v": allowance.text(repr(value), 1000)}


def attr_from_json(wire: Any) -> object:
    """An attribute value decoded from its wire form (:func:`attr_to_json`)."""
    if not isinstance(wire, dict):
        if isinstance(wire, list):
            return [attr_from_json(item) for item in wire]
        return wire
    tag = wire.get("t")
    value: Any = wire.get("v")
    if tag == "tuple":
        return tuple(attr_from_json(item) for item in value)
    if tag == "set":
        return {attr_from_json(item) for item in value}
    if tag == "dict":
        return {attr_from_json(key): attr_from_json(item) for key, item in value}
    if tag == "float":
        return float(value)
    if tag == "complex":
        return complex(float(value[0]), float(value[1]))
    if tag == "bytes":
        return str(value).encode("latin-1")
    if tag == "datetime":
        return datetime.datetime.fromisoformat(value)
    if tag == "date":
        return datetime.date.fromisoformat(value)
    if tag == "time":
        return datetime.time.fromisoformat(value)
    if tag == "timedelta":
        return datetime.timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    return ValueText(str(value))


def node_from_json(node: dict[str, Any]) -> NodeInfo:
    """One node of the child's answer as the report's :class:`NodeInfo`."""
    shape = node.get("shape")
    return NodeInfo(
        path=node["path"],
        kind=node["kind"],
        shape=tuple(shape) if shape is not None else None,
        dtype=node.get("dtype"),
        attrs={name: attr_from_json(value) for name, value in node.get("attrs", {}).items()},
        target=node.get("target"),
        error=node.get("error"),
        attrs_omitted=int(node.get("attrs_omitted", 0)),
        outside=node.get("outside"),
    )
