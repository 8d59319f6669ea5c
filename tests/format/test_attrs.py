"""encode_attr, decode_attr and parse_literal: PyMoDAQ's JSON attributes, written byte for byte
and read back without evaluating anything."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodaq_utils.utils import JsonConverter

from aioh5saver.errors import SaverError, UnsafeContentError
from aioh5saver.format.attrs import decode_attr, encode_attr
from aioh5saver.format.literal import parse_literal

UTC = dt.UTC
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))
EST = dt.timezone(dt.timedelta(hours=-5), "EST")
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)

BUILTINS = [
    *["", "plain", "héllo wörld ✓ 日本 🎉", 'it\'s "quoted" \\ ', "l1\nl2\r\tx\x00", "\ud800"],
    *[0, -1, 2**64, -(10**4000)],
    *[1.5, 0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308],
    *[True, False, None, b"", b"\x00\xff'\"\\", 1j, complex(1.5, -2.5), complex(math.nan, 1)],
    *[(), (1,), [], [1, "a", None], {}, {"a": {"b": [1, (2, 3)]}, (1, 2): {3}}],
    *[set(), {1, "a", (2, b"x")}, frozenset(), frozenset({1, frozenset({2})})],
]
NUMPY = [
    *[np.float64(1.5), np.float64(np.nan), np.float64(-np.inf), np.float32(0.1), np.float16(1.5)],
    *[np.int8(-128), np.int16(-32768), np.int32(2**31 - 1), np.int64(-(2**63))],
    *[np.uint8(255), np.uint16(65535), np.uint32(2**32 - 1), np.uint64(2**64 - 1)],
    *[np.True_, np.False_, np.str_("é'\n"), np.bytes_(b"\x00\xff"), np.complex128(1 - 2j)],
    *[np.complex64(1 + 2j), np.longdouble("1.5")],
]
DATETIMES = [
    *[WHEN, WHEN.replace(tzinfo=UTC), WHEN.replace(tzinfo=PLUS_ONE), WHEN.replace(tzinfo=EST)],
    *[WHEN.replace(fold=1), dt.date(2024, 2, 29), dt.time(7, 8, 9, 10), dt.time(1, tzinfo=UTC)],
    *[dt.timedelta(0), dt.timedelta(days=-1, microseconds=5), dt.timedelta(days=999999999)],
]
NESTED = [
    [np.float64(1.5), {"when": WHEN.replace(tzinfo=UTC)}, (np.True_, dt.date(2024, 1, 2))],
    {"scan": {"axes": (np.int32(3), dt.timedelta(seconds=2)), "tags": {frozenset({b"x"})}}},
]
VALUES = BUILTINS + NUMPY + DATETIMES + NESTED


def _id(value: Any) -> str:
    return f"{type(value).__name__}:{value!r}"[:40]


def assert_same(got: Any, want: Any) -> None:
    """``got`` has ``want``'s exact type at every level and the same value (nan equal to nan)."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, dict):  # in order: repr writes items in order, parsing keeps it
        got, want = list(got.items()), list(want.items())
    if isinstance(want, list | tuple):
        for got_item, want_item in zip(got, want, strict=True):
            assert_same(got_item, want_item)
    elif isinstance(want, set | frozenset):
        assert got == want
        by_value = {item: item for item in got}
        for item in want:
            assert_same(by_value[item], item)
    elif isinstance(want, complex | np.complexfloating):
        # repr cannot carry the sign of a zero part of a complex; eval loses it too.
        for part in ("real", "imag"):
            g, w = getattr(got, part), getattr(want, part)
            assert g == w or (math.isnan(g) and math.isnan(w)), (got, want)
    else:
        assert repr(got) == repr(want)


def envelope(module: str, type_name: str, data: str) -> str:
    return json.dumps({"module": module, "type": type_name, "data": data})


@pytest.mark.parametrize("value", VALUES, ids=_id)
def test_encode_attr_writes_pymodaqs_exact_json_envelope(value: Any) -> None:
    """encode_attr is exactly json.dumps of {module, type, data=repr(value)}."""
    expected = json.dumps(
        {"module": type(value).__module__, "type": type(value).__name__, "data": repr(value)}
    )
    assert encode_attr(value) == expected


