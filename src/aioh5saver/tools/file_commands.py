"""The command line's commands on an existing file: ``inspect``, ``follow`` and ``recover``
(with ``--dry-run`` and ``--finish``): their options, and how each prints its answer.

:mod:`.cli` builds the parser with :func:`add_inspect`, :func:`add_follow` and
:func:`add_recover`, and reports the errors they raise (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio

from aioh5saver.tools.arguments import UsageError, non_negative_int, positive_seconds
from aioh5saver.tools.console import out

__all__ = [
    "EXIT_WRITER_GONE",
    "add_follow",
    "add_inspect",
    "add_recover",
    "existing_file",
]

PROG = "aioh5saver"
EXIT_OK = 0
EXIT_WRITER_GONE = 3  # follow: the file's writer died without closing it

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[Any]


def add_inspect(commands: Subcommands) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="print the tree of a PyMoDAQ/aioh5saver file",
        description="Print the tree of a PyMoDAQ/aioh5saver file: groups, datasets with shape "
        "and dtype, decoded attributes (never evaluated) and the last log lines. Safe to run "
        "while another process writes the file. PATH may be an HSDS domain, "
        "hsds://HOST:PORT/FOLDER/NAME.h5 (credentials from h5pyd's configuration).",
        epilog="By default the tree shows each node's kind, shape, dtype and how many "
        "attributes it has, but not the attributes: PyMoDAQ puts ten or more on every array, "
        "most of them bookkeeping the tree line already says (CLASS, EXTDIM, dtype, shape...), "
        "and listing them all buries the tree (the demo's file: a tree of 25 lines with them "
        "hidden, of over 200 with them). --attrs shows every attribute, decoded.",
    )
    inspect.add_argument(
        "path",
        type=file_or_domain,
        metavar="PATH",
        help="the HDF5 file, or hsds://HOST:PORT/FOLDER/NAME.h5",
    )
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
    inspect.add_argument(
        "--attrs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="show every attribute of every node, decoded (default: off, see below)",
    )
    inspect.add_argument(
        "--depth",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="show only the nodes at most N levels below the root (0: the root alone)",
    )
    inspect.add_argument(
        "--flat",
        action="store_true",
        help="one line per node with its full path, as 'h5ls -r' prints, instead of the tree",
    )
    inspect.set_defaults(handler=run_inspect)


def add_follow(commands: Subcommands) -> None:
    follow = commands.add_parser(
        "follow",
        help="follow a file being written under SWMR, live",
        description="Follow a file another process writes under SWMR: print each enlargeable "
        "array's row count and rate as it grows, including arrays that appear mid-run; exit "
        "when the writer closes the file, or after --seconds. A rate is the rows added over "
        "the time between the look that first saw the previous count and the one that saw "
        "the new count (rows become visible at each of the writer's flushes); an array's "
        "first change after it was found has no rate yet.",
        epilog="Exit status: 0 when the writer closed the file or --seconds passed with the "
        "writer still there; 3 when the writer is gone without closing the file (its "
        "superblock still says a writer has it open, but the file stopped changing and no "
        "process on this machine has it open for writing: a killed writer, whose file "
        "'aioh5saver recover' makes readable again); 2 for an error; 130 for Ctrl-C. On an "
        "HSDS domain (hsds://HOST:PORT/FOLDER/NAME.h5) rows show as its writers send them, "
        "and the writers have closed it once the arrays seen claimed by an appender (attribute "
        "aioh5saver_appender) are claimed no more; 3 when every claim left names a process of "
        "this machine that no longer exists.",
    )
    follow.add_argument(
        "path",
        type=file_or_domain,
        metavar="PATH",
        help="the HDF5 file, or hsds://HOST:PORT/FOLDER/NAME.h5",
    )
    follow.add_argument(
        "--seconds",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="stop after S seconds even if the writer still has the file open",
    )
    follow.add_argument(
        "--interval",
        type=positive_seconds,
        default=0.25,
        metavar="S",
        help="look at the file every S seconds (default: %(default)g)",
    )
    follow.set_defaults(handler=run_follow)


def add_recover(commands: Subcommands) -> None:
    recover = commands.add_parser(
        "recover",
        help="make a file left by a killed writer openable again (--finish: and whole for PyMoDAQ)",
        description="Make a file left by a killed SWMR writer openable again (what 'h5clear -s' "
        "does: clear the superblock's write-in-progress marks; and put back what a rollback "
        "journal saved), report what it holds, and change nothing else. Every change is "
        "decided and the file read as it would then be before anything is written: a file "
        "that would still be unreadable is left as it was. It changes the file in place: a "
        "copy made first is advised.",
        epilog="--finish also does what the killed writer's close would have done, so that "
        "PyMoDAQ reads every row and log line: it folds the log lines staged under SWMR "
        "(Logger__swmr_staging) into the Logger, sets each array's 'shape' attribute to its "
        "real rows and clears the 'swmr_active' flag; it writes through a rollback journal, "
        "so that a failure leaves the file as it was. Exit status: 0 done (or nothing to do), "
        "2 refused or failed (nothing changed).",
    )
    recover.add_argument("path", type=file_or_domain, metavar="PATH", help="the HDF5 file")
    recover.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would change and what the file would then hold; write nothing",
    )
    recover.add_argument(
        "--finish",
        action="store_true",
        help="then fold staged log lines, fix stale 'shape' attributes and clear "
        "'swmr_active', so that PyMoDAQ reads everything",
    )
    recover.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="S",
        help="give up if the file cannot be read within S seconds (default: %(default)g)",
    )
    recover.set_defaults(handler=run_recover)


def file_or_domain(text: str) -> Path | str:
    """A command's PATH: an ``hsds://`` location stays text (a Path would fold its ``//``)."""
    return text if text.startswith("hsds://") else Path(text)


