"""The public API: what is exported, and that it matches pymodaq_data's names and signatures."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pymodaq_data.h5modules import backends as pmd_backends
from pymodaq_data.h5modules import saving as pmd_saving

import aioh5saver


def _public_members(cls: type) -> dict[str, Any]:
    return {
        name: member
        for klass in reversed(cls.__mro__)
        if klass is not object
        for name, member in vars(klass).items()
        if not name.startswith("_")
    }


def test_all_lists_exactly_the_public_names_and_each_resolves() -> None:
    """``__all__`` names every public attribute of the package once, and each one exists."""
    public = {
        name
        for name, value in vars(aioh5saver).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert len(aioh5saver.__all__) == len(set(aioh5saver.__all__))
    assert set(aioh5saver.__all__) == public
    for name in aioh5saver.__all__:
        assert getattr(aioh5saver, name) is not None


def test_saver_has_every_public_method_and_property_of_pymodaq_data() -> None:
    """Every public method and property of pymodaq_data's H5SaverLowLevel and H5Backend exists
    on aioh5saver's H5SaverLowLevel, as the same kind of member."""
    theirs = _public_members(pmd_saving.H5SaverLowLevel)
    ours = _public_members(aioh5saver.H5SaverLowLevel)
    missing = sorted(set(theirs) - set(ours))
    assert missing == []
    for name, member in theirs.items():
        if isinstance(member, property):
            assert isinstance(ours[name], property), name
        elif callable(member):
            assert callable(ours[name]), name


def _signature(member: Any) -> list[tuple[str, Any, Any]]:
    function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def _same_default(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, dict | list) and not theirs:
        # pymodaq_data's mutable defaults ({} and []) are None here: the same "nothing".
        return ours is None or ours == theirs
    return bool(ours == theirs) or (ours is theirs)


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name, member in _public_members(pmd_saving.H5SaverLowLevel).items()
        if callable(member) or isinstance(member, classmethod | staticmethod)
    ),
)
def test_method_has_pymodaq_data_parameters_in_order_with_same_defaults(name: str) -> None:
    """Each method takes the same parameters as pymodaq_data's, in the same order, with the
    same defaults (enum defaults compare by name); any parameter of ours beyond those is
    keyword-only with a default, so that no call written for pymodaq_data means another
    thing here."""
    theirs = _signature(_public_members(pmd_saving.H5SaverLowLevel)[name])
    ours = _signature(_public_members(aioh5saver.H5SaverLowLevel)[name])
    ours, additions = ours[: len(theirs)], ours[len(theirs) :]
    for param, kind, default in additions:
        assert kind is inspect.Parameter.KEYWORD_ONLY, param
        assert default is not inspect.Parameter.empty, param
    assert [p[0] for p in ours] == [p[0] for p in theirs]
    assert [p[1] for p in ours] == [p[1] for p in theirs]
    for (param, _, our_default), (_, _, their_default) in zip(ours, theirs, strict=True):
        if hasattr(their_default, "name") and hasattr(our_default, "name"):
            assert our_default.name == their_default.name, param
        else:
            assert _same_default(our_default, their_default), (param, our_default, their_default)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (aioh5saver.DataType, pmd_saving.DataType),
        (aioh5saver.FileType, pmd_saving.FileType),
        (aioh5saver.GroupType, pmd_backends.GroupType),
        (aioh5saver.SaveType, pmd_backends.SaveType),
        (aioh5saver.DataDim, pmd_saving.DataDim),
    ],
)
def test_enum_has_pymodaq_data_names_and_values(ours: Any, theirs: Any) -> None:
    """Each enum has exactly pymodaq_data's members, names and values, in the same order."""
    assert ours.to_dict() == theirs.to_dict()
    assert ours.names() == theirs.names()


def test_enum_member_equals_its_name_as_in_pymodaq() -> None:
    """A member compares equal to its name string, and stays hashable."""
    assert aioh5saver.DataType.data == "data"
    assert aioh5saver.DataType.data != "axis"
    assert {aioh5saver.DataDim.Data1D: 1}[aioh5saver.DataDim.Data1D] == 1


@pytest.mark.parametrize("wrapper", ["GROUP", "CARRAY", "EARRAY", "VLARRAY", "StringARRAY"])
def test_node_wrappers_have_pymodaq_data_members(wrapper: str) -> None:
    """Each node wrapper has every public member of pymodaq_data's class of the same name."""
    theirs = _public_members(getattr(pmd_backends, wrapper))
    ours = _public_members(getattr(aioh5saver, wrapper))
    assert sorted(set(theirs) - set(ours)) == []


# Sync methods the async facade does not mirror, and why.
_NOT_ON_THE_FACADE = {
    "from_file": "AsyncH5Saver.open takes its place",
    "init_file": "AsyncH5Saver.open takes its place",
    "open_file": "AsyncH5Saver.open takes its place",
    "set_backend": "h5py is the only backend",
    "reopen": "the writer reopens the file itself when SWMR or a copy needs it",
    "let_go_of_file": "the writer lets go of a file whose writes failed itself",
}


def test_async_saver_mirrors_every_file_method_of_the_sync_saver() -> None:
    """Every public method of H5SaverLowLevel that touches the file exists on AsyncH5Saver with
    the same parameters in the same order (``self`` aside); those that wait are coroutines."""
    sync_members = _public_members(aioh5saver.H5SaverLowLevel)
    async_members = _public_members(aioh5saver.AsyncH5Saver)
    for name, member in sorted(sync_members.items()):
        if isinstance(member, property) or not callable(member) or name in _NOT_ON_THE_FACADE:
            continue
        assert name in async_members, name
        theirs = [p[0] for p in _signature(member)]
        ours = [p[0] for p in _signature(async_members[name])]
        assert ours == theirs, name
        if name != "isopen":
            assert inspect.iscoroutinefunction(async_members[name]), name
