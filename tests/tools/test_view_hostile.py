"""The live view against files that point elsewhere, and against requests that try to reach
other files: every entry point (the ``file`` and ``path`` arguments, a group's listing, the
``paths`` walk, data, statistics and attributes, the page's own files, the ``Host`` header)
stays inside the served file, never follows an external link (to a named pipe, which would
block, or to another HDF5 file in another folder), and never evaluates an attribute.

The same policy as the other reading tools (tests/tools/test_hostile_tools.py): links are
shown, never followed; data stored outside the file are named, never read. The file with
links runs in ``aioh5saver view`` in a child process, so that a server that did follow the
link to the pipe (HDF5 blocked, holding h5py's lock) fails these tests by their request
timeout instead of hanging the test run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("h5grove")

from view_client import ViewProcess, api, get_raw, serving, view_process

from aioh5saver.errors import InvalidArgumentError
from aioh5saver.tools.view import api as view_api
from aioh5saver.tools.view.server import ViewServer

# Bounded: following the link to the named pipe would block until the timeout.
pytestmark = pytest.mark.timeout(60)

SECRET_VALUE = 4242.4242
HIDDEN_TEXT = "ONLY-IN-THE-OTHER-FILE"


def envelope(module: str, type_name: str, data: str) -> str:
    """PyMoDAQ's JSON attribute envelope, with any ``data`` text."""
    return json.dumps({"module": module, "type": type_name, "data": data})


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``served/hostile.h5``, whose links and storage point at a named pipe and at
    ``other/secret.h5`` (an HDF5 file in another folder holding the secret) and its raw
    bytes."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    served, other = tmp_path / "served", tmp_path / "other"
    served.mkdir()
    other.mkdir()
    secret = other / "secret.h5"
    with h5py.File(secret, "w", libver="latest") as file:
        file["data"] = np.full(4, SECRET_VALUE)
        file["data"].attrs["note"] = HIDDEN_TEXT
    raw_secret = other / "secret.bin"
    raw_secret.write_bytes(np.full(4, SECRET_VALUE).tobytes())
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    path = served / "hostile.h5"
    with h5py.File(path, "w", libver="latest") as file:
        raw = file.create_group("RawData")
        raw["plain"] = np.arange(4.0)
        raw["to_pipe"] = h5py.ExternalLink(str(pipe), "/x")
        raw["to_secret"] = h5py.ExternalLink("../other/secret.h5", "/data")
        raw["to_secret_group"] = h5py.ExternalLink(str(secret), "/")
        raw["soft_to_pipe"] = h5py.SoftLink("/RawData/to_pipe")
        raw["soft_through"] = h5py.SoftLink("/RawData/to_secret_group/data")
        raw["soft_inside"] = h5py.SoftLink("/RawData/plain")
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(secret), "data", shape=(4,))
        raw.create_virtual_dataset("virtual", layout, fillvalue=0)
        raw.create_dataset(
            "external_storage", shape=(4,), dtype="f8", external=[(raw_secret, 0, 32)]
        )
    yield path
    path.unlink()
    secret.unlink()


@pytest.fixture(scope="module")
def hostile(hostile_file: Path) -> Iterator[ViewProcess]:
    """``aioh5saver view`` of the hostile file, in a child process."""
    with view_process(hostile_file) as process:
        yield process
    assert process.process.returncode == 130


def _no_secret(body: object) -> None:
    text = json.dumps(body)
    assert HIDDEN_TEXT not in text
    assert str(SECRET_VALUE) not in text


def test_a_listing_shows_links_out_of_the_file_as_links(hostile: Path) -> None:
    """A group's children: external links are described as links (target file and path,
    never opened), soft links leading out as soft links, a soft link inside as its target."""
    status, meta = api(hostile, "meta", path="/RawData")
    assert status == 200
    kinds = {child["name"]: child["kind"] for child in meta["children"]}
    assert kinds == {
        "external_storage": "dataset",
        "plain": "dataset",
        "soft_inside": "dataset",
        "soft_through": "soft_link",
        "soft_to_pipe": "soft_link",
        "to_pipe": "external_link",
        "to_secret": "external_link",
        "to_secret_group": "external_link",
        "virtual": "dataset",
    }
    by_name = {child["name"]: child for child in meta["children"]}
    assert by_name["to_secret"]["target_file"] == "../other/secret.h5"
    _no_secret(meta)


@pytest.mark.parametrize("endpoint", ["meta", "attr", "data", "stats"])
@pytest.mark.parametrize(
    "path",
    [
        "/RawData/to_pipe",
        "/RawData/to_pipe/x",
        "/RawData/to_secret",
        "/RawData/to_secret_group/data",
        "/RawData/soft_to_pipe",
        "/RawData/soft_through",
    ],
)
def test_no_path_leads_through_a_link_out_of_the_file(
    hostile: ViewProcess, endpoint: str, path: str
) -> None:
    """Every endpoint answers 404 for a path that leads through an external link (directly,
    in the middle, or behind a soft link), in bounded time: the named pipe is never opened,
    the other file never read."""
    status, body = api(hostile, endpoint, path=path)
    assert status == 404
    assert "not a valid path" in body["message"]
    _no_secret(body)


