"""The attribute values the live view shows (h5grove's ``/attr`` answer): PyMoDAQ's JSON
envelopes decoded to the value they hold, by parsing, never by evaluating.

PyMoDAQ stores most attributes as ``{"module": ..., "type": ..., "data": repr(value)}``;
:func:`~aioh5saver.format.attrs.decode_attr` gives back the value, or the stored text when it
is not a literal of the type it claims (so ``__import__('os').system(...)`` stays a string).
The browser shows a string attribute as text, so a decoded value is sent as its text (``h5py``
rather than the envelope around ``'h5py'``). Large attributes are not read.
"""

from __future__ import annotations

import datetime
from typing import Any

import h5py
import numpy as np

from aioh5saver.format.attrs import decode_attr
from aioh5saver.tools.limits import MAX_ATTR_BYTES

__all__ = ["MAX_SHOWN_CHARS", "attribute_values", "shown_text"]

# Characters of one decoded value sent to the browser.
MAX_SHOWN_CHARS = 1 << 16


def attribute_values(obj: Any, names: list[str] | None = None) -> dict[str, Any]:
    """The values of ``obj``'s attributes (those in ``names``, if given), ready for JSON."""
    attrs = obj.attrs
    wanted = list(attrs.keys()) if not names else [name for name in names if name in attrs]
    return {name: _value(attrs, name) for name in wanted}


def _value(attrs: h5py.AttributeManager, name: str) -> Any:
    try:
        size = attrs.get_id(name).get_storage_size()
        if size > MAX_ATTR_BYTES:
            return f"({size} bytes, not read: larger than {MAX_ATTR_BYTES})"
        stored = attrs[name]
    except (OSError, RuntimeError, TypeError, ValueError) as exc:
        return f"(unreadable: {type(exc).__name__}: {exc})"
    return _shown(stored)


def _shown(stored: Any) -> Any:
    if isinstance(stored, str | bytes | np.str_ | np.bytes_):
        return shown_text(decode_attr(stored))
    if isinstance(stored, h5py.Empty):
        return None
    if isinstance(stored, np.ndarray) and stored.dtype.kind in "OSU":
        return [_shown(item) for item in stored.ravel().tolist()]
    if isinstance(stored, np.ndarray | np.generic | int | float | bool):
        return stored
    return shown_text(stored)


def shown_text(value: Any) -> str:
    """A decoded attribute value as the text the browser shows."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
    elif value is None or isinstance(value, bool | int | float | complex | np.generic):
        text = str(value)
    elif isinstance(value, datetime.date | datetime.time):
        text = value.isoformat()
    else:
        text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        return f"{text[:MAX_SHOWN_CHARS]}… ({len(text)} characters)"
    return text
