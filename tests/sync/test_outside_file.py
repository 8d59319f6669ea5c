"""Safe reading never opens a file other than the one given.

A hostile file refers to other files in three ways: arrays whose data live elsewhere
(external raw storage, ``H5Pset_external``; virtual datasets), external links (reached
directly, in the middle of a path, at the end of a soft link, through chains of soft links),
and HDF5's environment prefixes that say where to look for those files. The other files here
are a secret file and an HDF5 file holding a secret (in data, titles and log lines), both in
``tmp_path``, and a named pipe, which blocks whoever opens it.

Every reader entry point (the synchronous saver's get_node, get_children, walk_nodes,
walk_groups, get_attr, has_attr, read, read_strings, node reads, title searches, the Logger;
inspect_file with render_report, follow and recover) is run against every kind of reference.
The synchronous calls run in a child process (tests/outside_probe.py) with a timeout, so that
one that blocks on the pipe fails its test instead of hanging the run. The checks: the
secret never appears in any output; the other files are never read (their access times stay
as set, where the file system records reads); arrays stored outside the file are listed,
marked, and refused on read with ExternalDataError naming the array and the other file;
links out of the file are never followed (NodeNotFoundError, left out of walks).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio
import h5py
import numpy as np
import pytest

import aioh5saver as h5s

PROBE = Path(__file__).parents[1] / "outside_probe.py"
STRING_SUBDTYPE = json.dumps({"module": "builtins", "type": "str", "data": "'string'"})
# Set on the other files: a read (not an open) moves their access time past it.
OLD_ATIME = 1_000_000_000


@dataclass(frozen=True)
class Hostile:
    """A hostile file and what it refers to."""

    path: Path
    secret: str
    secret_file: Path
    other: Path
    pipe: Path
    # False where reads do not move access times (noatime): the secret and the pipe still
    # catch a read there.
    atime_records_reads: bool = True

    @property
    def others(self) -> tuple[Path, ...]:
        return (self.secret_file, self.other)


def string_rows(lines: list[str]) -> np.ndarray:
    rows = np.empty(len(lines), dtype=object)
    rows[:] = [np.frombuffer(pickle.dumps(line, protocol=4), np.uint8) for line in lines]
    return rows


def add_logger(group: h5py.Group, name: str, lines: list[str]) -> h5py.Dataset:
    dataset = group.create_dataset(
        name, data=string_rows(lines), maxshape=(None,), dtype=h5py.vlen_dtype(np.uint8)
    )
    dataset.attrs.update({"CLASS": "VLARRAY", "EXTDIM": 0, "subdtype": STRING_SUBDTYPE})
    return dataset


def virtual(
    group: h5py.Group, name: str, source: str, dataset: str, shape: tuple[int, ...], dtype: Any
) -> h5py.Dataset:
    """A virtual dataset whose every element comes from ``source``:``dataset``."""
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[...] = h5py.VirtualSource(source, dataset, shape=shape, dtype=dtype)
    return group.create_virtual_dataset(name, layout)


def build_others(folder: Path) -> tuple[str, Path, Path, Path]:
    """The secret, a file of its bytes, an HDF5 file holding it everywhere, and a pipe."""
    secret = f"S3CRET-{uuid.uuid4().hex}"
    secret_file = folder / "secret.bin"
    secret_file.write_bytes(secret.encode() * 8)
    other = folder / "other.h5"
    payload = np.frombuffer(secret.encode() * 2, np.uint8)
    with h5py.File(other, "w") as file:
        file.attrs["TITLE"] = secret
        file["data"] = payload
        file["data"].attrs.update({"CLASS": "CARRAY", "TITLE": secret})
        group = file.create_group("grp")
        group.attrs.update({"CLASS": "GROUP", "TITLE": secret, secret: secret})
        group["data"] = payload
        group["data"].attrs.update({"CLASS": "CARRAY", "TITLE": secret})
        add_logger(group, "Logger", [f"{secret} line {index}" for index in range(3)])
        raw = file.create_group("RawData")
        raw.attrs.update({"CLASS": "GROUP", "TITLE": secret})
        add_logger(raw, "Logger", [f"{secret} log"])
    pipe = folder / "pipe"
    os.mkfifo(pipe)
    return secret, secret_file, other, pipe


def build_hostile(folder: Path) -> Hostile:
    """A PyMoDAQ-like file whose /RawData refers to the other files in every way (see DATA
    and LINKS for what each path is)."""
    secret, secret_file, other, pipe = build_others(folder)
    path = folder / "hostile.h5"
    size = len(secret) * 2
    with h5py.File(path, "w") as file:
        file.attrs.update({"CLASS": "GROUP", "TITLE": "hostile"})
        raw = file.create_group("RawData")
        raw.attrs.update({"CLASS": "GROUP", "TITLE": "raw"})
        add_logger(raw, "Logger", ["own line"])
        own = raw.create_dataset("Own", data=np.arange(4.0))
        own.attrs.update({"CLASS": "CARRAY", "TITLE": "own"})
        external = {
            "ExtRaw": str(secret_file),
            "ExtRawRelative": "secret.bin",
            "ExtRawFifo": str(pipe),
        }
        for name, target in external.items():
            dataset = raw.create_dataset(
                name, shape=(size,), dtype="u1", external=[(target, 0, size)]
            )
            dataset.attrs.update({"CLASS": "CARRAY", "TITLE": name})
        raw.create_dataset(
            "ExtRawStrings",
            shape=(2,),
            dtype=h5py.vlen_dtype(np.uint8),
            external=[(str(secret_file), 0, h5py.h5f.UNLIMITED)],
        ).attrs.update({"CLASS": "VLARRAY", "subdtype": STRING_SUBDTYPE})
        virtual(raw, "Virtual", "other.h5", "/data", (size,), "u1")
        virtual(raw, "VirtualAbsolute", str(other), "/grp/data", (size,), "u1")
        virtual(raw, "VirtualFifo", str(pipe), "/data", (size,), "u1")
        layout = h5py.VirtualLayout(shape=(0,), maxshape=(None,), dtype="u1")
        source = h5py.VirtualSource(str(pipe), "/data", shape=(0,), maxshape=(None,))
        layout[0 : h5py.h5s.UNLIMITED] = source[0 : h5py.h5s.UNLIMITED]
        raw.create_virtual_dataset("VirtualUnlimitedFifo", layout).attrs["CLASS"] = "EARRAY"
        virtual(raw, "VirtualSelf", ".", "/RawData/SoftThrough", (size,), "u1")
        strings = virtual(
            raw, "VirtualStrings", "other.h5", "/grp/Logger", (3,), h5py.vlen_dtype(np.uint8)
        )
        strings.attrs.update({"CLASS": "VLARRAY", "EXTDIM": 0, "subdtype": STRING_SUBDTYPE})
        raw["ELink"] = h5py.ExternalLink("other.h5", "/grp")
        raw["ELinkAbsolute"] = h5py.ExternalLink(str(other), "/grp")
        raw["ELinkFifo"] = h5py.ExternalLink(str(pipe), "/grp")
        raw["ELinkSelf"] = h5py.ExternalLink(str(path), "/RawData")
        raw["ELinkData"] = h5py.ExternalLink("other.h5", "/data")
        raw["SoftThrough"] = h5py.SoftLink("/RawData/ELink/data")
        raw["SoftToELink"] = h5py.SoftLink("/RawData/ELink")
        raw["SoftFifo"] = h5py.SoftLink("/RawData/ELinkFifo/data")
        raw["Chain1"] = h5py.SoftLink("/RawData/Chain2")
        raw["Chain2"] = h5py.SoftLink("Chain3")
        raw["Chain3"] = h5py.SoftLink("/RawData/SoftFifo")
        raw["Loop1"] = h5py.SoftLink("/RawData/Loop2")
        raw["Loop2"] = h5py.SoftLink("/RawData/Loop1")
        raw["SoftOwn"] = h5py.SoftLink("/RawData/Own")
        det = raw.create_group("Det")
        det.attrs.update({"CLASS": "GROUP", "TITLE": "det"})
        det["Ext"] = h5py.ExternalLink("other.h5", "/grp")
        det["SoftRelative"] = h5py.SoftLink("Ext/data")
        det["SoftToRawELink"] = h5py.SoftLink("/RawData/SoftToELink/Logger")
    set_old_atimes(secret_file, other)
    return Hostile(path, secret, secret_file, other, pipe, reads_move_atime(folder))


def set_old_atimes(*paths: Path) -> None:
    for path in paths:
        os.utime(path, (OLD_ATIME, OLD_ATIME + 10))


def reads_move_atime(folder: Path) -> bool:
    """True if reading a file whose access time is older than its modification time moves it
    here (relatime, strictatime), so that an unchanged access time proves no read."""
    probe = folder / "atime-probe"
    probe.write_bytes(b"x")
    set_old_atimes(probe)
    probe.read_bytes()
    moved = os.stat(probe).st_atime != OLD_ATIME
    probe.unlink()
    return moved


# path: the file the error message must name
DATA: dict[str, str] = {
    "/RawData/ExtRaw": "secret.bin",
    "/RawData/ExtRawRelative": "secret.bin",
    "/RawData/ExtRawFifo": "pipe",
    "/RawData/ExtRawStrings": "secret.bin",
    "/RawData/Virtual": "other.h5",
    "/RawData/VirtualAbsolute": "other.h5",
    "/RawData/VirtualFifo": "pipe",
    "/RawData/VirtualUnlimitedFifo": "pipe",
    "/RawData/VirtualSelf": "this file",
    "/RawData/VirtualStrings": "other.h5",
}
# path: what the message must say it went through
LINKS: dict[str, str] = {
    "/RawData/ELink": "external link to other.h5:/grp",
    "/RawData/ELinkAbsolute": "external link to",
    "/RawData/ELinkFifo": "pipe:/grp",
    "/RawData/ELinkSelf": "hostile.h5:/RawData",
    "/RawData/ELinkData": "external link to other.h5:/data",
    "/RawData/ELink/data": "'ELink' is an external link",
    "/RawData/ELink/Logger": "'ELink' is an external link",
    "/RawData/SoftThrough": "soft link to '/RawData/ELink/data'",
    "/RawData/SoftToELink": "soft link to '/RawData/ELink'",
    "/RawData/SoftToELink/data": "soft link to '/RawData/ELink'",
    "/RawData/SoftFifo": "pipe:/grp",
    "/RawData/Chain1": "pipe:/grp",
    "/RawData/Loop1": "more than 16 soft links",
    "/RawData/Det/SoftRelative": "'Ext' is an external link",
    "/RawData/Det/SoftToRawELink": "soft link to '/RawData/ELink'",
    "/RawData/Det/Ext/data": "'Ext' is an external link",
}
# What the walks list: the file's own nodes, and the arrays stored outside it.
WALKED = {
    "/",
    "/RawData",
    "/RawData/Logger",
    "/RawData/Own",
    "/RawData/SoftOwn",
    "/RawData/Det",
    *DATA,
}
READS = ("read", "node.read", "node[0]", "node[:]", "CARRAY.read", "CARRAY[...]")


def run_probe(hostile: Hostile, where: str, seconds: float = 60) -> dict[str, Any]:
    """The probe's results for ``where``; fails the test if it does not end in ``seconds``
    (a call blocked on the pipe) or leaks the secret."""
    try:
        done = subprocess.run(
            [sys.executable, str(PROBE), str(hostile.path), where, hostile.secret],
            capture_output=True,
            timeout=seconds,
            stdin=subprocess.DEVNULL,
            cwd=hostile.path.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {where} hung (blocked on the named pipe?)")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    output = done.stdout.decode()
    # The secret is passed to the child as the title to search: it is in argv, not output.
    assert hostile.secret not in output
    results: dict[str, Any] = json.loads(output)
    return results


def assert_others_not_read(hostile: Hostile) -> None:
    """The other files' access times are as set (where reading moves them) and the pipe was
    never opened for reading (a writer opening it without blocking finds no reader)."""
    for other in hostile.others if hostile.atime_records_reads else ():
        assert os.stat(other).st_atime == OLD_ATIME, f"{other.name} was read"
    try:
        fd = os.open(hostile.pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        pass  # ENXIO: nobody has it open for reading
    else:
        os.close(fd)
        pytest.fail("someone holds the pipe open for reading")


@pytest.fixture
def hostile(tmp_path: Path) -> Hostile:
    return build_hostile(tmp_path)


def only_saver_errors(results: dict[str, Any]) -> None:
    """Every failure is a SaverError (documented), never a bare h5py or Python error."""
    for entry, result in results.items():
        if "error" in result:
            assert result["saver_error"], (entry, result)


@pytest.mark.parametrize("where", list(DATA))
def test_an_array_stored_in_other_files_is_listed_and_refused_on_read(
    hostile: Hostile, where: str
) -> None:
    """An array with external raw storage or a virtual layout (sources in another file, a
    named pipe, or this file through an external link) is found, walked and its attributes
    read; every read raises ExternalDataError naming the array and the other file; no call
    blocks, returns the other file's bytes, or reads the other files."""
    results = run_probe(hostile, where)
    only_saver_errors(results)
    assert "value" in results["get_node"]
    parent_children = results["get_children(parent)"]["value"]
    assert where.rsplit("/", 1)[1] in parent_children
    assert results["is_node_in_group"]["value"] == "True"
    assert results["node.outside"]["value"] != "None"
    assert DATA[where] in results["node.outside"]["value"]
    walked = {entry.split()[1] for entry in results["walk_nodes"]["value"]}
    assert walked == WALKED
    for entry in (*READS, "read_strings", "StringARRAY.read"):
        error = results[entry]
        if entry == "read_strings" and error.get("error") == "NodeKindError":
            continue  # not a string array: refused before any read
        assert error.get("error") == "ExternalDataError", (entry, error)
        assert where in error["message"], error
        assert DATA[where] in error["message"], error
    assert results["get_node_from_title"]["value"] == "None"
    assert_others_not_read(hostile)


