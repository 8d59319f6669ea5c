"""A SWMR writer run as a script by the command-line tests: it appends scalar rows at a known
rate, logs lines under SWMR, and runs until its stdin closes (or it is killed).

``python paced_writer.py PATH RATE`` prints ``started`` once SWMR is on, then
``flushed N`` after each explicit flush it makes (every 0.5 s), N being the rows written.
A line logged under SWMR goes to the Logger's staging array, and rows appended under SWMR
leave the ``shape`` attributes behind: a writer killed now leaves what ``recover --finish``
finishes.
"""

from __future__ import annotations

import sys
import threading
import time

import anyio
import numpy as np

from aioh5saver import AsyncH5Saver

ARRAY = "/RawData/Scan000/Detector000/Data0D/Ch000/EnlData00"


async def write(path: str, rate: float, stop: threading.Event) -> None:
    async with AsyncH5Saver.open(path, swmr=True) as saver:
        await saver.add_log("run started")
        scan = await saver.add_scan_group(saver.raw_group, title="paced run")
        det = await saver.add_det_group(scan, title="photodiode")
        data = await saver.add_data_group(det, "Data0D")
        channel = await saver.add_ch_group(data, title="CH00")
        array = await saver.add_array(
            channel,
            "EnlData00",
            "data",
            data_shape=(1,),
            array_type=np.float64,
            enlargeable=True,
            data_dimension="Data0D",
        )
        assert array.path == ARRAY, array.path
        await saver.start_swmr()
        print("started", flush=True)
        began = time.monotonic()
        written = 0
        next_flush = began + 0.5
        while not stop.is_set():
            due = int(rate * (time.monotonic() - began))
            if due > written:
                rows = np.arange(written, due, dtype=np.float64).reshape(-1, 1)
                await saver.append(array, rows)
                written = due
            if time.monotonic() >= next_flush:
                await saver.add_log(f"{written} rows written")
                await saver.flush()
                print(f"flushed {written}", flush=True)
                next_flush += 0.5
            await anyio.sleep(0.005)  # pacing the writer itself, not ordering test events


def main() -> None:
    path, rate = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    anyio.run(write, path, rate, stop)


if __name__ == "__main__":
    main()
