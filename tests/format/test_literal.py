"""parse_literal without the ast module: it reads back every value repr PyMoDAQ writes, accepts
exactly the text the former ast-based whitelist accepted (kept here as the oracle), refuses
code, and cannot break a parse of Python source running in another thread."""

from __future__ import annotations

import ast
import builtins
import contextlib
import datetime as dt
import gc
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import from_dtype

from aioh5saver.errors import UnsafeContentError
from aioh5saver.format import literal
from aioh5saver.format.literal import MAX_LITERAL_CHARS, MAX_LITERAL_DEPTH, parse_literal

# --- The oracle: the former ast-based evaluator, called from the test's own thread only. ---


def _oracle(text: str) -> Any:
    """What the former ``parse_literal`` (``ast.parse`` and a whitelist walk) gave for ``text``."""
    if len(text) > MAX_LITERAL_CHARS:
        raise UnsafeContentError("too long")
    literal._check_bracket_depth(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, Warning) as exc:
        raise UnsafeContentError(f"unparsable: {exc}") from exc
    try:
        return _oracle_value(tree.body, 0)
    except UnsafeContentError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError, RecursionError) as exc:
        raise UnsafeContentError(f"makes no value: {exc}") from exc


def _oracle_number(node: ast.expr, depth: int) -> Any:
    number = _oracle_value(node, depth)
    if isinstance(number, bool) or not isinstance(number, int | float | complex):
        raise UnsafeContentError("not a number")
    return number


def _oracle_hashed(build: Callable[[], Any]) -> Any:
    try:
        return build()
    except TypeError as exc:
        raise UnsafeContentError(str(exc)) from None


def _oracle_value(node: ast.expr, depth: int) -> Any:
    if depth > MAX_LITERAL_DEPTH:
        raise UnsafeContentError("too deep")
    inner = depth + 1
    match node:
        case ast.Constant(value=value) if value is not Ellipsis:
            return value
        case ast.Name(id=name) if name in literal._NAMED_NUMBERS:
            return literal._NAMED_NUMBERS[name]
        case ast.UnaryOp(op=ast.USub() | ast.UAdd() as op, operand=operand):
            number = _oracle_number(operand, inner)
            return -number if isinstance(op, ast.USub) else number
        case ast.BinOp(left=left, op=ast.Add() | ast.Sub() as op, right=right):
            real, imaginary = _oracle_number(left, inner), _oracle_number(right, inner)
            if isinstance(real, complex) or not isinstance(imaginary, complex) or imaginary.real:
                raise UnsafeContentError("not a complex literal")
            return complex(real + imaginary if isinstance(op, ast.Add) else real - imaginary)
        case ast.Tuple(elts=elts):
            return tuple(_oracle_value(e, inner) for e in elts)
        case ast.List(elts=elts):
            return [_oracle_value(e, inner) for e in elts]
        case ast.Set(elts=elts):
            return _oracle_hashed(lambda: {_oracle_value(e, inner) for e in elts})
        case ast.Dict(keys=keys, values=values) if None not in keys:
            pairs = zip(keys, values, strict=True)
            return _oracle_hashed(
                lambda: {
                    _oracle_value(k, inner): _oracle_value(v, inner)
                    for k, v in pairs
                    if k is not None
                }
            )
        case ast.Attribute(value=ast.Name(id=module), attr=attr) if (
            module in literal._NUMPY_MODULE_NAMES and attr in literal._NUMPY_CONSTANTS
        ):
            return literal._NUMPY_CONSTANTS[attr]
        case ast.Attribute(value=ast.Attribute(value=ast.Name(id="datetime"), attr=c), attr=a) if (
            c,
            a,
        ) in literal._DATETIME_CONSTANTS:
            return literal._DATETIME_CONSTANTS[c, a]
        case ast.Call(func=func, args=args, keywords=keywords):
            return _oracle_call(func, args, keywords, inner)
    raise UnsafeContentError(f"not whitelisted: {type(node).__name__}")


