"""The operations that travel from async callers to the writer.

Plain objects with no async machinery: the writer attaches an event to those a caller awaits,
and the thread-side core fills in ``result`` or ``error``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AppendOp", "CallOp", "CloseOp", "FlushOp", "Op", "OpState", "SaveCopyOp", "SwmrOp"]

# What one queued operation costs in memory beyond its data: counted in the byte budget, so
# that a flood of tiny appends is bounded too.
OP_OVERHEAD_BYTES = 256


class OpState(enum.Enum):
    """Where an operation is: queued, taken into a batch, or dropped by a cancelled caller."""

    PENDING = "pending"
    RUNNING = "running"
    DROPPED = "dropped"


class Op:
    """One operation; ``waiter`` is set by the writer for the operations a caller awaits."""

    __slots__ = ("error", "result", "state", "waiter")

    def __init__(self) -> None:
        self.state = OpState.PENDING
        self.result: Any = None
        self.error: BaseException | None = None
        self.waiter: Any = None


class CallOp(Op):
    """A call of a method of the synchronous saver, by name; ``structural`` if it may change
    the file's structure or attributes (which SWMR forbids)."""

    __slots__ = ("args", "kwargs", "method", "structural")

    def __init__(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], structural: bool
    ) -> None:
        super().__init__()
        self.method = method
        self.args = args
        self.kwargs = kwargs
        self.structural = structural


class AppendOp(Op):
    """Rows for an enlargeable array (a checked ndarray of shape ``(n, *row)``) or one string
    for a string array; ``cost`` is what it holds of the byte budget."""

    __slots__ = ("cost", "path", "payload", "rows")

    def __init__(self, path: str, payload: np.ndarray | str, cost: int) -> None:
        super().__init__()
        self.path = path
        self.payload = payload
        self.rows = payload.shape[0] if isinstance(payload, np.ndarray) else 1
        self.cost = cost


class FlushOp(Op):
    """Write everything before it and flush the file to the operating system."""

    __slots__ = ()


class SwmrOp(Op):
    """Turn SWMR on (``start``) or off."""

    __slots__ = ("start",)

    def __init__(self, start: bool) -> None:
        super().__init__()
        self.start = start


class SaveCopyOp(Op):
    """Close the file so that the writer can copy it whole to ``target``, then reopen it."""

    __slots__ = ("target",)

    def __init__(self, target: Path) -> None:
        super().__init__()
        self.target = target


class CloseOp(Op):
    """Write everything, end SWMR, fold staged strings, close the file. The last operation."""

    __slots__ = ()
