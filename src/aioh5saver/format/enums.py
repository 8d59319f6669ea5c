"""The enums of PyMoDAQ's file format, with the same names and values as pymodaq_data 5.3.0.

Like PyMoDAQ's ``BaseEnum``, a member compares equal to its own name (``DataType.data ==
"data"``), and :func:`coerce_enum` accepts a member or a case-insensitive name.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from aioh5saver.errors import InvalidEnumError, describe

__all__ = [
    "DataDim",
    "DataType",
    "FileType",
    "GroupType",
    "PymodaqEnum",
    "SaveType",
    "coerce_enum",
]


class PymodaqEnum(Enum):
    """An enum whose members also compare equal to their name, as PyMoDAQ's ``BaseEnum``."""

    @classmethod
    def names(cls) -> list[str]:
        """The member names, in definition order."""
        return list(cls.__members__)

    @classmethod
    def values(cls) -> list[Any]:
        """The member values, in definition order."""
        return [member.value for member in cls]

    @classmethod
    def to_dict(cls) -> dict[str, Any]:
        """``{name: value}`` for every member."""
        return {member.name: member.value for member in cls}

    @classmethod
    def to_dict_value(cls) -> dict[Any, str]:
        """``{value: name}`` for every member."""
        return {member.value: member.name for member in cls}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.name
        return super().__eq__(other)

    __hash__ = Enum.__hash__


class DataType(PymodaqEnum):
    """What an array holds, stored as the ``data_type`` attribute."""

    data = "Data"
    axis = "Axis"
    live_scan = "Live"
    external_h5 = "ExtData"
    strings = "Strings"
    bkg = "Bkg"
    data_enlargeable = "EnlData"
    error = "ErrorBar"


class FileType(PymodaqEnum):
    """The kind of file a PyMoDAQ module writes."""

    detector = 0
    actuator = 1
    axis = 2
    scan = 3


class GroupType(PymodaqEnum):
    """The ``type`` attribute of a group."""

    detector = 0
    actuator = 1
    data = 2
    ch = 3
    scan = 4
    external_h5 = 5
    data_dim = 6
    data_logger = 7


class SaveType(PymodaqEnum):
    """The ``type`` attribute of the raw-data group: what kind of acquisition wrote the file."""

    scan = 0
    detector = 1
    logger = 2
    custom = 3
    actuator = 4
    optimizer = 5


class DataDim(PymodaqEnum):
    """The dimensionality of data, stored as the ``data_dimension`` attribute."""

    Data0D = 0
    Data1D = 1
    Data2D = 2
    DataND = 3


EnumT = TypeVar("EnumT", bound=PymodaqEnum)


def coerce_enum(enum_type: type[EnumT], item: object, argument: str) -> EnumT:
    """Return the member of ``enum_type`` that ``item`` names.

    ``item`` may be a member or a member's name in any case (``"data1d"`` gives
    ``DataDim.Data1D``). A member of another enum with a matching name is accepted too, as
    PyMoDAQ passes its own enum members around. ``argument`` names the parameter in the error.
    """
    if isinstance(item, enum_type):
        return item
    name = item.name if isinstance(item, Enum) else item
    if isinstance(name, str):
        lowered = name.lower()
        for member in enum_type:
            if member.name.lower() == lowered:
                return member
    raise InvalidEnumError(
        f"{argument}: expected a {enum_type.__name__} member or one of the names "
        f"{enum_type.names()}, got {describe(item)}"
    )