@pytest.mark.parametrize("where", list(LINKS))
def test_a_path_through_an_external_link_anywhere_is_never_followed(
    hostile: Hostile, where: str
) -> None:
    """A path that meets an external link directly, in its middle, at the end of a soft link,
    of a relative soft link or of a chain of them (to a named pipe, another file or this file),
    or a soft-link loop, leads to no node: NodeNotFoundError saying which link stopped it, for
    every entry point; walks and listings leave it out; nothing blocks or reads another file."""
    results = run_probe(hostile, where)
    only_saver_errors(results)
    for entry in ("get_node", "get_attr", "get_attr TITLE", "has_attr", *READS, "read_strings"):
        assert results[entry].get("error") == "NodeNotFoundError", (entry, results[entry])
        assert LINKS[where] in results[entry]["message"], results[entry]
    walked = {entry.split()[1] for entry in results["walk_nodes"]["value"]}
    assert walked == WALKED
    groups = {entry.split()[1] for entry in results["walk_groups"]["value"]}
    assert groups == {"/", "/RawData", "/RawData/Det"}
    listing = results["get_children(parent)"]
    if "value" in listing:
        assert where.rsplit("/", 1)[1] not in listing["value"]
        assert results["is_node_in_group"]["value"] == "False"
    else:  # the parent itself is reached through the link
        assert listing["error"] == "NodeNotFoundError"
    for entry in ("get_node_from_title", "get_node_from_attribute_match"):
        assert results[entry]["value"] == "None", entry
    assert_others_not_read(hostile)


