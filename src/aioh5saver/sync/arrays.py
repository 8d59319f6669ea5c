"""The saver's arrays: fixed, enlargeable and string arrays created with the attributes
pymodaq_data gives them (``data_type``, ``data_dimension``, ``metadata``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aioh5saver.errors import InvalidArgumentError
from aioh5saver.format.enums import DataDim, DataType, coerce_enum
from aioh5saver.format.layout import capitalize, check_node_name
from aioh5saver.format.rows import as_dtype, exact_scalar
from aioh5saver.sync.backend import H5Backend
from aioh5saver.sync.nodes import CARRAY, StringARRAY

__all__ = ["ArraySaver"]


class ArraySaver(H5Backend):
    """The file layer with pymodaq_data's array methods: ``add_array`` and
    ``add_string_array``."""

    #: What ``add_array(add_scan_dim=True)`` fills a float array with (NaN by default).
    fill_value: float

    def add_string_array(
        self, where: Any, name: str, title: str = "", metadata: dict[str, Any] | None = None
    ) -> StringARRAY:
        """An enlargeable array of strings called ``name`` (not capitalised, as in PyMoDAQ)."""
        array = self.create_vlarray(where, name, dtype="string", title=title)
        assert isinstance(array, StringARRAY)
        array.attrs["shape"] = (0,)
        array.attrs["data_type"] = "strings"
        for key, value in (metadata or {}).items():
            array.attrs[key] = value
        return array

    def add_array(
        self,
        where: Any,
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
    ) -> CARRAY:
        """An array called ``name`` (capitalised) under ``where``, with ``data_type`` and
        ``data_dimension`` attributes and ``metadata``.

        - ``enlargeable``: an :class:`EARRAY` of rows of shape ``data_shape`` and dtype
          ``array_type`` (``array_to_save``'s dtype if not given), starting empty; without
          ``data_shape``, an array of single values (shape ``(0,)``), as pymodaq_data makes;
          ``array_to_save`` is not written (as in pymodaq_data);
        - ``add_scan_dim``: a :class:`CARRAY` of shape ``scan_shape + data_shape`` (``data_shape``
          ``(1,)`` adds no axis) filled with ``fill_value`` (NaN for floats, 0 otherwise, by
          default) unless ``array_to_save`` is given;
        - otherwise a :class:`CARRAY` holding ``array_to_save``.
        """
        check_node_name(name)
        data_type = coerce_enum(DataType, data_type, "data_type")
        dimension = coerce_enum(DataDim, data_dimension, "data_dimension")
        if array_to_save is not None and not isinstance(array_to_save, np.ndarray):
            array_to_save = np.asarray(array_to_save)
        dtype = as_dtype(array_type, array_to_save, name)
        node_name = capitalize(name)
        array: CARRAY
        if enlargeable:
            # Without data_shape, rows are single values (shape (0,)), as in pymodaq_data:
            # AxisSaverLoader.add_axis(enlargeable=True) relies on it for navigation axes.
            array = self.create_earray(
                where, node_name, dtype=dtype, data_shape=data_shape, title=title
            )
        else:
            if add_scan_dim and array_to_save is None:
                array_to_save = self._scan_array(name, scan_shape, data_shape, dtype, fill_value)
            if array_to_save is None:
                raise InvalidArgumentError(
                    f"add_array {name!r}: expected array_to_save, or data_shape with "
                    "enlargeable=True or add_scan_dim=True, got neither"
                )
            array = self.create_carray(
                where, node_name, obj=array_to_save.astype(dtype, copy=False), title=title
            )
        array.attrs["data_type"] = data_type.name
        array.attrs["data_dimension"] = dimension.name
        for key, value in (metadata or {}).items():
            array.attrs[key] = value
        return array

    def _scan_array(
        self,
        name: str,
        scan_shape: tuple[int, ...],
        data_shape: tuple[int, ...] | None,
        dtype: np.dtype[Any],
        fill_value: Any,
    ) -> np.ndarray:
        if data_shape is None:
            raise InvalidArgumentError(
                f"add_array {name!r}: expected data_shape with add_scan_dim=True, got None"
            )
        shape = [*scan_shape]
        if tuple(data_shape) != (1,):
            shape.extend(data_shape)
        if fill_value is None:
            fill_value = self.fill_value if dtype.kind in "fc" else 0
        return np.full(shape, exact_scalar(fill_value, dtype, name), dtype=dtype)
