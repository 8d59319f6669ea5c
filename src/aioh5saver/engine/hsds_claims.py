"""Appender claims on HSDS domains: one writer appends to an enlargeable array at a time.

Several hosts may write one domain, each its own instruments' arrays. Two appenders to one
array would both extend it from the row count they last knew and overwrite each other's rows,
without an error. So an appender claims the array first by creating its
:data:`CLAIM_ATTRIBUTE` on the service: HSDS refuses to create an attribute that exists
(HTTP 409), which makes the claim atomic across hosts. The claim names its writer (host,
process, session) and is removed when the writer closes the domain; a writer that was killed
leaves it, and its array is refused until the attribute is deleted (the message says so).
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from aioh5saver.engine.objects import send_pending
from aioh5saver.errors import AppenderConflictError, ServiceError

__all__ = [
    "CLAIM_ATTRIBUTE",
    "check_claimed_rows",
    "claim_array",
    "forget_claims",
    "note_rows",
    "release_claims",
]

#: The attribute that names an array's appender while one holds it.
CLAIM_ATTRIBUTE = "aioh5saver_appender"

# The claims each open domain holds, by its h5pyd database's id: the writer's name and the
# claimed datasets by uuid.
_CLAIMS: dict[int, tuple[str, dict[str, Any]]] = {}
# The rows each claimed dataset holds as its writer appended them, by uuid.
_ROWS: dict[str, tuple[str, int]] = {}


def _writer_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()} session {uuid.uuid4().hex[:12]}"


def _holder(dataset: Any) -> str:
    """The claim on ``dataset`` as the service has it now (read past h5pyd's cache)."""
    request = f"/datasets/{dataset.id.uuid}/attributes/{CLAIM_ATTRIBUTE}"
    try:
        answer = dataset.id.db.plugin.http_conn.GET(request)
        if answer.status_code == 200:
            return str(answer.json().get("value"))
    except Exception:  # noqa: S110 - only the message's detail is lost
        pass
    return "another writer"


def _refuse(path: str, holder: str) -> AppenderConflictError:
    return AppenderConflictError(
        f"append to {path}: expected an array no other writer appends to, got one appended to "
        f"by {holder} (its attribute {CLAIM_ATTRIBUTE!r}); two appenders would overwrite each "
        f"other's rows. If that writer is gone (killed), delete the attribute to take the "
        "array over"
    )


def claim_array(dataset: Any, path: str) -> None:
    """Claim ``dataset`` (an h5pyd dataset at ``path``) for this writer, once per open domain;
    raise :class:`AppenderConflictError` if another writer holds it."""
    name, claimed = _CLAIMS.setdefault(id(dataset.id.db), (_writer_name(), {}))
    key = dataset.id.uuid
    if key in claimed:
        return
    send_pending(dataset, f"append to {path}")  # pending first: the claim is sent alone
    if CLAIM_ATTRIBUTE in dataset.attrs:
        raise _refuse(path, str(dataset.attrs[CLAIM_ATTRIBUTE]))
    dataset.attrs[CLAIM_ATTRIBUTE] = name
    try:
        dataset.id.flush()
    except OSError as exc:
        if "409" not in str(exc):
            raise
        # Refused: another writer created it first. Dropped here, never to be sent again.
        del dataset.attrs[CLAIM_ATTRIBUTE]
        raise _refuse(path, _holder(dataset)) from None
    claimed[key] = dataset


def note_rows(dataset: Any, path: str, rows: int) -> None:
    """Note that the claimed ``dataset`` (at ``path``) holds ``rows`` rows, as appended."""
    _ROWS[dataset.id.uuid] = (path, rows)


def check_claimed_rows(file: Any) -> None:
    """After a flush: raise :class:`ServiceError` unless every array this writer appended to
    in ``file`` has, on the service, the rows it appended (one request per array): a service
    that lost rows (a data node restarted) is noticed, not read as zeros later."""
    _name, claimed = _CLAIMS.get(id(file.id.db), ("", {}))
    connection = file.id.db.plugin.http_conn
    for key in claimed:
        path, rows = _ROWS.get(key, ("", -1))
        if rows < 0:
            continue
        answer = connection.GET(f"/datasets/{key}/shape")
        stored = answer.json().get("shape", {}).get("dims", [None])[0]
        if answer.status_code != 200 or stored != rows:
            raise ServiceError(
                f"flush {path}: expected the service to hold the {rows} rows appended, got "
                f"{stored if answer.status_code == 200 else f'HTTP {answer.status_code}'}"
            )


def release_claims(file: Any) -> None:
    """Remove the claims of the open domain ``file`` (sent with its next flush)."""
    _name, claimed = _CLAIMS.pop(id(file.id.db), ("", {}))
    for key in claimed:
        _ROWS.pop(key, None)
    for dataset in claimed.values():
        if CLAIM_ATTRIBUTE in dataset.attrs:
            del dataset.attrs[CLAIM_ATTRIBUTE]


def forget_claims(file: Any) -> None:
    """Forget the claims of ``file``, let go of: they stay on the service (a killed writer's)."""
    _name, claimed = _CLAIMS.pop(id(file.id.db), ("", {}))
    for key in claimed:
        _ROWS.pop(key, None)