def _oracle_call(func: ast.expr, args: list[ast.expr], keywords: list[ast.keyword], depth: int):
    match func:
        case ast.Attribute(value=ast.Name(id=module), attr=name) if (
            module in literal._NUMPY_MODULE_NAMES and name in literal._NUMPY_SCALARS
        ):
            constructor: Any = literal._NUMPY_SCALARS[name]
        case ast.Attribute(value=ast.Name(id="datetime"), attr=name) if (
            name in literal._DATETIME_CONSTRUCTORS
        ):
            constructor = literal._DATETIME_CONSTRUCTORS[name]
        case ast.Name(id="set" | "frozenset" as name):
            constructor = {"set": set, "frozenset": frozenset}[name]
        case _:
            raise UnsafeContentError("not a known constructor")
    values = [_oracle_value(a, depth) for a in args]
    kwargs = {}
    for keyword in keywords:
        if keyword.arg is None:
            raise UnsafeContentError("**kwargs")
        kwargs[keyword.arg] = _oracle_value(keyword.value, depth)
    if not all(isinstance(a, literal._SCALAR_ARGUMENT_TYPES) for a in [*values, *kwargs.values()]):
        raise UnsafeContentError("not a scalar argument")
    try:
        with np.errstate(all="raise"):
            return constructor(*values, **kwargs)
    except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
        raise UnsafeContentError(str(exc)) from exc


# --- Comparing outcomes. ---


def _same(got: Any, want: Any) -> bool:
    """The same type at every level and the same value, nan equal to nan."""
    if type(got) is not type(want):
        return False
    if isinstance(want, dict):
        return _same(list(got.items()), list(want.items()))
    if isinstance(want, list | tuple):
        return len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, set | frozenset):
        return got == want
    if isinstance(want, complex | np.complexfloating):
        # repr cannot carry the sign of a zero part of a complex; eval loses it too.
        for part in ("real", "imag"):
            g, w = getattr(got, part), getattr(want, part)
            if not (g == w or (np.isnan(g) and np.isnan(w))):
                return False
        return True
    if isinstance(want, int):  # repr refuses ints over 4300 digits
        return bool(got == want)
    return repr(got) == repr(want)  # exact for floats (nan too), str, bytes, numpy, datetime


def _outcome(parse: Callable[[str], Any], text: str) -> tuple[str, Any]:
    try:
        return "value", parse(text)
    except UnsafeContentError:
        return "refused", None


def assert_agrees_with_oracle(text: str) -> None:
    want = _outcome(_oracle, text)
    got = _outcome(parse_literal, text)
    assert got[0] == want[0], (text, got, want)
    assert _same(got[1], want[1]), (text, got, want)


# --- Round trip of values of every supported kind. ---

_TZ = st.one_of(
    st.just(dt.UTC),
    st.builds(
        dt.timezone,
        st.timedeltas(dt.timedelta(hours=-23, minutes=-59), dt.timedelta(hours=23, minutes=59)),
    ),
    st.builds(
        dt.timezone,
        st.timedeltas(dt.timedelta(hours=-23), dt.timedelta(hours=23)),
        st.text(max_size=5),
    ),
)
_DATETIMES = st.one_of(
    st.datetimes(timezones=st.none() | _TZ, allow_imaginary=True).map(
        lambda when: when.replace(fold=1) if when.microsecond % 2 else when
    ),
    st.dates(),
    st.times(timezones=st.none() | _TZ),
    st.timedeltas(),
)
_NUMPY_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
_NUMPY_TYPES += [np.float16, np.float32, np.float64, np.longdouble, np.complex64, np.complex128]
_NUMPY_TYPES += [np.clongdouble, np.bool_, np.intc, np.uintc, np.intp, np.uintp]
_NUMPY = st.one_of(
    *[from_dtype(np.dtype(t)).map(t) for t in _NUMPY_TYPES],
    st.text(st.characters(exclude_characters="\x00"), max_size=8).map(np.str_),
    st.binary(max_size=8).map(lambda b: np.bytes_(b.rstrip(b"\x00"))),
)
# Every character, surrogates included: a repr escapes what it must.
_ANY_CHAR = st.characters(exclude_categories=())
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers() | st.integers(-(10**300), 10**300),
    st.floats(),
    st.complex_numbers(),
    st.text(_ANY_CHAR, max_size=12) | st.text(st.sampled_from("'\"\\\n\r\t\x00\x7f é"), max_size=8),
    st.binary(max_size=12),
    _NUMPY,
    _DATETIMES,
)
_HASHABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(_ANY_CHAR, max_size=5) | st.binary(),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=5,
)
VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_HASHABLE, inner, max_size=4),
        st.sets(_HASHABLE, max_size=4),
        st.frozensets(_HASHABLE, max_size=4),
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
@example("\ud800\udfff'\"\\\n\x00é🎉")
@example(b"\x00\x7f\x80\xff'\"\\")
@example([dt.datetime(1, 1, 1, tzinfo=dt.timezone(-dt.timedelta(hours=23), "x'\\"))])
def test_parse_literal_reads_back_the_repr_of_any_supported_value(value: Any) -> None:
    """parse_literal(repr(v)) is v, of v's type at every level, for nested containers, numpy
    scalars, datetimes with time zones, and str / bytes holding any character or byte."""
    text = repr(value)
    assert _same(parse_literal(text), value), text


