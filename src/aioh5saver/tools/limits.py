"""The bounds that keep a child's reading of an untrusted file finite: depth, names, texts,
attributes, staged rows, and the size of its answer.

A crafted file can hold anything HDF5 allows: nodes nested without end, names of megabytes,
millions of attributes or staged rows. The walk and the answer stop at these bounds, and say
where they stopped.
"""

from __future__ import annotations

__all__ = [
    "ANSWER_CHARS",
    "COUNT_CAP",
    "MAX_ATTRS",
    "MAX_ATTR_BYTES",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_LINE",
    "MAX_NAME",
    "MAX_STAGED_ROWS",
    "MAX_TEXT",
]

# How many levels below the root the walk goes.
MAX_DEPTH = 100
# Attributes shown per node; the rest are counted.
MAX_ATTRS = 64
# An attribute stored in more bytes than this is not read.
MAX_ATTR_BYTES = 1 << 20
# Characters of one text shown (an attribute value, a description).
MAX_TEXT = 1024
# Characters of one link or attribute name shown.
MAX_NAME = 255
# Characters of one log line shown.
MAX_LINE = 2000
# Items of one container value shown.
MAX_ITEMS = 64
# A SWMR staging array holds the strings logged during one SWMR session: more rows than this
# is a crafted file, whose counting would take hours.
MAX_STAGED_ROWS = 1 << 24
# The answer of the child process, in characters of paths, names, texts and attribute values.
ANSWER_CHARS = 16 << 20
# Past the listed nodes, links are still counted, up to this many.
COUNT_CAP = 1_000_000
