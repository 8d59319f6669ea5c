"""Split the text of a value repr into tokens as Python's own tokenizer does, without ``ast``.

The :mod:`ast` module's parser is not thread-safe on CPython 3.11 (two threads converting trees
at once can make either raise ``SystemError``), so reprs are tokenized here with regular
expressions: numbers, string and bytes literals (their escapes decoded exactly as Python
decodes them), names (NFKC-normalised as Python does) and the few operators a value repr
holds. Text Python would refuse, or would only accept with a warning, is refused.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import Any

from aioh5saver.errors import UnsafeContentError

__all__ = ["MAX_BRACKET_LEVEL", "Token", "tokenize"]

#: Python's tokenizer refuses more brackets open at once (CPython's ``MAXLEVEL``).
MAX_BRACKET_LEVEL = 200

#: ``(kind, value, offset)``: kind is ``number``, ``string``, ``constant`` (``None``, ``True``,
#: ``False``), ``name`` (NFKC-normalised), ``op`` (one character) or ``end``.
Token = tuple[str, Any, int]

_DIGITS = r"[0-9](?:_?[0-9])*"
_EXPONENT = rf"[eE][+-]?{_DIGITS}"
_FLOAT = (
    rf"(?:{_DIGITS})?\.{_DIGITS}(?:{_EXPONENT})?|{_DIGITS}\.(?:{_EXPONENT})?|{_DIGITS}{_EXPONENT}"
)
_NUMBER = (
    rf"(?P<imaginary>(?:{_FLOAT}|{_DIGITS})[jJ])"
    rf"|(?P<float>{_FLOAT})"
    r"|(?P<based>0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+)"
    r"|(?P<decimal>[1-9](?:_?[0-9])*|0+(?:_?0)*)"
)
_TOKEN = re.compile(
    r"(?P<space>[ \t\f]+|\\\n|\#[^\n]*)"
    r"|(?P<newline>\n)"
    r"|(?P<string>(?P<prefix>[rR][bB]?|[bB][rR]?|[uU])?(?P<quote>'''|\"\"\"|'|\"))"
    rf"|(?P<number>{_NUMBER})"
    r"|(?P<name>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)"
    r"|(?P<op>[()\[\]{},:.+\-=])"
)
# What may follow a number: Python refuses a letter, digit, ``_`` or ``.`` right after one.
_NUMBER_END = re.compile(r"[A-Za-z0-9_.\x80-\U0010ffff]")
# A string's body up to and including its closing quote; a backslash escapes any character.
_STRING_BODIES = {
    "'": re.compile(r"(?:[^'\\\n]++|\\.)*+'", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]++|\\.)*+"', re.DOTALL),
    "'''": re.compile(r"(?:[^'\\]++|\\.|'(?!''))*+'''", re.DOTALL),
    '"""': re.compile(r'(?:[^"\\]++|\\.|"(?!""))*+"""', re.DOTALL),
}
# Only blank and comment lines may follow the value's line.
_BLANK_LINES = re.compile(r"(?:(?:[ \t\f]|\\\n)*(?:\#[^\n]*)?\n)*(?:[ \t\f]|\\\n)*(?:\#[^\n]*)?")
_LINE_START = re.compile(r"(?:[ \t\f]|\\\n)*")
_KEYWORD_CONSTANTS = {"None": None, "True": True, "False": False}
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")

_SIMPLE_ESCAPES = {
    "\n": "",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_STR_ESCAPE = re.compile(
    r"\\(?:(?P<octal>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]{2})|u(?P<u4>[0-9a-fA-F]{4})"
    r"|U(?P<u8>[0-9a-fA-F]{8})|N\{(?P<name>[^}]*)\}|(?P<other>.))",
    re.DOTALL,
)
_BYTES_ESCAPE = re.compile(
    r"\\(?:(?P<octal>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]{2})|(?P<other>.))", re.DOTALL
)


def refuse(expected: str, text: str, offset: int) -> UnsafeContentError:
    """The error for ``text`` that holds something else than ``expected`` at ``offset``."""
    given = text[offset : offset + 30]
    return UnsafeContentError(
        f"expected {expected} at character {offset}, got {given!r}"
        if given
        else f"expected {expected} at character {offset}, got the end of the text"
    )


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` (stripped, newlines already ``\\n``), ending with ``end``."""
    tokens: list[Token] = []
    level = 0
    pos = _line_start(text, 0)
    size = len(text)
    match_token = _TOKEN.match
    while pos < size:
        found = match_token(text, pos)
        if found is None:
            raise refuse("a character of a value repr (no operator but a sign)", text, pos)
        kind = found.lastgroup
        end = found.end()
        if kind == "space":
            pass
        elif kind == "newline":
            if level:
                pass
            elif tokens:
                if _BLANK_LINES.fullmatch(text, end) is None:
                    raise refuse("one value (only comments after its line)", text, end)
                break
            else:
                end = _line_start(text, end)
        elif kind == "string":
            end = _string(text, found, tokens)
        elif kind == "number":
            if _NUMBER_END.match(text, end):
                raise refuse("a separator after a number", text, end)
            tokens.append(("number", _number(found), pos))
        elif kind == "name":
            tokens.append(_name(found.group(), pos))
        else:
            char = found.group()
            if char in _OPENERS:
                if level >= MAX_BRACKET_LEVEL:
                    raise refuse(f"at most {MAX_BRACKET_LEVEL} open brackets", text, pos)
                level += 1
            elif char in _CLOSERS:
                level -= 1
                if level < 0:
                    raise refuse("no closing bracket without an opening one", text, pos)
            tokens.append(("op", char, pos))
        pos = end
    tokens.append(("end", None, size))
    return tokens


def _line_start(text: str, pos: int) -> int:
    """Where the tokens of the line at ``pos`` start, before the value's first token; an
    indented line of code is refused as Python refuses it.

    As in Python's tokenizer, a line's indentation runs over backslash continuations, a form
    feed sets the column back to zero, and a line holding only a comment is blank.
    """
    run = _LINE_START.match(text, pos)
    assert run is not None  # it matches the empty string
    if text[run.end() : run.end() + 1] in ("", "\n", "#"):
        return run.end()
    indent = run.group().replace("\\\n", "")
    if indent and not indent.endswith("\f"):
        raise refuse("an unindented line", text, pos)
    return run.end()


def _number(found: re.Match[str]) -> int | float | complex:
    digits = found.group().replace("_", "")
    try:
        if found.group("decimal"):
            return int(digits)
        if found.group("float"):
            return float(digits)
        if found.group("imaginary"):
            return complex(0.0, float(digits[:-1]))
        return int(digits, 0)
    except ValueError as exc:  # more decimal digits than int() converts
        raise UnsafeContentError(f"expected a number Python reads, got {str(exc)[:80]}") from exc


def _name(raw: str, pos: int) -> Token:
    if raw in _KEYWORD_CONSTANTS:
        return ("constant", _KEYWORD_CONSTANTS[raw], pos)
    if raw.isascii():
        return ("name", raw, pos)
    if not raw.isidentifier():
        raise UnsafeContentError(f"expected a name at character {pos}, got {raw[:30]!r}")
    return ("name", unicodedata.normalize("NFKC", raw), pos)


def _string(text: str, found: re.Match[str], tokens: list[Token]) -> int:
    """Append the string or bytes literal at ``found`` (joined to a literal right before it, as
    Python joins ``'a' 'b'``) and return where it ends."""
    start = found.start()
    prefix = (found.group("prefix") or "").lower()
    quote = found.group("quote")
    body_start = found.end()
    body = _STRING_BODIES[quote].match(text, body_start)
    if body is None:
        raise refuse(f"a string closed by {quote}", text, start)
    content = text[body_start : body.end() - len(quote)]
    is_bytes = "b" in prefix
    value: str | bytes
    if is_bytes and not content.isascii():
        raise refuse("only ASCII characters in a bytes literal", text, start)
    if "r" in prefix or "\\" not in content:
        value = content.encode("ascii") if is_bytes else content
    elif is_bytes:
        value = _decode_bytes_escapes(content, text, start)
    else:
        value = _decode_str_escapes(content, text, start)
    if tokens and tokens[-1][0] == "string":
        _, previous, previous_start = tokens[-1]
        if isinstance(previous, bytes) != is_bytes:
            raise refuse("no str literal next to a bytes literal", text, start)
        tokens[-1] = ("string", previous + value, previous_start)
    else:
        tokens.append(("string", value, start))
    return body.end()


def _decode_str_escapes(content: str, text: str, start: int) -> str:
    def escape(found: re.Match[str]) -> str:
        if (octal := found.group("octal")) is not None:
            return chr(_octal(octal, text, start))
        if (other := found.group("other")) is not None:
            # Python keeps a backslash before a non-ASCII character, without a warning.
            return "\\" + other if not other.isascii() else _simple_escape(other, text, start)
        if (name := found.group("name")) is not None:
            return _named_character(name, text, start)
        code = int(found.group("hex") or found.group("u4") or found.group("u8"), 16)
        if code > 0x10FFFF:
            raise refuse("a \\U escape below U+110000", text, start)
        return chr(code)

    return _STR_ESCAPE.sub(escape, content)


def _decode_bytes_escapes(content: str, text: str, start: int) -> bytes:
    def escape(found: re.Match[str]) -> str:
        if (octal := found.group("octal")) is not None:
            return chr(_octal(octal, text, start))
        if (other := found.group("other")) is not None:
            return _simple_escape(other, text, start)
        return chr(int(found.group("hex"), 16))

    return _BYTES_ESCAPE.sub(escape, content).encode("latin-1")


def _octal(digits: str, text: str, start: int) -> int:
    code = int(digits, 8)
    if code > 0o377:  # Python warns for these, and a repr never writes one
        raise refuse("octal escapes up to \\377", text, start)
    return code


def _simple_escape(char: str, text: str, start: int) -> str:
    try:
        return _SIMPLE_ESCAPES[char]
    except KeyError:  # Python warns for an invalid escape, and a repr never writes one
        raise refuse(f"a valid escape sequence, not \\{char}", text, start) from None


def _named_character(name: str, text: str, start: int) -> str:
    """``\\N{name}`` decoded by the very codec Python's parser uses (aliases, no sequences)."""
    if not name.isascii():
        raise refuse("an ASCII Unicode character name", text, start)
    try:
        return codecs.decode(f"\\N{{{name}}}".encode("ascii"), "unicode_escape")
    except UnicodeDecodeError:
        raise refuse(f"a known Unicode character name, not {name[:40]!r}", text, start) from None
