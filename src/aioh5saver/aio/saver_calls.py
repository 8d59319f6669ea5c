"""SaverCalls: typed hops to the synchronous saver's methods, and the async saver's reads.

Each is a typed hop: the method itself (not its name) travels to the writer thread in a
:class:`~.ops.CallOp`, with the crossing that makes its result fit for the event loop (nodes
become :class:`NodeRef`), so that the awaiting caller gets the result's type. Reads wait for
their result; calls that change the file's structure or attributes are marked so, as SWMR
forbids them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from aioh5saver.aio.caller_checks import CallerChecks
from aioh5saver.aio.crossing import (
    node_ref,
    node_refs,
    node_refs_by_name,
    optional_node_ref,
    plain_value,
)
from aioh5saver.aio.noderef import NodeRef, RefOrigin
from aioh5saver.aio.ops import CallOp
from aioh5saver.aio.writer_task import WriterTask
from aioh5saver.format.enums import GroupType
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["SaverCalls", "Where"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

Where = NodeRef | str


class SaverCalls:
    """The hops and the reads of :class:`~.async_saver.AsyncH5Saver`."""

    _checks: CallerChecks
    _writer: WriterTask
    # Where add_log writes: the raw group's Logger until get_set_logger names another.
    _logger_path: str | None

    async def _ask(
        self,
        cross: Callable[[T, RefOrigin], R],
        method: Callable[Concatenate[H5SaverLowLevel, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """``method(saver, *args, **kwargs)`` on the writer thread, a read: its result crossed
        to the event loop by ``cross``."""
        return await self._submit(CallOp(method, args, kwargs, structural=False, cross=cross))

    async def _change(
        self,
        cross: Callable[[T, RefOrigin], R],
        method: Callable[Concatenate[H5SaverLowLevel, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Like :meth:`_ask`, for a call that may change the file's structure or attributes."""
        return await self._submit(CallOp(method, args, kwargs, structural=True, cross=cross))

    async def _submit(self, call: CallOp[R]) -> R:
        """Queue ``call`` once the saver takes it from here, and wait for its result."""
        action = call.method
        self._checks.open(action)
        self._checks.owner(action)
        return await self._writer.call_saver(call)

    async def get_node(self, where: Where, name: str | None = None) -> NodeRef:
        """The node at ``where``, or its child ``name``."""
        return await self._ask(node_ref, H5SaverLowLevel.get_node, self._checks.where(where), name)

    async def get_children(self, where: Where) -> dict[str, NodeRef]:
        """The nodes directly under ``where``, by name."""
        return await self._ask(
            node_refs_by_name, H5SaverLowLevel.get_children, self._checks.where(where)
        )

    async def walk_nodes(
        self, where: Where, depth: int | None = None, only_groups: bool = False
    ) -> list[NodeRef]:
        """The nodes from ``where`` down, in PyMoDAQ's order (a list, not a generator)."""
        return await self._ask(
            node_refs, H5SaverLowLevel.walk_nodes, self._checks.where(where), depth, only_groups
        )

    async def walk_groups(self, where: Where) -> list[NodeRef]:
        """``where`` and the groups below it, in PyMoDAQ's order."""
        return await self._ask(node_refs, H5SaverLowLevel.walk_groups, self._checks.where(where))

    async def get_node_name(self, node: Where) -> str:
        """The name of ``node``."""
        return await self._ask(plain_value, H5SaverLowLevel.get_node_name, self._checks.where(node))

    async def get_node_path(self, node: Where) -> str:
        """The path of ``node``."""
        return await self._ask(plain_value, H5SaverLowLevel.get_node_path, self._checks.where(node))

    async def get_parent_node(self, node: Where) -> NodeRef | None:
        """The group holding ``node``, or None for the root."""
        return await self._ask(
            optional_node_ref, H5SaverLowLevel.get_parent_node, self._checks.where(node)
        )

    async def is_node_in_group(self, where: Where, name: str) -> bool:
        """True if ``where`` has a child called ``name`` (case-insensitive)."""
        return await self._ask(
            plain_value, H5SaverLowLevel.is_node_in_group, self._checks.where(where), name
        )

    async def get_group_by_title(self, where: Where, title: str) -> NodeRef | None:
        """The first child group of ``where`` titled ``title``, or None."""
        return await self._ask(
            optional_node_ref, H5SaverLowLevel.get_group_by_title, self._checks.where(where), title
        )

    async def get_groups(self, where: Where, group_type: GroupType | str) -> list[NodeRef]:
        """The children of ``where`` of type ``group_type``."""
        return await self._ask(
            node_refs, H5SaverLowLevel.get_groups, self._checks.where(where), group_type
        )

    async def get_last_group(self, where: Where, group_type: GroupType | str) -> NodeRef | None:
        """The last child of ``where`` of type ``group_type``, or None."""
        return await self._ask(
            optional_node_ref, H5SaverLowLevel.get_last_group, self._checks.where(where), group_type
        )

    async def get_node_from_attribute_match(
        self, where: Where, attr_name: str, attr_value: Any
    ) -> NodeRef | None:
        """The first node under ``where`` whose attribute ``attr_name`` is ``attr_value``."""
        return await self._ask(
            optional_node_ref,
            H5SaverLowLevel.get_node_from_attribute_match,
            self._checks.where(where),
            attr_name,
            attr_value,
        )

    async def get_node_from_title(self, where: Where, title: str) -> NodeRef | None:
        """The first node under ``where`` titled ``title``, or None."""
        return await self._ask(
            optional_node_ref, H5SaverLowLevel.get_node_from_title, self._checks.where(where), title
        )

    async def read(self, array: Where, *args: Any, **kwargs: Any) -> Any:
        """The data of an array node (written appends included once flushed by a barrier:
        reads are queued behind every append accepted before them)."""
        return await self._ask(
            plain_value, H5SaverLowLevel.read, self._checks.where(array, "array"), *args, **kwargs
        )

    async def read_strings(self, where: Where) -> list[str]:
        """The strings of a string array (the ``Logger`` included), decoded safely."""
        path = self._checks.where(where)
        read = CallOp(
            H5SaverLowLevel.read_strings,
            (path,),
            {},
            structural=False,
            cross=plain_value,
            with_staged_strings=True,
        )
        return await self._submit(read)

    async def get_attr(self, node: Where, attr_name: str | None = None) -> Any:
        """One decoded attribute of ``node``, or all of them as a dict."""
        return await self._ask(
            plain_value, H5SaverLowLevel.get_attr, self._checks.where(node, "node"), attr_name
        )

    async def has_attr(self, node: Where, attr_name: str) -> bool:
        """True if ``node`` has the attribute ``attr_name``."""
        return await self._ask(
            plain_value, H5SaverLowLevel.has_attr, self._checks.where(node, "node"), attr_name
        )

    async def set_attr(self, node: Where, attr_name: str, attr_value: Any) -> None:
        """Set an attribute of ``node``."""
        await self._change(
            plain_value,
            H5SaverLowLevel.set_attr,
            self._checks.where(node, "node"),
            attr_name,
            attr_value,
        )

    async def root(self) -> NodeRef:
        """The root group."""
        return await self._ask(node_ref, H5SaverLowLevel.get_node, "/")

    async def define_compression(self, compression: str, compression_opts: int) -> None:
        """Compress arrays created from now on."""
        await self._ask(
            plain_value, H5SaverLowLevel.define_compression, compression, compression_opts
        )