# --- Differential: the new parser accepts exactly what the former one accepted. ---

_NUMBERS = [
    *["0", "7", "1_000", "0_0", "00", "0123", "0_1", "1_", "1__0", "0x_fF", "0X1", "0o17", "0O8"],
    *["0b101", "0b12", "0b", "0x", "1.5", "1.", ".5", "1.e5", "1e-5", "1E+5", "1e", "1e+", "09.5"],
    *["09", "09e1", "09j", "1j", "1.5J", ".5j", "1e5j", "1_0.0_1e1_0j", "1jj", "1.5.", "1e999"],
    *["9" * 4301, "0x" + "f" * 5000, "1.5e400j", "1_000_000.000_1"],
]
_STRING_BODIES = [
    *["", "a", "é日🎉", "\\n\\t\\r\\a\\b\\f\\v\\0", "\\x41\\xff", "\\101\\7\\08", "\\377", "\\400"],
    *["\\777", "\\u00e9", "\\U0001F389", "\\U00110000", "\\ud800", "\\N{BULLET}", "\\N{bullet}"],
    *["\\N{LATIN CAPITAL LETTER GHA}", "\\N{NOPE}", "\\N{}", "\\N", "\\N{BULLET", "\\x4", "\\u12"],
    *["\\d", "\\8", "\\é", "\\\\", "\\'", '\\"', "\\\n", "a\nb", "'", '"', "\\", "\t", "\x0c"],
    *["\\N{LATIN CAPITAL LETTER A WITH MACRON AND GRAVE}", "\\N{latin small letter a}"],
]
_PREFIXES = ["", "r", "b", "u", "rb", "Br", "bR", "R", "U", "f", "ur", "bu", "rf", "F"]
_QUOTES = ["'", '"', "'''", '"""']
_STRINGS = st.builds(
    lambda prefix, quote, parts: f"{prefix}{quote}{''.join(parts)}{quote}",
    st.sampled_from(_PREFIXES),
    st.sampled_from(_QUOTES),
    st.lists(st.sampled_from(_STRING_BODIES), max_size=3),
)


def _fullwidth(name: str) -> str:
    """``name`` in fullwidth letters, which Python's parser NFKC-normalises to ``name``."""
    return "".join(chr(ord(char) + 0xFEE0) for char in name)


