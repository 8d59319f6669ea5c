"""Helpers several test modules share: the child processes of this one, and a file read
through pymodaq_data, the real client."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pymodaq_data.h5modules import saving as pm_saving


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