@pytest.mark.parametrize("value", VALUES, ids=_id)
def test_encode_attr_matches_pymodaq_object2json(value: Any) -> None:
    """encode_attr writes the same text as pymodaq_utils' JsonConverter.object2json."""
    assert encode_attr(value) == JsonConverter.object2json(value)


@pytest.mark.parametrize("value", VALUES, ids=_id)
def test_round_trip_gives_an_equal_value_of_the_same_type(value: Any) -> None:
    """decode_attr(encode_attr(v)) is v's type at every level, with v's value."""
    assert_same(decode_attr(encode_attr(value)), value)


@pytest.mark.parametrize("value", VALUES, ids=_id)
def test_pymodaq_object2json_text_decodes_to_the_value(value: Any) -> None:
    """Attributes written by pymodaq's JsonConverter decode to the value they were made from."""
    assert_same(decode_attr(JsonConverter.object2json(value)), value)


@pytest.mark.parametrize("value", [1, -2, 1.5, "a'b", (1, "x"), [2.5, None], True, b"\x01"])
def test_decode_attr_agrees_with_pymodaqs_eval_on_trusted_builtins(value: Any) -> None:
    """For benign builtin values decode_attr gives what pymodaq's eval-based json2object gives."""
    text = JsonConverter.object2json(value)
    assert_same(decode_attr(text), JsonConverter.json2object(text))


@pytest.mark.parametrize("value", [WHEN.replace(tzinfo=UTC), np.float32(2.5), {1: b"x"}], ids=_id)
@pytest.mark.parametrize("as_bytes", [bytes, np.bytes_], ids=["bytes", "np.bytes_"])
def test_decode_attr_decodes_envelopes_stored_as_bytes(value: Any, as_bytes: type) -> None:
    """An envelope h5py returns as bytes / np.bytes_ decodes like the same text."""
    assert_same(decode_attr(as_bytes(encode_attr(value).encode())), value)