def test_own_nodes_and_soft_links_inside_the_file_still_read(hostile: Hostile) -> None:
    """The same file's own array, and a soft link to it, read normally; a node reached by a
    soft link keeps the path it was reached by, as HDF5 names it."""
    results = run_probe(hostile, "/RawData/SoftOwn")
    assert results["read"]["value"] == np.arange(4.0).tobytes().decode("latin-1")
    assert results["get_node"]["value"].startswith("CARRAY /RawData/SoftOwn ")
    assert results["node.parent_node"]["value"].startswith("GROUP /RawData ")
    assert results["node.outside"]["value"] == "None"
    assert results["Logger read"]["value"] == [repr("own line")]
    assert_others_not_read(hostile)


LOGGERS = {
    "soft link through an external link to a pipe": lambda raw, h: raw.__setitem__(
        "Logger", h5py.SoftLink("/Ext/Logger")
    ),
    "external link to a pipe": lambda raw, h: raw.__setitem__(
        "Logger", h5py.ExternalLink(str(h.pipe), "/RawData/Logger")
    ),
    "virtual dataset of another file's Logger": lambda raw, h: virtual(
        raw, "Logger", "other.h5", "/grp/Logger", (3,), h5py.vlen_dtype(np.uint8)
    ).attrs.update({"CLASS": "VLARRAY", "EXTDIM": 0, "subdtype": STRING_SUBDTYPE}),
    "virtual dataset on a pipe": lambda raw, h: virtual(
        raw, "Logger", str(h.pipe), "/grp/Logger", (3,), h5py.vlen_dtype(np.uint8)
    ).attrs.update({"CLASS": "VLARRAY", "EXTDIM": 0, "subdtype": STRING_SUBDTYPE}),
    "external raw storage": lambda raw, h: raw.create_dataset(
        "Logger",
        shape=(2,),
        dtype=h5py.vlen_dtype(np.uint8),
        external=[(str(h.secret_file), 0, h5py.h5f.UNLIMITED)],
    ).attrs.update({"CLASS": "VLARRAY", "EXTDIM": 0, "subdtype": STRING_SUBDTYPE}),
}


