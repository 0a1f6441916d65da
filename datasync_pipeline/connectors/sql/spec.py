"""What the user tells datasync about one app table: its name and which columns play which role.

The spec is pure configuration (names only, no database types): the connector checks every name
against the real table when it is built, so a typo fails the sync before any record moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SqlTableSpec:
    """One synced object's table in the app database.

    ``columns`` are the mapped data columns. The role columns are optional:
    ``updated_at_column`` drives incremental reads (without it every run is a full compare),
    ``soft_delete_column`` marks deleted rows (a timestamp, where non-null means deleted, or a
    boolean/integer flag, where true means deleted), and ``external_id_column`` keeps the HubSpot id
    of a linked record so that creating it again after a crash updates instead of duplicating.
    """

    table: str
    key_column: str
    columns: tuple[str, ...] = field(default_factory=tuple)
    schema: str | None = None
    updated_at_column: str | None = "updated_at"
    soft_delete_column: str | None = None
    external_id_column: str | None = None

    def __post_init__(self) -> None:
        # Accept any sequence (a list from YAML) but store a tuple so the spec stays hashable.
        object.__setattr__(self, "columns", tuple(self.columns))
        if not self.table:
            raise ValueError("SqlTableSpec.table must not be empty")
        if not self.key_column:
            raise ValueError("SqlTableSpec.key_column must not be empty")

    @property
    def role_columns(self) -> tuple[str, ...]:
        """The key and the optional role columns that are set, in a stable order."""
        optional = (self.updated_at_column, self.external_id_column, self.soft_delete_column)
        return (self.key_column, *(name for name in optional if name))

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Every column name the spec refers to, each once, in the order they were named."""
        return tuple(dict.fromkeys((*self.role_columns, *self.columns)))

    @property
    def read_columns(self) -> tuple[str, ...]:
        """The columns a read returns: key, mapped columns, updated_at and external id."""
        names = (self.key_column, *self.columns, self.updated_at_column, self.external_id_column)
        return tuple(dict.fromkeys(name for name in names if name))

    @property
    def qualified_name(self) -> str:
        """The table's name as shown in messages (``schema.table`` when a schema is set)."""
        return f"{self.schema}.{self.table}" if self.schema else self.table
