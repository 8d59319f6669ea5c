"""The synchronous saver: pymodaq_data's ``H5SaverLowLevel`` on h5py.

It builds PyMoDAQ's tree (``/RawData/Scan000/Detector000/Data1D/...``) with the same names,
attributes and data as pymodaq_data 5.3.0, so that PyMoDAQ reads its files unchanged. It knows
nothing of async: :mod:`aioh5saver.aio` runs it on one worker thread.
"""

from __future__ import annotations

import datetime
import errno
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aioh5saver.engine.boundary import h5_errors
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.errors import (
    ClosedFileError,
    ExistingFileError,
    InvalidArgumentError,
    MissingFileError,
    NodeKindError,
    SharedNodeConflictError,
    describe,
)
from aioh5saver.format.checks import check_count
from aioh5saver.format.enums import DataDim, GroupType, SaveType, coerce_enum
from aioh5saver.format.layout import (
    DEFAULT_TITLE,
    LOGGER_NAME,
    check_node_name,
    group_type_name,
    incremental_group,
    incremental_type,
    root_attrs,
)
from aioh5saver.sync.channels import ChannelSaver
from aioh5saver.sync.file_access import as_location, file_to_open
from aioh5saver.sync.nodes import GROUP, Node, StringARRAY
from aioh5saver.sync.staging import fold_staged_strings

__all__ = ["H5SaverLowLevel"]

# SWMR writing needs superblock version 3 (the HDF5 1.10 format), and HDF5 cannot upgrade an
# older superblock in place: such a file would open, then fail at the first SWMR write.
_SWMR_SUPERBLOCK_VERSION = 3


def _refuse_swmr_before_the_110_format(path: Path) -> None:
    version = read_superblock(path).version
    if version < _SWMR_SUPERBLOCK_VERSION:
        raise InvalidArgumentError(
            f"swmr_mode: expected a file in the HDF5 1.10 format (superblock version "
            f"{_SWMR_SUPERBLOCK_VERSION}), which SWMR writing needs, got {path} with superblock "
            f"version {version} (written without SWMR, or rewritten by a tool such as h5repack); "
            "open it with swmr_mode=False, or pass new_file=True to replace it"
        )


