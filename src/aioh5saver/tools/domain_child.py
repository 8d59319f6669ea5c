"""The reading child's work on an HSDS domain (``hsds://...``): describe it for ``inspect`` and
poll it for ``follow``, through h5pyd, with the answers the local-file work gives.

Runs in the reading child only (:mod:`.child`). h5pyd has h5py's high-level API but not its
low-level one (:mod:`aioh5saver.engine.objects`), so the domain is walked here by names and
object uuids. Datasets are never read, except the last log lines. Credentials come from
h5pyd's configuration, as for the savers, and are never part of an answer.

When follow ends on a domain: a domain has no superblock and no writer process this machine can
see. What it has are the appender claims (:mod:`aioh5saver.engine.hsds_claims`): an attribute
:data:`~aioh5saver.engine.hsds_claims.CLAIM_ATTRIBUTE` on each array a writer appends to, set
at its first append and removed when that writer closes the domain, after its last flush. So
the writers have closed the domain once an array was seen claimed and no claim is left; until
a claim is seen, it is followed (a writer that has not appended yet). A claim left by a killed
writer stays: when every claim left names a process of this machine that no longer exists, for
``gone_after`` seconds, the writer is gone; a writer of another machine cannot be seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections import deque
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.hsds_claims import CLAIM_ATTRIBUTE
from aioh5saver.engine.hsds_engine import HsdsEngine
from aioh5saver.engine.objects import identity_key, is_dataset, is_group
from aioh5saver.errors import UnsafeContentError
from aioh5saver.format.attrs import decode_attr
from aioh5saver.format.layout import ENLARGEABLE_KINDS
from aioh5saver.format.pickled_str import decode_pickled_str
from aioh5saver.tools.inspect_child import dtype_text
from aioh5saver.tools.limits import (
    ANSWER_CHARS,
    COUNT_CAP,
    MAX_ATTR_BYTES,
    MAX_ATTRS,
    MAX_DEPTH,
    MAX_LINE,
)
from aioh5saver.tools.report import ValueText
from aioh5saver.tools.walk import dataset_kind, display_name
from aioh5saver.tools.wire import AnswerAllowance, attr_to_json

__all__ = ["follow_domain_in_child", "inspect_domain_in_child"]


def _open(where: str) -> Any:
    """The domain at ``where``, read-only; FileNotFoundError if there is none."""
    return HsdsEngine().open(where, "r", swmr=False)


def _walk(file: Any, max_nodes: int, allowance: AnswerAllowance) -> tuple[list[Any], int, bool]:
    """The first ``max_nodes`` nodes, breadth first, each object once: ``(path, kind, obj,
    target)``; then how many were left out and whether counting them hit its cap."""
    root = file["/"]
    seen: dict[Any, str] = {identity_key(root): "/"}
    nodes: list[Any] = [("/", "GROUP", root, None)]
    queue: deque[tuple[str, Any, int]] = deque([("/", root, 0)])
    omitted = 0
    while queue:
        path, group, depth = queue.popleft()
        for name in group:
            if len(nodes) >= max_nodes or allowance.exhausted:
                omitted += 1
                if omitted >= COUNT_CAP:
                    return nodes, omitted, True
                continue
            child_path = f"{path.rstrip('/')}/{display_name(name.encode(), allowance)}"
            link = group.get(name, getlink=True)
            kind = type(link).__name__
            if kind == "SoftLink":
                nodes.append((child_path, "link", None, str(link.path)))
                continue
            if kind != "HardLink":
                nodes.append((child_path, "link", None, f"{link.filename}:{link.path}"))
                continue
            obj = group[name]
            key = identity_key(obj)
            if key in seen:
                nodes.append((child_path, "link", None, seen[key]))
                continue
            seen[key] = child_path
            if is_group(obj):
                nodes.append((child_path, "GROUP", obj, None))
                if depth + 1 < MAX_DEPTH:
                    queue.append((child_path, obj, depth + 1))
            else:
                nodes.append((child_path, "dataset" if is_dataset(obj) else "datatype", obj, None))
    return nodes, omitted, False


def _attributes(obj: Any, allowance: AnswerAllowance) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The attributes shown (as wire values), how many were left out, and the labels."""
    names = list(obj.attrs)
    shown: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for index, raw in enumerate(names[:MAX_ATTRS]):
        if allowance.exhausted:
            return shown, len(names) - index, labels
        name = display_name(raw.encode("utf-8", "surrogateescape"), allowance)
        try:
            stored = obj.attrs[raw]
            if np.asarray(stored).nbytes > MAX_ATTR_BYTES:
                shown[name] = {"t": "text", "v": f"<{np.asarray(stored).nbytes} bytes: too large>"}
                continue
            value = decode_attr(stored)
        except Exception as exc:
            value = ValueText(f"<unreadable: {type(exc).__name__}: {exc}>")
        if raw in ("CLASS", "subdtype"):
            labels[raw] = value
        shown[name] = attr_to_json(value, allowance)
    return shown, max(0, len(names) - MAX_ATTRS), labels


