"""The apps the connector contract runs against, each behind a small adapter the tests drive (``AppUnderTest``).

An adapter opens the connector under test and does on the app itself, never through that connector, what a test
needs: seed records at a chosen modification time, make a user's edit, delete a record, add a company to point at.
``conftest.py`` turns each into a param of the ``app`` fixture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.config.model import AppTable, AssociationSpec
from datasync_pipeline.connectors.base import ORIGIN_HUBSPOT_ID, AppConnector, SideBinding
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.engine.frames import origin_value
from datasync_pipeline.errors import ErrorCategory

SYNC_NAME = "contacts"
CONTACT_FIELDS = ("email", "firstname", "lastname", "city")


@dataclass(frozen=True)
class Refusal:
    """Field values (engine names) the app refuses on a create, the category the record fails with, and why."""

    values: Mapping[str, Any]
    category: ErrorCategory
    why: str


class AppUnderTest(Protocol):
    """One app (connector + backend) as the contract tests drive it."""

    name: str
    fields: Mapping[str, str]  # engine field -> the app's field, for the contacts binding
    company_field: str | None  # what an ``AssociationSpec(object="companies")`` names as its ``app_column`` (None: the app keeps associations itself)
    keeps_deleted_records: bool  # soft deletes or archives, which deleted_since and newest_changes see
    refusals: Sequence[Refusal]  # at least one
    reports_unsynced_changes: bool  # a change log: a change no run has synced is reported whatever its time

    def connector(self, binding: SideBinding) -> AppConnector:
        """A new connector on the app for this binding, closed when the test ends."""

    def seed(self, records: Sequence[Mapping[str, Any]], *, at: datetime) -> list[str]:
        """Create records (engine field names, and ``_origin_hubspot_id`` to keep one) all last modified ``at``;
        their ids in order."""

    def edit(self, record_id: str, values: Mapping[str, Any]) -> datetime:
        """A user's change in the app, stamped by the app's own clock; the modification time it left."""

    def hard_delete(self, record_id: str) -> None:
        """Remove the record for good."""

    def soft_delete(self, record_id: str) -> datetime:
        """Mark the record deleted (only where ``keeps_deleted_records``); the time the app gives the deletion."""

    def add_company(self, name: str) -> str:
        """A company record a contact can be associated with; its id."""


def contacts_binding(app: AppUnderTest, *, with_company: bool = False) -> SideBinding:
    associations = (AssociationSpec(object="companies", app_column=app.company_field),) if with_company else ()
    return SideBinding(sync_name=SYNC_NAME, object_type="contacts", fields=dict(app.fields), associations=associations)


def as_utc(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


# --- SQL: SqlSide on a customers table ---------------------------------------------------------------------

SQL_FIELDS = {"email": "email", "firstname": "first_name", "lastname": "last_name", "city": "city"}
SQL_COLUMN_TYPES = {
    "email": sa.String(320), "first_name": sa.String(100), "last_name": sa.String(100), "city": sa.String(100),
    "company_id": sa.Integer(),
}


class SqlApp:
    """A ``customers`` table (email NOT NULL, like many real apps) and a ``companies`` table, read through ``SqlSide``."""

    fields = SQL_FIELDS
    company_field = "company_id"

    def __init__(self, name: str, url: str, *, soft_delete: str | None, changes: str = "updated_at") -> None:
        self.name, self.url = name, url
        self.engine = sa.create_engine(url)
        self.dialect = self.engine.dialect.name
        spec = SqlTableSpec(
            table="customers", key_column="id", columns=[*SQL_FIELDS.values(), "company_id"],
            updated_at_column="updated_at", soft_delete_column=soft_delete, external_id_column="hubspot_id",
        )
        self.customers = create_app_table(self.engine, spec, SQL_COLUMN_TYPES, required=("email",))
        self.companies = sa.Table(
            "companies", sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("name", sa.Text),
        )
        self.companies.create(self.engine)
        self.table = AppTable(
            name="customers", key="id", updated_at="updated_at", external_id="hubspot_id", soft_delete=soft_delete, changes=changes,
        )
        self.change_log = None
        self.reports_unsynced_changes = changes == "trigger"
        if changes == "trigger":  # the sync's change log (connectors/sql/change_log.py), as `datasync sync prepare` makes it
            from datasync_pipeline.connectors.sql import change_log

            change_log.prepare(self.engine, sync_name=SYNC_NAME, table="customers", schema=None, key="id")
            self.change_log = change_log.object_name(SYNC_NAME)
        self.soft_delete_column = soft_delete
        self.keeps_deleted_records = soft_delete is not None
        self.refusals = [Refusal({"email": None}, ErrorCategory.MISSING_REQUIRED_FIELD, "email is NOT NULL")]
        if self.dialect == "postgresql":  # SQLite keeps text of any length in a VARCHAR(100)
            self.refusals.append(Refusal({"city": "x" * 101}, ErrorCategory.INVALID_PROPERTY_VALUE, "city is VARCHAR(100)"))
        self._connectors: list[AppConnector] = []

    def connector(self, binding: SideBinding) -> AppConnector:
        # Imported here, so that a connector module that does not import fails its own params only.
        from datasync_pipeline.connectors.sql.app_side import SqlSide

        connector = SqlSide(self.url, self.table, binding)
        self._connectors.append(connector)
        return connector

    def close(self) -> None:
        for connector in self._connectors:
            connector.close()
        self.engine.dispose()

    def seed(self, records: Sequence[Mapping[str, Any]], *, at: datetime) -> list[str]:
        rows = [
            {**{SQL_FIELDS[name]: record.get(name) for name in CONTACT_FIELDS},
             "hubspot_id": record.get(ORIGIN_HUBSPOT_ID), "updated_at": self._stamp(at)}
            for record in records
        ]
        with self.engine.begin() as connection:
            statement = sa.insert(self.customers).returning(self.customers.c.id)
            ids = [str(connection.execute(statement, row).scalar_one()) for row in rows]
            if self.change_log:  # seeded records stand for records an earlier run synced: their entries are consumed
                connection.execute(sa.text(f"DELETE FROM {self.change_log}"))
            return ids

    def edit(self, record_id: str, values: Mapping[str, Any]) -> datetime:
        columns = {SQL_FIELDS[name]: value for name, value in values.items()}
        return self._change(record_id, {**columns, "updated_at": self._database_now()})

    def hard_delete(self, record_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(self.customers).where(self.customers.c.id == int(record_id)))

    def soft_delete(self, record_id: str) -> datetime:
        assert self.soft_delete_column, f"{self.name} keeps no deleted records"
        now = self._database_now()
        return self._change(record_id, {self.soft_delete_column: now, "updated_at": now})

    def add_company(self, name: str) -> str:
        with self.engine.begin() as connection:
            return str(connection.execute(sa.insert(self.companies).returning(self.companies.c.id), {"name": name}).scalar_one())

    def _change(self, record_id: str, values: Mapping[str, Any]) -> datetime:
        key = self.customers.c.id
        with self.engine.begin() as connection:
            connection.execute(sa.update(self.customers).where(key == int(record_id)).values(values))
            return as_utc(connection.execute(sa.select(self.customers.c.updated_at).where(key == int(record_id))).scalar_one())

    def _stamp(self, moment: datetime) -> datetime:
        # SQLite keeps naive UTC text; Postgres' timestamptz takes the aware value.
        return moment.astimezone(UTC).replace(tzinfo=None) if self.dialect == "sqlite" else moment

    def _database_now(self) -> sa.ColumnElement:
        """The database's clock, as the app's own writes use it (the shape create_app_table's default writes)."""
        if self.dialect == "sqlite":
            return sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")
        return sa.func.now()


# --- HubSpot: HubSpotSide on a second portal, the sandbox served over loopback HTTP --------------------------

HUBSPOT_FIELDS = {name: name for name in CONTACT_FIELDS}
ORIGIN_PROPERTY = "datasync_hubspot_id"


class HubSpotApp:
    """A second HubSpot portal (the served sandbox) as the app, read through ``HubSpotSide``.

    Seeds go through the sandbox's ``/_sandbox/seed`` control route (the one way to choose a record's
    modification time); a user's edits, archives and GDPR deletes through the CRM API, as HubSpot's UI would.
    A kept origin is the origin property holding ``<sync>:<primary HubSpot id>``, as the connector writes it.
    """

    name = "hubspot-sandbox"
    fields = HUBSPOT_FIELDS
    company_field = None  # a portal keeps associations itself
    keeps_deleted_records = True
    reports_unsynced_changes = False
    refusals = (Refusal({"email": "not-an-email"}, ErrorCategory.INVALID_EMAIL, "HubSpot validates contact emails"),)

    def __init__(self, url: str, token: str, control_token: str) -> None:
        self.client = HubSpotClient(base_url=url, token=token, tier="unlimited", timeout_seconds=10.0)
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
        self.control_token = control_token
        self._connectors: list[AppConnector] = []

    def connector(self, binding: SideBinding) -> AppConnector:
        from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide

        connector = HubSpotSide(self.client, binding, origin_property=ORIGIN_PROPERTY)
        self._connectors.append(connector)
        return connector

    def close(self) -> None:
        for connector in self._connectors:
            connector.close()
        self.client.close()
        self.http.close()

    def seed(self, records: Sequence[Mapping[str, Any]], *, at: datetime) -> list[str]:
        if any(record.get(ORIGIN_HUBSPOT_ID) for record in records):
            # Only seeds need it made here: the connector must make it itself before it writes origins.
            self.client.ensure_unique_property("contacts", ORIGIN_PROPERTY, "datasync primary HubSpot id")
        properties = [
            {**{name: record.get(name) for name in CONTACT_FIELDS},
             ORIGIN_PROPERTY: origin_value(SYNC_NAME, record[ORIGIN_HUBSPOT_ID]) if record.get(ORIGIN_HUBSPOT_ID) else None}
            for record in records
        ]
        body = {"objectType": "contacts", "records": properties, "updatedAt": at.isoformat()}
        response = self.http.post("/_sandbox/seed", json=body, headers={"X-Sandbox-Control-Token": self.control_token})
        response.raise_for_status()
        return response.json()["ids"]

    def edit(self, record_id: str, values: Mapping[str, Any]) -> datetime:
        response = self.http.patch(f"/crm/v3/objects/contacts/{record_id}", json={"properties": dict(values)})
        response.raise_for_status()
        return as_utc(response.json()["updatedAt"])

    def hard_delete(self, record_id: str) -> None:
        self.http.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": record_id}).raise_for_status()

    def soft_delete(self, record_id: str) -> datetime:
        self.http.delete(f"/crm/v3/objects/contacts/{record_id}").raise_for_status()
        response = self.http.get(f"/crm/v3/objects/contacts/{record_id}", params={"archived": "true"})
        response.raise_for_status()
        return as_utc(response.json()["archivedAt"])

    def add_company(self, name: str) -> str:
        response = self.http.post("/crm/v3/objects/companies", json={"properties": {"name": name}})
        response.raise_for_status()
        return response.json()["id"]
