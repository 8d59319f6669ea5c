"""Crafted HDF5 files read with aioh5saver: nothing in a file is executed, a damaged file raises a
clear error, lying labels and cyclic links do not derail it, and reading never writes."""

from __future__ import annotations

import contextlib
import json
import pathlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules import backends as pm_backends

import aioh5saver as h5s

STRING_SUBDTYPE = json.dumps({"module": "builtins", "type": "str", "data": "'string'"})


def envelope(module: str, type_name: str, data: str) -> str:
    return json.dumps({"module": module, "type": type_name, "data": data})


def skeleton(path: Path, logger_rows: tuple[bytes, ...] = ()) -> h5py.File:
    """An open h5py file with PyMoDAQ's root, ``/RawData`` and a ``Logger`` holding ``rows``."""
    file = h5py.File(path, "w")
    file.attrs["CLASS"] = "GROUP"
    raw = file.create_group("RawData")
    raw.attrs.update({"CLASS": "GROUP", "TITLE": "raw"})
    add_string_rows(raw, "Logger", (pickle.dumps("first line"), *logger_rows))
    return file


def add_string_rows(group: h5py.Group, name: str, rows: tuple[bytes, ...]) -> h5py.Dataset:
    dataset = group.create_dataset(
        name, shape=(len(rows),), maxshape=(None,), dtype=h5py.vlen_dtype(np.uint8)
    )
    dataset.attrs.update({"CLASS": "VLARRAY", "EXTDIM": 0, "subdtype": STRING_SUBDTYPE})
    for index, row in enumerate(rows):
        dataset[index] = np.frombuffer(row, np.uint8)
    return dataset


def sentinel_payload(sentinel: Path) -> str:
    """Python source that creates ``sentinel`` (inside tmp_path) if anything evaluates it."""
    return f"__import__('pathlib').Path({str(sentinel)!r}).touch()"


class TouchOnUnpickle:
    """A pickle payload: unpickling it creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def read_everything(saver: h5s.H5SaverLowLevel) -> list[str]:
    """Walk from the root, decode every attribute, read every array; refused rows are skipped."""
    paths = []
    for node in saver.walk_nodes("/"):
        paths.append(node.path)
        saver.get_attr(node)
        if isinstance(node, h5s.CARRAY):
            with contextlib.suppress(h5s.UnsafeContentError):
                node.read()
    return paths


EVAL_TYPES = [
    ("builtins", "int"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "bytes"),
    ("numpy", "float64"),
    ("datetime", "datetime"),
    ("datetime", "time"),
]


@pytest.mark.parametrize(("module", "type_name"), EVAL_TYPES)
def test_eval_payload_attribute_is_returned_as_stored_text(tmp_path, module, type_name):
    """An attribute whose envelope data is code reads back as its stored text, never run."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "evil.h5"
    stored = envelope(module, type_name, sentinel_payload(sentinel))
    with skeleton(path) as file:
        file["RawData"].attrs["evil"] = stored
        file["RawData/Logger"].attrs["evil"] = stored
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        assert saver.get_attr("/RawData", "evil") == stored
        assert saver.get_attr("/RawData/Logger")["evil"] == stored
        assert saver.get_node_from_attribute_match("/", "evil", "x") is None
        read_everything(saver)
    finally:
        saver.close_file()
    assert not sentinel.exists()


