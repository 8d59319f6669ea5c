"""The demo's simulated instruments: async drivers, each with its own period, row shape and
dtype, keeping their schedule the way real hardware does.

Each instrument is written the way a real async driver is: its own coroutine, its own
acquisition period and data shape. A driver keeps its period against a monotonic schedule
(tick ``k`` is due at ``start + k * period``, slept to with :func:`anyio.sleep_until`), so that
waking up late never accumulates drift. When it does wake up late, a buffered instrument (the
0D detector, like a DAQ card's FIFO) delivers every sample it owes in one batch, while a
frame-based one (spectrometer, camera, stage read-back) delivers the latest frame and counts the
others as dropped, as real hardware does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
import numpy as np
import numpy.typing as npt

from aioh5saver.aio.async_saver import AsyncH5Saver
from aioh5saver.aio.noderef import NodeRef
from aioh5saver.sync.channels import ChannelAxis

__all__ = [
    "Camera",
    "Instrument",
    "InstrumentProgress",
    "PointDetector",
    "Spectrometer",
    "Stage",
]


@dataclass(frozen=True, slots=True)
class InstrumentProgress:
    """What one instrument has delivered so far."""

    name: str
    kind: str
    array: str  # the path of its enlargeable array, "" until it has joined
    row_shape: tuple[int, ...]
    dtype: str
    rows: int
    nbytes: int
    dropped: int
    joined_after: float | None  # seconds after the start; None until it has joined
    active_s: float  # seconds since it joined

    @property
    def rows_per_s(self) -> float:
        """Average rows per second since the instrument joined."""
        return self.rows / self.active_s if self.active_s > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        """Average MB (10**6 bytes) per second since the instrument joined."""
        return self.nbytes / 1e6 / self.active_s if self.active_s > 0 else 0.0


class Instrument(ABC):
    """A simulated async instrument driver with its own period, row shape and dtype.

    Subclasses say how to create their place in the file (:meth:`create_arrays`) and how to
    produce the rows of given ticks (:meth:`sample`); this class runs the acquisition loop.
    """

    kind: ClassVar[str]
    dimension: ClassVar[str]  # PyMoDAQ's data dimension: Data0D, Data1D, Data2D
    # Buffered instruments deliver every sample owed after a late wake-up; the others deliver
    # the latest one and drop the rest.
    buffered: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        period: float,
        row_shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        *,
        join_after: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.period = period
        self.row_shape = row_shape
        self.dtype = np.dtype(dtype)
        self.join_after = join_after
        self.rng = np.random.default_rng(seed)
        self.array: NodeRef | None = None
        self.rows = 0
        self.nbytes = 0
        self.dropped = 0
        self.joined_at: float | None = None  # anyio.current_time() when it joined
        self.started_at: float | None = None  # anyio.current_time() of the demo's start
        self.messages: list[str] = []  # log lines waiting to be written
        self.log_lines = 0

    # -- what a driver defines ------------------------------------------------------------------

    @abstractmethod
    async def create_arrays(self, saver: AsyncH5Saver, scan: NodeRef) -> NodeRef:
        """Create this instrument's groups and enlargeable array under ``scan``; return it."""

    @abstractmethod
    def sample(self, ticks: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """The rows acquired at ``ticks`` (one row per tick, shape ``(n, *row_shape)``)."""

    # -- the acquisition loop -----------------------------------------------------------------

    async def connect(self, saver: AsyncH5Saver, scan: NodeRef) -> None:
        """Create the instrument's groups and arrays in the file."""
        self.array = await self.create_arrays(saver, scan)

    async def run(self, saver: AsyncH5Saver, scan: NodeRef, start: float, stop: float) -> None:
        """Join (late by ``join_after``, unless already connected), then acquire one row per
        period until ``stop`` (``start`` and ``stop`` on :func:`anyio.current_time`'s clock)."""
        self.started_at = start
        if self.array is None:
            if start + self.join_after >= stop:
                return  # the run ends before this instrument would have joined
            await anyio.sleep_until(start + self.join_after)
            await self.connect(saver, scan)
            self.joined_at = anyio.current_time()
            await self.log(saver, f"{self.name} joined {self.join_after:.1f} s late")
        else:
            self.joined_at = start
        assert self.array is not None
        await self._acquire_until(saver, self.array, self.joined_at, stop)

    async def _acquire_until(
        self, saver: AsyncH5Saver, array: NodeRef, t0: float, stop: float
    ) -> None:
        """Acquire the ticks ``t0 + k * period`` due before ``stop``: from ``t0``, not from
        when this task first runs, so that a task started late owes the ticks it missed."""
        if t0 >= stop:
            return
        # The ticks due strictly before stop: 0 .. last_tick (a rounding error in stop - t0
        # must not add a tick).
        last_tick = math.ceil((stop - t0) / self.period - 1e-6) - 1
        tick = 0
        while tick <= last_tick:
            await anyio.sleep_until(t0 + tick * self.period)
            owed = min(int((anyio.current_time() - t0) / self.period), last_tick)
            owed = max(owed, tick)
            if self.buffered:
                ticks = np.arange(tick, owed + 1, dtype=np.int64)
            else:
                ticks = np.array([owed], dtype=np.int64)
                self.dropped += owed - tick
            rows = self.sample(ticks)
            # A fresh buffer each time: hand it over instead of letting the saver copy it.
            await saver.append(array, rows, copy=False)
            self.rows += len(rows)
            self.nbytes += rows.nbytes
            await self._write_messages(saver)
            tick = owed + 1

    async def _write_messages(self, saver: AsyncH5Saver) -> None:
        while self.messages:
            await self.log(saver, self.messages.pop(0))

    async def log(self, saver: AsyncH5Saver, line: str) -> None:
        """Write a line to the file's Logger, counted."""
        await saver.add_log(line)
        self.log_lines += 1

    # -- helpers ------------------------------------------------------------------------------

    def signal_axes(self) -> list[ChannelAxis]:
        """The axes of one row (a spectrometer's wavelengths, a camera's pixels); none for 0D."""
        return []

    async def _channel(
        self, saver: AsyncH5Saver, group: NodeRef, label: str, units: str
    ) -> NodeRef:
        """The instrument's channel of enlargeable data under ``group``, as PyMoDAQ's
        enlargeable saver writes it (``DataND/CH00/EnlData00`` and its signal axes), named
        after the group's title, the instrument's name."""
        return await saver.add_enlargeable_channel(
            group,
            self.dimension,
            data_shape=self.row_shape,
            dtype=self.dtype,
            label=label,
            units=units,
            axes=self.signal_axes(),
        )

    def progress(self, now: float) -> InstrumentProgress:
        """What the instrument has delivered, as of ``now`` (anyio's clock)."""
        joined_after = None
        if self.joined_at is not None and self.started_at is not None:
            joined_after = max(0.0, self.joined_at - self.started_at)
        return InstrumentProgress(
            name=self.name,
            kind=self.kind,
            array=self.array.path if self.array is not None else "",
            row_shape=self.row_shape,
            dtype=self.dtype.name,
            rows=self.rows,
            nbytes=self.nbytes,
            dropped=self.dropped,
            joined_after=joined_after,
            active_s=max(0.0, now - self.joined_at) if self.joined_at is not None else 0.0,
        )


class PointDetector(Instrument):
    """A 0D detector (a lock-in amplifier or a photodiode on a DAQ card) read at ~1 kHz: a
    slowly modulated signal with noise, buffered like a DAQ card's FIFO."""

    kind = "0D detector"
    dimension = "Data0D"
    buffered = True

    def __init__(self, name: str = "photodiode", period: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(name, period, (1,), np.float64, **kwargs)

    async def create_arrays(self, saver: AsyncH5Saver, scan: NodeRef) -> NodeRef:
        det = await saver.add_det_group(scan, title=self.name, metadata={"period_s": self.period})
        return await self._channel(saver, det, "signal (V)", "V")

    def sample(self, ticks: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        t = ticks * self.period
        signal: npt.NDArray[Any] = (
            1.0 + 0.1 * np.sin(2 * np.pi * 0.5 * t) + self.rng.normal(0.0, 0.01, t.size)
        )
        return signal.reshape(-1, 1)


class Spectrometer(Instrument):
    """A 1D spectrometer (2048 pixels, ~100 Hz): a Gaussian emission line drifting in
    wavelength and intensity, on a small background, with shot noise."""

    kind = "1D spectrometer"
    dimension = "Data1D"

    def __init__(
        self, name: str = "spectrometer", period: float = 1e-2, pixels: int = 2048, **kwargs: Any
    ) -> None:
        super().__init__(name, period, (pixels,), np.float64, **kwargs)
        self.wavelengths = np.linspace(400.0, 800.0, pixels)

    async def create_arrays(self, saver: AsyncH5Saver, scan: NodeRef) -> NodeRef:
        det = await saver.add_det_group(
            scan, title=self.name, metadata={"period_s": self.period, "range_nm": (400, 800)}
        )
        return await self._channel(saver, det, "counts", "counts")

    def signal_axes(self) -> list[ChannelAxis]:
        """The wavelength of each pixel."""
        return [ChannelAxis("wavelength", "nm", self.wavelengths)]

    def sample(self, ticks: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        t = ticks[:, None] * self.period
        centre = 600.0 + 50.0 * np.sin(2 * np.pi * 0.2 * t)
        height = 1000.0 * (1.0 + 0.05 * np.cos(2 * np.pi * 1.0 * t))
        line = height * np.exp(-0.5 * ((self.wavelengths - centre) / 8.0) ** 2)
        noise = self.rng.normal(0.0, 5.0, (len(ticks), self.row_shape[0]))
        spectrum: npt.NDArray[Any] = 20.0 + line + noise
        return spectrum


class Camera(Instrument):
    """A 2D camera (512x512 uint16, ~20 Hz): a bright spot circling over a noisy dark frame.

    Noise is drawn once into a few dark frames that are reused, so that a frame costs a copy
    and a small patch, not 262,144 random numbers on the event loop.
    """

    kind = "2D camera"
    dimension = "Data2D"
    _DARK_FRAMES = 4
    _SPOT_HALF = 24

    def __init__(
        self, name: str = "camera", period: float = 0.05, size: int = 512, **kwargs: Any
    ) -> None:
        super().__init__(name, period, (size, size), np.uint16, **kwargs)
        self.dark = self.rng.normal(100.0, 4.0, (self._DARK_FRAMES, size, size)).astype(np.uint16)
        axis = np.arange(-self._SPOT_HALF, self._SPOT_HALF + 1)
        spot = 3000.0 * np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * 6.0**2))
        self.spot = spot.astype(np.uint16)

    async def create_arrays(self, saver: AsyncH5Saver, scan: NodeRef) -> NodeRef:
        det = await saver.add_det_group(
            scan, title=self.name, metadata={"period_s": self.period, "exposure_ms": 10.0}
        )
        return await self._channel(saver, det, "intensity", "counts")

    def signal_axes(self) -> list[ChannelAxis]:
        """Pixel rows (y) and columns (x)."""
        pixels = np.arange(self.row_shape[0], dtype=np.float64)
        return [ChannelAxis("y", "pixels", pixels), ChannelAxis("x", "pixels", pixels)]

    def sample(self, ticks: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        size = self.row_shape[0]
        frames = np.empty((len(ticks), size, size), dtype=np.uint16)
        # The spot circles the centre, staying a margin away from the edges.
        radius = size / 2 - self._SPOT_HALF - 2
        for index, tick in enumerate(ticks.tolist()):
            frames[index] = self.dark[tick % self._DARK_FRAMES]
            angle = 2 * np.pi * 0.25 * tick * self.period
            row = int(size / 2 + radius * 0.6 * np.sin(angle))
            col = int(size / 2 + radius * 0.6 * np.cos(angle))
            half = self._SPOT_HALF
            frames[index, row - half : row + half + 1, col - half : col + half + 1] += self.spot
        return frames


class Stage(Instrument):
    """A motorised stage (the scan's actuator) stepping through positions, its position read
    back at ~20 Hz. Every move is logged when it starts and when the stage arrives."""

    kind = "actuator"
    dimension = "Data0D"

    def __init__(
        self,
        name: str = "stage",
        period: float = 0.05,
        *,
        step_every: float = 0.5,
        step_mm: float = 0.5,
        steps: int = 10,
        speed_mm_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, period, (1,), np.float64, **kwargs)
        self.step_every = step_every
        # From home (0) up the ladder and back down: 0.5, 1, ... 5, 4.5, ... 0, and again.
        up = [step_mm * i for i in range(1, steps + 1)]
        down = [step_mm * i for i in range(steps - 1, -1, -1)]
        self.targets = up + down
        self.speed = speed_mm_s
        self._move = -1  # the last move announced
        self._arrived = -1  # the last move whose arrival was logged

    async def create_arrays(self, saver: AsyncH5Saver, scan: NodeRef) -> NodeRef:
        act = await saver.add_act_group(
            scan, title=self.name, metadata={"units": "mm", "speed_mm_s": self.speed}
        )
        return await self._channel(saver, act, "position (mm)", "mm")

    def target(self, move: int) -> float:
        """Where move number ``move`` takes the stage (move -1: the home position)."""
        return 0.0 if move < 0 else self.targets[move % len(self.targets)]

    def position(self, t: float) -> tuple[int, float]:
        """The current move and the stage's position ``t`` seconds after the start."""
        move = int(t / self.step_every)
        origin, target = self.target(move - 1), self.target(move)
        travelled = self.speed * (t - move * self.step_every)
        if travelled >= abs(target - origin) - 1e-9:  # arrived, give or take rounding
            return move, target
        return move, origin + math.copysign(travelled, target - origin)

    def sample(self, ticks: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        positions = np.empty((len(ticks), 1), dtype=np.float64)
        for index, tick in enumerate(ticks.tolist()):
            move, position = self.position(tick * self.period)
            if move > self._move:
                self._move = move
                self.messages.append(f"actuator moving to {self.target(move):.3f} mm")
            if position == self.target(move) and move > self._arrived:
                self._arrived = move
                self.messages.append(f"actuator moved to {position:.3f} mm")
            # The encoder's read-back jitters by a fraction of a micrometre.
            positions[index, 0] = position + self.rng.normal(0.0, 2e-4)
        return positions
