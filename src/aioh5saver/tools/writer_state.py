"""What the reading tools say about a file's writer: one writing without SWMR, which HDF5
cannot read, and one that is gone, whose file ``aioh5saver recover`` makes readable again."""

from __future__ import annotations

from aioh5saver.engine.file_users import writer_pids
from aioh5saver.engine.superblock import read_superblock

__all__ = ["NO_WRITER_HINT", "dead_writer_hint", "not_swmr_message", "writer_state"]

NO_WRITER_HINT = (
    "its superblock says a writer has it open, but no process on this machine has it open "
    "for writing: if its writer was killed, 'aioh5saver recover' makes it readable again"
)


def not_swmr_message(where: str) -> str:
    """Why a file whose flags say "open for writing, without SWMR" cannot be read."""
    message = (
        f"{where}: expected a file that is closed or written under SWMR, got one whose "
        "superblock says a writer has it open without SWMR; HDF5 cannot read it until that "
        "writer closes it or starts SWMR"
    )
    if not writer_pids(where):
        message += (
            " (no process on this machine has it open for writing: if its writer was killed, "
            "'aioh5saver recover' clears the flag)"
        )
    return message


def dead_writer_hint(where: str) -> str:
    """What to add to a timeout's message when the superblock names a writer that no process
    is: a killed writer's file, which ``recover`` makes readable."""
    try:
        superblock = read_superblock(where)
        dead = superblock.writing and not writer_pids(where)
    except (OSError, ValueError):
        return ""
    return f"; {NO_WRITER_HINT}" if dead else ""


def writer_state(where: str) -> str:
    """What the file's superblock and this machine's processes say of its writer now:
    ``"open"`` (the flags say a writer has it, and a process has it open for writing, or its
    superblock, of version 0 or 1, has no flags), ``"closed"`` (no flag set) or ``"gone"``
    (the flags say a writer has it, but no process on this machine has it open for writing)."""
    superblock = read_superblock(where)
    if superblock.flags is None:
        return "open"
    if not superblock.writing:
        return "closed"
    return "open" if writer_pids(where) else "gone"
