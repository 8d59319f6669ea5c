"""What ``aioh5saver inspect`` shows of an HSDS domain (``hsds://host:port/folder/name.h5``):
the report of a local file, read by h5pyd in the same bounded child process.

The domain has no size, superblock or lock: the report says whether an appender holds one of
its arrays (the claims of :mod:`aioh5saver.engine.hsds_claims`), and shows what its writers
had sent at their last flush or batch.
"""

from __future__ import annotations

from aioh5saver.engine.hsds_claims import CLAIM_ATTRIBUTE
from aioh5saver.engine.hsds_engine import HsdsLocation
from aioh5saver.errors import CorruptFileError, MissingFileError, ServiceError
from aioh5saver.tools.limits import COUNT_CAP
from aioh5saver.tools.report import FileReport
from aioh5saver.tools.sandbox import run_child
from aioh5saver.tools.wire import node_from_json

__all__ = ["inspect_domain"]


def inspect_domain(
    where: str, *, log_lines: int, timeout: float, max_nodes: int, max_memory: int
) -> FileReport:
    """The report of the domain at ``where``, read in a child limited to ``timeout`` seconds
    and ``max_memory`` bytes. Raises :class:`MissingFileError` (no such domain),
    :class:`ServiceError` (the service failed or did not answer in time)."""
    location = str(HsdsLocation.parse(where))  # a malformed location: one clear error
    arguments = ["inspect", where, "--log-lines", str(log_lines), "--max-nodes", str(max_nodes)]
    try:
        answer = run_child(arguments, where=location, timeout=timeout, max_memory=max_memory)
    except CorruptFileError as exc:
        raise ServiceError(str(exc).replace("HDF5", "the HSDS service")) from None
    if "missing" in answer:
        raise MissingFileError(
            f"{location}: expected an existing domain in an existing folder, got none there"
        )
    if "fatal" in answer:
        raise ServiceError(
            f"{location}: expected the HSDS service to give the domain, got "
            f"{answer['fatal']}: {str(answer.get('message', ''))[:300]}"
        )
    nodes = tuple(node_from_json(node) for node in answer["nodes"])
    claimed = [node.path for node in nodes if CLAIM_ATTRIBUTE in node.attrs]
    notes = []
    if claimed:
        notes.append(
            f"{len(claimed)} arrays are held by an appender (attribute {CLAIM_ATTRIBUTE!r}): a "
            "writer has the domain open, or was killed with it open; their rows are those of "
            "its last batch sent"
        )
    errors = sum(1 for node in nodes if node.error)
    if errors:
        notes.append(f"{errors} nodes could not be read in full: see their errors")
    log = answer["log"]
    if log.get("error"):
        notes.append(f"log lines: {log['error']}")
    if answer.get("capped"):
        notes.append(f"counting the nodes not listed stopped at {COUNT_CAP}: there are more")
    if answer.get("allowance_exhausted"):
        notes.append("the listing was cut: the answer reached its size limit")
    return FileReport(
        path=location,
        size_bytes=0,
        writing=bool(claimed),
        swmr=False,
        nodes=nodes,
        log_lines=tuple(log["lines"]),
        nodes_omitted=int(answer["omitted"]),
        log_path=log["path"],
        log_total=int(log["total"]),
        notes=tuple(notes),
        log_error=None if log.get("error") is None else str(log["error"]),
        domain=True,
    )
