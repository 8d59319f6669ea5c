"""Parse the ``repr`` of a value back into the value, without executing anything.

PyMoDAQ stores attribute values as ``repr(value)`` and reads them back with ``eval``, so a
crafted file runs arbitrary code on the reader's machine. Here the text is only *parsed*
by a small recursive-descent parser (on :mod:`.literal_tokens`) that knows the reprs PyMoDAQ
writes: Python literals, ``nan``/``inf``, numpy scalars (``np.float64(1.5)``, ``np.True_``) and
``datetime`` objects. Everything else is refused. It does not use :mod:`ast` (nor ``compile``),
whose parser is not thread-safe on CPython 3.11: the writer thread reads attributes while user
code (pytest, hypothesis, IPython) may parse Python in its own thread.

Size and nesting are bounded before parsing, so that hostile text cannot exhaust the stack or
the memory of the reader.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from aioh5saver.errors import UnsafeContentError
from aioh5saver.format.literal_tokens import Token, refuse, tokenize

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
    It accepts exactly the text that Python's own parser (without a warning) and that
    whitelist accepted, but does not use :mod:`ast`, whose parser is not thread-safe on
    CPython 3.11.
    """
    if not isinstance(text, str):
        raise UnsafeContentError(f"expected the repr of a value as str, got {type(text).__name__}")
    if len(text) > MAX_LITERAL_CHARS:
        raise UnsafeContentError(
            f"expected a value repr of at most {MAX_LITERAL_CHARS} characters, got {len(text)}"
        )
    _check_bracket_depth(text)
    source = _python_source(text)
    try:
        return _Parser(source).parse()
    except UnsafeContentError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError, RecursionError) as exc:
        # What Python itself raises on a literal that parses but makes no value: an unhashable
        # set member or dict key ({[1]: 2}), an int too large for a float in a complex
        # literal. Whatever the text, only this error leaves.
        raise UnsafeContentError(
            f"expected the repr of a value, got text that makes none: {type(exc).__name__}: "
            f"{str(exc)[:80]}"
        ) from exc


def _python_source(text: str) -> str:
    """``text`` as Python's parser sees it: stripped, line ends made ``\\n``; text it refuses
    outright (a NUL character, a lone surrogate) is refused."""
    source = text.strip()
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in source:
        raise UnsafeContentError("expected a value repr without NUL characters, got one with")
    if not source.isascii():
        try:
            source.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnsafeContentError(
                f"expected a value repr of Unicode characters, got a lone surrogate: {exc}"
            ) from None
    return source


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


def _check_number(number: Any) -> Any:
    if isinstance(number, bool) or not isinstance(number, int | float | complex):
        raise UnsafeContentError(f"expected a number after a sign, got {number!r}")
    return number


def _complex(real: Any, sign: str, imaginary: Any) -> complex:
    _check_number(real)
    _check_number(imaginary)
    if isinstance(real, complex) or not isinstance(imaginary, complex) or imaginary.real:
        raise UnsafeContentError("expected a complex literal such as (1+2j)")
    return complex(real + imaginary if sign == "+" else real - imaginary)


def _signed(signs: list[str], value: Any) -> Any:
    """``value`` under ``signs`` (outermost first), each applied to a number only."""
    for sign in reversed(signs):
        value = -_check_number(value) if sign == "-" else _check_number(value)
    return value


def _constant(path: list[str]) -> Any:
    """The value of the name or attribute ``path`` (``nan``, ``np.True_``, ...)."""
    if len(path) == 1 and path[0] in _NAMED_NUMBERS:
        return _NAMED_NUMBERS[path[0]]
    if len(path) == 2 and path[0] in _NUMPY_MODULE_NAMES and path[1] in _NUMPY_CONSTANTS:
        return _NUMPY_CONSTANTS[path[1]]
    if len(path) == 3 and path[0] == "datetime" and (path[1], path[2]) in _DATETIME_CONSTANTS:
        return _DATETIME_CONSTANTS[path[1], path[2]]
    raise UnsafeContentError(f"expected a known constant, got {'.'.join(path)[:60]!r}")


