"""Random sequences of saver calls give the same file with aioh5saver as with pymodaq_data."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodaq_data.h5modules import saving as pmd_saving

import aioh5saver
from reference import canonical_dump

_titles = st.text(alphabet="abcé xyz_", max_size=6)
_attr_values = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.lists(st.integers(0, 9), max_size=3),
    st.tuples(st.integers(0, 9), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),
)
_dtypes = st.sampled_from(["float64", "float32", "int32", "uint16"])
_row_shapes = st.sampled_from([(1,), (3,), (2, 2)])

_operations = st.lists(
    st.one_of(
        st.tuples(st.just("scan"), _titles),
        st.tuples(st.sampled_from(["det", "act", "move", "ch"]), st.integers(0, 99), _titles),
        st.tuples(
            st.just("data_group"),
            st.integers(0, 99),
            st.sampled_from(["Data0D", "Data1D", "Data2D", "DataND"]),
        ),
        st.tuples(st.just("carray"), st.integers(0, 99), _dtypes, st.integers(1, 4)),
        # Floats only: pymodaq_data fills integer scan arrays with NaN cast to garbage.
        st.tuples(
            st.just("scan_array"),
            st.integers(0, 99),
            st.sampled_from(["float64", "float32"]),
            _row_shapes,
        ),
        st.tuples(st.just("earray"), st.integers(0, 99), _dtypes, _row_shapes, st.integers(0, 3)),
        st.tuples(st.just("strings"), st.integers(0, 99), st.lists(st.text(max_size=5))),
        st.tuples(st.just("log"), st.text(max_size=20)),
        st.tuples(st.just("attr"), st.integers(0, 99), st.sampled_from("abc"), _attr_values),
    ),
    max_size=14,
)


def apply(saver: Any, operations: list[tuple[Any, ...]]) -> None:
    """Run ``operations`` on ``saver``, choosing nodes by index among the groups so far."""
    groups = ["/RawData"]
    for names, op in enumerate(operations, start=1):
        kind = op[0]
        if kind == "scan":
            groups.append(saver.add_scan_group(saver.raw_group, title=op[1]).path)
        elif kind in ("det", "act", "move", "ch"):
            add = getattr(saver, f"add_{kind}_group")
            groups.append(add(groups[op[1] % len(groups)], title=op[2]).path)
        elif kind == "data_group":
            groups.append(saver.add_data_group(groups[op[1] % len(groups)], op[2]).path)
        elif kind == "carray":
            data = np.arange(op[3] * 2, dtype=op[2]).reshape(op[3], 2)
            saver.add_array(
                groups[op[1] % len(groups)],
                f"c{names}",
                "data",
                array_to_save=data,
                data_dimension="Data1D",
                title="c",
                metadata={"units": "V"},
            )
        elif kind == "scan_array":
            saver.add_array(
                groups[op[1] % len(groups)],
                f"s{names}",
                "data",
                data_shape=op[3],
                array_type=op[2],
                data_dimension="DataND",
                scan_shape=(3,),
                add_scan_dim=True,
            )
        elif kind == "earray":
            _, where, dtype, row_shape, rows = op
            array = saver.add_array(
                groups[where % len(groups)],
                f"e{names}",
                "data_enlargeable",
                data_shape=row_shape,
                array_type=dtype,
                enlargeable=True,
                data_dimension="Data0D",
            )
            for i in range(rows):
                array.append(np.full(row_shape, i, dtype=dtype))
            if rows:
                array.append(np.ones((2, *row_shape), dtype=dtype))
        elif kind == "strings":
            array = saver.add_string_array(groups[op[1] % len(groups)], f"t{names}", title="t")
            for text in op[2]:
                array.append(text)
        elif kind == "log":
            saver.add_log(op[1])
        elif kind == "attr":
            saver.set_attr(saver.get_node(groups[op[1] % len(groups)]), op[2], op[3])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=_operations)
def test_random_call_sequences_give_the_same_file_as_pymodaq_data(
    tmp_path: Path, operations: list[tuple[Any, ...]]
) -> None:
    """Any sequence of group, array, string, log and attribute calls writes a file whose
    canonical dump equals the one pymodaq_data 5.3.0 writes for the same calls."""
    dumps = []
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    for label, module in (("ours", aioh5saver), ("theirs", pmd_saving)):
        path = folder / f"{label}.h5"
        saver = module.H5SaverLowLevel(save_type="scan", backend="h5py")
        saver.init_file(path, new_file=True, metadata={"author": "x"})
        try:
            apply(saver, operations)
        finally:
            saver.close_file()
        dumps.append(canonical_dump(path))
    assert dumps[0] == dumps[1]
