"""aioh5saver: PyMoDAQ's HDF5 saver on h5py, safe to read, and an async writer service.

The public names are re-exported here once; ``__all__`` is checked by a test.
"""

from aioh5saver.aio.async_saver import AsyncH5Saver, SaverStatistics
from aioh5saver.aio.noderef import NodeRef
from aioh5saver.aio.tuning import WriterTuning
from aioh5saver.errors import (
    AppenderConflictError,
    ArrayTooLargeError,
    ClosedFileError,
    CorruptFileError,
    CorruptJournalError,
    ExistingFileError,
    ExternalDataError,
    FileChangedError,
    FileInUseError,
    ForeignEventLoopError,
    InvalidArgumentError,
    InvalidEnumError,
    InvalidNameError,
    MissingFileError,
    NodeKindError,
    NodeNotFoundError,
    ReadOnlyError,
    SaverClosedError,
    SaverError,
    ServiceError,
    ShapeMismatchError,
    SharedNodeConflictError,
    SwmrModeError,
    UncastableDTypeError,
    UnfinishedWriteError,
    UnsafeContentError,
    UnsupportedBackendError,
    WriterBrokenError,
)
from aioh5saver.format.attrs import decode_attr, encode_attr
from aioh5saver.format.enums import DataDim, DataType, FileType, GroupType, SaveType
from aioh5saver.format.layout import package_version as _package_version
from aioh5saver.sync.backend import H5Backend
from aioh5saver.sync.channels import ChannelAxis
from aioh5saver.sync.nodes import CARRAY, EARRAY, GROUP, VLARRAY, Attributes, Node, StringARRAY
from aioh5saver.sync.saver import H5SaverLowLevel
from aioh5saver.tools.follow import ArrayUpdate, WriterClosed, WriterGone, follow
from aioh5saver.tools.inspect import inspect_file
from aioh5saver.tools.recover import RecoveryReport, recover, render_recovery
from aioh5saver.tools.render import render_report
from aioh5saver.tools.report import FileReport, NodeInfo


def __getattr__(name: str) -> str:
    # __version__ is looked up when asked for: see package_version.
    if name == "__version__":
        return _package_version()
    raise AttributeError(f"module 'aioh5saver' has no attribute {name!r}")


__all__ = [
    "CARRAY",
    "EARRAY",
    "GROUP",
    "VLARRAY",
    "AppenderConflictError",
    "ArrayTooLargeError",
    "ArrayUpdate",
    "AsyncH5Saver",
    "Attributes",
    "ChannelAxis",
    "ClosedFileError",
    "CorruptFileError",
    "CorruptJournalError",
    "DataDim",
    "DataType",
    "ExistingFileError",
    "ExternalDataError",
    "FileChangedError",
    "FileInUseError",
    "FileReport",
    "FileType",
    "ForeignEventLoopError",
    "GroupType",
    "H5Backend",
    "H5SaverLowLevel",
    "InvalidArgumentError",
    "InvalidEnumError",
    "InvalidNameError",
    "MissingFileError",
    "Node",
    "NodeInfo",
    "NodeKindError",
    "NodeNotFoundError",
    "NodeRef",
    "ReadOnlyError",
    "RecoveryReport",
    "SaveType",
    "SaverClosedError",
    "SaverError",
    "SaverStatistics",
    "ServiceError",
    "ShapeMismatchError",
    "SharedNodeConflictError",
    "StringARRAY",
    "SwmrModeError",
    "UncastableDTypeError",
    "UnfinishedWriteError",
    "UnsafeContentError",
    "UnsupportedBackendError",
    "WriterBrokenError",
    "WriterClosed",
    "WriterGone",
    "WriterTuning",
    "decode_attr",
    "encode_attr",
    "follow",
    "inspect_file",
    "recover",
    "render_recovery",
    "render_report",
]
