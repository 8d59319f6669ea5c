"""AsyncH5Saver against a model, driven by hypothesis through random sequences of calls.

A ``RuleBasedStateMachine`` opens one saver per example (SWMR or not, a tiny or a large
back-pressure budget, flushing by count or by period or not at all) on asyncio or trio, and
runs random steps on it: creating detector groups, enlargeable arrays of several row shapes and
dtypes, string arrays and loggers; appending good rows (one row, a batch, castable dtypes, by
``NodeRef`` or by path, copied or handed over), bad rows (wrong shape, uncastable dtype, a group,
a missing path...) that must raise their documented error at the call and change nothing;
appends cancelled at random points; up to 16 concurrent producers; log lines; SWMR switches.

The model holds, for every array, the rows accepted so far: an append that returned accepted its
rows, an append that raised cancellation accepted none. Rows of concurrent producers are kept as
an unordered block whose interleaving the check accepts only if it holds exactly those rows and
keeps each producer's order. After every ``flush()`` (and on ``read()``, which is queued behind
every accepted append) the saver's contents must equal the model, and after the machine closes
the saver, so must the file, opened with plain h5py.
"""

from __future__ import annotations

import ast
import json
import math
import pickle
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aioh5saver import (
    AsyncH5Saver,
    InvalidArgumentError,
    InvalidNameError,
    NodeKindError,
    NodeNotFoundError,
    NodeRef,
    SaverClosedError,
    SaverError,
    ShapeMismatchError,
    UncastableDTypeError,
)
from conftest import FULL_STRESS

T = TypeVar("T")

# Examples per backend: CI runs the small number, AIOH5SAVER_STRESS=full the large one.
SMALL_EXAMPLES = 20
FULL_EXAMPLES = 300
STEPS = 30

# One step that takes longer than this has hung: fail it with a clear message.
STEP_TIMEOUT_S = 15.0

MAX_ARRAYS = 10
MAX_DETECTORS = 5
# 1 MiB rows are copied on a worker thread; keep their arrays short so that examples stay fast.
MAX_BIG_ROWS = 6
BIG_ROW_BYTES = 1 << 20

Key = bytes | str


# -- what the model knows ---------------------------------------------------------------------


@dataclass(frozen=True)
class ArraySpec:
    """An enlargeable array's rows, and the dtypes data may come in: castable ones (within the
    kind, as documented) and uncastable ones."""

    row_shape: tuple[int, ...]
    dtype: str
    castable: tuple[str, ...]
    uncastable: tuple[str, ...]

    @property
    def big(self) -> bool:
        return math.prod(self.row_shape) * np.dtype(self.dtype).itemsize >= BIG_ROW_BYTES

    @property
    def dimension(self) -> str:
        return "Data0D" if self.row_shape in {(), (1,)} else f"Data{len(self.row_shape)}D"


SPECS = (
    ArraySpec((), "float64", ("float64", "float32", "int32", "int64", "uint16"), ("complex128",)),
    ArraySpec((1,), "float64", ("float64", "float32", "int32", "uint16"), ("complex128", "<U8")),
    ArraySpec((3,), "int32", ("int32", "int64", "int16", "uint16"), ("float64", "float32", "<U8")),
    ArraySpec((5,), "float32", ("float32", "float64", "int16", "uint8"), ("complex64", "<U8")),
    ArraySpec((2, 3), "uint16", ("uint16", "uint8"), ("float64", "float32", "<U8")),
    # One row is 1 MiB: the facade copies it on a worker thread (a cancellation point).
    ArraySpec((512, 1024), "uint16", ("uint16",), ("float32",)),
)


@dataclass
class Block:
    """Rows appended by concurrent producers to one array: each producer's rows in its order;
    how they interleave is up to the saver."""

    by_producer: dict[int, list[Key]]

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.by_producer.values())


Part = list[Key] | Block


