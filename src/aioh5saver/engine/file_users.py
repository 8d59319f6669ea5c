"""Who else has a file: its lock state and the processes that hold it open for writing, read
from ``/proc`` where it can be (a probe with ``flock`` would disturb a writer opening it)."""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from pathlib import Path

__all__ = ["lock_state", "writer_pids"]


def lock_state(path: str | os.PathLike[str]) -> str:
    """The file lock state of the file: ``"exclusive"`` (an HDF5 writer using file locking has
    it), ``"shared"`` (HDF5 readers using file locking have it) or ``"free"`` (nobody, or
    processes that do not lock: SWMR writers release HDF5's lock once SWMR is on);
    ``"unknown"`` where the file system has no locks.

    On Linux this reads ``/proc/locks``, which takes no lock: probing with ``flock`` would, for
    an instant, make a writer opening the file at that moment fail."""
    where = os.fspath(path)
    info = os.stat(where)
    state = _state_from_proc_locks(info)
    if state is not None:
        return state
    fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        return _probe_lock(fd)
    finally:
        os.close(fd)


def _state_from_proc_locks(info: os.stat_result) -> str | None:
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    state = "free"
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK ADVISORY WRITE <pid> <maj:min:inode> <start> <end>"; "->" marks a waiter.
        if len(fields) < 6 or fields[1] == "->" or fields[5] != device:
            continue
        if fields[3] == "WRITE":
            return "exclusive"
        state = "shared"
    return state


def _probe_lock(fd: int) -> str:
    for state, operation in (("free", fcntl.LOCK_EX), ("shared", fcntl.LOCK_SH)):
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                return "unknown"
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return state
    return "exclusive"


def writer_pids(path: str | os.PathLike[str], *, ignore_fd: int | None = None) -> list[int]:
    """The processes that have the file open for writing, as far as ``/proc`` shows them
    (Linux; processes of other users are not visible; elsewhere: an empty list). The calling
    process counts too, except for its descriptor ``ignore_fd``."""
    proc = Path("/proc")
    if not sys.platform.startswith("linux") or not proc.is_dir():
        return []
    target = os.stat(os.fspath(path))
    me = os.getpid()
    found: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _has_open_for_writing(entry, target, skip=ignore_fd if pid == me else None):
            found.append(pid)
    return sorted(found)


def _has_open_for_writing(process: Path, target: os.stat_result, skip: int | None) -> bool:
    try:
        descriptors = os.listdir(process / "fd")
    except OSError:
        return False  # gone, or another user's
    for name in descriptors:
        if not name.isdigit() or (skip is not None and int(name) == skip):
            continue
        try:
            info = os.stat(process / "fd" / name)
            if (info.st_dev, info.st_ino) != (target.st_dev, target.st_ino):
                continue
            flags_line = next(
                line
                for line in (process / "fdinfo" / name).read_text().splitlines()
                if line.startswith("flags:")
            )
        except (OSError, StopIteration):
            continue
        if int(flags_line.split()[1], 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
            return True
    return False
