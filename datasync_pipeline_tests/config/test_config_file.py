"""Loading datasync.yaml: valid files, refused files with their place and cause, secrets never echoed."""

from __future__ import annotations

import textwrap

import pytest

from datasync_pipeline.config import ConfigError, load_config, parse_config
from datasync_pipeline.config.model import Direction, HubSpotConnection, Side
from datasync_pipeline.sync.mappings import resolve_mappings

VALID = """\
connections:
  hubspot:
    kind: hubspot
    token: ${HUBSPOT_TOKEN}
    tier: professional
  erp_berlin:
    kind: sql
    url: ${ERP_BERLIN_URL}
  erp_vienna:
    kind: sql
    url: sqlite:///${DATA_DIR:-/tmp}/vienna.sqlite
state:
  url: sqlite:///state.sqlite
syncs:
  - name: contacts_berlin
    object: contacts
    app: erp_berlin
    table: {name: customers, key: customer_id, updated_at: modified, external_id: hs_id}
    direction: app_to_hubspot
    default_app: app
    mappings:
      - {hubspot: firstname, app: given_name}
      - {hubspot: phone, enabled: false}
      - {hubspot: loyalty_tier, app: tier}
  - name: contacts_vienna
    object: contacts
    app: erp_vienna
    table: {name: kunden}
    filters:
      app: [{field: country, operator: eq, value: AT}]
"""


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(textwrap.dedent(text), source="datasync.yaml")
    return str(raised.value)


