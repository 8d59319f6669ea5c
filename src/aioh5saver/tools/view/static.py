"""The viewer's front end as shipped in the package (``static/``, built from ``viewer/`` by
``viewer/build.mjs``): the files the server may send, each read once, by exact name.

Only files found in the folder at start-up are served; a request names one of them or gets
nothing, so no path (``..``, an absolute one, a link) reaches anything else.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aioh5saver.errors import MissingFileError

__all__ = ["STAMP_NAME", "STATIC_DIR", "StaticFile", "load_static"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STAMP_NAME = "BUILD-STAMP.json"
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
}


@dataclass(frozen=True)
class StaticFile:
    """One file of the front end: its bytes and its content type."""

    body: bytes
    content_type: str


def load_static(folder: Path = STATIC_DIR) -> dict[str, StaticFile]:
    """The files under ``folder`` by URL path (``/`` is ``index.html``); raises
    :class:`MissingFileError` if there is no built front end."""
    index = folder / "index.html"
    if not index.is_file():
        raise MissingFileError(
            f"expected the viewer's built front end at {index}, got no such file; build it "
            "with 'npm --prefix viewer ci && npm --prefix viewer run build'"
        )
    files: dict[str, StaticFile] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        name = "/" + path.relative_to(folder).as_posix()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        files[name] = StaticFile(path.read_bytes(), kind or "application/octet-stream")
    files["/"] = files["/index.html"]
    return files
