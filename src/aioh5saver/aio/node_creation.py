"""NodeCreation: the async saver's coroutines that create groups and arrays.

Each hops to the synchronous saver's method of the same name (see :class:`~.saver_calls.SaverCalls`)
as a call that changes the file's structure, and returns the new node's :class:`NodeRef`. They
only create nodes (or find the one asked for): no row, attribute or node that exists changes,
so each may run ahead of the appends queued before it (a late instrument then does not wait
for the rows other producers queued).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from aioh5saver.aio.crossing import node_ref
from aioh5saver.aio.noderef import NodeRef, RefOrigin, where_path
from aioh5saver.aio.ops import CallOp
from aioh5saver.aio.saver_calls import SaverCalls, Where
from aioh5saver.format.enums import DataDim, DataType, GroupType
from aioh5saver.sync.channels import ChannelAxis
from aioh5saver.sync.nodes import GROUP
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["NodeCreation", "get_set_group"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


def get_set_group(
    saver: H5SaverLowLevel, where: Any, name: str, title: str = "", /, **kwargs: Any
) -> GROUP:
    """:meth:`H5SaverLowLevel.get_set_group`, with its saver positional-only: its ``kwargs``
    may name anything, so a typed hop cannot pass the saver by the name ``self``."""
    return saver.get_set_group(where, name, title, **kwargs)


def _incremental_group_coroutine(
    method: Callable[..., GROUP],
) -> Callable[..., Coroutine[Any, Any, NodeRef]]:
    """The coroutine of the synchronous saver's incremental-group ``method`` (``add_det_group``
    and its siblings, which differ only by the group type)."""

    async def add_group(
        self: NodeCreation,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        return await self._create(
            node_ref, method, self._checks.where(where), title, settings_as_xml, metadata
        )

    add_group.__name__ = method.__name__
    add_group.__qualname__ = f"NodeCreation.{method.__name__}"
    add_group.__doc__ = method.__doc__
    return add_group


class NodeCreation(SaverCalls):
    """The node creations of :class:`~.async_saver.AsyncH5Saver`."""

    async def _create(
        self,
        cross: Callable[[T, RefOrigin], R],
        method: Callable[Concatenate[H5SaverLowLevel, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Like :meth:`_change`, for a call that only creates nodes: it runs ahead of the
        appends queued before it, not of any other operation."""
        call = CallOp(method, args, kwargs, structural=True, cross=cross, creates=True)
        return await self._submit(call)

    async def add_array(
        self,
        where: Where,
        name: str,
        data_type: DataType | str,
        array_to_save: np.ndarray | None = None,
        data_shape: tuple[int, ...] | None = None,
        array_type: Any = None,
        fill_value: Any = None,
        data_dimension: DataDim | str | None = None,
        scan_shape: tuple[int, ...] = (),
        add_scan_dim: bool = False,
        enlargeable: bool = False,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """An array under ``where``; see :meth:`H5SaverLowLevel.add_array`."""
        if array_to_save is not None:
            array_to_save = np.array(array_to_save, copy=True)
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_array,
            self._checks.where(where),
            name,
            data_type,
            array_to_save,
            data_shape,
            array_type,
            fill_value,
            data_dimension,
            scan_shape,
            add_scan_dim,
            enlargeable,
            title,
            metadata,
        )

    async def add_enlargeable_channel(
        self,
        where: Where,
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
    ) -> NodeRef:
        """A channel of enlargeable data under ``where`` (a detector or actuator group) that
        pymodaq_data's ``DataLoader`` loads: the async counterpart of its
        ``DataToExportEnlargeableSaver`` (and ``DataEnlargeableSaver``). Returns the empty
        array; :meth:`append` one row of ``data_shape`` per acquisition (or a batch)::

            det = await saver.add_det_group(scan, title="spectrometer")
            spectra = await saver.add_enlargeable_channel(
                det, "Data1D", data_shape=(2048,), label="counts", units="count",
                axes=[ChannelAxis("wavelength", "nm", np.linspace(400, 800, 2048))])
            await saver.append(spectra, spectrum)            # one row: shape (2048,)

        It writes ``<where>/<data_dim>/CHnn/EnlData00`` (the next free ``CHnn``) with the
        attributes DataLoader reads (``label``, ``units``, ``source``, ``distribution``,
        ``origin``, ``nav_indexes``, ``timestamp``), and each signal axis beside it as
        ``Axis00``, ``Axis01``... Loaded, the data has the rows along its navigation
        dimension 0, then the row's dimensions, each with its axis.

        - ``data_dim``: ``"Data0D"`` (rows of shape ``(1,)``, the default ``data_shape``),
          ``"Data1D"`` (``(n,)``) or ``"Data2D"`` (``(rows, columns)``).
        - ``dtype``: the rows' numeric dtype.
        - ``name``: the data's name (the arrays' ``TITLE``); ``origin``: the instrument it
          comes from; both default to the title of ``where``. ``label``: the channel's label
          (default: ``CHnn``). ``units``: read with pint by PyMoDAQ, as ``""`` if pint does
          not know them.
        - ``axes``: :class:`~aioh5saver.ChannelAxis` objects, at most one per row dimension.
        - ``source``: ``"raw"`` or ``"calculated"``; ``timestamp``: seconds since the epoch
          (default: now); ``metadata``: more attributes of the data array, which DataLoader
          gives back as extra attributes of the data.

        A navigation axis that grows with the rows (a time stamp per row) is
        :meth:`add_nav_axis`. Everything is checked before anything is written.
        """
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_enlargeable_channel,
            where_path(where),
            data_dim,
            data_shape=data_shape,
            dtype=dtype,
            name=name,
            label=label,
            units=units,
            axes=tuple(axes) if isinstance(axes, list | tuple) else axes,
            origin=origin,
            source=source,
            timestamp=timestamp,
            metadata=dict(metadata) if isinstance(metadata, Mapping) else metadata,
        )

    async def add_nav_axis(
        self, where: Where, label: str, units: str = "", dtype: Any = "float64"
    ) -> NodeRef:
        """A navigation axis of the enlargeable data under ``where``: the enlargeable array
        ``<where>/NavAxes/AxisNN`` of one value per row (a time, a stage position), which
        pymodaq_data's ``DataLoader`` loads as the axis of the rows of every channel under
        ``where`` (DataToExportTimedSaver's ``time`` axis is one). :meth:`append` one value
        per row, in step with the channels' rows (a numpy scalar, or ``(n,)`` values for a
        batch)::

            times = await saver.add_nav_axis(det, "time", "s")
            await saver.append(spectra, spectrum)
            await saver.append(times, np.float64(time.time()))

        Several navigation axes (the x and y of an adaptive scan) are numbered in the order
        they are added. The ``size`` attribute stays 0, as pymodaq_data leaves it under SWMR:
        the array's length is its ``shape``.
        """
        return await self._create(
            node_ref, H5SaverLowLevel.add_nav_axis, where_path(where), label, units, dtype
        )

    async def add_string_array(
        self, where: Where, name: str, title: str = "", metadata: dict[str, Any] | None = None
    ) -> NodeRef:
        """An enlargeable array of strings under ``where``."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_string_array,
            self._checks.where(where),
            name,
            title,
            metadata,
        )

    async def get_set_logger(self, where: Where | None = None) -> NodeRef:
        """The ``Logger`` string array under ``where`` (the raw group), created if absent; later
        :meth:`add_log` lines go to it, as with the synchronous saver."""
        logger = await self._create(
            node_ref,
            H5SaverLowLevel.get_set_logger,
            None if where is None else self._checks.where(where),
        )
        self._logger_path = logger.path
        return logger

    async def add_scan_group(
        self,
        where: Where = "/RawData",
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new ``ScanNNN`` group."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_scan_group,
            self._checks.where(where),
            title,
            settings_as_xml,
            metadata,
        )

    add_det_group = _incremental_group_coroutine(H5SaverLowLevel.add_det_group)
    add_act_group = _incremental_group_coroutine(H5SaverLowLevel.add_act_group)
    add_move_group = _incremental_group_coroutine(H5SaverLowLevel.add_move_group)
    add_ch_group = _incremental_group_coroutine(H5SaverLowLevel.add_ch_group)

    async def add_data_group(
        self,
        where: Where,
        data_dim: DataDim | str,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
        group_name: str | None = None,
    ) -> NodeRef:
        """A data group (``Data0D``...) under ``where``."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_data_group,
            self._checks.where(where),
            data_dim,
            title,
            settings_as_xml,
            metadata,
            group_name,
        )

    async def add_generic_group(
        self,
        where: Where = "/RawData",
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
        group_type: GroupType | str = GroupType.scan,
    ) -> NodeRef:
        """A new incremental group of ``group_type``."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_generic_group,
            self._checks.where(where),
            title,
            settings_as_xml,
            metadata,
            group_type,
        )

    async def add_incremental_group(
        self,
        group_type: GroupType | str,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new group ``<Type>NNN`` under ``where``."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_incremental_group,
            group_type,
            self._checks.where(where),
            title,
            settings_as_xml,
            metadata,
        )

    async def add_group(
        self,
        group_name: str,
        group_type: GroupType | str,
        where: Where,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """The group ``group_name`` under ``where``, created if absent."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.add_group,
            group_name,
            group_type,
            self._checks.where(where),
            title,
            metadata,
        )

    async def get_set_group(
        self, where: Where, name: str, title: str = "", **kwargs: Any
    ) -> NodeRef:
        """The group ``name`` under ``where``, created if absent."""
        return await self._create(
            node_ref,
            get_set_group,
            self._checks.where(where),
            name,
            title,
            **kwargs,
        )

    async def create_carray(
        self, where: Where, name: str, obj: Any = None, title: str = ""
    ) -> NodeRef:
        """A fixed array holding ``obj``."""
        if obj is not None:
            obj = np.array(obj, copy=True)
        return await self._create(
            node_ref, H5SaverLowLevel.create_carray, self._checks.where(where), name, obj, title
        )

    async def create_earray(
        self, where: Where, name: str, dtype: Any, data_shape: Any = None, title: str = ""
    ) -> NodeRef:
        """An enlargeable array with rows of ``data_shape``."""
        return await self._create(
            node_ref,
            H5SaverLowLevel.create_earray,
            self._checks.where(where),
            name,
            dtype,
            data_shape,
            title,
        )

    async def create_vlarray(self, where: Where, name: str, dtype: Any, title: str = "") -> NodeRef:
        """An enlargeable array of variable-length rows."""
        return await self._create(
            node_ref, H5SaverLowLevel.create_vlarray, self._checks.where(where), name, dtype, title
        )
