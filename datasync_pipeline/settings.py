"""Settings read from the environment: one parser, so every variable is refused the same way when it is wrong.

A leaf module (no datasync import), for every layer to use; issue 10's single settings object grows here.
"""

from __future__ import annotations

import os


def whole_seconds(variable: str, default: int) -> int:
    """``$variable`` as a whole number of seconds, at least 1; ``default`` when unset or empty."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{variable} must be a whole number of seconds, at least 1; got {raw!r}")
    return int(raw)
