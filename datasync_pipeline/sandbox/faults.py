"""Injected failures: the 429s, 5xx answers and timeouts a client must survive, on demand.

Tests add a ``Fault`` naming which requests it hits (method, a piece of the path) and how many times;
the app consults the fault book before handling each request.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

FAULT_STATUSES = {423, 429, 500, 502, 503, 504, "timeout"}


@dataclass(frozen=True)
class Fault:
    """One kind of failure and which requests it hits.

    ``status`` is an HTTP status (423, 429, 500, 502, 503, 504) or ``"timeout"``: wait ``delay_seconds``, then
    answer normally, or drop the connection without an answer when ``drop`` is set. ``times`` is how
    many matching requests it hits before it is used up. A 429 carries ``Retry-After`` when
    ``retry_after`` is set, and ``policy_name`` in its body.
    """

    status: int | str
    times: int = 1
    path_contains: str | None = None
    method: str | None = None
    retry_after: float | None = None
    policy_name: str = "TEN_SECONDLY_ROLLING"
    delay_seconds: float = 0.0
    drop: bool = False

    def __post_init__(self) -> None:
        if self.status not in FAULT_STATUSES:
            raise ValueError(f"Fault status must be one of 423, 429, 500, 502, 503, 504 or 'timeout', not {self.status!r}")
        if self.times < 1:
            raise ValueError("A fault must hit at least one request (times >= 1)")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        return {
            "status": body["status"], "times": body["times"], "pathContains": body["path_contains"],
            "method": body["method"], "retryAfter": body["retry_after"], "policyName": body["policy_name"],
            "delaySeconds": body["delay_seconds"], "drop": body["drop"],
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        """Read a fault from the control API, in camelCase or snake_case."""

        def pick(camel: str, snake: str, default: Any) -> Any:
            return body.get(camel, body.get(snake, default))

        status = body.get("status")
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        return cls(
            status=status,
            times=int(body.get("times", 1)),
            path_contains=pick("pathContains", "path_contains", None),
            method=body.get("method"),
            retry_after=pick("retryAfter", "retry_after", None),
            policy_name=pick("policyName", "policy_name", "TEN_SECONDLY_ROLLING"),
            delay_seconds=float(pick("delaySeconds", "delay_seconds", 0.0)),
            drop=bool(body.get("drop", False)),
        )


class FaultBook:
    """The faults waiting to hit requests; each is used up after ``times`` hits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list[Any]] = []  # [fault, hits left]

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append([fault, fault.times])

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    @property
    def pending(self) -> list[Fault]:
        """The faults not used up yet, with ``times`` set to the hits they have left."""
        with self._lock:
            return [replace(fault, times=left) for fault, left in self._pending]

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counting the hit against it."""
        with self._lock:
            for entry in self._pending:
                fault, left = entry
                if fault.matches(method, path):
                    if left <= 1:
                        self._pending.remove(entry)
                    else:
                        entry[1] = left - 1
                    return fault
        return None
