"""`journal:` on a HubSpot connection: read with the `oauth:` app's client credentials, or an app of its own; refused
with its place when neither is there."""

from __future__ import annotations

import dagster as dg
import pytest

from datasync_pipeline.config import ConfigError
from datasync_pipeline.connectors.hubspot.resource import SANDBOX_JOURNAL_APP, HubSpotResource
from datasync_pipeline_tests.config.test_hubspot_oauth_config import OAUTH, parse


def test_journal_true_reads_with_the_oauth_apps_client_credentials():
    connection = parse(OAUTH + "\n    journal: true").connections["hubspot"]

    resource = HubSpotResource.from_connection(connection)
    assert resource.journal is True
    assert resource.journal_client_id == dg.EnvVar("HUBSPOT_CLIENT_ID") and resource.journal_client_secret == dg.EnvVar("HUBSPOT_CLIENT_SECRET")


def test_a_private_app_names_the_journal_app_of_its_own():
    auth = "    token: ${HUBSPOT_TOKEN}\n    journal:\n      client_id: ${JOURNAL_APP_ID}\n      client_secret: ${JOURNAL_APP_SECRET}"
    resource = HubSpotResource.from_connection(parse(auth).connections["hubspot"])

    assert resource.journal and resource.journal_client_id == dg.EnvVar("JOURNAL_APP_ID") and resource.token == dg.EnvVar("HUBSPOT_TOKEN")


def test_the_sandbox_reads_its_journal_with_its_own_app():
    resource = HubSpotResource.from_connection(parse("    sandbox: {path: sandbox.sqlite}\n    journal: true").connections["hubspot"])

    assert (resource.journal_client_id, resource.journal_client_secret) == SANDBOX_JOURNAL_APP


def test_journal_true_without_an_app_is_refused_with_the_fix():
    with pytest.raises(ConfigError) as raised:
        parse("    token: ${HUBSPOT_TOKEN}\n    journal: true")

    assert "connections.hubspot" in str(raised.value) and "under `journal:` as `client_id: ${VAR}`" in str(raised.value)


def test_a_journal_secret_written_in_the_file_is_refused():
    with pytest.raises(ConfigError) as raised:
        parse("    token: ${HUBSPOT_TOKEN}\n    journal: {client_id: app, client_secret: plain-secret}")

    assert "journal.client_id" in str(raised.value) and "plain-secret" not in str(raised.value)


def test_without_journal_the_connection_reads_none():
    resource = HubSpotResource.from_connection(parse(OAUTH).connections["hubspot"])

    assert resource.journal is False and resource.journal_client() is None
