"""The HDF5 superblock read from a file's bytes, without the HDF5 library: the version, the
consistency flags and the end-of-file address, and where each field lies, for the readers that
report a file's state and for ``recover``, which patches them."""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

from aioh5saver.errors import CorruptFileError, MissingFileError
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE, SIGNATURE, lookup3

__all__ = ["Superblock", "open_hdf5_file", "read_superblock", "superblock_of"]


_VALID_OFFSET_SIZES = (2, 4, 8, 16, 32)


# What a superblock can span: the version 0/1 header, four addresses and a symbol table entry
# (40 + 4 * 32 + 32 + 2 * 32) stays under this.
_SUPERBLOCK_MAX_BYTES = 512


@dataclass(frozen=True)
class Superblock:
    """What aioh5saver needs of an HDF5 superblock, and where its fields are in the file.

    ``eof`` is the recorded end-of-file address. Other addresses are relative to ``base`` (the
    superblock's offset, past any user block) but HDF5 stores this one with ``base`` added:
    it is the size the file should have. ``flags`` is None for versions 0 and 1, whose
    consistency flags HDF5 does not use to mark writers.
    """

    offset: int
    version: int
    offset_size: int
    flags: int | None
    base: int
    eof: int
    eof_field: int
    raw: bytes
    checksum_ok: bool | None

    @property
    def writing(self) -> bool:
        """True if the flags say a writer has the file open."""
        return bool(self.flags and self.flags & (FLAG_WRITE | FLAG_SWMR_WRITE))

    @property
    def swmr_writing(self) -> bool:
        """True if the flags say a writer has the file open under SWMR."""
        return bool(self.flags and self.flags & FLAG_SWMR_WRITE)

    @property
    def recorded_end(self) -> int:
        """The size in bytes the file should have, by the superblock."""
        return self.eof

    def patched(self, *, flags: int | None = None, eof: int | None = None) -> bytes:
        """The superblock's bytes with new ``flags`` and/or ``eof``, checksum recomputed."""
        data = bytearray(self.raw)
        if flags is not None:
            if self.version < 2:
                raise ValueError("versions 0 and 1 have no consistency flags to patch")
            data[11] = flags
        if eof is not None:
            data[self.eof_field : self.eof_field + self.offset_size] = eof.to_bytes(
                self.offset_size, "little"
            )
        if self.version >= 2:
            end = len(data) - 4
            data[end:] = struct.pack("<I", lookup3(bytes(data[:end])))
        return bytes(data)


def _pread_exact(fd: int, size: int, offset: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = os.pread(fd, size - len(data), offset + len(data))
        if not piece:
            break
        data += piece
    return data


def _find_signature(fd: int, size: int, where: str) -> int:
    """The offset of the superblock: 0, 512, 1024, 2048... (a user block may precede it)."""
    offset = 0
    while offset + len(SIGNATURE) <= size:
        if _pread_exact(fd, len(SIGNATURE), offset) == SIGNATURE:
            return offset
        offset = 512 if offset == 0 else offset * 2
    raise CorruptFileError(
        f"{where}: expected an HDF5 file (the signature \\x89HDF\\r\\n\\x1a\\n at offset 0, 512, "
        f"1024, 2048...), got {size} bytes without it: not an HDF5 file"
    )


def _superblock_at(fd: int, offset: int, size: int, where: str) -> Superblock:
    head = _pread_exact(fd, _SUPERBLOCK_MAX_BYTES, offset)
    if len(head) < 12:
        raise CorruptFileError(f"{where}: expected an HDF5 superblock, got a truncated one")
    version = head[8]
    if version in (0, 1):
        offset_size = head[13]
        fields_at = 24 if version == 0 else 28
        flags: int | None = None
    elif version in (2, 3):
        offset_size = head[9]
        fields_at = 12
        flags = head[11]
    else:
        raise CorruptFileError(
            f"{where}: expected an HDF5 superblock of version 0 to 3, got version {version}"
        )
    if offset_size not in _VALID_OFFSET_SIZES:
        raise CorruptFileError(
            f"{where}: expected a superblock 'size of offsets' in {_VALID_OFFSET_SIZES}, got "
            f"{offset_size}: the superblock is damaged"
        )
    # Versions 2/3: base, extension, end of file, root; then the checksum. Versions 0/1:
    # base, free space, end of file, driver info; then the root symbol table entry.
    length = fields_at + 4 * offset_size + 4 if version >= 2 else fields_at + 4 * offset_size
    if len(head) < length or offset + length > size:
        raise CorruptFileError(
            f"{where}: expected a superblock of {length} bytes at offset {offset}, got a file "
            f"of {size} bytes that ends inside it"
        )
    raw = head[:length]

    def address(index: int) -> int:
        start = fields_at + index * offset_size
        return int.from_bytes(raw[start : start + offset_size], "little")

    checksum_ok: bool | None = None
    if version >= 2:
        (stored,) = struct.unpack_from("<I", raw, length - 4)
        checksum_ok = stored == lookup3(raw[:-4])
    eof_field = fields_at + 2 * offset_size
    return Superblock(
        offset=offset,
        version=version,
        offset_size=offset_size,
        flags=flags,
        base=address(0),
        eof=address(2),
        eof_field=eof_field,
        raw=raw,
        checksum_ok=checksum_ok,
    )


def open_hdf5_file(where: str, flags: int) -> int:
    """A descriptor of the file at ``where`` opened with ``flags`` (never blocking on a named
    pipe); :class:`MissingFileError` if there is no such file."""
    try:
        return os.open(where, flags | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise MissingFileError(f"expected an HDF5 file at {where}, got no such file") from None


def read_superblock(path: str | os.PathLike[str]) -> Superblock:
    """The superblock of the HDF5 file at ``path``, read from its bytes (no HDF5 call, so this
    cannot hang on a damaged file).

    Raises :class:`MissingFileError` if there is no file, :class:`CorruptFileError` if it is
    not HDF5 (no signature) or its superblock is damaged.
    """
    where = os.fspath(path)
    fd = open_hdf5_file(where, os.O_RDONLY)
    try:
        return superblock_of(fd, where)
    finally:
        os.close(fd)


def superblock_of(fd: int, where: str) -> Superblock:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise CorruptFileError(f"{where}: expected a regular HDF5 file, got {_file_type(info)}")
    return _superblock_at(fd, _find_signature(fd, info.st_size, where), info.st_size, where)


def _file_type(info: os.stat_result) -> str:
    if stat.S_ISDIR(info.st_mode):
        return "a directory"
    if stat.S_ISFIFO(info.st_mode):
        return "a named pipe"
    return "a special file"