def build_logger_file(folder: Path, kind: str) -> Hostile:
    """A file whose only Logger is of ``kind``; a staging array beside it is another file's
    too, and /Ext is an external link to the pipe."""
    secret, secret_file, other, pipe = build_others(folder)
    hostile = Hostile(
        folder / "logger.h5", secret, secret_file, other, pipe, reads_move_atime(folder)
    )
    with h5py.File(hostile.path, "w") as file:
        file.attrs.update({"CLASS": "GROUP", "TITLE": "logger"})
        file["Ext"] = h5py.ExternalLink(str(pipe), "/")
        raw = file.create_group("RawData")
        raw.attrs.update({"CLASS": "GROUP", "TITLE": "raw"})
        LOGGERS[kind](raw, hostile)
        staging = np.dtype([("size", "<u2"), ("more", "u1"), ("text", "S32")])
        layout = h5py.VirtualLayout(shape=(4,), dtype=staging)
        layout[...] = h5py.VirtualSource("other.h5", "/staging", shape=(4,), dtype=staging)
        raw.create_virtual_dataset("Logger__swmr_staging", layout)
    set_old_atimes(secret_file, other)
    return hostile


@pytest.mark.parametrize("kind", list(LOGGERS))
def test_a_logger_in_another_file_is_never_read_and_opening_does_not_hang(
    tmp_path: Path, kind: str
) -> None:
    """from_file(mode='r') on a file whose Logger is a link out of the file or an array
    stored outside it opens at once (it used to hang forever on a soft link through an
    external link to a pipe); read_strings refuses the Logger; nothing blocks or leaks."""
    hostile = build_logger_file(tmp_path, kind)
    results = run_probe(hostile, "/RawData/Logger")
    only_saver_errors(results)
    assert "value" in results["walk_nodes"]
    if kind.startswith(("virtual", "external raw")):
        assert results["read_strings"]["error"] == "ExternalDataError"
        assert results["Logger read"]["error"] == "ExternalDataError"
    else:
        assert results["read_strings"]["error"] == "NodeNotFoundError"
    assert_others_not_read(hostile)


