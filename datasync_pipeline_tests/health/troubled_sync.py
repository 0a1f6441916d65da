"""A contacts sync whose records end up in every state, through real runs on the sandbox and a SQLite app.

After ``troubled_sync``: dan and eve are synced; ann failed (a trigger refuses her update in the app:
``database_error``); ben was deleted in HubSpot (``deleted_in_hubspot``); the app's "Nox", who has no valid
email, is excluded (``no unique identity``). Runs, in order: an incremental run before any first sync
(fails: no watermark yet), the first sync, a dry run, an incremental run, and an incremental run that
fails reading HubSpot (changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import load_config
from datasync_pipeline.defs.launch import RunReport, run_first_sync, run_incremental
from datasync_pipeline_tests.defs.scenario import CONFIG, ContactsScenario, contacts_scenario

SECRET_TOKEN = "pat-na1-11111111-2222-3333-4444-SECRETTOKEN"
SECRET_URL = "postgresql://datasync:Sup3rSecretPassw0rd@db.internal:5432/erp"
# A second HubSpot connection whose token is a secret, and a sync that names which account it uses:
# the exports must hold neither the token nor any connection URL.
SECRET_CONNECTIONS = """  crm_eu: {{kind: hubspot, token: "${{DATASYNC_TEST_TOKEN}}"}}
  erp_secret: {{kind: sql, url: "${{DATASYNC_TEST_ERP_URL}}"}}
"""


@dataclass
class TroubledSync:
    scenario: ContactsScenario
    config_file: Path
    too_early: RunReport
    first: RunReport
    dry: RunReport
    incremental: RunReport
    broken: RunReport

    @property
    def state_url(self) -> str:
        return self.scenario.config.state.url


def write_config(home: Path) -> Path:
    text = CONFIG.format(home=home, extra="    hubspot: hubspot")
    text = text.replace("state:", SECRET_CONNECTIONS.format() + "state:", 1)
    path = home / "datasync.yaml"
    path.write_text(text)
    return path


def hubspot_call(scenario: ContactsScenario, method: str, path: str, **kwargs) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox") as client:
        client.request(method, path, headers={"Authorization": "Bearer sandbox-token"}, **kwargs).raise_for_status()


def hubspot_id_of(scenario: ContactsScenario, email: str) -> str:
    return next(i for i, p in scenario.hubspot_contacts().items() if p["email"] == email)


def troubled_sync(home: Path, instance: dg.DagsterInstance, monkeypatch) -> TroubledSync:
    monkeypatch.setenv("DATASYNC_TEST_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("DATASYNC_TEST_ERP_URL", SECRET_URL)
    scenario = contacts_scenario(home)
    config_file = write_config(home)
    scenario.config = load_config(config_file)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann", "city": "Berlin"},
                           {"email": "ben@example.com", "firstname": "Ben"},
                           {"email": "dan@example.com", "firstname": "Dan", "city": "Graz"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann", "city": "Berlin"},
                       {"email": "ben@example.com", "first_name": "Ben"},
                       {"email": "not-an-email", "first_name": "Nox"},
                       {"email": "eve@example.com", "first_name": "Eve", "city": "Linz"}])
    too_early = run_incremental(scenario.config, ["contacts"], instance=instance)
    first = run_first_sync(scenario.config, instance=instance)
    dry = run_first_sync(scenario.config, instance=instance, dry_run=True)

    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "CREATE TRIGGER refuse BEFORE UPDATE OF city ON customers WHEN NEW.email = 'ann@example.com' "
            "BEGIN SELECT RAISE(ABORT, 'the ERP is locked for maintenance'); END"))
    engine.dispose()
    hubspot_call(scenario, "PATCH", f"/crm/v3/objects/contacts/{hubspot_id_of(scenario, 'ann@example.com')}", json={"properties": {"city": "Bonn"}})
    hubspot_call(scenario, "DELETE", f"/crm/v3/objects/contacts/{hubspot_id_of(scenario, 'ben@example.com')}")
    incremental = run_incremental(scenario.config, ["contacts"], instance=instance)

    def unreachable(*args, **kwargs):
        raise ConnectionError("HubSpot unreachable")

    with monkeypatch.context() as patch:
        patch.setattr("datasync_pipeline.sync.extract.read_hubspot_changes", unreachable)
        broken = run_incremental(scenario.config, ["contacts"], instance=instance)
    assert not too_early.success and first.success and dry.success and incremental.success and not broken.success
    return TroubledSync(scenario, config_file, too_early, first, dry, incremental, broken)


@contextmanager
def troubled_sync_history(home: Path) -> Iterator[tuple[TroubledSync, dg.DagsterInstance]]:
    """The troubled sync in a test Dagster instance, which is also ``$DAGSTER_HOME`` meanwhile (for the CLI)."""
    with pytest.MonkeyPatch.context() as monkeypatch, dg.instance_for_test() as instance:
        yield troubled_sync(home, instance, monkeypatch), instance
