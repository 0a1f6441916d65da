"""The sandbox's one notion of now: real time plus an offset that tests move forward instead of sleeping.

Everything time-dependent in the sandbox reads this clock: OAuth token expiry, the last-modified stamp of
every API write, when a write becomes visible to search (``search_index``), and the webhooks journal's
retention (``journal``). ``POST /_sandbox/clock {advanceSeconds}`` (or ``Sandbox.clock.advance``) moves it.
With the offset at zero (the default) it is plain wall-clock time.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Real time plus an offset; ``advance`` only ever moves it forward."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the sandbox sees them."""
        return time.time() + self._offset

    def milliseconds(self) -> int:
        """Epoch milliseconds, the unit records are stamped in."""
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
