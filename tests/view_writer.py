"""A SWMR writer in its own process, driven line by line, for the live view's tests.

``python view_writer.py PATH`` creates PATH (latest format, one enlargeable array
``/RawData/data`` of 4 float64 per row), starts SWMR and prints ``ready``. Then each line on
stdin is a command, answered by one line once done (so the test knows the file holds it):

- ``rows N``: append N rows and flush; answers ``rows <total>``.
- ``group NAME``: add the group ``/RawData/NAME`` with an array ``data`` of 3 rows, the way
  aioh5saver's writer adds nodes (close, reopen without SWMR, create, reopen, start SWMR);
  answers ``group NAME``.
- ``quit``: close the file; answers ``closed``.
"""

from __future__ import annotations

import sys

import h5py
import numpy as np

ROW = 4


def _open_swmr(path: str) -> h5py.File:
    file = h5py.File(path, "a", libver="latest")
    file.swmr_mode = True
    return file


def main(path: str) -> None:
    with h5py.File(path, "w", libver="latest") as file:
        raw = file.create_group("RawData")
        raw.create_dataset(
            "data", shape=(0, ROW), maxshape=(None, ROW), dtype="f8", chunks=(64, ROW)
        )
    file = _open_swmr(path)
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "rows":
            data = file["RawData/data"]
            start = data.shape[0]
            count = int(argument)
            data.resize(start + count, axis=0)
            data[start:] = np.arange(start, start + count, dtype="f8")[:, None] * np.ones(ROW)
            data.flush()
            print(f"rows {data.shape[0]}", flush=True)
        elif command == "group":
            file.close()
            with h5py.File(path, "a", libver="latest") as plain:
                group = plain["RawData"].create_group(argument)
                group.attrs["TITLE"] = argument
                group.create_dataset("data", data=np.ones((3, 2)), maxshape=(None, 2))
            file = _open_swmr(path)
            print(f"group {argument}", flush=True)
        elif command == "quit":
            break
    file.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
