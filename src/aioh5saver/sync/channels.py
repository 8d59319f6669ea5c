"""Channels of enlargeable data in the layout pymodaq_data's ``DataLoader`` loads.

PyMoDAQ saves what a detector acquires again and again (a DAQ_Viewer saving continuously, the
DAQ_Logger) with ``DataToExportEnlargeableSaver`` / ``DataEnlargeableSaver``: under the
detector's group, one channel group per piece of data, whose enlargeable array grows by one
row per acquisition, with the attributes ``DataLoader.load_data`` reads, the signal axes beside
it, and the navigation axes (a time axis, say) that grow with it in a ``NavAxes`` group::

    Detector000/Data1D/CH00/EnlData00   rows (n, *data_shape): label, units, source,
                                        distribution, origin, nav_indexes, timestamp
                           /Axis00      a signal axis (CARRAY): label, units, index...
               /NavAxes/Axis00          a navigation axis (EARRAY of one value per row)

:class:`ChannelSaver`'s ``add_enlargeable_channel`` and ``add_nav_axis`` write that layout,
checking every argument before anything is written; ``H5SaverLowLevel`` has them, and
``AsyncH5Saver`` offers them as coroutines of the same names. The rows themselves are appended to
the returned arrays (``EARRAY.append``, ``AsyncH5Saver.append``).
"""

from __future__ import annotations

import math
import numbers
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from aioh5saver.errors import InvalidArgumentError, NodeKindError, describe
from aioh5saver.format.enums import DataDim, coerce_enum
from aioh5saver.sync.arrays import ArraySaver
from aioh5saver.sync.nodes import EARRAY, GROUP

__all__ = [
    "NAV_AXES_GROUP",
    "RESERVED_ATTRIBUTES",
    "ChannelAxis",
    "ChannelSaver",
]

# The group holding the navigation axes of a detector's enlargeable data (pymodaq_data's
# SPECIAL_GROUP_NAMES['nav_axes']); DataLoader looks for it in every parent of the data.
NAV_AXES_GROUP = "NavAxes"

# Attributes of the data array that DataLoader reads itself (or that describe the array): the
# ``metadata`` of a channel cannot set them.
RESERVED_ATTRIBUTES = frozenset(
    {
        "TITLE",
        "CLASS",
        "VERSION",
        "EXTDIM",
        "backend",
        "data_type",
        "data_dimension",
        "dtype",
        "subdtype",
        "shape",
        "size",
        "path",
        "title",
        "label",
        "units",
        "source",
        "distribution",
        "origin",
        "nav_indexes",
        "timestamp",
    }
)

_SOURCES = ("raw", "calculated")
_ROW_DIMENSIONS = {DataDim.Data0D: 1, DataDim.Data1D: 1, DataDim.Data2D: 2}
_CHANNEL_NAME = re.compile(r"CH(\d{2,})")
_AXIS_NAME = re.compile(r"Axis(\d{2,})")


@dataclass(frozen=True, eq=False)
class ChannelAxis:
    """A signal axis of a channel: the coordinate of each point along one dimension of a row
    (a spectrometer's wavelengths, a camera's pixel rows or columns).

    - ``values``: one number per point along that dimension (kept as a read-only float64
      copy);
    - ``index``: the row dimension it spans, as in PyMoDAQ's ``Axis`` for one acquisition: 0
      for a 1D row; 0 (rows, y) or 1 (columns, x) for a 2D frame. ``None``: its place in the
      list of axes.
    - ``units``: PyMoDAQ reads units with pint; units pint does not know load as ``''``.
    """

    label: str
    units: str
    values: npt.NDArray[np.float64] = field(repr=False)
    index: int | None = None

    def __post_init__(self) -> None:
        _check_text(self.label, "ChannelAxis label")
        _check_text(self.units, "ChannelAxis units")
        if self.index is not None and (
            isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0
        ):
            raise InvalidArgumentError(
                f"ChannelAxis index: expected None or a row dimension (int >= 0), got "
                f"{describe(self.index)}"
            )
        try:
            values = np.array(self.values, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"ChannelAxis values of {self.label!r}: expected numbers, got "
                f"{describe(self.values)}"
            ) from exc
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise InvalidArgumentError(
                f"ChannelAxis values of {self.label!r}: expected a non-empty 1-D sequence of "
                f"finite numbers, got {describe(self.values)}"
            )
        values.flags.writeable = False
        object.__setattr__(self, "values", values)


