"""NodeRef: how a node crosses from the writer thread to async callers.

Live h5py objects never leave the writer thread. A :class:`NodeRef` is an immutable, hashable
description of a node: its path and kind, and for enlargeable arrays the row shape and dtype
that ``append`` checks data against, at the call, on the event-loop thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import InvalidArgumentError, NodeKindError, describe
from .nodes import EARRAY, Node

__all__ = ["NODE_KINDS", "NodeRef", "where_path"]

NODE_KINDS = frozenset({"GROUP", "CARRAY", "EARRAY", "VLARRAY", "StringARRAY"})


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node of the file, by path. ``str(ref) == ref.path``; refs to one path are equal."""

    path: str
    kind: str
    row_shape: tuple[int, ...] | None = field(default=None, compare=False)
    dtype: np.dtype[Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in NODE_KINDS:
            raise InvalidArgumentError(
                f"kind: expected one of {sorted(NODE_KINDS)}, got {describe(self.kind)}"
            )

    @property
    def name(self) -> str:
        """The last component of the path (``/`` for the root)."""
        return self.path if self.path == "/" else self.path.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.path

    @classmethod
    def of(cls, node: Node) -> NodeRef:
        """The ref of a live node (called on the writer thread)."""
        if isinstance(node, EARRAY) and node.kind == "EARRAY":
            dataset = node.node
            return cls(node.path, node.kind, tuple(dataset.shape[1:]), np.dtype(dataset.dtype))
        return cls(node.path, node.kind)


def where_path(where: object, argument: str = "where") -> str:
    """The path a ``where`` argument names: a :class:`NodeRef` or a path string."""
    if isinstance(where, NodeRef):
        return where.path
    if isinstance(where, str):
        return where
    raise NodeKindError(
        f"{argument}: expected a NodeRef or a node path (str), got {describe(where)}"
    )
