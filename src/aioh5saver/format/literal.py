"""Parse the ``repr`` of a value back into the value, without executing anything.

PyMoDAQ stores attribute values as ``repr(value)`` and reads them back with ``eval``, so a
crafted file runs arbitrary code on the reader's machine. Here the text is only *parsed*
(``ast.parse``, which compiles nothing and runs nothing) and the syntax tree is walked by a
whitelist that knows the reprs PyMoDAQ writes: Python literals, ``nan``/``inf``, numpy scalars
(``np.float64(1.5)``, ``np.True_``) and ``datetime`` objects. Everything else is refused.

Size and nesting are bounded before parsing, so that hostile text cannot exhaust the stack or
the memory of the reader.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from aioh5saver.errors import UnsafeContentError

__all__ = ["MAX_LITERAL_CHARS", "MAX_LITERAL_DEPTH", "NUMPY_SCALAR_TYPES_BY_NAME", "parse_literal"]

MAX_LITERAL_CHARS = 1 << 20
MAX_LITERAL_DEPTH = 32

_NAMED_NUMBERS: dict[str, float | complex] = {
    "nan": math.nan,
    "inf": math.inf,
    "nanj": complex(0, math.nan),
    "infj": complex(0, math.inf),
}
_NUMPY_MODULE_NAMES = frozenset({"np", "numpy"})
# numpy scalar types whose repr is ``np.<name>(<python literal>)``.
_NUMPY_SCALARS: dict[str, type[np.generic]] = {
    name: getattr(np, name)
    for name in [
        "bool_",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "intc",
        "uintc",
        "intp",
        "uintp",
        "float16",
        "float32",
        "float64",
        "longdouble",
        "complex64",
        "complex128",
        "clongdouble",
        "str_",
        "bytes_",
    ]
    if hasattr(np, name)
}
# By the scalar type's ``__name__``, under numpy 2 and numpy 1 (which called ``bool`` ``bool_``).
NUMPY_SCALAR_TYPES_BY_NAME: dict[str, type[np.generic]] = {
    **{name: scalar_type for name, scalar_type in _NUMPY_SCALARS.items()},
    **{scalar_type.__name__: scalar_type for scalar_type in _NUMPY_SCALARS.values()},
}
_NUMPY_CONSTANTS = {"True_": np.True_, "False_": np.False_}
_DATETIME_CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "timedelta": dt.timedelta,
    "timezone": dt.timezone,
}
_DATETIME_CONSTANTS = {("timezone", "utc"): dt.UTC}


def parse_literal(text: str) -> Any:
    """Return the value whose ``repr`` is ``text``.

    Raises :class:`UnsafeContentError` for anything that is not a plain value repr: a name,
    a call to anything but a numpy scalar or ``datetime`` constructor, an operator other than
    the sign of a number or the ``+`` of a complex literal, text over
    :data:`MAX_LITERAL_CHARS` characters, or nesting deeper than :data:`MAX_LITERAL_DEPTH`.
    """
    if not isinstance(text, str):
        raise UnsafeContentError(f"expected the repr of a value as str, got {type(text).__name__}")
    if len(text) > MAX_LITERAL_CHARS:
        raise UnsafeContentError(
            f"expected a value repr of at most {MAX_LITERAL_CHARS} characters, got {len(text)}"
        )
    _check_bracket_depth(text)
    try:
        # A repr never holds an invalid escape; text that makes the parser warn is refused.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, Warning) as exc:
        raise UnsafeContentError(
            f"expected the repr of a value, got unparsable text: {exc}"
        ) from exc
    try:
        return _Evaluator().value(tree.body, 0)
    except UnsafeContentError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError, RecursionError) as exc:
        # What Python itself raises on a literal that parses but makes no value: an unhashable
        # set member or dict key ({[1]: 2}), an int too large for a float in a complex
        # literal, a tree too deep to describe. Whatever the text, only this error leaves.
        raise UnsafeContentError(
            f"expected the repr of a value, got text that makes none: {type(exc).__name__}: "
            f"{str(exc)[:80]}"
        ) from exc


def _check_bracket_depth(text: str) -> None:
    """Refuse text nested deeper than the limit before the parser recurses into it.

    Brackets inside string and bytes literals are not nesting and are skipped.
    """
    depth = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            if depth > MAX_LITERAL_DEPTH:
                raise UnsafeContentError(
                    f"expected a value nested at most {MAX_LITERAL_DEPTH} deep, got deeper nesting"
                )
        elif char in ")]}":
            depth -= 1


def _hashed(build: Callable[[], Any]) -> Any:
    """The set or dict ``build`` makes; :class:`UnsafeContentError` if a member or key is
    unhashable (a list, dict or set: no repr of a set or dict holds one)."""
    try:
        return build()
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        raise UnsafeContentError(
            f"expected hashable set members and dict keys, got {str(exc)[:80]}"
        ) from None


def _snippet(node: ast.AST) -> str:
    """The start of ``node``'s source, for a message (a tree too deep to unparse is named)."""
    try:
        return ast.unparse(node)[:60]
    except RecursionError:
        return f"<a {type(node).__name__} nested too deep to show>"


