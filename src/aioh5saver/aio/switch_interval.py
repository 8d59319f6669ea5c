"""The interpreter's thread switch interval, shortened while async savers are open.

The event loop and the writer thread share one GIL. When one thread wants it while the other
runs Python code, CPython makes the holder give it up only after the switch interval, 5 ms by
default: every batch the writer thread runs can then stall the event loop (and every producer
and ticker on it) for 5 ms at a time, and the writer waits as long for each of its turns.
With 1 ms, both sides keep moving: the loop's lag stays near a millisecond and the writer
gets its turns sooner. The setting is process-wide: it is set when the first saver opens
and given back when the last one closes, unless someone else changed it meanwhile.
"""

from __future__ import annotations

import sys
import threading

__all__ = ["SwitchIntervalLease"]

_lock = threading.Lock()
_leases = 0
_saved: float | None = None
_ours: float | None = None


class SwitchIntervalLease:
    """Holds the switch interval at or below ``interval`` seconds from :meth:`take` to
    :meth:`give_back` (``None``: leaves the interpreter alone)."""

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self._held = False

    def take(self) -> None:
        """Shorten the switch interval (never lengthen it) for as long as this lease is held."""
        global _leases, _saved, _ours
        if self.interval is None or self._held:
            return
        with _lock:
            current = sys.getswitchinterval()
            if _leases == 0:
                _saved = current
            if self.interval < current:
                sys.setswitchinterval(self.interval)
            _ours = sys.getswitchinterval()
            _leases += 1
            self._held = True

    def give_back(self) -> None:
        """Restore the interval the process had before the first lease, once the last lease is
        given back and if nobody else set another one meanwhile."""
        global _leases, _saved, _ours
        if not self._held:
            return
        with _lock:
            self._held = False
            _leases -= 1
            if _leases == 0:
                if _saved is not None and sys.getswitchinterval() == _ours:
                    sys.setswitchinterval(_saved)
                _saved = _ours = None
