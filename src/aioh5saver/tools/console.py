"""How the command line writes: each stdout line flushed at once, messages on stderr."""

from __future__ import annotations

import sys

__all__ = ["out", "say"]


def say(line: str) -> None:
    """``line`` on stderr: an error or a note for the user."""
    print(line, file=sys.stderr, flush=True)


def out(line: str = "") -> None:
    """``line`` on stdout, flushed: another program may be waiting for each line."""
    print(line, flush=True)
