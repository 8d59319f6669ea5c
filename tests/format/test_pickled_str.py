"""encode_pickled_str / decode_pickled_str: PyMoDAQ's pickled string rows, written byte for byte
as pickle protocol 4 and read back without ever unpickling."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioh5saver.errors import UnsafeContentError
from aioh5saver.format.pickled_str import decode_pickled_str, encode_pickled_str

# The Logger rows of the reference scenario (tests/reference.py), as pymodaq_data writes them.
REFERENCE_ROWS = {
    "log message 1": b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\rlog message 1\x94.",
    "log message 2": b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\rlog message 2\x94.",
}

# Texts whose UTF-8 length sits on either side of the opcode and framing boundaries:
# 255/256 (SHORT_BINUNICODE -> BINUNICODE), 65535/65536 (framed -> unframed).
_SIZES = [0, 1, 2, 255, 256, 65529, 65530, 65535, 65536, 65537, 200_000]
BOUNDARY_TEXTS = [pytest.param("a" * n, id=f"ascii-{n}") for n in _SIZES] + [
    pytest.param(text, id=f"{name}-{len(text.encode('utf-8', 'surrogatepass'))}B")
    for name, text in {
        "2byte": "é" * 127,
        "2byte+1": "a" + "é" * 127,
        "2byte-cross-256": "é" * 128,
        "3byte": "€" * 85,
        "3byte-cross-256": "€" * 86,
        "4byte": "𝄞" * 63,
        "4byte-cross-256": "𝄞" * 64,
        "2byte-65534": "é" * 32767,
        "2byte-cross-65536": "é" * 32768,
        "3byte-65535": "€" * 21845,
        "3byte-cross-65536": "€" * 21846,
        "4byte-cross-65536": "𝄞" * 16384,
        "surrogates": "\ud800\udfff" * 50,
        "mixed-200k": "aé€𝄞" * 20_000,
    }.items()
]
ANY_TEXT = st.text(alphabet=st.characters() | st.characters(categories=["Cs"]))


@pytest.mark.parametrize("text", BOUNDARY_TEXTS)
def test_encode_is_pickle_protocol_4_at_size_boundaries(text: str) -> None:
    """encode_pickled_str gives pickle.dumps(text, protocol=4) byte for byte at every boundary."""
    assert encode_pickled_str(text) == pickle.dumps(text, protocol=4)


@pytest.mark.parametrize("text", BOUNDARY_TEXTS)
def test_decode_inverts_encode_at_size_boundaries(text: str) -> None:
    """decode_pickled_str(encode_pickled_str(text)) is text at every boundary."""
    assert decode_pickled_str(encode_pickled_str(text)) == text


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("text", BOUNDARY_TEXTS)
def test_decode_reads_pickle_dumps_of_protocols_2_to_5(text: str, protocol: int) -> None:
    """Rows pickle.dumps wrote with protocol 2..5 decode to the text."""
    assert decode_pickled_str(pickle.dumps(text, protocol=protocol)) == text


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_encode_is_pickle_protocol_4_for_any_text(text: str) -> None:
    """For any text, surrogates included, encode_pickled_str equals pickle.dumps(protocol=4)."""
    assert encode_pickled_str(text) == pickle.dumps(text, protocol=4)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, st.integers(2, 5))
def test_decode_round_trips_any_text(text: str, protocol: int) -> None:
    """Any text survives encode -> decode, and decodes from pickle.dumps of protocol 2..5."""
    assert decode_pickled_str(encode_pickled_str(text)) == text
    assert decode_pickled_str(pickle.dumps(text, protocol=protocol)) == text


@pytest.mark.parametrize(("text", "row"), REFERENCE_ROWS.items())
def test_reference_logger_rows_are_reproduced_and_read(text: str, row: bytes) -> None:
    """The Logger rows pymodaq_data wrote are encoded identically and decode to their text."""
    assert encode_pickled_str(text) == row
    assert decode_pickled_str(row) == text


@pytest.mark.parametrize("container", [bytearray, memoryview, lambda b: np.frombuffer(b, np.uint8)])
def test_decode_accepts_the_buffers_h5py_returns(container: Any) -> None:
    """A row given as bytearray, memoryview or the uint8 array h5py reads decodes the same."""
    assert decode_pickled_str(container(REFERENCE_ROWS["log message 1"])) == "log message 1"


# Valid variants pickle.loads reads as a str, though pickle.dumps never writes them this way.
HANDMADE_VALID = {
    "unframed-proto-4": b"\x80\x04\x8c\x02ab\x94.",
    "no-memo": b"\x80\x04\x8c\x02ab.",
    "binput": b"\x80\x02X\x02\x00\x00\x00abq\x00.",
    "long-binput": b"\x80\x03X\x02\x00\x00\x00abr\x00\x00\x00\x00.",
    "binunicode8": b"\x80\x04\x8d\x02\x00\x00\x00\x00\x00\x00\x00ab\x94.",
    "framed-proto-2": b"\x80\x02\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x02ab.",
}


@pytest.mark.parametrize("row", HANDMADE_VALID.values(), ids=HANDMADE_VALID.keys())
def test_decode_reads_other_valid_str_pickles_like_pickle(row: bytes) -> None:
    """Other opcode spellings of a pickled str decode to what pickle.loads gives."""
    assert decode_pickled_str(row) == pickle.loads(row) == "ab"


@pytest.mark.parametrize("value", [b"text", 1, None, ["a"], ("a",)])
def test_encode_refuses_non_str(value: Any) -> None:
    """Only str is encoded as a string row; anything else is a TypeError."""
    with pytest.raises(TypeError):
        encode_pickled_str(value)


class _Exploit:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


class _StrSubclass(str):
    __slots__ = ()


def _not_str_pickles(sentinel: Path) -> dict[str, bytes]:
    open_call = (open, (str(sentinel), "w"))
    rows = {
        "os.system": pickle.dumps(_Exploit(f"touch {sentinel}"), protocol=4),
        "os.system-proto2": pickle.dumps(_Exploit(f"touch {sentinel}"), protocol=2),
        "open": pickle.dumps(type("Open", (), {"__reduce__": lambda _: open_call})(), protocol=4),
        "str-subclass": pickle.dumps(_StrSubclass("x"), protocol=4),
        "bytes-str-pair": pickle.dumps(("x", b"y"), protocol=4),
    }
    for protocol in (0, 1, 2, 3, 4, 5):
        for value in (1, 2**80, 1.5, None, True, ["x"], ("x",), {"x": 1}, b"x", bytearray(b"x")):
            rows[f"{type(value).__name__}-{protocol}"] = pickle.dumps(value, protocol=protocol)
    rows["str-proto-0"] = pickle.dumps("x", protocol=0)
    rows["str-proto-1"] = pickle.dumps("x", protocol=1)
    return rows


@pytest.mark.parametrize("name", list(_not_str_pickles(Path("PWNED_y"))))
def test_pickles_of_anything_but_a_str_are_refused_and_never_run(tmp_path: Path, name: str) -> None:
    """Exploit pickles, other types and protocols 0/1 raise UnsafeContentError; nothing runs."""
    sentinel = tmp_path / "PWNED_y"
    with pytest.raises(UnsafeContentError):
        decode_pickled_str(_not_str_pickles(sentinel)[name])
    assert not sentinel.exists()


VALID_ROWS = {
    "reference": REFERENCE_ROWS["log message 1"],
    "proto-2": pickle.dumps("é€𝄞 text", protocol=2),
    "binunicode": encode_pickled_str("x" * 300),
    "empty": encode_pickled_str(""),
    **HANDMADE_VALID,
}


@pytest.mark.parametrize("row", VALID_ROWS.values(), ids=VALID_ROWS.keys())
def test_every_truncation_of_a_row_is_refused(row: bytes) -> None:
    """Every proper prefix of a valid row, the empty row included, raises UnsafeContentError."""
    for end in range(len(row)):
        with pytest.raises(UnsafeContentError):
            decode_pickled_str(row[:end])


def test_truncations_of_an_unframed_large_row_are_refused() -> None:
    """Prefixes of a >64 KiB unframed row, cut in its header or its tail, are refused."""
    row = encode_pickled_str("z" * 70_000)
    for end in [*range(16), *range(len(row) - 16, len(row))]:
        with pytest.raises(UnsafeContentError):
            decode_pickled_str(row[:end])


_GARBAGE = [b"\x00", b".", b"\x94", b"\x94.", pickle.dumps("x", protocol=4), b"\x85R."]


@pytest.mark.parametrize("garbage", _GARBAGE)
@pytest.mark.parametrize("row", VALID_ROWS.values(), ids=VALID_ROWS.keys())
def test_trailing_bytes_after_a_row_are_refused(row: bytes, garbage: bytes) -> None:
    """Any byte after STOP makes the row UnsafeContentError."""
    with pytest.raises(UnsafeContentError):
        decode_pickled_str(row + garbage)


def _with_frame_length(row: bytes, length: int) -> bytes:
    return row[:3] + struct.pack("<Q", length) + row[11:]


_TRUE_FRAME = len(REFERENCE_ROWS["log message 1"]) - 11
BAD_ROWS = {
    **{
        f"frame-{n}": _with_frame_length(REFERENCE_ROWS["log message 1"], n)
        for n in (0, 1, _TRUE_FRAME - 1, _TRUE_FRAME + 1, 2**32, 2**64 - 1)
    },
    **{f"proto-byte-{p}": b"\x80" + bytes([p]) + b"\x8c\x01x\x94." for p in (0, 1, 6, 0x80, 0xFF)},
    "not-proto": b"\x8c\x01x\x94.",
    "empty": b"",
    "only-stop": b"\x80\x04.",
    "two-strs": b"\x80\x04\x8c\x01a\x94\x8c\x01b\x94\x86\x94.",
    "str-then-reduce": b"\x80\x04\x8c\x01a\x94\x85R.",
    "missing-stop": b"\x80\x04\x8c\x01a\x94",
    "size-overruns": b"\x80\x04\x8c\xffab\x94.",
    "binunicode8-huge": b"\x80\x04\x8d" + struct.pack("<Q", 2**63) + b"ab\x94.",
}


@pytest.mark.parametrize("row", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_malformed_rows_are_refused(row: bytes) -> None:
    """Lying frame lengths, wrong protocol bytes, extra or missing opcodes are refused."""
    with pytest.raises(UnsafeContentError):
        decode_pickled_str(row)


@pytest.mark.parametrize("payload", [b"\xff", b"a\x80b", b"\xc0\x80", b"\xe2\x82", b"\xf8\x88"])
def test_invalid_utf8_payload_is_refused(payload: bytes) -> None:
    """A str pickle whose payload is not UTF-8 raises UnsafeContentError, as pickle would fail."""
    row = b"\x80\x04\x8c" + bytes([len(payload)]) + payload + b"\x94."
    with pytest.raises(UnsafeContentError):
        decode_pickled_str(row)
