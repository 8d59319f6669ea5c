"""The ``aioh5saver`` command line: ``demo``, ``inspect``, ``follow``, ``recover``, ``bench``,
``export`` (an HSDS domain to a local file).

Whatever the user can fix (a bad argument, a missing or unreadable file, an error the library
raises) ends with exactly one line on stderr, ``aioh5saver <command>: error: ...``, and exit
status 2; Ctrl-C ends with status 130. Neither prints a traceback. Anything else is a bug and
keeps its traceback, so that it can be reported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

import anyio

from aioh5saver.errors import SaverError
from aioh5saver.tools.arguments import non_negative_int, positive_seconds
from aioh5saver.tools.console import out, say
from aioh5saver.tools.demo.display import Display, make_display, summary_lines

if TYPE_CHECKING:
    from aioh5saver.tools.demo.acquisition import DemoSummary

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
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


class UsageError(Exception):
    """A mistake the user can fix: reported as one line, exit status 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument raises :class:`UsageError` (one line, no usage dump)
    instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, f"{message} (see '{self.prog} --help')")


# -- the parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``aioh5saver`` parser and its subcommands (each sets ``handler``)."""
    parser = _Parser(
        prog=PROG,
        description="Write, inspect, follow and recover PyMoDAQ HDF5 files with aioh5saver.",
        epilog="Errors: one line on stderr and exit status 2; Ctrl-C: exit status 130.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_demo(commands)
    _add_inspect(commands)
    _add_follow(commands)
    _add_recover(commands)
    _add_bench(commands)
    _add_export(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[_Parser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="simulate an acquisition with async instruments writing one file",
        description="Simulate an acquisition: a 0D detector (~1 kHz), a spectrometer (2048 "
        "points, ~100 Hz), a camera (512x512 uint16, ~20 Hz) that joins late, and a stage whose "
        "moves are logged, each its own coroutine, all writing one PyMoDAQ file through one "
        "AsyncH5Saver. Shows live progress (rich, if installed and on a terminal; otherwise a "
        "line per second) and ends with a summary and the file's path.",
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


def _add_inspect(commands: argparse._SubParsersAction[_Parser]) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="print the tree of a PyMoDAQ/aioh5saver file",
        description="Print the tree of a PyMoDAQ/aioh5saver file: groups, datasets with shape "
        "and dtype, decoded attributes (never evaluated) and the last log lines. Safe to run "
        "while another process writes the file.",
    )
    inspect.add_argument("path", type=Path, metavar="PATH", help="the HDF5 file")
    inspect.add_argument(
        "--log-lines",
        type=non_negative_int,
        default=5,
        metavar="N",
        help="how many of the last log lines to show (default: %(default)s)",
    )
    inspect.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="S",
        help="give up if the file cannot be read within S seconds (default: %(default)g)",
    )
    inspect.set_defaults(handler=_run_inspect)


def _add_follow(commands: argparse._SubParsersAction[_Parser]) -> None:
    follow = commands.add_parser(
        "follow",
        help="follow a file being written under SWMR, live",
        description="Follow a file another process writes under SWMR: print each enlargeable "
        "array's row count and rate as it grows, including arrays that appear mid-run; exit "
        "when the writer closes the file, or after --seconds.",
    )
    follow.add_argument("path", type=Path, metavar="PATH", help="the HDF5 file")
    follow.add_argument(
        "--seconds",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="stop after S seconds even if the writer still has the file open",
    )
    follow.set_defaults(handler=_run_follow)


def _add_recover(commands: argparse._SubParsersAction[_Parser]) -> None:
    recover = commands.add_parser(
        "recover",
        help="make a file left by a killed writer openable again",
        description="Make a file left by a killed SWMR writer openable again (what 'h5clear -s' "
        "does: clear the superblock's write-in-progress marks), report what it holds, and "
        "change nothing else.",
    )
    recover.add_argument("path", type=Path, metavar="PATH", help="the HDF5 file")
    recover.set_defaults(handler=_run_recover)


def _add_bench(commands: argparse._SubParsersAction[_Parser]) -> None:
    bench = commands.add_parser(
        "bench",
        help="run the benchmark harness and write its report",
        description="Run the benchmark harness (aioh5saver against pymodaq_data, lock+to_thread "
        "h5py and raw os.write, with an idle event loop's lag as the machine's own) and write "
        "its report. Other options are passed on to the harness unchanged.",
    )
    bench.add_argument("--quick", action="store_true", help="small sizes, for a quick look")
    bench.add_argument(
        "--out", type=Path, metavar="DIR", help="the report folder (default: the harness's)"
    )
    bench.set_defaults(handler=_run_bench, passes_unknown=True)


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
                "expected a command: demo, inspect, follow, recover, bench or export (see --help)",
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


def _existing_file(path: Path, prog: str) -> Path:
    if path.is_dir():
        raise UsageError(prog, f"{path} is a folder, not an HDF5 file")
    if not path.exists():
        raise UsageError(prog, f"no such file: {path}")
    return path


# -- demo --------------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace, extra: list[str]) -> int:
    prog = f"{PROG} demo"
    path = _demo_path(args.out, args.force, prog)
    backend = _backend(args.backend, prog)
    seconds: float = args.seconds
    display = make_display(seconds, args.swmr, backend)
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


def _run_inspect(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.tools.inspect import inspect_file
    from aioh5saver.tools.render import render_report

    path = _existing_file(args.path, f"{PROG} inspect")
    out(render_report(inspect_file(path, log_lines=args.log_lines, timeout=args.timeout)))
    return EXIT_OK


def _run_follow(args: argparse.Namespace, extra: list[str]) -> int:
    path = _existing_file(args.path, f"{PROG} follow")
    seconds: float | None = args.seconds
    until = "until the writer closes it" + ("" if seconds is None else f" or {seconds:g} s pass")
    header = f"following {path} {until}"
    closed = anyio.run(_follow, path, seconds, header)
    if not closed:
        out(f"stopped after {seconds:g} s; the writer still has the file open")
    return EXIT_OK


async def _follow(path: Path, seconds: float | None, header: str) -> bool:
    """Print ``header``, then each update; True if the writer closed the file. The header waits
    for the reader to start (or to end), so that a file it refuses prints nothing on stdout.

    The reader reports every array it sees for the first time as appeared; those of the first
    poll were there already ("found"), later ones appeared mid-run ("new array").
    """
    from aioh5saver.tools.follow import ArrayUpdate, WriterClosed, follow

    # follow() is an async generator (annotated as an AsyncIterator): close it when done, so
    # that it stops its reading process now rather than whenever it is collected.
    stream = cast(AsyncGenerator[ArrayUpdate | WriterClosed, None], follow(path, seconds=seconds))
    first_poll: float | None = None
    async with contextlib.aclosing(stream) as updates:
        async for event in updates:
            if header:
                out(header)
                header = ""
            if isinstance(event, WriterClosed):
                out(f"{event.elapsed:7.2f} s  writer closed the file; final rows:")
                width = max((len(name) for name in event.arrays), default=0)
                for name, rows in sorted(event.arrays.items()):
                    out(f"  {name:<{width}}  {rows} rows")
                return True
            first_poll = event.elapsed if first_poll is None else first_poll
            if event.appeared:
                note = "found" if event.elapsed == first_poll else "new array"
                rate = f"({note})"
            else:
                rate = f"{event.rows_per_s:.1f} rows/s"
            out(
                f"{event.elapsed:7.2f} s  {event.path}  {event.rows} rows  +{event.new_rows}  "
                f"{rate}"
            )
    if header:
        out(header)
    return False


def _run_recover(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.tools.recover import recover, render_recovery

    path = _existing_file(args.path, f"{PROG} recover")
    out(render_recovery(recover(path)))
    return EXIT_OK


def _run_bench(args: argparse.Namespace, extra: list[str]) -> int:
    # Imported here: the harness pulls in its own dependencies, which the other commands
    # never need.
    from aioh5saver.tools.bench.cli import main as bench_main

    argv = (["--quick"] if args.quick else []) + (
        [] if args.out is None else ["--out", str(args.out)]
    )
    return bench_main(argv + extra)
