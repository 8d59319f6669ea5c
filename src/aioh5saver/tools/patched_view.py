"""A file as it would be once patched, without changing it: what ``recover`` checks before it
writes anything.

``recover`` decides every byte it would write (pages put back from the rollback journal, the
file cut to a size, the superblock's flags and end of file) before writing any: it saves those
patches with :func:`write_patches`, and the reading child opens the file through a
:class:`PatchedView` (h5py's ``fileobj`` driver) that reads the file's own bytes with the
patches laid over them, in their order, and ends at the patched size. If HDF5 cannot read
that view, the file is left as it is.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["PatchedView", "read_patches", "write_patches"]

_HEAD = struct.Struct("<Q")
_PATCH = struct.Struct("<QI")


def write_patches(out: IO[bytes], size: int, patches: Sequence[tuple[int, bytes]]) -> None:
    """Write the view's ``size`` and its ``patches`` (offset, bytes; later ones win) to
    ``out``."""
    out.write(_HEAD.pack(size))
    for offset, data in patches:
        out.write(_PATCH.pack(offset, len(data)))
        out.write(data)
    out.flush()


def read_patches(path: str) -> tuple[int, list[tuple[int, bytes]]]:
    """The size and patches :func:`write_patches` wrote to the file at ``path``."""
    with open(path, "rb") as source:
        content = source.read()
    (size,) = _HEAD.unpack_from(content)
    patches = []
    at = _HEAD.size
    while at < len(content):
        offset, length = _PATCH.unpack_from(content, at)
        at += _PATCH.size
        patches.append((offset, content[at : at + length]))
        at += length
    return size, patches


class PatchedView(io.RawIOBase):
    """The file at ``where``, read-only, with ``patches`` laid over its bytes and cut (or
    extended with zeros) to ``size`` bytes. ``repr()`` is the path: h5py names a file
    opened this way after it."""

    def __init__(self, where: str, size: int, patches: Sequence[tuple[int, bytes]]) -> None:
        super().__init__()
        self.where = where
        self.size = size
        self.fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        # Patches sorted by offset, each with its rank (the later wins where two overlap).
        order = sorted(range(len(patches)), key=lambda index: patches[index][0])
        self.starts = [patches[index][0] for index in order]
        self.patches = [(index, *patches[index]) for index in order]
        self.longest = max((len(data) for _, data in patches), default=0)
        self.position = 0

    def __repr__(self) -> str:
        return self.where

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self.position = offset
        elif whence == os.SEEK_CUR:
            self.position += offset
        else:
            self.position = self.size + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        start = self.position
        count = max(0, min(len(view), self.size - start))
        data = bytearray(os.pread(self.fd, count, start)) if count else bytearray()
        data.extend(bytes(count - len(data)))  # past the real end: zeros, as a cut file has
        first = bisect.bisect_left(self.starts, start - self.longest)
        last = bisect.bisect_left(self.starts, start + count)
        for _, offset, patch in sorted(self.patches[first:last]):
            low, high = max(offset, start), min(offset + len(patch), start + count)
            if low < high:
                data[low - start : high - start] = patch[low - offset : high - offset]
        view[:count] = data
        self.position += count
        return count

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()
