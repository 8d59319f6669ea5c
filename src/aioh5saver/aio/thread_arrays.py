"""OpenArrays, on the writer thread: the arrays appended to, held open between batches.

Each array appended to has an appender (:func:`~aioh5saver.engine.appenders.open_appender`)
that keeps its row count and about one chunk in memory; the arrays appended to least recently
are closed once their chunks exceed a bound. Their ``shape`` attributes are written when due
(at barriers and flushes), never under SWMR, which forbids them: its end reconciles every shape.
"""

from __future__ import annotations

from aioh5saver.aio.thread_disk import DiskWatch
from aioh5saver.aio.thread_swmr import SwmrSwitch
from aioh5saver.engine.appenders import RowAppender, open_appender
from aioh5saver.engine.external import check_stored_in_file
from aioh5saver.sync.nodes import CARRAY, EARRAY, Node
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["OpenArrays"]


class OpenArrays:
    """The nodes appended to by path, and their writers, least recently appended to first."""

    def __init__(
        self, saver: H5SaverLowLevel, disk: DiskWatch, swmr: SwmrSwitch, max_chunk_bytes: int
    ) -> None:
        self.saver = saver
        self.disk = disk
        self.swmr = swmr
        self.max_chunk_bytes = max_chunk_bytes
        self.nodes: dict[str, Node] = {}
        self.writers: dict[str, RowAppender] = {}

    def node(self, path: str) -> Node:
        """The node at ``path``, looked up once until forgotten."""
        node = self.nodes.get(path)
        if node is None:
            node = self.saver.get_node(path)
            if isinstance(node, CARRAY):
                # Appends go through the appender, not the node's own checked append: data
                # stored in other files must not be written there either.
                check_stored_in_file(node.node, f"append to {path}")
            self.nodes[path] = node
        return node

    def writer(self, node: EARRAY) -> RowAppender:
        """The writer of ``node``, opened if it is not."""
        writer = self.writers.get(node.path)
        if writer is None:
            writer = self.writers[node.path] = open_appender(node)
        return writer

    def appended(self, path: str) -> None:
        """Note that ``path`` was appended to last."""
        writer = self.writers.pop(path, None)
        if writer is not None:
            self.writers[path] = writer

    def limit(self) -> None:
        """Close the arrays appended to least recently while their chunks in memory exceed
        ``max_chunk_bytes`` (flushing them first: nothing is lost)."""
        held = sum(writer.chunk_bytes for writer in self.writers.values())
        while held > self.max_chunk_bytes and len(self.writers) > 1:
            path = next(iter(self.writers))
            writer = self.writers[path]
            if writer.shape_due:
                if self.swmr.active:
                    self.swmr.grown.add(path)
                else:
                    writer.record_shape()
            writer.release()
            del self.writers[path]
            self.nodes.pop(path, None)
            held -= writer.chunk_bytes
            self.disk.note_written()

    def shapes_due(self) -> set[str]:
        """The arrays whose ``shape`` attribute is behind their rows."""
        return {writer.path for writer in self.writers.values() if writer.shape_due}

    def record_shapes(self) -> None:
        """Bring the ``shape`` attributes of the arrays appended to up to date (deferred to
        barriers and flushes: one attribute write per array, not per batch; SWMR forbids them,
        and its end reconciles every shape)."""
        if self.swmr.active:
            return
        for writer in self.writers.values():
            if writer.shape_due:
                writer.record_shape()

    def forget(self) -> None:
        """Forget every node and writer (after a structure change, or the file closed)."""
        self.nodes.clear()
        self.writers.clear()
