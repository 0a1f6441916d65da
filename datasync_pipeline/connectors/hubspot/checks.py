"""``datasync check`` for a HubSpot account: the token (or the embedded sandbox) answers, the property definitions of
the synced objects are read; as a sync's app side (portal-to-portal), each mapped and filtered property exists there
and can hold the values, as a run's first step checks them (``HubSpotSide.value_types``). With ``journal:`` on, the
webhooks journal is usable: the app gets a client-credentials token with the journal scopes and can list its
subscriptions (read only: the change sensor creates them)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from datasync_pipeline.config.secrets import resolve
from datasync_pipeline.connectors.base import Problem
from datasync_pipeline.connectors.hubspot.client import HubSpotClient
from datasync_pipeline.connectors.hubspot.config import HubSpotConnection
from datasync_pipeline.connectors.hubspot.journal import JournalClient
from datasync_pipeline.connectors.hubspot.oauth import ClientCredentials, OAuthCredentials
from datasync_pipeline.connectors.hubspot.resource import SANDBOX_JOURNAL_APP
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.objects.type_checks import app_type_problems, missing_field_problem
from datasync_pipeline.sync.mappings import mapping_path


class HubSpotCheck:
    """One HubSpot connection, opened once for ``datasync check``."""

    def __init__(self, name: str, client: HubSpotClient) -> None:
        self.name, self.client = name, client

    def hubspot_properties(self, object_type: str, problems: list[Problem]) -> list[dict[str, Any]] | None:
        return _properties(self.name, self.client, object_type, problems)

    def app_problems(self, sync: Any, mappings: list[ResolvedMapping], problems: list[Problem]) -> Iterator[Problem]:
        return _app_portal_problems(self.name, self.client, sync, mappings, problems)


def open_check(name: str, connection: HubSpotConnection, problems: list[Problem], stack: ExitStack) -> HubSpotCheck | None:
    client = _hubspot_client(name, connection, problems, stack)
    return HubSpotCheck(name, client) if client is not None else None


def _hubspot_client(name: str, connection: HubSpotConnection, problems: list[Problem], stack: ExitStack) -> HubSpotClient | None:
    if connection.sandbox is not None:
        from datasync_pipeline.sandbox import Sandbox, SandboxSettings

        copy = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "sandbox.sqlite"
        for suffix in ("", "-wal"):  # read a copy: opening the file itself (even read-only) writes beside it
            if Path(connection.sandbox.path + suffix).exists():
                shutil.copyfile(connection.sandbox.path + suffix, f"{copy}{suffix}")
        app = dict(zip(("client_id", "client_secret"), SANDBOX_JOURNAL_APP, strict=True)) if connection.reads_journal else {}
        sandbox = Sandbox(SandboxSettings(db_path=str(copy), token=connection.sandbox.token, tier="unlimited", **app))
        stack.callback(sandbox.close)
        transport = httpx.WSGITransport(app=sandbox.wsgi_app)
        client = HubSpotClient(base_url="http://sandbox.embedded", token=connection.sandbox.token, tier="unlimited",
                               object_path_prefix=connection.object_path_prefix, transport=transport)
        if connection.reads_journal:
            _check_journal(name, ClientCredentials(*SANDBOX_JOURNAL_APP), "http://sandbox.embedded", problems, stack, transport=transport)
        return stack.enter_context(client)
    if connection.reads_journal:
        _check_real_journal(name, connection, problems, stack)
    if connection.oauth is not None:
        secrets = {}
        for field in ("client_id", "client_secret", "refresh_token"):
            try:
                secrets[field] = resolve(getattr(connection.oauth, field), where=f"connections.{name}.oauth.{field}")
            except DatasyncError as error:
                problems.append((("connections", name, "oauth", field), str(error)))
        if len(secrets) < 3:
            return None
        auth: dict[str, Any] = {"oauth": OAuthCredentials(**secrets, token_url=connection.oauth.token_url)}
    else:
        try:
            auth = {"token": resolve(connection.token or "", where=f"connections.{name}.token")}
        except DatasyncError as error:
            problems.append((("connections", name, "token"), str(error)))
            return None
    client = HubSpotClient(base_url=connection.base_url, **auth, tier=connection.tier, object_path_prefix=connection.object_path_prefix,
                           max_attempts=2, timeout_seconds=20)
    return stack.enter_context(client)


def _check_real_journal(name: str, connection: HubSpotConnection, problems: list[Problem], stack: ExitStack) -> None:
    spec = connection.journal_app()
    assert spec is not None  # the config's checks refuse `journal: true` without an app
    where = "journal" if connection.journal is not None and connection.journal.client_id is not None else "oauth"
    secrets = {}
    for field in ("client_id", "client_secret"):
        try:
            secrets[field] = resolve(getattr(spec, field), where=f"connections.{name}.{where}.{field}")
        except DatasyncError as error:
            problems.append((("connections", name, where, field), str(error)))
    if len(secrets) == 2:
        _check_journal(name, ClientCredentials(**secrets, token_url=spec.token_url), connection.base_url, problems, stack)


def _check_journal(name: str, credentials: ClientCredentials, base_url: str, problems: list[Problem], stack: ExitStack,
                   transport: httpx.BaseTransport | None = None) -> None:
    """The webhooks journal answers the app: a client-credentials token with the journal scopes, its subscriptions read."""
    journal = stack.enter_context(JournalClient(base_url=base_url, credentials=credentials, transport=transport, timeout_seconds=20))
    try:
        journal.api.subscriptions()
    except (DatasyncError, httpx.HTTPError) as error:
        problems.append((("connections", name, "journal"), (
            f"the webhooks journal is not usable ({str(error).splitlines()[0]}); the change sensor falls back to the hourly "
            "reconcile for association changes and deletions: fix the app's credentials and scopes "
            "(developer.webhooks_journal.read, .subscriptions.read, .subscriptions.write), or set `journal: false`")))


def _properties(name: str, client: HubSpotClient, object_type: str, problems: list[Problem]) -> list[dict[str, Any]] | None:
    try:
        return client.get_properties(object_type)
    except (DatasyncError, httpx.HTTPError) as error:
        problems.append((("connections", name), f"cannot read the {object_type} property definitions: {str(error).splitlines()[0]}"))
        return None


def _app_portal_problems(name: str, client: HubSpotClient, sync: Any, mappings: list[ResolvedMapping],
                         problems: list[Problem]) -> Iterator[Problem]:
    """A HubSpot portal on the app side: each mapped and filtered property exists there and can hold the values, as
    the run's first step checks them through the connector (``HubSpotSide.value_types``)."""
    from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide
    from datasync_pipeline.sync.binding import app_label, side_binding

    try:
        types = HubSpotSide(client, side_binding(sync, mappings)).value_types()
    except (DatasyncError, httpx.HTTPError) as error:
        problems.append((("connections", name), f"cannot read the {sync.object} property definitions: {str(error).splitlines()[0]}"))
        return
    where = app_label(sync)
    for mapping in mappings:
        found = [missing_field_problem(mapping.app, types, where=where), *app_type_problems([mapping], types, where=where)]
        for problem in filter(None, found):
            yield mapping_path(sync, mapping.hubspot), problem
    for k, rule in enumerate(sync.filters.app):
        if problem := missing_field_problem(rule.field, types, where=where):
            yield ("filters", "app", k, "field"), problem
