"""PyMoDAQ's layout rules that need no file: the node kinds, and the one rule that tells a
dataset's kind from what it is (variable-length, resizable) rather than from its label alone."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ENLARGEABLE_KINDS", "PYMODAQ_CLASSES", "fixed_kind", "vlen_kind"]

#: The ``CLASS`` labels PyMoDAQ writes on its nodes.
PYMODAQ_CLASSES = frozenset({"GROUP", "CARRAY", "EARRAY", "VLARRAY"})
#: The kinds of node that grow by rows.
ENLARGEABLE_KINDS = frozenset({"EARRAY", "VLARRAY", "StringARRAY"})


def vlen_kind(base: Any, subdtype: object) -> str:
    """The kind of a variable-length dataset of ``base`` elements whose ``subdtype`` label is
    given: ``StringARRAY`` for uint8 rows labelled ``"string"``, else ``VLARRAY``."""
    is_string = isinstance(subdtype, str) and subdtype == "string" and base == np.uint8
    return "StringARRAY" if is_string else "VLARRAY"


def fixed_kind(maxshape: tuple[int | None, ...] | None, label: object) -> str:
    """The kind of a dataset of fixed-size elements: ``EARRAY`` if it is labelled so and can
    grow along its first axis, else ``CARRAY`` (a label cannot make a fixed array grow)."""
    resizable = bool(maxshape) and maxshape is not None and maxshape[0] is None
    return "EARRAY" if resizable and isinstance(label, str) and label == "EARRAY" else "CARRAY"
