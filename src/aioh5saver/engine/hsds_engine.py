"""The HSDS storage engine: domains of the HDF Group's Highly Scalable Data Service, reached at
``hsds://host:port/home/user/run.h5`` through its client h5pyd
(:class:`~aioh5saver.engine.base.StorageEngine`).

A domain is one PyMoDAQ file kept by a service that several hosts reach. Of HDF5's local-file
features it has none (SWMR, direct chunk writes, a file size, a lock, a journal): the saver asks
:attr:`HsdsEngine.capabilities` before using one. h5pyd holds every change in memory until its
cache is flushed, and the service holds what it received in memory until it writes it to its
storage: :meth:`HsdsEngine.flush` sends both, so that what it acknowledges survives a kill of
the whole service.

Credentials come from h5pyd's own configuration (``HS_USERNAME`` and ``HS_PASSWORD`` in the
environment, or ``~/.hscfg``) or from the ``username`` and ``password`` options; they are never
put in a message or a log line.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aioh5saver.engine.base import EngineCapabilities, FileIdentity
from aioh5saver.engine.hsds_claims import check_claimed_rows, forget_claims, release_claims
from aioh5saver.engine.objects import hsds_library, is_open, send_pending
from aioh5saver.errors import (
    InvalidArgumentError,
    ServiceError,
    UnsupportedBackendError,
    describe,
)

__all__ = [
    "HSDS_SCHEME",
    "HsdsEngine",
    "HsdsLocation",
    "is_hsds_location",
]

#: The scheme of a location the HSDS engine reaches.
HSDS_SCHEME = "hsds://"
_FILE_MODES = frozenset({"r", "r+", "a", "w", "w-", "x"})
#: Seconds a request may take before it fails (h5pyd's default, 180 s, would hold a writer
#: that long on a dead node).
DEFAULT_TIMEOUT = 10.0
#: Retries of a failed request (h5pyd's default, 10 with exponential back-off, waits minutes).
DEFAULT_RETRIES = 1
#: The shortest flush period kept: the service's own flush, waited for by every flush, runs
#: on a cycle of about this many seconds.
MIN_FLUSH_PERIOD = 2.0
#: How long the writer lets a batch fill: a few round trips (about 10 ms each), short beside
#: the service's own flush.
BATCH_FILL_SECONDS = 0.05


def is_hsds_location(location: object) -> bool:
    """True if ``location`` is a str naming an HSDS domain (``hsds://...``)."""
    return isinstance(location, str) and location.startswith(HSDS_SCHEME)


@dataclass(frozen=True)
class HsdsLocation:
    """Where a domain is: the service's endpoint and the domain's path on it."""

    endpoint: str
    domain: str

    @classmethod
    def parse(cls, location: object) -> HsdsLocation:
        """``hsds://host:port/folder/name.h5`` as an endpoint and a domain path (a name
        without an ``h5`` suffix gets ``.h5``, as a local file's does)."""
        text = str(location) if isinstance(location, str | Path) else None
        if text is None or not text.startswith(HSDS_SCHEME):
            raise InvalidArgumentError(
                f"location: expected hsds://host:port/folder/name.h5, got {describe(location)}"
            )
        parts = urlsplit("http://" + text[len(HSDS_SCHEME) :])
        folder, _, name = parts.path.rpartition("/")
        if not parts.hostname or parts.username or parts.query or not folder or not name:
            raise InvalidArgumentError(
                "location: expected hsds://host:port/folder/name.h5 (no credentials in it: "
                f"they come from h5pyd's configuration), got {_without_credentials(text)!r}"
            )
        if "h5" not in Path(name).suffix:
            name = f"{Path(name).stem}.h5"
        return cls(f"http://{parts.netloc}", f"{folder}/{name}")

    @property
    def folder(self) -> str:
        """The folder holding the domain, with its trailing slash."""
        return self.domain.rpartition("/")[0] + "/"

    @property
    def name(self) -> str:
        """The domain's own name."""
        return self.domain.rpartition("/")[2]

    def __str__(self) -> str:
        return f"{HSDS_SCHEME}{self.endpoint.removeprefix('http://')}{self.domain}"


def _without_credentials(text: str) -> str:
    """``text`` with anything before an ``@`` in its host part hidden."""
    scheme, _, rest = text.partition("://")
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rpartition("@")[2]
    return f"{scheme}://{host}{slash}{path}"


def _library() -> Any:
    h5pyd = hsds_library()
    if h5pyd is None:
        raise UnsupportedBackendError(
            "hsds:// locations: expected the h5pyd client installed (pip install "
            "'aioh5saver[hsds]'), got none"
        )
    return h5pyd


def _status(exc: BaseException) -> str:
    """What a failed request says, without anything a request carried (credentials)."""
    code = getattr(exc, "errno", None)
    kind = type(exc).__name__
    return f"{kind} {code}" if isinstance(code, int) else f"{kind}: {str(exc)[:200]}"


def _create_domain(location: HsdsLocation, client: dict[str, Any]) -> None:
    """Create the empty domain at ``location`` in one request, which the service refuses
    (HTTP 409) if the domain exists: FileExistsError then, as for an existing local file."""
    from h5pyd.httpconn import HttpConn

    connection = HttpConn(location.domain, mode="a", **client)
    connection.open()
    try:
        answer = connection.PUT("/", body={})
    finally:
        connection.close()
    if answer.status_code == 409:
        raise FileExistsError(409, f"cannot create {location}: expected no domain there, got one")
    if answer.status_code != 201:
        raise OSError(answer.status_code, f"create {location}: HTTP {answer.status_code}")


class HsdsEngine:
    """HSDS domains through h5pyd: no SWMR, direct chunk write, file size, lock or journal."""

    name = "hsds"
    capabilities = EngineCapabilities(
        swmr=False,
        direct_chunk_write=False,
        file_size=False,
        file_lock=False,
        journal=False,
        # Each batch costs two requests per array: only batches as large as the budget allows
        # pay for them.
        default_queue_seconds=None,
        min_flush_period=MIN_FLUSH_PERIOD,
        batch_fill_seconds=BATCH_FILL_SECONDS,
    )

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES) -> None:
        self.timeout = timeout
        self.retries = retries

    @property
    def library(self) -> Any:
        """The h5pyd module (:class:`UnsupportedBackendError` if it is not installed)."""
        return _library()

    def check_mode(self, mode: object) -> None:
        """Raise :class:`InvalidArgumentError` unless ``mode`` is one of h5py's file modes."""
        if mode not in _FILE_MODES:
            raise InvalidArgumentError(
                f"mode: expected one of {sorted(_FILE_MODES)}, got {describe(mode)}"
            )

    def _client_options(self, location: HsdsLocation, options: dict[str, Any]) -> dict[str, Any]:
        client: dict[str, Any] = {
            "endpoint": location.endpoint,
            "timeout": options.pop("timeout", self.timeout),
            # h5pyd treats 0 as "its default" (10): at least one retry is asked for.
            "retries": max(1, int(options.pop("retries", self.retries))),
        }
        for key in ("username", "password", "api_key", "bucket"):
            if options.get(key) is not None:
                client[key] = options.pop(key)
        options.pop("locking", None)  # a local file's lock: HSDS has none
        return client

    def open(
        self, path: Path | str, mode: str, *, swmr: bool, journaled: bool = False, **options: Any
    ) -> Any:
        """Open (or create) the domain at ``path`` (an ``hsds://`` location). ``swmr`` and
        ``journaled`` do not apply (no such capability): a domain is always readable while it
        is written. A missing domain read raises FileNotFoundError; one created with ``w-`` or
        ``x`` that exists, FileExistsError; a service that does not answer,
        :class:`ServiceError`."""
        self.check_mode(mode)
        location = HsdsLocation.parse(str(path))
        client = self._client_options(location, options)
        h5pyd = _library()
        try:
            if mode in ("w-", "x"):
                # h5pyd 1.0.0 creates with these modes by deleting a domain that appeared
                # since it looked (another host's, created at the same moment), and its mode
                # 'a' does not say whether it created the domain or opened another host's:
                # the domain is created here with the service's own exclusive creation, then
                # opened with mode 'a'. Of hosts creating one domain at once, exactly one is
                # its creator (it alone writes the new file's attributes); the others get
                # FileExistsError, and continue it.
                _create_domain(location, client)
                mode = "a"
            try:
                file = h5pyd.File(location.domain, mode, **client)
            except OSError as exc:
                if getattr(exc, "errno", None) != 409 or mode != "a":
                    raise
                # Created by another host at the same moment (its creation won): opened.
                file = h5pyd.File(location.domain, mode, **client)
            if mode != "r":
                # h5pyd sends an attribute or link as new unless it was created before its
                # last flush, and has none after an open: flushed now (nothing to send), the
                # domain's existing attributes can be replaced (else HTTP 409). Stamps are
                # compared with this host's clock: hosts must keep their clocks in sync.
                file.flush()
            return file
        except (FileNotFoundError, FileExistsError):
            raise
        except OSError as exc:
            if getattr(exc, "errno", None) == 404:
                raise FileNotFoundError(
                    404,
                    f"cannot open {location} (mode {mode!r}): expected an existing domain in an "
                    f"existing folder, got none there",
                ) from exc
            raise ServiceError(
                f"cannot open {location} (mode {mode!r}): expected the HSDS service at "
                f"{location.endpoint} to answer, got {_status(exc)}"
            ) from exc

    def _server_flush(self, file: Any) -> None:
        """Ask the service to write what it holds of the domain to its storage, and wait."""
        connection = file.id.db.plugin.http_conn
        answer = connection.PUT("/", params={"flush": 1})
        if answer.status_code not in (200, 204):
            raise ServiceError(
                f"flush {file.filename}: expected the service to store the domain (HTTP 204), "
                f"got HTTP {answer.status_code}"
            )

    def publish(self, file: Any) -> None:
        """Send every change h5pyd holds (other writers see them then; they are durable after
        :meth:`flush`). :class:`SharedNodeConflictError` if another writer created one of the
        same nodes first."""
        if file.mode == "r":
            return
        send_pending(file, f"send the changes to {file.filename}")

    def flush(self, file: Any) -> None:
        """Send every change h5pyd holds (:meth:`publish`), then have the service store the
        domain: what was written before is then kept through a kill of the whole service."""
        if file.mode == "r":
            return
        self.publish(file)
        try:
            self._server_flush(file)
            check_claimed_rows(file)
        except ServiceError:
            raise
        except Exception as exc:
            raise ServiceError(
                f"flush {file.filename}: expected the HSDS service to store the domain, got "
                f"{_status(exc)}"
            ) from exc

    def close(self, file: Any) -> None:
        """Flush (:meth:`flush`), release this writer's appender claims (:mod:`.hsds_claims`)
        and close ``file``; if the flush fails, let go of it and raise the failure."""
        try:
            self.flush(file)
            if file.mode != "r":
                release_claims(file)
                self.publish(file)
        except Exception:
            self.let_go(file)
            raise
        file.close()

    def let_go(self, file: Any) -> None:
        """Stop using ``file`` without sending what h5pyd still holds of it: its connection
        is closed, so nothing of it is ever sent; its appender claims stay."""
        if is_open(file):
            forget_claims(file)
            file.id.db.plugin.http_conn.close()

    def forget(self, file: Any) -> None:
        """Close ``file`` (just opened, unwritten)."""
        file.close()

    def start_swmr(self, file: Any) -> None:
        """Nothing: a domain is readable while it is written (no SWMR capability)."""

    def identity(self, file: Any) -> FileIdentity:
        """The service's endpoint and the domain's root group, as two checksums."""
        endpoint = file.id.db.plugin.http_conn.endpoint or ""
        return zlib.crc32(endpoint.encode()), zlib.crc32(str(file.id.uuid).encode())

    def descriptor(self, file: Any) -> int:
        """None exists (no ``file_size`` capability)."""
        raise UnsupportedBackendError(
            f"descriptor of {file.filename}: expected a local file, got an HSDS domain"
        )

    @contextmanager
    def held(self, file: Any, path: Path | str, moved_ok: bool) -> Iterator[Path | str]:
        """``path``: a domain is reached by its location."""
        yield path

    def check_path_names(self, path: Path | str, identity: FileIdentity, action: str) -> None:
        """Nothing to check: a domain is reached by its location only."""

    def check_file_intact(self, handle: int, path: Path | str, written: int, action: str) -> None:
        """Nothing to check (no ``file_size`` capability)."""

    def is_swmr_compatible(self, path: Path | str) -> bool:
        """False: no domain is written with SWMR."""
        return False

    def file_exists(self, path: Path | str) -> bool:
        """True if the domain at ``path`` exists."""
        location = HsdsLocation.parse(str(path))
        try:
            return bool(self.library.is_hdf5(location.domain, **self._client_options(location, {})))
        except OSError as exc:
            raise ServiceError(
                f"look for {location}: expected the HSDS service at {location.endpoint} to "
                f"answer, got {_status(exc)}"
            ) from exc

    def folder_exists(self, path: Path | str) -> bool:
        """True if the folder that would hold the domain at ``path`` exists."""
        location = HsdsLocation.parse(str(path))
        client = self._client_options(location, {})
        try:
            self.library.Folder(location.folder, mode="r", **client).close()
        except OSError as exc:
            if getattr(exc, "errno", None) in (403, 404):
                return False
            raise ServiceError(
                f"look for {location.folder}: expected the HSDS service at {location.endpoint} "
                f"to answer, got {_status(exc)}"
            ) from exc
        return True