_NAMES = [
    *[
        "nan",
        "inf",
        "nanj",
        "infj",
        "None",
        "True",
        "False",
        "x",
        _fullwidth("nan"),
        _fullwidth("None"),
        "if",
    ],
    *["np.True_", "numpy.False_", "np.False_", "np.true_", "datetime.timezone.utc", "np.nan"],
    *["datetime.timezone.UTC", "datetime.datetime", "np.float64", "os.system", "...", "__x__"],
    *[f"np.{_fullwidth('float64')}(1)", "set", "frozenset", "datetime.timezone.utc.x", "np .True_"],
]
_CALLEES = [
    *["np.float64", "np.float32", "np.float16", "np.int8", "np.uint8", "np.int64", "np.bool_"],
    *["np.complex128", "np.longdouble", "np.str_", "np.bytes_", "numpy.int32", "np.ndarray"],
    *["datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta"],
    *["datetime.timezone", "set", "frozenset", "print", "np.True_", "nan", "np.load"],
]
_KEYWORDS = ["year", "days", "hours", "tzinfo", "fold", "microseconds", "x", "if", "None"]
_SEPARATORS = ["", " ", "  ", "\t", "\n", "\x0c", " # c'(\n", "\\\n", "\r\n", "\r", "\x0b"]
_ATOMS = st.one_of(st.sampled_from(_NUMBERS), _STRINGS, st.sampled_from(_NAMES))


def _joined(items: list[str], sep: str, trailing: bool) -> str:
    return sep.join(items) + ("," if trailing and items else "")


def _grammar(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    sep = st.sampled_from([",", ", ", ",\n ", " ,", ",,", ";", ", # x\n"])
    items = st.builds(_joined, st.lists(inner, max_size=3), sep, st.booleans())
    pair = st.builds(
        lambda k, s, v: f"{k}{s}{v}", inner, st.sampled_from([": ", ":", "=", ":="]), inner
    )
    pairs = st.builds(_joined, st.lists(pair, max_size=3), sep, st.booleans())
    kwarg = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(_KEYWORDS), inner)
    args = st.builds(_joined, st.lists(inner | kwarg, max_size=4), sep, st.booleans())
    space = st.sampled_from(_SEPARATORS)
    return st.one_of(
        items.map(lambda text: f"[{text}]"),
        items.map(lambda text: f"({text})"),
        items.map(lambda text: f"{{{text}}}"),
        pairs.map(lambda text: f"{{{text}}}"),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(_CALLEES), args),
        st.builds(lambda a, op, b: f"{a}{op}{b}", inner, st.sampled_from("+-*% "), inner),
        st.builds(lambda a, op, b: f"({a}{op}{b}j)", inner, st.sampled_from("+-"), inner),
        st.builds(lambda s, a: f"{s}{a}", st.sampled_from(["-", "+", "--", "~", "not "]), inner),
        st.builds(lambda a, s, b: f"{a}{s}{b}", inner, space, inner),
        st.builds(lambda s, a, t: f"{s}{a}{t}", space, inner, space),
        inner.map(lambda text: f"{text}[0]"),
        inner.map(lambda text: f"{text}.real"),
        inner.map(lambda text: f"{text},"),
    )


GRAMMAR = st.recursive(_ATOMS, _grammar, max_leaves=12)
_SOUP_TOKENS = [*_NUMBERS[:30], *_NAMES, *_CALLEES, *_SEPARATORS, *"()[]{},:.+-=*'\"\\#jJe_"]
_SOUP_TOKENS += [*(f"{callee}(" for callee in _CALLEES), *(f"{key}=" for key in _KEYWORDS)]
TOKEN_SOUP = st.lists(st.sampled_from(_SOUP_TOKENS) | _STRINGS, max_size=12).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(GRAMMAR)
@example("-" * MAX_LITERAL_DEPTH + "1")
@example("-" * (MAX_LITERAL_DEPTH + 1) + "1")
@example("[" * (MAX_LITERAL_DEPTH - 1) + "(1+2j)" + "]" * (MAX_LITERAL_DEPTH - 1))
@example("[" * (MAX_LITERAL_DEPTH - 1) + "1+2j" + "]" * (MAX_LITERAL_DEPTH - 1))
@example("[" * (MAX_LITERAL_DEPTH - 2) + "(1, [])" + "]" * (MAX_LITERAL_DEPTH - 2))
@example("[#'\n" + "(" * 199 + "1" + ")" * 199 + "]")
@example("[#'\n" + "(" * 200 + "1" + ")" * 200 + "]")
@example("# c\n \x0c1")
@example("# c\n\x0c 1")
@example("datetime.timedelta(days=1, days=2)")
@example("set(")
@example("\\\n 0, [0]")
@example("\\\n\x0c \\\n0")
@example("# a\n\\\n\x0c0")
@example("1\n \\\n# c")
@example("datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)")
def test_parse_literal_agrees_with_the_former_ast_whitelist_on_grammar_text(text: str) -> None:
    """On text drawn from a grammar of accepted and near-miss reprs (every number, string,
    name and call form, signs, complex literals, containers, comments, line breaks and
    continuations), parse_literal gives the value the ast-based whitelist gave, or refuses
    exactly when it refused."""
    assert_agrees_with_oracle(text)


