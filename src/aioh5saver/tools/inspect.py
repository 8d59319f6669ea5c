"""What ``aioh5saver inspect`` shows: the tree of an HDF5 file, read safely, even while it grows.

:func:`inspect_file` reads a PyMoDAQ or aioh5saver file (or any HDF5 file) and returns a
:class:`FileReport`: its groups and arrays with their shapes, dtypes and decoded attributes,
and the last lines of its ``Logger``; :func:`render_report` makes that a readable text.

Reading an untrusted file is done so that the file cannot take over the reader:

- nothing is evaluated or unpickled: attributes go through :func:`~.attrs.decode_attr` and log
  lines through the pickled-string decoder, which refuse what they do not know;
- the HDF5 work runs in a child process (``python -c`` calling :func:`_child_main`), with an
  address-space limit (``RLIMIT_AS``) and a time limit, because a crafted file can make HDF5
  itself loop forever or allocate without bound; the child answers in plain JSON;
- the walk is bounded: at most ``max_nodes`` nodes listed (the rest counted), nesting at most
  :data:`MAX_DEPTH` levels deep, each object visited once (hard-link cycles are shown as links),
  soft and external links never followed, at most :data:`MAX_ATTRS` attributes per node,
  attributes larger than :data:`MAX_ATTR_BYTES` not read, long texts cut, and a budget on the
  total size of the answer. Datasets are never read, except the last log lines.

A file written under SWMR is read as a SWMR reader (``swmr=True, locking=False``), so that it
can be inspected while an :class:`~aioh5saver.AsyncH5Saver` writes it; a file being written
without SWMR cannot be read by HDF5 and raises :class:`FileInUseError`.

The walk (:func:`iter_nodes`) and the log readers are shared with :mod:`.reader`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioh5saver.engine.file_users import lock_state, writer_pids
from aioh5saver.engine.superblock import Superblock, read_superblock
from aioh5saver.errors import (
    CorruptFileError,
    FileInUseError,
    InvalidArgumentError,
    UnsafeContentError,
    describe,
)
from aioh5saver.format.layout import PYMODAQ_CLASSES, fixed_kind, vlen_kind
from aioh5saver.format.staging import STAGING_SUFFIX, is_staging_dtype, staged_texts

__all__ = [
    "MAX_ATTRS",
    "MAX_ATTR_BYTES",
    "MAX_DEPTH",
    "MAX_STAGED_ROWS",
    "FileReport",
    "NodeInfo",
    "ValueText",
    "inspect_file",
    "render_report",
]

# Kept here rather than imported from .staging, which imports h5py: the parent side of this
# module never touches HDF5.
MAX_DEPTH = 100
MAX_ATTRS = 64
MAX_ATTR_BYTES = 1 << 20
MAX_TEXT = 1024
MAX_NAME = 255
MAX_LINE = 2000
MAX_ITEMS = 64
# A SWMR staging array holds the strings logged during one SWMR session: more rows than this
# is a crafted file, whose counting would take hours.
MAX_STAGED_ROWS = 1 << 24
# The answer of the child process, in characters of paths, names, texts and attribute values.
ANSWER_BUDGET = 16 << 20
# Past the listed nodes, links are still counted, up to this many.
COUNT_CAP = 1_000_000
DEFAULT_MAX_MEMORY = 2 << 30
# How long a SWMR-capable file may stay "open for writing without SWMR" (a writer between
# ending SWMR and starting it again) before it is reported as not readable.
NOT_SWMR_GRACE = 2.0

# One attempt at reading a file a writer has open lasts at most this long before it is retried.
WRITING_ATTEMPT_S = 5.0
# A retry needs at least this long (a child process starting and opening the file): with less
# time left, the failure of the last attempt is the answer.
MIN_ATTEMPT_S = 1.0
NO_WRITER_HINT = (
    "its superblock says a writer has it open, but no process on this machine has it open "
    "for writing: if its writer was killed, 'aioh5saver recover' makes it readable again"
)


@dataclass(frozen=True)
class ValueText:
    """An attribute value shown as text: one that has no plain-data form here (a numpy array,
    an empty attribute, an unreadable or oversized one...)."""

    text: str

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class NodeInfo:
    """One node of the tree.

    ``kind`` is ``"GROUP"``, ``"CARRAY"``, ``"EARRAY"``, ``"VLARRAY"``, ``"StringARRAY"`` (taken
    from what the object is, not from its ``CLASS`` label), ``"dataset"`` for a dataset without
    a PyMoDAQ ``CLASS``, ``"datatype"`` for a committed datatype, ``"link"`` for a soft or
    external link or a second hard link to an object already listed (``target`` says where it
    points), ``"unreadable"`` for a link to an object HDF5 cannot open (damaged: ``error``
    says how). ``attrs`` are decoded safely; ``error`` says what could not be read.
    ``outside`` is set for an array whose data are stored in other files (external raw storage
    or a virtual dataset): it says which files; those data are never read.
    """

    path: str
    kind: str
    shape: tuple[int, ...] | None
    dtype: str | None
    attrs: dict[str, object]
    target: str | None = None
    error: str | None = None
    attrs_omitted: int = 0
    outside: str | None = None

    @property
    def depth(self) -> int:
        """How many levels below the root the node is."""
        return 0 if self.path == "/" else self.path.count("/")

    @property
    def name(self) -> str:
        """The last component of the path."""
        return "/" if self.path == "/" else self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FileReport:
    """What :func:`inspect_file` found.

    ``writing``: the superblock's flags say a writer has the file open (a live writer, or one
    that was killed: see ``notes``); ``swmr``: that writer writes under SWMR. ``log_lines`` are
    the last lines of the ``Logger`` (staged SWMR lines included, last), ``log_total`` all its
    lines, of which ``log_staged`` are still in the SWMR staging array; ``log_error`` says why
    the log lines could not be read, if they could not.
    """

    path: str
    size_bytes: int
    writing: bool
    swmr: bool
    nodes: tuple[NodeInfo, ...]
    log_lines: tuple[str, ...]
    superblock_version: int = 0
    nodes_omitted: int = 0
    log_path: str | None = None
    log_total: int = 0
    log_staged: int = 0
    notes: tuple[str, ...] = field(default=())
    log_error: str | None = None


# -- the parent side ----------------------------------------------------------------------------


def inspect_file(
    path: str | os.PathLike[str],
    *,
    log_lines: int = 5,
    timeout: float = 30.0,
    max_nodes: int = 10_000,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> FileReport:
    """The tree of the HDF5 file at ``path``: nodes, shapes, dtypes, decoded attributes and the
    last ``log_lines`` lines of its Logger, read in a child process limited to ``timeout``
    seconds and ``max_memory`` bytes of address space.

    Raises :class:`MissingFileError` (no file), :class:`CorruptFileError` (not HDF5, damaged,
    or HDF5 did not answer in time) and :class:`FileInUseError` (being written without SWMR).
    """
    _check_count(log_lines, "log_lines")
    _check_count(max_nodes, "max_nodes", minimum=1)
    _check_count(max_memory, "max_memory", minimum=1 << 26)
    _check_timeout(timeout)
    where = os.fspath(path)
    deadline = time.monotonic() + timeout
    last_fatal: dict[str, Any] | None = None
    while True:
        superblock, swmr_read = wait_readable(
            where, grace=min(NOT_SWMR_GRACE, max(0.0, deadline - time.monotonic()))
        )
        remaining = max(0.0, deadline - time.monotonic())
        if last_fatal is not None and remaining < MIN_ATTEMPT_S:
            # No time left for a fair attempt: the last failure is what the file gives.
            answer = last_fatal
            break
        # A live writer may end SWMR (to create nodes) between our look at its state and the
        # child's open, which then fails or waits: such an attempt is short and is retried.
        attempt = min(remaining, WRITING_ATTEMPT_S) if superblock.writing else remaining
        try:
            answer = run_child(
                [
                    "inspect",
                    where,
                    "--mode",
                    "swmr" if swmr_read else "plain",
                    "--log-lines",
                    str(log_lines),
                    "--max-nodes",
                    str(max_nodes),
                ],
                where=where,
                timeout=attempt,
                max_memory=max_memory,
                timeout_given=timeout,
            )
        except CorruptFileError as exc:
            if superblock.writing and time.monotonic() < deadline:
                continue
            if last_fatal is not None:  # the last attempt was only cut short by the deadline
                answer = last_fatal
                break
            if superblock.writing and not writer_pids(where):
                raise CorruptFileError(f"{exc}; {NO_WRITER_HINT}") from None
            raise
        if "fatal" in answer and superblock.writing and time.monotonic() < deadline:
            last_fatal = answer
            continue
        break
    if "fatal" in answer:
        raise _fatal_error(where, answer, superblock)
    log = answer["log"]
    size = os.stat(where).st_size
    return FileReport(
        path=where,
        size_bytes=size,
        writing=superblock.writing,
        swmr=superblock.swmr_writing,
        nodes=tuple(_node_from_wire(node) for node in answer["nodes"]),
        log_lines=tuple(log["lines"]),
        superblock_version=superblock.version,
        nodes_omitted=int(answer["omitted"]),
        log_path=log["path"],
        log_total=int(log["total"]),
        log_staged=int(log["staged"]),
        notes=tuple(_notes(where, superblock, size, answer)),
        log_error=None if log.get("error") is None else str(log["error"]),
    )


def _check_count(value: object, name: str, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name}: expected an int >= {minimum}, got {describe(value)}")


def _check_timeout(value: object, name: str = "timeout") -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidArgumentError(
            f"{name}: expected a finite number of seconds > 0, got {describe(value)}"
        )


def wait_readable(where: str, *, grace: float) -> tuple[Superblock, bool]:
    """The superblock of ``where`` and whether to read it as a SWMR reader, once HDF5 can read
    it. A SWMR-capable file written without SWMR (a writer between ending SWMR to create
    nodes and starting it again) is waited for up to ``grace`` seconds; a file being written
    without SWMR raises :class:`FileInUseError`."""
    deadline = time.monotonic() + grace
    while True:
        superblock = read_superblock(where)
        if superblock.swmr_writing:
            return superblock, True
        if not superblock.writing:
            # Versions 0 and 1 have no flags: only HDF5's file lock shows a writer.
            if superblock.flags is None and _lock_state(where) == "exclusive":
                raise FileInUseError(
                    f"{where}: expected a file that is closed or written under SWMR, got one "
                    "that another process holds HDF5's exclusive lock on: it is being written "
                    "without SWMR, and HDF5 cannot read it until that process closes it"
                )
            return superblock, False
        if time.monotonic() >= deadline:
            raise FileInUseError(not_swmr_message(where))
        time.sleep(0.02)  # polling the writer's state, not ordering events


def _lock_state(where: str) -> str:
    try:
        return lock_state(where)
    except OSError:
        return "unknown"


def not_swmr_message(where: str) -> str:
    """Why a file whose flags say "open for writing, without SWMR" cannot be read."""
    message = (
        f"{where}: expected a file that is closed or written under SWMR, got one whose "
        "superblock says a writer has it open without SWMR; HDF5 cannot read it until that "
        "writer closes it or starts SWMR"
    )
    if not writer_pids(where):
        message += (
            " (no process on this machine has it open for writing: if its writer was killed, "
            "'aioh5saver recover' clears the flag)"
        )
    return message


def _fatal_error(where: str, answer: dict[str, Any], superblock: Superblock) -> Exception:
    message = str(answer.get("message", ""))
    if "already open for write" in message:
        return FileInUseError(not_swmr_message(where))
    hint = ""
    size = os.stat(where).st_size
    if superblock.writing and not superblock.swmr_writing:
        hint = "; its superblock says a writer has it open: 'aioh5saver recover' clears that"
    if superblock.recorded_end > size:
        hint = (
            f"; its superblock records an end of file at {superblock.recorded_end} bytes, past "
            f"its real size {size}: it was cut short, or its writer failed to write it all "
            "('aioh5saver recover' lowers the recorded end so that HDF5 opens what is there)"
        )
    return CorruptFileError(
        f"{where}: expected a readable HDF5 file, got one HDF5 cannot read "
        f"({answer['fatal']}: {message}){hint}"
    )


def _notes(where: str, superblock: Superblock, size: int, answer: dict[str, Any]) -> list[str]:
    notes = []
    if superblock.writing and not writer_pids(where):
        notes.append(
            "the superblock says a writer has the file open, but no process on this machine "
            "has it open for writing: if its writer was killed, 'aioh5saver recover' makes it "
            "writable again"
        )
    if superblock.checksum_ok is False:
        notes.append("the superblock's checksum does not match its bytes")
    if superblock.recorded_end > size and superblock.writing:
        notes.append(
            f"the superblock records an end of file at {superblock.recorded_end} bytes, past "
            f"the real size {size} (normal while a writer has space reserved)"
        )
    errors = sum(1 for node in answer["nodes"] if node.get("error"))
    if errors:
        notes.append(f"{errors} nodes could not be read in full: see their errors")
    outside = sum(1 for node in answer["nodes"] if node.get("outside"))
    if outside:
        notes.append(
            f"{outside} arrays have their data in other files (external raw storage or virtual "
            "datasets): they are listed, never read"
        )
    if answer["log"].get("error"):
        notes.append(f"log lines: {answer['log']['error']}")
    if answer.get("capped"):
        notes.append(f"counting the nodes not listed stopped at {COUNT_CAP}: there are more")
    if answer.get("budget_exhausted"):
        notes.append("the listing was cut: the answer reached its size limit")
    return notes


def child_command(arguments: list[str], max_memory: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a child process running :func:`_child_main`."""
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    # One thread per math library: the child does no math, and threads cost address space.
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    # The package is stood in for by a bare module holding only its path, so that the child
    # imports the modules it runs and not the package's re-exports (the async saver, anyio...):
    # that halves its start-up.
    code = (
        "import sys, types; package = types.ModuleType('aioh5saver'); "
        f"package.__path__ = [{str(Path(__file__).resolve().parents[1])!r}]; "
        "sys.modules['aioh5saver'] = package; "
        "from aioh5saver.tools.inspect import _child_main; sys.exit(_child_main())"
    )
    # -P: the current directory is not put on the path (a file there cannot shadow a module).
    command = [sys.executable, "-P", "-c", code, "--max-memory", str(max_memory), *arguments]
    return command, env