def _read_log(file: Any, log_lines: int) -> dict[str, Any]:
    """The Logger's path, its line count and its last lines (a domain has no staged lines)."""
    log: dict[str, Any] = {"path": None, "total": 0, "staged": 0, "lines": [], "error": None}
    candidates = ["/RawData/Logger"] + [f"/{name}/Logger" for name in list(file)[:64]]
    obj: Any = None
    for path in candidates:
        with contextlib.suppress(Exception):  # a missing candidate is no logger
            obj = file.get(path)
        if is_dataset(obj) and h5py.check_vlen_dtype(obj.dtype) is not None:
            break
    else:
        return log
    log["path"] = path
    try:
        rows = int(obj.shape[0])
        first = max(0, rows - log_lines)
        lines = []
        if log_lines and rows:
            # h5pyd reads rows of equal length as one 2-D array: each row is taken as bytes.
            for index, row in enumerate(obj[first:rows], start=first):
                try:
                    text = decode_pickled_str(np.asarray(row, dtype=np.uint8).tobytes())
                    lines.append(text[:MAX_LINE])
                except UnsafeContentError as exc:
                    lines.append(f"<row {index} not shown: {exc}>")
        log.update(total=rows, lines=lines)
    except Exception as exc:
        log["error"] = f"{type(exc).__name__}: {exc}"
    return log


def inspect_domain_in_child(where: str, log_lines: int, max_nodes: int) -> dict[str, Any]:
    """The answer describing the domain at ``where`` (the answer of
    :func:`.inspect_child.inspect_in_child`); ``{"missing": ...}`` if there is none,
    ``{"fatal": ..., "message": ...}`` if it cannot be read."""
    try:
        file = _open(where)
    except FileNotFoundError as exc:
        return {"missing": str(exc.strerror or exc)}
    except Exception as exc:
        return {"fatal": type(exc).__name__, "message": str(exc)}
    allowance = AnswerAllowance(ANSWER_CHARS)
    answer_nodes: list[dict[str, Any]] = []
    with file:
        nodes, omitted, capped = _walk(file, max_nodes, allowance)
        for path, kind, obj, target in nodes:
            node: dict[str, Any] = {"path": path, "kind": kind}
            if target is not None:
                node["target"] = allowance.text(target, 1000)
            if obj is not None:
                try:
                    node["attrs"], node["attrs_omitted"], labels = _attributes(obj, allowance)
                    if kind != "GROUP":
                        node["shape"] = None if obj.shape is None else list(obj.shape)
                        node["dtype"] = dtype_text(obj.dtype)
                    if kind == "dataset":
                        node["kind"] = dataset_kind(obj, labels)
                except Exception as exc:
                    node["error"] = f"{type(exc).__name__}: {exc}"
            answer_nodes.append(node)
        log = _read_log(file, log_lines)
    answer_nodes.sort(key=lambda node: [] if node["path"] == "/" else node["path"].split("/")[1:])
    return {
        "nodes": answer_nodes,
        "omitted": omitted,
        "capped": capped,
        "log": log,
        "allowance_exhausted": allowance.exhausted,
    }


def _rows_and_claims(file: Any, max_nodes: int) -> tuple[dict[str, int], list[str]]:
    """Each enlargeable array's row count, and the appender claims on them."""
    nodes, _, _ = _walk(file, max_nodes, AnswerAllowance(ANSWER_CHARS))
    counts: dict[str, int] = {}
    claims: list[str] = []
    for path, kind, obj, _target in nodes:
        if kind != "dataset" or not obj.shape:
            continue
        labels = {
            name: decode_attr(obj.attrs[name])
            for name in ("CLASS", "subdtype")
            if name in obj.attrs
        }
        if dataset_kind(obj, labels) not in ENLARGEABLE_KINDS:
            continue
        counts[path] = int(obj.shape[0])
        if CLAIM_ATTRIBUTE in obj.attrs:
            claims.append(str(decode_attr(obj.attrs[CLAIM_ATTRIBUTE])))
    return counts, claims


def _claims_dead_here(claims: list[str]) -> bool:
    """True if every claim names a process of this machine that no longer exists (claims read
    ``"HOST pid PID session ..."``)."""
    host = socket.gethostname()
    for claim in claims:
        parts = claim.split()
        if len(parts) < 3 or parts[0] != host or parts[1] != "pid" or not parts[2].isdigit():
            return False
        try:
            os.kill(int(parts[2]), 0)
        except ProcessLookupError:
            continue
        except OSError:
            return False
        return False
    return bool(claims)


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def follow_domain_in_child(
    where: str, *, interval: float, max_nodes: int, timeout: float, gone_after: float = 1.0
) -> int:
    """The child's loop on a domain: open it afresh every ``interval`` seconds (h5pyd keeps
    what it read: a fresh open sees new nodes and rows), print one JSON line per poll, and end
    with ``closed`` once its appenders have closed it or ``gone`` once they are dead (see the
    module's docstring); ``missing`` if there is no domain."""
    claimed_once = False
    failing_since: float | None = None
    dead_since: float | None = None
    while True:
        started = time.monotonic()
        try:
            with _open(where) as file:
                arrays, claims = _rows_and_claims(file, max_nodes)
        except FileNotFoundError:
            _emit(event="missing", t=started)
            return 0
        except MemoryError:
            _emit(event="fatal", message="expected a domain readable within the memory limit")
            return 0
        except Exception as exc:
            failing_since = failing_since if failing_since is not None else started
            if started - failing_since >= timeout:
                message = (
                    f"expected a readable domain, got one that kept failing to read for "
                    f"{timeout:g} s ({type(exc).__name__}: {str(exc)[:200]})"
                )
                _emit(event="fatal", message=message)
                return 0
            _emit(event="retry", t=started, error=f"{type(exc).__name__}")
        else:
            failing_since = None
            claimed_once = claimed_once or bool(claims)
            if claimed_once and not claims:
                _emit(event="closed", t=started, arrays=arrays)
                return 0
            dead_since = (dead_since or started) if _claims_dead_here(claims) else None
            if dead_since is not None and started - dead_since >= gone_after:
                _emit(event="gone", t=started, arrays=arrays)
                return 0
            _emit(event="poll", t=started, arrays=arrays)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
