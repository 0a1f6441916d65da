"""`HubSpotClient`: the one object the rest of datasync uses to talk to a HubSpot account.

A plain class (the Dagster resource wraps it) composed of one transport (auth, rate limits, retries,
counting) and the operation groups built on it. One client per connected account; it is thread-safe, and
its batch calls run their chunks concurrently within the account's request budget.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from datasync_pipeline.connectors.hubspot.associations import AssociationsApi
from datasync_pipeline.connectors.hubspot.batching import BatchResult
from datasync_pipeline.connectors.hubspot.oauth import OAuthCredentials
from datasync_pipeline.connectors.hubspot.properties import PropertiesApi
from datasync_pipeline.connectors.hubspot.ranged_read import read_in_id_ranges
from datasync_pipeline.connectors.hubspot.rate_limit import Clock
from datasync_pipeline.connectors.hubspot.records import RecordsApi
from datasync_pipeline.connectors.hubspot.reference import ReferenceApi
from datasync_pipeline.connectors.hubspot.search import last_modified_property, modified_since
from datasync_pipeline.connectors.hubspot.tiers import Tier
from datasync_pipeline.connectors.hubspot.transport import RATE_LIMIT_MARGIN, HubSpotTransport

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_OBJECT_PATH_PREFIX = "/crm/v3/objects"
_DATED_OBJECT_PREFIX = re.compile(r"^/crm/objects/(?P<version>[^/]+)$")


SEARCH_VALUES_PER_REQUEST = 100


class HubSpotClient:
    """Records, search, properties, associations and reference data (owners, pipelines) of one HubSpot account.

    Authenticated by a private app's `token`, or by an OAuth app install (`oauth`: the app's client id and secret
    and the install's refresh token; the transport obtains and renews access tokens). `tier` sets the request
    budget (see `tiers.py`). `transport` is any httpx transport: the embedded sandbox passes
    `httpx.WSGITransport(app=sandbox.wsgi_app)`. `clock` is for tests that must not sleep.
    Properties and associations paths follow the objects prefix (`/crm/v3/objects` -> `/crm/v3/properties`
    and `/crm/v4/associations`; `/crm/objects/2026-03` -> `/crm/properties/2026-03` and
    `/crm/associations/2026-03`) unless given.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token: str | None = None,
        oauth: OAuthCredentials | None = None,
        tier: Tier | str = Tier.STARTER,
        max_concurrency: int = 4,
        timeout_seconds: float = 30.0,
        max_attempts: int = 6,
        object_path_prefix: str = DEFAULT_OBJECT_PATH_PREFIX,
        properties_path_prefix: str | None = None,
        associations_path_prefix: str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        rate_limit_margin: float = RATE_LIMIT_MARGIN,
    ) -> None:
        self.tier = Tier(tier)
        self.max_concurrency = max(1, max_concurrency)
        self._transport = HubSpotTransport(
            base_url=base_url,
            token=token,
            oauth=oauth,
            tier=self.tier,
            max_concurrency=self.max_concurrency,
            timeout_seconds=timeout_seconds,
            max_attempts=max_attempts,
            transport=transport,
            clock=clock,
            rate_limit_margin=rate_limit_margin,
        )
        object_path_prefix = object_path_prefix.rstrip("/")
        self._records = RecordsApi(self._transport, object_path_prefix=object_path_prefix, max_concurrency=self.max_concurrency)
        self._properties = PropertiesApi(
            self._transport, properties_path_prefix=properties_path_prefix or _sibling_prefix(object_path_prefix, "properties")
        )
        self._associations = AssociationsApi(
            self._transport,
            associations_path_prefix=associations_path_prefix or _sibling_prefix(object_path_prefix, "associations"),
            objects_path_prefix=object_path_prefix,
            max_concurrency=self.max_concurrency,
        )
        self._reference = ReferenceApi(self._transport)
        self._object_path_prefix = object_path_prefix

    # Records

    def list_records(
        self,
        object_type: str,
        *,
        properties: Sequence[str],
        archived: bool = False,
        associations: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of a type, 100 a page (only archived ones with `archived=True`)."""
        return self._records.list_records(object_type, properties=properties, archived=archived, associations=associations)

    def list_all(self, object_type: str, *, properties: Sequence[str]) -> list[dict[str, Any]]:
        """Every live record of a type, in id order, read as fast as the account's budget allows: the list walked in
        id ranges at once, each proven complete by a search count (``ranged_read.py``), else in one walk."""
        records = read_in_id_ranges(lambda params: self._records.list_page(object_type, params),
                                    lambda body: self.search(object_type, body), properties=properties, ranges=self.max_concurrency)
        return records if records is not None else list(self.list_records(object_type, properties=properties))

    def batch_read(
        self, object_type: str, ids: Sequence[str], *, properties: Sequence[str], id_property: str | None = None
    ) -> BatchResult:
        """Records by id or unique property value; missing ones fail as NOT_FOUND. Refs are the ids."""
        return self._records.batch_read(object_type, ids, properties=properties, id_property=id_property)

    def batch_create(self, object_type: str, inputs: Sequence[dict[str, Any]]) -> BatchResult:
        """Create records from `{"ref", "properties", "associations"?}`; bad inputs fail alone."""
        return self._records.batch_create(object_type, inputs)

    def batch_update(self, object_type: str, inputs: Sequence[dict[str, Any]]) -> BatchResult:
        """Update records from `{"ref", "id", "properties"}`."""
        return self._records.batch_update(object_type, inputs)

    def batch_upsert(self, object_type: str, inputs: Sequence[dict[str, Any]], *, id_property: str) -> BatchResult:
        """Create-or-update by a unique property from `{"ref", "id": value, "properties"}`; results carry `new`."""
        return self._records.batch_upsert(object_type, inputs, id_property=id_property)

    def batch_archive(self, object_type: str, ids: Sequence[str]) -> None:
        """Archive records by id."""
        self._records.batch_archive(object_type, ids)

    # Search

    def search_modified_since(
        self, object_type: str, since_ms: int | None, *, properties: Sequence[str], overlap_ms: int = 0
    ) -> Iterator[dict[str, Any]]:
        """Every record modified at or after `since_ms - overlap_ms`, in (last-modified, id) order, each once.

        Never pages past HubSpot's 10,000-result cap, whatever number of records share a timestamp
        (see `search.py`).
        """

        def search_page(body: dict[str, Any]) -> dict[str, Any]:
            return self._transport.request(
                "POST",
                f"{self._object_path_prefix}/{{type}}/search",
                path_params={"type": object_type},
                json=body,
                is_search=True,
            ).json()

        return modified_since(
            search_page,
            modified_property=last_modified_property(object_type),
            since_ms=since_ms,
            properties=properties,
            overlap_ms=overlap_ms,
        )

    def search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """One search request as HubSpot answers it (`total`, `results`, `paging`), under the search limit."""
        return self._transport.request(
            "POST", f"{self._object_path_prefix}/{{type}}/search", path_params={"type": object_type}, json=body, is_search=True,
        ).json()

    def search_by_values(
        self, object_type: str, property_name: str, values: Sequence[str], *, properties: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Records whose property equals one of `values` (an IN filter, 100 values a request).

        How a new app record finds its possible match in HubSpot (a domain, a SKU) without reading
        every record. Values are few per run; each request reads at most 200 results.
        """
        for start in range(0, len(values), SEARCH_VALUES_PER_REQUEST):
            chunk = list(values[start : start + SEARCH_VALUES_PER_REQUEST])
            body = {
                "filterGroups": [{"filters": [{"propertyName": property_name, "operator": "IN", "values": chunk}]}],
                "properties": list(properties),
                "limit": 200,
            }
            after: str | None = None
            while True:
                page = self.search(object_type, {**body, **({"after": after} if after else {})})
                yield from page.get("results", [])
                after = (page.get("paging") or {}).get("next", {}).get("after")
                if not after:
                    break

    # Properties

    def get_properties(self, object_type: str) -> list[dict[str, Any]]:
        """Every property definition of an object type."""
        return self._properties.get_properties(object_type)

    def create_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        """Create a custom property, or return the existing one of that name."""
        return self._properties.create_property(object_type, definition)

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None:
        """Make sure a unique-valued custom string property exists, for idempotent upserts."""
        self._properties.ensure_unique_property(object_type, name, label)

    # Associations

    # Reference data

    def list_owners(self) -> list[dict[str, Any]]:
        return self._reference.owners()

    def get_pipelines(self, object_type: str) -> list[dict[str, Any]]:
        return self._reference.pipelines(object_type)

    def read_associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """`{from_id: [{"toObjectId": str, "associationTypes": [...]}]}` for every id asked."""
        return self._associations.read_associations(from_type, to_type, ids)

    def create_associations(self, from_type: str, to_type: str, inputs: Sequence[dict[str, Any]]) -> BatchResult:
        """Link records from `{"ref", "from_id", "to_id", "type_id", "category"?}`."""
        return self._associations.create_associations(from_type, to_type, inputs)

    def archive_associations(self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Remove the associations between `(from_id, to_id)` pairs."""
        self._associations.archive_associations(from_type, to_type, pairs)

    # Accounting and lifecycle

    @property
    def call_counts(self) -> Counter[str]:
        """HTTP requests sent (retries included), by endpoint template, e.g. `POST /crm/v3/objects/{type}/batch/create`."""
        return self._transport.call_counts

    @property
    def retry_counts(self) -> Counter[str]:
        """Of those, the requests that were retries, by endpoint template."""
        return self._transport.retry_counts

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HubSpotClient(tier={self.tier.value!r}, transport={self._transport!r})"


def _sibling_prefix(object_path_prefix: str, kind: str) -> str:
    """The properties or associations prefix that goes with an objects prefix."""
    dated = _DATED_OBJECT_PREFIX.match(object_path_prefix)
    if dated:
        return f"/crm/{kind}/{dated.group('version')}"
    return "/crm/v3/properties" if kind == "properties" else "/crm/v4/associations"