@pytest.mark.parametrize("kind", list(LOGGERS))
def test_inspect_and_recover_never_show_a_logger_in_another_file(tmp_path: Path, kind: str) -> None:
    """inspect_file shows no line of a Logger (or staging array) stored in another file and
    says why in a note; recover reports it without reading it."""
    hostile = build_logger_file(tmp_path, kind)
    report = h5s.inspect_file(hostile.path, timeout=30)
    text = h5s.render_report(report)
    assert hostile.secret not in text
    assert report.log_lines == ()
    recovered = h5s.recover(hostile.path, timeout=30)
    assert hostile.secret not in repr(recovered) + h5s.render_recovery(recovered)
    assert_others_not_read(hostile)


def test_inspect_marks_arrays_stored_outside_and_lists_links_unfollowed(hostile: Hostile) -> None:
    """inspect lists each array stored in other files with its kind, shape and the files
    named (never their data), each external or soft link as a link with its target, and notes
    how many arrays it did not read; the render holds no byte of the other files."""
    report = h5s.inspect_file(hostile.path, timeout=30)
    text = h5s.render_report(report)
    assert hostile.secret not in text
    nodes = {node.path: node for node in report.nodes}
    for where, named in DATA.items():
        assert nodes[where].outside is not None, where
        assert named in nodes[where].outside, where
    assert nodes["/RawData/Own"].outside is None
    for where in ("/RawData/ELink", "/RawData/SoftThrough", "/RawData/Chain1", "/RawData/Loop1"):
        assert nodes[where].kind == "link"
    assert text.count("data in other files, never read") == len(DATA)
    assert any(f"{len(DATA)} arrays have their data in other files" in n for n in report.notes)
    assert report.log_lines == ("own line",)
    assert_others_not_read(hostile)