class ChannelSaver(ArraySaver):
    """The saver's channel methods: ``add_enlargeable_channel`` and ``add_nav_axis``."""

    def add_enlargeable_channel(
        self,
        where: Any,
        data_dim: DataDim | str,
        *,
        data_shape: tuple[int, ...] | None = None,
        dtype: Any = "float64",
        name: str | None = None,
        label: str | None = None,
        units: str = "",
        axes: Sequence[ChannelAxis] = (),
        origin: str | None = None,
        source: str = "raw",
        timestamp: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> EARRAY:
        """A channel of enlargeable data under the group ``where`` that pymodaq_data's
        ``DataLoader`` loads, as its ``DataToExportEnlargeableSaver`` writes it:
        ``<where>/<data_dim>/CHnn/EnlData00`` with its signal ``axes`` beside it. Returns the
        empty array; append one row of ``data_shape`` per acquisition. See
        :meth:`aioh5saver.AsyncH5Saver.add_enlargeable_channel` for the arguments."""
        dim = coerce_enum(DataDim, data_dim, "data_dim")
        if dim not in _ROW_DIMENSIONS:
            raise InvalidArgumentError(
                "data_dim: expected the dimension of one acquisition, Data0D, Data1D or Data2D, "
                f"got {describe(data_dim)} (enlargeable DataND cannot be appended to, as in "
                "PyMoDAQ)"
            )
        row_shape = _row_shape(dim, data_shape)
        array_type = _numeric_dtype(dtype)
        placed = _placed_axes(dim, row_shape, axes)
        for argument, value in (("name", name), ("label", label), ("origin", origin)):
            if value is not None:
                _check_text(value, argument, "None or a str")
        _check_text(units, "units")
        if source not in _SOURCES:
            raise InvalidArgumentError(
                f"source: expected one of {list(_SOURCES)}, got {describe(source)}"
            )
        stamp = _timestamp(timestamp)
        extra = _metadata(metadata)

        group = _group(self, where)
        title = group.attrs.get("TITLE", "")
        title = title if isinstance(title, str) else ""
        name = title if name is None else name
        origin = title if origin is None else origin
        # As DataToExportSaver makes it: a plain group named after the dimension.
        dim_group = self.get_set_group(group, dim.name)
        channel_name = _next_name(self, dim_group, _CHANNEL_NAME, "CH")
        channel = self.get_set_group(dim_group, channel_name, name, origin=origin)
        array = self.add_array(
            channel,
            "EnlData00",
            "data_enlargeable",
            data_shape=row_shape,
            array_type=array_type,
            enlargeable=True,
            data_dimension=dim,
            title=name,
            metadata={
                "timestamp": stamp,
                "label": channel_name if label is None else label,
                "source": source,
                "distribution": "spread",
                "origin": origin,
                # Dimension 0 is the one the rows are appended along: a navigation dimension.
                "nav_indexes": (0,),
                "units": units,
                **extra,
            },
        )
        for number, (axis, index) in enumerate(placed):
            self.add_array(
                channel,
                f"Axis{number:02d}",
                "axis",
                array_to_save=axis.values,
                data_dimension=DataDim.Data1D,
                title=axis.label,
                metadata={
                    "size": int(axis.values.size),
                    "label": axis.label,
                    "units": axis.units,
                    # In the file, a row dimension is one more than in a row: the rows are
                    # stacked along dimension 0.
                    "index": index + 1,
                    **_linear_description(axis.values),
                    "spread_order": 0,
                },
            )
        assert isinstance(array, EARRAY)
        return array

    def add_nav_axis(
        self,
        where: Any,
        label: str,
        units: str = "",
        dtype: Any = "float64",
    ) -> EARRAY:
        """A navigation axis ``<where>/NavAxes/AxisNN`` of the enlargeable data under the
        group ``where``: an enlargeable array of one value per row (a time, a position),
        which pymodaq_data's ``DataLoader`` loads with that data. See
        :meth:`aioh5saver.AsyncH5Saver.add_nav_axis`."""
        _check_text(label, "label")
        _check_text(units, "units")
        array_type = _numeric_dtype(dtype)
        group = _group(self, where)
        nav_group = self.get_set_group(group, NAV_AXES_GROUP)
        order = sum(
            1
            for child in self.get_children(nav_group).values()
            if child.attrs.get("data_type") == "axis"
        )
        array = self.add_array(
            nav_group,
            _next_name(self, nav_group, _AXIS_NAME, "Axis"),
            "axis",
            data_shape=(),
            array_type=array_type,
            enlargeable=True,
            data_dimension=DataDim.Data1D,
            title=label,
            metadata={
                # As pymodaq_data leaves it under SWMR: the array's ``shape`` is its length.
                "size": 0,
                "label": label,
                "units": units,
                # Every navigation axis spans the dimension the rows are appended along; several
                # (an adaptive scan's x and y) are told apart by their spread order.
                "index": 0,
                "offset": None,
                "scaling": None,
                "distribution": "spread",
                "spread_order": order,
            },
        )
        assert isinstance(array, EARRAY)
        return array


def _check_text(value: object, argument: str, wanted: str = "a str") -> None:
    """Raise unless ``value`` is a str without NUL characters (HDF5 strings, a ``TITLE``
    among them, end at the first one)."""
    if not isinstance(value, str) or "\0" in value:
        raise InvalidArgumentError(
            f"{argument}: expected {wanted} without NUL characters, got {describe(value)}"
        )


def _group(saver: ArraySaver, where: Any) -> GROUP:
    node = saver.get_node(where)
    if not isinstance(node, GROUP):
        raise NodeKindError(f"where: expected a group, got {node.path}, a {node.kind}")
    return node


def _next_name(saver: ArraySaver, group: GROUP, pattern: re.Pattern[str], prefix: str) -> str:
    """``prefix`` and the first two-digit number not yet used by a child of ``group``."""
    used = {
        int(match.group(1))
        for child in saver.get_children(group)
        if (match := pattern.fullmatch(child)) is not None
    }
    number = next(n for n in range(len(used) + 1) if n not in used)
    return f"{prefix}{number:02d}"


def _row_shape(dim: DataDim, data_shape: object) -> tuple[int, ...]:
    if data_shape is None:
        if dim is DataDim.Data0D:
            return (1,)
        raise InvalidArgumentError(
            f"data_shape: expected the shape of one {dim.name} row, got None"
        )
    dims = _ROW_DIMENSIONS[dim]
    shape: tuple[int, ...] = ()
    if isinstance(data_shape, tuple | list) and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in data_shape
    ):
        shape = tuple(int(n) for n in data_shape)
    valid = len(shape) == dims and all(n > 0 for n in shape)
    if not valid or (dim is DataDim.Data0D and shape != (1,)):
        wanted = {
            DataDim.Data0D: "(1,) for Data0D",
            DataDim.Data1D: "(n,) with n > 0 for Data1D",
            DataDim.Data2D: "(rows, columns), both > 0, for Data2D",
        }[dim]
        raise InvalidArgumentError(f"data_shape: expected {wanted}, got {describe(data_shape)}")
    return shape