@dataclass
class ArrayModel:
    """The rows of one array (an EARRAY if ``spec`` is set, else a string array), as parts:
    rows whose order is known, and blocks of interleaved producers."""

    path: str
    ref: NodeRef
    spec: ArraySpec | None
    parts: list[Part] = field(default_factory=list)
    next_id: int = 1

    @property
    def rows(self) -> int:
        return sum(len(part) for part in self.parts)

    def add(self, keys: list[Key]) -> None:
        if keys:
            self.parts.append(list(keys))

    def add_block(self, by_producer: dict[int, list[Key]]) -> None:
        filled = {producer: rows for producer, rows in by_producer.items() if rows}
        if len(filled) == 1:
            self.add(next(iter(filled.values())))
        elif filled:
            self.parts.append(Block(filled))

    def take_values(self, count: int) -> np.ndarray:
        """``count`` rows of values no other row of this array has (int64, exact in every
        dtype the array's data may come in)."""
        spec = self.spec
        assert spec is not None
        ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        self.next_id += count
        size = math.prod(spec.row_shape)
        if size <= 8:
            values = ids[:, None] * size + np.arange(size, dtype=np.int64)
            values = values.reshape((count, *spec.row_shape))
        else:
            values = np.empty((count, *spec.row_shape), np.int64)
            values[...] = ids.reshape((count,) + (1,) * len(spec.row_shape))
        limit = _exact_limit(np.dtype(spec.dtype))
        assert count == 0 or int(values.max()) <= limit, (
            f"model error: {self.path} ran out of unique row values (max {limit})"
        )
        return values

    def key_of_rows(self, rows: np.ndarray) -> list[Key]:
        return [np.ascontiguousarray(row).tobytes() for row in rows]

    def describe(self, key: Key) -> str:
        if isinstance(key, str):
            return repr(key if len(key) <= 40 else key[:37] + "...")
        spec = self.spec
        assert spec is not None
        row = np.frombuffer(key, np.dtype(spec.dtype))
        if row.size > 8:
            return f"row filled with {sorted(set(row.tolist()))[:4]}"
        return str(row.reshape(spec.row_shape).tolist())

    def check(self, actual: list[Key], where: str) -> None:
        """``actual`` (the rows read back) must be exactly the model's rows, each block an
        interleaving of its producers' rows that keeps each producer's order; the model then
        knows the order."""
        position = 0
        for part in self.parts:
            got = actual[position : position + len(part)]
            if len(got) < len(part):
                raise AssertionError(
                    f"{where}: {self.path} holds {len(actual)} rows, expected {self.rows}"
                )
            if isinstance(part, Block):
                self._check_block(part, got, position, where)
            else:
                for offset, (expected_row, got_row) in enumerate(zip(part, got, strict=True)):
                    if expected_row != got_row:
                        raise AssertionError(
                            f"{where}: {self.path} row {position + offset} is "
                            f"{self.describe(got_row)}, expected {self.describe(expected_row)}"
                        )
            position += len(part)
        if position != len(actual):
            raise AssertionError(
                f"{where}: {self.path} holds {len(actual)} rows, expected {self.rows}; first "
                f"unexpected row {self.describe(actual[position])}"
            )
        self.parts = [list(actual)] if actual else []

    def _check_block(self, block: Block, got: list[Key], start: int, where: str) -> None:
        owner = {
            key: (producer, index)
            for producer, rows in block.by_producer.items()
            for index, key in enumerate(rows)
        }
        assert len(owner) == len(block), "model error: producers' rows are not unique"
        next_index: Counter[int] = Counter()
        for offset, key in enumerate(got):
            if key not in owner:
                raise AssertionError(
                    f"{where}: {self.path} row {start + offset} is {self.describe(key)}, which "
                    "no concurrent producer appended there (or which came twice)"
                )
            producer, index = owner.pop(key)
            if index != next_index[producer]:
                raise AssertionError(
                    f"{where}: {self.path} row {start + offset} is producer {producer}'s row "
                    f"{index}, but its row {next_index[producer]} was not written before it"
                )
            next_index[producer] += 1


def _exact_limit(dtype: np.dtype[Any]) -> int:
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).max)
    return 2**24 if dtype.itemsize <= 4 else 2**53


def _fits(values: np.ndarray, dtype_name: str) -> bool:
    return values.size == 0 or int(values.max()) <= _exact_limit(np.dtype(dtype_name))


