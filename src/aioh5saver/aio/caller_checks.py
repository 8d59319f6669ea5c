"""CallerChecks, on the event loop: may a call run now, from here, on this node?

A saver serves the thread and event loop that opened it (its writer task, queue and events
belong to them), takes calls from when it is entered until its close begins or its writer
breaks, and knows its own NodeRefs from those of another saver.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, NoReturn

import anyio.lowlevel

from aioh5saver.aio.noderef import NodeRef, RefOrigin, where_path
from aioh5saver.aio.writer_task import WriterTask
from aioh5saver.errors import ForeignEventLoopError, InvalidArgumentError, SaverClosedError

__all__ = ["CallerChecks", "current_loop"]

# trio marks its runs here (trio needs sniffio; without it, no trio run can be nested).
_sniffio_thread: Any
try:
    from sniffio import thread_local as _sniffio_thread
except ImportError:  # pragma: no cover - anyio does not need sniffio
    _sniffio_thread = None


def current_loop() -> tuple[object, object]:
    """What identifies the event loop running this call: anyio's token for it (None if anyio
    finds none) and the running asyncio loop (None if none). Both are needed: inside an
    asyncio loop started within a trio run, anyio still reports the trio run."""
    try:
        token: object = anyio.lowlevel.current_token()
    except Exception:  # no event loop that anyio knows runs here
        token = None
    # The low-level form answers None instead of raising, which on trio costs an exception
    # per call.
    return token, asyncio._get_running_loop()


def _is_trio(token: object) -> bool:
    native = getattr(token, "native_token", token)
    return type(native).__module__.startswith("trio")


def _loop_name(loop: tuple[object, object], owner: tuple[object, object]) -> str:
    token, running = loop
    if running is not None and running is not owner[1]:
        return "an asyncio loop"
    if token is None:
        return "no event loop anyio knows"
    return "a trio run" if _is_trio(token) else "an asyncio loop"


class CallerChecks:
    """The checks of the saver whose writer is ``writer``, for its file ``file``, whose refs
    carry ``origin``."""

    def __init__(self, writer: WriterTask, origin: RefOrigin, file: object) -> None:
        self.writer = writer
        # Whose ``broken`` the writer's property reads: read here directly, on every append.
        self._runner = writer.runner
        self.origin = origin
        self.file = file
        # The thread and event loop that opened the saver (None until opened); the running
        # asyncio loop of the owner alone too, which the hot path compares.
        self.thread: int | None = None
        self.thread_name = ""
        self.loop: tuple[object, object] = (None, None)
        self.asyncio_loop: object = None

    def take_ownership(self) -> None:
        """The calling thread and event loop own the saver from now on."""
        self.thread = threading.get_ident()
        self.thread_name = threading.current_thread().name
        self.loop = current_loop()
        self.asyncio_loop = self.loop[1]

    def open(self, action: str) -> None:
        """Raise unless the saver takes calls (entered, not closing, writer running and not
        broken) and this call comes from its thread."""
        broken = self._runner.broken
        if broken is not None:
            raise broken
        writer = self.writer
        if self.thread is None:
            raise SaverClosedError(
                f"{action}: expected an open saver, got one not yet opened (enter it "
                "first: 'async with AsyncH5Saver.open(...) as saver')"
            )
        if writer.closing or writer.stopped:
            raise SaverClosedError(f"{action}: expected an open saver, got a closed one")
        if threading.get_ident() != self.thread:
            self.foreign_thread(action)

    def running(self, action: str) -> None:
        """After a wait inside a call made while the saver was open: raise only if the writer
        can no longer take it (broken, or stopped); a close that began meanwhile waits for
        the call instead."""
        broken = self.writer.broken
        if broken is not None:
            raise broken
        if self.writer.stopped:
            raise SaverClosedError(
                f"{action}: expected an open saver, got one whose writer stopped meanwhile"
            )

    def owner(self, action: str) -> None:
        """Raise unless called from the thread and event loop that opened the saver. Run before
        every call that waits: a wait in a foreign loop would never end."""
        asyncio_loop = self.asyncio_loop
        if (
            asyncio_loop is not None
            and asyncio._get_running_loop() is asyncio_loop
            and (_sniffio_thread is None or _sniffio_thread.name is None)
        ):
            # The owner's own asyncio loop runs this call, in the owner's thread, and no trio
            # run nested in it (which would leave that loop running): anyio's look-up, several
            # microseconds on every turn of an append, would find the owner's token.
            return
        if threading.get_ident() != self.thread:
            self.foreign_thread(action)
        owner = self.loop
        loop = current_loop()
        if loop[0] != owner[0] or loop[1] is not owner[1]:
            raise ForeignEventLoopError(
                f"{action}: expected a call from the event loop that opened the saver "
                f"({_loop_name(owner, owner)}), got one from another event loop "
                f"({_loop_name(loop, owner)}) in the same thread; a saver serves one event loop"
            )

    def foreign_thread(self, action: str) -> NoReturn:
        """Raise :class:`ForeignEventLoopError` for a call from another thread."""
        raise ForeignEventLoopError(
            f"{action}: expected a call from the event loop that opened the saver, in thread "
            f"{self.thread_name!r}, got one from thread "
            f"{threading.current_thread().name!r}; from another thread, call it through "
            "anyio.from_thread.run(), with token=anyio.lowlevel.current_token() taken on "
            "the saver's event loop unless anyio started the thread"
        )

    def where(self, where: object, argument: str = "where") -> str:
        """The path ``where`` names in this saver's file: a path string, or a NodeRef made by
        this saver (or by hand); a NodeRef made by another saver is refused."""
        if isinstance(where, NodeRef):
            origin = where.origin
            if origin is not None and origin is not self.origin:
                raise InvalidArgumentError(
                    f"{argument}: expected a NodeRef made by this saver (of {self.file}) or a "
                    f"node path (str), got NodeRef {where.path!r} made by another saver (of "
                    f"{origin.file}); NodeRefs belong to the saver that made them: pass "
                    f"{where.path!r} to use this file's node"
                )
        return where_path(where, argument)
