"""Helpers several test modules share: the child processes of this one, and a file read
through pymodaq_data, the real client."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
from pymodaq_data.h5modules import saving as pm_saving

from aioh5saver.engine.journal import JournaledFile


def child_processes() -> set[int]:
    """The processes whose parent is this one (zombies included: they are not reaped yet)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.add(int(entry.name))
    return found


def pymodaq_read(path: Path, arrays: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays and the Logger lines as pymodaq_data 5.3.0 reads them."""
    saver = pm_saving.H5SaverLowLevel(backend="h5py")
    saver.init_file(path, new_file=False, mode="r")
    try:
        data = {array: np.asarray(saver.get_node(array).read()) for array in arrays}
        logs = list(saver.get_set_logger().read())
    finally:
        saver.close_file()
    return data, logs


#: Formats older than HDF5 1.10 that SWMR writing cannot use, as h5py libver bounds.
OLDER_THAN_1_10 = {"superblock 0": ("earliest", "v110"), "superblock 2": ("v108", "v108")}


def swmr_capable_in_an_older_format(path: Path, bounds: tuple[str, str]) -> str:
    """Write at ``path`` a file of aioh5saver's holding the log line "precious" that says it is
    SWMR-capable but is in the format of ``bounds``, as h5repack makes of a SWMR file; return
    its SHA-256."""
    from aioh5saver import H5SaverLowLevel

    saver = H5SaverLowLevel.from_file(path, new_file=True)
    saver.add_log("precious")
    saver.close_file()
    copy_path = path.with_suffix(".repacked")
    with h5py.File(path, "r") as source, h5py.File(copy_path, "w", libver=bounds) as copy:
        for name in source:
            source.copy(source[name], copy, name)
        for key, value in source.attrs.items():
            copy.attrs[key] = value
        copy.attrs["swmr_compatible"] = '{"module": "builtins", "type": "bool", "data": "True"}'
    copy_path.replace(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: The content of the files the journal tests write through a JournaledFile: two whole
#: pages and a part.
ORIGINAL = bytes(range(256)) * 40


def journal_started(path: Path, content: bytes) -> JournaledFile:
    """A JournaledFile over a file holding ``content``, journaling from there."""
    path.write_bytes(content)
    journaled = JournaledFile(path, os.open(path, os.O_RDWR))
    journaled.start_journal()
    return journaled