def _numeric_dtype(dtype: object) -> np.dtype[Any]:
    try:
        numeric: np.dtype[Any] | None = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        numeric = None
    if numeric is None or numeric.kind not in "biuf" or numeric.shape or numeric.names:
        raise InvalidArgumentError(
            f"dtype: expected a numeric numpy dtype (bool, int, uint, float), got {describe(dtype)}"
        )
    return numeric


def _placed_axes(
    dim: DataDim, row_shape: tuple[int, ...], axes: object
) -> list[tuple[ChannelAxis, int]]:
    """The axes with the row dimension each spans, checked against the row shape."""
    if isinstance(axes, str | bytes) or not isinstance(axes, Sequence):
        raise InvalidArgumentError(
            f"axes: expected a sequence of ChannelAxis, got {describe(axes)}"
        )
    dims = 0 if dim is DataDim.Data0D else len(row_shape)
    placed: list[tuple[ChannelAxis, int]] = []
    for position, axis in enumerate(axes):
        if not isinstance(axis, ChannelAxis):
            raise InvalidArgumentError(
                f"axes[{position}]: expected a ChannelAxis, got {describe(axis)}"
            )
        index = position if axis.index is None else axis.index
        if index >= dims:
            raise InvalidArgumentError(
                f"axes[{position}] {axis.label!r}: expected a row dimension below {dims} (a "
                f"{dim.name} row has {dims}), got index {index}"
            )
        if any(index == other for _, other in placed):
            raise InvalidArgumentError(
                f"axes[{position}] {axis.label!r}: expected one axis per row dimension, got a "
                f"second one for dimension {index}"
            )
        if axis.values.size != row_shape[index]:
            raise InvalidArgumentError(
                f"axes[{position}] {axis.label!r}: expected {row_shape[index]} values (row "
                f"dimension {index} of {row_shape}), got {axis.values.size}"
            )
        placed.append((axis, index))
    return placed


def _linear_description(values: npt.NDArray[np.float64]) -> dict[str, Any]:
    """``offset``, ``scaling`` and ``distribution`` as PyMoDAQ's ``Axis`` gives them: evenly
    spaced values are 'uniform' with their first value and step, others 'spread'."""
    if values.size == 1:
        return {"offset": float(values[0]), "scaling": 1.0, "distribution": "uniform"}
    steps = np.diff(values)
    step = float(np.mean(steps))
    if np.allclose(steps, step):
        return {"offset": float(values[0]), "scaling": step, "distribution": "uniform"}
    return {"offset": None, "scaling": None, "distribution": "spread"}


def _timestamp(timestamp: object) -> float:
    if timestamp is None:
        return time.time()
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, numbers.Real)
        or not math.isfinite(float(timestamp))
    ):
        raise InvalidArgumentError(
            f"timestamp: expected None or seconds since the epoch (a finite number), got "
            f"{describe(timestamp)}"
        )
    return float(timestamp)


def _metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(key, str) and key and "\0" not in key for key in metadata
    ):
        raise InvalidArgumentError(
            "metadata: expected None or a mapping with non-empty str keys without NUL "
            f"characters, got {describe(metadata)}"
        )
    clashes = sorted(set(metadata) & RESERVED_ATTRIBUTES)
    if clashes:
        raise InvalidArgumentError(
            f"metadata: expected keys other than the attributes the channel sets itself, got "
            f"{clashes} (pass them as arguments: label, units, origin, source, timestamp...)"
        )
    return dict(metadata)
