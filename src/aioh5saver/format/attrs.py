"""PyMoDAQ's attribute encoding, written byte for byte and read back safely.

PyMoDAQ stores most attributes as the JSON text ``{"module": ..., "type": ..., "data":
repr(value)}``. :func:`encode_attr` writes exactly that. :func:`decode_attr` gives back a value of
the type that was written (str, int, float, bool, None, tuple, list, dict, set, bytes, complex,
numpy scalars, datetime/date/time/timedelta) by parsing the repr (:mod:`.literal`), never by
evaluating it. A value of any other type, or one whose repr does not parse as the type it claims,
is returned as the stored text: a safe value, never an executed one.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from aioh5saver.errors import UnsafeContentError
from aioh5saver.format.literal import MAX_LITERAL_CHARS, NUMPY_SCALAR_TYPES_BY_NAME, parse_literal

__all__ = ["decode_attr", "encode_attr"]

_ENVELOPE_KEYS = frozenset({"module", "type", "data"})
_BUILTIN_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "NoneType": type(None),
    "tuple": tuple,
    "list": list,
    "dict": dict,
    "set": set,
    "frozenset": frozenset,
    "bytes": bytes,
    "complex": complex,
}
_DATETIME_TYPES = frozenset({"datetime", "date", "time", "timedelta"})


def encode_attr(value: Any) -> str:
    """PyMoDAQ's JSON encoding of an attribute value."""
    return json.dumps(
        {"module": type(value).__module__, "type": type(value).__name__, "data": repr(value)}
    )


def decode_attr(stored: Any) -> Any:
    """The value an attribute holds, decoded without executing anything.

    ``stored`` is what h5py returns for the attribute. Plain attributes (``CLASS``, ``TITLE``,
    ``EXTDIM``, ``swmr_active``) come back as they are, bytes decoded to ``str``; PyMoDAQ's JSON
    envelopes come back as the value they encode.
    """
    if isinstance(stored, bytes | np.bytes_):
        try:
            stored = bytes(stored).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(stored)
    if isinstance(stored, np.str_):
        stored = str(stored)
    if not isinstance(stored, str) or not stored.startswith("{"):
        return stored
    envelope = _load_envelope(stored)
    if envelope is None:
        return stored
    module, type_name, data = envelope
    try:
        value = parse_literal(data)
    except UnsafeContentError:
        return stored
    decoded = _as_declared_type(module, type_name, value)
    return stored if decoded is _MISMATCH else decoded


def _load_envelope(text: str) -> tuple[str, str, str] | None:
    if len(text) > 2 * MAX_LITERAL_CHARS:
        return None
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(loaded, dict) or set(loaded) != _ENVELOPE_KEYS:
        return None
    module, type_name, data = loaded["module"], loaded["type"], loaded["data"]
    if not all(isinstance(part, str) for part in (module, type_name, data)):
        return None
    return module, type_name, data


_MISMATCH = object()


def _as_declared_type(module: str, type_name: str, value: Any) -> Any:
    """``value`` if it is of the type the envelope declares (converting the reprs numpy 1 wrote
    for its scalars), else ``_MISMATCH``."""
    if module == "builtins" and type_name in _BUILTIN_TYPES:
        expected = _BUILTIN_TYPES[type_name]
        exact = type(value) is expected or (isinstance(expected, tuple) and type(value) in expected)
        return value if exact else _MISMATCH
    if module == "numpy":
        if isinstance(value, np.generic):
            return value if type(value).__name__ == type_name else _MISMATCH
        scalar_type = _numpy_scalar_type(type_name)
        if scalar_type is None or not _fits_kind(value, np.dtype(scalar_type).kind):
            return _MISMATCH
        try:
            with np.errstate(all="raise"):
                return scalar_type(value)
        except (TypeError, ValueError, OverflowError, FloatingPointError):
            return _MISMATCH
    if module == "datetime" and type_name in _DATETIME_TYPES:
        return value if type(value).__name__ == type_name else _MISMATCH
    return _MISMATCH


# The Python values numpy 1 wrote as the repr of a scalar of each dtype kind.
_PYTHON_VALUES_OF_KIND: dict[str, tuple[type, ...]] = {
    "b": (bool,),
    "i": (int,),
    "u": (int,),
    "f": (int, float),
    "c": (int, float, complex),
    "U": (str,),
    "S": (bytes,),
}


def _fits_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "b":
        return False
    return isinstance(value, _PYTHON_VALUES_OF_KIND.get(kind, ()))


def _numpy_scalar_type(type_name: str) -> type[np.generic] | None:
    """The whitelisted numpy scalar type whose ``__name__`` is ``type_name``."""
    return NUMPY_SCALAR_TYPES_BY_NAME.get(type_name)
