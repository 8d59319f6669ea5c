"""The ``aioh5saver`` command line: ``demo``, ``inspect``, ``follow``, ``recover``, ``bench``,
``view``, ``export`` (an HSDS domain to a local file), ``import`` (a local file to a domain).

Whatever the user can fix (a bad argument, a missing or unreadable file, an error the library
raises) ends with exactly one line on stderr, ``aioh5saver <command>: error: ...``, and exit
status 2; Ctrl-C ends with status 130. Neither prints a traceback. Anything else is a bug and
keeps its traceback, so that it can be reported.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import anyio

from aioh5saver.errors import SaverError
from aioh5saver.format.layout import package_version
from aioh5saver.tools.arguments import UsageError, positive_seconds
from aioh5saver.tools.console import out, say
from aioh5saver.tools.demo.display import Display, make_display, summary_lines
from aioh5saver.tools.file_commands import (
    EXIT_WRITER_GONE,
    add_follow,
    add_inspect,
    add_recover,
    existing_file,
)

if TYPE_CHECKING:
    from aioh5saver.tools.demo.acquisition import DemoSummary

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_WRITER_GONE",
    "UsageError",
    "build_parser",
    "main",
]

PROG = "aioh5saver"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what shells report when the reader of a pipe quits

DEMO_SECONDS = 10.0

Handler = Callable[[argparse.Namespace, list[str]], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument raises :class:`UsageError` (one line, no usage dump)
    instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, f"{message} (see '{self.prog} --help')")


# -- the parser --------------------------------------------------------------------------------


class _VersionAction(argparse.Action):
    """``--version``: prints the installed package's version (what ``aioh5saver.__version__``
    says too), looked up only when asked for, and exits."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version"
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        out(f"{PROG} {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``aioh5saver`` parser and its subcommands (each sets ``handler``)."""
    parser = _Parser(
        prog=PROG,
        description="Write, inspect, follow and recover PyMoDAQ HDF5 files with aioh5saver.",
        epilog="Errors: one line on stderr and exit status 2; Ctrl-C: exit status 130.",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_demo(commands)
    add_inspect(commands)
    add_follow(commands)
    add_recover(commands)
    _add_bench(commands)
    _add_view(commands)
    _add_export(commands)
    _add_import(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[_Parser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="simulate an acquisition with async instruments writing one file",
        description="Simulate an acquisition: a 0D detector (~1 kHz), a spectrometer (2048 "
        "points, ~100 Hz), a camera (512x512 uint16, ~20 Hz) that joins late, and a stage whose "
        "moves are logged, each its own coroutine, all writing one PyMoDAQ file through one "
        "AsyncH5Saver. Shows live progress (rich, if installed and on a terminal; otherwise a "
        "line per second) and ends with a summary and the file's path. The file is about 9 MB "
        "per second of acquisition (about 90 MB for the default 10 s), written in the current "
        "folder unless --out says where (a scratch folder: --out /tmp); it is kept, for "
        "'aioh5saver inspect' and PyMoDAQ to read: delete it when done.",
        epilog="The 'dropped' column counts the frames a frame-based instrument (spectrometer, "
        "camera, stage read-back) skipped because the event loop woke it after its next frame "
        "was due: it then delivers only the newest frame, as real hardware does. The "
        "photodiode is buffered, like a DAQ card's FIFO, and delivers every sample, late. A "
        "few dropped spectra in a thousand mean a busy machine; many mean that something held "
        "the event loop.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="the file to write, or an existing folder to write it in (default: "
        "./demo-YYYYmmdd-HHMMSS.h5 in the current folder); an existing file is refused "
        "unless --force",
    )
    demo.add_argument("--force", action="store_true", help="overwrite the --out file if it exists")
    demo.add_argument(
        "--seconds",
        type=positive_seconds,
        default=DEMO_SECONDS,
        metavar="S",
        help="how long to acquire, in seconds (default: %(default)g)",
    )
    demo.add_argument(
        "--swmr",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write under SWMR so that readers can follow the file live (default: on)",
    )
    demo.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop to run on (default: %(default)s)",
    )
    demo.set_defaults(handler=_run_demo)


def _add_bench(commands: argparse._SubParsersAction[_Parser]) -> None:
    # Its options (and --help) are the harness's, parsed by _run_bench: the harness and its
    # dependencies are imported only when it runs.
    bench = commands.add_parser(
        "bench", help="run the benchmark harness and write its report", add_help=False
    )
    bench.set_defaults(handler=_run_bench, passes_unknown=True)


def _add_view(commands: argparse._SubParsersAction[_Parser]) -> None:
    from aioh5saver.tools.view.command import VIEW_DESCRIPTION, VIEW_HELP, add_view_arguments

    view = commands.add_parser("view", help=VIEW_HELP, description=VIEW_DESCRIPTION)
    add_view_arguments(view)
    view.set_defaults(handler=_run_view)


def _add_export(commands: argparse._SubParsersAction[_Parser]) -> None:
    export = commands.add_parser(
        "export",
        help="copy an HSDS domain to a local HDF5 file",
        description="Copy an HSDS domain (hsds://host:port/folder/name.h5) to a local HDF5 "
        "file that PyMoDAQ reads as a file aioh5saver wrote locally: the same tree, attributes, "
        "data, Logger and hard links. Credentials come from h5pyd's configuration "
        "(HS_USERNAME, HS_PASSWORD, ~/.hscfg).",
    )
    export.add_argument("location", metavar="hsds://HOST:PORT/FOLDER/NAME.h5")
    export.add_argument("target", type=Path, metavar="PATH", help="the local file to write")
    export.add_argument("--force", action="store_true", help="replace PATH if it exists")
    export.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.engine.hsds_copy import export_domain

    summary = export_domain(args.location, args.target, overwrite=args.force)
    out(
        f"{args.target}: {summary.groups} groups, {summary.arrays} arrays, "
        f"{summary.links} hard links, {summary.bytes} bytes of data"
    )
    return EXIT_OK


def _add_import(commands: argparse._SubParsersAction[_Parser]) -> None:
    imported = commands.add_parser(
        "import",
        help="copy a local HDF5 file to a new HSDS domain",
        description="Copy a local PyMoDAQ/aioh5saver HDF5 file to a new HSDS domain "
        "(hsds://host:port/folder/name.h5) that the savers, inspect and export read as one "
        "aioh5saver wrote there: the same tree, attributes, data, Logger and hard links "
        "(h5pyd's hsload fails on a PyMoDAQ file). Credentials come from h5pyd's configuration "
        "(HS_USERNAME, HS_PASSWORD, ~/.hscfg).",
    )
    imported.add_argument("source", type=Path, metavar="PATH", help="the local file to copy")
    imported.add_argument("location", metavar="hsds://HOST:PORT/FOLDER/NAME.h5")
    imported.add_argument("--force", action="store_true", help="replace the domain if it exists")
    imported.set_defaults(handler=_run_import)


def _run_import(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.engine.hsds_import import import_file

    summary = import_file(args.source, args.location, overwrite=args.force)
    out(
        f"{args.location}: {summary.groups} groups, {summary.arrays} arrays, "
        f"{summary.links} hard links, {summary.bytes} bytes of data"
    )
    return EXIT_OK


# -- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    prog = PROG
    try:
        args, extra = parser.parse_known_args(None if argv is None else list(argv))
        if args.command is None:
            raise UsageError(
                PROG,
                "expected a command: demo, inspect, follow, recover, bench, view, export or import "
                "(see --help)",
            )
        prog = f"{PROG} {args.command}"
        if extra and not getattr(args, "passes_unknown", False):
            raise UsageError(prog, f"unrecognized arguments: {' '.join(extra)}")
        handler: Handler = args.handler
        return handler(args, extra)
    except SystemExit as stop:  # --help, or a harness that exits by itself
        return _exit_status(stop, prog)
    except BaseException as exc:  # sorted by _classify; bugs are re-raised
        if any(isinstance(leaf, BrokenPipeError) for leaf in _leaves(exc)):
            return _stdout_closed()
        outcome = _classify(exc)
        if outcome is None:
            raise
        status, message = outcome
        if isinstance(exc, UsageError):
            prog = exc.prog
        say(f"{prog}: {message}")
        return status


def _stdout_closed() -> int:
    """The reader of our output went away (``aioh5saver follow ... | head``): not an error to
    report. Point stdout at /dev/null so that flushing it at exit fails no more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _classify(exc: BaseException) -> tuple[int, str] | None:
    """The exit status and message of an exception the user should see as one line, or None
    for a bug. Task groups wrap errors in exception groups: their leaves decide."""
    leaves = list(_leaves(exc))
    if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        return EXIT_INTERRUPTED, "interrupted"
    if leaves and all(isinstance(leaf, UsageError | SaverError | OSError) for leaf in leaves):
        return EXIT_USAGE, f"error: {_describe(leaves[0])}"
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _describe(exc: BaseException) -> str:
    """One line: the library's messages already say what was expected and given; a bare
    OSError is shown as its reason and file name."""
    if isinstance(exc, UsageError):
        text = exc.message
    elif isinstance(exc, OSError) and not isinstance(exc, SaverError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _exit_status(stop: SystemExit, prog: str) -> int:
    code = stop.code
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    say(" ".join(str(code).split()) if str(code).startswith(PROG) else f"{prog}: error: {code}")
    return EXIT_USAGE


# -- demo --------------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace, extra: list[str]) -> int:
    prog = f"{PROG} demo"
    path = _demo_path(args.out, args.force, prog)
    backend = _backend(args.backend, prog)
    seconds: float = args.seconds
    display = make_display(seconds, args.swmr, backend, _demo_bytes(seconds))
    try:
        summary = _run_demo_loop(path, seconds, args.swmr, args.force, backend, display)
    except BaseException as exc:
        display.close()
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in _leaves(exc)) and path.exists():
            say(f"{prog}: interrupted; the file was closed with what was written: {path.resolve()}")
            return EXIT_INTERRUPTED
        raise
    display.close()
    for line in summary_lines(summary):
        out(line)
    return EXIT_OK


def _run_demo_loop(
    path: Path, seconds: float, swmr: bool, force: bool, backend: str, display: Display
) -> DemoSummary:
    from aioh5saver.tools.demo.acquisition import run_demo

    async def go() -> DemoSummary:
        return await run_demo(
            path,
            seconds,
            swmr,
            overwrite=force,
            progress=display.update,
            on_started=display.started,
        )

    return anyio.run(go, backend=backend)


def _demo_bytes(seconds: float) -> int:
    from aioh5saver.tools.demo.acquisition import default_instruments, expected_bytes

    return expected_bytes(default_instruments(seconds), seconds)


def _demo_path(out: Path | None, force: bool, prog: str) -> Path:
    """Where the demo writes: ``out``, or a timestamped name in ``out`` (a folder) or in the
    current folder. Refuses a missing folder, and an existing file unless ``force``."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if out is None or out.is_dir():
        folder = Path.cwd() if out is None else out
        path = folder / f"demo-{stamp}.h5"
        counter = 1
        while path.exists() and not force:  # two demos in the same second
            counter += 1
            path = folder / f"demo-{stamp}-{counter}.h5"
        return path
    folder = out.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(prog, f"--out: the folder {folder} {what}")
    if out.exists() and not force:
        raise UsageError(prog, f"--out: {out} exists; pass --force to overwrite it")
    return out


def _backend(name: str, prog: str) -> str:
    if name == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            raise UsageError(
                prog, "--backend trio: trio is not installed (pip install trio)"
            ) from None
    return name


# -- inspect, follow, recover, bench -----------------------------------------------------------


def _run_bench(args: argparse.Namespace, extra: list[str]) -> int:
    # Imported here: the harness pulls in its own dependencies, which the other commands
    # never need.
    from aioh5saver.tools.bench.cli import DESCRIPTION, add_bench_options, run_bench

    parser = _Parser(prog=f"{PROG} bench", description=DESCRIPTION)
    add_bench_options(parser)
    return run_bench(parser.parse_args(extra))


def _run_view(args: argparse.Namespace, extra: list[str]) -> int:
    prog = f"{PROG} view"
    path = existing_file(args.path, prog)
    try:
        import h5grove  # noqa: F401
    except ImportError:
        raise UsageError(
            prog, "the live view needs the 'view' extra: pip install 'aioh5saver[view]'"
        ) from None
    from aioh5saver.tools.view.command import run_view

    run_view(path, host=args.host, port=args.port, refresh_seconds=args.refresh, say=out)
    return EXIT_OK