def test_pymodaq_get_attr_would_run_eval_payload(tmp_path):
    """pymodaq_data's own get_attr evaluates the same attribute: the threat is real."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "evil.h5"
    with skeleton(path) as file:
        file["RawData"].attrs["evil"] = envelope("builtins", "int", sentinel_payload(sentinel))
    with h5py.File(path, "r") as file:
        pm_backends.get_attr(file["RawData"], "evil", backend="h5py")
    assert sentinel.exists()


HOSTILE_ROWS: dict[str, Callable[[Path], bytes]] = {
    "reduce_payload": lambda sentinel: pickle.dumps(TouchOnUnpickle(sentinel)),
    "pickled_int": lambda _: pickle.dumps(42),
    "pickled_bytes": lambda _: pickle.dumps(b"not a str"),
    "pickled_list": lambda _: pickle.dumps(["a", "b"]),
    "protocol_0_str": lambda _: pickle.dumps("old", protocol=0),
    "truncated": lambda _: pickle.dumps("hello world")[:-4],
    "trailing_bytes": lambda _: pickle.dumps("x") + b"junk",
    "empty": lambda _: b"",
    "garbage": lambda _: b"\x00\x01 garbage \xff",
    "lying_frame": lambda _: b"\x80\x04\x95\xff" + bytes(7) + b"\x8c\x01x\x94.",
    "huge_length": lambda _: b"\x80\x04\x8d" + (2**62).to_bytes(8, "little"),
    "invalid_utf8": lambda _: b"\x80\x04\x8c\x02\xff\xfe\x94.",
}


@pytest.mark.parametrize("where", ["/RawData/Logger", "/RawData/Strings"])
@pytest.mark.parametrize("kind", list(HOSTILE_ROWS))
def test_hostile_string_row_raises_unsafe_content_error(tmp_path, kind, where):
    """A string row that is not a plain pickled str raises UnsafeContentError, never unpickled."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "rows.h5"
    hostile = HOSTILE_ROWS[kind](sentinel)
    with skeleton(path, logger_rows=(hostile,)) as file:
        add_string_rows(file["RawData"], "Strings", (pickle.dumps("first line"), hostile))
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        array = saver.get_set_logger() if where.endswith("Logger") else saver.get_node(where)
        assert isinstance(array, h5s.StringARRAY)
        assert array[0] == "first line"
        with pytest.raises(h5s.UnsafeContentError, match="pickled str") as caught:
            array.read()
        assert isinstance(caught.value, h5s.SaverError)
        assert isinstance(caught.value, ValueError)
        with pytest.raises(h5s.UnsafeContentError, match="pickled str"):
            array[1]
    finally:
        saver.close_file()
    assert not sentinel.exists()


def test_pymodaq_string_read_would_unpickle_payload(tmp_path):
    """pymodaq_data's StringARRAY.read unpickles the same row and runs it: the threat is real."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "rows.h5"
    skeleton(path, logger_rows=(pickle.dumps(TouchOnUnpickle(sentinel)),)).close()
    with h5py.File(path, "r") as file:
        pm_backends.StringARRAY(file["RawData/Logger"], "h5py").read()
    assert sentinel.exists()


def test_add_log_appends_without_decoding_hostile_rows(tmp_path):
    """add_log on a file whose Logger holds a malicious row appends without unpickling it."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "rows.h5"
    skeleton(path, logger_rows=(pickle.dumps(TouchOnUnpickle(sentinel)),)).close()
    saver = h5s.H5SaverLowLevel.from_file(path, mode="a")
    try:
        saver.add_log("appended")
        logger = saver.get_set_logger()
        assert logger[2] == "appended"
        with pytest.raises(h5s.UnsafeContentError):
            logger.read()
    finally:
        saver.close_file()
    assert not sentinel.exists()


@pytest.mark.parametrize("with_logger", [True, False])
def test_add_log_on_read_only_file_raises_read_only_error(tmp_path, with_logger):
    """add_log through a saver opened read-only raises ReadOnlyError and writes nothing."""
    path = tmp_path / "ro.h5"
    with skeleton(path) as file:
        if not with_logger:
            del file["RawData/Logger"]
    before = path.read_bytes()
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        with pytest.raises(h5s.ReadOnlyError):
            saver.add_log("not written")
    finally:
        saver.close_file()
    assert path.read_bytes() == before