def run_child(
    arguments: list[str],
    *,
    where: str,
    timeout: float,
    max_memory: int,
    timeout_given: float | None = None,
) -> dict[str, Any]:
    """Run a one-shot child and return its JSON answer; kill it after ``timeout`` seconds (what
    is left of the caller's ``timeout_given``)."""
    command, env = child_command(arguments, max_memory)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise CorruptFileError(
                f"{where}: expected HDF5 to read the file within the timeout of "
                f"{timeout if timeout_given is None else timeout_given:g} s, "
                "got no answer; the reading process was killed (a damaged file can make HDF5 "
                "hang)"
            ) from None
        except BaseException:
            process.kill()
            process.communicate()
            raise
        errors.seek(0)
        stderr = errors.read()[-2000:].decode("utf-8", "replace")
    return parse_answer(output, process.returncode, stderr, where)


def parse_answer(output: bytes, returncode: int, stderr: str, where: str) -> dict[str, Any]:
    """A child's JSON answer, or a :class:`CorruptFileError` saying how the child failed."""
    try:
        answer = json.loads(output)
        if not isinstance(answer, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
        raise CorruptFileError(
            f"{where}: expected the reading process to describe the file, got {how} and no "
            f"answer (HDF5 failed on the file?): {stderr.strip()[-500:]}"
        ) from None
    return answer


# -- attribute values across the process boundary --------------------------------------------


def _value_from_wire(wire: Any) -> object:
    if not isinstance(wire, dict):
        if isinstance(wire, list):
            return [_value_from_wire(item) for item in wire]
        return wire
    tag = wire.get("t")
    value: Any = wire.get("v")
    if tag == "tuple":
        return tuple(_value_from_wire(item) for item in value)
    if tag == "set":
        return {_value_from_wire(item) for item in value}
    if tag == "dict":
        return {_value_from_wire(key): _value_from_wire(item) for key, item in value}
    if tag == "float":
        return float(value)
    if tag == "complex":
        return complex(float(value[0]), float(value[1]))
    if tag == "bytes":
        return str(value).encode("latin-1")
    if tag == "datetime":
        return datetime.datetime.fromisoformat(value)
    if tag == "date":
        return datetime.date.fromisoformat(value)
    if tag == "time":
        return datetime.time.fromisoformat(value)
    if tag == "timedelta":
        return datetime.timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    return ValueText(str(value))


def _node_from_wire(node: dict[str, Any]) -> NodeInfo:
    shape = node.get("shape")
    return NodeInfo(
        path=node["path"],
        kind=node["kind"],
        shape=tuple(shape) if shape is not None else None,
        dtype=node.get("dtype"),
        attrs={name: _value_from_wire(value) for name, value in node.get("attrs", {}).items()},
        target=node.get("target"),
        error=node.get("error"),
        attrs_omitted=int(node.get("attrs_omitted", 0)),
        outside=node.get("outside"),
    )


# -- rendering --------------------------------------------------------------------------------


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe to print on a terminal (control characters and lone surrogates escaped),
    cut to ``limit`` characters."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def _shown_value(value: object, limit: int = 100) -> str:
    # Strings bare (they are most attributes), except the empty one, which would show nothing.
    text = value if isinstance(value, str) and value else repr(value)
    return printable(text, limit)


def _size(size: int) -> str:
    amount = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def _state(report: FileReport) -> str:
    if report.swmr:
        return "being written under SWMR"
    if report.writing:
        return "open for writing"
    return "closed"


def render_report(report: FileReport) -> str:
    """The report as a readable tree: each node with its kind, shape and dtype, its attributes
    below it (long values shortened), then the last log lines and any notes."""
    lines = [
        f"{printable(report.path)}  ({_size(report.size_bytes)}, HDF5 superblock "
        f"v{report.superblock_version}, {_state(report)})"
    ]
    for node in report.nodes:
        indent = "  " * node.depth
        head = f"{indent}{printable(node.name, 120)}  [{node.kind}]"
        if node.shape is not None:
            head += f"  shape {node.shape}"
        if node.dtype is not None:
            head += f"  {printable(node.dtype, 60)}"
        if node.target is not None:
            head += f"  -> {printable(node.target, 120)}"
        lines.append(head)
        if node.outside is not None:
            outside = printable(node.outside, 300)
            lines.append(f"{indent}    ! data in other files, never read: {outside}")
        for name, value in node.attrs.items():
            lines.append(f"{indent}    @{printable(name, 60)} = {_shown_value(value)}")
        if node.attrs_omitted:
            lines.append(f"{indent}    … and {node.attrs_omitted} more attributes")
        if node.error:
            lines.append(f"{indent}    ! {printable(node.error, 300)}")
    if report.nodes_omitted:
        lines.append(f"… and {report.nodes_omitted} more nodes not listed")
    if report.log_path is not None:
        staged = f", {report.log_staged} staged by SWMR" if report.log_staged else ""
        lines.append("")
        lines.append(f"Log {printable(report.log_path)} ({report.log_total} lines{staged})")
        if report.log_lines:
            lines.append(f"last {len(report.log_lines)}:")
            lines += [f"  {printable(line, 200)}" for line in report.log_lines]
    if report.notes:
        lines.append("")
        lines += [f"note: {printable(note)}" for note in report.notes]
    return "\n".join(lines)


# -- the child side: everything below runs h5py ------------------------------------------------


class Budget:
    """Characters the child may still put in its answer."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    @property
    def exhausted(self) -> bool:
        """True once the answer reached its size limit."""
        return self.left <= 0

    def text(self, text: str, limit: int = MAX_TEXT) -> str:
        """``text`` cut to ``limit`` characters, charged to the budget."""
        if len(text) > limit:
            text = f"{text[:limit]}… [{len(text) - limit} more characters]"
        self.left -= len(text)
        return text


def display_name(raw: bytes, budget: Budget | None = None) -> str:
    """A link or attribute name as text: UTF-8, undecodable bytes shown as ``\\xNN``, names
    longer than :data:`MAX_NAME` characters cut, with their length and a digest of the whole
    name, so that two long names sharing their beginning stay two paths."""
    name = raw.decode("utf-8", "backslashreplace")
    if len(name) > MAX_NAME:
        digest = hashlib.blake2b(raw, digest_size=4).hexdigest()
        name = f"{name[:MAX_NAME]}…[{len(name)} chars, #{digest}]"
    if budget is not None:
        budget.left -= len(name)
    return name


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def open_h5(where: str, swmr_read: bool) -> Any:
    """``where`` opened read-only, as a SWMR reader if ``swmr_read``, without taking HDF5's file
    lock (a reader must never stop the writer from reopening its file)."""
    import h5py

    return h5py.File(where, "r", swmr=swmr_read, locking=False)


@dataclass
class Entry:
    """One link met by :func:`iter_nodes`: the object (None for links and failures) and what
    was found out about it."""

    path: str
    kind: str
    obj: Any = None
    target: str | None = None
    error: str | None = None


@dataclass
class WalkStats:
    """Counts :func:`iter_nodes` keeps: links not listed, and whether counting hit its cap."""

    omitted: int = 0
    capped: bool = False


LABELS = (b"CLASS", b"subdtype")


def read_labels(obj: Any) -> dict[str, Any]:
    """The decoded ``CLASS`` and ``subdtype`` attributes of ``obj``, those that exist and are
    small: what its kind is decided from."""
    import h5py

    from aioh5saver.format.attrs import decode_attr

    labels: dict[str, Any] = {}
    manager = obj.attrs
    for raw in LABELS:
        small = h5py.h5a.exists(obj.id, raw) and (
            h5py.h5a.open(obj.id, raw).get_storage_size() <= MAX_ATTR_BYTES
        )
        if small:
            labels[raw.decode()] = decode_attr(manager[raw])
    return labels


def dataset_kind(obj: Any, labels: dict[str, Any]) -> str:
    """The kind shown for a dataset, from what it is (the rule of :mod:`.format.layout`,
    applied to labels already read): ``"dataset"`` when its ``CLASS`` is no PyMoDAQ class."""
    import h5py

    label = labels.get("CLASS")
    if not isinstance(label, str) or label not in PYMODAQ_CLASSES:
        return "dataset"
    base = h5py.check_vlen_dtype(obj.dtype)
    if base is not None:
        return vlen_kind(base, labels.get("subdtype"))
    return fixed_kind(obj.maxshape, label)


def iter_nodes(
    file: Any,
    *,
    max_nodes: int,
    stats: WalkStats,
    budget: Budget | None = None,
    count_rest: bool = True,
) -> Iterator[Entry]:
    """The nodes of ``file``, breadth first from the root, each object once; at most
    ``max_nodes`` of them, the rest counted in ``stats`` (unless ``count_rest`` is False: then
    the walk stops there). Soft and external links are yielded as links, never followed; a
    second hard link to an object is yielded as a link to the path it was first met at.
    Datasets come as kind ``"dataset"``: :func:`dataset_kind` tells which array they are.

    Raises what h5py raises if the root group itself cannot be opened (a damaged file)."""
    root = file["/"]
    seen: dict[tuple[int, int], str] = {_object_key(root.id): "/"}
    queue: deque[tuple[str, Any, int]] = deque([("/", root, 0)])
    yield Entry("/", "GROUP", obj=root)
    listed = 1
    while queue:
        path, group, depth = queue.popleft()
        try:
            for raw in group.id:
                if listed >= max_nodes or (budget is not None and budget.exhausted):
                    if not count_rest:
                        return
                    stats.omitted += 1
                    if stats.omitted >= COUNT_CAP:
                        stats.capped = True
                        return
                    _queue_for_count(group, raw, seen, queue, depth)
                    continue
                child_path = f"{path.rstrip('/')}/{display_name(raw, budget)}"
                entry = _entry(group, raw, child_path, seen, depth)
                listed += 1
                if entry.kind == "GROUP" and entry.error is None:
                    queue.append((child_path, entry.obj, depth + 1))
                yield entry
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            # The group itself was already yielded: this entry adds its error to it.
            yield Entry(path, "GROUP", error=f"its links could not all be listed: {exc}")


def _object_key(object_id: Any) -> tuple[int, int]:
    import h5py

    info = h5py.h5o.get_info(object_id)
    return int(info.fileno), int(info.addr)


def _entry(
    group: Any, raw: bytes, path: str, seen: dict[tuple[int, int], str], depth: int
) -> Entry:
    import h5py

    try:
        link = group.id.links.get_info(raw)
        if link.type == h5py.h5l.TYPE_SOFT:
            return Entry(path, "link", target=_link_text(group.id.links.get_val(raw)))
        if link.type != h5py.h5l.TYPE_HARD:
            value = group.id.links.get_val(raw)
            if isinstance(value, tuple) and len(value) == 2:
                return Entry(path, "link", target=f"{_link_text(value[0])}:{_link_text(value[1])}")
            return Entry(path, "link", target="(a user-defined link)")
        info = h5py.h5o.get_info(group.id, raw)
        key = (int(info.fileno), int(info.addr))
        if key in seen:
            return Entry(path, "link", target=seen[key])
        seen[key] = path
        if info.type == h5py.h5o.TYPE_GROUP and depth + 1 >= MAX_DEPTH:
            return Entry(path, "GROUP", error=f"nested deeper than {MAX_DEPTH} levels: not listed")
        obj = _wrap(h5py.h5o.open(group.id, raw))
        kind = {h5py.h5o.TYPE_GROUP: "GROUP", h5py.h5o.TYPE_DATASET: "dataset"}
        return Entry(path, kind.get(info.type, "datatype"), obj=obj)
    except Exception as exc:  # a damaged object: shown with its error, the walk goes on
        return Entry(path, "unreadable", error=f"{type(exc).__name__}: {exc}")


def _wrap(object_id: Any) -> Any:
    import h5py

    if isinstance(object_id, h5py.h5g.GroupID):
        return h5py.Group(object_id)
    if isinstance(object_id, h5py.h5d.DatasetID):
        return h5py.Dataset(object_id)
    return h5py.Datatype(object_id)


def _link_text(value: Any) -> str:
    if isinstance(value, bytes):
        return display_name(value)
    return str(value)


def _queue_for_count(
    group: Any, raw: bytes, seen: dict[tuple[int, int], str], queue: deque[Any], depth: int
) -> None:
    """Past the listing, still walk into unseen groups so that they are counted."""
    import h5py

    try:
        if group.id.links.get_info(raw).type != h5py.h5l.TYPE_HARD:
            return
        info = h5py.h5o.get_info(group.id, raw)
        key = (int(info.fileno), int(info.addr))
        if info.type != h5py.h5o.TYPE_GROUP or key in seen or depth + 1 >= MAX_DEPTH:
            return
        seen[key] = ""
        queue.append(("", h5py.Group(h5py.h5o.open(group.id, raw)), depth + 1))
    except Exception:
        return  # a damaged link is counted, not walked


def _shape_and_dtype(obj: Any) -> tuple[list[int] | None, str | None]:
    import h5py

    if isinstance(obj, h5py.Dataset):
        shape = obj.shape
        return (list(shape) if shape is not None else None), dtype_text(obj.dtype)
    if isinstance(obj, h5py.Datatype):
        return None, dtype_text(obj.dtype)
    return None, None


def dtype_text(dtype: Any) -> str:
    """A dtype as text: numpy's name, ``vlen(uint8)`` for variable-length rows, ``str`` for
    variable-length strings."""
    import h5py

    string = h5py.check_string_dtype(dtype)
    if string is not None:
        size = "variable" if string.length is None else f"{string.length} bytes"
        return f"str ({string.encoding}, {size})"
    base = h5py.check_vlen_dtype(dtype)
    if base is not None:
        return f"vlen({base})"
    text = str(dtype)
    return text if len(text) <= 200 else text[:199] + "…"


def _attributes(obj: Any, budget: Budget) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The attributes shown (as wire values), how many were left out, and the labels."""
    import h5py

    from aioh5saver.format.attrs import decode_attr

    count = h5py.h5a.get_num_attrs(obj.id)
    manager = obj.attrs
    shown: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for index in range(min(count, MAX_ATTRS)):
        if budget.exhausted:
            return shown, count - index, labels
        try:
            attribute = h5py.h5a.open(obj.id, index=index)
            raw = attribute.name
            size = attribute.get_storage_size()
        except Exception as exc:
            shown[f"#{index}"] = {"t": "text", "v": f"<unreadable: {exc}>"}
            continue
        name = display_name(raw, budget)
        if size > MAX_ATTR_BYTES:
            shown[name] = {"t": "text", "v": f"<{size} bytes: too large to show>"}
            continue
        try:
            value = decode_attr(manager[raw])
        except MemoryError:
            value = ValueText("<too large to read>")
        except Exception as exc:
            value = ValueText(f"<unreadable: {type(exc).__name__}: {exc}>")
        if raw in LABELS:
            labels[name] = value
        shown[name] = to_wire(value, budget)
    return shown, max(0, count - MAX_ATTRS), labels


def to_wire(value: Any, budget: Budget, depth: int = 0) -> Any:
    """A decoded attribute value as plain JSON data (tagged where JSON has no such type),
    cut to fit the budget."""
    import numpy as np

    if depth > 16:
        return {"t": "text", "v": "…"}
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) < 1 << 63:
            return value
        return {"t": "text", "v": f"<an int of {value.bit_length()} bits>"}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
    if isinstance(value, str):
        return budget.text(value)
    if isinstance(value, bytes):
        return {"t": "bytes", "v": budget.text(value[:MAX_TEXT].decode("latin-1"))}
    if isinstance(value, complex):
        return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return {"t": type(value).__name__, "v": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"t": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_wire(item, budget, depth + 1) for item in list(value)[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append({"t": "text", "v": f"… and {len(value) - MAX_ITEMS} more"})
        if isinstance(value, list):
            return items
        return {"t": "tuple" if isinstance(value, tuple) else "set", "v": items}
    if isinstance(value, dict):
        pairs = [
            [to_wire(key, budget, depth + 1), to_wire(item, budget, depth + 1)]
            for key, item in list(value.items())[:MAX_ITEMS]
        ]
        return {"t": "dict", "v": pairs}
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=20, edgeitems=3):
            return {"t": "text", "v": budget.text(repr(value), 1000)}
    return {"t": "text", "v": budget.text(repr(value), 1000)}


def _sort_key(node: dict[str, Any]) -> list[str]:
    path: str = node["path"]
    return [] if path == "/" else path.split("/")[1:]


def hard_get(file: Any, path: str) -> Any:
    """The object at the absolute ``path`` if every link on the way is a hard link, else None
    (missing, damaged, or reached through a soft or external link: those are never followed,
    as an external link could point at another file, or at a named pipe that blocks)."""
    import h5py

    obj = file["/"]
    for name in path.strip("/").split("/"):
        raw = name.encode("utf-8", "surrogateescape")
        if not isinstance(obj, h5py.Group) or not obj.id.links.exists(raw):
            return None
        if obj.id.links.get_info(raw).type != h5py.h5l.TYPE_HARD:
            return None
        obj = _wrap(h5py.h5o.open(obj.id, raw))
    return obj


def find_logger(file: Any) -> str | None:
    """The path of the file's Logger: ``/RawData/Logger``, else a ``Logger`` directly in a
    group under the root; only hard links are followed to find it."""
    import h5py

    candidates = ["/RawData/Logger"]
    with contextlib.suppress(Exception):  # an unlistable root: only the usual place is tried
        for raw in file.id:
            if len(candidates) > 64:
                break
            name = raw.decode("utf-8", "surrogateescape")
            if name != "RawData":
                candidates.append(f"/{name}/Logger")
    for candidate in candidates:
        obj = None
        with contextlib.suppress(Exception):  # a damaged or missing candidate is no logger
            obj = hard_get(file, candidate)
        if isinstance(obj, h5py.Dataset) and h5py.check_vlen_dtype(obj.dtype) is not None:
            return candidate
    return None


def count_staged(dataset: Any) -> int:
    """How many complete strings a SWMR staging array holds (pieces with ``more`` unset end a
    string), read in blocks. A staging array of more than :data:`MAX_STAGED_ROWS` rows (a
    crafted one: counting it would take hours) raises :class:`UnsafeContentError`."""
    import numpy as np

    if dataset.ndim != 1:
        raise UnsafeContentError(
            f"expected a SWMR staging array of one dimension, got {dataset.name} of shape "
            f"{dataset.shape}"
        )
    total = int(dataset.shape[0])
    if total > MAX_STAGED_ROWS:
        raise UnsafeContentError(
            f"expected a SWMR staging array of at most {MAX_STAGED_ROWS} rows, got "
            f"{dataset.name} of {total} rows: not counted"
        )
    count = 0
    for start in range(0, total, 1 << 16):
        more = dataset.fields("more")[start : min(total, start + (1 << 16))]
        count += int(np.count_nonzero(np.asarray(more) == 0))
    return count


def _staged_tail(dataset: Any, count: int) -> list[str]:
    """The last ``count`` complete strings of a staging array, each cut to :data:`MAX_LINE`,
    reading at most 64 Ki rows from its end."""
    total = int(dataset.shape[0])
    width = int(dataset.dtype["text"].itemsize)
    window = 4 * count + 16
    while True:
        start = max(0, total - window)
        texts = [
            text[:MAX_LINE]
            for text in staged_texts(
                dataset[start:total].tolist(),
                width=width,
                undecodable="backslashreplace",
                begins_mid_string=start != 0,
            )
        ]
        if len(texts) >= count or start == 0 or window >= 1 << 16:
            return texts[-count:] if count else []
        window *= 4


def _log(file: Any, log_lines: int) -> dict[str, Any]:
    """The Logger's path, its line count (staged ones included) and its last lines."""
    import h5py

    from aioh5saver.engine.external import describe_outside, stored_outside
    from aioh5saver.format.pickled_str import decode_pickled_str

    log: dict[str, Any] = {"path": None, "total": 0, "staged": 0, "lines": [], "error": None}
    path = find_logger(file)
    if path is None:
        return log
    log["path"] = path
    lines: list[str] = []
    try:
        logger = hard_get(file, path)
        rows = int(logger.shape[0])
        storage = stored_outside(logger)
        if storage is not None:
            log.update(total=rows, error=f"{describe_outside(storage)}: its lines are never read")
            return log
        first = max(0, rows - log_lines)
        if log_lines:
            for index, row in enumerate(logger[first:rows], start=first):
                try:
                    lines.append(decode_pickled_str(bytes(row))[:MAX_LINE])
                except UnsafeContentError as exc:
                    lines.append(f"<row {index} not shown: {exc}>")
        log.update(total=rows, lines=lines[-log_lines:] if log_lines else [])
        # The staged lines, apart: a staging array refused leaves the Logger's lines shown.
        staging = hard_get(file, path + STAGING_SUFFIX)
        staging_outside = stored_outside(staging) if isinstance(staging, h5py.Dataset) else None
        if staging_outside is not None:
            log["error"] = f"its staging array is {describe_outside(staging_outside)}: not read"
        elif isinstance(staging, h5py.Dataset) and is_staging_dtype(staging.dtype):
            staged = count_staged(staging)
            lines += _staged_tail(staging, log_lines)
            log.update(
                total=rows + staged, staged=staged, lines=lines[-log_lines:] if log_lines else []
            )
    except MemoryError:
        log["error"] = "a log line is too large to read"
    except Exception as exc:
        log["error"] = f"{type(exc).__name__}: {exc}"
    return log


def _inspect_in_child(where: str, swmr_read: bool, log_lines: int, max_nodes: int) -> Any:
    from aioh5saver.engine.external import describe_outside, stored_outside

    try:
        file = open_h5(where, swmr_read)
    except Exception as exc:
        return {"fatal": type(exc).__name__, "message": str(exc)}
    budget = Budget(ANSWER_BUDGET)
    stats = WalkStats()
    nodes: list[dict[str, Any]] = []
    by_path: dict[str, dict[str, Any]] = {}
    with file:
        for entry in iter_nodes(file, max_nodes=max_nodes, stats=stats, budget=budget):
            if entry.path in by_path:  # a group's listing failed after it was shown
                by_path[entry.path]["error"] = entry.error
                continue
            node: dict[str, Any] = {"path": entry.path, "kind": entry.kind}
            by_path[entry.path] = node
            if entry.target is not None:
                node["target"] = entry.target
            if entry.obj is not None:
                try:
                    node["shape"], node["dtype"] = _shape_and_dtype(entry.obj)
                    node["attrs"], node["attrs_omitted"], labels = _attributes(entry.obj, budget)
                    if entry.kind == "dataset":
                        if node["attrs_omitted"]:
                            labels = read_labels(entry.obj)
                        node["kind"] = dataset_kind(entry.obj, labels)
                        storage = stored_outside(entry.obj)
                        if storage is not None:
                            node["outside"] = budget.text(describe_outside(storage), 1000)
                except MemoryError:
                    entry.error = "too large to read"
                except Exception as exc:
                    entry.error = f"{type(exc).__name__}: {exc}"
            if entry.error is not None:
                node["error"] = entry.error
            nodes.append(node)
        log = _log(file, log_lines)
    nodes.sort(key=_sort_key)
    return {
        "nodes": nodes,
        "omitted": stats.omitted,
        "capped": stats.capped,
        "log": log,
        "budget_exhausted": budget.exhausted,
    }


def _child_main(argv: list[str] | None = None) -> int:
    """The child process: ``--max-memory BYTES inspect PATH ...`` prints a JSON answer,
    ``--max-memory BYTES follow PATH ...`` polls and prints JSON lines (:mod:`.reader`)."""
    parser = argparse.ArgumentParser(prog="aioh5saver-child")
    parser.add_argument("--max-memory", type=int, required=True)
    parser.add_argument("command", choices=["inspect", "follow"])
    parser.add_argument("path")
    parser.add_argument("--mode", choices=["swmr", "plain"], default="plain")
    parser.add_argument("--log-lines", type=int, default=5)
    parser.add_argument("--max-nodes", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    _limit_memory(args.max_memory)
    if args.command == "follow":
        from aioh5saver.tools.follow import follow_in_child

        return follow_in_child(
            args.path, interval=args.interval, max_nodes=args.max_nodes, timeout=args.timeout
        )
    try:
        answer = _inspect_in_child(args.path, args.mode == "swmr", args.log_lines, args.max_nodes)
    except MemoryError:
        answer = {"fatal": "MemoryError", "message": "the file needs more memory than allowed"}
    except Exception as exc:  # HDF5 failing somewhere unexpected: a clear answer, no traceback
        answer = {"fatal": type(exc).__name__, "message": str(exc)}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0
