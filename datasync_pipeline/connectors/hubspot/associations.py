"""Associations between records (v4): batch read, create and archive.

The engine keeps associations only where both objects are synced, so it reads them for the records it
moves and writes links between paired records; chunks are HubSpot's limits (1,000 ids a read, 2,000
links a write) and run concurrently under the shared rate limiter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from datasync_pipeline.connectors.hubspot.batching import BatchResult, chunked, run_chunks, send_isolating_bad_inputs
from datasync_pipeline.connectors.hubspot.errors import HubSpotRequestError, record_error_from
from datasync_pipeline.connectors.hubspot.transport import HubSpotTransport
from datasync_pipeline.errors import ErrorCategory, RecordError

READ_BATCH_SIZE = 1_000
WRITE_BATCH_SIZE = 2_000
PAGE_SIZE = 500


class AssociationsApi:
    """`/crm/v4/associations/{from}/{to}/batch/*` and the per-record v4 list endpoint for long lists."""

    def __init__(
        self,
        transport: HubSpotTransport,
        *,
        associations_path_prefix: str,
        objects_path_prefix: str,
        max_concurrency: int,
    ) -> None:
        self._transport = transport
        self._prefix = associations_path_prefix.rstrip("/")
        self._objects_prefix = objects_path_prefix.rstrip("/")
        self._max_concurrency = max_concurrency

    def read_associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """For each id: `[{"toObjectId": str, "associationTypes": [...]}]` ([] when it has none).

        Raises when a chunk cannot be read: a partial association list would make the engine drop links.
        """
        unique_ids = list(dict.fromkeys(str(record_id) for record_id in ids))
        links: dict[str, list[dict[str, Any]]] = {record_id: [] for record_id in unique_ids}

        def send(chunk: list[str]) -> BatchResult:
            response = self._transport.request(
                "POST",
                f"{self._prefix}/{{from_type}}/{{to_type}}/batch/read",
                path_params={"from_type": from_type, "to_type": to_type},
                json={"inputs": [{"id": record_id} for record_id in chunk]},
            )
            found: dict[str, dict[str, Any]] = {}
            for item in response.json().get("results") or []:
                from_id = str((item.get("from") or {}).get("id"))
                targets = [_link(target) for target in item.get("to") or []]
                after = ((item.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    targets += self._rest_of(from_type, to_type, from_id, after)
                found[from_id] = {"links": targets}
            return BatchResult(results=found)

        read = run_chunks(chunked(unique_ids, READ_BATCH_SIZE), send, max_concurrency=self._max_concurrency)
        for from_id, entry in read.results.items():
            if from_id in links:
                links[from_id] = entry["links"]
        return links

    def create_associations(self, from_type: str, to_type: str, inputs: Sequence[dict[str, Any]]) -> BatchResult:
        """Link records; inputs `{"ref", "from_id", "to_id", "type_id", "category"="HUBSPOT_DEFINED"}`."""
        refs_by_pair: dict[tuple[str, str], list[str]] = defaultdict(list)
        for item in inputs:
            refs_by_pair[(str(item["from_id"]), str(item["to_id"]))].append(item["ref"])

        def send_exactly(chunk: list[dict[str, Any]]) -> BatchResult:
            response = self._transport.request(
                "POST",
                f"{self._prefix}/{{from_type}}/{{to_type}}/batch/create",
                path_params={"from_type": from_type, "to_type": to_type},
                json={"inputs": [_create_input(item) for item in chunk]},
            )
            return _create_result(response.json(), chunk, refs_by_pair)

        def send(chunk: list[dict[str, Any]]) -> BatchResult:
            result = send_isolating_bad_inputs(chunk, send_exactly, ref_of=lambda item: item["ref"])
            result.failed = {ref: _as_association_error(error) for ref, error in result.failed.items()}
            return result

        return run_chunks(chunked(list(inputs), WRITE_BATCH_SIZE), send, max_concurrency=self._max_concurrency)

    def archive_associations(self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Remove every association between each `(from_id, to_id)` pair; raises if a chunk fails."""
        targets: dict[str, list[str]] = defaultdict(list)
        for from_id, to_id in pairs:
            targets[str(from_id)].append(str(to_id))
        inputs = [{"from": {"id": from_id}, "to": [{"id": to_id} for to_id in to_ids]} for from_id, to_ids in targets.items()]

        def send(chunk: list[dict[str, Any]]) -> BatchResult:
            try:
                self._transport.request(
                    "POST",
                    f"{self._prefix}/{{from_type}}/{{to_type}}/batch/archive",
                    path_params={"from_type": from_type, "to_type": to_type},
                    json={"inputs": chunk},
                )
            except HubSpotRequestError as failure:
                return BatchResult.all_failed([item["from"]["id"] for item in chunk], failure.record_error)
            return BatchResult()

        result = run_chunks(chunked(inputs, WRITE_BATCH_SIZE), send, max_concurrency=self._max_concurrency)
        if result.failed:
            first = next(iter(result.failed.values()))
            message = f"Associations of {len(result.failed)} {from_type} could not be removed: {first.message}"
            raise HubSpotRequestError(RecordError(first.category, message), status=None)

    def _rest_of(self, from_type: str, to_type: str, from_id: str, after: str) -> list[dict[str, Any]]:
        """The associations past the first page of one record (batch read pages lists above 500)."""
        links: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": PAGE_SIZE, "after": after}
        v4_objects = self._prefix.replace("/associations", "/objects")
        while True:
            body = self._transport.request(
                "GET",
                f"{v4_objects}/{{from_type}}/{{id}}/associations/{{to_type}}",
                path_params={"from_type": from_type, "id": from_id, "to_type": to_type},
                params=params,
            ).json()
            links += [_link(target) for target in body.get("results") or []]
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return links
            params["after"] = after