@pytest.mark.parametrize("endpoint", ["data", "stats"])
@pytest.mark.parametrize("path", ["/RawData/virtual", "/RawData/external_storage"])
def test_data_stored_in_other_files_are_refused(
    hostile: ViewProcess, endpoint: str, path: str
) -> None:
    """A virtual dataset's sources and external raw storage are other files: their data and
    statistics are refused (403) and never read; their shape is still described."""
    status, body = api(hostile, endpoint, path=path)
    assert status == 403
    assert "stored in" in body["message"]
    _no_secret(body)
    status, meta = api(hostile, "meta", path=path)
    assert (status, meta["shape"]) == (200, [4])


def test_the_paths_walk_stays_in_the_file(hostile: ViewProcess) -> None:
    """``paths`` lists every link of the file once, and nothing behind a link to another."""
    status, paths = api(hostile, "paths")
    assert status == 200
    assert "/RawData/to_secret_group" in paths
    assert not [path for path in paths if path.startswith("/RawData/to_secret_group/")]
    assert len(paths) == len(set(paths)) == 11


@pytest.mark.parametrize(
    "name", ["../other/secret.h5", "secret.h5", "", "/etc/passwd", "hostile.h5/../hostile.h5"]
)
def test_only_the_served_file_can_be_named(hostile: ViewProcess, name: str) -> None:
    """The ``file`` argument must be the served file's name: any other (a relative path to
    another folder, an absolute path, none) is answered 404, without opening anything."""
    status, body = api(hostile, "data", file=name, path="/data")
    assert status == 404
    _no_secret(body)


@pytest.mark.parametrize(
    "target", ["/../pyproject.toml", "/%2e%2e/api.py", "/assets/../../api.py", "//etc/passwd"]
)
def test_the_page_serves_only_its_own_files(hostile: ViewProcess, target: str) -> None:
    """Only the front end's own files are served: no path reaches the package or the disk."""
    status, body, _ = get_raw(hostile, target)
    assert (status, body) == (404, b"not found\n")


def test_a_request_for_another_host_name_is_refused(hostile: ViewProcess) -> None:
    """On loopback, a request whose Host header names another site (a page that rebound its
    name to 127.0.0.1) is refused, and the same request with the server's own name served."""
    assert get_raw(hostile, "/api/info", host="evil.example")[0] == 403
    assert get_raw(hostile, "/api/info", host=f"evil.example:{hostile.port}")[0] == 403
    assert get_raw(hostile, "/api/info", host=f"localhost:{hostile.port}")[0] == 200


def test_a_named_pipe_as_the_file_is_refused_at_once(tmp_path: Path) -> None:
    """A named pipe given as the file is refused before anything opens it (opening it would
    block)."""
    pipe = tmp_path / "pipe.h5"
    os.mkfifo(pipe)
    with pytest.raises(InvalidArgumentError, match="special file"):
        ViewServer(pipe, port=0)


def test_a_selection_larger_than_the_limit_is_refused(
    hostile_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read of more than ``MAX_DATA_BYTES`` is refused (413) before it is made; a slice
    within it is served."""
    monkeypatch.setattr(view_api, "MAX_DATA_BYTES", 16)
    with serving(hostile_file) as server:
        status, body = api(server, "data", path="/RawData/plain")
        assert status == 413
        assert "32 bytes" in body["message"]
        assert api(server, "data", path="/RawData/plain", selection="1:3") == (200, [1.0, 2.0])


def test_attributes_are_decoded_never_evaluated(tmp_path: Path) -> None:
    """PyMoDAQ's envelopes are decoded to their value's text; one that holds code (under a
    foreign type, or a builtin type it is no literal of) stays the stored string, and the code
    never runs; undecodable bytes are shown escaped."""
    marker = tmp_path / "ran"
    code = f"__import__('os').system('touch {marker}')"
    path = tmp_path / "attrs.h5"
    stored = {
        "evil_system": envelope("os", "system", code),
        "evil_int": envelope("builtins", "int", code),
        "evil_eval": envelope("builtins", "str", f"eval({code!r})"),
        "backend": envelope("builtins", "str", "'h5py'"),
        "shape": envelope("builtins", "tuple", "(3280, 1)"),
        "offset": envelope("builtins", "float", "400.0"),
        "when": envelope("datetime", "datetime", "datetime.datetime(2026, 12, 3, 8, 0)"),
    }
    with h5py.File(path, "w") as file:
        node = file.create_dataset("node", data=np.arange(3))
        node.attrs.update(stored)
        node.attrs["raw_bytes"] = np.bytes_(b"\xff\xfeok")
        node.attrs["count"] = np.int64(7)
    with serving(path) as server:
        status, values = api(server, "attr", path="/node")
        assert status == 200
        assert api(server, "attr", path="/node", attr_keys="backend") == (200, {"backend": "h5py"})
    assert not marker.exists()
    assert values["evil_system"] == stored["evil_system"]
    assert values["evil_int"] == stored["evil_int"]
    assert values["evil_eval"] == stored["evil_eval"]
    assert values["backend"] == "h5py"
    assert values["shape"] == "(3280, 1)"
    assert values["offset"] == "400.0"
    assert values["when"] == "2026-12-03T08:00:00"
    assert values["raw_bytes"] == "\\xff\\xfeok"
    assert values["count"] == 7
    path.unlink()
