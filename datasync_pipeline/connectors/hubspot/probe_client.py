"""The light client of the change probe: a HubSpot that hangs or refuses costs a sensor tick seconds, not minutes.

Dagster stops a sensor evaluation after 60 s. The run's client is patient on purpose (30 s per request, six
attempts, and it waits as long as HubSpot's ``Retry-After`` or the shared rate window says): right for a load
that must get its writes through, fatal for a tick that probes every sync. The probe's client is the same
client with other settings: a short timeout per request, one quick retry at most, and a clock that refuses to
wait longer than a couple of seconds (for a retry's backoff, a ``Retry-After``, or a full rate window), so one
search costs at most about ``attempts x timeout + max wait`` seconds. A probe that gives up says why, and
the change is looked for again on the next tick: nothing is lost by not waiting.
"""

from __future__ import annotations

from datasync_pipeline.connectors.hubspot.rate_limit import MonotonicClock
from datasync_pipeline.errors import DatasyncError

PROBE_TIMEOUT_SECONDS = 10.0  # per request (connect, and each read)
PROBE_MAX_ATTEMPTS = 2  # the request and one quick retry
PROBE_MAX_WAIT_SECONDS = 2.0  # the longest the probe waits between attempts or for the rate window


class ProbeWouldWait(DatasyncError):
    """HubSpot (a ``Retry-After``, a locked record) or the shared rate window asked for a longer wait than a probe gives."""


class ImpatientClock(MonotonicClock):
    """The real clock (so the account's rate window stays shared with the runs), but no wait beyond ``max_wait``."""

    def __init__(self, max_wait_seconds: float = PROBE_MAX_WAIT_SECONDS) -> None:
        self.max_wait_seconds = max_wait_seconds

    def sleep(self, seconds: float) -> None:
        if seconds > self.max_wait_seconds:
            raise ProbeWouldWait(
                f"HubSpot asks to wait {seconds:.0f} s before the next request (rate limit, Retry-After or a lock); "
                f"the change probe waits at most {self.max_wait_seconds:g} s and looks again next tick"
            )
        super().sleep(seconds)
