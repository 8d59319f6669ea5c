"""PyMoDAQ's string rows: a ``str`` pickled with protocol 4, stored as a ``vlen(uint8)`` row.

pymodaq_data writes ``pickle.dumps(text)`` and reads rows back with ``pickle.loads``, which runs
whatever a crafted file holds. This module writes the exact bytes protocol 4 gives for a
``str`` (so files match pymodaq_data's byte for byte, whatever the Python version's default
protocol), and reads them back by decoding the few opcodes a pickled ``str`` is made of.
Anything else is refused, never unpickled.
"""

from __future__ import annotations

import struct

from aioh5saver.errors import UnsafeContentError

__all__ = ["decode_pickled_str", "encode_pickled_str"]

_PROTO = 0x80
_FRAME = 0x95
_SHORT_BINUNICODE = 0x8C
_BINUNICODE = 0x58  # 'X'
_BINUNICODE8 = 0x8D
_MEMOIZE = 0x94
_BINPUT = 0x71  # 'q'
_LONG_BINPUT = 0x72  # 'r'
_STOP = 0x2E  # '.'

# pickle's framer: payloads this large are written outside any frame, and frames shorter than
# this are written without a FRAME header.
_FRAME_SIZE_TARGET = 64 * 1024
_FRAME_SIZE_MIN = 4


def encode_pickled_str(text: str) -> bytes:
    """The bytes of ``pickle.dumps(text, protocol=4)``, built without the pickle machinery."""
    if not isinstance(text, str):
        raise TypeError(f"expected a str to store as a string row, got {type(text).__name__}")
    payload = text.encode("utf-8", "surrogatepass")
    size = len(payload)
    if size <= 0xFF:
        body = bytes((_SHORT_BINUNICODE, size)) + payload
    elif size > 0xFFFFFFFF:
        body = bytes((_BINUNICODE8,)) + struct.pack("<Q", size) + payload
    else:
        body = bytes((_BINUNICODE,)) + struct.pack("<I", size) + payload
    tail = bytes((_MEMOIZE, _STOP))
    header = bytes((_PROTO, 4))
    if size >= _FRAME_SIZE_TARGET:
        # Large payloads bypass framing; the short tail is too small to get a frame of its own.
        return header + body + tail
    framed = body + tail
    return header + bytes((_FRAME,)) + struct.pack("<Q", len(framed)) + framed


def decode_pickled_str(row: bytes) -> str:
    """Return the ``str`` a pickled string row holds, or raise :class:`UnsafeContentError`.

    Accepts what ``pickle.dumps(str)`` writes with protocols 2 to 5 (optional frame, one unicode
    opcode, optional memo store, stop) and nothing else: no other opcode is ever interpreted.
    """
    data = bytes(row)
    reader = _Reader(data)
    if reader.byte() != _PROTO or reader.byte() not in range(2, 6):
        raise UnsafeContentError(
            f"expected a pickled str row starting with PROTO 2..5, got {data[:2]!r}"
        )
    if reader.peek() == _FRAME:
        reader.byte()
        frame_length = reader.unpack("<Q")
        if frame_length != reader.remaining():
            raise UnsafeContentError(
                f"expected a frame of {reader.remaining()} bytes in a pickled str row, "
                f"got a frame length of {frame_length}"
            )
    opcode = reader.byte()
    if opcode == _SHORT_BINUNICODE:
        size = reader.byte()
    elif opcode == _BINUNICODE:
        size = reader.unpack("<I")
    elif opcode == _BINUNICODE8:
        size = reader.unpack("<Q")
    else:
        raise UnsafeContentError(
            f"expected a pickled str, got opcode 0x{opcode:02x} at offset {reader.offset - 1}; "
            "the row was not unpickled"
        )
    payload = reader.take(size)
    opcode = reader.byte()
    if opcode == _MEMOIZE:
        opcode = reader.byte()
    elif opcode == _BINPUT:
        reader.take(1)
        opcode = reader.byte()
    elif opcode == _LONG_BINPUT:
        reader.take(4)
        opcode = reader.byte()
    if opcode != _STOP or reader.remaining():
        raise UnsafeContentError(
            f"expected a pickled str to end with STOP, got opcode 0x{opcode:02x} and "
            f"{reader.remaining()} trailing bytes; the row was not unpickled"
        )
    try:
        return payload.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise UnsafeContentError(f"expected UTF-8 text in a pickled str row: {exc}") from exc


class _Reader:
    """Reads a row front to back; running past its end is an :class:`UnsafeContentError`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def remaining(self) -> int:
        return len(self.data) - self.offset

    def peek(self) -> int:
        if not self.remaining():
            raise self._truncated(1)
        return self.data[self.offset]

    def byte(self) -> int:
        value = self.peek()
        self.offset += 1
        return value

    def take(self, size: int) -> bytes:
        if size > self.remaining():
            raise self._truncated(size)
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(value)

    def _truncated(self, size: int) -> UnsafeContentError:
        return UnsafeContentError(
            f"expected {size} more bytes at offset {self.offset} of a {len(self.data)}-byte "
            "pickled str row, got the end of the row"
        )
