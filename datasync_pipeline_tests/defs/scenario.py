"""A small contacts sync between the embedded sandbox and a SQLite app, for run-level tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from datasync_pipeline.config import DatasyncConfig, parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS
from datasync_pipeline.sandbox import Sandbox, SandboxSettings

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: unlimited}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - name: contacts
    object: contacts
    app: app
    table: {{name: customers}}
{extra}
"""


@dataclass
class ContactsScenario:
    home: Path
    config: DatasyncConfig
    sandbox: Sandbox

    def seed_hubspot(self, contacts: list[dict]) -> list[str]:
        return self.sandbox.seed("contacts", contacts)

    def seed_app(self, customers: list[dict]) -> None:
        engine = sa.create_engine(f"sqlite:///{self.home}/app.sqlite")
        with engine.begin() as connection:
            rows = [{column: row.get(column) for column in CUSTOMER_COLUMNS} for row in customers]
            connection.execute(sa.insert(sa.Table("customers", sa.MetaData(), autoload_with=connection)), rows)
        engine.dispose()

    def update_customer(self, where_email: str, /, **values) -> None:
        """A user's edit of the app rows with this email, stamped by the database's clock."""
        engine = sa.create_engine(f"sqlite:///{self.home}/app.sqlite")
        with engine.begin() as connection:
            table = sa.Table("customers", sa.MetaData(), autoload_with=connection)
            connection.execute(table.update().where(table.c.email == where_email).values(
                **values, updated_at=sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")))
        engine.dispose()

    def hubspot_contacts(self) -> dict[str, dict]:
        """HubSpot contacts by id, with their synced properties."""
        properties = ["email", "firstname", "lastname", "city", "phone", "country", "company", "jobtitle", "datasync_id"]
        with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                           transport=httpx.WSGITransport(app=self.sandbox.wsgi_app)) as client:
            return {record["id"]: record["properties"] for record in client.list_records("contacts", properties=properties)}

    def customers(self) -> list[dict]:
        engine = sa.create_engine(f"sqlite:///{self.home}/app.sqlite")
        with engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(sa.text("select * from customers order by id"))]
        engine.dispose()
        return rows


def contacts_scenario(home: Path, *, extra: str = "", soft_delete: bool = False) -> ContactsScenario:
    """``soft_delete``: the customers table has a ``deleted_at`` column, and the sync marks deletions with it."""
    text = CONFIG.format(home=home, extra=extra)
    if soft_delete:
        text = text.replace("table: {name: customers}", "table: {name: customers, soft_delete: deleted_at}")
    config = parse_config(text, source="scenario")
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier="unlimited"))
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), updated_at_column="updated_at", external_id_column="hubspot_id")
    create_app_table(engine, spec, CUSTOMER_COLUMNS)
    if soft_delete:
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE customers ADD COLUMN deleted_at DATETIME"))
    engine.dispose()
    return ContactsScenario(home, config, sandbox)
