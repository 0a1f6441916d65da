"""A HubSpot connection as an OAuth app install: accepted with secret references, refused with its place otherwise."""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest

from datasync_pipeline.config import ConfigError, parse_config
from datasync_pipeline.connectors.hubspot.resource import HubSpotResource

CONFIG = """\
connections:
  hubspot:
    kind: hubspot
{auth}
  erp:
    kind: sql
    url: sqlite:///erp.sqlite
state:
  url: sqlite:///state.sqlite
syncs:
  - {{name: contacts, object: contacts, app: erp, table: {{name: customers}}}}
"""
OAUTH = """\
    oauth:
      client_id: ${HUBSPOT_CLIENT_ID}
      client_secret: ${HUBSPOT_CLIENT_SECRET}
      refresh_token: ${HUBSPOT_REFRESH_TOKEN}"""


def parse(auth: str):
    return parse_config(CONFIG.format(auth=auth), source="datasync.yaml")


def refused(auth: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse(auth)
    return str(raised.value)


def test_an_oauth_install_is_accepted_and_stays_references_until_a_run():
    connection = parse(OAUTH).connections["hubspot"]

    assert connection.oauth.client_secret == "${HUBSPOT_CLIENT_SECRET}" and connection.oauth.token_url is None
    resource = HubSpotResource.from_connection(connection)
    assert resource.oauth_refresh_token == dg.EnvVar("HUBSPOT_REFRESH_TOKEN") and resource.token is None


def test_the_resource_builds_an_oauth_client_keyed_on_the_install(monkeypatch):
    resource = HubSpotResource(oauth_client_id="app", oauth_client_secret="secret-value", oauth_refresh_token="refresh-value",
                               tier="unlimited")
    client = resource.create_client()
    try:
        assert client._transport.oauth.token_url == "https://api.hubapi.com/oauth/v1/token"
        assert client._transport.oauth.credentials.client_id == "app"
    finally:
        client.close()


def test_token_and_oauth_together_are_refused_at_the_connection():
    message = refused(OAUTH + "\n    token: ${HUBSPOT_TOKEN}")

    assert "datasync.yaml:2 connections.hubspot: give exactly one of `token`" in message
    assert "found `token` and `oauth`" in message


def test_no_way_in_is_refused_at_the_connection():
    message = refused("    tier: starter")

    assert "connections.hubspot: give exactly one of `token` (a private app), `oauth`" in message and "found none" in message


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token"])
def test_a_literal_oauth_secret_is_refused_at_its_line_and_not_echoed(field):
    message = refused(OAUTH.replace(f"${{HUBSPOT_{field.upper()}}}", "literal-secret-value"))

    line = {"client_id": 5, "client_secret": 6, "refresh_token": 7}[field]
    assert f"datasync.yaml:{line} connections.hubspot.oauth.{field}: write the {field.replace('_', ' ')} as ${{VARIABLE_NAME}}" in message
    assert "literal-secret-value" not in message


def test_an_incomplete_oauth_block_names_the_missing_field():
    message = refused("\n".join(OAUTH.splitlines()[:3]))

    assert "connections.hubspot.oauth.refresh_token: Field required" in message