def _constructor(path: list[str]) -> Callable[..., Any]:
    """The numpy scalar type, ``datetime`` type, ``set`` or ``frozenset`` called by ``path``."""
    if len(path) == 2 and path[0] in _NUMPY_MODULE_NAMES and path[1] in _NUMPY_SCALARS:
        return _NUMPY_SCALARS[path[1]]
    if len(path) == 2 and path[0] == "datetime" and path[1] in _DATETIME_CONSTRUCTORS:
        return _DATETIME_CONSTRUCTORS[path[1]]
    if path == ["set"]:
        return set
    if path == ["frozenset"]:
        return frozenset
    raise UnsafeContentError(
        f"expected a numpy scalar or datetime constructor, got a call to {'.'.join(path)[:60]!r}"
    )


def _construct(path: list[str], args: list[Any], kwargs: dict[str, Any]) -> Any:
    constructor = _constructor(path)
    shown = ".".join(path)
    for argument in [*args, *kwargs.values()]:
        if not isinstance(argument, _SCALAR_ARGUMENT_TYPES):
            raise UnsafeContentError(
                f"expected scalar constructor arguments in {shown}(...), "
                f"got {type(argument).__name__}"
            )
    try:
        with np.errstate(all="raise"):
            return constructor(*args, **kwargs)
    except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
        raise UnsafeContentError(f"expected valid arguments for {shown}(...): {exc}") from exc


_NESTING = f"a value nested at most {MAX_LITERAL_DEPTH} deep"


