"""Facts of the HDF5 file format that aioh5saver reads and writes itself, without HDF5: the
superblock's signature and consistency flags, and the lookup3 checksum on HDF5's metadata."""

from __future__ import annotations

import struct

__all__ = ["FLAG_SWMR_WRITE", "FLAG_WRITE", "SIGNATURE", "lookup3"]

SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Superblock (versions 2 and 3) consistency flags: open for writing, open for SWMR writing.
FLAG_WRITE = 0x01
FLAG_SWMR_WRITE = 0x04

_MASK32 = 0xFFFFFFFF


def _rot(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    # Two rounds of the same three steps, with the rotations lookup3 gives each.
    for first, second, third in ((4, 6, 8), (16, 19, 4)):
        a = ((a - c) & _MASK32) ^ _rot(c, first)
        c = (c + b) & _MASK32
        b = ((b - a) & _MASK32) ^ _rot(a, second)
        a = (a + c) & _MASK32
        c = ((c - b) & _MASK32) ^ _rot(b, third)
        b = (b + a) & _MASK32
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c = ((c ^ b) - _rot(b, 14)) & _MASK32
    a = ((a ^ c) - _rot(c, 11)) & _MASK32
    b = ((b ^ a) - _rot(a, 25)) & _MASK32
    c = ((c ^ b) - _rot(b, 16)) & _MASK32
    a = ((a ^ c) - _rot(c, 4)) & _MASK32
    b = ((b ^ a) - _rot(a, 14)) & _MASK32
    c = ((c ^ b) - _rot(b, 24)) & _MASK32
    return c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data``: the checksum HDF5 puts on its
    superblocks (versions 2 and 3) and other metadata, with ``initval`` 0."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK32
    offset = 0
    # All but the last 1 to 12 bytes go through mix(); the last block goes through final().
    while length - offset > 12:
        x, y, z = struct.unpack_from("<3I", data, offset)
        a, b, c = _mix((a + x) & _MASK32, (b + y) & _MASK32, (c + z) & _MASK32)
        offset += 12
    if length == offset:
        return c  # only for empty data: it needs no mixing
    # The byte-wise tail of hashlittle adds the remaining bytes as little-endian words,
    # which is what zero padding to 12 bytes gives.
    x, y, z = struct.unpack("<3I", data[offset:].ljust(12, b"\0"))
    return _final((a + x) & _MASK32, (b + y) & _MASK32, (c + z) & _MASK32)