_NO_OPENERS = st.characters(exclude_characters="([{")  # see the many-open-brackets test
_LEAVES = st.one_of(
    *[st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False)],
    *[st.complex_numbers(allow_nan=False, allow_infinity=False), st.text(_NO_OPENERS, max_size=9)],
    *[st.binary(max_size=9).map(lambda b: b.translate(None, b"([{"))],
)
_HASHABLE = st.recursive(
    _LEAVES, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    lists = st.lists(inner, max_size=4)
    return (
        lists
        | lists.map(tuple)
        | st.dictionaries(_HASHABLE, inner, max_size=4)
        | st.sets(_HASHABLE, max_size=4)
    )


@settings(max_examples=200, deadline=None)
@given(st.recursive(_LEAVES, _containers, max_leaves=12))
def test_round_trip_of_any_nested_builtin_value(value: Any) -> None:
    """Any nesting of builtin values survives encode_attr -> decode_attr with its types."""
    assert_same(decode_attr(encode_attr(value)), value)


@pytest.mark.parametrize("text", ["(" * 40, ":-( " * 40, "[" * 33, "{" * 100], ids=len)
def test_round_trip_keeps_a_str_with_many_open_brackets(text: str) -> None:
    """A str holding more than 32 '(' '[' '{' is a plain value and round-trips unchanged."""
    assert decode_attr(encode_attr(text)) == text


_NON_FINITE_IMAG = [complex(0, math.nan), complex(math.inf, math.inf), complex(1, -math.inf)]


@pytest.mark.parametrize("value", [*_NON_FINITE_IMAG, np.complex128(complex(0, math.nan))], ids=_id)
def test_round_trip_keeps_a_complex_with_non_finite_imaginary_part(value: Any) -> None:
    """Complex values whose repr reads 'nanj' / 'infj' round-trip with their type."""
    assert_same(decode_attr(encode_attr(value)), value)


LEGACY_NUMPY = [
    *[("float64", "1.5", np.float64(1.5)), ("float64", "nan", np.float64(math.nan))],
    *[("float32", "0.1", np.float32(0.1)), ("int8", "-3", np.int8(-3))],
    *[("uint64", "18446744073709551615", np.uint64(2**64 - 1)), ("str_", "'é'", np.str_("é"))],
    *[("complex128", "(1+2j)", np.complex128(1 + 2j)), ("bytes_", "b'\\x00'", np.bytes_(b"\x00"))],
    *[("bool_", "True", np.True_), ("bool_", "False", np.False_)],
]


@pytest.mark.parametrize(("type_name", "data", "expected"), LEGACY_NUMPY)
def test_numpy_1_scalar_envelopes_decode_to_the_numpy_scalar(type_name, data, expected) -> None:
    """Envelopes numpy 1 wrote (plain repr, numpy 1 type name) decode to that numpy scalar."""
    assert_same(decode_attr(envelope("numpy", type_name, data)), expected)


HOSTILE = [
    *["__import__('os').system('touch SENTINEL')", "open('SENTINEL', 'w').write('pwned')"],
    *["open('/etc/passwd').read()", "(lambda: open('SENTINEL', 'w'))()", "lambda: 1"],
    *["[x for x in ().__class__.__base__.__subclasses__()]", "frozenset(x for x in 'ab')"],
    *["().__class__.__bases__[0].__subclasses__()", "np.load('SENTINEL')", "x", "..."],
    *["numpy.save('SENTINEL', 1)", "np.float64(open('SENTINEL', 'w'))", "np.float64(1)(2)"],
    *["getattr(np, 'save')('SENTINEL', 1)", "exec(\"open('SENTINEL', 'w')\")", "set([1, 2])"],
    *["datetime.datetime.now()", "datetime.datetime()", "np.True_.__class__.__mro__"],
    *["datetime.datetime.fromisoformat('2024-01-01')", "datetime.timezone.utc.__class__"],
    *["np.float64.__class__", "f'{1}'", "f\"{open('SENTINEL', 'w')}\"", "(y := 1)", "*[1]"],
    *["[*[1]]", "np.float64(*[1])", "datetime.datetime(**{'year': 2024, 'month': 1, 'day': 1})"],
    *["1 if True else 2", "{**{}}", "10**10**10", "'a' * 10**9", "[1][0]", "1 + 1", "not 1"],
    *["1 < 2"],
]
DECLARED = [("builtins", "str"), ("builtins", "float"), ("numpy", "float64"), ("datetime", "date")]


@pytest.mark.parametrize(("module", "type_name"), DECLARED)
@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_data_is_returned_as_stored_text_and_never_run(tmp_path, data, module, type_name):
    """Code in an envelope is not executed: decode_attr returns the text, parse_literal refuses."""
    sentinel = tmp_path / "PWNED"
    data = data.replace("SENTINEL", str(sentinel))
    stored = envelope(module, type_name, data)
    assert decode_attr(stored) == stored
    with pytest.raises(UnsafeContentError):
        parse_literal(data)
    assert not sentinel.exists()


MISMATCHED = [
    *[("builtins", "int", "'x'"), ("builtins", "int", "True"), ("builtins", "int", "1.0")],
    *[("builtins", "float", "1"), ("builtins", "float", "np.float64(1.5)")],
    *[("builtins", "bool", "1"), ("builtins", "NoneType", "0"), ("builtins", "list", "(1,)")],
    *[("builtins", "tuple", "[1]"), ("builtins", "set", "frozenset({1})")],
    *[("builtins", "frozenset", "{1}"), ("builtins", "dict", "set()")],
    *[("builtins", "str", "b'x'"), ("builtins", "bytes", "'x'"), ("builtins", "complex", "1.0")],
    *[("builtins", "eval", "'1'"), ("os", "system", "'ls'"), ("numpy", "load", "'x'")],
    *[("numpy", "float64", "'x'"), ("numpy", "float64", "[1.0]"), ("numpy", "uint8", "300")],
    *[("numpy", "float32", "np.float64(1.5)"), ("numpy", "ndarray", "[1, 2]")],
    *[("datetime", "date", "datetime.datetime(2024, 1, 2, 0, 0)")],
    *[("datetime", "datetime", "datetime.date(2024, 1, 2)")],
    *[("datetime", "timezone", "datetime.timezone.utc")],
]


# The last two are numpy-1-style data of another kind: text for a float, a float for an int.
MISMATCHED += [("numpy", "float64", "'1.5'"), ("numpy", "int8", "1.5")]


@pytest.mark.parametrize("case", MISMATCHED, ids="/".join)
def test_data_disagreeing_with_declared_type_gives_stored_text(case: tuple[str, str, str]) -> None:
    """An envelope whose data is not a repr of its declared type decodes to the stored text."""
    assert decode_attr(envelope(*case)) == envelope(*case)


OVERFLOWING = [("float32", "np.float32(1e300)"), ("float16", "np.float16(1e10)")]


@pytest.mark.parametrize(("type_name", "data"), [*OVERFLOWING, ("float32", "1e300")])
def test_numpy_overflowing_data_gives_stored_text_without_raising(type_name: str, data: str):
    """Out-of-range numpy data decodes to the stored text; numpy's overflow warning is no error."""
    assert decode_attr(envelope("numpy", type_name, data)) == envelope("numpy", type_name, data)


@pytest.mark.parametrize(("type_name", "data"), OVERFLOWING)
def test_parse_literal_refuses_overflowing_numpy_data(type_name: str, data: str) -> None:
    """parse_literal raises UnsafeContentError, not a numpy warning, for out-of-range data."""
    with pytest.raises(UnsafeContentError):
        parse_literal(data)


PASS_THROUGH = [
    *[("GROUP", "GROUP"), (b"GROUP", "GROUP"), (np.bytes_(b"EARRAY"), "EARRAY")],
    *[(np.str_("x"), "x"), ("", ""), (b"", ""), (b"\xff\xfe", b"\xff\xfe")],
    *[(np.bytes_(b"\xff"), b"\xff"), ('{"a": 1}', '{"a": 1}'), ("{not json", "{not json")],
    *[('{"module": "builtins", "type": "int"}',) * 2, ("[1, 2]", "[1, 2]"), ("'q'", "'q'")],
    *[('{"module": "builtins", "type": "int", "data": "1", "x": 0}',) * 2],
    *[('{"module": "builtins", "type": "int", "data": 1}',) * 2],
    *[('{"module": 1, "type": "int", "data": "1"}',) * 2],
    *[(' {"module": "builtins", "type": "int", "data": "1"}',) * 2],
    *[(0, 0), (1.5, 1.5), (None, None), (np.float64(2.5),) * 2, (np.int32(3),) * 2],
]


@pytest.mark.parametrize(("stored", "expected"), PASS_THROUGH, ids=_id)
def test_non_envelope_attributes_pass_through(stored: Any, expected: Any) -> None:
    """Plain attributes and numbers come back unchanged, bytes decoded to str when UTF-8."""
    assert_same(decode_attr(stored), expected)


N = 100_000
OVERSIZED = {
    "nested-lists": "[" * N + "]" * N,
    "unclosed": "(" * N,
    "10MB-str": "'" + "a" * 10_000_000 + "'",
    "100k-digit-int": "1" * N,
    "unary-chain": "-" * N + "1",
    "binop-chain": "1+" * N + "1j",
    "attribute-chain": "np" + ".x" * N,
    "bracket-check-evasion": "('" + ")" * N + "', " + "[" * N + "]" * N + ")",
    "evasion-under-parser-limit": "('" + ")" * 150 + "', " + "[" * 150 + "]" * 150 + ")",
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("data", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_oversized_or_deep_data_is_refused_quickly(data: str) -> None:
    """Hostile size or nesting: decode_attr gives the stored text, parse_literal refuses, fast."""
    stored = envelope("builtins", "list", data)
    assert decode_attr(stored) == stored
    with pytest.raises(UnsafeContentError):
        parse_literal(data)


DEEP_ENVELOPES = {
    "nested-json-value": '{"module": ' + "[" * N + "]" * N + ', "type": "int", "data": "1"}',
    "nested-json-objects": '{"a": ' * N + "1" + "}" * N,
    "huge-json-int": '{"module": "builtins", "type": "int", "data": ' + "1" * N + "}",
    "10MB-envelope": envelope("builtins", "str", "'" + "a" * 10_000_000 + "'"),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("stored", DEEP_ENVELOPES.values(), ids=DEEP_ENVELOPES.keys())
def test_hostile_json_envelope_text_is_returned_quickly(stored: str) -> None:
    """Deep, huge or oversized JSON envelope text gives the stored text within bounded time."""
    assert decode_attr(stored) == stored


@pytest.mark.parametrize("text", [b"1", 1, None])
def test_parse_literal_refuses_non_str(text: Any) -> None:
    """parse_literal only parses str; anything else is UnsafeContentError."""
    with pytest.raises(UnsafeContentError):
        parse_literal(text)


def test_unsafe_content_error_is_a_saver_error_and_a_value_error() -> None:
    """UnsafeContentError can be caught as SaverError and as ValueError."""
    assert issubclass(UnsafeContentError, SaverError)
    assert issubclass(UnsafeContentError, ValueError)


# Text that parses as literals but makes no value: unhashable set members and dict keys, an int
# too large for the float of a complex literal, trees too deep to describe in a message.
MAKES_NO_VALUE = {
    "list as a dict key": "{[1]: 2}",
    "dict as a dict key": "{{1: 2}: 3}",
    "set as a dict key": "{{1}: 2}",
    "list in a tuple key": "{(1, [2]): 3}",
    "list in a set": "{[1]}",
    "set in a set": "{{1}}",
    "empty set() as a key": "{set(): 1}",
    "list in frozenset()": "frozenset({[1]})",
    "list in set()": "set({[1]})",
    "deep unhashable key": "[" * 30 + "{[]: 1}" + "]" * 30,
    "unhashable key deep in a value": "{1: {2: {3: {[4]: 5}}}}",
    "int too large for a complex": "(" + "9" * 400 + "+1j)",
    "negative int too large for a complex": "(-" + "9" * 400 + "-1j)",
    "call chain too deep to show": "f" + "()" * 3000,
    "attribute chain too deep to show": "a" + ".b" * 3000,
    "conditional too deep to show": "1 if 1 else " * 3000 + "1",
}
CONTAINER_TYPES = [("builtins", name) for name in ("dict", "set", "list", "tuple", "frozenset")]


@pytest.mark.parametrize("data", MAKES_NO_VALUE.values(), ids=MAKES_NO_VALUE.keys())
@pytest.mark.parametrize(("module", "type_name"), [*CONTAINER_TYPES, ("builtins", "complex")])
def test_data_that_makes_no_value_gives_the_stored_text(data: str, module: str, type_name: str):
    """Data that parses but makes no value decodes to the stored text, and parse_literal
    raises UnsafeContentError for it, never Python's own TypeError or OverflowError."""
    stored = envelope(module, type_name, data)
    assert decode_attr(stored) == stored
    assert decode_attr(stored.encode()) == stored
    with pytest.raises(UnsafeContentError):
        parse_literal(data)


_ATOMS = st.sampled_from(
    [
        *["1", "-2", "1.5", "'a'", "b'x'", "None", "True", "nan", "-inf", "1j", "(1+2j)"],
        *["np.float64(1.5)", "np.True_", "datetime.date(2024, 1, 2)", "()", "[]", "{}"],
        *["set()", "frozenset()", "9" * 400, "1e999", "np.int8(300)", "x", "(1,)"],
    ]
)


def _literal_containers(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    items = st.lists(inner, max_size=4).map(", ".join)
    some = st.lists(inner, min_size=1, max_size=4).map(", ".join)
    pairs = st.lists(st.tuples(inner, inner).map(": ".join), max_size=4).map(", ".join)
    return st.one_of(
        items.map(lambda text: f"[{text}]"),
        items.map(lambda text: f"({text},)"),
        some.map(lambda text: f"{{{text}}}"),
        pairs.map(lambda text: f"{{{text}}}"),
        some.map(lambda text: f"frozenset({{{text}}})"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]}+{pair[1]}j)"),
        inner.map(lambda text: f"-{text}"),
    )


LITERALS = st.recursive(_ATOMS, _literal_containers, max_leaves=16)


@settings(max_examples=400, deadline=None)
@given(
    LITERALS,
    st.sampled_from([*CONTAINER_TYPES, ("builtins", "complex"), ("numpy", "float64")]),
)
def test_crafted_literals_raise_nothing_but_unsafe_content_error(data: str, declared) -> None:
    """Any text of the grammar of dict, set, frozenset, list, tuple and complex literals (keys
    and members hashable or not, numbers too large, names): parse_literal gives a value or
    raises UnsafeContentError; decode_attr never raises, and gives a value of the declared
    type or the stored text."""
    try:
        parse_literal(data)
        refused = False
    except UnsafeContentError:
        refused = True
    stored = envelope(*declared, data)
    decoded = decode_attr(stored)
    if refused:
        assert decoded == stored
    else:
        assert decoded == stored or type(decoded).__name__ == declared[1]
