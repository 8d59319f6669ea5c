"""How a result crosses from the writer thread to the event loop: live nodes become NodeRefs.

Run on the writer thread, at the end of each call of the synchronous saver. Nothing live (a
node, an h5py object) leaves the thread. Each function is the crossing of one shape of result,
so that the awaiting caller gets its type: a node, maybe a node, nodes, children by name, or
any other value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import h5py

from aioh5saver.aio.noderef import NodeRef, RefOrigin
from aioh5saver.sync.nodes import Node

__all__ = ["node_ref", "node_refs", "node_refs_by_name", "optional_node_ref", "plain_value"]

T = TypeVar("T")


def node_ref(node: Node, origin: RefOrigin) -> NodeRef:
    """The ref of ``node``, made by ``origin``."""
    return NodeRef.of(node, origin)


def optional_node_ref(node: Node | None, origin: RefOrigin) -> NodeRef | None:
    """The ref of ``node``, or None."""
    return None if node is None else node_ref(node, origin)


def node_refs(nodes: Iterable[Node], origin: RefOrigin) -> list[NodeRef]:
    """The refs of ``nodes`` (a list, also of a generator), in order."""
    return [node_ref(node, origin) for node in nodes]


def node_refs_by_name(children: Mapping[str, Node], origin: RefOrigin) -> dict[str, NodeRef]:
    """The refs of ``children``, by name."""
    return {name: node_ref(node, origin) for name, node in children.items()}


def plain_value(value: T, origin: RefOrigin) -> T:
    """``value``, with any node inside its containers made a ref (see :func:`refs_for_loop`)."""
    crossed: T = refs_for_loop(value, origin)  # the same shape as value, nodes aside
    return crossed


def refs_for_loop(value: Any, origin: RefOrigin | None = None) -> Any:
    """A result that may cross to the event loop: nodes become :class:`NodeRef` made by
    ``origin``; containers and generators of nodes become containers of refs; a live h5py
    object raises TypeError."""
    if isinstance(value, Node):
        return NodeRef.of(value, origin)
    if isinstance(value, dict):
        return {key: refs_for_loop(item, origin) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(refs_for_loop(item, origin) for item in value)
    if isinstance(value, list) or hasattr(value, "__next__"):
        return [refs_for_loop(item, origin) for item in value]
    if isinstance(value, h5py.HLObject):
        raise TypeError(f"expected a value that may leave the writer thread, got {value!r}")
    return value
