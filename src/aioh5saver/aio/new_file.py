"""``new_file=None``, the async saver's default: create a new file, never replace one.

An existing file (an acquisition, or anything else) at the path is refused with
:class:`ExistingFileError` before anything is written. The name is claimed with
``O_CREAT | O_EXCL`` (a domain: with its service's exclusive creation), so a file that appears
between a check and the creation is refused too, not truncated.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aioh5saver.errors import ExistingFileError, InvalidArgumentError, describe
from aioh5saver.sync.file_access import file_to_open

__all__ = ["check_new_file", "claimed_new_file", "written_path"]


def check_new_file(new_file: object) -> bool | None:
    """``new_file`` if it is True (replace), False (continue) or None (create only)."""
    if new_file is not None and not isinstance(new_file, bool):
        raise InvalidArgumentError(
            "new_file: expected None (create a new file), True (replace an existing one) or "
            f"False (continue it), got {describe(new_file)}"
        )
    return new_file


def written_path(path: Path | str) -> Path | str:
    """The file the synchronous saver's ``init_file`` writes for ``path``: a suffix without
    ``h5`` becomes ``.h5``, as in PyMoDAQ."""
    if not isinstance(path, Path):
        return file_to_open(path)[0]
    return path if "h5" in path.suffix else path.with_name(f"{path.stem}.h5")


@contextmanager
def claimed_new_file(path: Path | str) -> Iterator[bool]:
    """Claim the name of the new file for ``path`` (created empty, exclusively); raise
    :class:`ExistingFileError` if something is there already. Yields whether the saver must
    still create the file exclusively (``init_file(..., exclusive=True)``): a domain (an
    ``hsds://`` location) is not claimed here, its service's exclusive creation is the claim.
    If the body fails, a claimed file is removed: it held nothing but what the body wrote."""
    target = written_path(path)
    if not isinstance(target, Path):
        yield True
        return
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError as exc:
        if target.is_dir():
            message = f"path: expected the path of a new file, got {target}, a folder"
        else:
            message = (
                f"path: expected a path where no file exists yet (new_file=None creates a new "
                f"file), got {target}, which exists; pass new_file=True to replace it or "
                "new_file=False to continue it"
            )
        raise ExistingFileError(errno.EEXIST, message) from exc
    os.close(descriptor)
    try:
        yield False
    except BaseException:
        target.unlink(missing_ok=True)
        raise
