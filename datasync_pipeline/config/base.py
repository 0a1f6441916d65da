"""What every part of ``datasync.yaml`` is built on, connectors' own sections included: strict models and
``${VAR}`` references. A leaf module: the connector packages import it for their config models."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")


class StrictModel(BaseModel):
    """Unknown keys are refused with their path (a typo is never silently ignored); parsed configs are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