async def follow_to_close(path: Path) -> dict[str, int]:
    stream = cast(AsyncGenerator[Any, None], h5s.follow(path, poll_interval=0.05, timeout=20.0))
    with anyio.fail_after(60):
        async with aclosing(stream) as updates:
            async for update in updates:
                if isinstance(update, h5s.WriterClosed):
                    return update.arrays
    raise AssertionError("follow ended without WriterClosed")


@pytest.mark.anyio
async def test_follow_and_recover_leave_arrays_stored_outside_unread(hostile: Hostile) -> None:
    """follow counts the file's own enlargeable arrays only (not a virtual one on a pipe) and
    ends; recover reports without reading the other files."""
    arrays = await follow_to_close(hostile.path)
    assert arrays == {"/RawData/Logger": 1}
    recovered = await anyio.to_thread.run_sync(lambda: h5s.recover(hostile.path, timeout=30))
    assert hostile.secret not in repr(recovered) + h5s.render_recovery(recovered)
    assert recovered.log_lines == 1
    assert_others_not_read(hostile)


def test_hdf5_prefixes_from_the_environment_lead_nowhere(hostile: Hostile, tmp_path: Path) -> None:
    """With HDF5_EXT_PREFIX, HDF5_VDS_PREFIX and HDF5_EXTFILE_PREFIX pointing at a folder
    holding the other files, the sweep of every reference still reads none of them."""
    prefixed = tmp_path / "prefixed"
    prefixed.mkdir()
    env = dict(os.environ)
    env.update(
        HDF5_EXT_PREFIX=str(tmp_path),
        HDF5_VDS_PREFIX=str(tmp_path),
        HDF5_EXTFILE_PREFIX=str(tmp_path),
    )
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[3]); import outside_probe as p;"
        "print(json.dumps({w: p.probe(sys.argv[1], w, sys.argv[2]) for w in sys.argv[4:]}))"
    )
    done = subprocess.run(
        [
            *(sys.executable, "-c", code, str(hostile.path), hostile.secret, str(PROBE.parent)),
            *DATA,
            *LINKS,
        ],
        capture_output=True,
        timeout=100,
        stdin=subprocess.DEVNULL,
        cwd=prefixed,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert hostile.secret not in done.stdout.decode()
    results = json.loads(done.stdout)
    for where in DATA:
        assert results[where]["read"]["error"] == "ExternalDataError"
    for where in LINKS:
        assert results[where]["get_node"]["error"] == "NodeNotFoundError"
    assert_others_not_read(hostile)


@pytest.mark.anyio
async def test_the_async_saver_refuses_the_same_reads_with_the_same_errors(
    hostile: Hostile,
) -> None:
    """AsyncH5Saver, continuing a hostile file, lists an array stored outside it, refuses to
    read it with ExternalDataError, and finds no node behind an external link: the errors
    cross from the writer thread unchanged; nothing blocks or reads the other files."""
    with anyio.fail_after(60):
        async with h5s.AsyncH5Saver.open(hostile.path, new_file=False) as saver:
            children = await saver.get_children("/RawData")
            assert set(DATA) <= {ref.path for ref in children.values()}
            for where in ("/RawData/Virtual", "/RawData/ExtRawFifo", "/RawData/VirtualStrings"):
                with pytest.raises(h5s.ExternalDataError, match=DATA[where]):
                    await saver.read(where)
            with pytest.raises(h5s.ExternalDataError):
                await saver.read_strings("/RawData/VirtualStrings")
            for where in ("/RawData/SoftFifo", "/RawData/ELink/data", "/RawData/Chain1"):
                with pytest.raises(h5s.NodeNotFoundError, match="never followed"):
                    await saver.get_attr(where)
            walked = {ref.path for ref in await saver.walk_nodes("/")}
            assert walked.isdisjoint(LINKS)
            assert hostile.secret not in repr(await saver.get_attr("/RawData"))
    assert_others_not_read(hostile)


def test_a_node_reached_by_a_soft_link_keeps_that_path_as_hdf5_names_it(tmp_path: Path) -> None:
    """Paths are resolved link by link, yet a node reached through a soft link keeps the path
    it was reached by, as h5py names it when HDF5 traverses: through get_node by path, by a
    node and a name, get_children, parent_node and a node passed back in."""
    path = tmp_path / "soft.h5"
    with h5py.File(path, "w") as file:
        file.create_group("RawData")
        file.create_group("A").create_dataset("E", data=[1.0, 2.0])
        file["B"] = h5py.SoftLink("/A")
        file["C"] = h5py.SoftLink("/B/E")
        file["A"]["rel"] = h5py.SoftLink("E")
        expected = {where: file[where].name for where in ("/B/E", "/C", "/A/rel", "/B/rel")}
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        for where, name in expected.items():
            assert saver.get_node(where).path == name == where
            assert saver.read(where).tolist() == [1.0, 2.0]
        group = saver.get_node("/B")
        assert group.path == "/B"
        assert saver.get_node(group, "E").path == "/B/E"
        assert saver.get_node(group.node, "E").path == "/A/E"  # an h5py object has its own name
        assert saver.get_node(saver.get_node("/C")).path == "/C"
        assert {n: c.path for n, c in saver.get_children(group).items()} == {
            "E": "/B/E",
            "rel": "/B/rel",
        }
        assert saver.get_node("/B/E").parent_node.path == "/B"
        assert saver.get_node("//A/./E/").path == "/A/E"
    finally:
        saver.close_file()


_WRITE_INTO_OUTSIDE = """
import json, sys
import numpy as np
import aioh5saver as h5s
saver = h5s.H5SaverLowLevel.from_file(sys.argv[1], mode="a")
calls = {
    "append": lambda: saver.get_node("/RawData/VirtualUnlimitedFifo").append(np.zeros(1, "u1")),
    "StringARRAY.append": lambda: saver.get_node("/RawData/VirtualStrings").append("x"),
    "StringARRAY.extend": lambda: saver.get_node("/RawData/ExtRawStrings").extend(["x"]),
    "setitem": lambda: saver.get_node("/RawData/ExtRaw").__setitem__(0, 7),
    "setitem on a pipe": lambda: saver.get_node("/RawData/ExtRawFifo").__setitem__(0, 7),
    "setitem virtual": lambda: saver.get_node("/RawData/Virtual").__setitem__(0, 7),
}
results = {}
for name, call in calls.items():
    try:
        call()
        results[name] = "written"
    except Exception as exc:
        results[name] = [type(exc).__name__, str(exc)]
saver.close_file()
print(json.dumps(results))
"""


def test_writing_into_an_array_stored_in_other_files_is_refused(hostile: Hostile) -> None:
    """A saver continuing a hostile file (mode 'a') refuses to append to, or write into, an
    array whose data are stored in other files, with ExternalDataError: it never writes
    another file, nor blocks on a named pipe; the other files keep their bytes."""
    before = {other: other.read_bytes() for other in hostile.others}
    set_old_atimes(*hostile.others)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _WRITE_INTO_OUTSIDE, str(hostile.path)],
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            cwd=hostile.path.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("writing into an array stored outside the file hung")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    results = json.loads(done.stdout)
    for name, result in results.items():
        assert result[0] == "ExternalDataError", (name, result)
        assert "never read or written" in result[1]
    assert_others_not_read(hostile)
    assert {other: other.read_bytes() for other in hostile.others} == before
