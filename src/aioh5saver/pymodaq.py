"""Run PyMoDAQ's own savers, loaders, exporters and browser on aioh5saver: the opt-in switch.

PyMoDAQ users rarely call ``H5SaverLowLevel`` alone: ``pymodaq_data.h5modules.data_saving``
(``DataToExportSaver``, ``DataToExportEnlargeableSaver``, ``DataToExportTimedSaver``,
``DataToExportExtendedSaver``, ``DataLoader``...) builds the PyMoDAQ layout on top of it, the
exporters (``txt``, ``npy``) write nodes out, and ``H5BrowserUtil`` reads files for the browser.
After::

    import aioh5saver.pymodaq
    aioh5saver.pymodaq.install()

they all run on aioh5saver: the h5py saver that reads without ``eval`` or ``pickle.loads``.

What :func:`install` does, and :func:`uninstall` undoes (both idempotent):

- It rebinds, in the pymodaq_data modules that imported them, the names those modules look up
  when they run: ``H5SaverLowLevel`` in ``saving``, ``data_saving`` and ``browsing`` becomes
  :class:`aioh5saver.H5SaverLowLevel` (so ``DataLoader(path)`` and the other path-taking
  constructors open files with it), and ``GROUP``, ``CARRAY``, ``EARRAY`` and ``Node`` in
  ``data_saving`` become aioh5saver's node classes, against which the loaders' ``isinstance``
  tests then hold. pymodaq_data's own node classes and its ``H5Backend`` are left alone
  (``backends`` defines them, and its ``tables`` backend keeps working for whoever uses it).
- ``browsing.H5BrowserUtil`` becomes a subclass of aioh5saver's saver with the browser's own
  methods (``export_data``, ``get_h5file_scans``, ``get_h5_attributes``). aioh5saver has only
  the h5py backend, so the browser's default (and an explicit ``backend='tables'``, which only
  chose how to read) reads through h5py.
- aioh5saver's :class:`~aioh5saver.NodeNotFoundError` also derives from pymodaq_data's
  ``NodeError`` (``backends.NodeError`` is added to its bases), so every ``except NodeError``
  catches it, wherever ``NodeError`` was imported from and whenever: pymodaq_data's
  ``DataSaverLoader`` probes for an ``ErrorBar`` sibling that way. It stays a
  :class:`~aioh5saver.SaverError` and a ``KeyError``.

Modules that copied ``H5SaverLowLevel`` or a node class into their own namespace *before*
:func:`install` (``from pymodaq_data.h5modules.saving import H5SaverLowLevel`` at the top of an
application module) keep the class they copied: call :func:`install` first, at start-up. After
:func:`install`, give pymodaq_data's savers and loaders aioh5saver savers (theirs are built from
aioh5saver's node classes).

``import aioh5saver`` never imports pymodaq_data; only :func:`install` does.
"""

from __future__ import annotations

import importlib
from typing import Any

from aioh5saver.errors import NodeNotFoundError
from aioh5saver.sync.nodes import CARRAY, EARRAY, GROUP, Node
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["install", "installed", "uninstall"]

_PACKAGE = "pymodaq_data.h5modules"

#: module (under pymodaq_data.h5modules) -> name -> aioh5saver's object put in its place.
_REBOUND: dict[str, dict[str, object]] = {
    "saving": {"H5SaverLowLevel": H5SaverLowLevel},
    "data_saving": {
        "H5SaverLowLevel": H5SaverLowLevel,
        "GROUP": GROUP,
        "CARRAY": CARRAY,
        "EARRAY": EARRAY,
        "Node": Node,
    },
    "browsing": {"H5SaverLowLevel": H5SaverLowLevel},
}

#: What install() replaced: (module, name) -> the original object; empty when not installed.
_originals: dict[tuple[Any, str], object] = {}
_node_not_found_bases: tuple[type, ...] | None = None


def installed() -> bool:
    """True while :func:`install` is in effect."""
    return bool(_originals)


def install() -> None:
    """Make pymodaq_data's savers, loaders, exporters and browser run on aioh5saver (see the
    module docstring). Idempotent; :func:`uninstall` restores pymodaq_data as it was."""
    global _node_not_found_bases
    if installed():
        return
    backends = importlib.import_module(f"{_PACKAGE}.backends")
    modules = {name: importlib.import_module(f"{_PACKAGE}.{name}") for name in _REBOUND}
    replacements: list[tuple[Any, str, object]] = [
        (modules[module], name, ours)
        for module, names in _REBOUND.items()
        for name, ours in names.items()
    ]
    browsing = modules["browsing"]
    replacements.append((browsing, "H5BrowserUtil", _browser_class(browsing.H5BrowserUtil)))
    for module, name, ours in replacements:
        _originals[(module, name)] = getattr(module, name)
        setattr(module, name, ours)
    node_error: type = backends.NodeError
    if not issubclass(NodeNotFoundError, node_error):
        _node_not_found_bases = NodeNotFoundError.__bases__
        NodeNotFoundError.__bases__ = (*NodeNotFoundError.__bases__, node_error)


def uninstall() -> None:
    """Undo :func:`install`: pymodaq_data's modules get their own classes back, and
    :class:`~aioh5saver.NodeNotFoundError` its own bases. Idempotent."""
    global _node_not_found_bases
    for (module, name), original in _originals.items():
        setattr(module, name, original)
    _originals.clear()
    if _node_not_found_bases is not None:
        NodeNotFoundError.__bases__ = _node_not_found_bases
        _node_not_found_bases = None


def _browser_class(original: type) -> type:
    """pymodaq_data's ``H5BrowserUtil`` rebuilt on aioh5saver's saver: its own methods, with an
    ``__init__`` that reads through h5py whatever backend was asked for."""
    namespace = {
        name: value
        for name, value in vars(original).items()
        if name not in {"__dict__", "__weakref__", "__init__"}
    }

    def __init__(self: H5SaverLowLevel, backend: str | None = "h5py") -> None:
        # The browser's backend only chose how files are read; aioh5saver reads with h5py.
        H5SaverLowLevel.__init__(self, backend="h5py" if backend in {None, "tables"} else backend)

    namespace["__init__"] = __init__
    namespace["__doc__"] = (
        f"{original.__doc__ or ''}\n\n    Rebuilt by aioh5saver.pymodaq.install() on "
        "aioh5saver.H5SaverLowLevel (h5py, reading without eval or pickle)."
    )
    return type(original.__name__, (H5SaverLowLevel,), namespace)
