"""The rules for the data written into arrays, checked without a file: what a batch of rows
is, which casts lose nothing, and the shapes, dtypes and fill values arrays are created with."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from aioh5saver.errors import (
    InvalidArgumentError,
    ShapeMismatchError,
    UncastableDTypeError,
    describe,
)

__all__ = ["as_dtype", "as_rows", "as_shape", "check_cast", "check_rows", "exact_scalar"]


def check_rows(
    data: Any, row_shape: tuple[int, ...], dtype: np.dtype[Any], where: str
) -> np.ndarray:
    """``data`` as a batch of rows of shape ``(n, *row_shape)``, checked convertible to
    ``dtype`` without loss (a view where possible: nothing is copied or converted).

    PyMoDAQ's rule: data of exactly the row shape is one row; data of shape ``(n, *row_shape)``
    is ``n`` rows; for arrays of single-value rows (row shape ``(1,)``) or of scalars (row shape
    ``()``), a 1-D array of ``n`` values is ``n`` rows, and one value (a Python ``int``,
    ``float`` or ``bool``, or a 0-d numpy scalar) is one row. Anything else raises
    :class:`ShapeMismatchError`.

    The dtype rule is :func:`check_cast`: only a real loss is refused (values out of the
    array's range, floats into integers, complex into reals, text into numbers), with
    :class:`UncastableDTypeError`.
    """
    if not isinstance(data, np.ndarray | np.generic):
        if not (isinstance(data, bool | int | float) and row_shape in {(), (1,)}):
            raise UncastableDTypeError(
                f"append to {where}: expected a numpy array of rows of shape {row_shape}, "
                f"got {describe(data)}"
            )
        data = _python_number(data, dtype, where)
    array = np.asarray(data)
    if array.shape == row_shape:
        rows = array.reshape((1, *row_shape))
    elif array.shape[1:] == row_shape and array.ndim == len(row_shape) + 1:
        rows = array
    elif row_shape == (1,) and array.ndim <= 1:
        rows = array.reshape((-1, 1))
    else:
        raise ShapeMismatchError(
            f"append to {where}: expected one row of shape {row_shape} or a batch of shape "
            f"(n, {', '.join(map(str, row_shape))}), got an array of shape {array.shape}"
        )
    if rows.dtype != dtype:
        check_cast(rows, dtype, where)
    return rows


def _python_number(value: bool | int | float, dtype: np.dtype[Any], where: str) -> np.ndarray:
    """One Python number as a 0-d array: of ``dtype`` if it holds the value exactly, otherwise
    of numpy's own type for it (which :func:`check_cast` then judges)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if not info.min <= value <= info.max:
                raise UncastableDTypeError(
                    f"append to {where}: expected values that fit {dtype} (from {info.min} to "
                    f"{info.max}), got {describe(value)}"
                )
            return np.asarray(value, dtype)
        if dtype.kind in "fc":
            return _checked_float(value, dtype, where)
    return np.asarray(value)


def _checked_float(value: int, dtype: np.dtype[Any], where: str) -> np.ndarray:
    """A Python int too large for numpy's integers, into a float array: as the float it
    rounds to, unless it is beyond the dtype's range."""
    try:
        return np.asarray(float(value), dtype if dtype.kind == "f" else np.float64)
    except OverflowError:
        raise UncastableDTypeError(
            f"append to {where}: expected values within the range of {dtype}, got {describe(value)}"
        ) from None


def check_cast(rows: np.ndarray, dtype: np.dtype[Any], where: str) -> None:
    """Raise :class:`UncastableDTypeError` unless ``rows`` convert to ``dtype`` without loss.

    The rule, the same for EARRAY and VLARRAY, sync and async:

    - a cast numpy calls safe (same dtype, int16 into int32, uint8 into int16, any integer
      into float64...) is accepted without looking at the values (the fast path);
    - integers (and bools) into a narrower or differently signed integer array are accepted
      when every value fits (``np.array([10])``, an int64, into uint32 or int8); a value out of
      range (-1 into uint32, 300 into uint8) is refused;
    - integers and floats into a float (or complex) array are accepted, rounded to the nearest
      value of the array's precision, as numpy rounds float64 into float32; a finite value
      beyond its range (1e300 into float32, 70000 into float16) is refused; NaN and infinities
      stay what they are;
    - floats into an integer array are refused, whatever their values (NaN, inf, 1.5, but
      also 2.0: cast them yourself with ``.astype``), and so are complex into reals, text,
      bytes, objects or records into numbers.

    Values are only read when numpy does not call the cast safe.
    """
    source = rows.dtype
    if source == dtype or np.can_cast(source, dtype, casting="safe"):
        return
    if dtype.kind in "biu" and source.kind in "biu":
        _check_integer_range(rows, dtype, where)
        return
    if (dtype.kind in "fc" and source.kind in "biuf") or dtype.kind == source.kind == "c":
        _check_within_float_range(rows, dtype, where)
        return
    if dtype.kind not in "biufc" and np.can_cast(source, dtype, casting="same_kind"):
        return
    raise UncastableDTypeError(
        f"append to {where}: expected data castable to {dtype} without loss, got dtype "
        f"{source}; convert it explicitly with .astype({str(dtype)!r})"
    )


def _check_integer_range(rows: np.ndarray, dtype: np.dtype[Any], where: str) -> None:
    if rows.size == 0:
        return
    low, high = _integer_limits(dtype)
    if rows.size == 1:  # one scalar row, the common case: no reductions
        smallest = largest = int(rows.item())
    else:
        smallest, largest = int(rows.min()), int(rows.max())
    if smallest < low or largest > high:
        raise UncastableDTypeError(
            f"append to {where}: expected values that fit {dtype} (from {low} to {high}), "
            f"got {rows.dtype} values from {smallest} to {largest}"
        )


@functools.cache
def _integer_limits(dtype: np.dtype[Any]) -> tuple[int, int]:
    """The smallest and largest value of an integer (or bool) dtype (np.iinfo is slow)."""
    if dtype.kind == "b":
        return 0, 1
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


@functools.cache
def _float_limit(dtype: np.dtype[Any]) -> float:
    """The largest finite magnitude of a float (or complex) dtype."""
    return float(np.finfo(dtype).max)


def _check_within_float_range(rows: np.ndarray, dtype: np.dtype[Any], where: str) -> None:
    if rows.size == 0:
        return
    limit = _float_limit(dtype)
    if rows.size == 1 and rows.dtype.kind != "c":
        value = float(rows.item())
        if not (math.isfinite(value) and abs(value) > limit):
            return
    elif rows.dtype.kind != "c":
        # Two reductions that skip NaN and allocate nothing settle the common case; only data
        # reaching beyond the limit (or holding infinities, which may stay) is looked at whole.
        low, high = np.fmin.reduce(rows, axis=None), np.fmax.reduce(rows, axis=None)
        if not (low < -limit or high > limit):
            return
    with np.errstate(over="ignore", invalid="ignore"):
        converted = rows.astype(dtype)
        overflowed = np.isinf(converted) & np.isfinite(rows)
    if overflowed.any():
        overflowing = rows[overflowed].flat[0].item()
        raise UncastableDTypeError(
            f"append to {where}: expected values within the range of {dtype} (magnitude up to "
            f"{np.finfo(dtype).max!s}), got {rows.dtype} {overflowing!r}"
        )


def as_rows(data: Any, row_shape: tuple[int, ...], dtype: np.dtype[Any], where: str) -> np.ndarray:
    """:func:`check_rows`, converted to ``dtype`` (the values were checked: the cast loses
    nothing :func:`check_cast` protects)."""
    rows = check_rows(data, row_shape, dtype, where)
    return rows if rows.dtype == dtype else rows.astype(dtype, casting="unsafe")


def as_shape(shape: Any, argument: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints (``()`` for None)."""
    if shape is None:
        return ()
    try:
        dims = tuple(int(n) for n in shape)
        valid = all(n >= 0 and n == m for n, m in zip(dims, shape, strict=True))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise InvalidArgumentError(
            f"{argument}: expected a tuple of non-negative ints, got {describe(shape)}"
        )
    return dims


def exact_scalar(value: Any, dtype: np.dtype[Any], name: str) -> Any:
    """``value`` as a scalar of ``dtype``, if it converts exactly (NaN stays NaN)."""
    error = InvalidArgumentError(
        f"add_array {name!r}: expected a fill_value representable exactly as {dtype}, got "
        f"{describe(value)}"
    )
    try:
        given = np.asarray(value)
        with np.errstate(invalid="raise", over="raise"):
            converted = given.astype(dtype)
            same = bool(converted.astype(given.dtype) == given) or bool(
                np.isnan(given) and np.isnan(converted)
            )
    except (ValueError, TypeError, OverflowError, FloatingPointError) as exc:
        raise error from exc
    if given.ndim != 0 or not same:
        raise error
    return converted[()]


def as_dtype(array_type: Any, data: np.ndarray | None, name: str) -> np.dtype[Any]:
    """The dtype ``add_array`` gives an array: ``array_type``, else ``data``'s, else float64."""
    if array_type is None:
        return np.dtype(data.dtype) if data is not None else np.dtype(np.float64)
    try:
        dtype: np.dtype[Any] = np.dtype(array_type)
    except TypeError as exc:
        raise InvalidArgumentError(
            f"add_array {name!r}: expected array_type to be a numpy dtype, got "
            f"{describe(array_type)}"
        ) from exc
    return dtype