def existing_file(path: Path, prog: str) -> Path:
    if path.is_dir():
        raise UsageError(prog, f"{path} is a folder, not an HDF5 file")
    if not path.exists():
        raise UsageError(prog, f"no such file: {path}")
    return path


def run_inspect(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.tools.inspect import inspect_file
    from aioh5saver.tools.render import render_report

    # A domain: the reading child says if it is missing.
    path = args.path if isinstance(args.path, str) else existing_file(args.path, f"{PROG} inspect")
    report = inspect_file(path, log_lines=args.log_lines, timeout=args.timeout)
    out(render_report(report, attrs=args.attrs, depth=args.depth, flat=args.flat))
    return EXIT_OK


def run_follow(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.tools.writer_state import writer_state

    # A domain: the reading child says if it is missing.
    path = args.path if isinstance(args.path, str) else existing_file(args.path, f"{PROG} follow")
    seconds: float | None = args.seconds
    until = "until the writer closes it" + ("" if seconds is None else f" or {seconds:g} s pass")
    header = f"following {path} {until}"
    end = anyio.run(_follow, path, seconds, args.interval, header)
    if end == "closed":
        return EXIT_OK
    if isinstance(path, str):  # a domain: no superblock, no recover
        return _domain_end(path, end, seconds)
    if end == "gone" or writer_state(str(path)) == "gone":
        if end != "gone":
            out(f"stopped after {seconds:g} s")
        out(
            f"the writer is gone: {path}'s superblock says a writer has it open, but no "
            "process on this machine has it open for writing (killed?); "
            f"'aioh5saver recover {path}' makes it readable by every HDF5 tool again"
        )
        return EXIT_WRITER_GONE
    out(f"stopped after {seconds:g} s; the writer still has the file open")
    return EXIT_OK


def _domain_end(location: str, end: str, seconds: float | None) -> int:
    """The exit status and last line of following a domain that did not end closed."""
    if end == "gone":
        out(
            f"the writer is gone: arrays of {location} are still claimed by processes of this "
            "machine that no longer exist (killed?); delete their attribute "
            "'aioh5saver_appender' to append to them again"
        )
        return EXIT_WRITER_GONE
    out(f"stopped after {seconds:g} s; a writer still holds the domain or has not appended yet")
    return EXIT_OK


async def _follow(path: Path | str, seconds: float | None, interval: float, header: str) -> str:
    """Print ``header``, then each update; return how following ended: ``"closed"`` (the
    writer closed the file), ``"gone"`` (its writer is gone without closing it) or
    ``"seconds"``. The header waits for the reader to start (or to end), so that a file it
    refuses prints nothing on stdout.

    The reader reports every array it sees for the first time as appeared; those of the first
    poll were there already ("found"), later ones appeared mid-run ("new array").
    """
    from aioh5saver.tools.follow import ArrayUpdate, WriterClosed, WriterGone, follow

    # follow() is an async generator (annotated as an AsyncIterator): close it when done, so
    # that it stops its reading process now rather than whenever it is collected.
    stream = cast(
        AsyncGenerator[ArrayUpdate | WriterClosed | WriterGone, None],
        follow(path, seconds=seconds, poll_interval=interval),
    )
    first_poll: float | None = None
    async with contextlib.aclosing(stream) as updates:
        async for event in updates:
            if header:
                out(header)
                header = ""
            if isinstance(event, WriterClosed | WriterGone):
                closed = isinstance(event, WriterClosed)
                what = "writer closed the file; final" if closed else "writer gone; last seen"
                out(f"{event.elapsed:7.2f} s  {what} rows:")
                width = max((len(name) for name in event.arrays), default=0)
                for name, rows in sorted(event.arrays.items()):
                    out(f"  {name:<{width}}  {_rows(rows)}")
                return "closed" if closed else "gone"
            first_poll = event.elapsed if first_poll is None else first_poll
            if event.appeared:
                note = "found" if event.elapsed == first_poll else "new array"
                rate = f"({note})"
            elif math.isnan(event.rows_per_s):
                rate = "(rate from its next change)"
            else:
                rate = f"{event.rows_per_s:.1f} rows/s"
            out(
                f"{event.elapsed:7.2f} s  {event.path}  {_rows(event.rows)}  +{event.new_rows}  "
                f"{rate}"
            )
    if header:
        out(header)
    return "seconds"


def run_recover(args: argparse.Namespace, extra: list[str]) -> int:
    from aioh5saver.tools.finish import finish, planned_finish, render_finish
    from aioh5saver.tools.recover import planned_changes, recover, render_recovery

    if isinstance(args.path, str):
        raise UsageError(
            f"{PROG} recover",
            f"expected a local HDF5 file, got the HSDS domain {args.path}: recover does not "
            "apply to a domain (it has no superblock, lock or journal; what its writers "
            "flushed is stored by the service)",
        )
    path = existing_file(args.path, f"{PROG} recover")
    advised = False

    def advise(what: str) -> None:
        nonlocal advised
        if not advised:
            out(
                f"Changing {path} in place ({what}); a copy of the file made first is "
                "advised, and --dry-run shows the changes without making them"
            )
        advised = True

    report = recover(
        path,
        timeout=args.timeout,
        dry_run=args.dry_run,
        before_writing=lambda planned: advise(planned_changes(planned)),
    )
    out(render_recovery(report))
    if args.finish:
        if args.dry_run:
            finished = planned_finish(report)
        else:
            finished = finish(
                path,
                timeout=args.timeout,
                before_writing=lambda _: advise("folding what the SWMR writer left"),
            )
        out(render_finish(finished))
    return EXIT_OK


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