class _Parser:
    """Reads one value from the tokens of a repr by recursive descent; refuses anything else.

    ``depth`` counts the syntax-tree nodes above a value as Python's parser builds them (a
    tuple, list, set, dict, call, sign or complex literal; not the parentheses around a value),
    so that MAX_LITERAL_DEPTH bounds the nesting of that tree.
    """

    __slots__ = ("deepest", "index", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = tokenize(text)
        self.index = 0
        self.deepest = 0  # the deepest node read so far in the current measured part

    def parse(self) -> Any:
        value = self._tuple_or_value(0, "end")
        if self.tokens[self.index][0] != "end":
            raise self._refuse("the end of the value (or a comma)")
        return value

    def _refuse(self, expected: str) -> UnsafeContentError:
        return refuse(expected, self.text, self.tokens[self.index][2])

    def _is_op(self, char: str) -> bool:
        kind, value, _ = self.tokens[self.index]
        return kind == "op" and value == char

    def _expect_op(self, char: str) -> None:
        if not self._is_op(char):
            raise self._refuse(repr(char))
        self.index += 1

    def _tuple_or_value(self, depth: int, closer: str) -> Any:
        """One value, or the items of a tuple up to ``closer`` (``)`` or the end)."""
        # The first value turns out one level deeper if a comma makes it a tuple's item.
        outer, self.deepest = self.deepest, depth
        first = self._expression(depth)
        deepest, self.deepest = self.deepest, max(outer, self.deepest)
        if not self._is_op(","):
            return first
        if deepest + 1 > MAX_LITERAL_DEPTH:
            raise self._refuse(_NESTING)
        items = [first]
        while self._is_op(","):
            self.index += 1
            kind, value, _ = self.tokens[self.index]
            if kind == closer or (kind == "op" and value == closer):
                break
            items.append(self._expression(depth + 1))
        return tuple(items)

    def _expression(self, depth: int) -> Any:
        """A value, or a complex literal ``a + bj`` / ``a - bj``.

        Parentheses recurse through _primary, _tuple_or_value and this method only, so that
        the 200 nested brackets Python's tokenizer allows fit in the interpreter's stack.
        """
        # The left operand turns out one level deeper if a sign makes it a complex literal's.
        outer, self.deepest = self.deepest, depth
        signs, inner = self._signs(depth)
        left = _signed(signs, self._primary(inner))
        deepest, self.deepest = self.deepest, max(outer, self.deepest)
        kind, sign, _ = self.tokens[self.index]
        if kind != "op" or sign not in ("+", "-"):
            return left
        if deepest + 1 > MAX_LITERAL_DEPTH:
            raise self._refuse(_NESTING)
        self.index += 1
        signs, inner = self._signs(depth + 1)
        right = _signed(signs, self._primary(inner))
        if self._is_op("+") or self._is_op("-"):
            raise self._refuse("a complex literal such as (1+2j), not a longer sum")
        return _complex(left, sign, right)

    def _signs(self, depth: int) -> tuple[list[str], int]:
        """The signs before a value (read in a loop, not recursively) and the value's depth."""
        signs: list[str] = []
        while True:
            kind, sign, _ = self.tokens[self.index]
            if kind != "op" or sign not in ("+", "-"):
                return signs, depth
            if depth > MAX_LITERAL_DEPTH:
                raise self._refuse(_NESTING)
            signs.append(sign)
            self.index += 1
            depth += 1

    def _primary(self, depth: int) -> Any:
        if depth > MAX_LITERAL_DEPTH:
            raise self._refuse(_NESTING)
        if depth > self.deepest:
            self.deepest = depth
        kind, item, _ = self.tokens[self.index]
        self.index += 1
        if kind in ("number", "string", "constant"):
            value = item
        elif kind == "name":
            value = self._named(item, depth)
        elif kind == "op" and item == "(":
            value = () if self._is_op(")") else self._tuple_or_value(depth, ")")
            self._expect_op(")")
        elif kind == "op" and item == "[":
            value = self._items("]", depth + 1)
        elif kind == "op" and item == "{":
            value = self._braces(depth + 1)
        else:
            self.index -= 1
            raise self._refuse("a literal, numpy scalar or datetime repr")
        kind, item, _ = self.tokens[self.index]
        if kind == "op" and item in ("(", "[", "."):
            raise self._refuse("no call, subscript or attribute after a value")
        return value

    def _items(self, closer: str, depth: int) -> list[Any]:
        """Comma-separated values up to ``closer`` (a trailing comma allowed), and the closer."""
        items = []
        while not self._is_op(closer):
            items.append(self._expression(depth))
            if not self._is_op(","):
                break
            self.index += 1
        self._expect_op(closer)
        return items

    def _braces(self, depth: int) -> Any:
        """A set or dict after its ``{``; ``depth`` is its items'."""
        if self._is_op("}"):
            self.index += 1
            return {}
        first = self._expression(depth)
        if not self._is_op(":"):
            members = [first]
            if self._is_op(","):
                self.index += 1
                members += self._items("}", depth)
            else:
                self._expect_op("}")
            return _hashed(lambda: set(members))
        self.index += 1
        pairs = [(first, self._expression(depth))]
        while self._is_op(","):
            self.index += 1
            if self._is_op("}"):
                break
            key = self._expression(depth)
            self._expect_op(":")
            pairs.append((key, self._expression(depth)))
        self._expect_op("}")
        return _hashed(lambda: dict(pairs))

    def _named(self, name: str, depth: int) -> Any:
        """A known constant (``nan``, ``np.True_``, ``datetime.timezone.utc``) or a call to a
        known constructor, from its first name on."""
        path = [name]
        while self._is_op("."):
            self.index += 1
            kind, attribute, _ = self.tokens[self.index]
            if kind != "name" or len(path) == 3:
                raise self._refuse("a known constant or constructor name")
            self.index += 1
            path.append(attribute)
        if not self._is_op("("):
            return _constant(path)
        _constructor(path)
        self.index += 1
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        inner = depth + 1
        while not self._is_op(")"):
            kind, keyword, _ = self.tokens[self.index]
            # A name is never the last token (``end`` is), so the one after it exists.
            if kind == "name" and self.tokens[self.index + 1][:2] == ("op", "="):
                self.index += 2
                kwargs[keyword] = self._expression(inner)
            elif kwargs:
                raise self._refuse("a keyword argument after keyword arguments")
            else:
                args.append(self._expression(inner))
            if not self._is_op(","):
                break
            self.index += 1
        self._expect_op(")")
        return _construct(path, args, kwargs)


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
