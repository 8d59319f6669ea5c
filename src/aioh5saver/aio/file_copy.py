"""copy_file: a file copied without blocking the event loop (``save_file``'s copy)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiofiles
import anyio

__all__ = ["copy_file"]

# save_file copies the file in reads of this size.
_COPY_CHUNK_BYTES = 8 << 20


async def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` without blocking the event loop: with aiofiles on asyncio,
    and with anyio's file API elsewhere (aiofiles runs on asyncio only)."""
    if _running_on_asyncio():
        async with aiofiles.open(source, "rb") as reader, aiofiles.open(target, "wb") as out:
            while chunk := await reader.read(_COPY_CHUNK_BYTES):
                await out.write(chunk)
        return
    async with (
        await anyio.open_file(source, "rb") as reader,
        await anyio.open_file(target, "wb") as writer,
    ):
        while chunk := await reader.read(_COPY_CHUNK_BYTES):
            await writer.write(chunk)


def _running_on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
