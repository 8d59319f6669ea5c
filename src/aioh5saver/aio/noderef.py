"""NodeRef: how a node crosses from the writer thread to async callers.

Live h5py objects never leave the writer thread. A :class:`NodeRef` is an immutable, hashable
description of a node: its path and kind, and for enlargeable arrays the row shape and dtype
that ``append`` checks data against, at the call, on the event-loop thread. A ref made by a
saver carries that saver's :class:`RefOrigin`, so that the saver can tell its own refs (whose
row shape and dtype it trusts) from refs of another saver (which it refuses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aioh5saver.errors import InvalidArgumentError, NodeKindError, describe
from aioh5saver.sync.nodes import EARRAY, Node

__all__ = ["NODE_KINDS", "NodeRef", "RefOrigin", "where_path"]

NODE_KINDS = frozenset({"GROUP", "CARRAY", "EARRAY", "VLARRAY", "StringARRAY"})


class RefOrigin:
    """The saver that made a :class:`NodeRef` (compared by identity), and its file."""

    __slots__ = ("file",)

    def __init__(self, file: str) -> None:
        self.file = file

    def __repr__(self) -> str:
        return f"RefOrigin({self.file!r})"


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node of the file, by path. ``str(ref) == ref.path``; refs to one path are equal.
    ``origin`` is the saver that made it (None for a ref made by hand, which names a path)."""

    path: str
    kind: str
    row_shape: tuple[int, ...] | None = field(default=None, compare=False)
    dtype: np.dtype[Any] | None = field(default=None, compare=False)
    origin: RefOrigin | None = field(default=None, compare=False, repr=False)
    #: For an EARRAY of one-value rows of a native numeric dtype, the numpy scalar type of its
    #: rows (``numpy.float64`` for float64), else None: such a row is checked by its type
    #: alone (numpy's scalars of that type all have that dtype and no shape).
    scalar_type: type | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in NODE_KINDS:
            raise InvalidArgumentError(
                f"kind: expected one of {sorted(NODE_KINDS)}, got {describe(self.kind)}"
            )
        dtype = self.dtype
        if (
            self.kind == "EARRAY"
            and self.row_shape == ()
            and dtype is not None
            and dtype.kind in "biufc"
            and dtype == np.dtype(dtype.type)
        ):
            object.__setattr__(self, "scalar_type", dtype.type)

    @property
    def name(self) -> str:
        """The last component of the path (``/`` for the root)."""
        return self.path if self.path == "/" else self.path.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.path

    @classmethod
    def of(cls, node: Node, origin: RefOrigin | None = None) -> NodeRef:
        """The ref of a live node (called on the writer thread), made by ``origin``."""
        if isinstance(node, EARRAY) and node.kind == "EARRAY":
            dataset = node.node
            row_shape, dtype = tuple(dataset.shape[1:]), np.dtype(dataset.dtype)
            return cls(node.path, node.kind, row_shape, dtype, origin)
        return cls(node.path, node.kind, origin=origin)


def where_path(where: object, argument: str = "where") -> str:
    """The path a ``where`` argument names: a :class:`NodeRef` or a path string."""
    if isinstance(where, NodeRef):
        return where.path
    if isinstance(where, str):
        return where
    raise NodeKindError(
        f"{argument}: expected a NodeRef or a node path (str), got {describe(where)}"
    )