def _incremental_group_method(name: str, group_type: str, doc: str) -> Callable[..., GROUP]:
    """The saver method ``name`` that adds a new incremental group of ``group_type``
    (pymodaq_data's ``add_det_group`` and its siblings, which differ only by the type)."""

    def add_group(
        self: H5SaverLowLevel,
        where: Any,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> GROUP:
        return self.add_incremental_group(group_type, where, title, settings_as_xml, metadata)

    add_group.__name__ = name
    add_group.__qualname__ = f"H5SaverLowLevel.{name}"
    add_group.__doc__ = doc
    return add_group


class H5SaverLowLevel(ChannelSaver):
    """Builds and reads a PyMoDAQ HDF5 file: groups, arrays, enlargeable arrays, string arrays
    and the ``Logger``, with PyMoDAQ's attributes.

    ``backend`` must be None or ``'h5py'``.
    """

    def __init__(self, save_type: SaveType | str = "scan", backend: str | None = None) -> None:
        super().__init__("h5py" if backend is None else backend)
        self.save_type = coerce_enum(SaveType, save_type, "save_type")
        self.h5_file_path: Path | None = None
        self.h5_file_name: str | None = None
        self.file_loaded = False
        self._current_group: GROUP | None = None
        self._raw_group: GROUP | str = "/RawData"
        self._raw_group_name = "RawData"
        self._logger_array: StringARRAY | None = None
        self._flush_interval = 0
        self._write_count = 0
        self.fill_value: float = np.nan

    @classmethod
    def from_file(
        cls,
        path: Path | str,
        save_type: SaveType | str = "scan",
        new_file: bool = False,
        metadata: dict[str, Any] | None = None,
        swmr_mode: bool = False,
        mode: str = "a",
    ) -> H5SaverLowLevel:
        """A saver with the file at ``path`` open (created if ``new_file``)."""
        saver = cls(save_type)
        saver.init_file(
            file_name=as_location(path),
            new_file=new_file,
            metadata=metadata,
            swmr_mode=swmr_mode,
            mode=mode,
        )
        return saver

    # -- file ---------------------------------------------------------------------------------

    @property
    def raw_group(self) -> GROUP | str:
        """The group holding the data (``/RawData``)."""
        return self._raw_group

    @property
    def h5_file(self) -> Any:
        """The open h5py file, or None."""
        return self._h5file

    def init_file(
        self,
        file_name: Path | str,
        raw_group_name: str = "RawData",
        new_file: bool = False,
        metadata: dict[str, Any] | None = None,
        swmr_mode: bool = False,
        mode: str = "a",
        *,
        exclusive: bool = False,
    ) -> bool:
        """Open ``file_name`` (a suffix without ``h5`` becomes ``.h5``), creating it when
        ``new_file`` or when it does not exist (except with ``mode='r'``). With ``exclusive``,
        a file that exists is never replaced nor continued: :class:`ExistingFileError`, also
        for one another writer created after this one looked (another host creating the same
        HSDS domain).

        A new file gets PyMoDAQ's root attributes (``file``, ``date``, ``time``), the raw-data
        group with its ``type`` and ``metadata``, and the ``Logger``. Returns True if a new
        file was created.
        """
        if not isinstance(file_name, str | Path):
            raise InvalidArgumentError(
                f"file_name: expected a pathlib.Path or str, got {describe(file_name)}"
            )
        check_node_name(raw_group_name, "raw_group_name")
        if metadata is not None and not (
            isinstance(metadata, Mapping) and all(isinstance(key, str) for key in metadata)
        ):
            raise InvalidArgumentError(
                f"metadata: expected None or a mapping with str keys, got {describe(metadata)}"
            )
        fullpath, name, folder = file_to_open(file_name)
        engine = self._select_engine(fullpath)
        if not engine.folder_exists(fullpath):
            raise MissingFileError(
                f"file_name: expected a file in an existing folder, got {file_name}, whose "
                "folder does not exist"
            )
        # Without the capability SWMR calls are no-ops: a file is readable as it grows.
        swmr_mode = swmr_mode and engine.capabilities.swmr
        now = datetime.datetime.now()
        replace = new_file and not exclusive
        new_file = new_file or exclusive
        if not engine.file_exists(fullpath):
            if mode == "r" and not new_file:
                raise MissingFileError(
                    f"file_name: expected an existing file to open read-only, got {fullpath}, "
                    "which does not exist"
                )
            new_file = True
        elif swmr_mode and not new_file and not engine.is_swmr_compatible(Path(fullpath)):
            raise InvalidArgumentError(
                f"swmr_mode: expected a file created SWMR-capable, got {fullpath}, which was "
                "not; open it with swmr_mode=False, or pass new_file=True to replace it"
            )
        elif swmr_mode and not new_file and mode != "r":
            _refuse_swmr_before_the_110_format(Path(fullpath))
        self.h5_file_name = name
        self.h5_file_path = folder
        self._raw_group_name = raw_group_name
        self.close_file()
        created = False
        if new_file:
            try:
                create = "w" if replace else "w-"  # never replace a file not asked to
                self.open_file(fullpath, create, title=DEFAULT_TITLE, swmr_mode=swmr_mode)
                created = True
            except FileExistsError as exc:
                if exclusive:
                    raise ExistingFileError(
                        errno.EEXIST,
                        f"file_name: expected a location where no file exists yet (it is "
                        f"created exclusively), got {fullpath}, which exists; to replace it "
                        "pass new_file=True, to continue it new_file=False",
                    ) from exc
                if replace:
                    raise
                # Created since it was looked for, by another writer (another host creating
                # the same HSDS domain at the same moment): continued, as if it had been there.
        if not created:
            self.open_file(fullpath, mode, title=DEFAULT_TITLE, swmr_mode=swmr_mode)
        if not created and mode == "r":
            self._raw_group = self._get_group(f"/{raw_group_name}")
            logger = self.get_children(self._raw_group).get(LOGGER_NAME)
            self._logger_array = logger if isinstance(logger, StringARRAY) else None
        else:
            if not created:
                self._finish_interrupted_swmr()
            self._build_skeleton(created, replace, now, metadata)
        self.file_loaded = True
        return created

    def _build_skeleton(
        self,
        created: bool,
        replace: bool,
        now: datetime.datetime,
        metadata: dict[str, Any] | None,
        reopened: bool = False,
    ) -> None:
        """Get or create the raw group and the ``Logger`` of the file just opened (``created``
        if this writer created it) and show them to other writers; a created file gets its
        attributes, from this writer only: several hosts writing one domain all get or create
        the skeleton, but exactly one created the domain. If another writer created the
        skeleton first, the file is opened again (``reopened``) and the skeleton taken as it
        is."""
        if created and reopened:
            # The root's attributes the creation wrote were let go of with the first opening.
            file = self.h5file
            assert file is not None
            for key, value in root_attrs(DEFAULT_TITLE, self._swmr_mode).items():
                with h5_errors(file, f"set attribute {key!r}"):
                    file.attrs[key] = value
        try:
            self._raw_group = self.get_set_group(
                self.root(), self._raw_group_name, title="Data from PyMoDAQ modules"
            )
            self.get_set_logger(self._raw_group)
            self._publish()  # other writers of a shared domain see the skeleton now
        except SharedNodeConflictError:
            if replace:
                raise
            # Another writer created the skeleton meanwhile: opened again as it is now.
            location, swmr_mode = self.file_path, self._swmr_mode
            assert location is not None
            self.let_go_of_file()
            self.open_file(location, "a", title=DEFAULT_TITLE, swmr_mode=swmr_mode)
            self._build_skeleton(created, replace, now, metadata, reopened=True)
            return
        if created:
            self._raw_group.attrs["type"] = self.save_type.name
            root = self.root()
            root.attrs["file"] = self.h5_file_name
            root.attrs["date"] = now.date().isoformat()
            root.attrs["time"] = now.time().isoformat()
            for key, value in (metadata or {}).items():
                self._raw_group.attrs[key] = value

    def _finish_interrupted_swmr(self) -> None:
        """A writer killed under SWMR leaves ``shape`` attributes behind and log lines in
        staging arrays, which PyMoDAQ does not read: bring them up to date before continuing
        (before anything is appended, so that the lines keep their order)."""
        file = self.h5file
        assert file is not None
        if bool(file.attrs.get("swmr_active", False)):
            # The flag is cleared last: a fold interrupted again is finished next time.
            fold_staged_strings(file, flush=self.flush)
            self.reconcile_swmr_attrs()

    def close_file(self) -> None:
        """Flush and close the file (no-op when none is open)."""
        self._logger_array = None
        super().close_file()

    def reopen(self, *, moved_ok: bool = False) -> None:
        """Close the file and open it again for appending, keeping its SWMR capability and
        without taking HDF5's file lock (SWMR readers may hold it); the raw group and the
        Logger are those of the reopened file. The same file, never another: see
        :meth:`H5Backend.reopen` for ``moved_ok``."""
        super().reopen(moved_ok=moved_ok)
        self._raw_group = self._get_group(f"/{self._raw_group_name}")
        logger = self.get_children(self._raw_group).get(LOGGER_NAME)
        self._logger_array = logger if isinstance(logger, StringARRAY) else None

    def save_file(self, filename: Path | str | None = None) -> None:
        """Write a copy of the file, as it is once flushed, to ``filename``."""
        if filename is None or str(filename) == "":
            raise InvalidArgumentError(
                f"filename: expected the path of the copy to write, got {describe(filename)}"
            )
        if Path(filename).is_dir():
            raise InvalidArgumentError(
                f"filename: expected the path of a file to write the copy to, got {filename}, "
                "a folder"
            )
        self.save_file_as(filename)

    # -- flushing -----------------------------------------------------------------------------

    def set_swmr_flush_interval(self, interval: int) -> None:
        """Flush every ``interval`` writes while SWMR is on (0: only at the end)."""
        check_count(interval, "interval", expected="a non-negative int")
        self._flush_interval = interval
        self._write_count = 0

    def tick_flush(self) -> None:
        """Count one write, and flush if SWMR is on and the interval is reached."""
        if not self.is_swmr_active or self._flush_interval <= 0:
            return
        self._write_count += 1
        if self._write_count % self._flush_interval == 0:
            self.flush()

    # -- logger and strings -------------------------------------------------------------------

    def get_set_logger(self, where: Any = None) -> StringARRAY:
        """The ``Logger`` string array under ``where`` (the raw group by default), created if
        absent; log lines go to it."""
        if where is None:
            where = self.raw_group
        children = self.get_children(where)
        existing = children.get(LOGGER_NAME)
        if existing is None:
            logger = self.add_string_array(where, LOGGER_NAME)
            logger.attrs["type"] = "log"
        elif isinstance(existing, StringARRAY):
            logger = existing
        else:
            raise NodeKindError(
                f"expected {existing.path} to be a string array, got a {existing.kind}"
            )
        self._logger_array = logger
        return logger

    def add_log(self, msg: str) -> None:
        """Append a line to the ``Logger``."""
        if self._logger_array is None:
            if self.isopen():
                self._writable_file("add a log line")
            raise ClosedFileError(
                "add_log: expected an open file with a Logger, got none (call init_file first)"
            )
        self._logger_array.append(msg)

    # -- groups -------------------------------------------------------------------------------

    def get_set_group(self, where: Any, name: str, title: str = "", **kwargs: Any) -> GROUP:
        """The group ``name`` under ``where``, created if absent; it becomes the current group."""
        self._current_group = super().get_set_group(where, name, title, **kwargs)
        return self._current_group

    def get_groups(self, where: Any, group_type: GroupType | str) -> list[Node]:
        """The children of ``where`` whose ``type`` attribute is ``group_type``."""
        type_name = group_type_name(group_type).lower()
        groups = []
        for child in self.get_children(where).values():
            kind = child.attrs.get("type")
            if isinstance(kind, str) and kind.lower() == type_name:
                groups.append(child)
        return groups

    def get_last_group(self, where: Any, group_type: GroupType | str) -> Node | None:
        """The last child of ``where`` of type ``group_type``, or None."""
        groups = self.get_groups(where, group_type)
        return groups[-1] if groups else None

    def get_node_from_attribute_match(
        self, where: Any, attr_name: str, attr_value: Any
    ) -> Node | None:
        """The first node under ``where`` (walked as PyMoDAQ does) whose attribute
        ``attr_name`` equals ``attr_value``, or None."""
        for node in self.walk_nodes(where):
            if attr_name in node.attrs and node.attrs[attr_name] == attr_value:
                return node
        return None

    def get_node_from_title(self, where: Any, title: str) -> Node | None:
        """The first node under ``where`` whose ``TITLE`` is ``title``, or None."""
        return self.get_node_from_attribute_match(where, "TITLE", title)

    def add_data_group(
        self,
        where: Any,
        data_dim: DataDim | str,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
        group_name: str | None = None,
    ) -> GROUP:
        """A data group (``Data0D``, ``Data1D``... or ``group_name``) under ``where``."""
        dimension = coerce_enum(DataDim, data_dim, "data_dim")
        attributes = {**(metadata or {}), "settings": settings_as_xml}
        return self.add_group(
            group_name or dimension.name, GroupType.data, where, title, attributes
        )

    def add_incremental_group(
        self,
        group_type: GroupType | str,
        where: Any,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> GROUP:
        """A new group ``<Type>NNN`` under ``where``, numbered one past the highest existing
        (``Detector000``, ``Detector001``...)."""
        type_name = incremental_type(group_type)
        name, type_attr = incremental_group(type_name, self.get_children(where))
        group = self.get_set_group(where, name, title)
        group.attrs["settings"] = settings_as_xml
        group.attrs["type"] = type_attr
        for key, value in (metadata or {}).items():
            group.attrs[key] = value
        return group

    add_act_group = _incremental_group_method(
        "add_act_group", "actuator", "A new ``ActuatorNNN`` group."
    )
    add_det_group = _incremental_group_method(
        "add_det_group", "detector", "A new ``DetectorNNN`` group."
    )
    add_move_group = _incremental_group_method(
        "add_move_group",
        "actuator",
        "A new ``ActuatorNNN`` group (PyMoDAQ files moves as actuators).",
    )
    add_ch_group = _incremental_group_method(
        "add_ch_group",
        "ch",
        "A new ``ChNNN`` channel group (its ``type`` is empty, as in PyMoDAQ).",
    )

    def add_generic_group(
        self,
        where: Any = "/RawData",
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
        group_type: GroupType | str = GroupType.scan,
    ) -> GROUP:
        """A new incremental group of ``group_type``, with an empty ``description``."""
        attributes = {**(metadata or {}), "description": ""}
        return self.add_incremental_group(group_type, where, title, settings_as_xml, attributes)

    def add_scan_group(
        self,
        where: Any = "/RawData",
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> GROUP:
        """A new ``ScanNNN`` group."""
        return self.add_generic_group(
            where, title, settings_as_xml, metadata, group_type=GroupType.scan
        )