def _is_row_or_batch(shape: tuple[int, ...], row_shape: tuple[int, ...]) -> bool:
    """PyMoDAQ's rule: one row, a batch ``(n, *row)``, or for single-value rows a 1-D batch
    or one 0-d scalar (one row)."""
    return (
        shape == row_shape
        or (len(shape) == len(row_shape) + 1 and shape[1:] == row_shape)
        or (row_shape == (1,) and len(shape) <= 1)
    )


def _bad_shapes(row_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shapes that are neither a row nor a batch of rows of ``row_shape``."""
    if not row_shape:
        candidates = [(2, 1), (1, 2)]
    else:
        *head, last = row_shape
        candidates = [
            (*head, last + 1),
            (2, *head, last + 1),
            (1, 1, *row_shape),
            (*row_shape, 1),
            row_shape[::-1],
            (math.prod(row_shape),),
            (),
        ]
    shapes = [shape for shape in candidates if not _is_row_or_batch(shape, row_shape)]
    return list(dict.fromkeys(shapes))


@dataclass
class Planned:
    """One call to run: an append (where to, the data, and the rows it adds if accepted), a
    log line (``log``), or a ``flush()`` (no ``model``)."""

    model: ArrayModel | None
    where: NodeRef | str = ""
    data: Any = None
    copy: bool = True
    keys: list[Key] = field(default_factory=list)
    log: bool = False


_texts = st.one_of(
    st.text(max_size=12),
    # Longer than one staging piece (254 UTF-8 bytes) under SWMR.
    st.text(min_size=100, max_size=300),
)


# -- the machine ------------------------------------------------------------------------------


class SaverMachine(RuleBasedStateMachine):
    """Random steps on one AsyncH5Saver, checked against the model. ``backend`` and ``root``
    are set by the test on a subclass."""

    backend = "asyncio"
    root = Path(tempfile.gettempdir())
    saver: AsyncH5Saver  # opened by the initialize rule

    def __init__(self) -> None:
        super().__init__()
        self.portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self.portal: anyio.from_thread.BlockingPortal | None = None
        self.saver_cm: AbstractContextManager[AsyncH5Saver] | None = None
        self.path = Path()
        self.swmr = False
        self.scan = ""
        self.raw = ""
        self.detectors: list[NodeRef] = []
        self.models: dict[str, ArrayModel] = {}
        self.log_target = ""
        self.names = 0
        self.failed = False

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def step(self) -> Iterator[None]:
        """Marks the machine failed unless the step completes, so that teardown only closes."""
        self.failed = True
        yield
        self.failed = False

    def call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the saver's event loop and return its result."""

        async def bounded() -> T:
            with anyio.fail_after(STEP_TIMEOUT_S):
                return await function(*args, **kwargs)

        assert self.portal is not None
        return self.portal.call(bounded)

    def earrays(self) -> list[ArrayModel]:
        return [model for model in self.models.values() if model.spec is not None]

    def appendable(self) -> list[ArrayModel]:
        """The EARRAYs that may still grow: 1 MiB-row arrays stay short. (Counted in rows
        planned, not accepted: what hypothesis draws must not depend on cancellation timing.)"""
        return [
            model
            for model in self.earrays()
            if model.spec is not None and not (model.spec.big and model.next_id > MAX_BIG_ROWS)
        ]

    def string_arrays(self) -> list[ArrayModel]:
        return [model for model in self.models.values() if model.spec is None]

    def new_name(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def plan_rows(self, data: st.DataObject, model: ArrayModel, *, small: bool = False) -> Planned:
        """A good append to ``model``: one row, a batch (maybe empty) or, for single-value rows,
        a flat batch, in a castable dtype whose values are exact."""
        spec = model.spec
        assert spec is not None
        forms = ["row", "batch"] + (["flat"] if spec.row_shape == (1,) else [])
        form = data.draw(st.sampled_from(forms), label="form")
        most = 1 if spec.big else (2 if small else 4)
        count = 1 if form == "row" else data.draw(st.integers(0, most), label="rows")
        values = model.take_values(count)
        source = data.draw(
            st.sampled_from([name for name in spec.castable if _fits(values, name)]),
            label="dtype",
        )
        array = values.astype(source)
        if form == "row":
            array = array[0]
        elif form == "flat":
            array = array.reshape(count)
        keys = model.key_of_rows(values.astype(spec.dtype))
        copy = data.draw(st.booleans(), label="copy")
        by_path = data.draw(st.booleans(), label="by_path")
        return Planned(model, model.path if by_path else model.ref, array, copy, keys)

    def plan_text(self, data: st.DataObject, model: ArrayModel | None, tag: str = "") -> Planned:
        """A good string append: to ``model`` by ``append``, or (None) a log line."""
        text = tag + data.draw(_texts, label="text")
        if model is None:
            target = self.models[self.log_target]
            return Planned(target, target.path, text, True, [text], log=True)
        by_path = data.draw(st.booleans(), label="by_path")
        return Planned(model, model.path if by_path else model.ref, text, True, [text])

    async def run_planned(self, planned: Planned) -> None:
        if planned.model is None:
            await self.saver.flush()
        elif planned.log:
            await self.saver.add_log(planned.data)
        else:
            await self.saver.append(planned.where, planned.data, copy=planned.copy)

    def total_rows(self) -> int:
        return sum(model.rows for model in self.models.values() if model.spec is not None)

    def total_strings(self) -> int:
        return sum(model.rows for model in self.models.values() if model.spec is None)

    # -- lifecycle ----------------------------------------------------------------------------

    @initialize(
        swmr=st.booleans(),
        budget=st.sampled_from([256 << 20, 512, 1 << 20]),
        flush_interval=st.sampled_from([0, 1, 7]),
        flush_period=st.sampled_from([None, 0.02]),
        specs=st.lists(st.sampled_from(SPECS), min_size=1, max_size=3),
        data=st.data(),
    )
    def open_saver(
        self,
        swmr: bool,
        budget: int,
        flush_interval: int,
        flush_period: float | None,
        specs: list[ArraySpec],
        data: st.DataObject,
    ) -> None:
        with self.step():
            self.path = Path(tempfile.mkdtemp(dir=self.root)) / "model.h5"
            self.swmr = swmr
            self.portal_cm = anyio.from_thread.start_blocking_portal(self.backend)
            self.portal = self.portal_cm.__enter__()
            opened = self.portal.call(
                partial(
                    AsyncH5Saver.open,
                    self.path,
                    swmr=swmr,
                    max_pending_bytes=budget,
                    flush_interval=flush_interval,
                    flush_period=flush_period,
                )
            )
            self.saver_cm = self.portal.wrap_async_context_manager(opened)
            self.saver = self.saver_cm.__enter__()
            self.raw = self.saver.raw_group.path
            assert self.raw == "/RawData"
            scan = self.call(self.saver.add_scan_group, self.saver.raw_group, "scan")
            assert (scan.path, scan.kind) == ("/RawData/Scan000", "GROUP")
            self.scan = scan.path
            self.log_target = f"{self.raw}/Logger"
            self.models[self.log_target] = ArrayModel(
                self.log_target, NodeRef(self.log_target, "StringARRAY"), None
            )
        # A detector and a few arrays to start with, so that every example appends.
        self.add_det_group("first")
        for spec in specs:
            self.add_array(spec, data)

    def teardown(self) -> None:
        if self.portal_cm is None:
            return
        checked = not self.failed
        try:
            if self.saver_cm is not None:
                try:
                    if checked:
                        # Every example ends with a full check of the open saver.
                        self.flush_and_compare()
                finally:
                    self.close_saver(raise_errors=not self.failed)
                if checked:
                    assert not self.saver.isopen()
                    with pytest.raises(SaverClosedError):
                        self.call(self.saver.add_log, "after close")
        finally:
            self.portal_cm.__exit__(None, None, None)
        if checked:
            self.check_file()
            shutil.rmtree(self.path.parent)

    def close_saver(self, *, raise_errors: bool) -> None:
        """Leave the saver's ``async with`` (it must always be closed); a failure to close is
        raised unless an earlier failure is being reported."""
        assert self.saver_cm is not None
        try:
            self.saver_cm.__exit__(None, None, None)
        except Exception:
            if raise_errors:
                raise

    def check_file(self) -> None:
        """The closed file, read with plain h5py, holds exactly the model's arrays and rows: no
        staging array left behind, every ``shape`` attribute up to date, SWMR off."""
        datasets: dict[str, h5py.Dataset] = {}
        with h5py.File(self.path, "r") as file:

            def collect(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    datasets["/" + name] = obj

            file.visititems(collect)
            assert sorted(datasets) == sorted(self.models), "the file's arrays differ"
            assert not bool(file.attrs.get("swmr_active", False))
            for path, model in self.models.items():
                dataset = datasets[path]
                if model.spec is None:
                    texts = [pickle.loads(bytes(row)) for row in dataset[()]]
                    model.check(texts, "closed file")
                    continue
                assert dataset.dtype == np.dtype(model.spec.dtype)
                assert dataset.maxshape == (None, *model.spec.row_shape)
                assert dataset.attrs["CLASS"] == "EARRAY"
                shape_attr = json.loads(dataset.attrs["shape"])
                assert ast.literal_eval(shape_attr["data"]) == dataset.shape, (
                    f"{path}: shape attribute {shape_attr['data']}, dataset {dataset.shape}"
                )
                model.check(model.key_of_rows(dataset[()]), "closed file")

    # -- creates ------------------------------------------------------------------------------

    @precondition(lambda self: len(self.detectors) < MAX_DETECTORS)
    @rule(title=st.text(max_size=6))
    def add_det_group(self, title: str) -> None:
        """A new detector group is ``DetectorNNN``, numbered in creation order; a title that
        HDF5 cannot store (with a NUL) raises InvalidArgumentError and creates nothing."""
        with self.step():
            if "\x00" in title:
                with pytest.raises(InvalidArgumentError):
                    self.call(self.saver.add_det_group, self.scan, title)
                return
            ref = self.call(self.saver.add_det_group, self.scan, title)
            assert (ref.path, ref.kind) == (
                f"{self.scan}/Detector{len(self.detectors):03d}",
                "GROUP",
            )
            self.detectors.append(ref)

    @precondition(lambda self: self.detectors and len(self.models) < MAX_ARRAYS)
    @rule(spec=st.sampled_from(SPECS), data=st.data())
    def add_array(self, spec: ArraySpec, data: st.DataObject) -> None:
        """An enlargeable array is created empty, named capitalised, with its row shape and
        dtype in its ref."""
        with self.step():
            det = data.draw(st.sampled_from(self.detectors), label="detector")
            name = self.new_name("arr")
            ref = self.call(
                self.saver.add_array,
                det,
                name,
                "data_enlargeable",
                data_shape=spec.row_shape,
                array_type=spec.dtype,
                enlargeable=True,
                data_dimension=spec.dimension,
            )
            assert (ref.path, ref.kind) == (f"{det.path}/Arr{self.names}", "EARRAY")
            assert ref.row_shape == spec.row_shape
            assert ref.dtype == np.dtype(spec.dtype)
            self.models[ref.path] = ArrayModel(ref.path, ref, spec)

    @precondition(lambda self: self.detectors and len(self.models) < MAX_ARRAYS)
    @rule(data=st.data())
    def add_string_array(self, data: st.DataObject) -> None:
        """A string array is created empty under its own (uncapitalised) name."""
        with self.step():
            det = data.draw(st.sampled_from(self.detectors), label="detector")
            name = self.new_name("strings")
            ref = self.call(self.saver.add_string_array, det, name)
            assert (ref.path, ref.kind) == (f"{det.path}/{name}", "StringARRAY")
            self.models[ref.path] = ArrayModel(ref.path, ref, None)

    @precondition(lambda self: len(self.models) < MAX_ARRAYS)
    @rule(data=st.data())
    def get_set_logger(self, data: st.DataObject) -> None:
        """``get_set_logger(where)`` returns the ``Logger`` under ``where`` (the raw group by
        default), creating it if absent, and, as in the synchronous saver and pymodaq_data,
        log lines go to it from then on."""
        with self.step():
            det = data.draw(st.sampled_from([None, *self.detectors]), label="where")
            ref = self.call(self.saver.get_set_logger, det)
            parent = self.raw if det is None else det.path
            assert (ref.path, ref.kind) == (f"{parent}/Logger", "StringARRAY")
            self.models.setdefault(ref.path, ArrayModel(ref.path, ref, None))
            self.log_target = ref.path

    @precondition(lambda self: len(self.models) > 1)
    @rule(data=st.data())
    def add_existing_name(self, data: st.DataObject) -> None:
        """Creating an array under a name already used raises InvalidNameError and leaves the
        existing array as it was."""
        with self.step():
            model = data.draw(st.sampled_from(list(self.models.values())), label="existing")
            parent, name = model.path.rsplit("/", 1)
            with pytest.raises(InvalidNameError):
                if model.spec is None:
                    self.call(self.saver.add_string_array, parent, name)
                else:
                    self.call(
                        self.saver.add_array,
                        parent,
                        name[:1].lower() + name[1:],
                        "data_enlargeable",
                        data_shape=(7,),
                        array_type="int8",
                        enlargeable=True,
                        data_dimension="Data1D",
                    )

    # -- appends ------------------------------------------------------------------------------

    @precondition(lambda self: self.appendable())
    @rule(data=st.data())
    def append_rows(self, data: st.DataObject) -> None:
        """A good append (a row or a batch, castable, by ref or path, copied or handed over)
        is accepted whole."""
        with self.step():
            model = data.draw(st.sampled_from(self.appendable()), label="array")
            planned = self.plan_rows(data, model)
            self.call(self.run_planned, planned)
            model.add(planned.keys)

    @rule(data=st.data())
    def append_text(self, data: st.DataObject) -> None:
        """A log line, or a string appended to a string array, is accepted."""
        with self.step():
            model = data.draw(st.sampled_from([None, *self.string_arrays()]), label="strings")
            planned = self.plan_text(data, model)
            self.call(self.run_planned, planned)
            model = planned.model
            assert model is not None
            model.add(planned.keys)

    @precondition(lambda self: self.earrays())
    @rule(fault=st.sampled_from(["shape", "dtype", "text"]), data=st.data())
    def append_bad_rows(self, fault: str, data: st.DataObject) -> None:
        """Rows of a wrong shape, or of a dtype not castable within its kind (text included),
        raise ShapeMismatchError / UncastableDTypeError at the call, naming the array, and
        accept nothing (the next checks would see any row they left)."""
        with self.step():
            model = data.draw(st.sampled_from(self.earrays()), label="array")
            spec = model.spec
            assert spec is not None
            where = data.draw(st.sampled_from([model.ref, model.path]), label="where")
            expected: type[SaverError] = UncastableDTypeError
            payload: Any
            if fault == "shape":
                shape = data.draw(st.sampled_from(_bad_shapes(spec.row_shape)), label="shape")
                payload = np.zeros(shape, spec.dtype)
                expected = ShapeMismatchError
            elif fault == "dtype":
                source = data.draw(st.sampled_from(spec.uncastable), label="dtype")
                payload = np.zeros(spec.row_shape, source)
            else:
                payload = "text into " + spec.dtype
            self.expect_append_error(expected, model.path, where, payload)

    @rule(
        fault=st.sampled_from(["group", "missing", "where", "rows_to_text", "log"]),
        data=st.data(),
    )
    def append_bad_target(self, fault: str, data: st.DataObject) -> None:
        """An append to a group, to a missing path or to no path at all raises NodeKindError /
        NodeNotFoundError, rows into a string array and a log line that is not a str raise
        UncastableDTypeError; each at the call, naming the target, accepting nothing."""
        with self.step():
            strings = self.string_arrays()
            expected: type[SaverError]
            where: Any
            if fault == "group":
                groups = [self.saver.raw_group, NodeRef(self.scan, "GROUP"), *self.detectors]
                group = data.draw(st.sampled_from(groups), label="group")
                where = data.draw(st.sampled_from([group, group.path]), label="where")
                named, payload, expected = group.path, np.zeros((1,)), NodeKindError
            elif fault == "missing":
                parents = [self.scan, *[detector.path for detector in self.detectors]]
                parent = data.draw(st.sampled_from(parents), label="parent")
                where = named = f"{parent}/Missing{self.names}"
                payload, expected = np.zeros((1,)), NodeNotFoundError
            elif fault == "where":
                where, named, payload, expected = 42, "42", np.zeros((1,)), NodeKindError
            elif fault == "rows_to_text":
                model = data.draw(st.sampled_from(strings), label="strings")
                where = data.draw(st.sampled_from([model.ref, model.path]), label="where")
                named, payload, expected = (
                    model.path,
                    np.zeros((2,), np.uint8),
                    UncastableDTypeError,
                )
            else:
                where, named = None, self.log_target
                payload, expected = b"bytes, not str", UncastableDTypeError
            self.expect_append_error(expected, named, where, payload)

    def expect_append_error(
        self, expected: type[SaverError], named: str, where: Any, payload: Any
    ) -> None:
        """``append(where, payload)`` (``add_log(payload)`` if ``where`` is None) raises
        ``expected`` with a message naming ``named``."""
        with pytest.raises(expected) as raised:
            if where is None:
                self.call(self.saver.add_log, payload)
            else:
                self.call(self.saver.append, where, payload)
        assert named in str(raised.value), f"the error does not name {named}: {raised.value}"

    @precondition(lambda self: self.appendable() or self.string_arrays())
    @rule(
        how=st.sampled_from(["at_once", "after_checkpoints", "after_time"]),
        checkpoints=st.integers(0, 40),
        data=st.data(),
    )
    def append_cancelled(self, how: str, checkpoints: int, data: st.DataObject) -> None:
        """Appends (and flushes) run in a cancel scope cancelled at a random point: those that
        returned accepted their rows, the one that raised cancellation accepted none."""
        with self.step():
            plans = [
                self.plan_any(data, small=True)
                for _ in range(data.draw(st.integers(1, 4), label="appends"))
            ]
            done = self.call(self.run_cancelled, plans, how, checkpoints)
            for planned in plans[:done]:
                if planned.model is not None:
                    planned.model.add(planned.keys)

    def plan_any(self, data: st.DataObject, small: bool = False, tag: str = "") -> Planned:
        """A good append to any array that may grow, a log line, or now and then a flush
        (which must not disturb what is accepted around it, cancelled or not)."""
        if data.draw(st.integers(0, 7), label="flush") == 7:
            return Planned(None)
        targets: list[ArrayModel | None] = [*self.appendable(), *self.string_arrays(), None]
        target = data.draw(st.sampled_from(targets), label="target")
        if target is not None and target.spec is not None:
            return self.plan_rows(data, target, small=small)
        return self.plan_text(data, target, tag)

    async def run_cancelled(self, plans: list[Planned], how: str, checkpoints: int) -> int:
        done = 0

        async def produce() -> None:
            nonlocal done
            for planned in plans:
                await self.run_planned(planned)
                done += 1

        if how == "at_once":
            with anyio.move_on_after(0):
                await produce()
        elif how == "after_time":
            with anyio.move_on_after(checkpoints * 2e-5):
                await produce()
        else:
            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                for _ in range(checkpoints):
                    await anyio.lowlevel.checkpoint()
                tg.cancel_scope.cancel()
        return done

    @precondition(lambda self: self.appendable() or self.string_arrays())
    @rule(
        producers=st.integers(2, 16),
        cancel_after=st.one_of(st.none(), st.integers(0, 60)),
        data=st.data(),
    )
    def many_producers(self, producers: int, cancel_after: int | None, data: st.DataObject) -> None:
        """Concurrent producers appending to shared or own arrays (maybe cancelled together
        at a random point): every returned append is in the file, each producer's rows in its
        order, and nothing else."""
        with self.step():
            plans = [
                [
                    self.plan_any(data, small=True, tag=f"p{producer}.{index}:")
                    for index in range(data.draw(st.integers(1, 4), label="appends"))
                ]
                for producer in range(producers)
            ]
            done = self.call(self.run_producers, plans, cancel_after)
            blocks: dict[str, dict[int, list[Key]]] = {}
            for producer, (count, plan) in enumerate(zip(done, plans, strict=True)):
                for planned in plan[:count]:
                    if planned.model is None:
                        continue
                    block = blocks.setdefault(planned.model.path, {})
                    block.setdefault(producer, []).extend(planned.keys)
            for path, by_producer in blocks.items():
                self.models[path].add_block(by_producer)

    async def run_producers(
        self, plans: list[list[Planned]], cancel_after: int | None
    ) -> list[int]:
        done = [0] * len(plans)

        async def produce(producer: int) -> None:
            for planned in plans[producer]:
                await self.run_planned(planned)
                done[producer] += 1

        async with anyio.create_task_group() as tg:
            for producer in range(len(plans)):
                tg.start_soon(produce, producer)
            if cancel_after is not None:
                for _ in range(cancel_after):
                    await anyio.lowlevel.checkpoint()
                tg.cancel_scope.cancel()
        return done

    # -- barriers and reads -------------------------------------------------------------------

    @rule()
    def flush_and_compare(self) -> None:
        """After ``flush()`` nothing is queued or held, every accepted row (and no other) was
        written, and reading each array gives exactly the model's rows."""
        with self.step():
            self.call(self.saver.flush)
            stats = self.saver.statistics()
            assert (stats.ops_queued, stats.bytes_pending, stats.producers_waiting) == (0, 0, 0), (
                f"after flush, expected nothing queued, held or waiting, got {stats}"
            )
            rows, strings = self.total_rows(), self.total_strings()
            assert (stats.rows_appended, stats.strings_appended) == (rows, strings), (
                f"after flush, expected {rows} rows and {strings} strings appended, got {stats}"
            )
            for model in list(self.models.values()):
                self.compare(model, "after flush")

    @precondition(lambda self: self.earrays())
    @rule(data=st.data())
    def read_array(self, data: st.DataObject) -> None:
        """``read()`` is queued behind every append accepted before it: without a flush, it
        gives exactly the model's rows."""
        with self.step():
            model = data.draw(st.sampled_from(self.earrays()), label="array")
            self.compare(model, "read without flush")

    def compare(self, model: ArrayModel, where: str) -> None:
        if model.spec is None:
            texts = self.call(self.saver.read_strings, model.path)
            model.check(list(texts), where)
            return
        actual = np.asarray(self.call(self.saver.read, model.ref))
        assert actual.dtype == np.dtype(model.spec.dtype), f"{model.path}: dtype {actual.dtype}"
        assert actual.shape[1:] == model.spec.row_shape, f"{model.path}: shape {actual.shape}"
        model.check(model.key_of_rows(actual), where)

    # -- SWMR ---------------------------------------------------------------------------------

    @rule()
    def start_swmr(self) -> None:
        """``start_swmr()`` turns SWMR on in a saver opened with ``swmr=True``, and raises
        InvalidArgumentError (changing nothing) in one opened without."""
        with self.step():
            if self.swmr:
                self.call(self.saver.start_swmr)
                assert self.saver.statistics().swmr_active
            else:
                with pytest.raises(InvalidArgumentError):
                    self.call(self.saver.start_swmr)
                assert not self.saver.statistics().swmr_active

    @precondition(lambda self: self.swmr)
    @rule()
    def finalize_swmr_keep_open(self) -> None:
        """``finalize_swmr(keep_open=True)`` ends SWMR and keeps the saver open."""
        with self.step():
            self.call(self.saver.finalize_swmr, True)
            assert not self.saver.statistics().swmr_active
            assert self.saver.isopen()


@pytest.mark.slow
# A passing run takes ~15 s (both backends) small, a few minutes full; the small timeout leaves
# room for hypothesis to shrink a failure (it stops shrinking after 300 s) and report it.
@pytest.mark.timeout(3600 if FULL_STRESS else 600)
def test_async_saver_holds_exactly_what_its_model_accepted_through_random_call_sequences(
    anyio_backend: str, tmp_path: Path, stress_size: Callable[[int, int], int]
) -> None:
    """Random sequences of creates, good, bad and cancelled appends, concurrent producers, log
    lines, flushes, reads and SWMR switches leave the saver, and then the closed file, holding
    exactly the rows the model says were accepted, each producer's in its order."""
    machine = type(
        "SaverModelMachine", (SaverMachine,), {"backend": anyio_backend, "root": tmp_path}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=stress_size(SMALL_EXAMPLES, FULL_EXAMPLES),
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
            ],
        ),
    )