@settings(max_examples=1500, deadline=None)
@given(TOKEN_SOUP | st.text(max_size=30) | st.text(_ANY_CHAR, max_size=12))
def test_parse_literal_agrees_with_the_former_ast_whitelist_on_arbitrary_text(text: str) -> None:
    """On arbitrary text and on random sequences of tokens, parse_literal accepts exactly what
    the ast-based whitelist accepted, with the same value."""
    assert_agrees_with_oracle(text)


# --- Hostile input: refused, never run. ---

HOSTILE = [
    *["__import__('os').system('touch SENTINEL')", "open('SENTINEL', 'w')", "print(1)"],
    *["np.load('SENTINEL')", "np.save('SENTINEL', 1)", "numpy.ndarray(3)", "np.array([1])"],
    *["np.float64.__class__", "np.True_.__class__.__mro__", "datetime.timezone.utc.__class__"],
    *["datetime.datetime.now()", "datetime.datetime.fromisoformat('2024-01-01')", "os", "x"],
    *["nan.real", "(1).real", "'a'.join([])", "[1][0]", "{1: 2}[1]", "np.float64(1)(2)"],
    *["f'{1}'", 'F\'{open("SENTINEL", "w")}\'', "rf'{1}'", "'a' f'{1}'", "lambda: 1"],
    *["(lambda: open('SENTINEL', 'w'))()", "(y := 1)", "[y := 1]", "{nan := 1}", "*[1]"],
    *["[*[1]]", "{**{}}", "np.float64(*[1])", "datetime.date(**{'year': 1})", "1 if 1 else 2"],
    *["1 + 1", "1 * 2", "2 ** 10", "10**10**10", "'a' * 10**9", "1 // 2", "1 @ 2", "~1"],
    *["not 1", "1 < 2", "1 == 1", "1 and 2", "1 or 2", "1 in [1]", "...", "await x", "yield"],
    *["[x for x in ()]", "{x: 1 for x in ()}", "frozenset(x for x in 'ab')", "set([1])"],
    *["globals()", "vars()", "getattr(np, 'save')", "type('X', (), {})", "1; 2", "1\n2"],
    *["set(", "datetime.date(", "np.float64(1", "datetime.date(year=", "set(x", "(", "[1,"],
    *["None.__class__", "True()", "set().add", "frozenset.__new__", "b''.decode()", "x.y.z"],
]
HUGE = {
    "too many characters": "1" * (MAX_LITERAL_CHARS + 1),
    "nested lists": "[" * 100_000 + "]" * 100_000,
    "one level too deep": "[" * (MAX_LITERAL_DEPTH + 1) + "]" * (MAX_LITERAL_DEPTH + 1),
    "unclosed": "(" * 100_000,
    "signs": "-" * 100_000 + "1",
    "sum": "1+" * 100_000 + "1j",
    "attribute chain": "np" + ".x" * 100_000,
    "call chain": "set" + "()" * 100_000,
    "hidden brackets": "[#'\n" + "(" * 100_000 + "1" + ")" * 100_000 + "]",
    "long int": "1" * 100_000,
}


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_refused_and_never_run(tmp_path, text: str) -> None:
    """Calls to anything but the whitelisted constructors, attribute access, names, f-strings,
    lambdas, operators, walrus, subscripts and starred items are refused; nothing runs."""
    sentinel = tmp_path / "PWNED"
    with pytest.raises(UnsafeContentError, match="expected"):
        parse_literal(text.replace("SENTINEL", str(sentinel)))
    assert not sentinel.exists()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("text", HUGE.values(), ids=HUGE.keys())