def test_valid_file_with_two_connections_of_the_same_kind(monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    config = parse_config(VALID, source="datasync.yaml")
    berlin, vienna = config.syncs
    assert berlin.direction is Direction.APP_TO_HUBSPOT and berlin.default_app is Side.APP
    assert config.connections["erp_berlin"].url == "${ERP_BERLIN_URL}"  # a secret stays a reference
    assert config.connections["erp_vienna"].url == "sqlite:////tmp/vienna.sqlite"  # a default fills in
    assert isinstance(config.connections["hubspot"], HubSpotConnection)
    assert config.hubspot_connection_name(vienna) == "hubspot"
    mapped = {m.hubspot: m.app for m in resolve_mappings(berlin)}
    assert mapped["firstname"] == "given_name" and "phone" not in mapped and mapped["loyalty_tier"] == "tier"
    assert mapped["email"] == "email"


def test_bad_file_names_the_file_line_path_and_cause():
    message = refused(VALID.replace("- {hubspot: loyalty_tier, app: tier}", "- {hubspot: loyalty_tier}"))
    assert "datasync.yaml:24 syncs[0].mappings[2].app: custom mapping of 'loyalty_tier' needs the app column it maps to" in message


def test_every_problem_is_reported_at_once():
    message = refused("""\
        connections:
          hs: {kind: hubspot, token: "${T}"}
          db: {kind: sql}
        state: {url: x}
        syncs:
          - {name: c, object: contact, app: db, table: {name: t}}
          - {name: d, object: contacts, app: db, table: {name: t}, direction: sideways}
        """)
    assert "3 problems" in message
    assert "connections.db.url: Field required" in message
    assert "syncs[0].object: unknown object 'contact'" in message
    assert "syncs[1].direction:" in message and "two_way" in message


def test_required_mapping_cannot_be_switched_off():
    message = refused(VALID.replace("{hubspot: phone, enabled: false}", "{hubspot: email, enabled: false}"))
    assert "syncs[0].mappings[1].enabled: contacts.email is a required mapping and cannot be switched off" in message


def test_unknown_keys_and_dangling_references_are_refused():
    assert "syncs[0].colour: Extra inputs are not permitted" in refused(VALID.replace("default_app: app", "default_app: app\n    colour: blue"))
    assert "syncs[1].app: 'erp_paris' is not a connection defined under `connections`" in refused(VALID.replace("    app: erp_vienna", "    app: erp_paris"))


def test_a_literal_token_is_refused_and_not_echoed():
    message = refused(VALID.replace("${HUBSPOT_TOKEN}", "pat-eu1-secret-value"))
    assert "connections.hubspot.token: write the token as ${VARIABLE_NAME}" in message
    assert "pat-eu1-secret-value" not in message


def test_missing_variable_without_default_is_named(monkeypatch):
    monkeypatch.delenv("NOPE", raising=False)
    message = refused(VALID.replace("${DATA_DIR:-/tmp}", "${NOPE}"))
    assert "environment variable NOPE is not set" in message and "connections.erp_vienna.url" in message


def test_config_path_from_environment_and_missing_file(tmp_path, monkeypatch):
    path = tmp_path / "sync.yaml"
    path.write_text(VALID)
    monkeypatch.setenv("DATASYNC_CONFIG", str(path))
    assert [s.name for s in load_config().syncs] == ["contacts_berlin", "contacts_vienna"]
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.yaml")


def test_embedded_default_loads_without_any_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DATASYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATASYNC_HOME", str(tmp_path))
    config = load_config()
    assert config.connections["hubspot"].sandbox.path == f"{tmp_path}/sandbox.sqlite"


def test_rule4_type_incompatible_mapping_is_refused_saying_why():
    message = refused(VALID.replace("{hubspot: loyalty_tier, app: tier}", "{hubspot: loyalty_points, app: points, type: number, app_type: string}"))
    assert ("syncs[0].mappings[2].app_type: loyalty_points -> points: a number property cannot be mapped to a string field: "
            "number values do not convert to text values without loss") in message
    message = refused(VALID.replace("{hubspot: phone, enabled: false}", "{hubspot: phone, type: number}"))
    assert "syncs[0].mappings[1].type: contacts.phone is a string property, not number" in message
    # Types of one family map: a date property to a datetime column.
    parse_config(VALID.replace("{hubspot: loyalty_tier, app: tier}", "{hubspot: renewal, app: renews_at, type: date, app_type: datetime}"), source="x")


ASSOCIATED = """\
connections:
  hubspot: {kind: hubspot, sandbox: {path: s.sqlite}}
  erp: {kind: sql, url: "sqlite:///erp.sqlite"}
  other: {kind: sql, url: "sqlite:///other.sqlite"}
state: {url: "sqlite:///state.sqlite"}
syncs:
  - {name: companies, object: companies, app: erp, table: {name: companies}}
  - name: contacts
    object: contacts
    app: erp
    table: {name: customers}
    associations: [{object: companies, app_column: company_id}]
"""


def test_rule8_associations_need_a_sync_of_the_associated_object():
    parse_config(ASSOCIATED, source="x")
    message = refused(ASSOCIATED.replace("app: erp, table: {name: companies}", "app: other, table: {name: companies}"))
    assert "syncs[1].associations[0].object: no sync of companies between the same accounts" in message
    message = refused(ASSOCIATED.replace("{object: companies, app_column: company_id}", "{object: products, app_column: product_id}"))
    assert "syncs[1].associations[0].object: contacts keep no association with products; they can be associated with companies" in message


def test_an_association_names_its_app_column_where_the_app_has_tables_and_none_for_a_portal():
    message = refused(ASSOCIATED.replace("{object: companies, app_column: company_id}", "{object: companies}"))
    assert ("syncs[1].associations[0]: 'erp' is a sql connection: name the `app_column` that holds the key of each contacts "
            "record's associated companies record") in message
    portals = ASSOCIATED.replace('other: {kind: sql, url: "sqlite:///other.sqlite"}', "portal_b: {kind: hubspot, sandbox: {path: b.sqlite}}")
    portals = portals.replace("app: erp, table: {name: companies}", "hubspot: hubspot, app: portal_b")
    portals = portals.replace("    app: erp\n    table: {name: customers}\n", "    hubspot: hubspot\n    app: portal_b\n")
    parse_config(portals.replace("{object: companies, app_column: company_id}", "{object: companies}"), source="x")
    message = refused(portals)
    assert "syncs[1].associations[0].app_column: 'portal_b' is a hubspot connection: it keeps associations itself (remove `app_column`)" in message