def valid_file_bytes(tmp_path: Path) -> bytes:
    source = tmp_path / "valid.h5"
    saver = h5s.H5SaverLowLevel.from_file(source, new_file=True)
    shape = {"data_shape": (64,), "array_type": np.float64, "data_dimension": "Data1D"}
    earray = saver.add_array(saver.raw_group, "frames", "data", enlargeable=True, **shape)
    earray.append(np.ones((256, 64)))
    for index in range(50):
        saver.add_log(f"line {index}")
    saver.close_file()
    return source.read_bytes()


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "cut_to_half": lambda data: data[: len(data) // 2],
    "cut_to_an_eighth": lambda data: data[: len(data) // 8],
    "cut_to_seven_eighths": lambda data: data[: len(data) * 7 // 8],
    "random_bytes": lambda data: np.random.default_rng(0).bytes(len(data)),
    "empty": lambda data: b"",
    "global_heap_signature_damaged": lambda data: data.replace(b"GCOL", b"XXXX"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_file_raises_corrupt_file_error(tmp_path, damage):
    """Opening a truncated, damaged, random or empty file raises CorruptFileError at once."""
    path = tmp_path / "damaged.h5"
    valid = valid_file_bytes(tmp_path)
    damaged = DAMAGE[damage](valid)
    assert damaged != valid
    path.write_bytes(damaged)
    with pytest.raises(h5s.CorruptFileError, match=r"damaged\.h5") as caught:
        h5s.H5SaverLowLevel.from_file(path, mode="r")
    assert isinstance(caught.value, h5s.SaverError)
    assert isinstance(caught.value, OSError)


def vlen_rows(*rows: np.ndarray) -> np.ndarray:
    array = np.empty(len(rows), dtype=object)
    array[:] = list(rows)
    return array


MAKE: dict[str, Callable[[h5py.Group, str], Any]] = {
    "group": lambda parent, name: parent.create_group(name),
    "fixed": lambda parent, name: parent.create_dataset(name, data=np.arange(3.0)),
    "scalar": lambda parent, name: parent.create_dataset(name, data=5.0),
    "resizable": lambda parent, name: parent.create_dataset(
        name, (2, 3), maxshape=(None, 3), dtype="f4"
    ),
    "vlen": lambda parent, name: parent.create_dataset(
        name, data=vlen_rows(np.arange(3, dtype=np.uint8)), dtype=h5py.vlen_dtype("u1")
    ),
}


LIES: dict[str, tuple[str, dict[str, Any], set[str]]] = {
    # name: (what it really is, its attributes, the kinds an honest reader may give it)
    "group_labelled_earray": ("group", {"CLASS": "EARRAY"}, {"GROUP"}),
    "fixed_labelled_earray": ("fixed", {"CLASS": "EARRAY"}, {"CARRAY"}),
    "scalar_labelled_earray": ("scalar", {"CLASS": "EARRAY"}, {"CARRAY"}),
    "vlen_labelled_carray": ("vlen", {"CLASS": "CARRAY"}, {"VLARRAY"}),
    "fixed_labelled_group": ("fixed", {"CLASS": "GROUP"}, {"CARRAY"}),
    "resizable_labelled_group": ("resizable", {"CLASS": "GROUP"}, {"CARRAY", "EARRAY"}),
    "group_without_class": ("group", {}, {"GROUP"}),
    "fixed_without_class": ("fixed", {}, {"CARRAY"}),
    "resizable_without_class": ("resizable", {}, {"EARRAY"}),
    "class_as_bytes": ("resizable", {"CLASS": np.bytes_(b"EARRAY")}, {"EARRAY"}),
    "class_not_utf8": ("fixed", {"CLASS": np.bytes_(b"\xff\xfe")}, {"CARRAY"}),
    "class_as_array": ("resizable", {"CLASS": np.array([1, 2])}, {"CARRAY", "EARRAY"}),
    "subdtype_as_array": ("vlen", {"subdtype": np.array([1, 2])}, {"VLARRAY"}),
}


@pytest.mark.parametrize("name", list(LIES))
def test_node_with_lying_class_is_wrapped_by_what_it_is(tmp_path, name):
    """A node whose CLASS lies, is missing or malformed is wrapped by its real HDF5 kind."""
    make, attributes, kinds = LIES[name]
    path = tmp_path / "lies.h5"
    with skeleton(path) as file:
        MAKE[make](file["RawData"], name).attrs.update(attributes)
    before = path.read_bytes()
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        node = saver.get_node(f"/RawData/{name}")
        assert node.kind in kinds
        assert type(node).__name__ == node.kind
        assert saver.get_children("/RawData")[name].kind == node.kind
        if isinstance(node, h5s.CARRAY):
            assert np.asarray(node.read()).size in (1, 3, 6)
        assert f"/RawData/{name}" in read_everything(saver)
    finally:
        saver.close_file()
    assert path.read_bytes() == before


def test_fixed_dataset_labelled_earray_cannot_be_appended_or_written(tmp_path):
    """A fixed array labelled EARRAY has no append; nothing is written through a read-only file."""
    path = tmp_path / "lies.h5"
    with skeleton(path) as file:
        file["RawData"].create_dataset("Fake", data=np.arange(3.0)).attrs["CLASS"] = "EARRAY"
        real = file["RawData"].create_dataset("Real", (0, 3), maxshape=(None, 3), dtype="f8")
        real.attrs["CLASS"] = "EARRAY"
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        fake, real = saver.get_node("/RawData/Fake"), saver.get_node("/RawData/Real")
        assert type(fake) is h5s.CARRAY
        assert not hasattr(fake, "append")
        assert type(real) is h5s.EARRAY
        with pytest.raises(h5s.ReadOnlyError):
            real.append(np.zeros(3))
        with pytest.raises(h5s.ReadOnlyError):
            fake[0] = 7.0
        with pytest.raises(h5s.ReadOnlyError):
            saver.set_attr(fake, "note", "x")
        assert list(fake.read()) == [0.0, 1.0, 2.0]
        assert real.read().shape == (0, 3)
    finally:
        saver.close_file()
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.timeout(30)
def test_cyclic_hard_links_are_walked_once(tmp_path):
    """Hard links back to the root or a parent do not make walks loop; each group is seen once."""
    path = tmp_path / "cycle.h5"
    with skeleton(path) as file:
        loop = file["RawData"].create_group("Loop")
        loop.attrs.update({"CLASS": "GROUP", "TITLE": "loop"})
        loop.create_dataset("data", data=[1, 2])
        loop["to_root"], loop["to_parent"], loop["to_self"] = file["/"], file["RawData"], loop
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        groups = [group.path for group in saver.walk_groups("/")]
        assert sorted(groups) == ["/", "/RawData", "/RawData/Loop"]
        nodes = read_everything(saver)
        assert len(nodes) == len(set(nodes))
        assert nodes.count("/RawData/Loop/data") == 1
        assert not [p for p in nodes if p.startswith("/RawData/Loop/to_") and p.count("/") > 3]
        assert saver.get_node_from_title("/", "no such title") is None
        assert saver.get_node_from_title("/", "loop").path == "/RawData/Loop"
    finally:
        saver.close_file()


def test_dangling_and_external_links_are_skipped(tmp_path):
    """Dangling soft links and external links to missing files are not children of a group."""
    path = tmp_path / "links.h5"
    with skeleton(path) as file:
        group = file["RawData"].create_group("Links")
        group.create_dataset("real", data=[1])
        group["dangling"] = h5py.SoftLink("/nowhere")
        group["external"] = h5py.ExternalLink(str(tmp_path / "missing.h5"), "/data")
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        assert sorted(saver.get_children("/RawData/Links")) == ["real"]
        for name in ("dangling", "external"):
            with pytest.raises(h5s.NodeNotFoundError):
                saver.get_node(f"/RawData/Links/{name}")
        assert "/RawData/Links/real" in read_everything(saver)
    finally:
        saver.close_file()
    assert not (tmp_path / "missing.h5").exists()


def test_odd_attributes_and_unicode_names_read_without_crash(tmp_path):
    """Non-UTF-8 bytes, odd attribute types, hostile envelopes and unicode names all read back."""
    path = tmp_path / "odd.h5"
    deep = "[" * 5000 + "]" * 5000
    hostile = {
        "deep_list": envelope("builtins", "list", deep),
        "extra_key": json.dumps({"module": "builtins", "type": "str", "data": "'x'", "k": 1}),
        "data_not_str": json.dumps({"module": "builtins", "type": "int", "data": 5}),
        "wrong_type": envelope("builtins", "int", "'five'"),
        "power_bomb": envelope("builtins", "int", "9**9**9**9"),
        "too_many_digits": envelope("builtins", "int", "9" * 5000),
        "nan_json": '{"module": "builtins", "type": "float", "data": NaN}',
        "raw_deep": deep,
    }
    with skeleton(path) as file:
        group = file["RawData"].create_group("Détecteur_数据")
        group.attrs.update({"CLASS": "GROUP", "TITLE": "titre é", **hostile})
        group.attrs["not_utf8_fixed"] = np.bytes_(b"\xff\xfe{")
        group.attrs.create("not_utf8_vlen", b"\xff{x", dtype=h5py.string_dtype("utf-8"))
        group.attrs["名前"] = envelope("builtins", "str", "'値'")
        group.attrs["empty"] = h5py.Empty("f8")
        group.attrs["compound"] = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
        group.create_dataset("données_é", data=[1, 2])
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        where = "/RawData/Détecteur_数据"
        attrs = saver.get_attr(where)
        assert {name: attrs[name] for name in hostile} == hostile
        assert attrs["not_utf8_fixed"] == b"\xff\xfe{"
        assert attrs["not_utf8_vlen"] == "\udcff{x"
        assert attrs["名前"] == "値"
        assert attrs["TITLE"] == "titre é"
        assert isinstance(attrs["empty"], h5py.Empty)
        assert attrs["compound"]["b"].tolist() == [2.0]
        assert saver.get_group_by_title("/RawData", "titre é").path == where
        assert f"{where}/données_é" in read_everything(saver)
    finally:
        saver.close_file()


def test_reading_a_hostile_file_never_writes(tmp_path):
    """Reading a hostile file read-only, all of it, leaves its bytes and mtime as they were."""
    sentinel, path = tmp_path / "SENTINEL", tmp_path / "hostile.h5"
    with skeleton(path, logger_rows=(pickle.dumps(TouchOnUnpickle(sentinel)),)) as file:
        raw = file["RawData"]
        raw.attrs["evil"] = envelope("builtins", "list", sentinel_payload(sentinel))
        raw.create_dataset("no_class", (0, 2), maxshape=(None, 2), dtype="f8")
        raw.create_group("bare_group")
        raw["loop"] = file["/"]
        raw["dangling"] = h5py.SoftLink("/nowhere")
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        assert len(read_everything(saver)) == 6
        groups = [group.path for group in saver.walk_groups("/")]
        assert groups == ["/", "/RawData", "/RawData/bare_group"]
        assert saver.get_node("/RawData/no_class").kind == "EARRAY"
        with pytest.raises(h5s.UnsafeContentError):
            saver.get_set_logger().read()
    finally:
        saver.close_file()
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime
    assert not sentinel.exists()


NO_VALUE_ENVELOPES = [
    envelope("builtins", "dict", "{[1]: 2}"),
    envelope("builtins", "set", "{{1}}"),
    envelope("builtins", "dict", "{(1, [2]): {[3]: 4}}"),
    envelope("builtins", "complex", "(" + "9" * 400 + "+1j)"),
    envelope("builtins", "list", "[" * 40 + "]" * 40),
]


@pytest.mark.parametrize("stored", NO_VALUE_ENVELOPES)
def test_attributes_that_make_no_value_read_as_stored_text_and_never_stop_a_walk(tmp_path, stored):
    """An attribute whose data parses but makes no value (an unhashable key, an overflowing
    complex, too deep), as a plain attribute or as CLASS or subdtype, comes back as the stored
    text from get_attr, attrs and walk_nodes; the walk and inspect go through every node."""
    path = tmp_path / "no_value.h5"
    with skeleton(path) as file:
        raw = file["RawData"]
        raw.attrs["crafted"] = stored
        group = raw.create_group("Det")
        group.attrs.update({"CLASS": stored, "TITLE": "det", "crafted": stored})
        dataset = group.create_dataset("data", (2, 3), maxshape=(None, 3), dtype="f8")
        dataset.attrs.update({"CLASS": stored, "subdtype": stored, "crafted": stored})
        file["RawData/Logger"].attrs["CLASS"] = stored
    saver = h5s.H5SaverLowLevel.from_file(path, mode="r")
    try:
        assert saver.get_attr("/RawData", "crafted") == stored
        kinds = {}
        for node in saver.walk_nodes("/"):
            kinds[node.path] = node.kind
            attrs = saver.get_attr(node)
            if "crafted" in attrs:
                assert attrs["crafted"] == stored
            if node.path != "/":
                assert node.attrs.get("CLASS") in (stored, "GROUP", "VLARRAY")
        assert kinds == {
            "/": "GROUP",
            "/RawData": "GROUP",
            "/RawData/Logger": "StringARRAY",
            "/RawData/Det": "GROUP",
            "/RawData/Det/data": "CARRAY",
        }
        assert saver.get_node_from_attribute_match("/", "crafted", "x") is None
        assert saver.get_node_from_title("/", "det").path == "/RawData/Det"
        assert saver.read("/RawData/Det/data").shape == (2, 3)
    finally:
        saver.close_file()
    report = h5s.inspect_file(path, timeout=30)
    assert {node.path for node in report.nodes} >= set(kinds)
    assert {node.path: node for node in report.nodes}["/RawData"].attrs["crafted"] == stored
