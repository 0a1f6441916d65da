"""The `kind: sql` connection of ``datasync.yaml``: any SQLAlchemy URL (Postgres, MySQL, SQLite)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from datasync_pipeline.config.base import StrictModel


class SqlConnection(StrictModel):
    """A SQL app: any SQLAlchemy URL (Postgres, MySQL, SQLite)."""

    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL; put one with a password in a variable: `${ERP_DATABASE_URL}`")
