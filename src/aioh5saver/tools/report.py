"""What ``aioh5saver inspect`` reports about a file: its nodes, its log's last lines, notes.

The model only: :mod:`.inspect` fills it from a child's answer, :mod:`.render` makes it a text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FileReport", "NodeInfo", "ValueText"]


@dataclass(frozen=True)
class ValueText:
    """An attribute value shown as text: one that has no plain-data form here (a numpy array,
    an empty attribute, an unreadable or oversized one...)."""

    text: str

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class NodeInfo:
    """One node of the tree.

    ``kind`` is ``"GROUP"``, ``"CARRAY"``, ``"EARRAY"``, ``"VLARRAY"``, ``"StringARRAY"`` (taken
    from what the object is, not from its ``CLASS`` label), ``"dataset"`` for a dataset without
    a PyMoDAQ ``CLASS``, ``"datatype"`` for a committed datatype, ``"link"`` for a soft or
    external link or a second hard link to an object already listed (``target`` says where it
    points), ``"unreadable"`` for a link to an object HDF5 cannot open (damaged: ``error``
    says how). ``attrs`` are decoded safely; ``error`` says what could not be read.
    ``outside`` is set for an array whose data are stored in other files (external raw storage
    or a virtual dataset): it says which files; those data are never read.
    """

    path: str
    kind: str
    shape: tuple[int, ...] | None
    dtype: str | None
    attrs: dict[str, object]
    target: str | None = None
    error: str | None = None
    attrs_omitted: int = 0
    outside: str | None = None

    @property
    def depth(self) -> int:
        """How many levels below the root the node is."""
        return 0 if self.path == "/" else self.path.count("/")

    @property
    def name(self) -> str:
        """The last component of the path."""
        return "/" if self.path == "/" else self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FileReport:
    """What :func:`inspect_file` found.

    ``writing``: the superblock's flags say a writer has the file open (a live writer, or one
    that was killed: see ``notes``); ``swmr``: that writer writes under SWMR. ``log_lines`` are
    the last lines of the ``Logger`` (staged SWMR lines included, last), ``log_total`` all its
    lines, of which ``log_staged`` are still in the SWMR staging array; ``log_error`` says why
    the log lines could not be read, if they could not. ``domain``: an HSDS domain (no size,
    no superblock; ``writing``: an appender holds one of its arrays).
    """

    path: str
    size_bytes: int
    writing: bool
    swmr: bool
    nodes: tuple[NodeInfo, ...]
    log_lines: tuple[str, ...]
    superblock_version: int = 0
    nodes_omitted: int = 0
    log_path: str | None = None
    log_total: int = 0
    log_staged: int = 0
    notes: tuple[str, ...] = field(default=())
    log_error: str | None = None
    domain: bool = False