class _Evaluator:
    """Turns a whitelisted syntax tree into its value; refuses any other node."""

    def value(self, node: ast.expr, depth: int) -> Any:
        if depth > MAX_LITERAL_DEPTH:
            raise UnsafeContentError(f"expected nesting at most {MAX_LITERAL_DEPTH} deep")
        inner = depth + 1
        match node:
            case ast.Constant(value=value) if value is not Ellipsis:
                return value
            case ast.Name(id=name) if name in _NAMED_NUMBERS:
                return _NAMED_NUMBERS[name]
            case ast.UnaryOp(op=ast.USub() | ast.UAdd() as op, operand=operand):
                number = self._number(operand, inner)
                return -number if isinstance(op, ast.USub) else number
            case ast.BinOp(left=left, op=ast.Add() | ast.Sub() as op, right=right):
                return self._complex(left, op, right, inner)
            case ast.Tuple(elts=elts):
                return tuple(self.value(e, inner) for e in elts)
            case ast.List(elts=elts):
                return [self.value(e, inner) for e in elts]
            case ast.Set(elts=elts):
                return _hashed(lambda: {self.value(e, inner) for e in elts})
            case ast.Dict(keys=keys, values=values) if None not in keys:
                return _hashed(
                    lambda: {
                        self.value(k, inner): self.value(v, inner)
                        for k, v in zip(keys, values, strict=True)
                        if k is not None
                    }
                )
            case ast.Attribute():
                return self._constant(node)
            case ast.Call():
                return self._call(node, inner)
        raise UnsafeContentError(
            f"expected a literal, numpy scalar or datetime repr, got {type(node).__name__} "
            f"{_snippet(node)!r}"
        )

    def _number(self, node: ast.expr, depth: int) -> Any:
        number = self.value(node, depth)
        if isinstance(number, bool) or not isinstance(number, int | float | complex):
            raise UnsafeContentError(f"expected a number after a sign, got {number!r}")
        return number

    def _complex(self, left: ast.expr, op: ast.operator, right: ast.expr, depth: int) -> complex:
        real = self._number(left, depth)
        imaginary = self._number(right, depth)
        if isinstance(real, complex) or not isinstance(imaginary, complex) or imaginary.real:
            raise UnsafeContentError("expected a complex literal such as (1+2j)")
        return complex(real + imaginary if isinstance(op, ast.Add) else real - imaginary)

    def _constant(self, node: ast.Attribute) -> Any:
        match node:
            case ast.Attribute(value=ast.Name(id=module), attr=attr) if (
                module in _NUMPY_MODULE_NAMES and attr in _NUMPY_CONSTANTS
            ):
                return _NUMPY_CONSTANTS[attr]
            case ast.Attribute(
                value=ast.Attribute(value=ast.Name(id="datetime"), attr=cls), attr=attr
            ) if (cls, attr) in _DATETIME_CONSTANTS:
                return _DATETIME_CONSTANTS[cls, attr]
        raise UnsafeContentError(f"expected a known constant, got {_snippet(node)!r}")

    def _call(self, node: ast.Call, depth: int) -> Any:
        constructor = self._constructor(node.func)
        args = [self.value(a, depth) for a in node.args]
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise UnsafeContentError("expected no **kwargs in a value repr")
            kwargs[keyword.arg] = self.value(keyword.value, depth)
        for argument in [*args, *kwargs.values()]:
            if not isinstance(argument, _SCALAR_ARGUMENT_TYPES):
                raise UnsafeContentError(
                    f"expected scalar constructor arguments in {_snippet(node.func)}(...), "
                    f"got {type(argument).__name__}"
                )
        try:
            with np.errstate(all="raise"):
                return constructor(*args, **kwargs)
        except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
            raise UnsafeContentError(
                f"expected valid arguments for {_snippet(node.func)}(...): {exc}"
            ) from exc

    @staticmethod
    def _constructor(func: ast.expr) -> Callable[..., Any]:
        match func:
            case ast.Attribute(value=ast.Name(id=module), attr=name) if (
                module in _NUMPY_MODULE_NAMES and name in _NUMPY_SCALARS
            ):
                return _NUMPY_SCALARS[name]
            case ast.Attribute(value=ast.Name(id="datetime"), attr=name) if (
                name in _DATETIME_CONSTRUCTORS
            ):
                return _DATETIME_CONSTRUCTORS[name]
            case ast.Name(id="set"):
                return set
            case ast.Name(id="frozenset"):
                return frozenset
        raise UnsafeContentError(
            f"expected a numpy scalar or datetime constructor, got a call to {_snippet(func)!r}"
        )


_SCALAR_ARGUMENT_TYPES = (
    int,
    float,
    complex,
    str,
    bytes,
    bool,
    type(None),
    dt.timedelta,
    dt.tzinfo,
    set,
    frozenset,
)