def _link(target: dict[str, Any]) -> dict[str, Any]:
    return {"toObjectId": str(target.get("toObjectId")), "associationTypes": list(target.get("associationTypes") or [])}


def _create_input(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "from": {"id": str(item["from_id"])},
        "to": {"id": str(item["to_id"])},
        "types": [{"associationCategory": item.get("category") or "HUBSPOT_DEFINED", "associationTypeId": int(item["type_id"])}],
    }


def _create_result(
    body: dict[str, Any], chunk: list[dict[str, Any]], refs_by_pair: dict[tuple[str, str], list[str]]
) -> BatchResult:
    """HubSpot answers one result per linked pair (with its labels, not type ids), so a pair's result
    stands for every input of that pair in the chunk (e.g. the unlabeled and the primary link)."""
    result = BatchResult()
    chunk_refs = {item["ref"] for item in chunk}
    for created in body.get("results") or []:
        from_id = created.get("fromObjectId") or (created.get("from") or {}).get("id")
        to_id = created.get("toObjectId") or (created.get("to") or {}).get("id")
        for ref in refs_by_pair.get((str(from_id), str(to_id)), []):
            if ref in chunk_refs:
                result.results[ref] = dict(created)
    errors = body.get("errors") or []
    unexplained = RecordError(ErrorCategory.UNKNOWN, "HubSpot returned no result for this link")
    for item in chunk:
        if item["ref"] not in result.results:
            result.failed[item["ref"]] = record_error_from(errors[0]) if errors else unexplained
    return result


def _as_association_error(error: RecordError) -> RecordError:
    """Link failures are reported as ASSOCIATION_FAILED unless the cause is about access or retries."""
    if error.category in (ErrorCategory.RATE_LIMITED, ErrorCategory.SERVER_ERROR, ErrorCategory.MISSING_PERMISSION):
        return error
    return RecordError(ErrorCategory.ASSOCIATION_FAILED, error.message)