def test_huge_or_deep_text_is_refused_quickly(text: str) -> None:
    """Over-long text, nesting past MAX_LITERAL_DEPTH and long chains are refused, not
    parsed to the end of the stack or the memory."""
    with pytest.raises(UnsafeContentError):
        parse_literal(text)


TYPICAL = [
    "'Detector 1'",
    "1.5",
    "-3",
    "True",
    "None",
    "np.float64(0.001)",
    "np.int32(100)",
    "[0, 1, 2, 3]",
    "(256, 256)",
    "{'units': 'mm', 'offset': -1.5e-3, 'scale': [1.0, 2.0]}",
    "datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)",
    "b'\\x00\\xff'",
    "'l1\\nl2\\t\\u00e9'",
    "(1+2j)",
]


@pytest.mark.parametrize("text", [*TYPICAL, *HOSTILE[:10]])
def test_parse_literal_uses_no_python_parser(text: str) -> None:
    """parse_literal gives values and refusals without calling ast.parse, compile, eval or
    exec: it does not use the ast module, whose parser is not thread-safe on CPython 3.11."""
    calls: list[str] = []

    def forbidden(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"parse_literal called {name}")

        return record

    with pytest.MonkeyPatch.context() as patch:
        for name in ("compile", "eval", "exec"):
            patch.setattr(builtins, name, forbidden(name))
        patch.setattr(ast, "parse", forbidden("ast.parse"))
        patch.setattr(ast, "literal_eval", forbidden("ast.literal_eval"))
        with contextlib.suppress(UnsafeContentError, AssertionError):
            parse_literal(text)
    assert calls == []


@pytest.mark.parametrize(
    ("text", "expected", "given"),
    [
        ("os.system('x')", "numpy scalar or datetime constructor", "os.system"),
        ("1 * 2", "no operator but a sign", "* 2"),
        ("1 2", "end of the value", "2"),
        ("'\\d'", "valid escape sequence", "\\d"),
        ("[1, 2", "']'", "the end of the text"),
        ("0123", "separator after a number", "123"),
    ],
)
def test_refusal_says_what_was_expected_and_what_was_given(text, expected, given) -> None:
    """The UnsafeContentError names what the parser expected and the text it found instead."""
    with pytest.raises(UnsafeContentError) as refused:
        parse_literal(text)
    assert expected in str(refused.value)
    assert given in str(refused.value)


# --- Thread safety. ---


class _Finalized:
    """Garbage whose finalizer runs Python code, so that a collection may switch threads."""

    def __del__(self) -> None:
        total = 0
        for i in range(50):
            total += i


def _make_cyclic_garbage() -> None:
    first, second = _Finalized(), _Finalized()
    first.other, second.other = second, first  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
def test_parse_literal_in_a_thread_never_breaks_ast_parse_in_another() -> None:
    """parse_literal running in a thread while this thread runs ast.parse in a loop, with
    garbage collections running finalizers and thread switches as often as possible, never
    raises SystemError in either thread (ast.parse in two threads does on CPython 3.11)."""
    text = "[" * 30 + "{'a': (1, 2.5, 'x', None)}" + "]" * 30
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_in_thread() -> None:
        while not stop.is_set():
            _make_cyclic_garbage()
            try:
                parse_literal(text)
            except BaseException as exc:
                errors.append(exc)
                return

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(50, 2, 2)
    reader = threading.Thread(target=read_in_thread)
    reader.start()
    try:
        for _ in range(3000):
            _make_cyclic_garbage()
            try:
                ast.parse(text, mode="eval")
            except SystemError as exc:
                errors.append(exc)
            if errors:
                break
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert not errors
